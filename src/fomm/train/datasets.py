"""Training clips in memory (synthetic puppets or a folder of videos) and random frame pairs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from fomm.errors import FommError, InputError
from fomm.train.settings import SyntheticData

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".m4v"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
# Held-out identities and motions (evaluation) use seeds from here up; training stays below.
HELD_OUT_SEED_BASE = 10**12
MAX_TRAINING_CLIPS = 100_000


def training_seed(data: SyntheticData, index: int) -> int:
    """Identity and motion seed of training clip `index` (always below HELD_OUT_SEED_BASE)."""
    if not 0 <= index < MAX_TRAINING_CLIPS or not 0 <= data.seed < 10**6:
        raise FommError("synthetic data: clips must be < 100000 and seed in [0, 1e6)")
    return data.seed * MAX_TRAINING_CLIPS + index


def render_synthetic_clips(data: SyntheticData, size: int) -> list[np.ndarray]:
    """`data.clips` clips of (frames, size, size, 3) uint8, one random puppet and motion each."""
    from fomm.synth import random_motion, render_frames, sample_identity

    clips = []
    for index in range(data.clips):
        seed = training_seed(data, index)
        motion = random_motion(seed, data.frames_per_clip, fps=data.fps)
        clips.append(render_frames(sample_identity(seed), motion, size))
    return clips


def _read_frames_folder(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    frames = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as error:
            raise InputError(path, f"not a readable image ({error})") from None
    return frames


def _read_video(path: Path) -> list[np.ndarray]:
    from fomm.media.video import VideoReader

    with VideoReader(path) as reader:
        return list(reader)


def load_video_folder(folder: str | os.PathLike, size: tuple[int, int]) -> list[np.ndarray]:
    """Every video (mp4/gif/...) and every folder of frames in `folder`, resized to `size`.

    Clips with fewer than two frames are skipped (a pair needs two).
    """
    from fomm.media.resize import picture_for_model

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "training data folder not found")
    clips = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            frames = _read_frames_folder(entry)
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            frames = _read_video(entry)
        else:
            continue
        if len(frames) < 2:
            log.warning("%s: skipped (fewer than 2 frames)", entry)
            continue
        resized = [picture_for_model(frame, size) for frame in frames]
        clips.append(np.clip(np.stack(resized) * 255 + 0.5, 0, 255).astype(np.uint8))
    if not clips:
        raise InputError(folder, "no videos (mp4, gif, ...) or frame folders with 2+ frames found")
    return clips


class PairSampler:
    """Random (source, driving) frame pairs from the same clip, as float tensors in [0, 1]."""

    def __init__(self, clips: list[np.ndarray], seed: int = 0, horizontal_flip: bool = True):
        if not clips:
            raise FommError("no training clips")
        self.clips = clips
        self.rng = np.random.default_rng(seed)
        self.horizontal_flip = horizontal_flip

    def __len__(self) -> int:
        return len(self.clips)

    def batch(
        self, size: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, driving), each (size, 3, H, W) float32."""
        sources, drivings = [], []
        for clip_index in self.rng.integers(len(self.clips), size=size):
            clip = self.clips[clip_index]
            first, second = self.rng.choice(len(clip), size=2, replace=False)
            pair = clip[[first, second]]
            if self.horizontal_flip and self.rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            sources.append(pair[0])
            drivings.append(pair[1])

        def to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
            # (B,H,W,3) memory seen as (B,3,H,W): a channels-last tensor, the networks' layout
            tensor = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
            return tensor.to(device=device, dtype=torch.float32) / 255.0

        return to_tensor(sources), to_tensor(drivings)
