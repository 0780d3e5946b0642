"""The training loop: Adam on generator and keypoint detector, step-decay schedule,
optional wall-clock or iteration budget, resume, atomic checkpoints."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from fomm.errors import InputError
from fomm.train.checkpoints import (
    TrainingState,
    read_training_checkpoint,
    save_training_checkpoint,
)
from fomm.train.datasets import PairSampler
from fomm.train.reconstruction_model import ReconstructionModel
from fomm.train.settings import TrainSettings
from fomm.train.vgg19 import Vgg19Features

log = logging.getLogger(__name__)
_SHORT_NAMES = {
    "reconstruction": "rec",
    "equivariance_value": "eq_value",
    "equivariance_jacobian": "eq_jacobian",
}


@dataclass(frozen=True)
class TrainOptions:
    out: Path
    device: str = "cpu"
    resume: Path | None = None
    max_minutes: float | None = None
    max_iterations: int | None = None
    seed: int = 0
    vgg19_weights: Path | None = None
    progress: bool = True
    save_every_minutes: float = 5.0


@dataclass(frozen=True)
class TrainResult:
    epoch: int
    iterations: int
    seconds: float
    first_losses: dict[str, float]
    last_losses: dict[str, float]


def learning_rate_factor(
    progress_epochs: float, milestones: tuple[int, ...], gamma: float = 0.1
) -> float:
    """MultiStepLR's factor at a (fractional) epoch: gamma per milestone passed."""
    return gamma ** sum(1 for milestone in milestones if progress_epochs >= milestone)


def _load_resume(
    path: Path,
    model: ReconstructionModel,
    optimizer_kp: torch.optim.Optimizer,
    optimizer_gen: torch.optim.Optimizer,
) -> TrainingState:
    checkpoint = read_training_checkpoint(path)
    try:
        model.kp_detector.load_state_dict(checkpoint["kp_detector"])
        model.generator.load_state_dict(checkpoint["generator"])
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise InputError(path, f"does not fit the training config's networks ({first})") from None
    if "optimizer_generator" in checkpoint and "optimizer_kp_detector" in checkpoint:
        optimizer_gen.load_state_dict(checkpoint["optimizer_generator"])
        optimizer_kp.load_state_dict(checkpoint["optimizer_kp_detector"])
    return TrainingState(
        epoch=int(checkpoint.get("epoch", 0)),
        elapsed_seconds=float(checkpoint.get("elapsed_seconds", 0.0)),
        iterations=int(checkpoint.get("iterations", 0)),
    )


def train(settings: TrainSettings, sampler: PairSampler, options: TrainOptions) -> TrainResult:
    """Train until `num_epochs` (or the time or iteration budget) and write `options.out`."""
    from tqdm import tqdm

    from fomm.model.checkpoint import build_networks

    torch.manual_seed(options.seed)
    device = torch.device(options.device)
    params = settings.train
    kp_detector, generator = build_networks(
        settings.model, params.align_corners, upsample_align_corners=params.align_corners
    )
    vgg = Vgg19Features.from_file(options.vgg19_weights) if options.vgg19_weights else None
    # channels-last: the same arithmetic, and 59-minute CPU runs did 1.18x the steps
    model = ReconstructionModel(kp_detector, generator, params, vgg).to(device).train()
    model.to(memory_format=torch.channels_last)
    if vgg is not None:
        vgg.eval()
    optimizer_gen = torch.optim.Adam(
        generator.parameters(), lr=params.lr_generator, betas=(params.adam_beta1, 0.999)
    )
    optimizer_kp = torch.optim.Adam(
        kp_detector.parameters(), lr=params.lr_kp_detector, betas=(params.adam_beta1, 0.999)
    )
    state = TrainingState(epoch=0, elapsed_seconds=0.0)
    if options.resume is not None:
        state = _load_resume(options.resume, model, optimizer_kp, optimizer_gen)
        log.info("resuming %s at epoch %d", options.resume, state.epoch)
    config_document = settings.to_yaml_document()

    iterations_per_epoch = max(1, math.ceil(len(sampler) * params.num_repeats / params.batch_size))
    budget = options.max_minutes * 60 if options.max_minutes else None
    iteration_budget = options.max_iterations
    started = time.monotonic() - state.elapsed_seconds
    last_save = time.monotonic()
    epoch = state.epoch
    # all iterations, those before a resume included; `iterations` counts this run's
    total_iterations = state.iterations
    iterations = 0
    first_losses: dict[str, float] = {}
    last_losses: dict[str, float] = {}
    running: dict[str, float] = {}

    def elapsed() -> float:
        return time.monotonic() - started

    def save(completed_epochs: int) -> None:
        save_training_checkpoint(
            options.out,
            kp_detector,
            generator,
            optimizer_kp,
            optimizer_gen,
            TrainingState(completed_epochs, elapsed(), total_iterations),
            config_document,
        )

    def out_of_budget() -> bool:
        if budget and elapsed() >= budget:
            return True
        return bool(iteration_budget) and total_iterations >= iteration_budget

    budget_spent = out_of_budget()
    bar = tqdm(
        total=params.num_epochs * iterations_per_epoch,
        initial=epoch * iterations_per_epoch,
        disable=not options.progress,
        dynamic_ncols=True,
        mininterval=2.0,
    )
    while epoch < params.num_epochs and not budget_spent:
        for step in range(iterations_per_epoch):
            # Schedule by epochs, or by the share of the time or iteration budget if that is
            # further on, so a budgeted run still goes through every learning-rate step.
            progress = epoch + step / iterations_per_epoch
            if budget:
                progress = max(progress, params.num_epochs * elapsed() / budget)
            if iteration_budget:
                progress = max(progress, params.num_epochs * total_iterations / iteration_budget)
            factor = learning_rate_factor(progress, params.epoch_milestones)
            for group in optimizer_gen.param_groups:
                group["lr"] = params.lr_generator * factor
            for group in optimizer_kp.param_groups:
                group["lr"] = params.lr_kp_detector * factor

            source, driving = sampler.batch(params.batch_size, device)
            losses, _ = model(source, driving)
            total = sum(losses.values())
            optimizer_gen.zero_grad(set_to_none=True)
            optimizer_kp.zero_grad(set_to_none=True)
            total.backward()
            optimizer_gen.step()
            optimizer_kp.step()

            values = {name: float(value.detach()) for name, value in losses.items()}
            if not first_losses:
                first_losses = dict(values)
            running = {k: 0.95 * running.get(k, v) + 0.05 * v for k, v in values.items()}
            last_losses = values
            iterations += 1
            total_iterations += 1
            bar.update(1)
            if iterations % 10 == 0:
                bar.set_postfix(
                    {_SHORT_NAMES.get(k, k): f"{v:.4f}" for k, v in running.items()}
                    | {"lr": f"{factor:.0e}"}
                )
            if out_of_budget():
                budget_spent = True
                break
            if time.monotonic() - last_save > options.save_every_minutes * 60:
                save(epoch)
                last_save = time.monotonic()
        if not budget_spent:
            epoch += 1
            save(epoch)
            last_save = time.monotonic()
            log.info(
                "epoch %d/%d done, %.0f s, %s",
                epoch,
                params.num_epochs,
                elapsed(),
                " ".join(f"{k}={v:.4f}" for k, v in running.items()),
            )
    bar.close()
    if budget_spent:
        log.info(
            "budget reached at epoch %d: %d iterations, %.1f min",
            epoch,
            total_iterations,
            elapsed() / 60,
        )
        save(epoch)
    if not os.path.exists(options.out):
        save(epoch)
    return TrainResult(epoch, iterations, elapsed(), first_losses, last_losses)
