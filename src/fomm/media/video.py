"""Video in and out through the bundled ffmpeg: probe, streaming reader, streaming H.264 writer.

imageio-ffmpeg ships ffmpeg but no ffprobe, so `probe` runs ffmpeg once with the first video
stream copied to a packet listing (`-f framecrc`, no decoding): the header on stderr gives
size, rotation and audio; the packets give the exact frame count, time base and timestamps,
from which the frame rate is measured and whether it is variable.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from fomm.errors import FommError, InputError
from fomm.fileutil import check_output_path, ensure_writable_dir, partial_path
from fomm.media import ffmpeg_args
from fomm.media.ffmpeg import FfmpegProcess, last_error_line, run_ffmpeg
from fomm.media.frames import as_rgb_uint8

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

# A timestamp further than this fraction of a frame period from a uniform grid makes the
# video variable-rate (containers with millisecond time bases jitter by well under this).
VARIABLE_RATE_GRID_TOLERANCE = 0.25
# Below this many time-base ticks a frame, durations are rounded too coarsely to give the rate;
# the spacing of first and last timestamps does, when it agrees with them this closely.
COARSE_PERIOD_TICKS = 200
COARSE_SPACING_AGREEMENT = Fraction(3, 100)
# AV_PKT_FLAG_DISCARD, as framecrc prints it in `F=0x..`
PACKET_FLAG_DISCARD = 0x4
# A rate printed by ffmpeg with two decimals is snapped to a common rational when this close.
PRINTED_RATE_TOLERANCE = 0.0051
# The snapped header rate is trusted when the measured average agrees this closely.
HEADER_RATE_AGREEMENT = 0.01


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` finds out about a video file; width and height are as displayed."""

    path: str
    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    duration: float
    rotation: int
    has_audio: bool
    audio_codec: str | None
    variable_rate: bool = False
    square_pixels: bool = True
    # seconds from the file's start (its earliest stream, usually the audio when they
    # differ) to the first frame shown: the sound at this time goes with frame 0
    start: float = 0.0

    def to_json_dict(self) -> dict:
        """Plain types for `json.dumps` (fps as "num/den" and as a float)."""
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "fps": ffmpeg_args.format_rate(self.fps),
            "fps_float": float(self.fps),
            "frame_count": self.frame_count,
            "duration": self.duration,
            "rotation": self.rotation,
            "has_audio": self.has_audio,
            "audio_codec": self.audio_codec,
            "variable_rate": self.variable_rate,
            "square_pixels": self.square_pixels,
            "start": self.start,
        }


@dataclass(frozen=True)
class _StreamHeader:
    width: int
    height: int
    rotation: int
    sample_aspect: Fraction
    fps_text: str | None
    tbr_text: str | None


_STREAM_LINE = re.compile(r"^\s*Stream #0:\d+\S*: (\w+): (.*)$")
_SIZE = re.compile(r", (\d+)x(\d+)(?=[\s,\[]|$)")
_SAMPLE_ASPECT = re.compile(r"\[SAR (\d+):(\d+) DAR")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_DISPLAY_MATRIX = re.compile(r"rotation of (-?[\d.]+) degrees")
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)")


def _printed_rate(match: re.Match | None) -> str | None:
    if match is None:
        return None
    return str(float(match.group(1)) * 1000) if match.group(2) else match.group(1)


def parse_stream_header(stderr: str) -> tuple[_StreamHeader | None, str | None]:
    """The first real video stream's header and the first audio stream's codec (or None)."""
    lines = stderr.splitlines()
    video: _StreamHeader | None = None
    audio_codec: str | None = None
    for index, line in enumerate(lines):
        match = _STREAM_LINE.match(line)
        if not match:
            continue
        kind, rest = match.groups()
        if kind == "Audio" and audio_codec is None:
            audio_codec = rest.split()[0].strip(",") if rest.split() else "unknown"
        if kind != "Video" or video is not None or "(attached pic)" in rest:
            continue
        size = _SIZE.search(rest)
        if size is None:
            continue
        rotation = 0.0
        for block_line in lines[index + 1 :]:
            if _STREAM_LINE.match(block_line) or not block_line.startswith("    "):
                break
            found = _DISPLAY_MATRIX.search(block_line)
            if found:
                # the display matrix angle is counter-clockwise; report clockwise like phones do
                rotation = -float(found.group(1))
            tag = _ROTATE_TAG.match(block_line)
            if tag:
                rotation = float(tag.group(1))
        video = _StreamHeader(
            width=int(size.group(1)),
            height=int(size.group(2)),
            rotation=round(rotation) % 360,
            sample_aspect=_sample_aspect(rest),
            fps_text=_printed_rate(_FPS.search(rest)),
            tbr_text=_printed_rate(_TBR.search(rest)),
        )
    return video, audio_codec


