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
