"""Mosaic layout and the side-by-side video with audio and poster."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fomm.media.audio import stream_duration
from fomm.media.image import read_image, write_image
from fomm.media.mosaic import BACKGROUND, TileSlot, fit_tile, make_mosaic, mosaic_layout
from fomm.media.video import VideoReader, VideoWriter, probe


def solid_video(path, colour, frames, size=(32, 32), fps=10):
    with VideoWriter(path, fps, quality=95) as writer:
        writer.write(np.broadcast_to(np.array(colour, np.uint8), (frames, *size, 3)))
    return path


def test_layout_one_pair():
    assert mosaic_layout(1) == (
        1,
        3,
        [TileSlot(0, 0, "source", 0), TileSlot(0, 1, "driving"), TileSlot(0, 2, "result", 0)],
    )


def test_layout_many_pairs():
    rows, columns, slots = mosaic_layout(6)
    assert (rows, columns) == (4, 5)
    where = {
        (slot.kind, slot.pair): (slot.row, slot.column) for slot in slots if slot.pair is not None
    }
    for pair in range(6):
        source_row, source_column = where[("source", pair)]
        result_row, result_column = where[("result", pair)]
        assert result_column == source_column and result_row == source_row + 1
    drivings = [(slot.row, slot.column) for slot in slots if slot.kind == "driving"]
    assert drivings == [(1, 0), (3, 0)]
    assert len({(slot.row, slot.column) for slot in slots}) == len(slots)
    with pytest.raises(ValueError):
        mosaic_layout(0)


def test_fit_tile_keeps_aspect():
    wide = np.full((10, 40, 3), 200, np.uint8)
    tile = fit_tile(wide, 32)
    assert tile.shape == (32, 32, 3)
    assert tile[16, 16, 0] == 200 and tile[0, 16, 0] == BACKGROUND


def test_one_pair_video_with_audio_and_poster(tmp_path, clip_with_audio):
    source = tmp_path / "source.png"
    write_image(source, np.full((40, 40, 3), (250, 0, 0), np.uint8))
    result = solid_video(tmp_path / "result.mp4", (0, 0, 250), 20)
    out, poster = tmp_path / "side by side.mp4", tmp_path / "poster.png"
    made = make_mosaic(clip_with_audio, [(source, result)], out, poster=poster, tile=32)
    info = probe(out)
    driving = probe(clip_with_audio)
    assert (info.width, info.height) == (96, 32)
    assert info.fps == driving.fps and info.frame_count == driving.frame_count == made.frame_count
    assert info.has_audio
    assert abs(stream_duration(out, "a:0") - stream_duration(out, "V:0")) < 1 / float(info.fps)
    frame = VideoReader(out).read_all()[-1].astype(int)  # result held its last frame (20 < 29)
    assert frame[16, 16, 0] > 200 and frame[16, 16, 2] < 60  # source tile red
    assert frame[16, 80, 2] > 200 and frame[16, 80, 0] < 60  # result tile blue
    assert read_image(poster).shape == (32, 96, 3)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["source.png", "result.mp4", "side by side.mp4", "poster.png"]
    )


def test_cli_grid(tmp_path, fomm_cli, clip_25fps):
    pairs = []
    for index in range(3):
        source = tmp_path / f"s{index}.png"
        write_image(source, np.full((20, 30, 3), 60 * index, np.uint8))
        pairs += ["--pair", str(source), str(solid_video(tmp_path / f"r{index}.mp4", (90,) * 3, 5))]
    out = tmp_path / "grid.mp4"
    done = fomm_cli(
        "mosaic", clip_25fps, "-o", out, *pairs, "--tile", "32", "--poster", tmp_path / "p.png"
    )
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert (info.width, info.height) == (128, 64) and not info.has_audio
    assert info.frame_count == 50
    failed = fomm_cli("mosaic", clip_25fps, "-o", tmp_path / "bad.mp4", "--pair", tmp_path / "s0.png",
                      tmp_path / "missing.mp4")  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip() == f"fomm: error: {tmp_path / 'missing.mp4'}: file not found"
    assert not (tmp_path / "bad.mp4").exists()
