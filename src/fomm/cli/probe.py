"""`fomm probe FILE`: what fomm sees in a video, as JSON."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="print a video's size, frame rate, frame count, rotation and audio as JSON",
        description="Probe a video with the bundled ffmpeg and print what the reader will "
        "deliver: displayed size, exact frame rate (fps as num/den), frame count, duration, "
        "rotation, audio codec.",
    )
    parser.add_argument("file", metavar="FILE", help="video file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fomm.media.video import probe

    print(json.dumps(probe(args.file).to_json_dict(), indent=2, ensure_ascii=False))
    return 0
