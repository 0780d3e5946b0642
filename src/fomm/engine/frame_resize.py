"""Driving frames resized on the GPU that animates them, as the original demo resizes them.

The demo resizes every driving frame with `skimage.transform.resize` (what
`fomm.media.resize.resize_for_model` does): 67-107 ms for a 720p frame on one CPU thread.
`fomm.media.resize.resize_frame` gives the same floats from the resize's banded linear maps
(`axis_resampling`: per axis the Gaussian anti-aliasing filter and the linear interpolation
in one) in 15-22 ms, which would still hold a GPU animating 1,000 frames/s to about 50.
Here the frames go to the device as uint8 and each axis's map is applied there in float64:
its outputs in tiles of 16, each tile one dense product with the window of inputs it reads
(one gather and one batched matrix product per axis; for 1280 -> 256 a window of 92
inputs, 1.15x the row). The floats equal `resize_for_model`'s up to float64 rounding
(4e-16): after the cast to float32 the same values, or in rare cases one unit in the last
place. On a CPU this runs slower than `resize_frame` (about 16 against 61 frames/s at
720p), so there the file engine's decoder thread resizes, beside the animation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from fomm.media.resize import UINT8_SCALE, axis_resampling

# outputs per tile: each tile of an axis's outputs is one dense (window x TILE) product
TILE = 16
# frames resized at once hold at most this many input pixels: their float64 copy and its
# windows take about 50 bytes a pixel (1.6 GB), whatever the batch size and video size
CHUNK_PIXELS = 32 * 1024 * 1024


@dataclass(frozen=True)
class _TiledAxis:
    """An axis's banded map as dense blocks: outputs in tiles of TILE, each computed from a
    window of `span` consecutive inputs."""

    windows: torch.Tensor  # (tiles * span,) int64: the inputs of each tile's window
    blocks: torch.Tensor  # (tiles, span, TILE) float64
    out_size: int


@functools.lru_cache(maxsize=16)
def _tiled_axis(in_size: int, out_size: int, device: torch.device, scale: float) -> _TiledAxis:
    plan = axis_resampling(in_size, out_size)
    tiles = -(-out_size // TILE)
    tile_of = np.arange(out_size) // TILE
    lowest = np.full(tiles, in_size)
    highest = np.zeros(tiles, np.int64)
    np.minimum.at(lowest, tile_of, plan.indices.min(axis=1))
    np.maximum.at(highest, tile_of, plan.indices.max(axis=1))
    span = min(in_size, int((highest - lowest).max()) + 1)
    starts = np.minimum(lowest, in_size - span)
    blocks = np.zeros((tiles, span, TILE))
    rows = np.arange(out_size)[:, None]
    np.add.at(
        blocks,
        (tile_of[:, None], plan.indices - starts[tile_of][:, None], rows % TILE),
        plan.weights * scale,
    )
    windows = (starts[:, None] + np.arange(span)).ravel()
    return _TiledAxis(
        torch.from_numpy(windows).to(device), torch.from_numpy(blocks).to(device), out_size
    )


def _resample_last(values: torch.Tensor, axis: _TiledAxis) -> torch.Tensor:
    """Apply an axis's map along the last dimension of float64 `values`."""
    *leading, in_size = values.shape
    tiles, span, _ = axis.blocks.shape
    # (advanced indexing: on a CPU twice as fast as index_select here)
    windows = values.reshape(-1, in_size)[:, axis.windows].view(-1, tiles, span)
    out = torch.bmm(windows.transpose(0, 1), axis.blocks)  # (tiles, N, TILE)
    out = out.transpose(0, 1).reshape(-1, tiles * TILE)[:, : axis.out_size]
    return out.reshape(*leading, axis.out_size)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C >= 3) uint8 frames -> (B, 3, h, w) float32 in [0, 1] on the same device:
    the floats `resize_for_model` gives (see the module's docstring)."""
    if frames.dtype != torch.uint8 or frames.dim() != 4 or frames.shape[-1] < 3:
        raise ValueError(
            f"expected (B, H, W, 3) uint8 frames, got {tuple(frames.shape)} {frames.dtype}"
        )
    _, height, width, _ = frames.shape
    # the first map applied, along the width, takes the 1/255
    along_width = _tiled_axis(width, int(size[1]), frames.device, UINT8_SCALE)
    along_height = _tiled_axis(height, int(size[0]), frames.device, 1.0)
    chunk = max(1, CHUNK_PIXELS // (height * width))
    resized = []
    for part in frames.split(chunk):
        values = part[..., :3].permute(0, 3, 1, 2).to(torch.float64)  # (b, 3, H, W)
        rows = _resample_last(values, along_width)
        both = _resample_last(rows.transpose(2, 3), along_height).transpose(2, 3)
        # skimage then clips to the input's range; the weights are non-negative and each row
        # sums to 1, so only float64 rounding can step outside it, which float32 absorbs
        resized.append(both.to(torch.float32))
    return torch.cat(resized).contiguous()