def _sample_aspect(stream_line: str) -> Fraction:
    found = _SAMPLE_ASPECT.search(stream_line)
    if found is None or int(found.group(1)) == 0 or int(found.group(2)) == 0:
        return Fraction(1)
    return Fraction(int(found.group(1)), int(found.group(2)))


def parse_packet_listing(listing: str) -> tuple[Fraction, list[int], list[int]]:
    """Time base, presentation timestamps and durations of a framecrc packet listing.

    Packets flagged discard (edit lists of trimmed mp4s, AAC priming) are decoded by players
    but never shown, so they are left out.
    """
    time_base = Fraction(1, 1)
    timestamps: list[int] = []
    durations: list[int] = []
    for line in listing.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
            continue
        if line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 5 or fields[0] != "0":
            continue
        try:
            pts, duration = int(fields[2]), int(fields[3])
            flags = next((int(f[2:], 0) for f in fields[6:] if f.startswith("F=")), 0)
        except ValueError:
            continue
        if flags & PACKET_FLAG_DISCARD:
            continue
        timestamps.append(pts)
        durations.append(duration)
    return time_base, timestamps, durations


def common_rate_near(value: float, tolerance: float) -> Fraction | None:
    """An integer, half-integer or NTSC (n * 1000/1001) rate within `tolerance` of `value`."""
    candidates = [
        Fraction(round(value)),
        Fraction(round(value * 2), 2),
        Fraction(round(value * 1001 / 1000) * 1000, 1001),
    ]
    for candidate in candidates:
        if candidate > 0 and abs(float(candidate) - value) <= tolerance:
            return candidate
    return None


def snap_printed_rate(text: str) -> Fraction:
    """The common rational a rate printed with two decimals stands for (29.97 -> 30000/1001)."""
    common = common_rate_near(float(text), PRINTED_RATE_TOLERANCE)
    return common if common is not None else Fraction(text).limit_denominator(1001)


def _measure_timing(
    time_base: Fraction, timestamps: list[int], durations: list[int]
) -> tuple[Fraction, bool, Fraction]:
    """Average rate, whether the rate varies, and the span in seconds of the packets.

    Packet durations decide when the container stores them (a gap left by a damaged packet
    then does not make the video variable-rate); otherwise the timestamps' spacing does.
    The last packet is left out of the comparison: containers often shorten it.
    """
    order = sorted(timestamps)
    count = len(order)
    gaps = [later - earlier for earlier, later in itertools.pairwise(order) if later > earlier]
    inner = durations[:-1] if count > 1 else durations
    if inner and all(duration > 0 for duration in inner):
        period = Fraction(sum(inner), len(inner))
        variable = any(
            abs(duration - period) > VARIABLE_RATE_GRID_TOLERANCE * period for duration in inner
        )
    else:
        period = Fraction(statistics.median(gaps)) if gaps else Fraction(0)
        worst = max(abs(pts - order[0] - i * period) for i, pts in enumerate(order))
        variable = count >= 3 and worst > VARIABLE_RATE_GRID_TOLERANCE * period
    if period <= 0:
        return Fraction(0), False, Fraction(0)
    if not variable:
        if period < COARSE_PERIOD_TICKS and count >= 2 and order[-1] > order[0]:
            # a coarse time base (mkv's 1 ms) rounds every duration the same way (33 ms at
            # 29.97 fps); the first-to-last spacing keeps the exact rate
            spaced = Fraction(order[-1] - order[0], count - 1)
            if abs(spaced - period) <= COARSE_SPACING_AGREEMENT * period:
                period = spaced
        return 1 / (period * time_base), False, count * period * time_base
    ends = [
        pts + (duration if duration > 0 else period) for pts, duration in zip(timestamps, durations)
    ]
    span = (max(ends) - order[0]) * time_base
    return count / span, True, span


def _choose_rate(average: Fraction, variable: bool, header: _StreamHeader) -> Fraction:
    """The exact rate: a common rational (25, 30000/1001, 25/2) when ffmpeg's printed guess
    is one and the packets agree with it, else the average the packets give."""
    if not variable:
        for text in (header.tbr_text, header.fps_text):
            candidate = common_rate_near(float(text), PRINTED_RATE_TOLERANCE) if text else None
            if candidate is None:
                continue
            if average == 0 or abs(candidate - average) <= HEADER_RATE_AGREEMENT * average:
                return candidate
    if average > 0:
        common = common_rate_near(float(average), float(average) / 2000)
        return common if common is not None else average.limit_denominator(1001)
    for text in (header.fps_text, header.tbr_text):
        if text and float(text) > 0:
            return snap_printed_rate(text)
    return Fraction(25)


