#!/usr/bin/env python3
"""GPU benchmark: model throughput and a whole `fomm animate`, on the vox-256 architecture.

Weights are rebuilt by the conformance kit's make_checkpoint.py (random, vox-256 shapes).
1. Baseline: the original demo's loop on the GPU (batch 1, fp32, source re-encoded every
   frame), in frames/s.
2. Model throughput of the engine (source encoded once, fused networks, channels-last): driving
   batches already on the GPU in, predictions on the GPU out; for each precision, batch size
   and eager / torch.compile ("reduce-overhead": CUDA graphs). Frames/s and the ratio to (1).
   cuDNN picks algorithms by its heuristics, as by default; one line times fp16 with its
   algorithm search on.
3. Accuracy: the engine's CUDA fp32 frames against the naive loop's CUDA fp32 frames and the
   CPU engine's; fp16 / bf16 PSNR against CUDA fp32.
4. End to end: `fomm animate` (decode, animate, encode, audio off) of a 1500-frame 256x256 clip,
   in frames/s and its start-up time: first in fresh processes (the CLI itself, then with
   cuDNN's algorithm search on and off), then in this warm process with x264 `medium` and
   `veryfast` (the default on a GPU), eager and compiled, and with the search on, next to
   ffmpeg's own decode and decode + encode speeds on the same clip. Then a 1280x720 clip of
   the same length, whose frames are resized to 256x256 on the GPU.
Targets printed last: model >= 4,000 frames/s at fp16, whole animate >= 1,000 frames/s.

    python bench/engine_gpu.py                        # everything (about 4 min on an H200)
    python bench/engine_gpu.py --batch-sizes 32 64 --precisions fp16 --no-compile
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import NaiveDemoLoop, bench_options, load, psnr, smooth_clip, vox_state_dicts


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive_fps(model, source: np.ndarray, driving: np.ndarray, device: torch.device) -> tuple:
    """Frames/s of the original demo's loop on `device`, and its frames."""
    loop = NaiveDemoLoop(model, source, driving[0])
    loop.frame(driving[0])  # warm-up
    loop.predictions.clear()
    synchronize(device)
    started = time.perf_counter()
    for frame in driving:
        loop.frame(frame)
    synchronize(device)
    return len(driving) / (time.perf_counter() - started), np.stack(loop.predictions)


def engine_frames(model, source, driving, precision, batch, device):
    from fomm.engine.animate import animate_arrays

    options = bench_options(precision, batch, device.type)
    return np.stack(list(animate_arrays(model, source, driving, options)))


def model_throughput(
    model,
    source,
    driving_batch: np.ndarray,
    precision,
    device,
    compile_,
    repeats,
    cudnn_benchmark=False,
) -> tuple[float, float, np.ndarray]:
    """(frames/s, seconds of set-up and warm-up, predictions) with the driving batch already
    on the GPU."""
    from fomm.engine.animate import Animator, frames_to_tensor

    started = time.perf_counter()
    options = replace(
        bench_options(precision, len(driving_batch), device.type, compile_=compile_),
        cudnn_benchmark=cudnn_benchmark,
    )
    animator = Animator(model, source, options)
    driving = frames_to_tensor(driving_batch, device, options.channels_last)
    for _ in range(3):
        animator.animate_tensor(driving)
    synchronize(device)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(repeats):
        prediction = animator.animate_tensor(driving)
    synchronize(device)
    seconds = time.perf_counter() - started
    return repeats * len(driving_batch) / seconds, warm, prediction.cpu().numpy()


def ffmpeg(*args: str) -> float:
    """Seconds one ffmpeg run takes (argument list, no shell)."""
    from fomm.media.ffmpeg import ffmpeg_exe

    started = time.perf_counter()
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", *args], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def prepare_clip(state_dicts, frames: int, folder: Path) -> dict:
    """A `frames`-long 256x256 clip, a source picture and the checkpoint in `folder`, and
    ffmpeg's own decode and decode+encode speeds on that clip (frames/s)."""
    from fomm.media.image import write_image

    clip = write_test_clip(folder / "driving.mp4", frames, "256x256")
    source, _ = smooth_clip(1)
    write_image(folder / "source.png", (source * 255).round().astype(np.uint8))
    torch.save(state_dicts, folder / "vox.pth")
    speeds = {"decode": decode_fps(clip, frames)}
    for preset in ("medium", "veryfast"):
        encode = ffmpeg(
            "-i", str(clip), "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p",
            str(folder / "reencoded.mp4"),
        )  # fmt: skip
        speeds[f"decode + {preset} encode"] = frames / encode
    return speeds


