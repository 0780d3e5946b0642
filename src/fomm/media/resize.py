"""Frame preparation for the networks, identical to the original demo's."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def resize_for_model(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a picture or frame to `size` (h, w) as float32 RGB in [0, 1].

    Same as the original demo: `skimage.transform.resize(frame, size)` with its defaults
    (bilinear, anti-aliasing when shrinking, uint8 scaled to [0, 1]), then the first three
    channels. A grey picture (H, W) or (H, W, 1) is repeated to three channels.
    """
    from skimage.transform import resize

    array = np.asarray(frame)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) picture, got shape {array.shape}")
    height, width = int(size[0]), int(size[1])
    if array.dtype == np.uint8 and array.shape == (height, width, 3):
        # skimage's resize to the same size returns the frame / 255 (checked for all 256
        # values by the tests); a 256x256 frame then costs microseconds, not 6 ms
        return np.divide(array, np.float32(255), dtype=np.float32)
    if array.ndim == 3 and array.shape[2] >= 3:
        resized = resize(array, (height, width))[..., :3]
    else:
        # grey (H, W), (H, W, 1) or grey + alpha (H, W, 2): the grey channel stands for all three
        grey = array if array.ndim == 2 else array[..., 0]
        resized = np.repeat(resize(grey, (height, width))[..., None], 3, axis=2)
    return np.ascontiguousarray(resized, dtype=np.float32)


# skimage.transform.resize, as the demo calls it, is separable: per axis a Gaussian
# anti-aliasing filter (sigma = (in/out - 1)/2 where the axis shrinks, scipy's kernel cut at
# 4 sigma) and linear interpolation at pixel centres, both mirroring at the edges (numpy's
# "reflect", scipy's "mirror"); then a clip to the input's range. Each axis is therefore one
# linear map, banded: `AxisResampling` holds it, `resize_frame` applies it as sparse
# products and `fomm.engine.frame_resize` as tiled dense products on the GPU.
_GAUSSIAN_TRUNCATE = 4.0
# skimage turns uint8 into floats as value * (1 / 255) in float64
UINT8_SCALE = 1.0 / 255


@dataclass(frozen=True)
class AxisResampling:
    """One axis of the resize: output i = sum over t of weights[i, t] * input[indices[i, t]]
    (float64; rows padded with zero weights to the widest row)."""

    indices: np.ndarray  # (out, taps) int64
    weights: np.ndarray  # (out, taps) float64

    @property
    def taps(self) -> int:
        return self.indices.shape[1]


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """Indices folded into [0, size) as ... c b | a b c d | c b ... (the edge sample once)."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * size - 2
    folded = np.abs(index) % period
    return np.where(folded >= size, period - folded, folded)


def _gaussian_taps(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, weights) of scipy.ndimage's Gaussian filter; one tap for no smoothing."""
    if sigma <= 1e-15:  # scipy skips the axis
        return np.zeros(1, np.int64), np.ones(1)
    radius = int(_GAUSSIAN_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets.astype(np.float64) ** 2)
    return offsets, weights / weights.sum()


@functools.lru_cache(maxsize=16)
def axis_resampling(in_size: int, out_size: int) -> AxisResampling:
    """The linear map skimage's resize applies along an axis of `in_size` to `out_size`."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"cannot resize an axis of {in_size} to {out_size}")
    factor = in_size / out_size
    offsets, gaussian = _gaussian_taps(max(0.0, (factor - 1) / 2))
    # interpolation at the output pixel centres, mirrored into [0, in_size - 1]
    position = (np.arange(out_size, dtype=np.float64) + 0.5) * factor - 0.5
    if in_size > 1:
        position = np.abs(position)
        position = np.where(position > in_size - 1, 2 * (in_size - 1) - position, position)
    else:
        position = np.zeros_like(position)
    lower = np.floor(position).astype(np.int64)
    fraction = position - lower
    dense = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    for neighbour, share in ((lower, 1.0 - fraction), (lower + 1, fraction)):
        neighbour = _mirror(neighbour, in_size)
        for offset, weight in zip(offsets, gaussian):
            np.add.at(dense, (rows, _mirror(neighbour + offset, in_size)), share * weight)
    taps = max(1, int((dense != 0).sum(axis=1).max()))
    indices = np.zeros((out_size, taps), np.int64)
    weights = np.zeros((out_size, taps))
    for row in range(out_size):
        columns = np.flatnonzero(dense[row])
        indices[row, : len(columns)] = columns
        indices[row, len(columns) :] = columns[-1] if len(columns) else 0
        weights[row, : len(columns)] = dense[row, columns]
    return AxisResampling(indices, weights)


@functools.lru_cache(maxsize=16)
def _sparse_map(in_size: int, out_size: int):
    """`axis_resampling` as a (out, in) CSR matrix."""
    from scipy.sparse import csr_matrix

    plan = axis_resampling(in_size, out_size)
    rows, taps = plan.indices.shape
    row_starts = np.arange(0, rows * taps + 1, taps)
    return csr_matrix(
        (plan.weights.ravel(), plan.indices.ravel(), row_starts), shape=(out_size, in_size)
    )


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`resize_for_model` of an (H, W, >= 3) uint8 frame by the two axes' banded maps, as
    sparse products in float64: the same float32 values (or, rarely, one unit in the last
    place), 5-9x sooner (a 720p frame: 22 ms against 107 ms, 1080p 44 against 256 ms)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
    height, width, channels = frame.shape
    out_height, out_width = int(size[0]), int(size[1])
    rows = _sparse_map(height, out_height) @ frame.reshape(height, width * channels)
    by_column = rows.reshape(out_height, width, channels).transpose(1, 0, 2)
    both = _sparse_map(width, out_width) @ by_column.reshape(width, out_height * channels)
    # (skimage's clip to the input's range is moot: the weights are non-negative and each
    # row sums to 1)
    resized = both.reshape(out_width, out_height, channels).transpose(1, 0, 2)[..., :3]
    return np.multiply(resized, UINT8_SCALE).astype(np.float32)


def picture_for_model(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`resize_for_model`'s floats, by `resize_frame` where it applies: a uint8 RGB(A)
    picture of another size. A photo shrinks 4-60x sooner that way (12 and 24 Mpixels to
    256x256 or 64x64: 0.2-0.7 s against 3-25 s; the stronger the shrink, the wider
    skimage's Gaussian: 6000 -> 64 reads 374 inputs an output)."""
    array = np.asarray(picture)
    if (
        array.dtype == np.uint8
        and array.ndim == 3
        and array.shape[2] >= 3
        and array.shape[:2] != (int(size[0]), int(size[1]))
    ):
        return resize_frame(array, size)
    return resize_for_model(array, size)
