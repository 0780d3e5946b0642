"""Training losses: multi-scale reconstruction (pyramid L1, optional VGG19) and equivariance."""

from __future__ import annotations

import torch

from fomm.train.image_pyramid import ImagePyramid
from fomm.train.tps import ThinPlateSpline
from fomm.train.vgg19 import Vgg19Features


def reconstruction_loss(
    pyramid: ImagePyramid,
    prediction: torch.Tensor,
    target: torch.Tensor,
    weight: float,
    vgg: Vgg19Features | None = None,
) -> torch.Tensor:
    """Sum over pyramid scales of mean |prediction - target| (or of VGG19 features), x weight."""
    predicted_levels = pyramid(prediction)
    target_levels = pyramid(target.detach())
    total = prediction.new_zeros(())
    for scale in pyramid.scales:
        if vgg is None:
            total = total + (predicted_levels[scale] - target_levels[scale]).abs().mean()
        else:
            for a, b in zip(vgg(predicted_levels[scale]), vgg(target_levels[scale])):
                total = total + (a - b.detach()).abs().mean()
    return weight * total


def equivariance_value_loss(
    kp_driving: dict[str, torch.Tensor],
    kp_warped: dict[str, torch.Tensor],
    warp: ThinPlateSpline,
) -> torch.Tensor:
    """mean |kp(frame) - T(kp(warped frame))|: keypoints must move with the picture."""
    return (kp_driving["value"] - warp.warp_points(kp_warped["value"])).abs().mean()


def equivariance_jacobian_loss(
    kp_driving: dict[str, torch.Tensor],
    kp_warped: dict[str, torch.Tensor],
    warp: ThinPlateSpline,
) -> torch.Tensor:
    """mean |I - inv(J) (dT(kp') J')|: jacobians must transform with the warp's own jacobian."""
    carried = torch.matmul(warp.jacobian(kp_warped["value"]), kp_warped["jacobian"])
    product = torch.matmul(torch.inverse(kp_driving["jacobian"]), carried)
    eye = torch.eye(2, dtype=product.dtype, device=product.device)
    return (eye - product).abs().mean()
