"""`fomm mux VIDEO --audio-from FILE -o OUT`: add the sound of FILE to VIDEO (video copied)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mux",
        help="put the audio of a driving video (or audio file) into a video",
        description="Copy the video stream of VIDEO and add the first audio stream of FILE: "
        "copied when AAC or MP3, otherwise encoded to AAC; cut or padded with silence to "
        "the video's length (within one frame). FILE without audio gives a silent copy.",
    )
    parser.add_argument("video", metavar="VIDEO", help="video whose picture is kept")
    parser.add_argument(
        "--audio-from", required=True, metavar="FILE", help="video or audio file with the sound"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output .mp4")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fomm.media.audio import mux_audio

    mux_audio(args.video, args.audio_from, args.output)
    return 0
