"""An inference-only rewrite of the generator: the same function, less arithmetic.

`fuse_for_inference` returns a copy of an eval-mode generator in which
- every "nearest x2 upsample, then 3x3 convolution" (the generator's decoder and the dense
  motion hourglass) is computed at the low resolution as one 2x2 convolution giving the four
  output phases (16 multiply-adds per low-resolution pixel and channel pair instead of 36),
  written straight into place next to the hourglass skip connection;
- the last upsampling block feeds the final 7x7 convolution in that phase form, so the 7x7
  convolution with its three output channels becomes a 4x4 one with twelve;
- the mask and occlusion heads, two 7x7 convolutions of the same features, are one;
- every BatchNorm that follows a convolution (up and down blocks, the second norm of each
  residual block) is folded into that convolution's weights and bias, in float64;
- up blocks on inputs of at most `PLAIN_UPSAMPLE_MAX_PIXELS` pixels (the bottom of the
  dense motion hourglass) keep the upsample-then-3x3 form, which reads fewer weights;
- on a CPU the bottleneck's residual blocks run by Winograd's F(2x2, 3x3)
  (`fomm.model.winograd`).
Only float32 rounding changes (summation order, and the folded weights rounded once): the
conformance kits' animation cases run through this copy. Training and the module
conformance cases use the networks as written.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from fomm.model.blocks import Decoder, DownBlock, ResBlock, UpBlock
from fomm.model.dense_motion import DenseMotionNetwork
from fomm.model.generator import Generator
from fomm.model.packed import (
    InferenceConv,
    float64_slices,
    reorder_convolutions,
    weight_work_dtype,
)
from fomm.model.winograd import WinogradBottleneck

# Which of the three taps of a 3x3 kernel (rows or columns) add up to each of the two
# low-resolution taps, for output phase 0 (even pixels) and phase 1 (odd pixels), when the
# input was nearest-upsampled by two: even pixel 2i sees x[i-1], x[i], x[i]; odd 2i+1 sees
# x[i], x[i], x[i+1].
_PHASE_TAP_GROUPS = (((0,), (1, 2)), ((0, 1), (2,)))
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _subpixel_matrix() -> torch.Tensor:
    """(9, 16) float64: 3x3 kernel taps (row-major) -> the four phases' 2x2 taps, phase-major."""
    matrix = torch.zeros(3, 3, 4, 2, 2, dtype=torch.float64)
    for index, (a, b) in enumerate(_PHASES):
        for v, rows in enumerate(_PHASE_TAP_GROUPS[a]):
            for x, cols in enumerate(_PHASE_TAP_GROUPS[b]):
                for u in rows:
                    for w in cols:
                        matrix[u, w, index, v, x] = 1.0
    return matrix.view(9, 16)


