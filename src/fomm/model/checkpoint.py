"""Load FOMM checkpoints safely and infer their configuration from tensor shapes.

Files are read with `torch.load(weights_only=True)` only. The published layout is a dict
with `generator` and `kp_detector` state dicts (other entries ignored); keys may carry a
`module.` prefix (DataParallel). Without a config YAML the whole configuration is read
back from the shapes; values the shapes cannot show take the published defaults
(temperature 0.1, kp_variance 0.01, pad 0, frame 256x256). A checkpoint written by
`fomm train` carries its own `config` entry, which is used (and checked) instead.
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from fomm.config import (
    PUBLISHED_CONFIGS,
    DenseMotionConfig,
    GeneratorConfig,
    KeypointDetectorConfig,
    ModelConfig,
    channels_at,
)
from fomm.errors import FommError, InputError
from fomm.fileutil import read_yaml
from fomm.model.blocks import antialias_kernel_size, build_antialias_kernel
from fomm.model.generator import Generator
from fomm.model.keypoint_detector import KeypointDetector

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "default.pth"
NETWORKS = ("kp_detector", "generator")
StateDicts = dict[str, dict[str, torch.Tensor]]


class CheckpointMismatch(FommError):
    """State dicts that do not fit a configuration (message names the first bad key)."""


@dataclass(frozen=True)
class LoadedModel:
    """The two inference networks in eval mode and the configuration they were built from."""

    config: ModelConfig
    kp_detector: KeypointDetector
    generator: Generator
    published_name: str | None = None
    path: str | None = None
    # trained with corner-aligned resampling (`fomm train`): grid_sample and the deformation's
    # upsampling both align corners, and grid_sample's default is then True
    corner_aligned: bool = False

    @property
    def device(self) -> torch.device:
        return self.generator.final.weight.device

    def set_align_corners(self, align_corners: bool | None) -> None:
        """Switch every grid_sample between the reference (False) and PyTorch-1.0 (True);
        None: the model's own (False for published checkpoints, True if trained corner-aligned)."""
        value = self.corner_aligned if align_corners is None else align_corners
        self.generator.align_corners = value
        self.generator.dense_motion_network.align_corners = value


def resolve_checkpoint(path_or_name: str | os.PathLike) -> Path:
    """A checkpoint path; the name `default` means the bundled model."""
    if os.fspath(path_or_name) == "default":
        if not DEFAULT_CHECKPOINT.is_file():
            raise InputError(
                DEFAULT_CHECKPOINT,
                "the bundled default model is not installed; pass --checkpoint PATH "
                "(e.g. a published vox-cpk.pth.tar)",
            )
        return DEFAULT_CHECKPOINT
    return Path(path_or_name)


def _strip_prefix(state: Mapping[str, Any], where: str, source: str) -> dict[str, torch.Tensor]:
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = str(key)
        while name.startswith("module."):
            name = name[len("module.") :]
        if not isinstance(value, torch.Tensor):
            raise InputError(source, f"entry {where}.{name} is not a tensor")
        if value.is_floating_point():
            value = value.float()
            if not bool(torch.isfinite(value).all()):
                raise InputError(
                    source,
                    f"entry {where}.{name} holds NaN or infinite values "
                    "(a diverged training run?); refused before any compute",
                )
        cleaned[name] = value
    return cleaned


def split_state_dicts(checkpoint: Any, source: str = "<checkpoint>") -> StateDicts:
    """The `kp_detector` and `generator` state dicts of a loaded checkpoint object."""
    if not isinstance(checkpoint, Mapping):
        raise InputError(source, "not a FOMM checkpoint: expected a dict of state dicts")
    top = {str(k).removeprefix("module."): v for k, v in checkpoint.items()}
    if all(isinstance(top.get(name), Mapping) for name in NETWORKS):
        return {name: _strip_prefix(top[name], name, source) for name in NETWORKS}
    # A flat dict of full keys ("generator.first.conv.weight", ...).
    flat: StateDicts = {name: {} for name in NETWORKS}
    for key, value in top.items():
        network, _, rest = key.partition(".")
        if network in flat and rest:
            flat[network][rest] = value
    if all(flat.values()):
        return {name: _strip_prefix(flat[name], name, source) for name in NETWORKS}
    missing = [name for name in NETWORKS if not isinstance(top.get(name), Mapping)]
    raise InputError(source, f"not a FOMM checkpoint: no '{missing[0]}' state dict")


