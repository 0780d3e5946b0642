"""SLURM faults on a real local SLURM (../shared/tools/local-slurm-up), profiles/slurm.

The workflow runs with the project's SLURM profile (its `retries`, status command and
apptainer settings), with the cluster-specific values pointed at this machine and the
scratch staging left out (tests/workflow covers staging). Faults are injected by a
`fomm` wrapper placed first on PATH in the test only (SLURM passes PATH to the jobs with
`--export=ALL`); production code has no test hook:

* FOMM_TEST_FAIL_ONCE=<marker>:<text>: the first `fomm animate` whose output path
  contains <text> exits 1 and creates <marker>; later attempts run normally.
* FOMM_TEST_HANG_ONCE=<marker>:<text>: the same, but the first attempt hangs (sleeps),
  so SLURM ends it at the rule's time limit.
* FOMM_TEST_HANG=<text>: every matching `fomm animate` hangs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from faults_support import (
    REPO,
    SHARED,
    TINY_KIT,
    VENV_BIN,
    assert_valid_video,
    make_clip,
    make_picture,
)

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

WRAPPER = """#!/bin/bash
# test-only fault injection in front of the real fomm (see test_slurm_faults.py)
real={real}
if [ "$1" = animate ]; then
    output=""
    previous=""
    for arg in "$@"; do
        [ "$previous" = -o ] && output="$arg"
        previous="$arg"
    done
    if [ -n "${{FOMM_TEST_FAIL_ONCE:-}}" ]; then
        marker="${{FOMM_TEST_FAIL_ONCE%%:*}}"; text="${{FOMM_TEST_FAIL_ONCE#*:}}"
        if [[ "$output" == *"$text"* ]] && [ ! -e "$marker" ]; then
            touch "$marker"
            echo "fomm: error: injected failure of the first attempt" >&2
            exit 1
        fi
    fi
    if [ -n "${{FOMM_TEST_HANG_ONCE:-}}" ]; then
        marker="${{FOMM_TEST_HANG_ONCE%%:*}}"; text="${{FOMM_TEST_HANG_ONCE#*:}}"
        if [[ "$output" == *"$text"* ]] && [ ! -e "$marker" ]; then
            touch "$marker"
            exec sleep 600
        fi
    fi
    if [ -n "${{FOMM_TEST_HANG:-}}" ] && [[ "$output" == *"$FOMM_TEST_HANG"* ]]; then
        exec sleep 600
    fi
