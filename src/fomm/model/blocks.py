"""Layers shared by the three networks: conv blocks, the hourglass, anti-aliased downsampling.

State-dict names follow the published checkpoints (`conv`, `norm`, `encoder.down_blocks.i`,
`decoder.up_blocks.j`, `weight` of the downsample).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fomm.config import channels_at


class SameBlock(nn.Module):
    """conv -> BatchNorm -> ReLU, spatial size kept."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)), inplace=True)


class DownBlock(nn.Module):
    """conv 3x3 -> BatchNorm -> ReLU -> 2x2 average pool: (B,C,H,W) -> (B,C',H/2,W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x)), inplace=True), 2)


class UpBlock(nn.Module):
    """nearest x2 upsample -> conv 3x3 -> BatchNorm -> ReLU: (B,C,H,W) -> (B,C',2H,2W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x)), inplace=True)


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels, affine=True)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(channels, affine=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x), inplace=True))
        out = self.conv2(F.relu(self.norm2(out), inplace=True))
        return out + x


class Encoder(nn.Module):
    """Hourglass encoder; returns every level [x, d0, ..., d(n-1)]."""

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(
                in_channels if i == 0 else channels_at(i, block_expansion, max_features),
                channels_at(i + 1, block_expansion, max_features),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = [x]
        for block in self.down_blocks:
            levels.append(block(levels[-1]))
        return levels


class Decoder(nn.Module):
    """Hourglass decoder: up blocks with skip concatenations; out = E + C channels."""

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.up_blocks = nn.ModuleList(
            UpBlock(
                channels_at(i + 1, block_expansion, max_features)
                * (1 if i == num_blocks - 1 else 2),
                channels_at(i, block_expansion, max_features),
            )
            for i in reversed(range(num_blocks))
        )
        self.out_channels = block_expansion + in_channels

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        skips = list(levels)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style hourglass: (B,C,H,W) -> (B,E+C,H,W)."""

    def __init__(self, block_expansion: int, in_channels: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_channels, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_channels, num_blocks, max_features)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def antialias_kernel_size(scale_factor: float) -> int:
    """Odd kernel size 2*round(4*sigma)+1 of the downsample, sigma = (1/s - 1)/2."""
    sigma = (1 / scale_factor - 1) / 2
    return 2 * round(sigma * 4) + 1


def build_antialias_kernel(channels: int, scale_factor: float) -> torch.Tensor:
    """Depthwise Gaussian (channels, 1, k, k), normalised to sum 1, built in float64."""
    sigma = (1 / scale_factor - 1) / 2
    size = antialias_kernel_size(scale_factor)
    # on the CPU even under a `torch.device("meta")` context (checkpoint shapes), where arange
    # would import PyTorch's reference decompositions: 1.4 s of a cold start
    axis = torch.arange(size, dtype=torch.float64, device="cpu")
    profile = torch.exp(-((axis - (size - 1) / 2) ** 2) / (2 * sigma**2))
    kernel = profile[:, None] * profile[None, :]
    kernel = kernel / kernel.sum()
    return kernel.expand(channels, 1, size, size).to(torch.float32).contiguous()


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then keep every int(1/s)-th row and column: (B,C,H,W) -> (B,C,~H*s,~W*s)."""

    def __init__(self, channels: int, scale_factor: float):
        super().__init__()
        self.channels = channels
        self.stride = int(1 / scale_factor)
        self.register_buffer("weight", build_antialias_kernel(channels, scale_factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.weight.shape[-1]
        before = size // 2
        after = before - 1 if size % 2 == 0 else before
        x = F.pad(x, (before, after, before, after))
        # Strided convolution: the same values as blurring everything and then subsampling.
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.stride, groups=self.channels)


def make_coordinate_grid(
    height: int, width: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """(H, W, 2) grid of (x, y) in [-1, 1] with corners on +-1."""
    xs = torch.arange(width, dtype=dtype, device=device)
    ys = torch.arange(height, dtype=dtype, device=device)
    xs = 2 * (xs / (width - 1)) - 1
    ys = 2 * (ys / (height - 1)) - 1
    return torch.stack(
        [xs.view(1, -1).expand(height, width), ys.view(-1, 1).expand(height, width)], dim=2
    )