def check_input_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size as displayed, exact frame rate, frame count, duration, rotation and audio of a video.

    Raises InputError naming the file when it holds no decodable video stream.
    """
    path = Path(path)
    check_input_file(path)
    result = run_ffmpeg(ffmpeg_args.build_probe_args(path))
    header, audio_codec = parse_stream_header(result.stderr)
    if "Input #0" not in result.stderr:
        raise InputError(path, f"not a video ffmpeg can read ({last_error_line(result.stderr)})")
    if header is None:
        what = "audio only" if audio_codec else "no streams ffmpeg can use"
        raise InputError(path, f"has no video stream ({what})")
    time_base, timestamps, durations = parse_packet_listing(
        result.stdout.decode("ascii", "replace")
    )
    if not timestamps:
        raise InputError(path, "no video frames could be read")
    average, variable, span = _measure_timing(time_base, timestamps, durations)
    rate = _choose_rate(average, variable, header)
    quarter_turn = header.rotation in (90, 270)
    # non-square pixels: shown (and read) widened or narrowed to the display aspect
    shown_width = max(1, round(header.width * header.sample_aspect))
    frame_count = len(timestamps)
    if variable:
        # read through ffmpeg's fps filter, which yields about span * rate frames
        frame_count = max(1, round(span * rate))
    duration = float(span) if variable else float(frame_count / rate)
    return VideoInfo(
        path=str(path),
        width=header.height if quarter_turn else shown_width,
        height=shown_width if quarter_turn else header.height,
        fps=rate,
        frame_count=frame_count,
        duration=duration,
        rotation=header.rotation,
        has_audio=audio_codec is not None,
        audio_codec=audio_codec,
        variable_rate=variable,
        square_pixels=header.sample_aspect == 1,
        start=max(0.0, float(min(timestamps) * time_base)),
    )


def scaled_size(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """(height, width) shrunk, aspect kept, so the shorter side is at most `max_size`."""
    if max_size is None or min(height, width) <= max_size:
        return height, width
    if max_size < 1:
        raise ValueError(f"max_size must be positive, got {max_size}")
    factor = max_size / min(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


class VideoReader:
    """Stream the frames of a video as (H, W, 3) uint8 RGB arrays, as displayed.

    Frames come from an ffmpeg pipe one at a time, so memory stays flat. A variable-rate
    video is read at its average rate (frame i at time i / fps). With `max_size`, ffmpeg
    shrinks frames whose shorter side is larger, keeping the aspect. A damaged or truncated
    tail ends the iteration with a logged warning; a file with no decodable frame raises
    InputError. Iterating again starts again from the first frame.
    """

    def __init__(self, path: str | os.PathLike, max_size: int | None = None):
        self.path = Path(path)
        self.info = probe(self.path)
        self.height, self.width = scaled_size(self.info.height, self.info.width, max_size)
        self.fps = self.info.fps
        self.frames_read = 0
        self._process: FfmpegProcess | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        """Frames expected (as probed; a damaged tail may give fewer)."""
        return self.info.frame_count or 0

    def _read_args(self) -> list[str]:
        size = None
        resized = (self.height, self.width) != (self.info.height, self.info.width)
        if resized or not self.info.square_pixels:
            size = (self.height, self.width)
        rate = self.fps if self.info.variable_rate else None
        return ffmpeg_args.build_read_args(self.path, constant_rate=rate, size=size)

    def __iter__(self) -> Iterator[np.ndarray]:
        self.close()
        self.frames_read = 0
        frame_bytes = self.height * self.width * 3
        process = FfmpegProcess(self._read_args(), stdout=True)
        self._process = process
        try:
            while True:
                buffer = bytearray(frame_bytes)
                filled = _read_into(process.stdout, buffer)
                if filled < frame_bytes:
                    break
                self.frames_read += 1
                yield np.frombuffer(buffer, dtype=np.uint8).reshape(self.height, self.width, 3)
            code = process.wait()
        finally:
            closed_meanwhile = self._process is not process
            if not closed_meanwhile:
                self.close()
        if not closed_meanwhile:  # `close()` from elsewhere ends the frames without a report
            self._report_end(code, process.stderr_text())

    def _report_end(self, code: int, stderr: str) -> None:
        if self.frames_read == 0:
            raise InputError(
                self.path, f"no video frame could be decoded ({last_error_line(stderr)})"
            )
        expected = self.info.frame_count
        short = expected is not None and not self.info.variable_rate and self.frames_read < expected
        if code != 0 or short or stderr.strip():
            of_expected = f" of {expected}" if expected else ""
            logger.warning(
                "%s: damaged or truncated video, kept the %d%s frames that decoded (%s)",
                self.path,
                self.frames_read,
                of_expected,
                last_error_line(stderr),
            )

    def read_all(self) -> np.ndarray:
        """Every frame as one (T, H, W, 3) array; only for short clips."""
        return np.stack(list(self))

    def close(self) -> None:
        """Stop a decode in progress (safe to call more than once)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()


