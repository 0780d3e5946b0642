"""A tiny model (the modules-tiny kit's 64x64 weights) and media the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def moving_square_frames(count: int, height: int = 72, width: int = 88) -> np.ndarray:
    """(T,H,W,3) uint8: a coloured square drifting over a gradient."""
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    frames = np.zeros((count, height, width, 3), dtype=np.uint8)
    for t in range(count):
        frames[t, ..., 0] = rows.astype(np.uint8)
        frames[t, ..., 2] = np.uint8(8 * t)
        top, left = 8 + 2 * t, 10 + 3 * t
        frames[t, top : top + 24, left : left + 24] = (220, 140, 40)
    return frames


@pytest.fixture(scope="session")
def tiny_kit(shared_dir) -> Path:
    return shared_dir / "conformance" / "public" / "modules-tiny"


@pytest.fixture(scope="session")
def tiny_model(tiny_kit):
    from fomm.model.checkpoint import load_model

    return load_model(tiny_kit / "model.pth", tiny_kit / "config.yaml")


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 10-frame 15 fps driving clip and a source picture."""
    from fomm.media.image import write_image
    from fomm.media.video import VideoWriter

    folder = tmp_path_factory.mktemp("media")
    driving = folder / "driving.mp4"
    with VideoWriter(driving, 15) as writer:
        writer.write(moving_square_frames(10))
    source = folder / "source.png"
    picture = np.full((90, 80, 3), 30, dtype=np.uint8)
    picture[20:60, 15:55] = (60, 200, 120)
    write_image(source, picture)
    return {"driving": driving, "source": source, "folder": folder}
