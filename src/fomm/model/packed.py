"""Convolutions with their weights reordered for oneDNN once, for CPU float32 inference.

`F.conv2d` on a CPU hands oneDNN the weights in PyTorch's layout, and oneDNN reorders them
into its blocked layout on every call. For the large kernels at the bottom of the hourglasses
(4x4 to 8x8 pixels, up to 17M weights) that reordering costs more than the arithmetic:
1024 -> 1024 channels at 4x4 pixels took 21.8 ms a batch of 4 and 7.6 ms with the weights
reordered once. `InferenceConv` keeps both layouts, and also applies a following ReLU or
residual addition inside the same oneDNN call. For batches of two or more the values are
bit-identical to `F.conv2d` followed by the same ReLU or addition (tested); for a single
frame PyTorch's own call picks another kernel, and the two differ by float32 rounding.

The reordered path runs for channels-last CPU tensors in float32 outside autocast, and in
bfloat16 under CPU bf16 autocast (with the bf16 weights and bias autocast would make, so the
same values), outside `torch.compile`. Everything else (CUDA, fp16, gradients, contiguous
inputs, on which oneDNN's answer is channels-last and rounds differently) runs `F.conv2d`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _onednn_ops_available() -> bool:
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight")
    )


ONEDNN_AVAILABLE = _onednn_ops_available()

# Float64 work on a kernel runs a slice of output channels at a time: whole-kernel float64
# temporaries (up to 75 MB at vox-256) made the start-up vary from 0.04 to 0.4 s with the
# page faults of fresh memory.
FLOAT64_SLICE_CHANNELS = 64


def weight_work_dtype(weight: torch.Tensor, exact: bool) -> torch.dtype:
    """The dtype weight rewrites compute in: float64 (rounded once afterwards) when `exact`,
    else the weight's own."""
    return torch.float64 if exact else weight.dtype


def float64_slices(channels: int) -> list[slice]:
    return [
        slice(start, min(start + FLOAT64_SLICE_CHANNELS, channels))
        for start in range(0, channels, FLOAT64_SLICE_CHANNELS)
    ]


class InferenceConv(nn.Module):
    """A 2-d convolution (weight, bias, stride, padding, dilation, groups as `nn.Conv2d`)
    whose forward also takes the ReLU or residual addition that follows it."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: int | tuple[int, int] = 0,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ):
        super().__init__()
        self.weight = nn.Parameter(weight.detach(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.padding = list(nn.modules.utils._pair(padding))
        self.stride = list(nn.modules.utils._pair(stride))
        self.dilation = list(nn.modules.utils._pair(dilation))
        self.groups = groups
        self._packed: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> InferenceConv:
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("InferenceConv takes numeric zero padding only")
        return cls(conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups)

    def _reordered_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        """The dtype this call computes in with reordered weights: float32 outside autocast,
        bfloat16 under CPU bf16 autocast (which would cast input, weight and bias to it);
        None where F.conv2d runs."""
        if not (
            ONEDNN_AVAILABLE
            and x.device.type == "cpu"
            and x.is_contiguous(memory_format=torch.channels_last)
            and self.weight.dtype == torch.float32
            and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
        ):
            return None
        if not torch.is_autocast_enabled("cpu"):
            return torch.float32 if x.dtype == torch.float32 else None
        if torch.get_autocast_dtype("cpu") == torch.bfloat16 and x.is_floating_point():
            return torch.bfloat16
        return None

    def _reordered(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight in oneDNN's layout for x's dtype (reordered on first use) and the bias."""
        # the input shape is only a hint for the blocked layout; other shapes work with it
        if x.dtype not in self._packed:
            weight = self.weight.detach().to(x.dtype).to_mkldnn()
            bias = None if self.bias is None else self.bias.detach().to(x.dtype)
            shape = list(x.shape)
            weight = torch._C._nn.mkldnn_reorder_conv2d_weight(
                weight, self.padding, self.stride, self.dilation, self.groups, shape
            )
            self._packed[x.dtype] = (weight, bias)
        return self._packed[x.dtype]

    def _apply(self, fn, recurse=True):
        self._packed = {}  # moved or converted: reorder again on next use
        return super()._apply(fn, recurse)

    def forward(
        self, x: torch.Tensor, relu: bool = False, add: torch.Tensor | None = None
    ) -> torch.Tensor:
        """conv(x), then + add (a tensor of the output's shape), then ReLU, as asked."""
        dtype = self._reordered_dtype(x)
        if dtype is not None:
            x = x.to(dtype)
            weight, bias = self._reordered(x)
            args = (bias, self.padding, self.stride, self.dilation, self.groups)
            # (in bf16 oneDNN would add before rounding the convolution: not autocast's values)
            if add is not None and not relu and add.dtype == dtype == torch.float32:
                return torch.ops.mkldnn._convolution_pointwise.binary(
                    x, add, weight, *args, "add", None, None, [], None
                )
            if add is None:
                return torch.ops.mkldnn._convolution_pointwise(
                    x, weight, *args, "relu" if relu else "none", [], ""
                )
            out = torch.ops.mkldnn._convolution_pointwise(x, weight, *args, "none", [], "")
        else:
            weight, bias = self.weight, self.bias
            if weight.dtype != x.dtype and not torch.is_autocast_enabled(x.device.type):
                weight = weight.to(x.dtype)
                bias = None if bias is None else bias.to(x.dtype)
            out = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        if add is not None:
            out = out + add
        return F.relu(out, inplace=True) if relu else out


def reorder_convolutions(module: nn.Module) -> nn.Module:
    """Replace, in place and recursively, every `nn.Conv2d` by an `InferenceConv`; returns
    the module. For inference copies only: the replacements hold no gradients."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv2d):
            setattr(module, name, InferenceConv.from_conv(child))
        else:
            reorder_convolutions(child)
    return module
