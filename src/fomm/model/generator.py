"""Occlusion-aware generator: source (B,C,H,W) + keypoints -> prediction (B,C,H,W) in [0,1].

The source encoder (`first` + `down_blocks`) depends on the source alone, so
`encode_source` can run once per source and its features be passed to `forward`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm.config import GeneratorConfig, channels_at
from fomm.model.blocks import DownBlock, ResBlock, SameBlock, UpBlock
from fomm.model.dense_motion import DenseMotionNetwork


def resize_deformation(
    deformation: torch.Tensor, height: int, width: int, align_corners: bool = False
) -> torch.Tensor:
    """Bilinear resize of a (B,h,w,2) sampling grid treated as a 2-channel image."""
    if deformation.shape[1:3] == (height, width):
        return deformation
    resized = F.interpolate(
        deformation.permute(0, 3, 1, 2),
        size=(height, width),
        mode="bilinear",
        align_corners=align_corners,
    )
    return resized.permute(0, 2, 3, 1)


class Generator(nn.Module):
    """`align_corners`: how grid_sample reads the [-1, 1] sampling grids (False: the original
    demo on current PyTorch; True: PyTorch 1.0, under which the published checkpoints were
    trained). `upsample_align_corners`: how the low-resolution deformation and occlusion map
    are enlarged (False in the original). With both True (`fomm train`'s default) the
    corner-aligned coordinate grid is resampled exactly: an identity motion copies pixels."""

    def __init__(
        self,
        config: GeneratorConfig,
        align_corners: bool = False,
        upsample_align_corners: bool = False,
    ):
        super().__init__()
        self.config = config
        self.align_corners = align_corners
        self.upsample_align_corners = upsample_align_corners
        expansion, most = config.block_expansion, config.max_features
        self.dense_motion_network = DenseMotionNetwork(config.dense_motion, align_corners)
        self.first = SameBlock(config.num_channels, expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock(channels_at(i, expansion, most), channels_at(i + 1, expansion, most))
            for i in range(config.num_down_blocks)
        )
        depth = config.num_down_blocks
        self.up_blocks = nn.ModuleList(
            UpBlock(
                channels_at(depth - i, expansion, most), channels_at(depth - i - 1, expansion, most)
            )
            for i in range(depth)
        )
        self.bottleneck = nn.Sequential()
        for i in range(config.num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock(channels_at(depth, expansion, most)))
        self.final = nn.Conv2d(expansion, config.num_channels, 7, padding=3)

    def encode_source(self, source: torch.Tensor) -> torch.Tensor:
        """Features of the source frame: (B,C,H,W) -> (B,F,H/2^D,W/2^D)."""
        out = self.first(source)
        for block in self.down_blocks:
            out = block(out)
        return out

    def forward(
        self,
        source: torch.Tensor,
        kp_source: dict[str, torch.Tensor],
        kp_driving: dict[str, torch.Tensor],
        source_features: torch.Tensor | None = None,
        *,
        full_output: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Animate `source`; `full_output=False` skips the diagnostic `deformed` frame.

        `source` and `source_features` may have batch 1 while the keypoints carry B frames.
        """
        batch = kp_driving["value"].shape[0]
        if source_features is None:
            source_features = self.encode_source(source)
        if source_features.shape[0] != batch:
            source_features = source_features.expand(batch, -1, -1, -1)
        if kp_source["value"].shape[0] != batch:
            kp_source = {name: v.expand(batch, *v.shape[1:]) for name, v in kp_source.items()}

        motion = self.dense_motion_network(source, kp_source, kp_driving)
        height, width = source_features.shape[2:]
        deformation = resize_deformation(
            motion["deformation"], height, width, self.upsample_align_corners
        )
        out = F.grid_sample(
            source_features,
            deformation.to(source_features.dtype),
            align_corners=self.align_corners,
        )
        result = {
            "mask": motion["mask"],
            "sparse_deformed": motion["sparse_deformed"],
            "deformation": motion["deformation"],
        }
        if "occlusion_map" in motion:
            occlusion = motion["occlusion_map"]
            result["occlusion_map"] = occlusion
            if occlusion.shape[2:] != out.shape[2:]:
                occlusion = F.interpolate(
                    occlusion,
                    size=out.shape[2:],
                    mode="bilinear",
                    align_corners=self.upsample_align_corners,
                )
            out = out * occlusion
        if full_output:
            full = resize_deformation(
                motion["deformation"], *source.shape[2:], self.upsample_align_corners
            )
            result["deformed"] = F.grid_sample(
                source.expand(batch, -1, -1, -1),
                full.to(source.dtype),
                align_corners=self.align_corners,
            )

        result["prediction"] = self.decode(out)
        return result

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Warped, occlusion-masked features -> the frame in [0, 1]."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))
