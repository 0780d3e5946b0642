"""Helpers of the workflow tests: generated inputs, configs, a snakemake runner, video checks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY_KIT = "conformance/public/modules-tiny"
FRAMES = 10
FPS = 10


def picture_array(name: str, size: int = 96) -> np.ndarray:
    """A scikit-image sample photo resized to size x size RGB."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.asarray(Image.fromarray(image[..., :3]).resize((size, size), Image.BILINEAR))


def write_driving_video(path: Path, shift: int, size: int = 96, frames: int = FRAMES) -> None:
    """A face sliding sideways (astronaut crop) with a 440 Hz tone, H.264 + AAC."""
    face = picture_array("astronaut", size + 2 * frames)
    video = np.stack(
        [
            np.roll(face, (index * shift) % size, axis=1)[:size, frames : frames + size]
            for index in range(frames)
        ]
    )
    args = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{size}x{size}",
        "-r",
        str(FPS),
        "-i",
        "-",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={frames / FPS}",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    ]
    subprocess.run(args, input=video.tobytes(), check=True)


def workflow_config(tiny_model: Path, checkpoint: str | None = None) -> dict:
    """A config for 64x64 frames and the tiny model on the CPU."""
    return {
        "crop": {"size": 64, "face": False},
        "model": "tiny",
        "checkpoints": {
            "tiny": {
                "path": checkpoint or str(tiny_model / "model.pth"),
                "config": str(tiny_model / "config.yaml") if checkpoint is None else "",
            }
        },
        "animate": {"device": "cpu", "batch_size": 4},
        "mosaic": {"tile": 64},
        "gallery": {"title": "test gallery"},
    }


def make_workdir(base: Path, inputs: Path, config: dict) -> Path:
    """A fresh working directory holding copies of the inputs and config.yaml."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copytree(inputs / "examples", base / "examples")
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    return base


def run_snakemake(
    workdir: Path, *args: str, timeout: float = 240, env: dict | None = None
) -> subprocess.CompletedProcess:
    """snakemake with the project's Snakefile in workdir, killed (-k 5) after timeout."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1")
    # No venv bin on PATH: the workflow finds the fomm beside its Python by itself.
    full_env.update(env or {})
    command = [
        "timeout",
        "-k",
        "5",
        str(int(timeout)),
        *SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        *args,
    ]
    return subprocess.run(
        command, cwd=workdir, check=False, capture_output=True, text=True, env=full_env
    )


def video_facts(path: Path) -> tuple[int, bool, str]:
    """(decoded frame count, has an audio stream, ffmpeg's stream description)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(path)], check=False, capture_output=True, text=True
    ).stderr
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return frames, "Audio:" in info, info
