"""The engine keeps freed memory for the next batch instead of mapping fresh pages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fomm.engine.cpu_memory import keep_freed_memory


def anonymous_mappings() -> int:
    lines = Path("/proc/self/maps").read_text().splitlines()
    return sum(1 for line in lines if len(line.split()) == 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_large_blocks_come_from_the_heap_after_tuning():
    assert keep_freed_memory()
    assert keep_freed_memory()  # once per process, then a no-op
    before = anonymous_mappings()
    blocks = [bytearray(48 << 20) for _ in range(3)]  # each far above glibc's mmap threshold
    assert anonymous_mappings() <= before
    del blocks
