#!/usr/bin/env python3
"""Benchmark: resizing driving frames to the model's 256x256, as the original demo does.

In one process, on random uint8 frames of common video sizes: frames/s of
`resize_for_model` (skimage.transform.resize, the demo's call; one thread), of
`resize_frame` (the same floats from the resize's banded maps, as sparse products; what the
file engine's decoder thread runs on a CPU) and of `resize_frames` on the device (torch,
batches; what runs on a GPU), with the ratios to skimage and the largest difference to its
floats. A GPU animating 1,000 frames/s needs the resize to keep up. Then source pictures
(a run resizes one, once): seconds of skimage against `picture_for_model` (the banded maps,
built afresh as in a new run) for photo sizes, to 256x256 (the published checkpoints) and
64x64 (the bundled model: the stronger the shrink, the longer skimage's Gaussian).

    .venv/bin/python bench/resize.py                   # CPU, and CUDA when there is one
    .venv/bin/python bench/resize.py --sizes 1280x720 --batch 64 --pictures 6000x4000
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import numpy as np
import torch


def frames_per_second(run, frames: int, min_seconds: float = 1.0) -> float:
    """Frames/s of `run()` (which resizes `frames` frames), repeated for at least min_seconds."""
    run()  # warm: caches, the device's kernels
    count, started = 0, time.perf_counter()
    while True:
        run()
        count += frames
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return count / elapsed


def seconds_once(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split("x"))
    return height, width


def main() -> int:
    from fomm.engine.frame_resize import resize_frames
    from fomm.media import resize as media_resize
    from fomm.media.resize import picture_for_model, resize_for_model, resize_frame

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720", "1920x1080"])
    parser.add_argument("--batch", type=int, default=32, help="device batch (default 32)")
    parser.add_argument("--cpu-batch", type=int, default=4, help="CPU torch batch (default 4)")
    parser.add_argument("--pictures", nargs="*", default=["4032x3024"], help="source sizes")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    target = (256, 256)
    rng = np.random.default_rng(0)
    for text in args.sizes:
        height, width = parse_size(text)
        batch = max(args.batch, args.cpu_batch)
        frames = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        expected = np.stack([resize_for_model(frame, target) for frame in frames[:2]])
        baseline = frames_per_second(partial(resize_for_model, frames[0], target), 1)
        print(f"{width}x{height} -> 256x256", flush=True)
        print(f"  skimage resize_for_model (1 thread):   {baseline:9.1f} frames/s", flush=True)
        decoder = frames_per_second(partial(resize_frame, frames[0], target), 1)
        difference = np.abs(np.stack([resize_frame(f, target) for f in frames[:2]]) - expected)
        print(
            f"  resize_frame, sparse maps (1 thread): {decoder:9.1f} frames/s = "
            f"{decoder / baseline:5.1f}x skimage, max diff {difference.max():.1e}",
            flush=True,
        )
        for device in devices:
            size = args.cpu_batch if device.type == "cpu" else args.batch
            on_device = torch.from_numpy(frames[:size]).to(device)

            def run(on_device=on_device, device=device):
                resize_frames(on_device, target)
                if device.type == "cuda":
                    torch.cuda.synchronize()

            fps = frames_per_second(run, size)
            ours = resize_frames(on_device[:2], target).permute(0, 2, 3, 1).cpu().numpy()
            print(
                f"  resize_frames on {device.type:4s} (batch {size:2d}):    {fps:9.1f} frames/s = "
                f"{fps / baseline:5.1f}x skimage, max diff {np.abs(ours - expected).max():.1e}",
                flush=True,
            )
    for text in args.pictures:
        height, width = parse_size(text)
        picture = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for size in ((256, 256), (64, 64)):
            media_resize.axis_resampling.cache_clear()
            media_resize._sparse_map.cache_clear()
            ours = seconds_once(partial(picture_for_model, picture, size))
            baseline = seconds_once(partial(resize_for_model, picture, size))
            difference = np.abs(picture_for_model(picture, size) - resize_for_model(picture, size))
            print(
                f"source picture {width}x{height} -> {size[1]}x{size[0]}: skimage "
                f"{baseline:6.2f} s, picture_for_model {ours:5.2f} s = {baseline / ours:5.1f}x, "
                f"max diff {difference.max():.1e}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