def subpixel_weight(weight: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """(O,I,3,3) kernel applied after nearest x2 upsampling -> (4*O,I,2,2) low-resolution kernels,
    one block of O per output phase (row parity, column parity) in `_PHASES` order. Each tap
    is a sum of at most four taps, exact in float64 and rounded to float32 once (`exact`), or
    summed in the kernel's dtype."""
    out_channels, in_channels = weight.shape[:2]
    work_dtype = weight_work_dtype(weight, exact)
    matrix = _subpixel_matrix().to(weight.device, work_dtype)
    phased = weight.new_empty((4, out_channels, in_channels, 2, 2))
    for rows in float64_slices(out_channels):
        taps = weight[rows].to(work_dtype).reshape(-1, 9) @ matrix
        phased[:, rows] = taps.view(-1, in_channels, 4, 2, 2).permute(2, 0, 1, 3, 4)
    return phased.view(4 * out_channels, in_channels, 2, 2)


def phase_form_weight(weight: torch.Tensor) -> torch.Tensor:
    """A (O,C,7,7) 'same' convolution of a 2H x 2W image, rewritten on its four phases:
    (4*O, 4*C, 4, 4) acting on the phases stacked as channels (padded by 2), output phase
    (a', b') read at offset (a', b'). Taps that fall outside the 7x7 kernel are zero."""
    out_channels, channels, size, _ = weight.shape
    if size != 7:
        raise ValueError(f"the phase form is derived for a 7x7 kernel, not {size}x{size}")
    half = size // 2
    phased = weight.new_zeros(4 * out_channels, 4 * channels, 4, 4)
    for p_out, (row_out, col_out) in enumerate(_PHASES):
        for p_in, (row_in, col_in) in enumerate(_PHASES):
            for tap_y in range(4):
                dy = row_out + 2 * tap_y - 4 + row_in
                if abs(dy) > half:
                    continue
                for tap_x in range(4):
                    dx = col_out + 2 * tap_x - 4 + col_in
                    if abs(dx) > half:
                        continue
                    phased[
                        p_out * out_channels : (p_out + 1) * out_channels,
                        p_in * channels : (p_in + 1) * channels,
                        tap_y,
                        tap_x,
                    ] = weight[:, :, dy + half, dx + half]
    return phased


def phase(phases: torch.Tensor, index: int, channels: int, height: int, width: int):
    """Phase `index` of a (B, 4*channels, H+1, W+1) phase tensor, as (B, channels, H, W):
    block `index` of channels, read at the phase's offset (row parity, column parity)."""
    row, col = _PHASES[index]
    block = phases[:, index * channels : (index + 1) * channels]
    return block[:, :, row : row + height, col : col + width]


def interleave_phases(phases: torch.Tensor, out: torch.Tensor, channels: int) -> None:
    """Write the four phases into out[:, :channels], a (B, >=channels, 2H, 2W) tensor."""
    height, width = out.shape[2] // 2, out.shape[3] // 2
    for index, (row, col) in enumerate(_PHASES):
        out[:, :channels, row::2, col::2] = phase(phases, index, channels, height, width)


def _channels_last_empty(batch: int, channels: int, height: int, width: int, like: torch.Tensor):
    return torch.empty(
        (batch, channels, height, width),
        dtype=like.dtype,
        device=like.device,
        memory_format=torch.channels_last,
    )


def folded_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d, exact: bool = True) -> InferenceConv:
    """conv then eval-mode BatchNorm as one convolution, computed in float64 and rounded to
    the conv's dtype (`exact`), or computed in that dtype.

    norm(conv(x)) = scale * (w * x + b - mean) + shift with scale = gamma / sqrt(var + eps),
    so w' = scale * w and b' = scale * (b - mean) + shift. Folded in float64, the two float32
    per-element operations of the norm become one rounding of the weights (a float32 product
    with a rounded scale moved the vox-256 frames 2e-6 further from the naive loop's).
    """
    work_dtype = weight_work_dtype(conv.weight, exact)
    scale = norm.weight.detach().to(work_dtype) / torch.sqrt(
        norm.running_var.to(work_dtype) + norm.eps
    )
    weight = torch.empty_like(conv.weight.detach())
    for rows in float64_slices(len(weight)):
        weight[rows] = conv.weight.detach()[rows].to(work_dtype) * scale[rows].view(-1, 1, 1, 1)
    bias = conv.bias.detach().to(work_dtype) if conv.bias is not None else torch.zeros_like(scale)
    bias = scale * (bias - norm.running_mean.to(work_dtype)) + norm.bias.detach().to(work_dtype)
    return InferenceConv(weight, bias.to(weight.dtype), padding=conv.padding)


# Inputs of at most this many pixels take the up block as written: there the convolution is
# bound by reading its weights, and the sub-pixel kernel (16 taps) is larger than the 3x3 one
# (measured on 2 CPU cores at vox-256: 2x2 inputs 1.7x faster, 4x4 about even, 8x8 slower).
PLAIN_UPSAMPLE_MAX_PIXELS = 16


