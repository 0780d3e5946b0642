"""resize_for_model against the original demo's preparation (conformance kit resize-demo)."""

from __future__ import annotations

import numpy as np
import pytest

from fomm.media.resize import resize_for_model


def test_matches_resize_demo_kit(shared_dir):
    case = shared_dir / "conformance" / "public" / "resize-demo"
    if not case.is_dir():
        pytest.skip("resize-demo kit not present")
    inputs = np.load(case / "inputs.npz")
    expected = np.load(case / "expected.npz")
    source = resize_for_model(inputs["source_rgba_uint8"], (256, 256))
    assert source.dtype == np.float32 and source.shape == (256, 256, 3)
    np.testing.assert_allclose(source, expected["source_resized"], atol=1e-5, rtol=0)
    driving = np.stack([resize_for_model(f, (256, 256)) for f in inputs["driving_uint8"]])
    np.testing.assert_allclose(driving, expected["driving_resized"], atol=1e-5, rtol=0)


def test_grey_becomes_three_equal_channels():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    out = resize_for_model(grey, (20, 16))
    assert out.shape == (20, 16, 3) and out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    same_as_rgb = resize_for_model(np.repeat(grey[..., None], 3, axis=2), (20, 16))
    np.testing.assert_allclose(out, same_as_rgb, atol=1e-6)
    assert resize_for_model(grey[..., None], (20, 16)).shape == (20, 16, 3)


def test_range_and_upscale():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[:, 4:] = 255
    out = resize_for_model(frame, (32, 32))
    assert out.min() == 0.0 and out.max() == 1.0
    assert out[:, :10].max() == 0.0 and out[:, -10:].min() == 1.0


def test_rejects_wrong_rank():
    with pytest.raises(ValueError):
        resize_for_model(np.zeros((2, 2, 2, 3), np.uint8), (4, 4))


def test_same_size_frames_equal_the_resize_path_for_every_value():
    from skimage.transform import resize

    # every uint8 value in every channel, in a frame that already has the model's size
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    frame = np.stack([values, values.T, 255 - values], axis=2)
    shortcut = resize_for_model(frame, (16, 16))
    through_skimage = resize(frame, (16, 16)).astype(np.float32)
    assert shortcut.dtype == np.float32
    assert np.array_equal(shortcut, through_skimage)
    # a different size still goes through the resize
    assert resize_for_model(frame, (8, 8)).shape == (8, 8, 3)


@pytest.mark.parametrize(
    "in_shape, out_shape",
    [
        ((240, 320), (256, 256)),  # the kit's frames: one axis grows, one shrinks
        ((720, 1280), (256, 256)),
        ((100, 80), (256, 256)),
        ((333, 257), (256, 256)),
        ((7, 3), (2, 2)),
        ((1, 5), (4, 3)),
        ((30, 500), (64, 48)),
    ],
)
def test_axis_resampling_maps_are_skimage_resize(in_shape, out_shape):
    from skimage.transform import resize

    from fomm.media.resize import axis_resampling

    rng = np.random.default_rng(sum(in_shape))
    image = rng.uniform(0, 1, (*in_shape, 3))
    rows = axis_resampling(in_shape[0], out_shape[0])
    columns = axis_resampling(in_shape[1], out_shape[1])
    along_rows = np.einsum("ot,otwc->owc", rows.weights, image[rows.indices])
    ours = np.einsum("pt,hptc->hpc", columns.weights, along_rows[:, columns.indices])
    expected = resize(image, out_shape)
    np.testing.assert_allclose(
        np.clip(ours, image.min(), image.max()), expected, rtol=0, atol=1e-12
    )
    # each output is a weighted mean: a flat picture stays flat
    np.testing.assert_allclose(rows.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(columns.weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_axis_resampling_is_banded():
    from fomm.media.resize import axis_resampling

    # 720 -> 256: sigma 0.91, a 9-tap Gaussian widened by the interpolation's 2 taps
    assert axis_resampling(720, 256).taps <= 11
    # growing: linear interpolation only
    assert axis_resampling(100, 256).taps == 2
    with pytest.raises(ValueError):
        axis_resampling(0, 4)
