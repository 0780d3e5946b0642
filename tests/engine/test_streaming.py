"""The file engine streams: frames in flight stay bounded, whatever the video's length."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.engine import animate
from fomm.engine.animate import AnimationOptions, animate_file
from fomm.media.video import probe


def test_frames_in_flight_are_bounded(tiny_model, media, tmp_path, monkeypatch):
    total = 60
    counts = {"decoded": 0, "written": 0, "most_in_flight": 0}

    def fake_frames(path, animator, stop_after=None):
        rng = np.random.default_rng(0)
        base = rng.uniform(0, 1, (*animator.frame_size, 3)).astype(np.float32)
        for index in range(total if stop_after is None else min(total, stop_after)):
            counts["decoded"] += 1
            yield np.roll(base, index, axis=0)

    from fomm.media import video

    real_write = video.VideoWriter.write

    def counting_write(self, frames):
        counts["written"] += len(frames)
        in_flight = counts["decoded"] - counts["written"]
        counts["most_in_flight"] = max(counts["most_in_flight"], in_flight)
        return real_write(self, frames)

    monkeypatch.setattr(animate, "_driving_frames", fake_frames)
    monkeypatch.setattr(video.VideoWriter, "write", counting_write)
    options = AnimationOptions(batch_size=2, queue_batches=2, device="cpu")
    output = tmp_path / "long.mp4"
    report = animate_file(tiny_model, media["source"], media["driving"], output, options)
    assert report.frames == total == counts["written"]
    # decode queue + animate queue + one batch in each stage, never the whole video
    assert counts["most_in_flight"] <= 2 * (2 * 2 + 3)
    assert probe(output).frame_count == total


def test_failure_mid_stream_leaves_no_file(tiny_model, media, tmp_path, monkeypatch):
    def failing_frames(path, animator, stop_after=None):
        for index in range(6):
            if index == 4:
                raise OSError("disk went away")
            yield np.zeros((*animator.frame_size, 3), np.float32)

    monkeypatch.setattr(animate, "_driving_frames", failing_frames)
    output = tmp_path / "out" / "broken.mp4"
    with pytest.raises(OSError, match="disk went away"):
        animate_file(
            tiny_model,
            media["source"],
            media["driving"],
            output,
            AnimationOptions(batch_size=2, device="cpu"),
        )
    assert list(output.parent.iterdir()) == []


@pytest.mark.parametrize("slow_stage", ["decoder", "encoder"])
def test_the_report_names_the_stage_the_animation_waited_for(
    tiny_model, media, tmp_path, monkeypatch, slow_stage
):
    """A slow decoder or encoder shows as the loop's wait for it, not for the other."""
    import time

    from fomm.media import video

    delay = 0.2  # per batch of 2 frames: 1 s over the 10-frame clip
    real_frames, real_write = animate._driving_frames, video.VideoWriter.write

    def slow_frames(path, animator, stop_after=None):
        for index, frame in enumerate(real_frames(path, animator, stop_after)):
            if index % 2 == 0:
                time.sleep(delay)
            yield frame

    def slow_write(self, frames):
        time.sleep(delay)
        return real_write(self, frames)

    if slow_stage == "decoder":
        monkeypatch.setattr(animate, "_driving_frames", slow_frames)
    else:
        monkeypatch.setattr(video.VideoWriter, "write", slow_write)
    options = AnimationOptions(batch_size=2, queue_batches=1, device="cpu")
    report = animate_file(
        tiny_model, media["source"], media["driving"], tmp_path / "out.mp4", options, audio=False
    )
    waits = {"decoder": report.decoder_wait_seconds, "encoder": report.encoder_wait_seconds}
    other = "encoder" if slow_stage == "decoder" else "decoder"
    # the tiny model animates a batch in milliseconds: the loop mostly waits for the slow
    # stage (the encoder's first batches fill the queue before the loop waits for it)
    assert waits[slow_stage] >= 0.4
    assert waits[other] < waits[slow_stage] / 2
    assert 0 < report.first_batch_seconds < report.seconds
    assert report.startup_seconds + sum(waits.values()) < report.seconds
