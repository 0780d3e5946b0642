"""`fomm conformance KIT_DIR`: run every case of a conformance kit against this implementation."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="check the networks against a conformance kit",
        description="Run every case (folder with case.json) of a kit; print each array's max "
        "abs difference and its tolerance; exit 1 if any exceeds it.",
    )
    parser.add_argument("kit", metavar="KIT_DIR", help="kit folder (or one case folder)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from fomm.engine.conformance import run_kit

    torch.set_grad_enabled(False)
    failed = 0
    total = 0
    for case in run_kit(args.kit):
        total += 1
        status = "PASS" if case.passed else "FAIL"
        print(f"{status} {case.name} ({case.kind})", flush=True)
        if case.error:
            print(f"    error: {case.error}")
        for array in case.arrays:
            mark = "ok " if array.passed else "BAD"
            detail = f"  {array.detail}" if array.detail else ""
            print(
                f"    {mark} {array.name:22s} max|diff| {array.max_abs_diff:.3e}"
                f"  tolerance {array.tolerance:.3e}{detail}"
            )
        failed += not case.passed
    print(f"{total - failed} of {total} cases passed")
    return 1 if failed else 0
