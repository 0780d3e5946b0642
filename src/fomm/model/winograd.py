"""The generator's residual blocks by Winograd's minimal filtering F(2x2, 3x3), on a CPU.

The bottleneck's residual blocks (twelve 3x3 convolutions of 256 channels at 64x64 pixels
for vox-256) are about 70% of a frame's arithmetic on a CPU, and oneDNN's direct
convolutions already run them near the machine's peak. Winograd's algorithm computes each
2x2 block of outputs from a 4x4 tile of input with 16 products per channel pair instead
of 36:

    Y = A^T [ (G w G^T) * (B^T d B) ] A,  summed over input channels,

so each convolution becomes 16 matrix products (tiles x C) @ (C x K), one per position of
the 4x4 transformed tile, run as 1x1 oneDNN convolutions with their weights reordered once
(`InferenceConv`), plus cheap transforms of the input and output tiles. The transforms
have entries 0, +-1 (B, A) and +-1/2 (G, applied to the weights once, in float64), so the
rounding stays of the size of the direct convolution's: on random blocks the float64
error grew from 1.0e-6 to 2.6e-6, below oneDNN's channels-last direct kernel (5.4e-6).

The blocks work in NHWC tensors with a zero border of one pixel, so the padding costs
nothing: the first norm and ReLU write the interior of one bordered buffer, the first
convolution writes (and ReLU's) the interior of another, and the second adds its output
into the residual stream in place.

This runs in float32 and under bf16 autocast (`WinogradBottleneck`). Anywhere else (CUDA,
fp16 autocast, gradients, torch.compile, odd sizes) the blocks run as written
(`FoldedResBlock`).
"""

from __future__ import annotations

import torch
from torch import nn

from fomm.model.packed import (
    ONEDNN_AVAILABLE,
    InferenceConv,
    float64_slices,
    weight_work_dtype,
)

# F(2, 3): G maps a 3-tap kernel to the 4 transformed taps.
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
# Position 5 of the 4x4 transformed tile (row 1, column 1) reaches all four outputs with
# coefficient +1 through A, so a bias added to its product is added to every output.
_BIAS_POSITION = 5


