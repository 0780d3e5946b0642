"""`fomm animate` and `python -m fomm.demo` on files; bad input gives one error line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from fomm.cli import main as fomm_main
from fomm.engine import precision as engine_precision
from fomm.media.video import probe


def model_args(kit):
    return ["--checkpoint", str(kit / "model.pth"), "--config", str(kit / "config.yaml")]


def animate_media(fomm_cli, kit, media, output, *options):
    """`fomm animate` of the test picture and clip with the tiny kit's model."""
    return fomm_cli(
        "animate", media["source"], media["driving"], "-o", output, *model_args(kit), *options
    )


def test_fomm_animate_keeps_frame_count_and_fps(fomm_cli, tiny_kit, media, tmp_path):
    output = tmp_path / "out.mp4"
    result = animate_media(
        fomm_cli,
        tiny_kit,
        media,
        output,
        "--adapt-scale",
        "--find-best-frame",
        "--batch-size",
        "3",
    )
    assert result.returncode == 0, result.stderr
    driving, animated = probe(media["driving"]), probe(output)
    assert animated.frame_count == driving.frame_count == 10
    assert animated.fps == driving.fps
    assert (animated.width, animated.height) == (64, 64)
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_output_size_option_enlarges_frames(tiny_kit, media, tmp_path, fomm_cli):
    output = tmp_path / "out.mp4"
    # the tiny kit's model makes 64x64 frames
    result = animate_media(fomm_cli, tiny_kit, media, output, "--output-size", "96", "--no-audio")
    assert result.returncode == 0, result.stderr
    animated = probe(output)
    assert (animated.width, animated.height) == (96, 96)
    assert animated.frame_count == probe(media["driving"]).frame_count


def test_preset_reaches_the_encoder(tiny_kit, media, tmp_path, fomm_cli):
    sizes = {}
    for preset in ("ultrafast", "medium", None):
        output = tmp_path / f"{preset}.mp4"
        chosen = ("--preset", preset) if preset else ()
        result = animate_media(fomm_cli, tiny_kit, media, output, *chosen, "--no-audio")
        assert result.returncode == 0, result.stderr
        assert probe(output).frame_count == 10
        sizes[preset] = output.stat().st_size
    # ultrafast turns off the entropy coder and prediction tools that make medium's files small
    assert sizes["ultrafast"] > sizes["medium"]
    # on a CPU the default is medium (x264 is deterministic for the same settings)
    assert sizes[None] == sizes["medium"]


def test_demo_drop_in_keeps_frame_count_and_fps(tiny_kit, media, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fomm.demo",
            "--config",
            str(tiny_kit / "config.yaml"),
            "--checkpoint",
            str(tiny_kit / "model.pth"),
            "--source_image",
            str(media["source"]),
            "--driving_video",
            str(media["driving"]),
            "--relative",
            "--adapt_scale",
            "--best_frame",
            "2",
            "--cpu",
        ],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    animated = probe(tmp_path / "result.mp4")
    assert animated.frame_count == 10 and animated.fps == probe(media["driving"]).fps


