"""`fomm evaluate`: score a checkpoint on held-out synthetic puppets against ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint on held-out synthetic puppets (known ground truth)",
        description=(
            "Animate held-out puppets (identities and motions never used in training) and "
            "compare with the rendered ground truth: reconstruction L1, cross-identity L1, "
            "keypoint jitter, each next to the no-motion baseline (output = source)."
        ),
    )
    parser.add_argument("checkpoint", help="checkpoint path or 'default'")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        required=True,
        help="evaluate on synthetic puppets (the only benchmark so far)",
    )
    parser.add_argument("--seed", type=int, default=0, help="held-out set (any integer >= 0)")
    parser.add_argument("--pairs", type=int, default=8, help="source/driving pairs")
    parser.add_argument("--frames", type=int, default=100, help="frames per driving clip (25 fps)")
    parser.add_argument("--config", type=Path, help="model config YAML (else from checkpoint)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--video",
        type=Path,
        help="side-by-side video [source | driving | fomm | ground truth] "
        "(default: evaluate_seed<S>.mp4; see --no-video)",
    )
    parser.add_argument("--no-video", action="store_true", help="do not write the video")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from fomm.errors import FommError
    from fomm.model.checkpoint import load_model
    from fomm.train.evaluate import evaluate_model

    if args.seed < 0 or args.pairs < 1 or args.frames < 3:
        raise FommError("--seed must be >= 0, --pairs >= 1 and --frames >= 3")
    if args.device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        raise FommError("--device cuda: CUDA is not available")
    else:
        device = args.device
    model = load_model(args.checkpoint, args.config, device)
    height, width = model.config.frame_shape
    if height != width:
        raise FommError(f"synthetic evaluation needs a square frame shape, not {height}x{width}")
    video = None if args.no_video else (args.video or Path(f"evaluate_seed{args.seed}.mp4"))
    result = evaluate_model(model, args.seed, args.pairs, args.frames, video)
    if args.json:
        print(json.dumps(result.to_json_dict()))
    else:
        print(result.table())
        if video is not None:
            print(f"side-by-side video: {video}")
    return 0
