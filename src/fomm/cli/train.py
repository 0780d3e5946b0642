"""`fomm train`: train (or fine-tune) a FOMM on synthetic puppets or a folder of videos."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on synthetic talking puppets or a folder of videos",
        description=(
            "Train the keypoint detector and generator to rebuild a driving frame from a source "
            "frame of the same clip (multi-scale L1 or VGG19 loss, TPS equivariance losses). "
            "Writes a checkpoint in the published layout after every epoch."
        ),
    )
    parser.add_argument("--config", required=True, type=Path, help="training config YAML")
    parser.add_argument(
        "--data",
        required=True,
        help="'synthetic' (puppets rendered in memory) or a folder of videos / frame folders",
    )
    parser.add_argument("--out", required=True, type=Path, help="checkpoint to write (.pth)")
    parser.add_argument("--resume", type=Path, help="continue from this checkpoint")
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="wall-clock budget; the learning-rate steps are spread over it",
    )
    parser.add_argument(
        "--max-iterations",
        type=int,
        help="iteration budget (all runs of a resumed training together); the learning-rate "
        "steps are spread over it",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and pair sampling")
    parser.add_argument("--vgg19-weights", type=Path, help="torchvision VGG19 state dict")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import os

    # Busy-waiting OpenMP threads crawl when the cores are shared; must precede torch's start.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from fomm.errors import FommError
    from fomm.fileutil import ensure_writable_dir
    from fomm.train.datasets import PairSampler, load_video_folder, render_synthetic_clips
    from fomm.train.loop import TrainOptions, train
    from fomm.train.settings import load_settings

    log = logging.getLogger("fomm.train")
    torch.set_num_threads(max(1, args.threads))
    if args.device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        raise FommError("--device cuda: CUDA is not available")
    else:
        device = args.device
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise FommError("--max-minutes must be positive")
    if args.max_iterations is not None and args.max_iterations <= 0:
        raise FommError("--max-iterations must be positive")
    settings = load_settings(args.config)
    ensure_writable_dir(args.out)
    height, width = settings.frame_size
    if args.data == "synthetic":
        if height != width:
            raise FommError("synthetic puppets are square: use a square frame_shape")
        log.info("rendering %d synthetic clips at %dx%d", settings.synthetic.clips, height, width)
        clips = render_synthetic_clips(settings.synthetic, height)
    else:
        clips = load_video_folder(args.data, (height, width))
    log.info("%d clips; training on %s", len(clips), device)
    sampler = PairSampler(clips, seed=args.seed, horizontal_flip=settings.train.horizontal_flip)
    result = train(
        settings,
        sampler,
        TrainOptions(
            out=args.out,
            device=device,
            resume=args.resume,
            max_minutes=args.max_minutes,
            max_iterations=args.max_iterations,
            seed=args.seed,
            vgg19_weights=args.vgg19_weights,
            progress=not args.no_progress,
        ),
    )
    losses = " ".join(f"{k}={v:.4f}" for k, v in result.last_losses.items())
    log.info(
        "wrote %s: epoch %d, %d iterations in %.1f min; %s",
        args.out,
        result.epoch,
        result.iterations,
        result.seconds / 60,
        losses,
    )
    return 0
