"""Put the sound of one file into a video without re-encoding the video."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from fomm.errors import FommError, InputError
from fomm.fileutil import atomic_output
from fomm.media import ffmpeg_args
from fomm.media.ffmpeg import last_error_line, run_ffmpeg
from fomm.media.video import check_input_file, parse_packet_listing, parse_stream_header, probe

logger = logging.getLogger(__name__)

# audio codecs an mp4 holds that every player plays: copied as they are
COPYABLE_AUDIO_CODECS = ("aac", "mp3")


@dataclass(frozen=True)
class AudioStream:
    codec: str
    duration: float


def stream_duration(path: str | os.PathLike, selector: str) -> float | None:
    """Seconds a stream plays, or None when it has no packets.

    From its start (or from 0 when it starts earlier: AAC priming samples, which players
    skip, have negative timestamps) to the end of its last packet, whose duration already
    excludes samples the container marks to be skipped.
    """
    result = run_ffmpeg(ffmpeg_args.build_probe_args(path, selector))
    time_base, timestamps, durations = parse_packet_listing(
        result.stdout.decode("ascii", "replace")
    )
    if not timestamps:
        return None
    end = max(start + length for start, length in zip(timestamps, durations))
    return float((end - max(min(timestamps), 0)) * time_base)


def probe_audio(path: str | os.PathLike) -> AudioStream | None:
    """The first audio stream of a video or audio file, or None when it has none."""
    path = Path(path)
    check_input_file(path)
    result = run_ffmpeg(ffmpeg_args.build_probe_args(path, "a:0?"))
    if "Input #0" not in result.stderr:
        raise InputError(path, f"not a file ffmpeg can read ({last_error_line(result.stderr)})")
    _, codec = parse_stream_header(result.stderr)
    if codec is None:
        return None
    duration = stream_duration(path, "a:0")
    if duration is None:
        raise InputError(path, "its audio stream holds no readable sound")
    return AudioStream(codec=codec, duration=duration)


def _run_into(args: list[str], output: Path) -> None:
    result = run_ffmpeg(args)
    if result.returncode != 0:
        raise FommError(f"{output}: ffmpeg could not write it ({last_error_line(result.stderr)})")


def mux_audio(
    video: str | os.PathLike, audio_source: str | os.PathLike, output: str | os.PathLike
) -> bool:
    """Write `output`: the video stream of `video` (copied) with the audio of `audio_source`.

    AAC and MP3 audio is copied when it lasts at least as long as the video and the copy
    ends within one frame period of the video; otherwise it is encoded to AAC, padded with
    silence and cut at the video's length. Without audio in `audio_source` the output is a
    silent copy of the video and the return value is False (a notice is logged).
    `output` may be `video` itself; it is replaced only when complete.

    When `audio_source` is a video whose first frame comes after the start of its sound,
    the sound before that frame is left out (the audio encoded, to cut at the exact
    sample), so that the frames made from it stay in sync.
    """
    video, audio_source, output = Path(video), Path(audio_source), Path(output)
    info = probe(video)
    audio = probe_audio(audio_source)
    lead = _first_frame_time(audio_source) if audio is not None else 0.0
    frame_period = 1 / float(info.fps)
    if info.frame_count and not info.variable_rate:
        video_duration = float(info.frame_count / Fraction(info.fps))
    else:
        video_duration = info.duration
    with atomic_output(output) as temp:
        if audio is None:
            _run_into(ffmpeg_args.build_remux_args(video, temp), output)
            logger.info("%s has no audio; %s is the video without sound", audio_source, output)
            return False
        copy = (
            audio.codec in COPYABLE_AUDIO_CODECS
            and audio.duration >= video_duration
            and lead == 0
        )
        if copy:
            _run_into(
                ffmpeg_args.build_mux_args(video, audio_source, temp, video_duration, True),
                output,
            )
            copied = stream_duration(temp, "a:0")
            copy = copied is not None and abs(copied - video_duration) < frame_period
        if not copy:
            _run_into(
                ffmpeg_args.build_mux_args(
                    video, audio_source, temp, video_duration, False, audio_skip=lead
                ),
                output,
            )
    return True


def _first_frame_time(path: Path) -> float:
    """`VideoInfo.start` of a video; 0 for a sound file (nothing to line up with)."""
    try:
        return probe(path).start
    except InputError:
        return 0.0