def run_in_process(args, capsys):
    code = fomm_main(["animate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.err


def bad_files(folder, media):
    corrupt = folder / "corrupt.png"
    corrupt.write_text("this is not a picture\n")
    empty_png = folder / "empty.png"
    empty_png.write_bytes(b"")
    corrupt_video = folder / "corrupt.mp4"
    corrupt_video.write_bytes(b"\x00\x01garbage" * 100)
    empty_video = folder / "empty.mp4"
    empty_video.write_bytes(b"")
    data = bytearray(media["driving"].read_bytes())
    start = data.find(b"mdat")
    data[start + 4 :] = bytes(len(data) - start - 4)  # header kept, every frame zeroed
    no_frames = folder / "no_frames.mp4"
    no_frames.write_bytes(bytes(data))
    return corrupt, empty_png, corrupt_video, empty_video, no_frames


@pytest.fixture
def bad_inputs(tmp_path, media):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    return bad_files(inputs, media)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing source", "missing.png"),
        ("corrupt source", "corrupt.png"),
        ("empty source", "empty.png"),
        ("missing driving", "missing.mp4"),
        ("corrupt driving", "corrupt.mp4"),
        ("empty driving", "empty.mp4"),
        ("zero decodable frames", "no_frames.mp4"),
        ("best frame out of range", "out of range"),
        ("negative best frame", "best-frame"),
    ],
)
def test_bad_input_one_line_exit_2_no_output(
    case, needle, bad_inputs, media, tiny_kit, tmp_path, capsys
):
    corrupt, empty_png, corrupt_video, empty_video, no_frames = bad_inputs
    source, driving, extra = media["source"], media["driving"], []
    if case == "missing source":
        source = tmp_path / "missing.png"
    elif case == "corrupt source":
        source = corrupt
    elif case == "empty source":
        source = empty_png
    elif case == "missing driving":
        driving = tmp_path / "missing.mp4"
    elif case == "corrupt driving":
        driving = corrupt_video
    elif case == "empty driving":
        driving = empty_video
    elif case == "zero decodable frames":
        driving = no_frames
    elif case == "best frame out of range":
        extra = ["--best-frame", "10"]
    elif case == "negative best frame":
        extra = ["--best-frame", "-1"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = run_in_process(
        [source, driving, "-o", out_dir / "result.mp4", *model_args(tiny_kit), *extra], capsys
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fomm: error:"), err
    assert needle in lines[0]
    assert list(out_dir.iterdir()) == []


def test_unwritable_output_folder(media, tiny_kit, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, err = run_in_process(
        [
            media["source"],
            media["driving"],
            "-o",
            blocker / "sub" / "out.mp4",
            *model_args(tiny_kit),
        ],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1 and "not writable" in err
    assert blocker.read_text() == "not a folder"


def test_checkpoint_not_torch_file(media, tmp_path, capsys):
    fake = tmp_path / "fake.pth"
    fake.write_text("definitely not a checkpoint")
    out = tmp_path / "out.mp4"
    code, err = run_in_process(
        [media["source"], media["driving"], "-o", out, "--checkpoint", fake], capsys
    )
    assert code == 2 and "fake.pth: not a PyTorch checkpoint" in err and err.count("\n") == 1
    assert not out.exists()


class CreatesFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_checkpoint_with_pickled_object_refused(media, tmp_path, capsys):
    target = tmp_path / "created-by-unpickling.txt"
    evil = tmp_path / "evil.pth"
    torch.save({"generator": CreatesFile(str(target)), "kp_detector": {}}, evil)
    out = tmp_path / "out.mp4"
    code, err = run_in_process(
        [media["source"], media["driving"], "-o", out, "--checkpoint", evil], capsys
    )
    assert code == 2 and "evil.pth: refused" in err and err.count("\n") == 1
    assert not target.exists() and not out.exists()


def test_checkpoint_of_another_configuration(media, tiny_kit, shared_dir, tmp_path, capsys):
    other = shared_dir / "conformance" / "public" / "modules-no-jacobian" / "config.yaml"
    out = tmp_path / "out.mp4"
    code, err = run_in_process(
        [
            media["source"],
            media["driving"],
            "-o",
            out,
            "--checkpoint",
            tiny_kit / "model.pth",
            "--config",
            other,
        ],
        capsys,
    )
    assert code == 2 and "does not fit the configuration" in err and err.count("\n") == 1
    assert not out.exists()


def write_tone(path, seconds: float, rate: int = 16000) -> None:
    import wave

    import numpy as np

    samples = (
        0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
    ).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def test_driving_audio_is_muxed(media, tiny_kit, tmp_path, capsys):
    from fomm.media.audio import mux_audio

    tone = tmp_path / "tone.wav"
    write_tone(tone, 1.0)
    driving = tmp_path / "driving_sound.mp4"
    assert mux_audio(media["driving"], tone, driving)
    with_sound, without = tmp_path / "with.mp4", tmp_path / "without.mp4"
    code, err = run_in_process(
        [media["source"], driving, "-o", with_sound, *model_args(tiny_kit)], capsys
    )
    assert code == 0, err
    code, err = run_in_process(
        [media["source"], driving, "-o", without, "--no-audio", *model_args(tiny_kit)], capsys
    )
    assert code == 0, err
    assert probe(with_sound).has_audio and not probe(without).has_audio
    assert probe(with_sound).frame_count == probe(without).frame_count == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["tone.wav", "driving_sound.mp4", "with.mp4", "without.mp4"]
    )


@pytest.mark.gpu
def test_cuda_fp16_animate(media, tiny_kit, tmp_path, capsys):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    output = tmp_path / "cuda.mp4"
    code, err = run_in_process(
        [media["source"], media["driving"], "-o", output, *model_args(tiny_kit),
         "--device", "cuda", "--precision", "fp16", "--batch-size", "64"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert probe(output).frame_count == 10


def animate_on_cpu(media, kit, output, precision, capsys):
    return run_in_process(
        [media["source"], media["driving"], "-o", output, *model_args(kit),
         "--device", "cpu", "--precision", precision],
        capsys,
    )  # fmt: skip


def test_fp16_on_cpu_is_refused(media, tiny_kit, tmp_path, capsys):
    output = tmp_path / "cpu16.mp4"
    code, err = animate_on_cpu(media, tiny_kit, output, "fp16", capsys)
    assert code == 2 and "fp16 needs CUDA" in err and not output.exists()


def test_bf16_on_a_cpu_without_bf16_arithmetic_warns_and_runs_fp32(
    media, tiny_kit, tmp_path, capsys, caplog, monkeypatch
):
    monkeypatch.setattr(engine_precision, "cpu_has_native_bf16", lambda: False)
    output = tmp_path / "bf16.mp4"
    code, err = animate_on_cpu(media, tiny_kit, output, "bf16", capsys)
    assert code == 0, err
    assert "no bf16 arithmetic" in caplog.text + err and "running fp32" in caplog.text + err
    assert probe(output).frame_count == 10


def test_verbose_prints_the_stages_without_libraries_debug_logs(
    fomm_cli, tiny_kit, media, tmp_path
):
    result = fomm_cli(
        "-v", "animate", media["source"], media["driving"], "-o", tmp_path / "out.mp4",
        *model_args(tiny_kit),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "importing PyTorch and loading" in result.stderr
    stages = [line for line in result.stderr.splitlines() if "start-up" in line]
    assert len(stages) == 1 and "waits for the decoder" in stages[0], result.stderr
    # every line is fomm's: PIL's chunk-by-chunk PNG debug log stays out
    assert all(line.startswith("fomm: ") for line in result.stderr.splitlines()), result.stderr
