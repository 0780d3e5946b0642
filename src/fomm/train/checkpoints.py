"""Training checkpoints in the published layout (`generator`, `kp_detector`, optimiser states,
`epoch`), plus `config` (the training YAML as a plain dict) and `elapsed_seconds`.
Everything is plain tensors and Python literals, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fomm.errors import InputError

# What torch.load raises for a damaged or non-weights-only file.
_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    AttributeError,
    TypeError,
)
from fomm.fileutil import atomic_output


@dataclass(frozen=True)
class TrainingState:
    epoch: int
    elapsed_seconds: float


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
        return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    checkpoint: dict[str, Any] = {
        "generator": cpu_state(generator),
        "kp_detector": cpu_state(kp_detector),
        "epoch": int(state.epoch),
        "elapsed_seconds": float(state.elapsed_seconds),
        "config": config_document,
    }
    if optimizer_generator is not None and optimizer_kp_detector is not None:
        checkpoint["optimizer_generator"] = optimizer_generator.state_dict()
        checkpoint["optimizer_kp_detector"] = optimizer_kp_detector.state_dict()
    with atomic_output(path) as temp:
        torch.save(checkpoint, temp)


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The whole checkpoint dict (weights_only), checked for the two networks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except _LOAD_ERRORS as error:
        raise InputError(
            path, f"not a readable weights-only checkpoint ({type(error).__name__})"
        ) from None
    if not isinstance(checkpoint, dict) or not all(
        isinstance(checkpoint.get(name), dict) for name in ("generator", "kp_detector")
    ):
        raise InputError(path, "not a FOMM checkpoint: needs 'generator' and 'kp_detector'")
    return checkpoint


def load_trained_model(
    path: str | os.PathLike,
    config_yaml: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
):
    """A LoadedModel whose configuration comes from `config_yaml`, else from the checkpoint's
    own `config` entry (written by `fomm train`), else from the tensor shapes."""
    from fomm.config import ModelConfig
    from fomm.errors import FommError
    from fomm.model.checkpoint import (
        load_config_yaml,
        load_state_dicts,
        resolve_checkpoint,
        split_state_dicts,
    )

    path = resolve_checkpoint(path)
    checkpoint = read_training_checkpoint(path)
    config = None
    if config_yaml is not None:
        config = load_config_yaml(config_yaml)
    elif isinstance(checkpoint.get("config"), dict):
        try:
            config = ModelConfig.from_fomm_yaml(checkpoint["config"])
        except FommError as error:
            raise InputError(path, f"its 'config' entry is unusable: {error}") from None
    state_dicts = split_state_dicts(checkpoint, os.fspath(path))
    return load_state_dicts(
        state_dicts,
        config,
        device,
        source=os.fspath(path),
        config_source=os.fspath(config_yaml) if config_yaml is not None else None,
    )
