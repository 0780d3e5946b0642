"""`fomm mosaic DRIVING -o OUT.mp4 --pair SOURCE RESULT ...`: results side by side."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger("fomm.mosaic")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mosaic",
        help="a side-by-side video of sources, driving video and results, with audio",
        description="One pair gives [source | driving | result]. Several pairs give a grid: "
        "sources in the top row of each band, their results below them, the driving video "
        "at the left of the results (up to 4 pairs per band). The driving video's audio "
        "and frame rate are kept; --poster saves the middle frame as a picture.",
    )
    parser.add_argument("driving", metavar="DRIVING", help="driving video")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video")
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        required=True,
        metavar=("SOURCE", "RESULT"),
        help="a source picture and the video animated from it (repeat for more)",
    )
    parser.add_argument("--poster", metavar="P.png", help="also save the middle frame here")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels (default 256)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fomm.media.mosaic import make_mosaic

    made = make_mosaic(args.driving, [tuple(pair) for pair in args.pair], args.output,
                       poster=args.poster, tile=args.tile)  # fmt: skip
    logger.info("%s: %dx%d, %d frames", made.output, made.width, made.height, made.frame_count)
    return 0
