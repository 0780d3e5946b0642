"""Every media command on every kind of bad file: one line naming it, exit 2, no output."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fomm.media.image import write_image


@pytest.fixture(scope="session")
def source_picture(media_dir):
    return write_image(media_dir / "source.png", np.full((32, 32, 3), 128, np.uint8))


def commands(bad, out, good_video, picture):
    return {
        "probe": ["probe", bad],
        "crop": ["crop", bad, "-o", out, "--no-face", "--size", "32"],
        "mux": ["mux", bad, "--audio-from", good_video, "-o", out],
        "mosaic": ["mosaic", good_video, "-o", out, "--pair", picture, bad, "--tile", "32"],
    }


@pytest.mark.parametrize("bad_fixture", ["empty_file", "random_bytes_file", "audio_only"])
@pytest.mark.parametrize("command", ["probe", "crop", "mux", "mosaic"])
def test_bad_file(
    request, tmp_path, fomm_cli, clip_with_audio, source_picture, bad_fixture, command
):
    bad = request.getfixturevalue(bad_fixture)
    out = tmp_path / "out.mp4"
    done = fomm_cli(*commands(bad, out, clip_with_audio, source_picture)[command])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fomm: error: {bad}: ")
    assert os.listdir(tmp_path) == []


def test_truncated_video_crops_with_a_warning(tmp_path, fomm_cli, truncated_clip):
    out = tmp_path / "out.mp4"
    done = fomm_cli("crop", truncated_clip, "-o", out, "--no-face", "--size", "32")
    assert done.returncode == 0, done.stderr
    assert "truncated" in done.stderr
    printed = fomm_cli("probe", out)
    assert '"frame_count": ' in printed.stdout
    assert os.listdir(tmp_path) == ["out.mp4"]
