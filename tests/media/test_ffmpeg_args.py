"""The ffmpeg argument builders, by exact list equality (no ffmpeg, no files)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from fomm.media import ffmpeg_args as fa


def test_file_url_is_absolute_and_prefixed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fa.file_url("-x:y.mp4") == f"file:{tmp_path}/-x:y.mp4"
    assert fa.file_url(Path("/a b/c.mp4")) == "file:/a b/c.mp4"


def test_format_rate():
    assert fa.format_rate(Fraction(30000, 1001)) == "30000/1001"
    assert fa.format_rate(Fraction(25)) == "25"
    assert fa.format_rate(Fraction(25, 2)) == "25/2"


def test_quality_to_crf():
    assert fa.quality_to_crf(100) == 12
    assert fa.quality_to_crf(0) == 40
    assert fa.quality_to_crf(80) == 18
    with pytest.raises(ValueError):
        fa.quality_to_crf(-1)


def test_optional_pieces_are_empty_when_unused():
    assert fa.video_filters([]) == []
    assert fa.constant_rate_filter(None) == []
    assert fa.scale_filter(None) == []
    assert fa.frame_timing(resample=True) == []
    assert fa.frame_timing(resample=False) == ["-fps_mode", "passthrough"]
    assert fa.map_stream(1, "a:0", optional=True) == ["-map", "1:a:0?"]


def test_build_probe_args():
    assert fa.build_probe_args("/v/in.mp4") == [
        "-hide_banner", "-nostdin", "-loglevel", "info", "-i", "file:/v/in.mp4",
        "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "pipe:1",
    ]  # fmt: skip


def test_build_read_args_plain_and_resampled():
    assert fa.build_read_args("/v/in.mp4") == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "file:/v/in.mp4",
        "-map", "0:V:0", "-fps_mode", "passthrough", "-an", "-sn", "-dn",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip
    assert fa.build_read_args("/v/in.mp4", Fraction(75, 11), (256, 341)) == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "file:/v/in.mp4",
        "-map", "0:V:0", "-vf", "fps=75/11:round=up,scale=341:256:flags=area",
        "-an", "-sn", "-dn", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip


def test_build_write_args():
    assert fa.build_write_args("/o/out.mp4", 64, 48, Fraction(30000, 1001), 80) == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", "64x48",
        "-framerate", "30000/1001", "-i", "pipe:0",
        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-f", "mp4", "file:/o/out.mp4",
    ]  # fmt: skip


def test_build_mux_args_copy_and_encode():
    common = [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-i", "file:/v/video.mp4", "-i", "file:/v/sound.wav",
        "-map", "0:V:0", "-map", "1:a:0", "-c:v", "copy",
    ]  # fmt: skip
    tail = ["-t", "2.002000", "-movflags", "+faststart", "-f", "mp4", "file:/o/out.mp4"]
    copied = fa.build_mux_args("/v/video.mp4", "/v/sound.wav", "/o/out.mp4", 2.002, True)
    assert copied == [*common, "-c:a", "copy", *tail]
    encoded = fa.build_mux_args("/v/video.mp4", "/v/sound.wav", "/o/out.mp4", 2.002, False)
    assert encoded == [*common, "-af", "apad", "-c:a", "aac", "-b:a", "192k", *tail]
    skipped = fa.build_mux_args(
        "/v/video.mp4", "/v/sound.wav", "/o/out.mp4", 2.002, False, audio_skip=0.52
    )
    # an input option: before the sound's -i, not after it
    assert skipped[:9] == [*common[:7], "-ss", "0.520000"]
    assert skipped[9:] == encoded[7:]


def test_build_remux_args():
    assert fa.build_remux_args("/v/video.mp4", "/o/out.mp4") == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", "file:/v/video.mp4",
        "-map", "0:V:0", "-c:v", "copy", "-an",
        "-movflags", "+faststart", "-f", "mp4", "file:/o/out.mp4",
    ]  # fmt: skip
    assert fa.build_probe_args("/a.m4a", "a:0?")[-7:] == [
        "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "pipe:1",
    ]  # fmt: skip


def test_encoder_preset_is_passed_and_checked():
    args = fa.build_write_args("/o/out.mp4", 64, 48, Fraction(25), 80, preset="veryfast")
    assert args[args.index("-preset") + 1] == "veryfast"
    assert fa.DEFAULT_PRESET in fa.ENCODER_PRESETS
    with pytest.raises(ValueError, match="preset"):
        fa.h264_encoder(80, "fastest")
