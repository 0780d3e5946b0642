#!/usr/bin/env python3
"""Benchmark: the fomm engine against a naive loop in the style of the original demo.

On the vox-256 architecture (weights rebuilt by the conformance kit's make_checkpoint.py):
frames/s of the naive loop (batch 1, source re-encoded every frame, frames kept as float64)
and of the engine (source encoded once, fused inference networks, batches, channels-last)
in fp32 and bf16; the max output difference against the naive loop, and the max error of
both against the same loop run in float64 (the naive loop's own float32 rounding is of the
same size as the 1e-5 target, so the float64 column says which of the two is closer to
the function); the PSNR of bf16 against fp32; and the peak RSS of `animate_file` (decode,
animate, encode) at 32 and 128 driving frames, each in its own subprocess. Prints ratios
against the targets. The naive loop and the engine configurations are timed chunk by chunk
in turn, so that on a shared machine they all see the same background load.

    .venv/bin/python bench/engine.py                 # CPU, 16 frames timed 3 times (about 4 min)
    .venv/bin/python bench/engine.py --plain         # also fp32 without the fused networks
    .venv/bin/python bench/engine.py --sequential    # quiet machine: configs timed one after another

On a GPU use bench/engine_gpu.py (the naive loop on the GPU too, eager and compiled).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOMM_SHARED", REPO.parent / "shared"))
KEYS = SHARED / "spec" / "keys" / "vox-256.txt"
CONFIG = SHARED / "conformance" / "public" / "animation-vox-256" / "config.yaml"


def vox_state_dicts(seed: int = 0) -> dict:
    """The vox-256 weights of the kit's recipe, built in memory."""
    script = SHARED / "conformance" / "make_checkpoint.py"
    spec = importlib.util.spec_from_file_location("make_checkpoint", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_checkpoint(str(KEYS), str(CONFIG), seed)


def smooth_clip(frames: int, size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth synthetic source (H,W,3) and a drifting, slowly rotating driving clip (T,H,W,3)."""
    from scipy.ndimage import gaussian_filter, rotate

    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.uniform(0, 1, (size * 2, size * 2, 3)), (6, 6, 0))
    field = (field - field.min()) / (field.max() - field.min())
    source = field[size // 2 : size // 2 + size, size // 2 : size // 2 + size]
    driving = []
    for t in range(frames):
        shifted = np.roll(field, (3 * t, 2 * t), axis=(0, 1))
        turned = rotate(shifted, angle=0.5 * t, reshape=False, order=1, mode="reflect")
        driving.append(turned[size // 2 : size // 2 + size, size // 2 : size // 2 + size])
    return source.astype(np.float32), np.clip(np.stack(driving), 0, 1).astype(np.float32)


class NaiveDemoLoop:
    """The original demo's loop: batch 1, full generator call (source re-encoded) per frame,
    driving frames held as float64 (as skimage returns them), predictions kept as float64."""

    def __init__(self, model, source: np.ndarray, first_frame: np.ndarray):
        self.model = model
        weight = next(model.generator.parameters())
        self.dtype, self.device = weight.dtype, weight.device
        self.source = torch.tensor(source[np.newaxis]).to(self.device, self.dtype)
        self.source = self.source.permute(0, 3, 1, 2)
        self.kp_source = model.kp_detector(self.source)
        self.kp_initial = model.kp_detector(self._as_tensor(first_frame))
        self.predictions: list[np.ndarray] = []

    def _as_tensor(self, frame: np.ndarray) -> torch.Tensor:
        video = torch.tensor(frame.astype(np.float64)[np.newaxis, np.newaxis])
        video = video.to(self.device, self.dtype)
        return video.permute(0, 4, 1, 2, 3)[:, :, 0]

    def frame(self, frame: np.ndarray) -> None:
        from fomm.model.kinematics import normalize_kp

        kp_driving = self.model.kp_detector(self._as_tensor(frame))
        kp_norm = normalize_kp(
            self.kp_source, kp_driving, self.kp_initial, relative=True, adapt_scale=True
        )
        out = self.model.generator(self.source, kp_source=self.kp_source, kp_driving=kp_norm)
        prediction = np.transpose(out["prediction"].data.cpu().numpy(), [0, 2, 3, 1])[0]
        self.predictions.append(prediction.astype(np.float64))


def bench_options(precision: str, batch_size: int, device: str, fused=True, compile_=False):
    """The engine options every benchmark times: relative + adapt scale, as the naive loop."""
    from fomm.engine.animate import AnimationOptions

    return AnimationOptions(
        adapt_scale=True,
        precision=precision,
        batch_size=batch_size,
        device=device,
        fused=fused,
        compile=compile_,
    )


def make_animator(model, source, config: tuple, device: str):
    from fomm.engine.animate import Animator

    precision, batch_size, fused = config
    return Animator(model, source, bench_options(precision, batch_size, device, fused))


def config_name(config: tuple) -> str:
    precision, batch_size, fused = config
    return f"{precision} batch {batch_size:3d}{'' if fused else ' plain'}"


def float64_reference(state_dicts, source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """The naive loop's frames computed in float64: the function itself, near enough, to tell
    how far each float32 computation (the naive loop included) is from it."""
    model = load(state_dicts)
    model.kp_detector.double()
    model.generator.double()
    loop = NaiveDemoLoop(model, source.astype(np.float64), driving[0].astype(np.float64))
    for frame in driving:
        loop.frame(frame.astype(np.float64))
    return np.stack(loop.predictions)


def interleaved_timing(
    naive_model, engine_model, source, driving, configs, device, sequential=False
) -> tuple[dict, dict]:
    """Seconds and outputs of the naive loop and of each engine config, measured chunk by
    chunk in turn so that all of them see the same background load on a shared machine, or
    (`sequential`, for a quiet machine) each over all frames in turn, so that none of them
    finds its caches filled by another's weights."""
    chunk = len(driving) if sequential else max(config[1] for config in configs)
    seconds: dict = {"naive": 0.0, **{config: 0.0 for config in configs}}
    startup: dict = {}
    outputs: dict = {config: [] for config in configs}
    naive = None
    animators = {}
    if naive_model is not None:
        warm = NaiveDemoLoop(naive_model, source, driving[0])
        warm.frame(driving[0])
        started = time.perf_counter()
        naive = NaiveDemoLoop(naive_model, source, driving[0])
        seconds["naive"] += time.perf_counter() - started
    for config in configs:
        batch = config[1]
        make_animator(engine_model, source, config, device).animate(driving[:batch])
        started = time.perf_counter()
        animators[config] = make_animator(engine_model, source, config, device)
        startup[config] = time.perf_counter() - started
        seconds[config] += startup[config]
    for start in range(0, len(driving), chunk):
        frames = driving[start : start + chunk]
        if naive is not None:
            started = time.perf_counter()
            for frame in frames:
                naive.frame(frame)
            seconds["naive"] += time.perf_counter() - started
        for config, animator in animators.items():
            started = time.perf_counter()
            for offset in range(0, len(frames), config[1]):
                outputs[config].append(animator.animate(frames[offset : offset + config[1]]))
            if animator.device.type == "cuda":
                torch.cuda.synchronize()
            seconds[config] += time.perf_counter() - started
    results = {config: np.concatenate(parts) for config, parts in outputs.items()}
    if naive is not None:
        results["naive"] = np.stack(naive.predictions)
    return seconds, startup, results


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def load(state_dicts, device="cpu"):
    from fomm.model.checkpoint import load_state_dicts

    return load_state_dicts(state_dicts, device=device)


def rss_child(checkpoint: str, source: str, driving: str, output: str, precision: str) -> None:
    """Run one animate_file and print the process's peak RSS in MiB (as JSON)."""
    from fomm.engine.animate import AnimationOptions, animate_file
    from fomm.model.checkpoint import load_model

    model = load_model(checkpoint)
    options = AnimationOptions(adapt_scale=True, precision=precision, device="cpu")
    report = animate_file(model, source, driving, output, options, audio=False)
    print(
        json.dumps(
            {"frames": report.frames, "peak_rss_mib": peak_rss_mib(), "seconds": report.seconds}
        )
    )


def peak_rss_mib() -> float:
    """This process's peak resident set. On Linux from /proc (VmHWM): getrusage's ru_maxrss
    of a process started by exec from a large parent begins at the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def measure_rss(state_dicts, frame_counts: list[int], precision: str) -> dict[int, dict]:
    from fomm.media.image import write_image
    from fomm.media.video import VideoWriter

    results = {}
    with tempfile.TemporaryDirectory(prefix="fomm-bench-") as folder:
        folder = Path(folder)
        checkpoint = folder / "vox.pth"
        torch.save(state_dicts, checkpoint)
        source, driving = smooth_clip(max(frame_counts))
        write_image(folder / "source.png", (source * 255).round().astype(np.uint8))
        for count in frame_counts:
            clip = folder / f"driving_{count}.mp4"
            with VideoWriter(clip, 25) as writer:
                writer.write((driving[:count] * 255).round().astype(np.uint8))
            command = [
                sys.executable, __file__, "--rss-child", str(checkpoint), str(folder / "source.png"),
                str(clip), str(folder / f"out_{count}.mp4"), precision,
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[count] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  animate_file {count:4d} frames: peak RSS {results[count]['peak_rss_mib']:.0f} MiB, "
                f"{count / results[count]['seconds']:.2f} frames/s end to end",
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16, help="driving frames timed (default 16)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument(
        "--plain", action="store_true", help="also time fp32 without the fused networks"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--rss-frames", type=int, nargs="*", default=[32, 128])
    parser.add_argument("--rss-precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--skip-naive", action="store_true", help="only time the engine")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="time everything this many times (fresh animators each), report the median run's"
        " ratios and their range (default 3: a shared machine's load moves one run by 5-15%%)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="time each configuration over all frames in turn (a quiet machine), not "
        "interleaved batch by batch (a shared one)",
    )
    parser.add_argument(
        "--no-float64", action="store_true", help="skip the float64 reference (slow on a CPU)"
    )
    parser.add_argument("--rss-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    state_dicts = vox_state_dicts()
    source, driving = smooth_clip(args.frames)
    print(f"vox-256, {args.frames} driving frames at 256x256")

    from fomm.engine.precision import cpu_has_native_bf16

    if args.device == "cpu" and not cpu_has_native_bf16():
        # the engine would run these as fp32 (fomm.engine.precision): nothing bf16 to time
        print("bf16 left out: this CPU has no bf16 arithmetic (AVX512-BF16 or AMX)")
        args.precisions = [p for p in args.precisions if p != "bf16"]
        if args.rss_precision == "bf16":
            args.rss_precision = "fp32"
    configs = [(p, b, True) for p in args.precisions for b in args.batch_sizes]
    if args.plain:
        configs += [("fp32", b, False) for b in args.batch_sizes]
    naive_model = None if args.skip_naive else load(state_dicts)
    engine_model = load(state_dicts, args.device)
    # each repeat times everything afresh (start-ups included), interleaved; the ratios are
    # paired within a repeat, and the median repeat is reported with the range
    repeats = []
    for repeat in range(args.repeats):
        repeats.append(
            interleaved_timing(
                naive_model, engine_model, source, driving, configs, args.device, args.sequential
            )
        )
        if args.repeats > 1:
            print(f"  repeat {repeat + 1} of {args.repeats} timed", flush=True)
    results = repeats[0][2]
    seconds = {name: float(np.median([r[0][name] for r in repeats])) for name in repeats[0][0]}
    startup = {config: float(np.median([r[1][config] for r in repeats])) for config in configs}
    truth = None
    if not args.no_float64:
        started = time.perf_counter()
        truth = float64_reference(state_dicts, source, driving)
        print(f"float64 reference computed in {time.perf_counter() - started:.0f} s")
    naive = results.get("naive")
    if naive is not None:
        naive_seconds = seconds["naive"]
        naive_fps = args.frames / naive_seconds
        line = f"naive demo loop:  {naive_fps:7.2f} frames/s ({naive_seconds / args.frames:.3f} s/frame)"
        if truth is not None:
            line += f", max|diff| vs float64 {np.abs(naive - truth).max():.2e}"
        print(line)
    reference = next((results[c] for c in configs if c[0] == "fp32"), None)
    metrics = {}
    for config in configs:
        frames = results[config]
        found = {"fps": args.frames / seconds[config], "startup": startup[config]}
        steady_seconds = seconds[config] - startup[config]
        if naive is not None:
            ratios = [r[0]["naive"] / r[0][config] for r in repeats]
            steady = [r[0]["naive"] / (r[0][config] - r[1][config]) for r in repeats]
            found["ratio"], found["steady_ratio"] = (
                float(np.median(ratios)),
                float(np.median(steady)),
            )
            found["ratio_range"] = (min(ratios), max(ratios))
            found["diff"] = float(np.abs(frames - naive).max())
        if truth is not None:
            found["float64_error"] = float(np.abs(frames - truth).max())
        if config[0] != "fp32" and reference is not None:
            found["psnr"] = psnr(frames, reference)
        metrics[config] = found
        line = (
            f"engine {config_name(config)}: {found['fps']:7.2f} frames/s"
            f" ({args.frames / steady_seconds:.2f} after its {found['startup']:.2f} s start-up)"
        )
        if "ratio" in found:
            low, high = found["ratio_range"]
            spread = f" (runs {low:.2f}-{high:.2f})" if len(repeats) > 1 else ""
            line += (
                f", {found['ratio']:5.2f}x naive{spread}, max|diff| vs naive {found['diff']:.2e}"
            )
        if "float64_error" in found:
            line += f", vs float64 {found['float64_error']:.2e}"
        if "psnr" in found:
            line += f", PSNR vs engine fp32 {found['psnr']:.1f} dB"
        print(line, flush=True)

    rss = {}
    if args.rss_frames and args.device == "cpu":
        print(f"peak RSS of `animate_file` ({args.rss_precision}), one subprocess each:")
        rss = measure_rss(state_dicts, args.rss_frames, args.rss_precision)

    print(
        "\nratios (targets: fp32 >= 1.7x with max|diff| <= 1e-5; bf16 >= 3.5x with PSNR >= 40 dB"
        " vs fp32; RSS(128)/RSS(32) < 1.1); the verdict counts the engine's start-up (source"
        " encoding, network rewrite), the bracketed ratio leaves it out"
        + (f"; speeds are the median of {len(repeats)} runs" if len(repeats) > 1 else "")
    )
    if naive is not None:
        for config, found in metrics.items():
            ratio = found["ratio"]
            if config[0] == "fp32":
                verdict = "ok" if ratio >= 1.7 and found["diff"] <= 1e-5 else "MISSED"
                line = (
                    f"  {config_name(config)}: {ratio:.2f}x naive ({found['steady_ratio']:.2f}x),"
                    f" max|diff| {found['diff']:.2e}"
                )
                if truth is not None:
                    line += (
                        f" (float64 error: engine {found['float64_error']:.2e},"
                        f" naive {np.abs(naive - truth).max():.2e})"
                    )
                print(f"{line}  [{verdict}]")
            elif "psnr" in found:
                target = 3.5 if config[0] == "bf16" else 1.0
                verdict = "ok" if ratio >= target and found["psnr"] >= 40 else "MISSED"
                print(
                    f"  {config_name(config)}: {ratio:.2f}x naive ({found['steady_ratio']:.2f}x), "
                    f"PSNR vs fp32 {found['psnr']:.1f} dB  [{verdict}]"
                )
    if len(rss) >= 2:
        small, large = min(rss), max(rss)
        ratio = rss[large]["peak_rss_mib"] / rss[small]["peak_rss_mib"]
        verdict = "ok" if ratio < 1.1 else "MISSED"
        print(f"  RSS({large})/RSS({small}) = {ratio:.3f}  [{verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
