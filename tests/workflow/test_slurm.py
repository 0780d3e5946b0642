"""The SLURM profile on a real single-node SLURM (fake GPUs) with the apptainer stand-in.

Starts SLURM with ../shared/tools/local-slurm-up (root; installs slurm-wlm and munge from
Debian on first use), runs `snakemake --profile` with profiles/slurm, whose cluster-specific
values are replaced by local ones, on 2 pictures x 2 driving videos.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from workflow_support import FRAMES, REPO, make_workdir, run_snakemake, video_facts

PICTURES = ["astronaut", "cat_face"]
DRIVING = ["shake_2", "slide"]


def command_output(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["timeout", "-k", "5", str(timeout), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def local_slurm(shared_dir):
    """A running local SLURM. Left running afterwards: other test folders may share it, and
    ../shared/tools/local-slurm-down stops it."""
    if os.geteuid() != 0:
        pytest.skip("local SLURM needs root (apt-get install, daemons)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and apt-get is not available to install it")
    up = command_output("bash", str(shared_dir / "tools" / "local-slurm-up"), timeout=180)
    if up.returncode != 0:
        reason = f"local SLURM could not be started: {(up.stdout + up.stderr)[-800:]}"
        print(reason)
        pytest.skip(reason)
    print(up.stdout.strip())


def write_test_profile(folder: Path, workdir: Path, scratch: Path) -> Path:
    """profiles/slurm with its marked cluster-specific values set for this machine."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-storage-prefix"] = str(workdir)
    profile["remote-job-local-storage-prefix"] = f"{scratch}/$SLURM_JOB_ID"
    profile["apptainer-args"] = f"--nv --bind {scratch}"
    profile["default-resources"].update(slurm_partition="cpu", mem_mb=500)
    profile["set-resources"]["animate"].update(slurm_partition="gpu", mem_mb=1000, cpus_per_gpu=1)
    # Poll the tiny cluster every second instead of a real cluster's pace.
    profile["slurm-init-seconds-before-status-checks"] = 1
    profile["seconds-between-status-checks"] = 1
    profile["jobs"] = 8
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_profile_runs_each_pair_as_a_gpu_job_in_the_container_on_scratch(
    local_slurm, shared_dir, tmp_path, sample_inputs, tiny_model
):
    config = {
        "crop": {"size": 64, "face": False},
        "model": "tiny",
        "checkpoints": {
            "tiny": {"path": "checkpoints/tiny.pth", "config": "checkpoints/tiny.yaml"}
        },
        "animate": {"device": "cpu", "batch_size": 4},
        "mosaic": {"tile": 64},
        "container": "fomm.sif",
    }
    workdir = make_workdir(tmp_path / "project", sample_inputs, config)
    (workdir / "checkpoints").mkdir()
    shutil.copy(tiny_model / "model.pth", workdir / "checkpoints" / "tiny.pth")
    shutil.copy(tiny_model / "config.yaml", workdir / "checkpoints" / "tiny.yaml")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    profile = write_test_profile(tmp_path / "profile", workdir, scratch)
    standin_bin = tmp_path / "bin"
    standin_bin.mkdir()
    (standin_bin / "apptainer").symlink_to(shared_dir / "tools" / "apptainer-standin")
    standin_log = tmp_path / "apptainer.log"
    env = {
        "PATH": f"{standin_bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
        f"{os.environ['PATH']}",
        "APPTAINER_STANDIN_LOG": str(standin_log),
    }

    started = time.monotonic()
    result = run_snakemake(workdir, "--profile", str(profile), timeout=400, env=env)
    print(f"SLURM run of 2x2 pairs: {time.monotonic() - started:.1f} s")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    # Every output exists under the shared prefix and is a video with sound.
    for driving in DRIVING:
        for name in [*PICTURES, "mosaic"]:
            frames, has_audio, info = video_facts(workdir / "results" / driving / f"{name}.mp4")
            assert frames == FRAMES and has_audio, (driving, name, info)
    assert "4 of 4 pairs animated" in output

    # One sbatch job per pair, each asking SLURM for one GPU on the gpu partition.
    job_logs = sorted((workdir / ".snakemake" / "slurm_logs").glob("group_animate*/*.log"))
    assert len(job_logs) == 4, job_logs
    for job_log in job_logs:
        job = command_output("scontrol", "show", "job", "-o", job_log.stem).stdout
        assert "Partition=gpu" in job, job
        assert re.search(r"TresPerJob=\S*gpu:1\b", job), job
        assert "JobState=COMPLETED" in job, job
    for driving in DRIVING:
        for picture in PICTURES:
            log = (workdir / "logs" / "animate" / driving / f"{picture}.log").read_text()
            assert re.search(r"CUDA_VISIBLE_DEVICES=[01]\n", log), log  # set by SLURM
            # The job read its inputs from node-local scratch, not the shared folder.
            assert re.search(rf"fomm animate {re.escape(str(scratch))}/\d+/fs/", log), log

    # Each animation ran in the container with --nv and the scratch binds.
    calls = [line for line in standin_log.read_text().splitlines() if " exec " in line]
    animate_calls = [line for line in calls if "animate.py" in line]
    assert len(animate_calls) == 4, calls
    for call in animate_calls:
        assert " --nv " in call
        assert f" --bind {scratch} " in call
        assert re.search(rf" --bind {re.escape(str(scratch))}/\d+ ", call), call
        assert " fomm.sif " in call

    # The job copies were uploaded and removed from scratch (Snakemake leaves the job's own
    # log copies there; the uploaded ones were read above).
    left = [path for path in scratch.rglob("*") if path.is_file()]
    assert all("/logs/" in str(path) for path in left), left
    assert any(
        "Retrieving from storage" in path.read_text() and "send to storage" in path.read_text()
        for path in job_logs
    )
