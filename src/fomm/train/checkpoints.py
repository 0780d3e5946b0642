"""Training checkpoints in the published layout (`generator`, `kp_detector`, optimiser states,
`epoch`), plus `config` (the training YAML as a plain dict), `elapsed_seconds` and
`iterations`.
Everything is plain tensors and Python literals, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from fomm.errors import InputError
from fomm.fileutil import atomic_output


@dataclass(frozen=True)
class TrainingState:
    epoch: int
    elapsed_seconds: float
    iterations: int = 0


def save_training_checkpoint(
    path: str | os.PathLike,
    kp_detector: torch.nn.Module,
    generator: torch.nn.Module,
    optimizer_kp_detector: torch.optim.Optimizer | None,
    optimizer_generator: torch.optim.Optimizer | None,
    state: TrainingState,
    config_document: dict[str, Any],
) -> None:
    """Write atomically: readers never see a half-written checkpoint."""

    def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        # standard (contiguous) strides whatever layout training used, as published files have
        return {
            k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
            for k, v in module.state_dict().items()
        }

    checkpoint: dict[str, Any] = {
        "generator": cpu_state(generator),
        "kp_detector": cpu_state(kp_detector),
        "epoch": int(state.epoch),
        "elapsed_seconds": float(state.elapsed_seconds),
        "iterations": int(state.iterations),
        "config": config_document,
    }
    if optimizer_generator is not None and optimizer_kp_detector is not None:
        checkpoint["optimizer_generator"] = optimizer_generator.state_dict()
        checkpoint["optimizer_kp_detector"] = optimizer_kp_detector.state_dict()
    with atomic_output(path) as temp:
        torch.save(checkpoint, temp)


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The whole checkpoint dict (weights_only), checked for the two networks."""
    from fomm.model.checkpoint import load_weights_file

    checkpoint = load_weights_file(path)
    if not isinstance(checkpoint, dict) or not all(
        isinstance(checkpoint.get(name), dict) for name in ("generator", "kp_detector")
    ):
        raise InputError(path, "not a FOMM checkpoint: needs 'generator' and 'kp_detector'")
    return checkpoint
