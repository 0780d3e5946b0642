"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOMM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared folder not found at {SHARED} (set FOMM_SHARED)")
    return SHARED


def pytest_collection_modifyitems(config, items):
    from fomm.engine.precision import cpu_has_native_bf16

    if cpu_has_native_bf16():
        return
    skip = pytest.mark.skip(reason="this CPU has no bf16 arithmetic (AVX512-BF16 or AMX)")
    for item in items:
        if "bf16_cpu" in item.keywords:
            item.add_marker(skip)


def run_fomm(
    *args: str, cwd: str | os.PathLike | None = None, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the `fomm` command line in a subprocess, capturing text output."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "2")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "fomm", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


@pytest.fixture
def fomm_cli():
    return run_fomm
