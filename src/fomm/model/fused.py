"""An inference-only rewrite of the generator: the same function, less arithmetic.

`fuse_for_inference` returns a copy of an eval-mode generator in which
- every "nearest x2 upsample, then 3x3 convolution" (the generator's decoder and the dense
  motion hourglass) is computed at the low resolution as one 2x2 convolution giving the four
  output phases (16 multiply-adds per low-resolution pixel and channel pair instead of 36),
  written straight into place next to the hourglass skip connection;
- the last upsampling block feeds the final 7x7 convolution in that phase form, so the 7x7
  convolution with its three output channels becomes a 4x4 one with twelve;
- the mask and occlusion heads, two 7x7 convolutions of the same features, are one.
Only the float32 summation order changes: the conformance kits' animation cases run through
this copy. Training and the module conformance cases use the networks as written.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from fomm.model.blocks import Decoder, UpBlock
from fomm.model.dense_motion import DenseMotionNetwork
from fomm.model.generator import Generator

# Which of the three taps of a 3x3 kernel (rows) land on each of the two low-resolution taps
# (columns of the result) for output phase 0 (even pixels) and phase 1 (odd pixels), when the
# input was nearest-upsampled by two: even pixel 2i sees x[i-1], x[i], x[i]; odd 2i+1 sees
# x[i], x[i], x[i+1].
_PHASE_TAPS = (
    torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64),
    torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64),
)
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O,I,3,3) kernel applied after nearest x2 upsampling -> (4*O,I,2,2) low-resolution kernels,
    one block of O per output phase (row parity, column parity) in `_PHASES` order."""
    weight = weight.double()
    taps = [t.to(weight.device) for t in _PHASE_TAPS]
    blocks = [torch.einsum("uv,oiuw,wx->oivx", taps[a], weight, taps[b]) for a, b in _PHASES]
    return torch.cat(blocks).float()


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
        (batch, channels, height, width), dtype=like.dtype, device=like.device
    ).contiguous(memory_format=torch.channels_last)


class SubpixelUpBlock(nn.Module):
    """The up block (upsample x2, conv 3x3, BatchNorm, ReLU) computed at the input resolution.

    The BatchNorm runs on the four phases with its statistics repeated: the same per-element
    arithmetic as the original, so only the convolution's summation order differs.
    """

    def __init__(self, block: UpBlock):
        super().__init__()
        norm = block.norm
        self.out_channels = block.conv.out_channels
        self.eps = norm.eps
        self.weight = nn.Parameter(subpixel_weight(block.conv.weight.detach()), requires_grad=False)
        self.bias = nn.Parameter(block.conv.bias.detach().repeat(4), requires_grad=False)
        for name in ("running_mean", "running_var"):
            self.register_buffer(name, getattr(norm, name).detach().repeat(4))
        self.norm_weight = nn.Parameter(norm.weight.detach().repeat(4), requires_grad=False)
        self.norm_bias = nn.Parameter(norm.bias.detach().repeat(4), requires_grad=False)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """(B,I,H,W) -> (B,4*O,H+1,W+1): phase (a,b) block p holds out[2i+a, 2j+b] at [i+a, j+b]."""
        out = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias)
        out = F.batch_norm(
            out,
            self.running_mean,
            self.running_var,
            self.norm_weight,
            self.norm_bias,
            training=False,
            eps=self.eps,
        )
        return F.relu(out, inplace=True)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The upsampled block output, with `extra` (B,E,2H,2W) concatenated after it if given."""
        batch, _, height, width = x.shape
        phases = self.phases(x)
        total = self.out_channels + (extra.shape[1] if extra is not None else 0)
        out = _channels_last_empty(batch, total, 2 * height, 2 * width, phases)
        interleave_phases(phases, out, self.out_channels)
        if extra is not None:
            out[:, self.out_channels :] = extra
        return out


class FusedDecoder(nn.Module):
    """The hourglass decoder with sub-pixel up blocks writing next to their skip connection."""

    def __init__(self, decoder: Decoder):
        super().__init__()
        self.up_blocks = nn.ModuleList(SubpixelUpBlock(block) for block in decoder.up_blocks)
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
        self.padding = convs[0].padding
        self.weight = nn.Parameter(
            torch.cat([conv.weight.detach() for conv in convs]), requires_grad=False
        )
        self.bias = nn.Parameter(
            torch.cat([conv.bias.detach() for conv in convs]), requires_grad=False
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = F.conv2d(x, self.weight, self.bias, padding=self.padding)
        return list(torch.split(out, self.sizes, dim=1))


def _fuse_blocks(module: nn.Module) -> None:
    """Replace, in place and recursively, every up block by its sub-pixel form."""
    for name, child in list(module.named_children()):
        if isinstance(child, UpBlock):
            setattr(module, name, SubpixelUpBlock(child))
        elif isinstance(child, Decoder):
            setattr(module, name, FusedDecoder(child))
        else:
            _fuse_blocks(child)


class FusedDenseMotionNetwork(DenseMotionNetwork):
    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.occlusion is None:
            return self.mask(features), None
        mask, occlusion = self.merged_heads(features)
        return mask, occlusion


class FusedGenerator(Generator):
    def decode(self, features: torch.Tensor) -> torch.Tensor:
        out = self.bottleneck(features)
        if not self.up_blocks:
            return torch.sigmoid(self.final(out))
        for block in self.up_blocks[:-1]:
            out = block(out)
        last = self.up_blocks[-1]
        batch, _, height, width = out.shape
        phases = last.phases(out)
        # The phases stacked as channels, padded by 2 for the 4x4 phase-form final conv.
        channels = last.out_channels
        stacked = torch.zeros(
            (batch, 4 * channels, height + 4, width + 4), dtype=phases.dtype, device=phases.device
        ).contiguous(memory_format=torch.channels_last)
        for index in range(4):
            interior = stacked[:, index * channels : (index + 1) * channels, 2:-2, 2:-2]
            interior.copy_(phase(phases, index, channels, height, width))
        result = torch.sigmoid(F.conv2d(stacked, self.final_weight, self.final_bias))
        out_channels = self.config.num_channels
        image = _channels_last_empty(batch, out_channels, 2 * height, 2 * width, result)
        interleave_phases(result, image, out_channels)
        return image


def fuse_for_inference(generator: Generator) -> Generator:
    """An inference copy of the generator (same device and dtype, no gradients).

    The keypoint detector is left as it is: it costs little, and keypoints feed every warp,
    so its rounding would move whole frames.
    """
    fused = copy.deepcopy(generator.eval())
    fused.__class__ = FusedGenerator
    dense = fused.dense_motion_network
    dense.__class__ = FusedDenseMotionNetwork
    if dense.occlusion is not None:
        dense.merged_heads = MergedHeads([dense.mask, dense.occlusion])
    _fuse_blocks(fused)
    if fused.up_blocks:
        fused.final_weight = nn.Parameter(
            phase_form_weight(fused.final.weight.detach()), requires_grad=False
        )
        fused.final_bias = nn.Parameter(fused.final.bias.detach().repeat(4), requires_grad=False)
    fused.requires_grad_(False)
    return fused.to(memory_format=torch.channels_last)
