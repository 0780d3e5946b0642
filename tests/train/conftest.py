"""A tiny training configuration (32x32 frames, a few thousand weights) for fast tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TINY_CONFIG = {
    "dataset_params": {
        "frame_shape": [32, 32, 3],
        "synthetic": {"clips": 4, "frames_per_clip": 6, "fps": 4.0, "seed": 0},
    },
    "model_params": {
        "common_params": {"num_kp": 3, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {
            "temperature": 0.1,
            "block_expansion": 4,
            "max_features": 16,
            "scale_factor": 0.5,
            "num_blocks": 2,
        },
        "generator_params": {
            "block_expansion": 4,
            "max_features": 16,
            "num_down_blocks": 1,
            "num_bottleneck_blocks": 1,
            "estimate_occlusion_map": True,
            "dense_motion_params": {
                "block_expansion": 4,
                "max_features": 16,
                "num_blocks": 2,
                "scale_factor": 0.5,
            },
        },
    },
    "train_params": {
        "num_epochs": 1,
        "num_repeats": 1,
        "epoch_milestones": [100],
        "lr_generator": 1.0e-3,
        "lr_kp_detector": 1.0e-3,
        "batch_size": 2,
    },
}


def write_config(folder: Path, **train_params) -> Path:
    document = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    document["train_params"].update(train_params)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)
