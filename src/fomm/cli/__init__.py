"""The `fomm` command: one subcommand per module in this package.

Each subcommand module defines `add_parser(subparsers)`, which registers its parser and sets
`handler` to a function taking the parsed arguments and returning an exit code. Modules
import heavy libraries (torch, skimage) inside their handlers so `fomm --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from fomm import __version__
from fomm.errors import FommError

SUBCOMMANDS = [
    "animate",
    "crop",
    "mux",
    "mosaic",
    "probe",
    "inspect",
    "conformance",
    "synth",
    "train",
    "evaluate",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fomm",
        description="Animate still pictures with driving videos (First Order Motion Model).",
    )
    parser.add_argument("--version", action="version", version=f"fomm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"fomm.cli.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"fomm.cli.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


class Terminated(BaseException):
    """SIGTERM arrived (scancel, a SLURM time limit, `timeout`): unwind so partials go."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def run_handler(handler, args) -> int:
    """Run a subcommand; user errors become one line on stderr and exit code 2.

    SIGTERM is turned into an exception in the main thread so that every open output is
    aborted (temporary files removed) before the process exits with 143.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(handler(args) or 0)
    except FommError as error:
        print(f"fomm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fomm: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("fomm: terminated", file=sys.stderr)
        return 143


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="fomm: %(message)s", stream=sys.stderr)
    if args.verbose:
        # fomm's own details; libraries' debug logs (PIL's chunk by chunk...) stay out
        logging.getLogger("fomm").setLevel(logging.DEBUG)
    return run_handler(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
