"""Transparent pictures: blended over a colour (fomm animate) or alpha dropped (fomm.demo)."""

import numpy as np
from PIL import Image

from fomm.media.image import read_image


def _transparent_png(path):
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # stored colour under the transparency: red
    rgba[:, :3, 3] = 0  # left half fully transparent
    rgba[:, 3:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return rgba


def test_alpha_blended_over_background(tmp_path):
    rgba = _transparent_png(tmp_path / "t.png")
    picture = read_image(tmp_path / "t.png", background=(0, 0, 255))
    assert picture.shape == (4, 6, 3)
    assert (picture[:, :3] == [0, 0, 255]).all()
    assert (picture[:, 3:] == rgba[:, 3:, :3]).all()


def test_alpha_dropped_like_the_original_demo(tmp_path):
    rgba = _transparent_png(tmp_path / "t.png")
    picture = read_image(tmp_path / "t.png", background=None)
    assert picture.dtype == np.uint8
    np.testing.assert_array_equal(picture, rgba[..., :3])
