"""probe, VideoReader and VideoWriter on clips made by the bundled ffmpeg."""

from __future__ import annotations

import logging
import os
import threading
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from fomm.errors import FommError, InputError
from fomm.media.ffmpeg import run_ffmpeg
from fomm.media.video import VideoReader, VideoWriter, probe, scaled_size


def stream_header(path) -> str:
    return run_ffmpeg(["-hide_banner", "-i", str(path)]).stderr


def test_probe_clip_with_audio(clip_with_audio):
    info = probe(clip_with_audio)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == Fraction(30000, 1001)
    assert info.rotation == 0 and info.has_audio and info.audio_codec == "aac"
    assert info.frame_count == 29  # 1 s of audio at 29.97 fps, -shortest
    assert info.duration == pytest.approx(29 * 1001 / 30000)
    assert not info.variable_rate


def test_reader_yields_every_frame(clip_25fps):
    with VideoReader(clip_25fps) as reader:
        frames = [frame.copy() for frame in reader]
    assert len(frames) == 50 == reader.info.frame_count
    assert all(frame.shape == (64, 64, 3) and frame.dtype == np.uint8 for frame in frames)
    assert not np.array_equal(frames[0], frames[-1])  # the test pattern moves


def test_trimmed_copy_counts_only_shown_frames(media_dir, ffmpeg_make, clip_25fps, caplog):
    # cut between key frames without re-encoding: the edit list hides the lead-in packets
    path = ffmpeg_make(media_dir / "trimmed.mp4", "-ss", "0.5", "-i", str(clip_25fps), "-c", "copy")
    info = probe(path)
    with caplog.at_level(logging.WARNING, logger="fomm.media.video"):
        frames = VideoReader(path).read_all()
    assert len(frames) == info.frame_count
    assert 35 <= info.frame_count <= 38
    assert caplog.text == ""


def test_reader_stops_early_and_restarts(clip_25fps):
    reader = VideoReader(clip_25fps)
    first = next(iter(reader)).copy()
    reader.close()
    again = next(iter(reader))
    assert np.array_equal(first, again)
    reader.close()


@pytest.mark.parametrize(
    ("name", "codec", "rate", "expected"),
    [
        ("ms.mkv", "libx264", "30000/1001", Fraction(30000, 1001)),  # 1 ms time base
        ("ts.ts", "mpeg2video", "30000/1001", Fraction(30000, 1001)),
        ("avi.avi", "mpeg4", "24000/1001", Fraction(24000, 1001)),
        ("gif.gif", "gif", "25", Fraction(25)),  # 10 ms time base
        ("webm.webm", "libvpx-vp9", "50", Fraction(50)),
        ("half.mp4", "libx264", "25/2", Fraction(25, 2)),
    ],
)
def test_exact_rate_in_containers(media_dir, ffmpeg_make, name, codec, rate, expected):
    path = ffmpeg_make(
        media_dir / name,
        "-f", "lavfi", "-i", f"testsrc=size=32x32:rate={rate}", "-frames:v", "10", "-c:v", codec,
    )  # fmt: skip
    info = probe(path)
    assert info.fps == expected and info.frame_count == 10 and not info.variable_rate
    assert info.duration == pytest.approx(10 / float(expected))
    assert len(VideoReader(path).read_all()) == 10


@pytest.mark.parametrize(
    "rate",
    [Fraction(75, 11), Fraction(24000, 1001), Fraction(60000, 1001), Fraction(1, 2), 120, 12.5],
)
def test_writer_rates_round_trip(tmp_path, rate):
    out = tmp_path / "rate.mp4"
    with VideoWriter(out, rate) as writer:
        writer.write(np.zeros((6, 16, 16, 3), np.uint8))
    info = probe(out)
    assert info.fps == Fraction(rate) and info.frame_count == 6


