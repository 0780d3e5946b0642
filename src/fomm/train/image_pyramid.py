"""Image pyramid for the multi-scale reconstruction loss: frame -> {scale: blurred, smaller}."""

from __future__ import annotations

import torch
from torch import nn

from fomm.model.blocks import AntiAliasDownsample


class ImagePyramid(nn.Module):
    """(B,C,H,W) -> dict of the frame at each scale (anti-aliased Gaussian downsampling)."""

    def __init__(self, scales: tuple[float, ...], channels: int = 3):
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.downs = nn.ModuleDict(
            {
                str(s).replace(".", "_"): AntiAliasDownsample(channels, s)
                for s in self.scales
                if s != 1
            }
        )

    def forward(self, frames: torch.Tensor) -> dict[float, torch.Tensor]:
        levels = {}
        for scale in self.scales:
            key = str(scale).replace(".", "_")
            levels[scale] = frames if scale == 1 else self.downs[key](frames)
        return levels
