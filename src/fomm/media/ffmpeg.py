"""The one place that starts ffmpeg: the binary bundled with imageio-ffmpeg, argument lists only."""

from __future__ import annotations

import collections
import functools
import re
import subprocess
import threading
from dataclasses import dataclass
from typing import IO

from fomm.errors import FommError

STDERR_LINES_KEPT = 200


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary that imageio-ffmpeg ships (or IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        raise FommError(f"ffmpeg is not available (install imageio-ffmpeg): {error}") from None


@dataclass(frozen=True)
class FfmpegResult:
    returncode: int
    stdout: bytes
    stderr: str


def run_ffmpeg(args: list[str], timeout: float | None = None) -> FfmpegResult:
    """Run ffmpeg to completion; the caller decides what a non-zero exit means."""
    completed = subprocess.run(
        [ffmpeg_exe(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return FfmpegResult(
        completed.returncode, completed.stdout, completed.stderr.decode("utf-8", "replace")
    )


_CONTEXT_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")


def last_error_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr for a one-line message."""
    lines = [_CONTEXT_PREFIX.sub("", line.strip()) for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if "error" in line.lower() or "invalid" in line.lower() or "no space" in line.lower():
            return line
    return lines[-1] if lines else "no message"


class FfmpegProcess:
    """A running ffmpeg with pipes; stderr is drained by a thread so it never blocks."""

    def __init__(self, args: list[str], *, stdin: bool = False, stdout: bool = False):
        self._stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self.process = subprocess.Popen(
            [ffmpeg_exe(), *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in iter(self.process.stderr.readline, b""):
            self._stderr_lines.append(raw.decode("utf-8", "replace").rstrip())
        self.process.stderr.close()

    @property
    def stdin(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def stderr_text(self) -> str:
        return "\n".join(self._stderr_lines)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit and for stderr to be fully read; return the exit code."""
        code = self.process.wait(timeout=timeout)
        self._stderr_thread.join(timeout=5)
        return code

    def kill(self) -> None:
        """Stop ffmpeg now and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        self.wait()
