"""`fomm synth`: render synthetic puppets: portraits, talking clips with sound, the examples."""

from __future__ import annotations

import argparse
from pathlib import Path

SPECIES = ["human", "cat", "can"]
STYLES = ["flat", "painting"]

# The bundled examples/: (file name, identity seed, species, style). Fixed forever so that
# `fomm synth examples` rebuilds the committed files.
EXAMPLE_PICTURES = [
    ("puppet_ada.png", 11, "human", "flat"),
    ("puppet_painted.png", 23, "human", "painting"),
    ("puppet_cat.png", 1, "cat", "flat"),
    ("puppet_can.png", 0, "can", "flat"),
]
# (file name, identity seed, motion seed, seconds)
EXAMPLE_CLIPS = [
    ("talk_bo.mp4", 31, 301, 4.0),
    ("talk_cy.mp4", 36, 402, 3.0),
]


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="render synthetic talking puppets (portraits, clips with audio, examples)",
        description=(
            "Render puppets from seeds: a still portrait (PNG), a talking clip (MP4 with a "
            "synthesised speech track), or the bundled examples folder."
        ),
    )
    parser.add_argument("kind", choices=["portrait", "clip", "examples"])
    parser.add_argument(
        "-o", "--output", type=Path, help="file (portrait/clip) or folder (examples)"
    )
    parser.add_argument("--seed", type=int, default=0, help="identity seed")
    parser.add_argument("--motion-seed", type=int, help="motion and speech seed (default: --seed)")
    parser.add_argument("--species", choices=SPECIES, help="default: drawn from the seed")
    parser.add_argument("--style", choices=STYLES, default="flat")
    parser.add_argument("--size", type=int, default=256, help="square frame side in pixels")
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length")
    parser.add_argument("--fps", type=float, default=25.0, help="clip frame rate")
    parser.set_defaults(handler=run)


def write_portrait(path: Path, seed: int, species: str | None, style: str, size: int) -> None:
    from PIL import Image

    from fomm.fileutil import atomic_output
    from fomm.synth import neutral_motion, render_frames, sample_identity

    frame = render_frames(sample_identity(seed, species, style), neutral_motion(1), size)[0]
    with atomic_output(path) as temp:
        Image.fromarray(frame).save(temp, format="PNG", optimize=True)


def write_talking_clip(
    path: Path,
    seed: int,
    motion_seed: int,
    species: str | None,
    style: str,
    size: int,
    seconds: float,
    fps: float,
) -> None:
    """A puppet talking: the mouth follows the syllables of the speech track it carries."""
    import tempfile

    from fomm.errors import FommError
    from fomm.fileutil import ensure_writable_dir
    from fomm.media.audio import mux_audio
    from fomm.media.video import VideoWriter
    from fomm.synth import (
        plan_speech,
        random_motion,
        render_frames,
        sample_identity,
        synthesise_speech,
        write_wav,
    )

    num_frames = round(seconds * fps)
    if num_frames < 2:
        raise FommError("--seconds x --fps must give at least 2 frames")
    ensure_writable_dir(path)
    plan = plan_speech(motion_seed, num_frames / fps)
    motion = random_motion(motion_seed, num_frames, fps=fps, speech=plan)
    frames = render_frames(sample_identity(seed, species, style), motion, size)
    with tempfile.TemporaryDirectory(prefix="fomm-synth-") as scratch:
        silent = Path(scratch) / "silent.mp4"
        wav = Path(scratch) / "speech.wav"
        with VideoWriter(silent, fps) as writer:
            writer.write(frames)
        write_wav(wav, synthesise_speech(plan), 16000)
        mux_audio(silent, wav, path)


def write_examples(folder: Path, size: int = 256) -> list[Path]:
    """The bundled pictures/ and driving/ folders, from fixed seeds."""
    written = []
    for name, seed, species, style in EXAMPLE_PICTURES:
        path = folder / "pictures" / name
        write_portrait(path, seed, species, style, size)
        written.append(path)
    for name, seed, motion_seed, seconds in EXAMPLE_CLIPS:
        path = folder / "driving" / name
        write_talking_clip(path, seed, motion_seed, "human", "flat", size, seconds, 25.0)
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    from fomm.errors import FommError

    if not 16 <= args.size <= 2048:
        raise FommError("--size must be between 16 and 2048")
    if args.kind == "examples":
        for path in write_examples(args.output or Path("examples"), args.size):
            print(path)
        return 0
    if args.output is None:
        raise FommError(f"fomm synth {args.kind} needs -o/--output")
    if args.kind == "portrait":
        write_portrait(args.output, args.seed, args.species, args.style, args.size)
    else:
        motion_seed = args.seed if args.motion_seed is None else args.motion_seed
        write_talking_clip(
            args.output,
            args.seed,
            motion_seed,
            args.species,
            args.style,
            args.size,
            args.seconds,
            args.fps,
        )
    print(args.output)
    return 0
