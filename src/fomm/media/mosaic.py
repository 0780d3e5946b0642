"""Side-by-side videos of animation results, with the driving audio and a poster picture.

Layouts (every tile TILE x TILE, pictures fitted inside it on a dark background):
- one pair: `[source | driving | result]` in one row;
- several pairs: bands of up to PAIRS_PER_BAND pairs; in each band the top row holds a blank
  tile then the sources, the bottom row the driving video then each source's result, so a
  result sits under its source and beside the driving video.

The output has the driving video's frame rate and length; a result that ends early holds its
last frame. The poster is the mosaic's middle frame.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fomm.errors import FommError
from fomm.fileutil import check_output_path

PAIRS_PER_BAND = 4
BACKGROUND = 24


@dataclass(frozen=True)
class TileSlot:
    """Where one picture goes: row and column of the grid, and what it shows."""

    row: int
    column: int
    kind: str  # "source", "driving", "result" or "blank"
    pair: int | None = None


def mosaic_layout(pair_count: int) -> tuple[int, int, list[TileSlot]]:
    """(rows, columns, slots) of the grid for `pair_count` pairs."""
    if pair_count < 1:
        raise ValueError("a mosaic needs at least one pair")
    if pair_count == 1:
        slots = [
            TileSlot(0, 0, "source", 0),
            TileSlot(0, 1, "driving"),
            TileSlot(0, 2, "result", 0),
        ]
        return 1, 3, slots
    bands = math.ceil(pair_count / PAIRS_PER_BAND)
    columns = 1 + min(pair_count, PAIRS_PER_BAND)
    slots = []
    for band in range(bands):
        slots.append(TileSlot(2 * band, 0, "blank"))
        slots.append(TileSlot(2 * band + 1, 0, "driving"))
        for offset in range(PAIRS_PER_BAND):
            pair = band * PAIRS_PER_BAND + offset
            if pair >= pair_count:
                break
            slots.append(TileSlot(2 * band, 1 + offset, "source", pair))
            slots.append(TileSlot(2 * band + 1, 1 + offset, "result", pair))
    return 2 * bands, columns, slots


def fit_tile(picture: np.ndarray, tile: int) -> np.ndarray:
    """Resize to fit a tile x tile square, aspect kept, centred on the background colour."""
    from PIL import Image

    height, width = picture.shape[:2]
    factor = tile / max(height, width)
    new_height, new_width = max(1, round(height * factor)), max(1, round(width * factor))
    if (new_height, new_width) != (height, width):
        picture = np.asarray(
            Image.fromarray(np.ascontiguousarray(picture[..., :3])).resize(
                (new_width, new_height), Image.Resampling.LANCZOS
            )
        )
    out = np.full((tile, tile, 3), BACKGROUND, np.uint8)
    top, left = (tile - new_height) // 2, (tile - new_width) // 2
    out[top : top + new_height, left : left + new_width] = picture[..., :3]
    return out


def compose(
    layout: tuple[int, int, list[TileSlot]],
    tile: int,
    driving: np.ndarray,
    sources: list[np.ndarray],
    results: list[np.ndarray],
) -> np.ndarray:
    """One mosaic frame from tiles already fitted to `tile`."""
    rows, columns, slots = layout
    frame = np.full((rows * tile, columns * tile, 3), BACKGROUND, np.uint8)
    for slot in slots:
        if slot.kind == "blank":
            continue
        if slot.kind == "driving":
            picture = driving
        elif slot.kind == "source":
            picture = sources[slot.pair]
        else:
            picture = results[slot.pair]
        top, left = slot.row * tile, slot.column * tile
        frame[top : top + tile, left : left + tile] = picture
    return frame


def _read_source(path: Path) -> np.ndarray:
    from fomm.media.image import is_picture, read_image
    from fomm.media.video import VideoReader

    if is_picture(path):
        return read_image(path)
    with VideoReader(path) as reader:
        return next(iter(reader)).copy()


def _frames_holding_last(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The frames, then the last one forever."""
    last = None
    for last in frames:
        yield last
    while True:
        yield last


@dataclass(frozen=True)
class MosaicResult:
    output: Path
    poster: Path | None
    frame_count: int
    width: int
    height: int


def make_mosaic(
    driving: str | os.PathLike,
    pairs: list[tuple[str | os.PathLike, str | os.PathLike]],
    output: str | os.PathLike,
    poster: str | os.PathLike | None = None,
    tile: int = 256,
    quality: int | None = None,
) -> MosaicResult:
    """Write the side-by-side video of `pairs` (source picture, result video) next to the
    driving video, with the driving audio; and optionally its middle frame as `poster`."""
    from fomm.media.audio import mux_audio
    from fomm.media.ffmpeg_args import DEFAULT_QUALITY
    from fomm.media.image import write_image
    from fomm.media.video import VideoReader, VideoWriter, probe

    if tile < 16:
        raise FommError(f"--tile must be at least 16 pixels, got {tile}")
    if not pairs:
        raise FommError("give at least one --pair SOURCE RESULT")
    driving, output = Path(driving), Path(output)
    inputs = [driving, *(path for pair in pairs for path in pair)]
    check_output_path(output, inputs)
    if poster is not None:
        check_output_path(poster, inputs)
    layout = mosaic_layout(len(pairs))
    driving_info = probe(driving)
    for _, result in pairs:
        probe(result)
    sources = [fit_tile(_read_source(Path(source)), tile) for source, _ in pairs]
    middle = max(0, (driving_info.frame_count or 1) // 2)
    silent = output.with_name(f".{output.stem}.silent-{os.getpid()}.mp4")
    poster_frame = None
    count = 0
    try:
        with contextlib.ExitStack() as stack:
            driving_reader = stack.enter_context(VideoReader(driving, max_size=tile))
            result_readers = [
                stack.enter_context(VideoReader(result, max_size=tile)) for _, result in pairs
            ]
            result_streams = [_frames_holding_last(iter(reader)) for reader in result_readers]
            writer = stack.enter_context(
                VideoWriter(
                    silent, driving_info.fps, DEFAULT_QUALITY if quality is None else quality
                )
            )
            for count, driving_frame in enumerate(driving_reader, start=1):
                results = [fit_tile(next(stream), tile) for stream in result_streams]
                frame = compose(layout, tile, fit_tile(driving_frame, tile), sources, results)
                writer.write(frame)
                if count - 1 == middle or poster_frame is None:
                    poster_frame = frame
        if driving_info.has_audio:
            mux_audio(silent, driving, output)
        else:
            os.replace(silent, output)
    finally:
        silent.unlink(missing_ok=True)
    if poster is not None:
        write_image(poster, poster_frame)
    height, width = poster_frame.shape[:2]
    return MosaicResult(output, Path(poster) if poster else None, count, width, height)
