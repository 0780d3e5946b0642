"""The puppet renderer and the speech track: deterministic, varied, and in sync."""

from __future__ import annotations

import dataclasses
import wave

import numpy as np

from fomm.synth import (
    mouth_opening,
    neutral_motion,
    plan_speech,
    random_motion,
    render_frames,
    sample_identity,
    synthesise_speech,
    write_wav,
)
from fomm.synth.speech import frame_loudness


def test_render_is_deterministic_per_seed():
    first = render_frames(sample_identity(5), random_motion(5, 4), 48)
    second = render_frames(sample_identity(5), random_motion(5, 4), 48)
    assert first.shape == (4, 48, 48, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)


def test_identities_and_motions_differ_across_seeds():
    still = neutral_motion(1)
    pictures = [render_frames(sample_identity(seed), still, 48)[0].astype(int) for seed in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(pictures[a] - pictures[b]).mean() > 5
    frames = render_frames(sample_identity(0), random_motion(1, 8, fps=4), 48).astype(int)
    assert np.abs(frames[0] - frames[-1]).mean() > 2


def test_any_identity_renders_with_any_motion_and_all_species_styles():
    motion = random_motion(3, 2)
    for species in ("human", "cat", "can"):
        for style in ("flat", "painting"):
            frames = render_frames(sample_identity(1, species, style), motion, 32)
            assert frames.shape == (2, 32, 32, 3)
            assert frames.std() > 10


def test_open_mouth_darkens_the_mouth_region():
    identity = sample_identity(2, "human")
    closed = neutral_motion(1)
    opened = dataclasses.replace(closed, mouth=np.array([1.0]))
    a = render_frames(identity, closed, 64)[0].astype(float)
    b = render_frames(identity, opened, 64)[0].astype(float)
    changed = np.abs(a - b).sum(axis=2) > 30
    rows = np.nonzero(changed.any(axis=1))[0]
    assert changed.sum() > 20
    assert rows.mean() > 32  # the change is in the lower half: the mouth, not the eyes
    assert b[changed].mean() < a[changed].mean()  # the opening is dark


def test_audio_loudness_follows_mouth_opening(tmp_path):
    fps, seconds, rate = 25.0, 4.0, 16000
    plan = plan_speech(11, seconds)
    num_frames = int(seconds * fps)
    mouth = mouth_opening(plan, np.arange(num_frames) / fps)
    samples = synthesise_speech(plan, rate)
    assert len(samples) == seconds * rate and np.abs(samples).max() <= 1
    loudness = frame_loudness(samples, rate, fps, num_frames)
    assert np.corrcoef(loudness, mouth)[0, 1] > 0.7
    assert mouth.max() > 0.5 and (mouth == 0).sum() > 5  # it talks and pauses

    motion = random_motion(11, num_frames, fps=fps, speech=plan)
    np.testing.assert_allclose(motion.mouth, mouth)

    path = tmp_path / "speech.wav"
    write_wav(path, samples, rate)
    with wave.open(str(path)) as read:
        assert (read.getframerate(), read.getnchannels(), read.getsampwidth()) == (rate, 1, 2)
        pcm = np.frombuffer(read.readframes(read.getnframes()), "<i2")
    np.testing.assert_allclose(pcm / 32767, samples, atol=1e-4)


def test_synth_command_writes_a_portrait_and_a_talking_clip(tmp_path):
    from PIL import Image

    from fomm.cli import main
    from fomm.media.video import VideoReader, probe

    picture = tmp_path / "cat.png"
    assert (
        main(
            [
                "synth",
                "portrait",
                "--seed",
                "4",
                "--species",
                "cat",
                "--size",
                "48",
                "-o",
                str(picture),
            ]
        )
        == 0
    )
    with Image.open(picture) as image:
        assert image.size == (48, 48)
    clip = tmp_path / "talk.mp4"
    assert (
        main(["synth", "clip", "--seed", "4", "--seconds", "1.2", "--size", "64", "-o", str(clip)])
        == 0
    )
    info = probe(clip)
    assert (info.width, info.height, float(info.fps)) == (64, 64, 25.0)
    assert info.has_audio and info.audio_codec == "aac"
    with VideoReader(clip) as reader:
        frames = reader.read_all()
    assert len(frames) == 30
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
