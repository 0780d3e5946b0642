"""Frame arrays in the one layout the media code passes around: (N, H, W, 3) uint8 RGB."""

from __future__ import annotations

import numpy as np


def as_rgb_uint8(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 from one frame or a batch, grey or RGB(A), uint8 or float in [0, 1].

    Floats are rounded like `skimage.img_as_ubyte` (rint of x * 255, clipped).
    """
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"frames must be uint8 or float in [0, 1], got {array.dtype}")
        array = np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        array = array[..., None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) frames, got shape {np.shape(frames)}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])
