"""Arithmetic precision: which one a device can run, and its autocast context.

bf16 on a CPU is a speed option: it pays only where the CPU multiplies bf16 natively
(AVX512-BF16 or AMX on x86). Elsewhere oneDNN either refuses bf16 (AVX2 CPUs) or emulates
it in fp32 arithmetic, and PyTorch's own bf16 kernels ran 6-150x slower than fp32 (an AVX2
EPYC: a 1024x1024 matmul 2.68 s against 0.018 s). There the engine warns and runs fp32,
as PyTorch's autocast does with a dtype a device lacks: the exact frames, at fp32's speed.
"""

from __future__ import annotations

import contextlib
import logging
import platform
from typing import Literal

import torch

from fomm.errors import FommError

log = logging.getLogger("fomm")

Precision = Literal["fp32", "fp16", "bf16"]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (x86: AVX512-BF16 or AMX; other
    architectures: whatever oneDNN accepts for bf16)."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(device: torch.device, precision: Precision) -> Precision:
    """The precision the engine runs for the one asked: fp16 needs CUDA (an error on a CPU);
    bf16 on a CPU without native bf16 runs as fp32, with a warning."""
    if precision == "fp16" and device.type == "cpu":
        raise FommError("--precision fp16 needs CUDA; use bf16 on a CPU")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning(
            "warning: --precision bf16: this CPU has no bf16 arithmetic (AVX512-BF16 or AMX), "
            "where bf16 runs slower than fp32; running fp32 instead"
        )
        return "fp32"
    return precision


def autocast_context(
    device: torch.device, precision: Precision
) -> contextlib.AbstractContextManager:
    """fp32: nothing (exact); fp16/bf16: autocast on the device."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)
