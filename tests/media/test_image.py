"""read_image / write_image on pictures made from scikit-image's astronaut."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fomm.errors import InputError
from fomm.media.image import MAX_PIXELS, read_image, write_image


@pytest.fixture(scope="session")
def astronaut_small() -> np.ndarray:
    """A 48x64 RGB crop of the astronaut, with detail in every channel."""
    return np.ascontiguousarray(data.astronaut()[40:232:4, 120:376:4])


@pytest.mark.parametrize(
    ("suffix", "options", "tolerance"),
    [
        (".png", {}, 0),
        (".bmp", {}, 0),
        (".tif", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".jpg", {"quality": 95}, 12),
        (".webp", {"quality": 90}, 20),
    ],
)
def test_formats_read_back(tmp_path, astronaut_small, suffix, options, tolerance):
    path = tmp_path / f"picture{suffix}"
    Image.fromarray(astronaut_small).save(path, **options)
    pixels = read_image(path)
    assert pixels.shape == (48, 64, 3) and pixels.dtype == np.uint8
    difference = np.abs(pixels.astype(int) - astronaut_small).mean()
    assert difference <= tolerance


def test_gif_first_frame(tmp_path, astronaut_small):
    frames = [Image.fromarray(astronaut_small), Image.fromarray(255 - astronaut_small)]
    path = tmp_path / "two.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    pixels = read_image(path)
    assert pixels.shape == (48, 64, 3)
    assert np.abs(pixels.astype(int) - astronaut_small).mean() < 15  # palette quantisation
    assert np.abs(pixels.astype(int) - (255 - astronaut_small)).mean() > 60


def test_exif_orientation_applied(tmp_path, astronaut_small):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    Image.fromarray(astronaut_small).save(path, quality=95, exif=exif)
    pixels = read_image(path)
    assert pixels.shape == (64, 48, 3)
    stored = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(pixels, np.rot90(stored, k=-1))


def test_grey_and_palette_become_rgb(tmp_path, astronaut_small):
    grey = np.asarray(Image.fromarray(astronaut_small).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    pixels = read_image(tmp_path / "grey.png")
    assert pixels.shape == (48, 64, 3)
    assert all(np.array_equal(pixels[..., c], grey) for c in range(3))
    palette = Image.fromarray(astronaut_small).quantize(colors=16)
    palette.save(tmp_path / "palette.png")
    assert np.array_equal(read_image(tmp_path / "palette.png"), np.asarray(palette.convert("RGB")))


def test_sixteen_bit(tmp_path, ffmpeg_make):
    ramp = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    pixels = read_image(tmp_path / "grey16.png")
    expected = np.rint(ramp / 257).astype(np.uint8)
    assert np.array_equal(pixels[..., 0], expected) and np.array_equal(pixels[..., 2], expected)
    deep = ffmpeg_make(
        tmp_path / "rgb48.png",
        "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", "-pix_fmt", "rgb48be",
    )  # fmt: skip
    shallow = ffmpeg_make(
        tmp_path / "rgb24.png",
        "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", "-pix_fmt", "rgb24",
    )  # fmt: skip
    assert np.abs(read_image(deep).astype(int) - read_image(shallow)).max() <= 1


def test_alpha_composited_on_background(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 128
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    on_white = read_image(tmp_path / "alpha.png")
    assert tuple(on_white[4, 4]) == (255, 127, 127)
    assert tuple(on_white[0, 0]) == (255, 255, 255)
    on_black = read_image(tmp_path / "alpha.png", background=(0, 0, 0))
    assert tuple(on_black[4, 4]) == (128, 0, 0) and tuple(on_black[0, 0]) == (0, 0, 0)
    grey_alpha = Image.fromarray(rgba).convert("LA")
    grey_alpha.save(tmp_path / "la.png")
    assert tuple(read_image(tmp_path / "la.png", background=(0, 0, 255))[0, 0]) == (0, 0, 255)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    pixels = read_image(tmp_path / "cmyk.jpg")
    assert pixels.shape == (16, 16, 3)
    assert pixels[..., 0].min() > 230 and pixels[..., 1:].max() < 25


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds one empty row: enough for a header read."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [12_000, 60_000])
def test_decompression_bomb_refused(tmp_path, side):
    assert side * side > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(InputError, match="decompression bomb") as error:
        read_image(path)
    assert str(path) in str(error.value)


def test_large_and_tiny_pictures(tmp_path):
    big = np.zeros((3000, 4000, 3), np.uint8)
    big[:, 2000:] = 200
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=80)
    pixels = read_image(tmp_path / "big.jpg")
    assert pixels.shape == (3000, 4000, 3) and pixels[:, 2100:].min() > 190
    Image.fromarray(np.full((1, 1, 3), 7, np.uint8)).save(tmp_path / "dot.png")
    assert read_image(tmp_path / "dot.png").tolist() == [[[7, 7, 7]]]


def test_unreadable_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "noise.png").write_bytes(os.urandom(2000))
    (tmp_path / "cut.png").write_bytes(png_header_only(64, 64)[:40])
    for name, problem in [("empty.png", "empty"), ("noise.png", "not a picture"),
                          ("missing.png", "not found"), ("cut.png", "damaged|cannot be read|not a picture")]:  # fmt: skip
        with pytest.raises(InputError, match=problem) as error:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)


def test_write_image_round_trip_and_no_leftovers(tmp_path, astronaut_small, awkward_name):
    path = tmp_path / f"{awkward_name}.png"
    assert write_image(path, astronaut_small) == path
    assert np.array_equal(read_image(path), astronaut_small)
    write_image(tmp_path / "float.jpg", astronaut_small / 255.0)
    assert np.abs(read_image(tmp_path / "float.jpg").astype(int) - astronaut_small).mean() < 6
    with pytest.raises(InputError, match="unknown picture format"):
        write_image(tmp_path / "picture.xyz", astronaut_small)
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, "float.jpg"])