def load_weights_file(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """`torch.load(weights_only=True)` of a file; every failure is an InputError naming it.

    A file holding pickled Python objects is refused before anything in it runs.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, f"{what} file not found")
    if not path.is_file():
        raise InputError(path, f"{what} is not a regular file")
    if path.stat().st_size == 0:
        raise InputError(path, f"{what} file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as refused:
        text = str(refused)
        if "Unsupported global" in text or "GLOBAL" in text or "REDUCE" in text.upper():
            raise InputError(
                path,
                f"refused: the {what} holds pickled Python objects, not only tensors "
                "(loading is weights_only; re-save it as a plain dict of state dicts)",
            ) from None
        raise InputError(path, f"not a PyTorch {what} (unreadable pickle data)") from None
    except Exception as error:  # noqa: BLE001 - random bytes make the unpickler raise anything
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise InputError(path, f"not a PyTorch {what} ({first_line[:120]})") from None


def embedded_config(checkpoint: Any, source: str) -> ModelConfig | None:
    """The configuration a checkpoint carries itself (`config`, as `fomm train` writes it)."""
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("config"), Mapping):
        return None
    try:
        return ModelConfig.from_fomm_yaml(dict(checkpoint["config"]))
    except FommError as error:
        raise InputError(source, f"its 'config' entry is unusable: {error}") from None


def trained_corner_aligned(checkpoint: Any) -> bool:
    """Whether `fomm train` wrote this checkpoint with corner-aligned resampling
    (`train_params.align_corners` in its embedded config; absent in older checkpoints)."""
    config = checkpoint.get("config") if isinstance(checkpoint, Mapping) else None
    train_params = config.get("train_params") if isinstance(config, Mapping) else None
    return isinstance(train_params, Mapping) and train_params.get("align_corners") is True


def read_checkpoint(path: str | os.PathLike) -> StateDicts:
    """Load a checkpoint file with weights_only=True and return its two state dicts."""
    return split_state_dicts(load_weights_file(path), os.fspath(path))


def _count_blocks(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    count = 0
    while pattern.format(count) in state:
        count += 1
    return count


def _require(state: Mapping[str, torch.Tensor], network: str, key: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointMismatch(f"missing key {network}.{key}")
    return state[key]


def _scale_from_kernel(weight: torch.Tensor | None) -> float:
    """The scale factor whose anti-alias kernel the buffer holds (1 when there is none)."""
    if weight is None:
        return 1.0
    size = weight.shape[-1]
    best, best_error = None, float("inf")
    for inverse in range(2, 65):
        scale = 1 / inverse
        if antialias_kernel_size(scale) != size:
            continue
        error = (build_antialias_kernel(1, scale)[0, 0] - weight[0, 0].float()).abs().max().item()
        if error < best_error:
            best, best_error = scale, error
    if best is None:
        raise CheckpointMismatch(f"down.weight kernel size {size} fits no scale factor 1/n")
    return best


def _max_features(deepest: int, expansion: int, levels: int, published: tuple[int, int]) -> int:
    """The cap if a level reaches it, else unreadable: the published value for the published
    block_expansion (published = (expansion, max_features)), otherwise the deepest level."""
    uncapped = expansion * 2**levels
    if deepest < uncapped:
        return deepest
    if expansion == published[0] and published[1] >= uncapped:
        return published[1]
    return uncapped


def infer_config(state_dicts: StateDicts) -> ModelConfig:
    """The whole configuration, read back from tensor shapes (unreadable values: defaults)."""
    kp, gen = state_dicts["kp_detector"], state_dicts["generator"]

    kp_weight = _require(kp, "kp_detector", "kp.weight")
    num_kp = kp_weight.shape[0]
    kp_blocks = _count_blocks(kp, "predictor.encoder.down_blocks.{}.conv.weight")
    if kp_blocks == 0:
        raise CheckpointMismatch(
            "missing key kp_detector.predictor.encoder.down_blocks.0.conv.weight"
        )
    num_channels = kp["predictor.encoder.down_blocks.0.conv.weight"].shape[1]
    kp_expansion = _require(
        kp, "kp_detector", f"predictor.decoder.up_blocks.{kp_blocks - 1}.conv.weight"
    ).shape[0]
    kp_deepest = kp[f"predictor.encoder.down_blocks.{kp_blocks - 1}.conv.weight"].shape[0]
    jacobian = kp.get("jacobian.weight")
    kp_config = KeypointDetectorConfig(
        num_kp=num_kp,
        num_channels=num_channels,
        estimate_jacobian=jacobian is not None,
        block_expansion=kp_expansion,
        max_features=_max_features(kp_deepest, kp_expansion, kp_blocks, (32, 1024)),
        num_blocks=kp_blocks,
        scale_factor=_scale_from_kernel(kp.get("down.weight")),
        single_jacobian_map=jacobian is not None and jacobian.shape[0] == 4 and num_kp > 1,
    )

    expansion = _require(gen, "generator", "first.conv.weight").shape[0]
    down = _count_blocks(gen, "down_blocks.{}.conv.weight")
    deepest = gen[f"down_blocks.{down - 1}.conv.weight"].shape[0] if down else expansion
    dm = "dense_motion_network."
    dm_blocks = _count_blocks(gen, dm + "hourglass.encoder.down_blocks.{}.conv.weight")
    if dm_blocks == 0:
        raise CheckpointMismatch(
            f"missing key generator.{dm}hourglass.encoder.down_blocks.0.conv.weight"
        )
    dm_expansion = _require(
        gen, "generator", f"{dm}hourglass.decoder.up_blocks.{dm_blocks - 1}.conv.weight"
    ).shape[0]
    dm_deepest = gen[f"{dm}hourglass.encoder.down_blocks.{dm_blocks - 1}.conv.weight"].shape[0]
    occlusion = f"{dm}occlusion.weight" in gen
    dm_config = DenseMotionConfig(
        num_kp=num_kp,
        num_channels=num_channels,
        estimate_occlusion_map=occlusion,
        block_expansion=dm_expansion,
        max_features=_max_features(dm_deepest, dm_expansion, dm_blocks, (64, 1024)),
        num_blocks=dm_blocks,
        scale_factor=_scale_from_kernel(gen.get(f"{dm}down.weight")),
    )
    gen_config = GeneratorConfig(
        num_kp=num_kp,
        num_channels=num_channels,
        estimate_jacobian=kp_config.estimate_jacobian,
        block_expansion=expansion,
        max_features=_max_features(deepest, expansion, down, (64, 512)),
        num_down_blocks=down,
        num_bottleneck_blocks=_count_blocks(gen, "bottleneck.r{}.conv1.weight"),
        estimate_occlusion_map=occlusion,
        dense_motion=dm_config,
    )
    return ModelConfig(kp_config, gen_config, (256, 256))


def build_networks(
    config: ModelConfig, align_corners: bool = False, upsample_align_corners: bool = False
) -> tuple[KeypointDetector, Generator]:
    """Fresh (randomly initialised) networks of a configuration."""
    generator = Generator(config.generator, align_corners, upsample_align_corners)
    return KeypointDetector(config.kp_detector), generator


@functools.lru_cache(maxsize=32)
def expected_shapes(config: ModelConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    """State-dict key -> shape per network for a configuration (built on the meta device)."""
    with torch.device("meta"):
        kp_detector, generator = build_networks(config)
    return {
        "kp_detector": {k: tuple(v.shape) for k, v in kp_detector.state_dict().items()},
        "generator": {k: tuple(v.shape) for k, v in generator.state_dict().items()},
    }


def effective_config(config: ModelConfig) -> ModelConfig:
    """The same network with every max_features lowered to the deepest level it reaches."""
    kp, gen, dm = config.kp_detector, config.generator, config.generator.dense_motion
    return replace(
        config,
        kp_detector=replace(
            kp, max_features=channels_at(kp.num_blocks, kp.block_expansion, kp.max_features)
        ),
        generator=replace(
            gen,
            max_features=channels_at(gen.num_down_blocks, gen.block_expansion, gen.max_features),
            dense_motion=replace(
                dm, max_features=channels_at(dm.num_blocks, dm.block_expansion, dm.max_features)
            ),
        ),
    )


def published_matches(config: ModelConfig) -> list[str]:
    """Names of the published configs that build exactly this network."""
    mine = effective_config(config)
    return [
        name
        for name, published in PUBLISHED_CONFIGS.items()
        if not effective_config(published).differences(mine)
    ]


def closest_published(state_dicts: StateDicts) -> tuple[str, int, int]:
    """(name, keys matching in name and shape, keys of that config) of the nearest config."""
    best = ("", -1, 0)
    for name, config in PUBLISHED_CONFIGS.items():
        shapes = expected_shapes(config)
        total = sum(len(v) for v in shapes.values())
        hits = sum(
            1
            for network, keys in shapes.items()
            for key, shape in keys.items()
            if key in state_dicts.get(network, {})
            and tuple(state_dicts[network][key].shape) == shape
        )
        if hits > best[1]:
            best = (name, hits, total)
    return best


def first_mismatch(config: ModelConfig, state_dicts: StateDicts) -> str | None:
    """The first missing, unexpected or mis-shaped key against a configuration, or None."""
    shapes = expected_shapes(config)
    for network in NETWORKS:
        wanted, present = shapes[network], state_dicts[network]
        for key, shape in wanted.items():
            if key not in present:
                return f"missing key {network}.{key}"
            if tuple(present[key].shape) != shape:
                got = tuple(present[key].shape)
                return f"key {network}.{key} has shape {list(got)}, expected {list(shape)}"
        for key in present:
            if key not in wanted:
                return f"unexpected key {network}.{key}"
    return None


def _describe_closest(state_dicts: StateDicts) -> str:
    name, hits, total = closest_published(state_dicts)
    return f"closest published configuration: {name} ({hits} of {total} keys fit)"


def load_config_yaml(path: str | os.PathLike) -> ModelConfig:
    """A ModelConfig from an original FOMM config YAML file."""
    path = Path(path)
    document = read_yaml(path, "config file")
    try:
        return ModelConfig.from_fomm_yaml(document)
    except FommError as error:
        raise InputError(path, str(error)) from None
    except (TypeError, ValueError, AttributeError) as error:
        raise InputError(path, f"not a FOMM config ({error})") from None


def load_state_dicts(
    state_dicts: StateDicts,
    config: ModelConfig | None = None,
    device: str | torch.device = "cpu",
    source: str = "<checkpoint>",
    config_source: str | None = None,
    corner_aligned: bool = False,
) -> LoadedModel:
    """Build eval-mode networks from state dicts, checking them against `config` if given.
    `corner_aligned`: the networks were trained with corner-aligned resampling."""
    if config is None:
        try:
            config = infer_config(state_dicts)
        except CheckpointMismatch as error:
            raise InputError(source, f"{error}; {_describe_closest(state_dicts)}") from None
        problem = first_mismatch(config, state_dicts)
        if problem:
            raise InputError(source, f"{problem}; {_describe_closest(state_dicts)}")
    else:
        problem = first_mismatch(config, state_dicts)
        if problem:
            against = f" of {config_source}" if config_source else ""
            raise InputError(
                source,
                f"does not fit the configuration{against}: {problem}; "
                f"{_describe_closest(state_dicts)}",
            )
    # Built on the meta device and given the loaded tensors themselves: no random
    # initialisation and no second copy of the weights in memory.
    with torch.device("meta"):
        kp_detector, generator = build_networks(config, corner_aligned, corner_aligned)
    kp_detector.load_state_dict(state_dicts["kp_detector"], assign=True)
    generator.load_state_dict(state_dicts["generator"], assign=True)
    kp_detector.to(device).eval().requires_grad_(False)
    generator.to(device).eval().requires_grad_(False)
    matches = published_matches(config)
    published = matches[0] if matches else None
    return LoadedModel(config, kp_detector, generator, published, source, corner_aligned)


def load_model(
    path_or_name: str | os.PathLike,
    config_yaml: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> LoadedModel:
    """Load a checkpoint file (or `default`), optionally checked against a config YAML."""
    path = resolve_checkpoint(path_or_name)
    checkpoint = load_weights_file(path)
    if config_yaml is not None:
        config = load_config_yaml(config_yaml)
    else:
        config = embedded_config(checkpoint, os.fspath(path))
    state_dicts = split_state_dicts(checkpoint, os.fspath(path))
    return load_state_dicts(
        state_dicts,
        config,
        device,
        source=os.fspath(path),
        config_source=os.fspath(config_yaml) if config_yaml is not None else None,
        corner_aligned=trained_corner_aligned(checkpoint),
    )


def parameter_counts(model: LoadedModel) -> dict[str, int]:
    """Number of learnable parameters per network."""
    return {
        "kp_detector": sum(p.numel() for p in model.kp_detector.parameters()),
        "generator": sum(p.numel() for p in model.generator.parameters()),
    }
