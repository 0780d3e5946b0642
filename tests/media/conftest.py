"""Media made once per test run with the bundled ffmpeg: tiny clips, pictures, audio."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fomm.media.ffmpeg import run_ffmpeg

# a name that breaks anything that goes through a shell or parses options
AWKWARD_NAME = "clip 'quoted' \"dq\" $(touch PWNED) é名"

# source frames of the variable-rate clip: 15 frames 0.1 s apart, then 15 frames 0.2 s apart
VFR_TIMES = [i * 0.1 for i in range(15)] + [1.5 + i * 0.2 for i in range(15)]


def make_media(output: Path, *args: str) -> Path:
    """Run the bundled ffmpeg with `args` then the output; fail the test run if it fails."""
    result = run_ffmpeg(
        ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args, str(output)]
    )
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_with_audio(media_dir) -> Path:
    """64x48 test pattern at 30000/1001 fps, about 1 s, with a 440 Hz AAC tone."""
    return make_media(
        media_dir / "with_audio.mp4",
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
    )  # fmt: skip


@pytest.fixture(scope="session")
def clip_25fps(media_dir) -> Path:
    """64x64 at 25 fps, 50 frames, index at the front (so a truncated copy stays readable)."""
    return make_media(
        media_dir / "plain_25fps.mp4",
        "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-t", "2",
        "-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
    )  # fmt: skip


@pytest.fixture(scope="session")
def clip_rotated(media_dir, clip_with_audio) -> Path:
    """The audio clip with a display matrix of 90 degrees counter-clockwise (stream copy)."""
    return make_media(
        media_dir / "rotated.mp4",
        "-display_rotation", "90", "-i", str(clip_with_audio), "-c", "copy",
    )  # fmt: skip


@pytest.fixture(scope="session")
def clip_vfr(media_dir) -> Path:
    """30 grey frames whose level encodes their index (16 + 6 i), shown at VFR_TIMES."""
    times = "if(lt(N,15),N,2*N-15)"  # in the source's time base of 1/10 s
    return make_media(
        media_dir / "variable_rate.mp4",
        "-f", "lavfi", "-i", "nullsrc=size=32x32:rate=10,format=yuv420p,geq=lum='16+N*6':cb=128:cr=128",
        "-frames:v", "30", "-vf", f"setpts='{times}'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p",
    )  # fmt: skip


@pytest.fixture(scope="session")
def audio_only(media_dir) -> Path:
    return make_media(media_dir / "tone.m4a", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac")


@pytest.fixture(scope="session")
def truncated_clip(media_dir, clip_25fps) -> Path:
    data = clip_25fps.read_bytes()
    path = media_dir / "truncated.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


@pytest.fixture(scope="session")
def empty_file(media_dir) -> Path:
    path = media_dir / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def random_bytes_file(media_dir) -> Path:
    path = media_dir / "random.mp4"
    path.write_bytes(os.urandom(4096))
    return path


@pytest.fixture(scope="session")
def ffmpeg_make():
    """`make_media` for tests that build their own clip."""
    return make_media


@pytest.fixture(scope="session")
def awkward_name() -> str:
    return AWKWARD_NAME


@pytest.fixture(scope="session")
def vfr_times() -> list[float]:
    return VFR_TIMES
