"""Network configuration of the First Order Motion Model as typed, frozen dataclasses.

`ModelConfig.from_fomm_yaml` reads an original config file (its `model_params` and
`dataset_params.frame_shape`); `to_fomm_yaml` writes the same structure back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from fomm.errors import FommError


def channels_at(level: int, block_expansion: int, max_features: int) -> int:
    """Feature channels of an encoder level: min(max_features, block_expansion * 2**level)."""
    return min(max_features, block_expansion * (2**level))


def downsample_stride(scale_factor: float) -> int:
    """Row/column stride of the anti-aliased downsample (1 when there is none)."""
    return 1 if scale_factor == 1 else int(1 / scale_factor)


@dataclass(frozen=True)
class KeypointDetectorConfig:
    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    single_jacobian_map: bool = False
    pad: int = 0


@dataclass(frozen=True)
class DenseMotionConfig:
    num_kp: int = 10
    num_channels: int = 3
    estimate_occlusion_map: bool = True
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass(frozen=True)
class GeneratorConfig:
    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class ModelConfig:
    kp_detector: KeypointDetectorConfig = field(default_factory=KeypointDetectorConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    frame_shape: tuple[int, int] = (256, 256)

    @property
    def num_kp(self) -> int:
        return self.kp_detector.num_kp

    @property
    def estimate_jacobian(self) -> bool:
        return self.kp_detector.estimate_jacobian

    @classmethod
    def from_fomm_yaml(cls, document: dict[str, Any]) -> ModelConfig:
        """Build from a parsed original config (`model_params`, `dataset_params`)."""
        try:
            params = document["model_params"]
            common = params["common_params"]
            kp = dict(params["kp_detector_params"])
            gen = dict(params["generator_params"])
            dm = dict(gen.pop("dense_motion_params"))
        except (KeyError, TypeError) as missing:
            raise FommError(f"config has no model_params entry {missing}") from None
        shape = (document.get("dataset_params") or {}).get("frame_shape") or (256, 256, 3)
        shared = {
            "num_kp": int(common["num_kp"]),
            "num_channels": int(common["num_channels"]),
        }
        try:
            kp_config = KeypointDetectorConfig(
                **shared, estimate_jacobian=bool(common["estimate_jacobian"]), **kp
            )
            dm_config = DenseMotionConfig(
                **shared, estimate_occlusion_map=bool(gen["estimate_occlusion_map"]), **dm
            )
            gen_config = GeneratorConfig(
                **shared,
                estimate_jacobian=bool(common["estimate_jacobian"]),
                dense_motion=dm_config,
                **gen,
            )
        except TypeError as unknown:
            raise FommError(f"config has an unknown or missing parameter: {unknown}") from None
        return cls(kp_config, gen_config, (int(shape[0]), int(shape[1])))

    def to_fomm_yaml(self) -> dict[str, Any]:
        """The original config structure (`model_params`, `dataset_params.frame_shape`)."""
        kp = asdict(self.kp_detector)
        gen = asdict(self.generator)
        dm = gen.pop("dense_motion")
        common = {
            "num_kp": kp.pop("num_kp"),
            "num_channels": kp.pop("num_channels"),
            "estimate_jacobian": kp.pop("estimate_jacobian"),
        }
        for name in ("num_kp", "num_channels", "estimate_jacobian"):
            gen.pop(name)
        for name in ("num_kp", "num_channels", "estimate_occlusion_map"):
            dm.pop(name)
        gen["dense_motion_params"] = dm
        return {
            "model_params": {
                "common_params": common,
                "kp_detector_params": kp,
                "generator_params": gen,
            },
            "dataset_params": {"frame_shape": [*self.frame_shape, self.generator.num_channels]},
        }

    def with_frame_shape(self, height: int, width: int) -> ModelConfig:
        return replace(self, frame_shape=(int(height), int(width)))

    def frame_size_problem(self, height: int, width: int) -> str | None:
        """Why the networks cannot run on H x W frames, or None when they can.

        Both hourglasses need ceil(H / stride) and ceil(W / stride) divisible by
        2**num_blocks, else a skip concatenation meets tensors of different sizes.
        """
        for name, scale, blocks in (
            ("keypoint detector", self.kp_detector.scale_factor, self.kp_detector.num_blocks),
            (
                "dense motion network",
                self.generator.dense_motion.scale_factor,
                self.generator.dense_motion.num_blocks,
            ),
        ):
            stride = downsample_stride(scale)
            rows, cols = math.ceil(height / stride), math.ceil(width / stride)
            multiple = 2**blocks
            if rows % multiple or cols % multiple:
                return (
                    f"frame size {height}x{width} does not fit the {name}: its {rows}x{cols} "
                    f"input must be divisible by {multiple} on both axes"
                )
        return None

    def differences(self, other: ModelConfig) -> list[str]:
        """Names of the fields that differ (dotted), frame shape included."""
        found: list[str] = []

        def walk(a: Any, b: Any, prefix: str) -> None:
            for item in fields(a):
                left, right = getattr(a, item.name), getattr(b, item.name)
                if hasattr(left, "__dataclass_fields__"):
                    walk(left, right, f"{prefix}{item.name}.")
                elif left != right:
                    found.append(f"{prefix}{item.name}")

        walk(self, other, "")
        return found


def _published(single_jacobian_map: bool = False) -> ModelConfig:
    return ModelConfig(
        KeypointDetectorConfig(single_jacobian_map=single_jacobian_map),
        GeneratorConfig(),
        (256, 256),
    )


# model_params of the original repository's published configs (spec/keys/configs.md).
PUBLISHED_CONFIGS: dict[str, ModelConfig] = {
    "vox-256": _published(),
    "vox-adv-256": _published(),
    "taichi-256": _published(),
    "taichi-adv-256": _published(),
    "bair-256": _published(),
    "fashion-256": _published(),
    "nemo-256": _published(),
    "mgif-256": _published(single_jacobian_map=True),
}
