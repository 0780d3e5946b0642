"""Thin-plate-spline warps and the equivariance losses."""

from __future__ import annotations

import torch

from fomm.config import KeypointDetectorConfig
from fomm.model.keypoint_detector import KeypointDetector
from fomm.train.image_pyramid import ImagePyramid
from fomm.train.losses import (
    equivariance_jacobian_loss,
    equivariance_value_loss,
    reconstruction_loss,
)
from fomm.train.tps import ThinPlateSpline


def _random_warp(batch: int = 3, seed: int = 0) -> ThinPlateSpline:
    generator = torch.Generator().manual_seed(seed)
    return ThinPlateSpline.random(batch, 0.05, 0.01, 5, generator=generator)


def test_tps_jacobian_matches_finite_differences():
    warp = _random_warp()
    points = torch.rand(3, 7, 2, dtype=torch.float64) * 1.6 - 0.8
    warp64 = ThinPlateSpline(
        *(t.double() for t in (warp.affine, warp.offset, warp.control_points, warp.weights))
    )
    step = 1e-6
    numeric = torch.zeros(3, 7, 2, 2, dtype=torch.float64)
    for axis in range(2):
        delta = torch.zeros(2, dtype=torch.float64)
        delta[axis] = step
        difference = warp64.warp_points(points + delta) - warp64.warp_points(points - delta)
        numeric[..., axis] = difference / (2 * step)
    torch.testing.assert_close(warp64.jacobian(points), numeric, atol=1e-6, rtol=1e-5)


def test_identity_warp_keeps_points_and_frames():
    warp = ThinPlateSpline.identity(2)
    points = torch.rand(2, 5, 2) * 2 - 1
    torch.testing.assert_close(warp.warp_points(points), points)
    torch.testing.assert_close(warp.jacobian(points), torch.eye(2).expand(2, 5, 2, 2))
    frames = torch.rand(2, 3, 16, 20)
    torch.testing.assert_close(warp.warp_frames(frames), frames, atol=1e-5, rtol=0)


def test_warp_moves_a_dot_where_the_transform_says():
    frames = torch.zeros(1, 1, 33, 33)
    frames[0, 0, 8, 24] = 1.0  # x = 24/16 - 1 = 0.5, y = 8/16 - 1 = -0.5
    shift = ThinPlateSpline.identity(1)
    shift = ThinPlateSpline(
        shift.affine, torch.tensor([[0.25, 0.0]]), shift.control_points, shift.weights
    )
    warped = shift.warp_frames(frames)
    # Output pixel z shows input point z + (0.25, 0): the dot appears 0.25 to the left.
    row, col = divmod(int(warped.flatten().argmax()), 33)
    assert (row, col) == (8, 20)


def test_equivariance_losses_are_zero_for_the_identity_warp():
    torch.manual_seed(0)
    detector = KeypointDetector(
        KeypointDetectorConfig(
            num_kp=4, block_expansion=4, max_features=16, num_blocks=2, scale_factor=0.5
        )
    )
    with torch.no_grad():  # a non-trivial jacobian head, so the inverse is exercised
        detector.jacobian.weight.normal_(0, 0.05)
    detector.eval()
    frames = torch.rand(2, 3, 32, 32)
    warp = ThinPlateSpline.identity(2)
    torch.set_grad_enabled(False)
    kp = detector(frames)
    kp_warped = detector(warp.warp_frames(frames))
    assert float(equivariance_value_loss(kp, kp_warped, warp)) < 1e-6
    assert float(equivariance_jacobian_loss(kp, kp_warped, warp)) < 1e-5

    random = _random_warp(2, seed=3)
    kp_random = detector(random.warp_frames(frames))
    assert float(equivariance_value_loss(kp, kp_random, random)) > 1e-3
    torch.set_grad_enabled(True)


def test_reconstruction_loss_is_zero_only_for_the_target():
    pyramid = ImagePyramid((1.0, 0.5, 0.25))
    target = torch.rand(2, 3, 32, 32)
    assert float(reconstruction_loss(pyramid, target.clone(), target, 10.0)) == 0.0
    worse = reconstruction_loss(pyramid, torch.rand(2, 3, 32, 32), target, 10.0)
    assert float(worse) > 1.0


def test_unreadable_vgg19_weights_file_is_named_as_such(tmp_path):
    import pytest

    from fomm.errors import InputError
    from fomm.train.vgg19 import Vgg19Features

    weights = tmp_path / "vgg19.pth"
    weights.write_bytes(b"\x80\x02}q\x00(X\x01" + bytes(range(256)) * 8)  # a cut-off pickle
    with pytest.raises(InputError, match=r"vgg19\.pth: not a PyTorch VGG19 weights"):
        Vgg19Features.from_file(weights)
