"""Fixtures of the fault tests; the helpers live in faults_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faults_support import TINY_KIT


@pytest.fixture(scope="session")
def tiny_kit() -> Path:
    if not (TINY_KIT / "model.pth").is_file():
        pytest.skip(f"tiny conformance model not found in {TINY_KIT} (set FOMM_SHARED)")
    return TINY_KIT
