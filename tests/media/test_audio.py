"""mux_audio and `fomm mux`: streams, sync within one frame, video copied bit for bit."""

from __future__ import annotations

import json
import os

import pytest

from fomm.errors import InputError
from fomm.media import ffmpeg_args
from fomm.media.audio import mux_audio, probe_audio, stream_duration
from fomm.media.ffmpeg import run_ffmpeg
from fomm.media.video import probe


def stream_kinds(path) -> list[str]:
    header = run_ffmpeg(["-hide_banner", "-i", str(path)]).stderr
    return [line.split(": ")[1] for line in header.splitlines() if "Stream #0:" in line]


def video_packet_hashes(path) -> list[str]:
    result = run_ffmpeg(ffmpeg_args.build_probe_args(path, "V:0"))
    lines = result.stdout.decode().splitlines()
    return [line.split(",")[5].strip() for line in lines if line.startswith("0,")]


@pytest.fixture(scope="session")
def silent_video(media_dir, ffmpeg_make):
    """60 frames at 30000/1001 fps (2.002 s), no audio."""
    return ffmpeg_make(
        media_dir / "silent.mp4",
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001", "-frames:v", "60",
        "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )  # fmt: skip


@pytest.fixture(scope="session")
def sounds(media_dir, ffmpeg_make):
    """Audio longer and shorter than the silent video, in codecs copied and re-encoded."""
    made = {}
    for name, seconds, codec in [
        ("long.m4a", 3.3, ["-c:a", "aac"]),
        ("long.mp3", 3.3, ["-c:a", "libmp3lame"]),
        ("long.wav", 3.3, []),
        ("short.m4a", 0.7, ["-c:a", "aac"]),
        ("short.ogg", 0.7, ["-c:a", "libvorbis"]),
    ]:
        made[name] = ffmpeg_make(
            media_dir / name, "-f", "lavfi", "-i", f"sine=duration={seconds}", *codec
        )
    return made


@pytest.mark.parametrize("sound", ["long.m4a", "long.mp3", "long.wav", "short.m4a", "short.ogg"])
def test_mux_streams_and_sync(tmp_path, silent_video, sounds, sound):
    out = tmp_path / "with sound.mp4"
    assert mux_audio(silent_video, sounds[sound], out) is True
    kinds = stream_kinds(out)
    assert len(kinds) == 2 and kinds[0] == "Video" and kinds[1] == "Audio"
    frame_period = 1 / float(probe(silent_video).fps)
    video_seconds = stream_duration(out, "V:0")
    audio_seconds = stream_duration(out, "a:0")
    assert video_seconds == pytest.approx(60 * 1001 / 30000)
    assert abs(audio_seconds - video_seconds) < frame_period
    assert video_packet_hashes(out) == video_packet_hashes(silent_video)  # not re-encoded
    codec = probe_audio(out).codec
    assert codec == ("mp3" if sound == "long.mp3" else "aac")
    assert os.listdir(tmp_path) == ["with sound.mp4"]


def test_audio_from_a_video_with_sound_and_video_longer(tmp_path, clip_with_audio, silent_video):
    out = tmp_path / "out.mp4"
    assert mux_audio(silent_video, clip_with_audio, out)
    assert abs(stream_duration(out, "a:0") - stream_duration(out, "V:0")) < 1001 / 30000


def test_no_audio_gives_silent_copy_and_notice(tmp_path, clip_25fps, silent_video, caplog):
    out = tmp_path / "out.mp4"
    with caplog.at_level("INFO", logger="fomm.media.audio"):
        assert mux_audio(silent_video, clip_25fps, out) is False
    assert stream_kinds(out) == ["Video"]
    assert video_packet_hashes(out) == video_packet_hashes(silent_video)
    assert "has no audio" in caplog.text


def test_mux_in_place(tmp_path, silent_video, sounds):
    target = tmp_path / "result.mp4"
    target.write_bytes(silent_video.read_bytes())
    assert mux_audio(target, sounds["long.m4a"], target)
    assert stream_kinds(target) == ["Video", "Audio"]
    assert os.listdir(tmp_path) == ["result.mp4"]


def test_bad_inputs_leave_nothing(tmp_path, silent_video, random_bytes_file, audio_only):
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError) as error:
        mux_audio(silent_video, random_bytes_file, out)
    assert str(random_bytes_file) in str(error.value)
    with pytest.raises(InputError) as error:
        mux_audio(audio_only, audio_only, out)
    assert str(audio_only) in str(error.value)
    assert os.listdir(tmp_path) == []


def test_cli_mux_and_probe(tmp_path, fomm_cli, silent_video, sounds, awkward_name):
    out = tmp_path / f"{awkward_name}.mp4"
    done = fomm_cli("mux", silent_video, "--audio-from", sounds["short.ogg"], "-o", out)
    assert done.returncode == 0, done.stderr
    printed = fomm_cli("probe", out)
    assert printed.returncode == 0, printed.stderr
    info = json.loads(printed.stdout)
    assert info["fps"] == "30000/1001" and info["frame_count"] == 60
    assert info["has_audio"] and info["audio_codec"] == "aac"
    assert (info["width"], info["height"]) == (64, 48)
    failed = fomm_cli("mux", silent_video, "--audio-from", tmp_path / "missing.wav", "-o", out)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        f"fomm: error: {tmp_path / 'missing.wav'}: file not found"
    ]
    assert not (tmp_path / "PWNED").exists()


def beep_onset(path, threshold: float = 0.1) -> float:
    """Seconds from the file's start (silence filled in before a late audio stream) to the
    first audio sample louder than `threshold`."""
    import numpy as np

    pcm = run_ffmpeg(
        ["-v", "error", "-i", str(path), "-map", "0:a:0", "-af", "aresample=async=1:first_pts=0",
         "-f", "f32le", "-ac", "1", "-ar", "48000", "-"]
    ).stdout  # fmt: skip
    samples = np.frombuffer(pcm, np.float32)
    return float(np.argmax(np.abs(samples) > threshold)) / 48000


def test_sound_before_the_first_frame_is_left_out(tmp_path, ffmpeg_make, clip_with_audio):
    """Frames read from a video whose picture starts 0.5 s after its sound keep their sync
    when that sound is muxed back: a beep 1.0 s into the file plays 0.5 s after frame 0."""
    from fomm.media.video import VideoReader, VideoWriter

    driving = ffmpeg_make(
        tmp_path / "late picture.mp4",
        "-itsoffset", "0.5", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
        "-f", "lavfi", "-i", "aevalsrc=if(gt(t\\,1)\\,sin(2*PI*440*t)\\,0):s=48000:d=3",
        "-c:v", "libx264", "-c:a", "aac", "-shortest",
    )  # fmt: skip
    start = probe(driving).start
    assert 0.45 <= start <= 0.55 and beep_onset(driving) == pytest.approx(1.0, abs=0.002)
    assert probe(clip_with_audio).start == 0
    silent = tmp_path / "frames.mp4"
    with VideoReader(driving) as reader, VideoWriter(silent, reader.fps) as writer:
        for frame in reader:
            writer.write(frame[None])
    out = tmp_path / "out.mp4"
    assert mux_audio(silent, driving, out)
    assert beep_onset(out) == pytest.approx(1.0 - start, abs=0.002)
    assert abs(stream_duration(out, "a:0") - stream_duration(out, "V:0")) < 1 / 25
