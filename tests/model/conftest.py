"""Tiny configurations for network tests."""

from __future__ import annotations

import pytest

from fomm.config import DenseMotionConfig, GeneratorConfig, KeypointDetectorConfig, ModelConfig


def tiny_config(
    num_kp: int = 4,
    estimate_jacobian: bool = True,
    single_jacobian_map: bool = False,
    occlusion: bool = True,
    kp_scale: float = 0.5,
    dm_scale: float = 0.5,
    num_down_blocks: int = 2,
    kp_blocks: int = 2,
    dm_blocks: int = 2,
    pad: int = 0,
    frame_shape: tuple[int, int] = (32, 32),
) -> ModelConfig:
    """A model small enough to build and run in milliseconds (every max_features reached)."""
    return ModelConfig(
        KeypointDetectorConfig(
            num_kp=num_kp,
            estimate_jacobian=estimate_jacobian,
            block_expansion=4,
            max_features=4 * 2**kp_blocks,
            num_blocks=kp_blocks,
            scale_factor=kp_scale,
            single_jacobian_map=single_jacobian_map,
            pad=pad,
        ),
        GeneratorConfig(
            num_kp=num_kp,
            estimate_jacobian=estimate_jacobian,
            block_expansion=4,
            max_features=4 * 2**num_down_blocks,
            num_down_blocks=num_down_blocks,
            num_bottleneck_blocks=1,
            estimate_occlusion_map=occlusion,
            dense_motion=DenseMotionConfig(
                num_kp=num_kp,
                estimate_occlusion_map=occlusion,
                block_expansion=4,
                max_features=4 * 2**dm_blocks,
                num_blocks=dm_blocks,
                scale_factor=dm_scale,
            ),
        ),
        frame_shape,
    )


@pytest.fixture
def make_tiny_config():
    return tiny_config
