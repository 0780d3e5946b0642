"""The bad-input matrix: one row per hostile or broken input, across the whole path.

Each row builds its own inputs in a fresh folder, runs one command (`fomm ...` in this
process, or `snakemake -n` for workflow rows) and checks the documented behaviour:

* an error: exit code 2, exactly one line `fomm: error: <file>: <problem>` naming the file,
  no traceback, and no new file anywhere in the row's folder (no partial, no empty file);
* works: exit code 0, the expected outputs (complete videos with the right frame count),
  and no other new file (no hidden partial left beside them).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from faults_support import (
    REPO,
    TINY_KIT,
    animate_argv,
    assert_one_error_line,
    assert_valid_video,
    ffmpeg,
    file_listing,
    fomm_env,
    frame_count,
    full_tmpfs,
    make_clip,
    make_picture,
    new_files,
    png_header_only,
    random_bytes,
    run_cli,
    stream_duration,
    stream_summary,
)

GOOD_FRAMES = 10


@dataclass
class Row:
    """What to run and what must come of it."""

    argv: list[str]
    fails_naming: str | None = None  # None: the command must succeed
    mentions: tuple[str, ...] = ()  # words the error line must also contain (lower case)
    outputs: tuple[Path, ...] = ()
    check: Callable[[], None] | None = None
    snakemake_cwd: Path | None = None  # a workflow row: snakemake -n in this folder
    spared: tuple[Path, ...] = field(default_factory=tuple)  # files that must NOT appear


@dataclass(frozen=True)
class Inputs:
    source: Path
    driving: Path  # 10 frames at 10 fps with 1 s of sound


CASES: dict[str, Callable[[Path, Inputs, contextlib.ExitStack], Row]] = {}


def case(name: str):
    def register(builder):
        CASES[name] = builder
        return builder

    return register


def animate_row(folder: Path, source: Path, driving: Path, *extra: str) -> tuple[list[str], Path]:
    output = folder / "out" / "result.mp4"
    return animate_argv(source, driving, output, *extra), output


def fails(argv: list[str], named: Path | str, *mentions: str) -> Row:
    return Row(argv, fails_naming=str(named), mentions=mentions)


def works(argv: list[str], output: Path, frames: int = GOOD_FRAMES, check=None) -> Row:
    def verify() -> None:
        assert_valid_video(output, frames)
        if check is not None:
            check()

    return Row(argv, outputs=(output,), check=verify)


# --------------------------------------------------------------------------- pictures


@case("picture-missing")
def _(d, good, stack):
    argv, _ = animate_row(d, d / "nowhere.png", good.driving)
    return fails(argv, d / "nowhere.png")


@case("picture-empty")
def _(d, good, stack):
    (d / "empty.png").touch()
    argv, _ = animate_row(d, d / "empty.png", good.driving)
    return fails(argv, d / "empty.png", "empty")


@case("picture-random-bytes")
def _(d, good, stack):
    argv, _ = animate_row(d, random_bytes(d / "noise.png"), good.driving)
    return fails(argv, d / "noise.png")


@case("picture-is-a-folder")
def _(d, good, stack):
    (d / "folder.png").mkdir()
    argv, _ = animate_row(d, d / "folder.png", good.driving)
    return fails(argv, d / "folder.png")


@case("picture-decompression-bomb")
def _(d, good, stack):
    bomb = png_header_only(d / "bomb.png", 30000, 30000)
    argv, _ = animate_row(d, bomb, good.driving)
    return fails(argv, bomb, "megapixels")


@case("picture-1x1")
def _(d, good, stack):
    argv, output = animate_row(d, make_picture(d / "dot.png", (1, 1)), good.driving)
    return works(argv, output)


@case("picture-16bit-rgba")
def _(d, good, stack):
    picture = ffmpeg(
        d / "deep.png", "-f", "lavfi", "-i", "testsrc2=size=48x40", "-frames:v", "1",
        "-pix_fmt", "rgba64be",
    )  # fmt: skip
    argv, output = animate_row(d, picture, good.driving)
    return works(argv, output)


@case("picture-cmyk-jpeg")
def _(d, good, stack):
    argv, output = animate_row(d, make_picture(d / "print.jpg", mode="CMYK"), good.driving)
    return works(argv, output)


@case("picture-animated-gif")
def _(d, good, stack):
    gif = ffmpeg(
        d / "anim.gif", "-f", "lavfi", "-i", "testsrc2=size=40x40:rate=5", "-frames:v", "3"
    )
    argv, output = animate_row(d, gif, good.driving)
    return works(argv, output)


for _suffix, _mode in [
    ("webp", "RGB"),
    ("bmp", "RGB"),
    ("tiff", "RGB"),
    ("png", "L"),
    ("png", "P"),
]:

    def _format_case(d, good, stack, suffix=_suffix, mode=_mode):
        picture = make_picture(d / f"picture-{mode}.{suffix}", (70, 60), mode=mode)
        argv, output = animate_row(d, picture, good.driving)
        return works(argv, output)

    CASES[f"picture-{_suffix}-{_mode}"] = _format_case


@case("picture-camera-jpeg-exif-rotated")
def _(d, good, stack):
    from PIL import Image

    picture = make_picture(d / "camera.jpg", (1200, 1600))
    with Image.open(picture) as image:
        exif = image.getexif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
        image.save(picture, exif=exif)
    argv, output = animate_row(d, picture, good.driving)
    return works(argv, output)


# --------------------------------------------------------------------------- videos


@case("video-missing")
def _(d, good, stack):
    argv, _ = animate_row(d, good.source, d / "nowhere.mp4")
    return fails(argv, d / "nowhere.mp4")


@case("video-empty")
def _(d, good, stack):
    (d / "empty.mp4").touch()
    argv, _ = animate_row(d, good.source, d / "empty.mp4")
    return fails(argv, d / "empty.mp4", "empty")


@case("video-random-bytes")
def _(d, good, stack):
    argv, _ = animate_row(d, good.source, random_bytes(d / "noise.mp4", 20000))
    return fails(argv, d / "noise.mp4")


@case("video-audio-only")
def _(d, good, stack):
    tone = ffmpeg(d / "tone.mp4", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac")
    argv, _ = animate_row(d, good.source, tone)
    return fails(argv, tone, "audio")


@case("video-zero-decodable-frames")
def _(d, good, stack):
    # index at the front, then the picture data overwritten: packets listed, none decodes
    clip = make_clip(d / "clip.mp4", frames=10, extra=("-movflags", "+faststart"))
    data = bytearray(clip.read_bytes())
    mdat = data.find(b"mdat") + 4
    data[mdat:] = b"\0" * (len(data) - mdat)
    broken = d / "blank.mp4"
    broken.write_bytes(bytes(data))
    clip.unlink()
    argv, _ = animate_row(d, good.source, broken)
    return fails(argv, broken)


@case("video-truncated-tail")
def _(d, good, stack):
    clip = make_clip(d / "whole.mp4", frames=40, extra=("-g", "5", "-movflags", "+faststart"))
    cut = d / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    clip.unlink()
    argv, output = animate_row(d, good.source, cut)

    def verify() -> None:
        # every frame that decodes is animated, and there were some but not all 40
        assert output.is_file() and output.stat().st_size > 0
        kept = frame_count(output)
        assert 0 < kept < 40, kept
        assert kept == frame_count(cut)

    return Row(argv, outputs=(output,), check=verify)


@case("video-1x1")
def _(d, good, stack):
    argv, output = animate_row(
        d,
        good.source,
        make_clip(d / "dot.mp4", size="2x2", extra=("-vf", "scale=1:1", "-pix_fmt", "yuv444p")),
    )
    return works(argv, output)


@case("video-4000x3000")
def _(d, good, stack):
    big = make_clip(d / "big.mp4", frames=1, size="4000x3000", extra=("-preset", "ultrafast"))
    argv, output = animate_row(d, good.source, big)
    return works(argv, output, frames=1)


@case("video-rotated-phone")
def _(d, good, stack):
    plain = make_clip(d / "plain.mp4", frames=10, size="64x48")
    rotated = ffmpeg(d / "rotated.mp4", "-display_rotation", "90", "-i", str(plain), "-c", "copy")
    plain.unlink()
    argv, output = animate_row(d, good.source, rotated)
    return works(argv, output)


@case("video-variable-frame-rate")
def _(d, good, stack):
    # 20 frames: 10 at 0.1 s, then 10 at 0.2 s (3 s in all); read at the average rate
    vfr = ffmpeg(
        d / "vfr.mp4", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-frames:v", "20",
        "-vf", "setpts='if(lt(N,10),N,2*N-10)/10/TB'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-pix_fmt", "yuv420p",
    )  # fmt: skip
    argv, output = animate_row(d, good.source, vfr)

    def verify() -> None:
        assert output.is_file()
        # constant rate at the average: about 20 frames over 3 s -> the output plays 3 s
        assert abs(stream_duration(output, "v") - 3.0) < 0.4
        assert frame_count(output) >= 18

    return Row(argv, outputs=(output,), check=verify)


def _audio_row(d: Path, good: Inputs, audio_seconds: float) -> Row:
    driving = make_clip(
        d / "talk.mp4",
        frames=20,
        fps="10",
        audio_seconds=audio_seconds,
    )
    argv, output = animate_row(d, good.source, driving)

    def verify() -> None:
        assert "Audio:" in stream_summary(output)
        # audio and video of the result agree within one frame (0.1 s)
        assert abs(stream_duration(output, "a") - stream_duration(output, "v")) <= 0.1 + 1e-3

    return works(argv, output, frames=20, check=verify)


@case("video-audio-longer-than-frames")
def _(d, good, stack):
    return _audio_row(d, good, 3.5)


@case("video-audio-shorter-than-frames")
def _(d, good, stack):
    return _audio_row(d, good, 0.8)


# --------------------------------------------------------------------------- audio (fomm mux)


@case("mux-audio-random-bytes")
def _(d, good, stack):
    noise = random_bytes(d / "sound.m4a")
    output = d / "out" / "muxed.mp4"
    return fails(["mux", good.driving, "--audio-from", noise, "-o", output], noise)


@case("mux-audio-from-silent-video")
def _(d, good, stack):
    silent = make_clip(d / "silent.mp4", frames=10)
    output = d / "out" / "muxed.mp4"
    row = works(["mux", good.driving, "--audio-from", silent, "-o", output], output)
    return row


@case("mux-video-empty")
def _(d, good, stack):
    (d / "empty.mp4").touch()
    output = d / "out" / "muxed.mp4"
    return fails(
        ["mux", d / "empty.mp4", "--audio-from", good.driving, "-o", output], d / "empty.mp4"
    )


# --------------------------------------------------------------------------- checkpoints


def _tiny_state() -> dict:
    import torch

    return torch.load(TINY_KIT / "model.pth", map_location="cpu", weights_only=True)


def _ckpt_row(d: Path, good: Inputs, checkpoint: Path, *mentions: str, config: bool = False) -> Row:
    argv, _ = animate_row(d, good.source, good.driving)
    argv[argv.index("--checkpoint") + 1] = str(checkpoint)
    if not config:
        at = argv.index("--config")
        del argv[at : at + 2]
    return fails(argv, checkpoint, *mentions)


@case("checkpoint-missing")
def _(d, good, stack):
    return _ckpt_row(d, good, d / "nowhere.pth", "not found")


@case("checkpoint-empty")
def _(d, good, stack):
    (d / "empty.pth").touch()
    return _ckpt_row(d, good, d / "empty.pth", "empty")


@case("checkpoint-not-a-torch-file")
def _(d, good, stack):
    return _ckpt_row(d, good, random_bytes(d / "noise.pth.tar"))


@case("checkpoint-truncated-mid-file")
def _(d, good, stack):
    data = (TINY_KIT / "model.pth").read_bytes()
    cut = d / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    return _ckpt_row(d, good, cut)


class _CreatesFile:
    """Unpickling this opens (creates) a file: what a hostile checkpoint could do."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@case("checkpoint-pickle-would-create-a-file")