def test_close_from_another_thread_ends_iteration(clip_25fps, caplog):
    reader = VideoReader(clip_25fps)
    seen = 0
    with caplog.at_level(logging.WARNING, logger="fomm.media.video"):
        for _ in reader:
            seen += 1
            if seen == 3:
                closer = threading.Thread(target=reader.close)
                closer.start()
                closer.join()
    assert 3 <= seen < 50
    assert caplog.text == ""


def test_rotation_is_applied(clip_with_audio, clip_rotated):
    info = probe(clip_rotated)
    assert (info.width, info.height) == (48, 64)
    assert info.rotation == 270  # 90 counter-clockwise = 270 clockwise
    upright = VideoReader(clip_with_audio).read_all()
    turned = VideoReader(clip_rotated).read_all()
    assert turned.shape == (len(upright), 64, 48, 3)
    assert np.array_equal(turned, np.rot90(upright, k=1, axes=(1, 2)))


def test_non_square_pixels_read_at_display_aspect(media_dir, ffmpeg_make):
    path = ffmpeg_make(
        media_dir / "anamorphic.mp4",
        "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "3",
        "-vf", "setsar=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )  # fmt: skip
    info = probe(path)
    assert (info.width, info.height) == (64, 32) and not info.square_pixels
    assert VideoReader(path).read_all().shape == (3, 32, 64, 3)


def test_phone_rotation_clockwise(media_dir, ffmpeg_make, clip_with_audio):
    path = ffmpeg_make(
        media_dir / "phone.mp4",
        "-display_rotation",
        "-90",
        "-i",
        str(clip_with_audio),
        "-c",
        "copy",
    )
    info = probe(path)
    assert info.rotation == 90 and (info.width, info.height) == (48, 64)
    upright = VideoReader(clip_with_audio).read_all()
    assert np.array_equal(VideoReader(path).read_all(), np.rot90(upright, k=-1, axes=(1, 2)))


def test_variable_rate_read_at_average_rate(clip_vfr, vfr_times):
    info = probe(clip_vfr)
    assert info.variable_rate
    assert info.fps == Fraction(30) / Fraction(44, 10)  # 30 frames over 4.4 s
    frames = VideoReader(clip_vfr).read_all()
    indices = [round(int(frame[0, 0, 0]) * 219 / 255 / 6) for frame in frames]
    shown_at = [
        max(j for j, time in enumerate(vfr_times) if time <= i / info.fps + 1e-9)
        for i in range(len(frames))
    ]
    assert indices == shown_at
    assert len(frames) == info.frame_count


def test_truncated_tail_keeps_good_frames(truncated_clip, caplog):
    with caplog.at_level(logging.WARNING, logger="fomm.media.video"):
        frames = VideoReader(truncated_clip).read_all()
    assert 10 <= len(frames) < 50
    assert any("truncated" in record.getMessage() for record in caplog.records)
    assert str(truncated_clip) in caplog.text


@pytest.mark.parametrize("fixture", ["empty_file", "random_bytes_file", "audio_only"])
def test_unusable_files_raise_input_error(request, fixture):
    path = request.getfixturevalue(fixture)
    with pytest.raises(InputError) as error:
        VideoReader(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "nothing.mp4")
    with pytest.raises(InputError, match="folder"):
        probe(tmp_path)


def test_one_by_one_video(media_dir, ffmpeg_make):
    path = ffmpeg_make(
        media_dir / "one_pixel.mkv",
        "-f", "lavfi", "-i", "color=c=red:size=1x1:rate=10", "-frames:v", "3", "-c:v", "ffv1",
    )  # fmt: skip
    frames = VideoReader(path).read_all()
    assert frames.shape == (3, 1, 1, 3)
    assert frames[0, 0, 0, 0] > 200 and frames[0, 0, 0, 1] < 50


def test_large_frames_scaled_down_by_ffmpeg(media_dir, ffmpeg_make):
    path = ffmpeg_make(
        media_dir / "large.mp4",
        "-f", "lavfi", "-i", "color=c=blue:size=4000x3000:rate=5", "-frames:v", "2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    )  # fmt: skip
    info = probe(path)
    assert (info.width, info.height) == (4000, 3000)
    with VideoReader(path, max_size=256) as reader:
        frames = reader.read_all()
    assert frames.shape == (2, 256, 341, 3)
    assert frames[..., 2].min() > 200 and frames[..., 0].max() < 50
    full = next(iter(VideoReader(path)))
    assert full.shape == (3000, 4000, 3)


def test_scaled_size():
    assert scaled_size(3000, 4000, 256) == (256, 341)
    assert scaled_size(100, 80, 256) == (100, 80)
    assert scaled_size(100, 80, None) == (100, 80)


def test_writer_round_trip_exact_rate(tmp_path):
    out = tmp_path / "out.mp4"
    levels = [0, 40, 80, 120, 160, 200, 240]
    with VideoWriter(out, Fraction(30000, 1001), quality=90) as writer:
        for level in levels[:3]:
            writer.write(np.full((32, 48, 3), level, np.uint8))
        writer.write(np.stack([np.full((32, 48, 3), level, np.uint8) for level in levels[3:]]))
    info = probe(out)
    assert info.fps == Fraction(30000, 1001) and info.frame_count == len(levels)
    assert (info.width, info.height) == (48, 32) and not info.has_audio
    frames = VideoReader(out).read_all()
    assert np.abs(frames.mean(axis=(1, 2, 3)) - levels).max() < 3
    header = stream_header(out)
    assert "h264" in header and "yuv420p" in header
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_writer_float_frames_and_odd_size(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 25) as writer:
        writer.write(np.full((2, 15, 21, 3), 0.5, np.float32))
    info = probe(out)
    assert (info.width, info.height) == (22, 16)
    frame = next(iter(VideoReader(out)))
    assert abs(float(frame.mean()) - 128) < 3


def test_writer_abort_and_exception_leave_nothing(tmp_path):
    out = tmp_path / "aborted.mp4"
    writer = VideoWriter(out, 25)
    writer.write(np.zeros((16, 16, 3), np.uint8))
    writer.abort()
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, 25) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_writer_reports_dead_ffmpeg(tmp_path):
    out = tmp_path / "dies.mp4"
    writer = VideoWriter(out, 25)
    writer.write(np.zeros((16, 16, 3), np.uint8))
    writer._process.process.kill()  # as if the disk filled up and ffmpeg gave up
    with pytest.raises(FommError) as error:
        for _ in range(500):
            writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.close()
    assert str(out) in str(error.value)
    assert os.listdir(tmp_path) == []


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "a.mp4", 0)
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "a.mp4", 25, quality=101)
    with pytest.raises(ValueError, match="preset"):
        VideoWriter(tmp_path / "a.mp4", 25, preset="fastest")
    writer = VideoWriter(tmp_path / "a.mp4", 25)
    writer.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="differs"):
        writer.write(np.zeros((18, 16, 3), np.uint8))
    writer.abort()
    empty = VideoWriter(tmp_path / "b.mp4", 25)
    with pytest.raises(FommError, match="no frames"):
        empty.close()
    assert os.listdir(tmp_path) == []


def test_awkward_file_names(tmp_path, monkeypatch, awkward_name):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / f"{awkward_name}.mp4"
    with VideoWriter(out, 10) as writer:
        writer.write(np.zeros((3, 16, 16, 3), np.uint8))
    assert probe(out).frame_count == 3
    assert VideoReader(out).read_all().shape == (3, 16, 16, 3)
    dash = tmp_path / "-y.mp4"
    with VideoWriter(dash, 10) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
    assert probe(dash).frame_count == 1
    assert not (tmp_path / "PWNED").exists()


def test_reader_memory_stays_flat(media_dir, ffmpeg_make):
    path = ffmpeg_make(
        media_dir / "longer.mp4",
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=50", "-frames:v", "300",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    )  # fmt: skip
    frame_bytes = 160 * 120 * 3
    tracemalloc.start()
    try:
        count = sum(1 for _ in VideoReader(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 300
    assert peak < 40 * frame_bytes  # holding every frame would take 300 frames
