"""Pure builders of ffmpeg argument lists: no processes, no files, easy to test.

Each function returns the arguments for one concern, or `[]` when its option does not apply;
`chain` joins them. File names always go through `file_url` so that a name starting with `-`
or containing `:` is never read as an option or a protocol.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

# crf of libx264 for quality 0 and 100; 0 would be lossless, which needs the High 4:4:4
# profile that browsers and phones do not play, so the best quality stops at visually lossless.
CRF_AT_QUALITY_0 = 40
CRF_AT_QUALITY_100 = 12
DEFAULT_QUALITY = 80
# libx264's speed presets, fastest first
ENCODER_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow",
)  # fmt: skip
DEFAULT_PRESET = "medium"
# for GPU runs, where x264 at medium is the slowest stage (H100, fp16: 550 against 1,140 frames/s
# for a whole animation); at the same crf it makes files visually the same
GPU_PRESET = "veryfast"


def chain(*parts: list[str]) -> list[str]:
    """Concatenate argument lists in order."""
    return [argument for part in parts for argument in part]


def file_url(path: str | os.PathLike) -> str:
    """An absolute `file:` URL for a local path, safe whatever characters the name holds."""
    return "file:" + str(Path(path).absolute())


def format_rate(rate: Fraction) -> str:
    """A frame rate as ffmpeg reads it: `30` or `30000/1001`."""
    rate = Fraction(rate)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def quality_to_crf(quality: int) -> int:
    """Map a 0-100 quality (higher is better) to libx264's crf."""
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be within 0-100, got {quality}")
    span = CRF_AT_QUALITY_0 - CRF_AT_QUALITY_100
    return round(CRF_AT_QUALITY_0 - span * quality / 100)


def base_args() -> list[str]:
    """Options every ffmpeg call starts with: no banner, never read the terminal."""
    return ["-hide_banner", "-nostdin"]


def log_level(level: str) -> list[str]:
    return ["-loglevel", level]


def overwrite() -> list[str]:
    return ["-y"]


def input_file(path: str | os.PathLike) -> list[str]:
    return ["-i", file_url(path)]


def input_seek(seconds: float) -> list[str]:
    """Start reading the next input `seconds` after its start (its timestamps then begin at
    0 there); sample-accurate when its audio is decoded, not copied."""
    return ["-ss", f"{seconds:.6f}"] if seconds > 0 else []


def output_file(path: str | os.PathLike) -> list[str]:
    return [file_url(path)]


def map_stream(input_index: int, selector: str, optional: bool = False) -> list[str]:
    """Select streams; `V` means video that is not an attached cover picture."""
    return ["-map", f"{input_index}:{selector}" + ("?" if optional else "")]


def video_filters(filters: list[str]) -> list[str]:
    """One `-vf` with the filters joined, or nothing when there are none."""
    return ["-vf", ",".join(filters)] if filters else []


def constant_rate_filter(rate: Fraction | None) -> list[str]:
    """Resample a variable-rate video to a constant rate: frame i is the one shown at i / rate.

    `round=up` puts each source frame in the first output slot at or after its timestamp, so
    a slot holds the last frame whose time has come (the default rounds to the nearest slot,
    which shows frames up to half a slot early).
    """
    return [f"fps={format_rate(rate)}:round=up"] if rate is not None else []


def scale_filter(size: tuple[int, int] | None) -> list[str]:
    """Scale to (height, width) with area averaging, for shrinking large frames."""
    if size is None:
        return []
    height, width = size
    return [f"scale={width}:{height}:flags=area"]


def frame_timing(resample: bool) -> list[str]:
    """Pass decoded frames through as they come unless the rate filter does the timing."""
    return [] if resample else ["-fps_mode", "passthrough"]


def no_audio() -> list[str]:
    return ["-an"]


def no_extra_streams() -> list[str]:
    return ["-sn", "-dn"]


def raw_rgb_output() -> list[str]:
    """Decoded RGB frames, 3 bytes a pixel, on stdout."""
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]


