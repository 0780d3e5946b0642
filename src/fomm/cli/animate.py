"""`fomm animate SOURCE DRIVING -o OUT.mp4`: animate a picture with a driving video."""

from __future__ import annotations

import argparse
from dataclasses import replace

from fomm.media.ffmpeg_args import DEFAULT_PRESET, ENCODER_PRESETS, GPU_PRESET

BEST_FRAME_HELP = (
    "start from the driving frame whose pose is closest to the source: FOMM keypoints of the "
    "source and of every driving frame, each centred on its mean and divided by the square "
    "root of its convex hull area, compared by sum of squared differences (no face-alignment "
    "library; one extra keypoints-only pass over the video)"
)


def add_animation_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `fomm animate` and `python -m fomm.demo`-style front ends."""
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="driving frames per batch (default: 4 on CPU, 32 on CUDA)",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="fp32 (default) gives the original's frames; bf16 (CUDA, or a CPU with "
        "AVX512-BF16/AMX; other CPUs run fp32) and fp16 (CUDA) use autocast, faster and "
        "slightly different",
    )
    parser.add_argument(
        "--align-corners",
        action="store_true",
        help="grid_sample as PyTorch 1.0 did (what the published checkpoints were trained "
        "with); the default reproduces the original demo under current PyTorch, and for "
        "models trained by `fomm train` the corner-aligned resampling they were trained with",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile each batch's work as one graph (on CUDA replayed as one CUDA "
        "graph: faster batches after 30-40 s of compiling)",
    )
    parser.add_argument(
        "--no-fuse",
        dest="fused",
        action="store_false",
        help="run the networks as written, not their fused inference form (slower; the fused "
        "form differs only by float32 rounding)",
    )
    parser.add_argument(
        "--output-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="longer side of the written video, resized bilinearly; default: the model's "
        "frame size (256 for the published models: the original's exact frames)",
    )


def output_size_option(pixels: int | None, frame_size: tuple[int, int]) -> tuple[int, int] | None:
    """--output-size PIXELS as (H, W) with the model's aspect; None leaves the default."""
    from fomm.errors import FommError

    if pixels is None:
        return None
    if pixels < 2:
        raise FommError(f"--output-size must be at least 2 pixels, not {pixels}")
    height, width = frame_size
    longer = max(height, width)
    return (round(height * pixels / longer), round(width * pixels / longer))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "animate",
        help="animate a source picture with a driving video",
        description="Animate SOURCE (a picture) with the motion of DRIVING (a video). Frames are "
        "resized as the original demo does (skimage, to the config's frame_shape: 256x256 for "
        "every published checkpoint). The output has the driving video's frame rate and frame "
        "count; the driving audio is copied.",
    )
    parser.add_argument("source", metavar="SOURCE", help="source picture")
    parser.add_argument("driving", metavar="DRIVING", help="driving video")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video")
    parser.add_argument(
        "--checkpoint",
        default="default",
        metavar="CKPT",
        help="FOMM checkpoint file, or 'default' for the bundled model",
    )
    parser.add_argument(
        "--config", metavar="YAML", help="original config YAML (checked against the weights)"
    )
    parser.add_argument(
        "--mode",
        choices=["relative", "absolute"],
        default="relative",
        help="relative: transfer the driving motion onto the source pose (default); absolute: "
        "use the driving keypoints as they are",
    )
    parser.add_argument(
        "--adapt-scale",
        action="store_true",
        help="scale relative motion by the ratio of keypoint convex hull areas",
    )
    best = parser.add_mutually_exclusive_group()
    best.add_argument("--find-best-frame", action="store_true", help=BEST_FRAME_HELP)
    best.add_argument(
        "--best-frame",
        type=int,
        metavar="N",
        help="use driving frame N (0-based) as the initial frame",
    )
    add_animation_arguments(parser)
    parser.add_argument(
        "--audio",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="copy the driving video's audio (default: on)",
    )
    parser.add_argument("--quality", type=int, metavar="Q", help="video quality 0-100")
    parser.add_argument(
        "--preset",
        choices=ENCODER_PRESETS,
        help="x264 speed preset: faster ones encode quicker into larger files (default: "
        f"{DEFAULT_PRESET} on a CPU; {GPU_PRESET} on a GPU, where the encoder is the slowest stage)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import time

    started = time.perf_counter()
    from fomm.engine.animate import AnimationOptions, animate_file
    from fomm.errors import FommError
    from fomm.model.checkpoint import load_model

    if args.batch_size is not None and args.batch_size < 1:
        raise FommError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.best_frame is not None and args.best_frame < 0:
        raise FommError(f"--best-frame must be 0 or more, not {args.best_frame}")
    options = AnimationOptions(
        mode=args.mode,
        adapt_scale=args.adapt_scale,
        best_frame=args.best_frame,
        find_best_frame=args.find_best_frame,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        align_corners=True if args.align_corners else None,
        compile=args.compile,
        fused=args.fused,
    )
    model = load_model(args.checkpoint, args.config)
    logging.getLogger("fomm").debug(
        "importing PyTorch and loading %s: %.2f s", args.checkpoint, time.perf_counter() - started
    )
    options = replace(
        options, output_size=output_size_option(args.output_size, model.config.frame_shape)
    )
    report = animate_file(
        model,
        args.source,
        args.driving,
        args.output,
        options,
        audio=args.audio,
        quality=args.quality,
        preset=args.preset,
    )
    logging.getLogger("fomm").info(
        "%s: %d frames at %.3g fps in %.1f s%s",
        report.output,
        report.frames,
        report.fps,
        report.seconds,
        f", initial frame {report.best_frame}" if report.best_frame is not None else "",
    )
    return 0
