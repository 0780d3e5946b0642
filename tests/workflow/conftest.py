"""Fixtures of the workflow tests: small generated inputs and the tiny model."""

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from workflow_support import TINY_KIT, picture_array, write_driving_video


@pytest.fixture(scope="session")
def sample_inputs(tmp_path_factory) -> Path:
    """examples/pictures (2 photos) and examples/driving (2 clips with sound) in a folder."""
    root = tmp_path_factory.mktemp("inputs")
    pictures = root / "examples" / "pictures"
    driving = root / "examples" / "driving"
    pictures.mkdir(parents=True)
    driving.mkdir(parents=True)
    Image.fromarray(picture_array("astronaut")).save(pictures / "astronaut.png")
    Image.fromarray(picture_array("chelsea")).save(pictures / "cat face.jpg")
    write_driving_video(driving / "slide.mp4", shift=2)
    write_driving_video(driving / "shake-2.mp4", shift=-3)
    return root


@pytest.fixture(scope="session")
def tiny_model(shared_dir: Path) -> Path:
    kit = shared_dir / TINY_KIT
    if not (kit / "model.pth").is_file():
        pytest.skip(f"tiny conformance model not found in {kit}")
    return kit
