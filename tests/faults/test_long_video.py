"""A 30-minute driving video is animated in flat memory.

The clip is 30 minutes long at 1 frame per second and 96x72 pixels, so the whole run
stays short (1,800 frames through the tiny 64x64 model) while any per-frame buffering
would show: keeping every decoded and resized frame would add ~150 MB, against a
process of a few hundred MB. The peak RSS of the `fomm animate` process is read with
getrusage(RUSAGE_CHILDREN) in a small wrapper process whose only child it is.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from faults_support import (
    animate_argv,
    fomm_env,
    frame_count,
    make_clip,
    make_picture,
    stream_duration,
)

PEAK_RSS_OF_CHILD = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def peak_rss_kb(argv: list[str]) -> int:
    """Run `fomm ARGV` as the only child of a wrapper; its peak resident set in kB."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_OF_CHILD, sys.executable, "-m", "fomm", *argv],
        capture_output=True,
        text=True,
        env=fomm_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_thirty_minute_driving_video_in_flat_memory(tiny_kit, tmp_path):
    source = make_picture(tmp_path / "source.png", (80, 80))
    short = make_clip(tmp_path / "short.mp4", frames=60, fps="1", size="96x72")
    long = make_clip(tmp_path / "long.mp4", frames=1800, fps="1", size="96x72")
    options = ("--batch-size", "16", "--no-audio")

    short_peak = peak_rss_kb(animate_argv(source, short, tmp_path / "short-out.mp4", *options))
    long_peak = peak_rss_kb(animate_argv(source, long, tmp_path / "long-out.mp4", *options))

    assert frame_count(tmp_path / "long-out.mp4") == 1800
    assert abs(stream_duration(tmp_path / "long-out.mp4", "v") - 1800) < 2
    print(
        f"peak RSS: 1-minute clip {short_peak / 1024:.0f} MB, 30-minute clip "
        f"{long_peak / 1024:.0f} MB, ratio {long_peak / short_peak:.3f}"
    )
    assert long_peak < 1.1 * short_peak