fi
exec "$real" "$@"
"""

FRAMES = 10
ACTIVE_STATES = "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED"


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("starting a local SLURM needs root")
    up = SHARED / "tools" / "local-slurm-up"
    if not up.is_file():
        pytest.skip(f"{up} not found")
    result = subprocess.run(["bash", str(up)], capture_output=True, text=True, check=False)
    if result.returncode != 0 or "UP" not in result.stdout:
        pytest.skip(
            f"local SLURM could not be started: {result.stdout[-500:]}{result.stderr[-500:]}"
        )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def fault_bin(tmp_path_factory) -> Path:
    """A folder with the fomm wrapper and the apptainer stand-in, to put first on PATH."""
    folder = tmp_path_factory.mktemp("fault-bin")
    wrapper = folder / "fomm"
    wrapper.write_text(WRAPPER.format(real=VENV_BIN / "fomm"))
    wrapper.chmod(0o755)
    (folder / "apptainer").symlink_to(SHARED / "tools" / "apptainer-standin")
    return folder


def write_profile(folder: Path) -> Path:
    """profiles/slurm with this machine's values in its marked place, no staging, fast polls."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    for key in (
        "default-storage-provider",
        "default-storage-prefix",
        "remote-job-local-storage-prefix",
        "shared-fs-usage",
    ):
        profile.pop(key, None)
    profile["apptainer-args"] = "--nv"
    profile["default-resources"] = {"slurm_partition": "cpu", "mem_mb": 200, "runtime": 10}
    profile["set-resources"] = {
        "animate": {"slurm_partition": "gpu", "mem_mb": 500, "runtime": 1, "cpus_per_gpu": 1}
    }
    profile["seconds-between-status-checks"] = 1
    profile["slurm-init-seconds-before-status-checks"] = 1
    profile["latency-wait"] = 5
    profile["jobs"] = 4
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def make_workdir(base: Path, pictures: list[str]) -> Path:
    work = base / "run"
    (work / "examples" / "pictures").mkdir(parents=True)
    (work / "examples" / "driving").mkdir(parents=True)
    for index, name in enumerate(pictures):
        make_picture(work / "examples" / "pictures" / f"{name}.png", (72 + 8 * index, 72))
    make_clip(work / "examples" / "driving" / "talk.mp4", frames=FRAMES, audio_seconds=1.0)
    config = {
        "crop": {"size": 64, "face": False},
        "model": "tiny",
        "checkpoints": {
            "tiny": {"path": str(TINY_KIT / "model.pth"), "config": str(TINY_KIT / "config.yaml")}
        },
        "animate": {"device": "cpu", "batch_size": 4},
        "mosaic": {"tile": 64},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    # the crops already made (newer than their inputs), so only the GPU jobs run under SLURM
    (work / "results" / "_pictures").mkdir(parents=True)
    (work / "work" / "driving").mkdir(parents=True)
    for name in pictures:
        make_picture(work / "results" / "_pictures" / f"{name}.png", (64, 64))
    make_clip(work / "work" / "driving" / "talk.mp4", frames=FRAMES, audio_seconds=1.0)
    return work


def snakemake_args(work: Path, profile: Path, targets: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--profile", str(profile), *targets,
    ]  # fmt: skip


def job_env(fault_bin: Path, work: Path, **faults: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PATH"] = os.pathsep.join([str(fault_bin), str(VENV_BIN), env.get("PATH", "")])
    env["APPTAINER_STANDIN_LOG"] = str(work / "apptainer-standin.log")
    env.update(faults)
    return env


def submitted(work: Path) -> bool:
    """Whether snakemake's log says it submitted a job to SLURM."""
    return any(
        "has been submitted with SLURM jobid" in log.read_text(errors="replace")
        for log in (work / ".snakemake" / "log").glob("*.snakemake.log")
    )


def cancel(jobs: list[str]) -> None:
    """scancel jobs a failed test left behind (lines of active_jobs)."""
    if jobs:
        subprocess.run(["scancel", *[job.split("|")[0] for job in jobs]], check=False)


def jobs_submitted(output: str) -> str:
    """The SLURM log folders of the submitted jobs (one per rule or group)."""
    return " ".join(re.findall(r"slurm_logs/(\S+?)/\d+\.log", output))


def active_jobs(work: Path) -> list[str]:
    """SLURM jobs of this working folder that are not finished."""
    listing = subprocess.run(
        ["squeue", "-h", "-t", ACTIVE_STATES, "-o", "%i|%T|%Z"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return [line for line in listing.splitlines() if line.endswith(f"|{work}")]


def test_failed_attempt_retried_and_time_limit_reported(slurm, fault_bin, tmp_path):
    work = make_workdir(tmp_path, ["flaky", "stuck"])
    profile = write_profile(tmp_path / "profile")
    targets = ["work/silent/talk/flaky.mp4", "work/silent/talk/stuck.mp4"]
    env = job_env(
        fault_bin,
        work,
        FOMM_TEST_FAIL_ONCE=f"{tmp_path}/failed-once:talk/flaky",
        FOMM_TEST_HANG_ONCE=f"{tmp_path}/hung-once:talk/stuck",
    )
    started = time.monotonic()
    result = subprocess.run(
        ["timeout", "-k", "5", "240", *snakemake_args(work, profile, targets)],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    print(f"SLURM retry + time-limit run: {time.monotonic() - started:.0f} s")
    assert (tmp_path / "failed-once").exists() and (tmp_path / "hung-once").exists(), output[-3000:]
    # both pairs succeeded on their second attempt (the profile's retries: 1)
    assert result.returncode == 0, output[-4000:]
    for target in targets:
        assert_valid_video(work / target, FRAMES)
    # the time limit is reported: snakemake's error names the SLURM log of the killed
    # attempt, and that log says why SLURM ended it
    timed_out = [
        path
        for path in (work / ".snakemake" / "slurm_logs").rglob("*.log")
        if "DUE TO TIME LIMIT" in path.read_text(errors="replace")
    ]
    assert len(timed_out) == 1, output[-4000:]
    assert f"log: {timed_out[0]}" in output, output[-4000:]
    assert "crop" not in jobs_submitted(output), "the prepared crops were redone"
    # each pair's first attempt failed and snakemake resubmitted it
    assert output.count("Trying to restart job") == 2, output[-4000:]
    left = active_jobs(work)
    cancel(left)
    assert not left


def test_interrupting_snakemake_cancels_its_slurm_jobs(slurm, fault_bin, tmp_path):
    """Ctrl-C (SIGINT) cancels the run's SLURM jobs. (SIGTERM is snakemake's graceful stop:
    no new jobs, running ones are waited for; documented in README.md, When things go wrong.)"""
    work = make_workdir(tmp_path, ["stuck"])
    profile = write_profile(tmp_path / "profile")
    env = job_env(fault_bin, work, FOMM_TEST_HANG="talk/stuck")
    run = subprocess.Popen(
        snakemake_args(work, profile, ["work/silent/talk/stuck.mp4"]),
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any("|RUNNING|" in job for job in active_jobs(work)) and submitted(work):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the animate job never ran: {active_jobs(work)}")
        time.sleep(3)  # let snakemake finish registering the job it just submitted
        run.send_signal(signal.SIGINT)
        try:
            output, _ = run.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # Seen once in a full suite run: the first Ctrl-C was not acted on for 60 s.
            # A user presses it again; what must hold is that no job outlives the run.
            run.send_signal(signal.SIGINT)
            output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    deadline = time.monotonic() + 30
    while active_jobs(work) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = active_jobs(work)
    cancel(left)
    assert not left, f"jobs left after the interrupt: {left}\n{output[-2000:]}"
    assert not (work / "work" / "silent" / "talk" / "stuck.mp4").exists()


def test_wrapper_passes_through(fault_bin):
    """The hook itself: without fault variables the wrapper is the real fomm."""
    result = subprocess.run(
        [str(fault_bin / "fomm"), "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("fomm ")
    assert shutil.which("fomm", path=str(fault_bin)) == str(fault_bin / "fomm")
