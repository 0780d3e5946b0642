"""Training configuration: the original layout (`model_params`, `dataset_params`,
`train_params`) read into typed, frozen dataclasses; unknown keys are errors."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fomm.config import ModelConfig
from fomm.errors import FommError, InputError
from fomm.fileutil import read_yaml


@dataclass(frozen=True)
class SyntheticData:
    """Puppet clips rendered in memory at start-up. Identity seeds are `seed*100000 + i`."""

    clips: int = 400
    frames_per_clip: int = 24
    fps: float = 4.0
    seed: int = 0


@dataclass(frozen=True)
class TransformParams:
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5


@dataclass(frozen=True)
class LossWeights:
    reconstruction: float = 10.0
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0


@dataclass(frozen=True)
class TrainParams:
    num_epochs: int = 100
    num_repeats: int = 1
    epoch_milestones: tuple[int, ...] = (60, 90)
    lr_generator: float = 2.0e-4
    lr_kp_detector: float = 2.0e-4
    # Adam's first-moment decay; 0.5 is the original's (chosen for its adversarial training)
    adam_beta1: float = 0.5
    batch_size: int = 8
    scales: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    transform_params: TransformParams = field(default_factory=TransformParams)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    horizontal_flip: bool = True
    # corner-aligned resampling (grid_sample and the deformation's upsampling): an identity
    # motion copies pixels exactly; saved in the checkpoint's config and used when animating
    align_corners: bool = True


@dataclass(frozen=True)
class TrainSettings:
    model: ModelConfig
    train: TrainParams
    synthetic: SyntheticData

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.model.frame_shape

    def to_yaml_document(self) -> dict[str, Any]:
        document = self.model.to_fomm_yaml()
        document["dataset_params"]["synthetic"] = asdict(self.synthetic)
        params = asdict(self.train)
        params["epoch_milestones"] = list(self.train.epoch_milestones)
        params["scales"] = list(self.train.scales)
        document["train_params"] = params
        return document


def _build(cls, values: dict[str, Any] | None, where: str):
    """A dataclass from a mapping, refusing keys the dataclass does not have."""
    values = dict(values or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise FommError(f"unknown key {where}.{unknown[0]} (known: {', '.join(known)})")
    nested = {"transform_params": TransformParams, "loss_weights": LossWeights}
    for name, value in list(values.items()):
        if name in nested:
            values[name] = _build(nested[name], value, f"{where}.{name}")
        elif name in ("epoch_milestones", "scales"):
            if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
                raise FommError(f"{where}.{name} must be a list of numbers, not {value!r}")
            values[name] = tuple(value)
        else:
            _check_scalar(known[name].default, value, f"{where}.{name}")
    return cls(**values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_scalar(default: Any, value: Any, where: str) -> None:
    """A value of the default's kind (an int where a float is wanted is fine)."""
    if isinstance(default, bool):
        wanted, fits = "true or false", isinstance(value, bool)
    elif isinstance(default, int):
        wanted, fits = "an integer", isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        wanted, fits = "a number", _is_number(value)
    else:
        return
    if not fits:
        raise FommError(f"{where} must be {wanted}, not {value!r}")


def settings_from_document(document: dict[str, Any]) -> TrainSettings:
    if not isinstance(document, dict):
        raise FommError("a training config must be a mapping")
    dataset = dict(document.get("dataset_params") or {})
    synthetic = _build(SyntheticData, dataset.pop("synthetic", None), "dataset_params.synthetic")
    model = ModelConfig.from_fomm_yaml(document)
    train = _build(TrainParams, document.get("train_params"), "train_params")
    problem = model.frame_size_problem(*model.frame_shape)
    if problem:
        raise FommError(problem)
    if train.batch_size < 1 or train.num_epochs < 1 or train.num_repeats < 1:
        raise FommError("train_params: batch_size, num_epochs and num_repeats must be >= 1")
    return TrainSettings(model=model, train=train, synthetic=synthetic)


def load_settings(path: str | os.PathLike) -> TrainSettings:
    """Read a training config YAML; errors name the file."""
    path = Path(path)
    document = read_yaml(path, "training config")
    try:
        return settings_from_document(document)
    except FommError as error:
        raise InputError(path, str(error)) from None
    except (TypeError, ValueError) as error:
        raise InputError(path, f"bad training config ({error})") from None
