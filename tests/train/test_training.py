"""Training loop, checkpoints, resume and the train/evaluate/synth command lines (tiny configs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fomm.cli import main
from fomm.errors import FommError
from fomm.model.checkpoint import load_model
from fomm.synth import random_motion, render_frames, sample_identity
from fomm.train.datasets import PairSampler, render_synthetic_clips
from fomm.train.loop import TrainOptions, learning_rate_factor, train
from fomm.train.settings import load_settings

from .conftest import write_config

PUBLISHED_KEYS = {
    "generator",
    "kp_detector",
    "optimizer_generator",
    "optimizer_kp_detector",
    "epoch",
}


def test_a_few_iterations_lower_the_loss(tmp_path: Path):
    torch.manual_seed(0)
    settings = load_settings(write_config(tmp_path, num_epochs=1, num_repeats=80, batch_size=4))
    # One clip of two frames: every batch holds the same pair, so the loss must fall.
    clip = render_frames(sample_identity(3), random_motion(3, 2, fps=2), 32)
    sampler = PairSampler([clip], seed=0, horizontal_flip=False)
    result = train(settings, sampler, TrainOptions(out=tmp_path / "model.pth", progress=False))
    assert result.iterations == 20
    assert result.last_losses["reconstruction"] < 0.7 * result.first_losses["reconstruction"]


def test_checkpoint_round_trip_in_the_published_layout(tmp_path: Path):
    settings = load_settings(write_config(tmp_path))
    sampler = PairSampler(render_synthetic_clips(settings.synthetic, 32))
    out = tmp_path / "model.pth"
    train(settings, sampler, TrainOptions(out=out, progress=False))
    checkpoint = torch.load(out, map_location="cpu", weights_only=True)
    assert PUBLISHED_KEYS <= set(checkpoint)
    assert checkpoint["epoch"] == 1
    assert not list(tmp_path.glob(".*partial*"))
    # trained channels-last, saved with the standard strides published files have
    convolution_weights = [v for v in checkpoint["generator"].values() if v.dim() == 4]
    assert convolution_weights and all(v.is_contiguous() for v in convolution_weights)

    model = load_model(out)
    assert model.config.frame_shape == (32, 32)
    assert model.config.differences(settings.model) == []
    # trained corner-aligned (the training default), so animated corner-aligned
    assert model.corner_aligned and model.generator.upsample_align_corners
    assert model.generator.align_corners and model.generator.dense_motion_network.align_corners
    model.set_align_corners(False)
    assert not model.generator.align_corners
    model.set_align_corners(None)
    assert model.generator.align_corners
    # the same weights without the config entry read as a published checkpoint: reference
    bare = tmp_path / "bare.pth"
    torch.save({k: checkpoint[k] for k in ("generator", "kp_detector")}, bare)
    published = load_model(bare)
    assert not published.corner_aligned and not published.generator.upsample_align_corners
    assert not published.generator.align_corners
    for name in ("generator", "kp_detector"):
        saved = checkpoint[name]
        for key, value in getattr(model, name).state_dict().items():
            torch.testing.assert_close(value, saved[key])

    # The model engineer's loader reads it too (shapes give the networks; the yaml the size).
    config_yaml = tmp_path / "model.yaml"
    import yaml

    config_yaml.write_text(yaml.safe_dump(checkpoint["config"]))
    loaded = load_model(out, config_yaml)
    assert loaded.config.frame_shape == (32, 32)


def test_resume_continues_the_epoch_count(tmp_path: Path):
    settings = load_settings(write_config(tmp_path, num_epochs=1))
    sampler = PairSampler(render_synthetic_clips(settings.synthetic, 32))
    first = tmp_path / "first.pth"
    train(settings, sampler, TrainOptions(out=first, progress=False))
    longer = load_settings(write_config(tmp_path, num_epochs=3))
    second = tmp_path / "second.pth"
    result = train(longer, sampler, TrainOptions(out=second, resume=first, progress=False))
    assert result.epoch == 3
    assert result.iterations == 2 * 2  # two more epochs of 4 clips / batch 2
    resumed = torch.load(second, weights_only=True)
    assert resumed["epoch"] == 3
    before = torch.load(first, weights_only=True)["optimizer_generator"]["state"][0]["step"]
    assert float(resumed["optimizer_generator"]["state"][0]["step"]) == float(before) + 4


def test_iteration_budget_stops_the_run_and_spreads_the_schedule(tmp_path: Path):
    # 10 epochs of 2 iterations, milestones at epochs 6 and 9, but a budget of 4 iterations:
    # the run stops after 4, its last step at 3/4 of the budget, past the first milestone only.
    settings = load_settings(
        write_config(tmp_path, num_epochs=10, epoch_milestones=[6, 9], lr_generator=1.0)
    )
    sampler = PairSampler(render_synthetic_clips(settings.synthetic, 32))
    first = tmp_path / "first.pth"
    result = train(settings, sampler, TrainOptions(out=first, max_iterations=4, progress=False))
    assert result.iterations == 4
    saved = torch.load(first, weights_only=True)
    assert saved["iterations"] == 4
    assert saved["optimizer_generator"]["param_groups"][0]["lr"] == pytest.approx(0.1)
    # Resumed with a larger budget: the budget counts the iterations before the resume too.
    second = tmp_path / "second.pth"
    options = TrainOptions(out=second, resume=first, max_iterations=10, progress=False)
    result = train(settings, sampler, options)
    assert result.iterations == 6
    saved = torch.load(second, weights_only=True)
    assert saved["iterations"] == 10
    # the last step ran at 9/10 of the budget: past both milestones
    assert saved["optimizer_generator"]["param_groups"][0]["lr"] == pytest.approx(0.01)


def test_time_budget_spreads_the_schedule():
    assert learning_rate_factor(10, (60, 90)) == 1.0
    assert learning_rate_factor(60, (60, 90)) == pytest.approx(0.1)
    assert learning_rate_factor(95, (60, 90)) == pytest.approx(0.01)


def test_train_and_evaluate_command_lines(tmp_path: Path, capsys):
    config = write_config(tmp_path)
    out = tmp_path / "cli.pth"
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--data",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert out.is_file()
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--synthetic",
                "--seed",
                "2",
                "--pairs",
                "1",
                "--frames",
                "4",
                "--json",
                "--no-video",
            ]
        )
        == 0
    )
    scores = json.loads(capsys.readouterr().out)
    for key in ("reconstruction_l1", "cross_identity_l1", "no_motion_l1", "keypoint_jitter"):
        assert isinstance(scores[key], float) and np.isfinite(scores[key])
    assert 0 < scores["no_motion_l1"] < 1


def test_train_on_a_folder_of_frame_folders(tmp_path: Path):
    from PIL import Image

    data = tmp_path / "videos"
    for clip_index in range(2):
        frames = render_frames(sample_identity(clip_index), random_motion(clip_index, 3), 40)
        folder = data / f"clip{clip_index}"
        folder.mkdir(parents=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"{i:03d}.png")
    (data / "notes.txt").write_text("not a video")
    out = tmp_path / "folder.pth"
    assert (
        main(
            [
                "train",
                "--config",
                str(write_config(tmp_path)),
                "--data",
                str(data),
                "--out",
                str(out),
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert torch.load(out, weights_only=True)["epoch"] == 1


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys):
    missing = tmp_path / "missing.yaml"
    assert (
        main(
            [
                "train",
                "--config",
                str(missing),
                "--data",
                "synthetic",
                "--out",
                str(tmp_path / "x.pth"),
            ]
        )
        == 2
    )
    assert str(missing) in capsys.readouterr().err
    bad = write_config(tmp_path)
    bad.write_text(bad.read_text().replace("batch_size", "batch_sise"))
    assert (
        main(
            ["train", "--config", str(bad), "--data", "synthetic", "--out", str(tmp_path / "x.pth")]
        )
        == 2
    )
    assert "batch_sise" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(
            [
                "train",
                "--config",
                str(write_config(tmp_path)),
                "--data",
                str(empty),
                "--out",
                str(tmp_path / "x.pth"),
            ]
        )
        == 2
    )
    assert "no videos" in capsys.readouterr().err
    for budget in ("--max-iterations", "--max-minutes"):
        arguments = ["train", "--config", str(write_config(tmp_path)), "--data", "synthetic"]
        assert main([*arguments, "--out", str(tmp_path / "x.pth"), budget, "0"]) == 2
        assert f"{budget} must be positive" in capsys.readouterr().err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(junk), "--synthetic", "--no-video"]) == 2
    assert str(junk) in capsys.readouterr().err
    assert not (tmp_path / "x.pth").exists()


def test_adam_beta1_reaches_the_optimisers(tmp_path: Path):
    settings = load_settings(write_config(tmp_path, adam_beta1=0.9))
    assert settings.train.adam_beta1 == 0.9
    clip = render_frames(sample_identity(3), random_motion(3, 2, fps=2), 32)
    out = tmp_path / "model.pth"
    train(settings, PairSampler([clip]), TrainOptions(out=out, progress=False, max_iterations=1))
    checkpoint = torch.load(out, weights_only=True)
    for name in ("optimizer_generator", "optimizer_kp_detector"):
        assert tuple(checkpoint[name]["param_groups"][0]["betas"]) == (0.9, 0.999)
    with pytest.raises(FommError, match="adam_beta1"):
        load_settings(write_config(tmp_path, adam_beta1="high"))
