"""Drop-in for the original `demo.py`: `python -m fomm.demo` with the same flags.

    python -m fomm.demo --config config/vox-256.yaml --checkpoint vox-cpk.pth.tar \
        --source_image face.png --driving_video drive.mp4 --relative --adapt_scale

runs the fomm engine with the original's semantics: frames resized to 256x256, absolute
keypoints unless --relative,
--best_frame N wins over --find_best_frame (which uses FOMM keypoints, not face-alignment),
output at the driving video's frame rate (no audio unless --audio).
"""

from __future__ import annotations

import argparse
import sys

from fomm.cli.animate import BEST_FRAME_HELP, add_animation_arguments, output_size_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fomm.demo",
        description="The original FOMM demo.py command line, run by the fomm engine.",
    )
    parser.add_argument("--config", help="path to config (optional: read from the weights)")
    parser.add_argument(
        "--checkpoint", default="default", help="path to checkpoint to restore ('default')"
    )
    parser.add_argument("--source_image", required=True, help="path to source image")
    parser.add_argument("--driving_video", required=True, help="path to driving video")
    parser.add_argument("--result_video", default="result.mp4", help="path to output")
    parser.add_argument(
        "--relative",
        dest="relative",
        action="store_true",
        help="use relative or absolute keypoint coordinates",
    )
    parser.add_argument(
        "--adapt_scale",
        dest="adapt_scale",
        action="store_true",
        help="adapt movement scale based on convex hull of keypoints",
    )
    parser.add_argument("--find_best_frame", action="store_true", help=BEST_FRAME_HELP)
    parser.add_argument(
        "--best_frame", type=int, default=None, help="set frame to start from (0-based)"
    )
    parser.add_argument("--cpu", action="store_true", help="cpu mode")
    parser.add_argument(
        "--audio", action="store_true", help="copy the driving audio (the original does not)"
    )
    add_animation_arguments(parser)
    parser.set_defaults(relative=False, adapt_scale=False)
    return parser


def run(args: argparse.Namespace) -> int:
    from fomm.engine.animate import AnimationOptions, animate_file
    from fomm.errors import FommError
    from fomm.model.checkpoint import load_model

    if args.best_frame is not None and args.best_frame < 0:
        raise FommError(f"--best_frame must be 0 or more, not {args.best_frame}")
    options = AnimationOptions(
        mode="relative" if args.relative else "absolute",
        adapt_scale=args.adapt_scale,
        best_frame=args.best_frame,
        find_best_frame=args.find_best_frame and args.best_frame is None,
        device="cpu" if args.cpu else args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        align_corners=True if args.align_corners else None,
        compile=args.compile,
        frame_size=(256, 256),  # the original demo resizes to 256x256 whatever the config says
        source_background=None,  # and drops the alpha channel of a transparent source
        output_size=output_size_option(args.output_size, (256, 256)),
    )
    model = load_model(args.checkpoint, args.config)
    animate_file(
        model, args.source_image, args.driving_video, args.result_video, options, audio=args.audio
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    import logging

    from fomm.cli import run_handler

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fomm: %(message)s", stream=sys.stderr)
    return run_handler(run, args)


if __name__ == "__main__":
    sys.exit(main())
