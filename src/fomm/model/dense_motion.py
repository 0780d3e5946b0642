"""Dense motion network: source (B,C,H,W) + two keypoint sets -> dense deformation.

Returns `deformation` (B,h,w,2), `mask` (B,K+1,h,w), `sparse_deformed` (B,K+1,C,h,w) and,
when estimated, `occlusion_map` (B,1,h,w); h x w is the frame size times the scale factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm.config import DenseMotionConfig
from fomm.model.blocks import AntiAliasDownsample, Hourglass, make_coordinate_grid
from fomm.model.kinematics import apply_2x2, full_precision, unhalved


class DenseMotionNetwork(nn.Module):
    def __init__(self, config: DenseMotionConfig, align_corners: bool = False):
        super().__init__()
        self.config = config
        self.align_corners = align_corners
        num_maps = config.num_kp + 1
        self.hourglass = Hourglass(
            config.block_expansion,
            num_maps * (config.num_channels + 1),
            config.num_blocks,
            config.max_features,
        )
        self.mask = nn.Conv2d(self.hourglass.out_channels, num_maps, 7, padding=3)
        if config.estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_channels, 1, 7, padding=3)
        else:
            self.occlusion = None
        if config.scale_factor != 1:
            self.down = AntiAliasDownsample(config.num_channels, config.scale_factor)
        else:
            self.down = None

    def heatmap_difference(
        self, grid: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor
    ) -> torch.Tensor:
        """Gaussian(driving) - Gaussian(source) per keypoint, zero background: (B,K+1,1,h,w)."""

        def gaussians(values: torch.Tensor) -> torch.Tensor:
            offset = grid.view(1, 1, *grid.shape) - values.view(*values.shape[:2], 1, 1, 2)
            return torch.exp(-0.5 * (offset**2).sum(-1) / self.config.kp_variance)

        heatmap = gaussians(kp_driving) - gaussians(kp_source)  # B x K x h x w
        background = torch.zeros_like(heatmap[:, :1])
        return torch.cat([background, heatmap], dim=1).unsqueeze(2)

    def sparse_motions(
        self,
        grid: torch.Tensor,
        kp_source: dict[str, torch.Tensor],
        kp_driving: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Per-keypoint sampling grids T_k(z) = A_k (z - kpd_k) + kps_k: (B,K+1,h,w,2)."""
        batch, num_kp = kp_driving["value"].shape[:2]
        height, width = grid.shape[:2]
        offset = grid.view(1, 1, height, width, 2) - kp_driving["value"].view(
            batch, num_kp, 1, 1, 2
        )
        if "jacobian" in kp_driving and "jacobian" in kp_source:
            with full_precision(offset):
                affine = torch.matmul(
                    unhalved(kp_source["jacobian"]), torch.inverse(unhalved(kp_driving["jacobian"]))
                )
                offset = apply_2x2(affine.view(batch, num_kp, 1, 1, 2, 2), unhalved(offset))
        motions = offset + kp_source["value"].view(batch, num_kp, 1, 1, 2)
        identity = grid.view(1, 1, height, width, 2).expand(batch, 1, height, width, 2)
        return torch.cat([identity.to(motions.dtype), motions], dim=1)

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mask logits and, when estimated, occlusion logits."""
        occlusion = self.occlusion(features) if self.occlusion is not None else None
        return self.mask(features), occlusion

    def hourglass_features(self, stacked: torch.Tensor) -> torch.Tensor:
        return self.hourglass(stacked)

    def forward(
        self,
        source: torch.Tensor,
        kp_source: dict[str, torch.Tensor],
        kp_driving: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        if self.down is not None:
            source = self.down(source)
        batch = kp_driving["value"].shape[0]
        if source.shape[0] != batch:  # one source for a batch of driving frames
            source = source.expand(batch, -1, -1, -1)
        channels, height, width = source.shape[1:]
        num_maps = self.config.num_kp + 1
        grid = make_coordinate_grid(height, width, kp_source["value"].dtype, source.device)

        heatmaps = self.heatmap_difference(grid, kp_source["value"], kp_driving["value"])
        motions = self.sparse_motions(grid, kp_source, kp_driving)  # B x K+1 x h x w x 2
        repeated = source.unsqueeze(1).expand(-1, num_maps, -1, -1, -1)
        sparse_deformed = F.grid_sample(
            repeated.reshape(batch * num_maps, channels, height, width),
            motions.reshape(batch * num_maps, height, width, 2).to(source.dtype),
            align_corners=self.align_corners,
        ).view(batch, num_maps, channels, height, width)

        stacked = torch.cat([heatmaps.to(sparse_deformed.dtype), sparse_deformed], dim=2)
        features = self.hourglass_features(stacked.view(batch, -1, height, width))

        mask_logits, occlusion_logits = self.heads(features)
        mask = F.softmax(mask_logits, dim=1)  # B x K+1 x h x w
        deformation = (motions.permute(0, 1, 4, 2, 3) * mask.unsqueeze(2).to(motions.dtype)).sum(1)
        result = {
            "mask": mask,
            "sparse_deformed": sparse_deformed,
            "deformation": deformation.permute(0, 2, 3, 1),
        }
        if occlusion_logits is not None:
            result["occlusion_map"] = torch.sigmoid(occlusion_logits)
        return result