def winograd_weight(weight: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """(K, C, 3, 3) kernel -> (16, K, C) transformed kernels G w G^T, tile position
    row-major, computed in float64 and rounded once to the kernel's dtype (`exact`), or
    computed in that dtype."""
    out_channels, in_channels, height, width = weight.shape
    if (height, width) != (3, 3):
        raise ValueError(f"Winograd F(2x2, 3x3) takes 3x3 kernels, not {height}x{width}")
    work_dtype = weight_work_dtype(weight, exact)
    g = torch.tensor(_G, dtype=work_dtype, device=weight.device)
    tap_matrix = torch.kron(g, g)  # (16, 9): [4a + b, 3i + j] = G[a, i] G[b, j]
    transformed = weight.new_empty((16, out_channels, in_channels))
    for rows in float64_slices(out_channels):
        kernels = weight.detach()[rows].to(work_dtype).reshape(-1, 9)
        transformed[:, rows] = (tap_matrix @ kernels.T).view(16, -1, in_channels)
    return transformed


def bordered_empty(
    batch: int, height: int, width: int, channels: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """An (N, H+2, W+2, C) buffer whose one-pixel border is zero (the interior is not set)."""
    buffer = torch.empty((batch, height + 2, width + 2, channels), dtype=dtype, device=device)
    for border in (buffer[:, 0], buffer[:, -1], buffer[:, :, 0], buffer[:, :, -1]):
        border.zero_()
    return buffer


def interior(bordered: torch.Tensor) -> torch.Tensor:
    return bordered[:, 1:-1, 1:-1]


class WinogradConv3x3(nn.Module):
    """A 3x3, stride 1, padding 1 convolution on NHWC tensors with a zero border."""

    def __init__(self, conv: InferenceConv, exact: bool = True):
        super().__init__()
        transformed = winograd_weight(conv.weight, exact)
        out_channels, in_channels = transformed.shape[1:]
        bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(out_channels)
        self.products = nn.ModuleList(
            InferenceConv(
                transformed[index].view(out_channels, in_channels, 1, 1),
                bias if index == _BIAS_POSITION else None,
            )
            for index in range(16)
        )

    def transformed_input(self, bordered: torch.Tensor) -> torch.Tensor:
        """(N, H+2, W+2, C) -> (16, N, H/2, W/2, C): B^T d B of every 4x4 tile at stride 2."""
        batch, height, width, channels = bordered.shape
        tiles_y, tiles_x = (height - 2) // 2, (width - 2) // 2
        rows = bordered.new_empty((4, batch, tiles_y, width, channels))
        taps = [bordered[:, k : k + 2 * tiles_y : 2] for k in range(4)]
        _b_transform(taps, list(rows))
        out = bordered.new_empty((16, batch, tiles_y, tiles_x, channels))
        for row in range(4):
            taps = [rows[row][:, :, k : k + 2 * tiles_x : 2] for k in range(4)]
            _b_transform(taps, list(out[4 * row : 4 * row + 4]))
        return out

    def write_output(
        self, transformed: torch.Tensor, out: torch.Tensor, accumulate: bool = False
    ) -> None:
        """The 16 products of the transformed tiles, A^T m A, into `out` (N, H, W, K), or
        added to it when `accumulate`."""
        products = [
            gemm(tile.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            for gemm, tile in zip(self.products, transformed, strict=True)
        ]
        batch, tiles_y, tiles_x, channels = products[0].shape
        # A^T over the tile rows (products are row-major), then over the tile columns
        rows = out.new_empty((2, 4, batch, tiles_y, tiles_x, channels))
        for column in range(4):
            _a_transform(products[column::4], rows[0, column], rows[1, column])
        for row in range(2):
            even, odd = out[:, row::2, 0::2], out[:, row::2, 1::2]
            _a_transform(list(rows[row]), even, odd, accumulate)

    def forward(self, bordered: torch.Tensor, out: torch.Tensor, accumulate: bool = False) -> None:
        self.write_output(self.transformed_input(bordered), out, accumulate)


def _b_transform(taps: list[torch.Tensor], out: list[torch.Tensor]) -> None:
    """B^T along one axis: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)."""
    d0, d1, d2, d3 = taps
    torch.sub(d0, d2, out=out[0])
    torch.add(d1, d2, out=out[1])
    torch.sub(d2, d1, out=out[2])
    torch.sub(d1, d3, out=out[3])


def _a_transform(
    terms: list[torch.Tensor], even: torch.Tensor, odd: torch.Tensor, accumulate: bool = False
) -> None:
    """A^T along one axis: even = t0 + t1 + t2, odd = t1 - t2 - t3 (added to when accumulate).
    The outputs have the terms' dtype (`WinogradResBlock` sums bf16 products in bf16): bf16
    terms summed into float32 strided views took 3x as long in isolation, and made the
    bottleneck 3% slower."""
    t0, t1, t2, t3 = terms
    if accumulate:
        even.add_(t0).add_(t1).add_(t2)
        odd.add_(t1).sub_(t2).sub_(t3)
    else:
        torch.add(t0, t1, out=even).add_(t2)
        torch.sub(t1, t2, out=odd).sub_(t3)


class WinogradResBlock(nn.Module):
    """A folded residual block (`fomm.model.fused.FoldedResBlock`) on NHWC tensors."""

    def __init__(self, block: nn.Module, exact: bool = True):
        super().__init__()
        norm = block.norm1
        scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
        shift = norm.bias.detach().double() - norm.running_mean.double() * scale
        dtype = norm.weight.dtype
        self.register_buffer("scale", scale.to(dtype))
        self.register_buffer("shift", shift.to(dtype))
        self.conv1 = WinogradConv3x3(block.conv1, exact)
        self.conv2 = WinogradConv3x3(block.conv2, exact)

    def forward(
        self,
        stream: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        residual: torch.Tensor | None = None,
    ) -> None:
        """stream (N, H, W, C) += block(stream); `first` and `second` are zero-bordered
        (N, H+2, W+2, C) scratch buffers of the activations' dtype. When that is not the
        stream's, `residual` (N, H, W, C) of the activations' dtype takes the second
        convolution's output before it is added to the stream."""
        activated = interior(first)
        torch.addcmul(self.shift, stream, self.scale, out=activated)
        activated.clamp_min_(0)
        hidden = interior(second)
        self.conv1(first, hidden)
        hidden.clamp_min_(0)
        if residual is None:
            self.conv2(second, stream, accumulate=True)
        else:
            self.conv2(second, residual)
            stream.add_(residual)


class WinogradBottleneck(nn.Module):
    """The residual blocks of the generator's bottleneck, by Winograd on a CPU.

    In float32 the residual stream, the transforms and the products are float32. Under
    bfloat16 autocast the stream stays float32 and the activations, their transforms, the
    products and each block's output are bfloat16 (as autocast's convolutions would give
    them), which halves the transforms' memory traffic: vox-256 frames 42-43 dB from
    float32 against 45.6 dB with the direct bf16 convolutions, at 1.2x their speed. (Summing
    the block outputs into the stream in float32 gave the same PSNR, but its mixed-dtype
    sums on strided views made the bottleneck 3% slower.)
    """

    def __init__(self, blocks: nn.Sequential, exact: bool = True):
        super().__init__()
        self.blocks = blocks
        self.winograd = nn.ModuleList(WinogradResBlock(block, exact) for block in blocks)

    def applies(self, x: torch.Tensor) -> bool:
        return (
            ONEDNN_AVAILABLE
            and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.bfloat16)
            and x.shape[2] % 2 == 0
            and x.shape[3] % 2 == 0
            and self.work_dtype() is not None
            and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
        )

    @staticmethod
    def work_dtype() -> torch.dtype | None:
        """The activations' dtype: float32, bfloat16 under CPU bf16 autocast, None under
        any other autocast."""
        if not torch.is_autocast_enabled("cpu"):
            return torch.float32
        return torch.bfloat16 if torch.get_autocast_dtype("cpu") == torch.bfloat16 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.winograd or not self.applies(x):
            return self.blocks(x)
        batch, channels, height, width = x.shape
        # a float32 copy: the blocks add into it in place
        stream = torch.empty((batch, height, width, channels), dtype=torch.float32)
        stream.copy_(x.permute(0, 2, 3, 1))
        shape = (batch, height, width, channels)
        work_dtype = self.work_dtype()
        first = bordered_empty(*shape, work_dtype, x.device)
        second = bordered_empty(*shape, work_dtype, x.device)
        residual = None if work_dtype == stream.dtype else stream.new_empty(shape, dtype=work_dtype)
        for block in self.winograd:
            block(stream, first, second, residual)
        return stream.permute(0, 3, 1, 2).to(x.dtype)