class SubpixelUpBlock(nn.Module):
    """The up block (upsample x2, conv 3x3, BatchNorm, ReLU) computed at the input resolution,
    with the BatchNorm folded into the convolution."""

    def __init__(self, block: UpBlock, exact: bool = True):
        super().__init__()
        self.out_channels = block.conv.out_channels
        self.exact = exact
        self.plain = folded_conv(block.conv, block.norm, exact)
        # made on first use (`make_subpixel`), so blocks that only see small inputs never pay
        self.subpixel: InferenceConv | None = None

    def make_subpixel(self) -> InferenceConv:
        if self.subpixel is None:
            weight, bias = self.plain.weight, self.plain.bias
            self.subpixel = InferenceConv(
                subpixel_weight(weight, self.exact), bias.repeat(4), padding=1
            )
        return self.subpixel

    def phases(self, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        """(B,I,H,W) -> (B,4*O,H+1,W+1): phase (a,b) block p holds out[2i+a, 2j+b] at [i+a, j+b]
        (before the ReLU when `relu` is False)."""
        return self.make_subpixel()(x, relu=relu)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The upsampled block output, with `extra` (B,E,2H,2W) concatenated after it if given."""
        batch, _, height, width = x.shape
        if height * width <= PLAIN_UPSAMPLE_MAX_PIXELS:
            out = self.plain(F.interpolate(x, scale_factor=2.0, mode="nearest"), relu=True)
            return out if extra is None else torch.cat([out, extra.to(out.dtype)], dim=1)
        phases = self.phases(x)
        total = self.out_channels + (extra.shape[1] if extra is not None else 0)
        out = _channels_last_empty(batch, total, 2 * height, 2 * width, phases)
        interleave_phases(phases, out, self.out_channels)
        if extra is not None:
            out[:, self.out_channels :] = extra
        return out


class FoldedDownBlock(nn.Module):
    """The down block (conv 3x3, BatchNorm, ReLU, 2x2 average pool) with the norm folded."""

    def __init__(self, block: DownBlock, exact: bool = True):
        super().__init__()
        self.conv = folded_conv(block.conv, block.norm, exact)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(x, relu=True), 2)


class FoldedResBlock(nn.Module):
    """The pre-activation residual block with its second norm folded into the first conv and
    the residual addition done by the second."""

    def __init__(self, block: ResBlock, exact: bool = True):
        super().__init__()
        self.norm1 = block.norm1
        self.conv1 = folded_conv(block.conv1, block.norm2, exact)
        self.conv2 = InferenceConv.from_conv(block.conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x), inplace=True), relu=True)
        return self.conv2(out, add=x)


class FusedDecoder(nn.Module):
    """The hourglass decoder with sub-pixel up blocks writing next to their skip connection."""

    def __init__(self, decoder: Decoder, exact: bool = True):
        super().__init__()
        self.up_blocks = nn.ModuleList(SubpixelUpBlock(block, exact) for block in decoder.up_blocks)
        self.out_channels = decoder.out_channels

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        skips = list(levels)
        out = skips.pop()
        for block in self.up_blocks:
            out = block(out, extra=skips.pop())
        return out


class MergedHeads(nn.Module):
    """Several convolutions of the same input and kernel size as one; returns the parts."""

    def __init__(self, convs: list[nn.Conv2d]):
        super().__init__()
        self.sizes = [conv.out_channels for conv in convs]
        weight = torch.cat([conv.weight.detach() for conv in convs])
        bias = torch.cat([conv.bias.detach() for conv in convs])
        self.conv = InferenceConv(weight, bias, padding=convs[0].padding)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(self.conv(x), self.sizes, dim=1))


def _fuse_blocks(module: nn.Module, exact: bool) -> None:
    """Replace, in place and recursively, every up block by its sub-pixel form and every down
    and residual block by its folded form."""
    for name, child in list(module.named_children()):
        if isinstance(child, UpBlock):
            setattr(module, name, SubpixelUpBlock(child, exact))
        elif isinstance(child, DownBlock):
            setattr(module, name, FoldedDownBlock(child, exact))
        elif isinstance(child, ResBlock):
            setattr(module, name, FoldedResBlock(child, exact))
        elif isinstance(child, Decoder):
            setattr(module, name, FusedDecoder(child, exact))
        else:
            _fuse_blocks(child, exact)


class FusedDenseMotionNetwork(DenseMotionNetwork):
    def hourglass_features(self, stacked: torch.Tensor) -> torch.Tensor:
        # Under CPU autocast the hourglass takes channels-last input, so its encoder runs with
        # its bf16 weights reordered once (`InferenceConv`) instead of cast and reordered on
        # every call: 4-5% of a vox-256 bf16 frame. At fp32 it stays contiguous, which is no
        # slower there and rounds closer to float64.
        if stacked.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            stacked = stacked.contiguous(memory_format=torch.channels_last)
        return self.hourglass(stacked)

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.occlusion is None:
            return self.mask(features), None
        mask, occlusion = self.merged_heads(features)
        return mask, occlusion


class FusedGenerator(Generator):
    def decode(self, features: torch.Tensor) -> torch.Tensor:
        # The warped features come out of grid_sample contiguous. At fp32 they stay so: the
        # Winograd blocks (CPU) read either layout, and the blocks as written round closer to
        # float64 on contiguous features. Under autocast that edge is lost in bf16/fp16
        # rounding: there the faster layout.
        if torch.is_autocast_enabled(features.device.type):
            features = features.contiguous(memory_format=torch.channels_last)
        out = self.bottleneck(features)
        if not self.up_blocks:
            return torch.sigmoid(self.final(out))
        for block in self.up_blocks[:-1]:
            out = block(out)
        last = self.up_blocks[-1]
        batch, _, height, width = out.shape
        phases = last.phases(out, relu=False)
        # The phases stacked as channels, padded by 2 for the 4x4 phase-form final conv; the
        # ReLU is applied on the way in, and only the border is zeroed.
        channels = last.out_channels
        stacked = _channels_last_empty(batch, 4 * channels, height + 4, width + 4, phases)
        for border in (
            stacked[:, :, :2],
            stacked[:, :, -2:],
            stacked[:, :, :, :2],
            stacked[:, :, :, -2:],
        ):
            border.zero_()
        for index in range(4):
            interior = stacked[:, index * channels : (index + 1) * channels, 2:-2, 2:-2]
            relu = phase(phases, index, channels, height, width)
            if torch.compiler.is_compiling():  # (Dynamo cannot trace a strided out=)
                interior.copy_(relu.clamp_min(0))
            else:
                torch.clamp_min(relu, 0, out=interior)
        result = torch.sigmoid(self.final_phases(stacked))
        out_channels = self.config.num_channels
        image = _channels_last_empty(batch, out_channels, 2 * height, 2 * width, result)
        interleave_phases(result, image, out_channels)
        return image


def copy_sharing_weights(module: nn.Module) -> nn.Module:
    """A copy of the module whose parameters and buffers share the original's storage, as
    gradient-free parameters of their own: the rewrites replace weights, they never write into
    them, and copying them (180 MB at vox-256) only cost start-up time and fresh memory."""
    memo: dict[int, object] = {}
    for parameter in module.parameters():
        memo[id(parameter)] = nn.Parameter(parameter.detach(), requires_grad=False)
    for buffer in module.buffers():
        memo[id(buffer)] = buffer
    return copy.deepcopy(module, memo)


def fuse_for_inference(
    generator: Generator, defer_subpixel: bool = False, exact: bool = True
) -> Generator:
    """An inference copy of the generator (same device and dtype, no gradients).

    exact computes the rewritten weights (folded norms, sub-pixel and Winograd kernels) in
    float64 and rounds them once; without it they are computed in the weights' dtype, for
    runs that round to bf16 or fp16 anyway (vox-256 CPU start-up about 0.03 s shorter).

    defer_subpixel makes each up block's sub-pixel weights on its first sub-pixel call, for
    eager CPU runs, where they are the bulk of the start-up (0.2 s at vox-256) and the bottom
    of the dense motion hourglass never uses them. Not under torch.compile, which should see
    the module complete.

    The keypoint detector's arithmetic is not rewritten: it costs little, and keypoints feed
    every warp, so its rounding would move whole frames (`inference_keypoint_detector` only
    gives it weights reordered once, with the same values).
    """
    fused = copy_sharing_weights(generator.eval())
    fused.__class__ = FusedGenerator
    dense = fused.dense_motion_network
    dense.__class__ = FusedDenseMotionNetwork
    if dense.occlusion is not None:
        dense.merged_heads = MergedHeads([dense.mask, dense.occlusion])
    _fuse_blocks(fused, exact)
    if next(fused.parameters()).device.type == "cpu":
        fused.bottleneck = WinogradBottleneck(fused.bottleneck, exact)
    if not defer_subpixel:
        for block in fused.modules():
            if isinstance(block, SubpixelUpBlock):
                block.make_subpixel()
    if fused.up_blocks:
        fused.final_phases = InferenceConv(
            phase_form_weight(fused.final.weight.detach()), fused.final.bias.detach().repeat(4)
        )
    reorder_convolutions(fused)
    fused.requires_grad_(False)
    if next(fused.parameters()).device.type == "cpu":
        # oneDNN reorders the weights of channels-last convolutions once (InferenceConv), and
        # the contiguous ones (the residual blocks) want them as they are
        return fused
    return fused.to(memory_format=torch.channels_last)


def inference_keypoint_detector(kp_detector: nn.Module) -> nn.Module:
    """An inference copy of the keypoint detector: the same convolutions, as `InferenceConv`.

    Their values are F.conv2d's wherever the detector runs at fp32 (contiguous frames, where
    InferenceConv is F.conv2d), so its keypoints do not move; on a CPU under bf16 autocast,
    with channels-last frames, the bf16 weights are cast and reordered once instead of on
    every call (2% of a vox-256 bf16 frame on 2 cores, the same values).
    """
    return reorder_convolutions(copy_sharing_weights(kp_detector.eval())).requires_grad_(False)
