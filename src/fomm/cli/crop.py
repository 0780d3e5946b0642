"""`fomm crop INPUT -o OUT`: a square crop around the face of a picture or video, on the CPU."""

from __future__ import annotations

import argparse
import logging

from fomm.errors import FommError

logger = logging.getLogger("fomm.crop")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """`x,y,w,h` in pixels of the input (w and h positive)."""
    parts = text.split(",")
    try:
        x, y, width, height = (float(part) for part in parts)
    except ValueError:
        raise FommError(f"--box must be x,y,w,h (four numbers), got {text!r}") from None
    if width <= 0 or height <= 0:
        raise FommError(f"--box width and height must be positive, got {text!r}")
    return x, y, width, height


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "crop",
        help="crop a picture or video to a square around the face",
        description="Find the face with scikit-image's LBP cascade (CPU), take a square of "
        "MARGIN times the face box around it (smoothed over time for videos, or one box when "
        "the head hardly moves), and resize it to SIZE. A video keeps its frame rate and "
        "audio. Without a face: the centre square and a warning.",
    )
    parser.add_argument("input", metavar="INPUT", help="picture or video")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output file")
    parser.add_argument("--size", type=int, default=256, help="output side (default 256)")
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="M",
        help="crop side as a multiple of the face box side (default 1.8)",
    )
    parser.add_argument(
        "--box",
        metavar="x,y,w,h",
        help="crop this box (pixels; made square on its longer side) instead of finding a face",
    )
    parser.add_argument(
        "--no-face", action="store_true", help="crop the centre square without a face search"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fomm.media.crop import DEFAULT_MARGIN, CropBox, CropTrack, crop_file

    box = CropBox.from_xywh(*parse_box(args.box)) if args.box else None
    if box is not None and args.no_face:
        raise FommError("--box and --no-face cannot be used together")
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    result = crop_file(args.input, args.output, args.size, margin, box, not args.no_face)
    if isinstance(result, CropTrack):
        logger.info("%s: %s box over %d frames", args.output, result.method, len(result.boxes))
    else:
        logger.info(
            "%s: box centre (%.0f, %.0f), side %.0f",
            args.output,
            result.centre_x,
            result.centre_y,
            result.side,
        )
    return 0
