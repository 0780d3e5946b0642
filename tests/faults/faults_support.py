"""Helpers of the fault tests: generated media, the tiny model, CLI runners, leftover checks.

Every input is written here with the bundled ffmpeg or Pillow; nothing is downloaded. The
model is the 64x64 "modules-tiny" conformance checkpoint, so a whole animation costs well
under a second.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FOMM_SHARED", REPO.parent / "shared"))
TINY_KIT = SHARED / "conformance" / "public" / "modules-tiny"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FOMM = [sys.executable, "-m", "fomm"]
VENV_BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- media makers


def ffmpeg(output: Path, *args: str) -> Path:
    """Run the bundled ffmpeg (argument list, no shell) writing `output`."""
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y", *args, str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return output


def make_clip(
    path: Path,
    frames: int = 10,
    fps: str = "10",
    size: str = "64x64",
    audio_seconds: float | None = None,
    extra: tuple[str, ...] = (),
) -> Path:
    """A moving test pattern, H.264 yuv420p, optionally with a 440 Hz AAC tone."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    if audio_seconds is not None:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_seconds}"]
    args += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio_seconds is not None:
        args += ["-c:a", "aac"]
    return ffmpeg(path, *args, *extra)


def make_picture(path: Path, size: tuple[int, int] = (64, 64), mode: str = "RGB") -> Path:
    """A picture with a coloured block on a gradient (Pillow)."""
    import numpy as np
    from PIL import Image

    height, width = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[height // 4 : height // 2, width // 4 : width // 2] = (40, 200, 90)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG claiming width x height pixels with almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def random_bytes(path: Path, size: int = 4096) -> Path:
    path.write_bytes(os.urandom(size))
    return path


# --------------------------------------------------------------------------- video checks


def frame_count(path: Path) -> int:
    """Frames ffmpeg decodes from the file (independent of fomm's own probe)."""
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return frames


def stream_summary(path: Path) -> str:
    """ffmpeg's description of the file's streams (stderr of `ffmpeg -i`)."""
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    ).stderr


def stream_duration(path: Path, kind: str) -> float:
    """Seconds of the first `kind` ("v" or "a") stream: the last time= ffmpeg reports decoding it."""
    result = subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            f"0:{kind}:0",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    stamps = [
        line.split("time=", 1)[1].split()[0]
        for line in result.stderr.replace("\r", "\n").splitlines()
        if "time=" in line
    ]
    assert stamps, result.stderr
    hours, minutes, seconds = stamps[-1].split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def assert_valid_video(path: Path, frames: int) -> None:
    """A complete, non-empty mp4 whose decoded frame count is `frames`."""
    assert path.is_file(), f"{path} missing"
    assert path.stat().st_size > 0, f"{path} is empty"
    assert frame_count(path) == frames, f"{path}: {frame_count(path)} frames, expected {frames}"


# --------------------------------------------------------------------------- leftovers


def file_listing(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file under folder."""
    listing = {}
    for root, _, files in os.walk(folder):
        for name in files:
            full = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                stat = full.lstat()
                listing[str(full.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return listing


def new_files(before: dict, after: dict) -> dict[str, tuple[int, int]]:
    return {name: facts for name, facts in after.items() if before.get(name) != facts}


def partial_files(folder: Path) -> list[str]:
    """Files that look like unfinished outputs: hidden partials, write tests, empty files."""
    found = []
    for name, (size, _) in file_listing(folder).items():
        base = Path(name).name
        if ".partial" in base or base.startswith(".fomm-write-test") or size == 0:
            found.append(name)
    return found


# --------------------------------------------------------------------------- CLI runners


def run_cli(argv: list[str]) -> tuple[int, str]:
    """`fomm ARGS` in this process (torch is imported once): (exit code, stderr text)."""
    from fomm.cli import main

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as stop:  # argparse errors
            code = stop.code if isinstance(stop.code, int) else 1
    return code, stderr.getvalue()


def fomm_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def assert_one_error_line(code: int, stderr: str, names: str) -> None:
    """Exit code 2 and exactly one `fomm: error:` line, naming `names`, no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith("fomm: error:")]
    assert code == 2, f"exit code {code}, stderr:\n{stderr}"
    assert len(errors) == 1, f"expected one error line, stderr:\n{stderr}"
    assert names in errors[0], f"error line does not name {names!r}: {errors[0]}"
    assert "Traceback" not in stderr, stderr


def animate_argv(source: Path, driving: Path, output: Path, *extra: str) -> list[str]:
    return [
        "animate",
        str(source),
        str(driving),
        "-o",
        str(output),
        "--checkpoint",
        str(TINY_KIT / "model.pth"),
        "--config",
        str(TINY_KIT / "config.yaml"),
        "--device",
        "cpu",
        "--batch-size",
        "8",
        *extra,
    ]


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session=True and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@contextlib.contextmanager
def full_tmpfs(mountpoint: Path, size_kb: int = 256) -> Iterator[Path]:
    """A tmpfs at mountpoint, filled up so that no block is left (skip if it cannot mount)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,nr_inodes=64", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {mounted.stderr.strip()}")
    try:
        with (
            contextlib.suppress(OSError),
            open(mountpoint / "filler.bin", "wb", buffering=0) as fill,
        ):
            while True:
                fill.write(b"\0" * 4096)
        with (
            contextlib.suppress(OSError),
            open(mountpoint / "filler-tail.bin", "wb", buffering=0) as fill,
        ):
            while True:
                fill.write(b"\0")
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
