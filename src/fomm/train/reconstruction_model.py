"""The training objective as one module: keypoints of both frames, the generator's
reconstruction of the driving frame, and the equivariance losses under a random warp."""

from __future__ import annotations

import torch
from torch import nn

from fomm.model.generator import Generator
from fomm.model.keypoint_detector import KeypointDetector
from fomm.train.image_pyramid import ImagePyramid
from fomm.train.losses import (
    equivariance_jacobian_loss,
    equivariance_value_loss,
    reconstruction_loss,
)
from fomm.train.settings import TrainParams
from fomm.train.tps import ThinPlateSpline
from fomm.train.vgg19 import Vgg19Features


class ReconstructionModel(nn.Module):
    """(source, driving) (B,3,H,W) -> (losses by name, generator output)."""

    def __init__(
        self,
        kp_detector: KeypointDetector,
        generator: Generator,
        params: TrainParams,
        vgg: Vgg19Features | None = None,
    ):
        super().__init__()
        self.kp_detector = kp_detector
        self.generator = generator
        self.params = params
        self.pyramid = ImagePyramid(params.scales, generator.config.num_channels)
        self.vgg = vgg

    def forward(
        self,
        source: torch.Tensor,
        driving: torch.Tensor,
        warp: ThinPlateSpline | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        weights = self.params.loss_weights
        batch = source.shape[0]
        use_equivariance = weights.equivariance_value > 0 or weights.equivariance_jacobian > 0
        frames = [source, driving]
        if use_equivariance:
            if warp is None:
                transform = self.params.transform_params
                warp = ThinPlateSpline.random(
                    batch,
                    transform.sigma_affine,
                    transform.sigma_tps,
                    transform.points_tps,
                    device=driving.device,
                )
            frames.append(warp.warp_frames(driving))
        # One detector call for all frames: small convolutions are dominated by per-call cost.
        keypoints = self.kp_detector(torch.cat(frames))
        kp_source, kp_driving, kp_warped = (
            {name: value[i * batch : (i + 1) * batch] for name, value in keypoints.items()}
            for i in range(3)
        )
        generated = self.generator(source, kp_source, kp_driving, full_output=False)
        losses = {
            "reconstruction": reconstruction_loss(
                self.pyramid, generated["prediction"], driving, weights.reconstruction, self.vgg
            )
        }
        if use_equivariance and weights.equivariance_value > 0:
            losses["equivariance_value"] = weights.equivariance_value * equivariance_value_loss(
                kp_driving, kp_warped, warp
            )
        if use_equivariance and weights.equivariance_jacobian > 0 and "jacobian" in kp_driving:
            losses["equivariance_jacobian"] = weights.equivariance_jacobian * (
                equivariance_jacobian_loss(kp_driving, kp_warped, warp)
            )
        generated["kp_source"] = kp_source["value"]
        generated["kp_driving"] = kp_driving["value"]
        return losses, generated