def write_test_clip(clip: Path, frames: int, size: str) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={frames / 25}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip),
    )  # fmt: skip
    return clip


def prepare_720p_clip(frames: int, folder: Path) -> float:
    """A `frames`-long 1280x720 clip in `folder` (driving frames the GPU resizes to 256x256)
    and ffmpeg's own decode speed on it (frames/s)."""
    clip = write_test_clip(folder / "driving_720p.mp4", frames, "1280x720")
    return decode_fps(clip, frames)


def decode_fps(clip: Path, frames: int) -> float:
    """Frames/s of ffmpeg decoding `clip` to RGB, as fomm's reader asks it to."""
    return frames / ffmpeg("-i", str(clip), "-f", "rawvideo", "-pix_fmt", "rgb24", os.devnull)


def end_to_end(
    folder: Path,
    precision,
    batch,
    compile_,
    device="cuda",
    preset="medium",
    cudnn_benchmark=False,
    clip="driving.mp4",
) -> dict:
    """Frames/s of `animate_file` on a clip `prepare_clip` or `prepare_720p_clip` made."""
    from fomm.engine.animate import animate_file
    from fomm.model.checkpoint import load_model

    model = load_model(folder / "vox.pth")
    options = replace(
        bench_options(precision, batch, device, compile_=compile_),
        cudnn_benchmark=cudnn_benchmark,
    )
    report = animate_file(
        model, folder / "source.png", folder / clip, folder / "out.mp4", options,
        audio=False, preset=preset,
    )  # fmt: skip
    return {
        "fps": report.frames / report.seconds,
        "frames": report.frames,
        "seconds": report.seconds,
        "startup": report.startup_seconds,
    }


def resized_run(folder: Path, half: str, frames: int, device: str) -> None:
    """Print the speed of a whole run whose 1280x720 driving frames are resized on the GPU."""
    try:
        decode = prepare_720p_clip(frames, folder)
        found = end_to_end(folder, half, 64, False, device, "veryfast", clip="driving_720p.mp4")
    except Exception as error:  # noqa: BLE001 - report and go on
        print(f"  fomm animate of a 1280x720 clip: FAILED {error!r:.300}")
        return
    print(f"  ffmpeg alone decodes the 1280x720 clip at {decode:.0f} frames/s")
    print(
        f"  fomm animate {found['frames']} frames of 1280x720 driving, {half} batch 64,"
        f" x264 veryfast: {found['fps']:.0f} frames/s ({found['seconds']:.2f} s)",
        flush=True,
    )