def _read_into(stream, buffer: bytearray) -> int:
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        try:
            count = stream.readinto(view[filled:])
        except (OSError, ValueError):  # the pipe was closed by `close()` in another thread
            break
        if not count:
            break
        filled += count
    return filled


class VideoWriter:
    """Write frames to an H.264 (yuv420p) mp4 at an exact rate, streaming into ffmpeg.

    The file is written under a temporary name beside `path` and renamed by `close()`;
    `abort()` removes it. Used as a context manager it aborts when the block raises.
    Frames of odd width or height get their last row/column repeated (H.264 4:2:0 needs
    even sizes). `quality` is 0-100 (see `ffmpeg_args.quality_to_crf`); `preset` is one of
    libx264's speed presets (`ffmpeg_args.ENCODER_PRESETS`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: Fraction | float | str,
        quality: int = ffmpeg_args.DEFAULT_QUALITY,
        preset: str = ffmpeg_args.DEFAULT_PRESET,
    ):
        self.path = Path(path)
        self.fps = _as_rate(fps)
        ffmpeg_args.h264_encoder(quality, preset)  # raises ValueError on a bad value
        self.quality = quality
        self.preset = preset
        check_output_path(self.path)
        ensure_writable_dir(self.path)
        self.temp_path = partial_path(self.path)
        self.frames_written = 0
        self.frame_size: tuple[int, int] | None = None
        self._padded_size: tuple[int, int] | None = None
        self._process: FfmpegProcess | None = None
        self._finished = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _start(self, height: int, width: int) -> None:
        self.frame_size = (height, width)
        self._padded_size = (height + height % 2, width + width % 2)
        padded_height, padded_width = self._padded_size
        args = ffmpeg_args.build_write_args(
            self.temp_path, padded_width, padded_height, self.fps, self.quality, self.preset
        )
        self._process = FfmpegProcess(args, stdin=True)

    def write(self, frames: np.ndarray) -> None:
        """Append one frame (H, W, 3) or a batch (N, H, W, 3); uint8 or float in [0, 1]."""
        if self._finished:
            raise RuntimeError(f"{self.path}: writer already closed")
        batch = as_rgb_uint8(frames)
        if len(batch) == 0:
            return
        height, width = batch.shape[1:3]
        if self._process is None:
            self._start(height, width)
        if (height, width) != self.frame_size:
            raise ValueError(
                f"{self.path}: frame size {width}x{height} differs from the first frame's "
                f"{self.frame_size[1]}x{self.frame_size[0]}"
            )
        if self._padded_size != (height, width):
            batch = np.pad(
                batch,
                ((0, 0), (0, height % 2), (0, width % 2), (0, 0)),
                mode="edge",
            )
        try:
            self._process.stdin.write(np.ascontiguousarray(batch).tobytes())
        except (OSError, ValueError):
            self._fail("ffmpeg stopped while writing")
        self.frames_written += len(batch)

    def _fail(self, what: str) -> None:
        stderr = self._process.stderr_text() if self._process else ""
        self.abort()
        raise FommError(f"{self.path}: {what} ({last_error_line(stderr)})")

    def close(self) -> None:
        """Finish encoding and rename the file into place."""
        if self._finished:
            return
        if self._process is None:
            self.abort()
            raise FommError(f"{self.path}: no frames were written")
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        code = self._process.wait()
        if code != 0 or not self.temp_path.exists():
            self._fail(f"ffmpeg failed with exit code {code}")
        os.replace(self.temp_path, self.path)
        self._finished = True

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        self._finished = True
        if self._process is not None:
            self._process.kill()
        with contextlib.suppress(OSError):
            self.temp_path.unlink()


def _as_rate(fps: Fraction | float | str) -> Fraction:
    if isinstance(fps, float):
        if not math.isfinite(fps):
            raise ValueError(f"frame rate must be finite, got {fps}")
        common = common_rate_near(fps, 1e-6 * abs(fps))
        rate = common if common is not None else Fraction(fps).limit_denominator(100000)
    else:
        rate = Fraction(fps)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return rate