def _(d, good, stack):
    import torch

    # proof that the payload is live: plain unpickling does create its file
    proof = d / "proof-of-payload"
    pickle.loads(pickle.dumps(_CreatesFile(proof))).close()
    assert proof.exists()
    proof.unlink()
    marker = d / "pwned-by-checkpoint"
    state = _tiny_state()
    state["generator"]["first.conv.weight"] = _CreatesFile(marker)
    torch.save(state, d / "hostile.pth")
    row = _ckpt_row(d, good, d / "hostile.pth", "refused")
    row.spared = (marker,)
    return row


@case("checkpoint-legacy-pickle-would-create-a-file")
def _(d, good, stack):
    marker = d / "pwned-by-legacy"
    with open(d / "legacy.pth", "wb") as handle:
        pickle.dump({"generator": _CreatesFile(marker), "kp_detector": {}}, handle)
    row = _ckpt_row(d, good, d / "legacy.pth")
    row.spared = (marker,)
    return row


@case("checkpoint-nan-weights")
def _(d, good, stack):
    import torch

    state = _tiny_state()
    weight = state["generator"]["final.weight"]
    weight.view(-1)[: weight.numel() // 2] = float("nan")
    torch.save(state, d / "nan.pth")
    return _ckpt_row(d, good, d / "nan.pth", "nan")


@case("checkpoint-other-configuration-than-yaml")
def _(d, good, stack):
    other = yaml.safe_load((TINY_KIT / "config.yaml").read_text())
    other["model_params"]["common_params"]["num_kp"] = 7
    (d / "other.yaml").write_text(yaml.safe_dump(other))
    argv, _ = animate_row(d, good.source, good.driving)
    argv[argv.index("--config") + 1] = str(d / "other.yaml")
    return fails(argv, TINY_KIT / "model.pth", "other.yaml")


@case("config-yaml-unreadable")
def _(d, good, stack):
    (d / "broken.yaml").write_text("model_params: [unclosed\n  - : :\n")
    argv, _ = animate_row(d, good.source, good.driving)
    argv[argv.index("--config") + 1] = str(d / "broken.yaml")
    return fails(argv, d / "broken.yaml")


# --------------------------------------------------------------------------- options, outputs


@case("best-frame-out-of-range")
def _(d, good, stack):
    argv, _ = animate_row(d, good.source, good.driving, "--best-frame", "99")
    return fails(argv, good.driving, "99")


@case("output-folder-not-writable")
def _(d, good, stack):
    (d / "a-file").write_text("not a folder")
    output = d / "a-file" / "result.mp4"
    argv = animate_argv(good.source, good.driving, output)
    return fails(argv, d / "a-file")


@case("output-is-an-existing-folder-animate")
def _(d, good, stack):
    (d / "out").mkdir()
    return fails(animate_argv(good.source, good.driving, d / "out"), d / "out", "folder")


@case("output-is-an-existing-folder-mux")
def _(d, good, stack):
    (d / "out").mkdir()
    return fails(
        ["mux", good.driving, "--audio-from", good.driving, "-o", d / "out"], d / "out", "folder"
    )


@case("output-is-an-existing-folder-crop")
def _(d, good, stack):
    (d / "out").mkdir()
    return fails(
        ["crop", good.driving, "-o", d / "out", "--size", "64", "--no-face"], d / "out", "folder"
    )


@case("output-is-the-source-picture")
def _(d, good, stack):
    picture = d / "face.png"
    shutil.copy(good.source, picture)  # inside the row's folder: a rewrite counts as new
    return fails(animate_argv(picture, good.driving, picture), picture, "also an input")


@case("output-is-the-driving-video-through-a-link")
def _(d, good, stack):
    driving, link = d / "talk.mp4", d / "talk-link.mp4"
    shutil.copy(good.driving, driving)
    link.symlink_to(driving.name)
    return fails(animate_argv(good.source, driving, link), link, "also an input")


@case("output-named-as-a-picture")
def _(d, good, stack):
    output = d / "out" / "result.png"
    return fails(animate_argv(good.source, good.driving, output), output, ".mp4")


@case("output-is-the-input-crop")
def _(d, good, stack):
    picture = d / "face.png"
    shutil.copy(good.source, picture)
    return fails(["crop", picture, "-o", picture, "--size", "64", "--no-face"], picture, "also an input")


@case("output-is-the-driving-video-mosaic")
def _(d, good, stack):
    driving = d / "talk.mp4"
    shutil.copy(good.driving, driving)
    argv = ["mosaic", driving, "-o", driving, "--pair", good.source, good.driving]
    return fails(argv, driving, "also an input")


@case("output-on-full-disk-animate")
def _(d, good, stack):
    disk = stack.enter_context(full_tmpfs(d / "disk"))
    output = disk / "result.mp4"
    return fails(animate_argv(good.source, good.driving, output), output, "no space")


@case("output-on-full-disk-mux")
def _(d, good, stack):
    disk = stack.enter_context(full_tmpfs(d / "disk"))
    output = disk / "muxed.mp4"
    return fails(
        ["mux", good.driving, "--audio-from", good.driving, "-o", output], output, "no space"
    )


@case("output-on-full-disk-crop-picture")
def _(d, good, stack):
    disk = stack.enter_context(full_tmpfs(d / "disk"))
    output = disk / "face.png"
    return fails(
        ["crop", good.source, "-o", output, "--size", "64", "--no-face"], output, "no space"
    )


@case("output-on-full-disk-crop")
def _(d, good, stack):
    disk = stack.enter_context(full_tmpfs(d / "disk"))
    output = disk / "cropped.mp4"
    return fails(
        ["crop", good.driving, "-o", output, "--size", "64", "--no-face"], output, "no space"
    )


# --------------------------------------------------------------------------- file names


@case("names-shell-metacharacters")
def _(d, good, stack):
    source = shutil.copy(good.source, d / "$(touch pwned).png")
    driving = shutil.copy(good.driving, d / "a'b;c.mp4")
    output = d / "out" / "$(touch pwned) a'b;c.mp4"
    row = works(animate_argv(Path(source), Path(driving), output), output)
    row.spared = (d / "pwned", Path.cwd() / "pwned", d / "out" / "pwned")
    return row


@case("names-non-ascii-and-spaces")
def _(d, good, stack):
    source = shutil.copy(good.source, d / "Bild mit Ümläut 名前.png")
    driving = shutil.copy(good.driving, d / "vidéo d'entraînement.mp4")
    output = d / "out é" / "résultat 名.mp4"
    return works(animate_argv(Path(source), Path(driving), output), output)


@case("crop-names-shell-metacharacters")
def _(d, good, stack):
    driving = Path(shutil.copy(good.driving, d / "a'b;c $(touch pwned).mp4"))
    output = d / "out" / "cropped $(touch pwned).mp4"
    row = works(["crop", driving, "-o", output, "--size", "64", "--no-face"], output)
    row.spared = (d / "pwned", Path.cwd() / "pwned")
    return row


@case("crop-picture-random-bytes")
def _(d, good, stack):
    noise = random_bytes(d / "noise.jpg")
    return fails(["crop", noise, "-o", d / "out" / "face.png", "--size", "64"], noise)


# --------------------------------------------------------------------------- training configs


def _train_row(
    d: Path, change: Callable[[dict], None] | None, *extra: str
) -> tuple[list[str], Path]:
    config = yaml.safe_load((REPO / "configs" / "puppets-64.yaml").read_text())
    if change is not None:
        change(config)
    (d / "train.yaml").write_text(yaml.safe_dump(config))
    argv = ["train", "--config", str(d / "train.yaml"), "--data", "synthetic",
            "--out", str(d / "out" / "trained.pth"), "--max-minutes", "0.05", "--device", "cpu",
            *extra]  # fmt: skip
    return argv, d / "train.yaml"


@case("train-config-unknown-key")
def _(d, good, stack):
    argv, config = _train_row(d, lambda c: c["train_params"].update(colour="blue"))
    return fails(argv, config, "colour")


@case("train-config-wrong-type")
def _(d, good, stack):
    argv, config = _train_row(d, lambda c: c["train_params"].update(num_epochs="ten"))
    return fails(argv, config, "num_epochs")


# --------------------------------------------------------------------------- workflow configs


def _workflow_dir(
    d: Path, good: Inputs, config_changes: dict, pictures: dict[str, Path] | None = None
) -> Path:
    work = d / "work"
    (work / "examples" / "pictures").mkdir(parents=True)
    (work / "examples" / "driving").mkdir(parents=True)
    for name, picture in (pictures or {"face.png": good.source}).items():
        shutil.copy(picture, work / "examples" / "pictures" / name)
    shutil.copy(good.driving, work / "examples" / "driving" / "talk.mp4")
    config = {
        "crop": {"size": 64, "face": False},
        "model": "tiny",
        "checkpoints": {
            "tiny": {"path": str(TINY_KIT / "model.pth"), "config": str(TINY_KIT / "config.yaml")}
        },
        "animate": {"device": "cpu", "batch_size": 4},
        "mosaic": {"tile": 64},
    }
    for key, value in config_changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return work


@case("workflow-config-unknown-key")
def _(d, good, stack):
    work = _workflow_dir(d, good, {"animate": {"colour": "blue"}})
    return Row([], fails_naming="colour", snakemake_cwd=work)


@case("workflow-config-wrong-type")
def _(d, good, stack):
    work = _workflow_dir(d, good, {"animate": {"batch_size": "eight"}})
    return Row([], fails_naming="batch_size", snakemake_cwd=work)


@case("workflow-sample-sheet-missing-file")
def _(d, good, stack):
    work = _workflow_dir(d, good, {})
    (work / "pictures.tsv").write_text(
        "path\tname\nexamples/pictures/face.png\tface\nexamples/pictures/gone.png\tgone\n"
    )
    changed = yaml.safe_load((work / "config.yaml").read_text())
    changed["pictures"] = {"sheet": "pictures.tsv"}
    (work / "config.yaml").write_text(yaml.safe_dump(changed))
    return Row([], fails_naming="examples/pictures/gone.png", snakemake_cwd=work)


@case("workflow-results-on-full-disk")
def _(d, good, stack):
    work = _workflow_dir(d, good, {})
    stack.enter_context(full_tmpfs(work / "results"))

    def verify_log(text: str) -> None:
        log = (work / "logs" / "crop" / "pictures" / "face.log").read_text()
        errors = [line for line in log.splitlines() if line.startswith("fomm: error:")]
        assert len(errors) == 1 and "results/_pictures/face.png" in errors[0], log
        assert "no space" in errors[0].lower(), log

    return Row(
        ["results/_pictures/face.png"],
        fails_naming="logs/crop/pictures/face.log",
        snakemake_cwd=work,
        check=verify_log,
    )


@case("workflow-names-collide-after-sanitising")
def _(d, good, stack):
    pictures = {
        "a b.png": good.source,
        "a_b.png": good.source,
        "A-B.jpg": good.source,
        "a;b.PNG": good.source,
    }
    work = _workflow_dir(d, good, {}, pictures)

    def verify_names(listing: str) -> None:
        import re

        names = set(re.findall(r"results/talk/([A-Za-z0-9_]+)\.mp4", listing)) - {"mosaic"}
        # four results, distinct even on a case-insensitive file system (laptop after rsync)
        assert len({name.lower() for name in names}) == 4, (
            f"expected 4 results, got {sorted(names)}"
        )

    row = Row([], snakemake_cwd=work)
    row.check = verify_names  # type: ignore[assignment]
    return row


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_kit) -> Inputs:
    folder = tmp_path_factory.mktemp("good")
    return Inputs(
        source=make_picture(folder / "source.png", (90, 80)),
        driving=make_clip(folder / "driving.mp4", frames=GOOD_FRAMES, fps="10", audio_seconds=1.0),
    )