def cold_runs(folder: Path, half: str, device: str = "cuda") -> list[tuple[str, float]]:
    """Wall seconds of whole runs in fresh processes, as a user or a cluster job starts one:
    `fomm -v animate` itself (its stage timings printed as it logs them), then
    `animate_file` with cuDNN's algorithm search on and off (its search runs once per
    process, for every convolution shape)."""
    source, driving = folder / "source.png", folder / "driving.mp4"
    runs = []
    command = [
        sys.executable, "-m", "fomm", "-v", "animate", str(source), str(driving),
        "-o", str(folder / "cold.mp4"), "--checkpoint", str(folder / "vox.pth"),
        "--device", device, "--precision", half, "--batch-size", "64", "--no-audio",
    ]  # fmt: skip
    started = time.perf_counter()
    logged = subprocess.run(command, check=True, capture_output=True, text=True).stderr
    runs.append(("fomm animate (default preset), whole process", time.perf_counter() - started))
    for line in logged.splitlines():
        if "importing PyTorch" in line or "start-up" in line:
            print(f"    {line}", flush=True)
    for benchmark in (True, False):
        code = (
            "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from engine_gpu import end_to_end; "
            f"print(json.dumps(end_to_end(Path(sys.argv[2]), {half!r}, 64, False, {device!r}, "
            f"None, {benchmark})))"
        )
        bench_dir = str(Path(__file__).resolve().parent)
        started = time.perf_counter()
        printed = subprocess.run(
            [sys.executable, "-c", code, bench_dir, str(folder)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        wall = time.perf_counter() - started
        found = json.loads(printed.strip().splitlines()[-1])
        name = (
            f"animate_file, cuDNN benchmark {'on' if benchmark else 'off'} "
            f"({found['seconds']:.2f} s in animate_file, start-up {found['startup']:.2f} s), "
            "whole process"
        )
        runs.append((name, wall))
    return runs


def accuracy(args, model, state_dicts, source, driving, naive_frames, device, name) -> None:
    """The engine's fp32 frames against the naive loop's and the CPU engine's; PSNRs."""
    check = driving[: args.check_frames]
    exact = engine_frames(model, source, check, "fp32", len(check), device)
    naive = naive_frames[: len(check)]
    print(f"engine fp32 vs naive loop on {name}: max|diff| {np.abs(exact - naive).max():.2e}")
    cpu_model = load(state_dicts, "cpu")
    on_cpu = engine_frames(cpu_model, source, check, "fp32", 4, torch.device("cpu"))
    print(f"engine fp32 {name} vs CPU: max|diff| {np.abs(exact - on_cpu).max():.2e}", flush=True)
    for precision in args.precisions:
        if precision != "fp32":
            frames = engine_frames(model, source, check, precision, len(check), device)
            print(f"engine {precision} vs fp32: PSNR {psnr(frames, exact):.1f} dB", flush=True)


def timings(args, model, source, driving, baseline, device, configs, eager_frames) -> dict:
    """Model frames/s for each (precision, batch, compiled)."""
    results = {}
    for precision, batch, compile_ in configs:
        reps = np.resize(driving, (batch, *driving.shape[1:]))
        try:
            fps, warm, frames = model_throughput(
                model, source, reps, precision, device, compile_, args.repeats
            )
        except Exception as error:  # noqa: BLE001 - one failed config must not end the run
            print(f"  {precision} batch {batch} compile={compile_}: FAILED {error!r:.300}")
            continue
        results[(precision, batch, compile_)] = fps
        tag = "compiled" if compile_ else "eager"
        line = (
            f"  model {precision} batch {batch:3d} {tag:8s}: {fps:8.1f} frames/s "
            f"({fps / baseline:5.1f}x naive; set-up + warm-up {warm:.1f} s)"
        )
        if compile_ and (precision, batch) in eager_frames:
            difference = np.abs(frames - eager_frames[(precision, batch)]).max()
            line += f", max|diff| vs eager {difference:.1e}"
        elif not compile_:
            eager_frames[(precision, batch)] = frames
        print(line, flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--compile-batch-sizes", type=int, nargs="*", default=[64])
    parser.add_argument("--compile-precisions", nargs="*", default=["fp16"])
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=20, help="timed batches per config")
    parser.add_argument("--naive-frames", type=int, default=50)
    parser.add_argument("--check-frames", type=int, default=8)
    parser.add_argument("--animate-frames", type=int, default=1500)
    parser.add_argument("--no-animate", action="store_true")
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {name}", flush=True)
    state_dicts = vox_state_dicts()
    source, driving = smooth_clip(max(args.naive_frames, args.check_frames, 2))
    model = load(state_dicts, device)

    # timed with PyTorch's defaults, as the original demo runs (on CUDA: TF32 convolutions)
    baseline, _ = naive_fps(model, source, driving[: args.naive_frames], device)
    print(f"naive demo loop (batch 1, fp32): {baseline:8.1f} frames/s", flush=True)
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
    _, naive_frames = naive_fps(model, source, driving[: args.check_frames], device)
    try:
        accuracy(args, model, state_dicts, source, driving, naive_frames, device, name)
    except Exception as error:  # noqa: BLE001 - report and go on to the timings
        print(f"accuracy checks FAILED: {error!r:.500}", flush=True)
    eager = [(p, b, False) for p in args.precisions for b in args.batch_sizes]
    compiled = []
    if not args.no_compile and device.type == "cuda":
        compiled = [(p, b, True) for p in args.compile_precisions for b in args.compile_batch_sizes]
    eager_frames: dict = {}
    results = timings(args, model, source, driving, baseline, device, eager, eager_frames)
    if device.type == "cuda" and "fp16" in args.precisions:
        # cuDNN's timed search (off by default: a fresh process pays it per shape) against
        # the heuristics the timings above used
        batch = max(args.batch_sizes)
        reps = np.resize(driving, (batch, *driving.shape[1:]))
        fps, warm, _ = model_throughput(
            model, source, reps, "fp16", device, False, args.repeats, cudnn_benchmark=True
        )
        print(
            f"  model fp16 batch {batch:3d} eager, cuDNN search on: {fps:8.1f} frames/s "
            f"(set-up + warm-up {warm:.1f} s)",
            flush=True,
        )
    results |= timings(args, model, source, driving, baseline, device, compiled, eager_frames)

    animate = {}
    half = "fp16" if device.type == "cuda" else "bf16"
    # (compiled, x264 preset, cuDNN search) in this process; with the search on, the first run
    # pays it for shapes not met before, later ones find it cached, as a long-running job
    # would. `cold_runs` times fresh processes with the search on and off.
    variants = [(False, "medium", False), (False, "medium", False), (False, "veryfast", False)]
    variants += [(False, "veryfast", True), (False, "veryfast", True)]
    variants += [(True, "veryfast", False)] if compiled else []
    with tempfile.TemporaryDirectory(prefix="fomm-gpu-bench-") as folder:
        folder = Path(folder)
        if not args.no_animate:
            speeds = prepare_clip(state_dicts, args.animate_frames, folder)
            listed = ", ".join(f"{name} {fps:.0f}" for name, fps in speeds.items())
            print(f"  ffmpeg alone on the {args.animate_frames}-frame clip (frames/s): {listed}")
            try:
                for name, seconds in cold_runs(folder, half, device.type):
                    print(
                        f"  cold {name}: {seconds:.2f} s = "
                        f"{args.animate_frames / seconds:.0f} frames/s",
                        flush=True,
                    )
            except Exception as error:  # noqa: BLE001 - report and go on
                print(f"  cold runs FAILED: {error!r:.300}")
            resized_run(folder, half, args.animate_frames, device.type)
        for compile_, preset, search in variants if not args.no_animate else []:
            name = f"{half} batch 64{' compiled' if compile_ else ''}, x264 {preset}"
            name += ", cuDNN search on" if search else ""
            try:
                found = end_to_end(folder, half, 64, compile_, device.type, preset, search)
            except Exception as error:  # noqa: BLE001 - report and go on
                print(f"  fomm animate {name}: FAILED {error!r:.300}")
                continue
            animate[(name, len(animate))] = found
            print(
                f"  fomm animate {found['frames']} frames, {name}: {found['fps']:.0f} frames/s "
                f"({found['seconds']:.2f} s, of which start-up {found['startup']:.2f} s)",
                flush=True,
            )

    print("\nratios (targets: model fp16 >= 4000 frames/s; whole animate >= 1000 frames/s)")
    best16 = max((fps for (p, _, _), fps in results.items() if p == "fp16"), default=math.nan)
    print(
        f"  best fp16 model throughput {best16:.0f} frames/s = {best16 / 4000:.2f} of target,"
        f" {best16 / baseline:.1f}x naive  [{'ok' if best16 >= 4000 else 'MISSED'}]"
    )
    if animate:
        (best_name, _), found = max(animate.items(), key=lambda item: item[1]["fps"])
        best = found["fps"]
        print(
            f"  best whole animate {best:.0f} frames/s = {best / 1000:.2f} of target"
            f" ({best_name})  [{'ok' if best >= 1000 else 'MISSED'}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