def raw_rgb_input(width: int, height: int, rate: Fraction) -> list[str]:
    """RGB frames of one size read from stdin at an exact rate."""
    return [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-video_size",
        f"{width}x{height}",
        "-framerate",
        format_rate(rate),
        "-i",
        "pipe:0",
    ]


def h264_encoder(quality: int, preset: str = DEFAULT_PRESET) -> list[str]:
    """H.264 in yuv420p, which browsers and phones play. The preset trades encoding speed
    for file size at the same quality."""
    if preset not in ENCODER_PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; one of {', '.join(ENCODER_PRESETS)}")
    return [
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        str(quality_to_crf(quality)),
        "-pix_fmt",
        "yuv420p",
    ]


def mp4_faststart() -> list[str]:
    """Index at the front so a browser starts playing before the download ends."""
    return ["-movflags", "+faststart", "-f", "mp4"]


def packet_listing() -> list[str]:
    """One line per packet (timestamps, no decoding) of the selected stream, on stdout."""
    return ["-c", "copy", "-f", "framecrc", "pipe:1"]


def build_probe_args(path: str | os.PathLike, selector: str = "V:0") -> list[str]:
    """List the packets of one stream (the first real video one by default); the header
    goes to stderr."""
    return chain(
        base_args(),
        log_level("info"),
        input_file(path),
        map_stream(0, selector),
        packet_listing(),
    )


def build_read_args(
    path: str | os.PathLike,
    constant_rate: Fraction | None = None,
    size: tuple[int, int] | None = None,
) -> list[str]:
    """Decode the first video stream to RGB frames on stdout (rotation applied by ffmpeg)."""
    return chain(
        base_args(),
        log_level("error"),
        input_file(path),
        map_stream(0, "V:0"),
        video_filters(constant_rate_filter(constant_rate) + scale_filter(size)),
        frame_timing(resample=constant_rate is not None),
        no_audio(),
        no_extra_streams(),
        raw_rgb_output(),
    )


def build_write_args(
    path: str | os.PathLike,
    width: int,
    height: int,
    rate: Fraction,
    quality: int,
    preset: str = DEFAULT_PRESET,
) -> list[str]:
    """Encode RGB frames from stdin to an H.264 mp4."""
    return chain(
        base_args(),
        log_level("error"),
        overwrite(),
        raw_rgb_input(width, height, rate),
        h264_encoder(quality, preset),
        mp4_faststart(),
        output_file(path),
    )


def audio_copy() -> list[str]:
    return ["-c:a", "copy"]


def audio_to_aac_padded() -> list[str]:
    """Encode to AAC, with silence appended so `-t` can cut at the exact video length."""
    return ["-af", "apad", "-c:a", "aac", "-b:a", "192k"]


def limit_duration(seconds: float | None) -> list[str]:
    return ["-t", f"{seconds:.6f}"] if seconds is not None else []


def build_mux_args(
    video: str | os.PathLike,
    audio_source: str | os.PathLike,
    output: str | os.PathLike,
    duration: float,
    copy_audio: bool,
    audio_skip: float = 0.0,
) -> list[str]:
    """The video stream copied, the first audio stream of `audio_source` (from `audio_skip`
    seconds after its file's start) copied or encoded to AAC, both cut to `duration`
    seconds."""
    return chain(
        base_args(),
        log_level("error"),
        overwrite(),
        input_file(video),
        input_seek(audio_skip),
        input_file(audio_source),
        map_stream(0, "V:0"),
        map_stream(1, "a:0"),
        ["-c:v", "copy"],
        audio_copy() if copy_audio else audio_to_aac_padded(),
        limit_duration(duration),
        mp4_faststart(),
        output_file(output),
    )


def build_remux_args(video: str | os.PathLike, output: str | os.PathLike) -> list[str]:
    """The video stream alone, copied into a new mp4."""
    return chain(
        base_args(),
        log_level("error"),
        overwrite(),
        input_file(video),
        map_stream(0, "V:0"),
        ["-c:v", "copy"],
        no_audio(),
        mp4_faststart(),
        output_file(output),
    )