def run_snakemake(work: Path, targets: list[str]) -> subprocess.CompletedProcess:
    """snakemake in work: a dry run (-n) without targets, else a real run of the targets."""
    mode = targets if targets else ["-n"]
    return subprocess.run(
        ["timeout", "-k", "5", "120", sys.executable, "-m", "snakemake", "--snakefile",
         str(REPO / "Snakefile"), "--cores", "1", *mode],
        cwd=work, capture_output=True, text=True, env=fomm_env(), check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, inputs, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    with contextlib.ExitStack() as stack:
        row = CASES[name](folder, inputs, stack)
        before = file_listing(tmp_path)
        if row.snakemake_cwd is not None:
            result = run_snakemake(row.snakemake_cwd, row.argv)
            text = result.stdout + result.stderr
            if row.fails_naming is not None:
                assert result.returncode != 0, text
                assert row.fails_naming in text, text
                assert "Traceback" not in text, text
            else:
                assert result.returncode == 0, text
            if row.check is not None:
                row.check(text)  # type: ignore[misc]
            results = row.snakemake_cwd / "results"
            left = [
                p for p in results.rglob("*") if p.is_file() and not p.name.startswith("filler")
            ]
            assert not left, f"left under results/: {left}"
            return
        cwd_before = set(os.listdir(Path.cwd()))
        code, stderr = run_cli(row.argv)
        created = new_files(before, file_listing(tmp_path))
        if row.fails_naming is not None:
            assert_one_error_line(code, stderr, row.fails_naming)
            line = next(x for x in stderr.splitlines() if x.startswith("fomm: error:"))
            for word in row.mentions:
                assert word in line.lower(), f"{word!r} not in: {line}"
            assert not created, f"left behind: {created}"
        else:
            assert code == 0, stderr
            expected = {str(path.relative_to(tmp_path)) for path in row.outputs}
            assert set(created) == expected, (
                f"created {sorted(created)}, expected {sorted(expected)}"
            )
            if row.check is not None:
                row.check()
        for path in row.spared:
            assert not path.exists(), f"{path} was created: something ran that should not have"
        assert set(os.listdir(Path.cwd())) == cwd_before, "files appeared in the working folder"
