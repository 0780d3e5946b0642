"""SIGKILL in the middle of the work, then run again: complete results, nothing redone.

1. `fomm animate` killed (with its ffmpeg children, as a SLURM job's cgroup would be)
   while it writes: no file looking finished is left, and the rerun writes a complete
   video with the driving video's frame count.
2. A whole `snakemake --profile profiles/local` run killed in the middle of a fan-out of
   three pairs (inputs named `$(touch pwned).png` and `a'b;c.mp4` on purpose): after
   `snakemake --unlock` the same command completes every output, and results that were
   complete before the kill are not redone.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from faults_support import (
    REPO,
    TINY_KIT,
    animate_argv,
    assert_valid_video,
    file_listing,
    fomm_env,
    kill_group,
    make_clip,
    make_picture,
    run_cli,
    stream_summary,
)

DRIVING_FRAMES = 750  # 30 s at 25 fps: the tiny model needs several seconds, time to kill


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def visible_files(folder: Path) -> list[str]:
    """Files a user or a rule would take for results: not hidden."""
    return sorted(name for name in file_listing(folder) if not Path(name).name.startswith("."))


@pytest.fixture(scope="module")
def long_inputs(tmp_path_factory, tiny_kit) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("long-inputs")
    source = make_picture(folder / "source.png", (80, 80))
    driving = make_clip(
        folder / "long.mp4", frames=DRIVING_FRAMES, fps="25", size="64x64", audio_seconds=30
    )
    return source, driving


@pytest.fixture(scope="module")
def stop_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A clip long enough (2 min) that no run can finish between noticing its output and the
    signal, however fast the engine gets; the run is stopped early, so it costs no more."""
    folder = tmp_path_factory.mktemp("stop-inputs")
    source = make_picture(folder / "source.png", (80, 80))
    driving = make_clip(folder / "long.mp4", frames=3000, fps="25", size="64x64", audio_seconds=120)
    return source, driving


