"""Keypoint detector: frame (B,C,H,W) -> {"value": (B,K,2), "jacobian": (B,K,2,2)}.

Keypoints are heatmap-weighted means of the coordinate grid; jacobians (when estimated)
are heatmap-weighted means of a 4-channel map per keypoint (or one shared map).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm.config import KeypointDetectorConfig
from fomm.model.blocks import AntiAliasDownsample, Hourglass, make_coordinate_grid


class KeypointDetector(nn.Module):
    def __init__(self, config: KeypointDetectorConfig):
        super().__init__()
        self.config = config
        self.predictor = Hourglass(
            config.block_expansion, config.num_channels, config.num_blocks, config.max_features
        )
        self.kp = nn.Conv2d(self.predictor.out_channels, config.num_kp, 7, padding=config.pad)
        if config.estimate_jacobian:
            self.num_jacobian_maps = 1 if config.single_jacobian_map else config.num_kp
            self.jacobian = nn.Conv2d(
                self.predictor.out_channels, 4 * self.num_jacobian_maps, 7, padding=config.pad
            )
            # A fresh detector starts from identity jacobians.
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(
                    torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps)
                )
        else:
            self.jacobian = None
        if config.scale_factor != 1:
            self.down = AntiAliasDownsample(config.num_channels, config.scale_factor)
        else:
            self.down = None

    def forward(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.down is not None:
            frame = self.down(frame)
        features = self.predictor(frame)  # B x (E+C) x h x w
        logits = self.kp(features).float()  # B x K x h' x w', reduced in float32 under autocast
        batch, num_kp, height, width = logits.shape
        heatmap = F.softmax(logits.view(batch, num_kp, -1) / self.config.temperature, dim=2)
        heatmap = heatmap.view(batch, num_kp, height, width)
        grid = make_coordinate_grid(height, width, heatmap.dtype, heatmap.device)
        value = (heatmap.unsqueeze(-1) * grid.view(1, 1, height, width, 2)).sum(dim=(2, 3))
        result = {"value": value}
        if self.jacobian is not None:
            maps = (
                self.jacobian(features)
                .float()
                .view(batch, self.num_jacobian_maps, 4, height, width)
            )
            jacobian = (heatmap.unsqueeze(2) * maps).sum(dim=(-1, -2))  # B x K x 4
            result["jacobian"] = jacobian.view(batch, num_kp, 2, 2)
        return result