def start_and_wait_for_output(
    argv: list[str], out: Path, min_bytes: int = 2000
) -> subprocess.Popen:
    """Start `fomm ARGV` in its own session; return once a partial output holds more than
    `min_bytes` (-1: once one exists; ffmpeg's 32 KB write buffer can hold back the first
    bytes of a small, static video until late in the run)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fomm", *argv],
        env=fomm_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def writing() -> bool:
        listing = file_listing(out) if out.exists() else {}
        return any(size > min_bytes for size, _ in listing.values())

    try:
        wait_for(writing, 120, "the partial video to grow")
    except BaseException:
        kill_group(process)
        raise
    return process


@pytest.fixture(scope="module")
def killed_animation(tmp_path_factory, long_inputs):
    """(output folder, output path, leftovers right after the kill, rerun's exit, stderr)."""
    source, driving = long_inputs
    out = tmp_path_factory.mktemp("killed") / "out"
    output = out / "result.mp4"
    argv = animate_argv(source, driving, output, "--batch-size", "4")
    process = start_and_wait_for_output(argv, out)
    kill_group(process)
    assert process.returncode == -signal.SIGKILL
    leftovers = file_listing(out)
    code, stderr = run_cli(argv)
    return out, output, leftovers, code, stderr


def test_killed_animation_leaves_nothing_that_looks_finished(killed_animation):
    _, output, leftovers, _, _ = killed_animation
    assert leftovers, "the kill came before anything was written: the test proves nothing"
    for name in leftovers:
        assert Path(name).name.startswith("."), f"{name} left by a killed run looks finished"
    assert output.name not in leftovers


def test_rerun_after_kill_writes_the_complete_video(killed_animation):
    out, output, _, code, stderr = killed_animation
    assert code == 0, stderr
    assert_valid_video(output, DRIVING_FRAMES)
    assert "Audio:" in stream_summary(output)
    assert visible_files(out) == [output.name]


def test_rerun_after_kill_removes_stale_partials(killed_animation):
    out, _, leftovers, _, _ = killed_animation
    stale = [name for name in leftovers if (out / name).exists()]
    assert not stale, f"stale partial files of the killed run are still there: {stale}"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopped_animation_cleans_up(stop, stop_inputs, tmp_path):
    """SIGTERM (SLURM's time limit and scancel, `timeout`) or SIGINT (Ctrl-C) to the
    process group: fomm stops promptly, exits non-zero and removes its partial files."""
    source, driving = stop_inputs
    out = tmp_path / "out"
    process = start_and_wait_for_output(
        animate_argv(source, driving, out / "result.mp4", "--batch-size", "4"), out, min_bytes=-1
    )
    os.killpg(process.pid, stop)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        kill_group(process)
        pytest.fail(f"fomm did not stop within 20 s of {stop.name}")
    assert process.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert file_listing(out) == {}, f"left behind after {stop.name}: {file_listing(out)}"


# --------------------------------------------------------------------------- snakemake


PICTURE_NAMES = ["$(touch pwned).png", "alice.png", "bob smith.jpg"]
DRIVING_NAME = "a'b;c.mp4"
WORKFLOW_FRAMES = 20


def snakemake_command(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--profile",
        str(REPO / "profiles" / "local"),
        "--cores",
        "2",
        *extra,
    ]


def incomplete_outputs(workdir: Path) -> set[str]:
    """Outputs snakemake marks as being written (.snakemake/incomplete: urlsafe base64 of
    the path, split into "@"-prefixed folders when longer than a file name may be)."""
    marks = workdir / ".snakemake" / "incomplete"
    names = set()
    for mark in marks.rglob("*") if marks.is_dir() else []:
        if mark.is_file():
            encoded = "".join(part.lstrip("@") for part in mark.relative_to(marks).parts)
            with contextlib.suppress(ValueError):
                names.add(base64.urlsafe_b64decode(encoded).decode())
    return names


def complete_results(workdir: Path) -> dict[Path, int]:
    """Animated results that exist and that snakemake no longer marks as incomplete."""
    marked = incomplete_outputs(workdir)
    return {
        path: mtime
        for path, mtime in result_files(workdir).items()
        if path.name != "mosaic.mp4" and str(path.relative_to(workdir)) not in marked
    }


def result_files(workdir: Path) -> dict[Path, int]:
    results = workdir / "results"
    if not results.is_dir():
        return {}
    return {
        path: path.stat().st_mtime_ns
        for path in results.rglob("*.mp4")
        if not path.name.startswith(".")
    }


def jobs_run(output: str) -> dict[str, int]:
    """Job counts per rule from snakemake's 'Job stats' table."""
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def killed_workflow(tmp_path_factory, tiny_kit):
    workdir = tmp_path_factory.mktemp("workflow") / "run"
    pictures = workdir / "examples" / "pictures"
    driving = workdir / "examples" / "driving"
    pictures.mkdir(parents=True)
    driving.mkdir(parents=True)
    for index, name in enumerate(PICTURE_NAMES):
        make_picture(pictures / name, (80 + 8 * index, 80))
    make_clip(driving / DRIVING_NAME, frames=WORKFLOW_FRAMES, fps="10", audio_seconds=2.0)
    config = {
        "crop": {"size": 64, "face": False},
        "model": "tiny",
        "checkpoints": {
            "tiny": {"path": str(TINY_KIT / "model.pth"), "config": str(TINY_KIT / "config.yaml")}
        },
        "animate": {"device": "cpu", "batch_size": 4},
        "mosaic": {"tile": 64},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    home_before = sorted(os.listdir(Path.home()))

    first = subprocess.Popen(
        snakemake_command(),
        cwd=workdir,
        env=fomm_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    complete_at_kill: dict[Path, int] = {}
    try:

        def some_but_not_all_results() -> bool:
            animated = [p for p in result_files(workdir) if p.name != "mosaic.mp4"]
            return bool(complete_results(workdir)) and len(animated) < len(PICTURE_NAMES)

        wait_for(some_but_not_all_results, 240, "the first of three results")
    finally:
        kill_group(first)
    complete_at_kill = complete_results(workdir)

    unlock = subprocess.run(
        snakemake_command("--unlock"),
        check=False,
        cwd=workdir,
        env=fomm_env(),
        capture_output=True,
        text=True,
    )
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    rerun = subprocess.run(
        ["timeout", "-k", "5", "300", *snakemake_command()],
        cwd=workdir,
        env=fomm_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    return workdir, complete_at_kill, rerun, home_before


@pytest.mark.slow
def test_killed_workflow_completes_on_rerun(killed_workflow):
    workdir, _, rerun, _ = killed_workflow
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, output[-4000:]
    results = [p for p in result_files(workdir) if p.name != "mosaic.mp4"]
    assert len(results) == len(PICTURE_NAMES), sorted(map(str, results))
    for path in [*results, *(workdir / "results").rglob("mosaic.mp4")]:
        assert_valid_video(path, WORKFLOW_FRAMES)
        assert "Audio:" in stream_summary(path), path
    partials = [
        name for name in file_listing(workdir / "results") if Path(name).name.startswith(".")
    ]
    assert not partials, partials


@pytest.mark.slow
def test_killed_workflow_redoes_nothing_complete(killed_workflow):
    _, complete_at_kill, rerun, _ = killed_workflow
    assert complete_at_kill, "nothing was complete at the kill: the test proves nothing"
    for path, mtime in complete_at_kill.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was redone"
    animated_again = jobs_run(rerun.stdout + rerun.stderr).get("animate", 0)
    assert animated_again <= len(PICTURE_NAMES) - len(complete_at_kill)


@pytest.mark.slow
def test_workflow_with_shell_metacharacter_names_has_no_side_effect(killed_workflow):
    workdir, _, rerun, home_before = killed_workflow
    assert rerun.returncode == 0
    assert not list(workdir.rglob("pwned")), "a file name was run as a shell command"
    assert not (Path.cwd() / "pwned").exists()
    assert not (Path.home() / "pwned").exists()
    assert sorted(os.listdir(Path.home())) == home_before
