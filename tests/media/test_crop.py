"""Face crop: measured on scikit-image's astronaut moved and scaled over a larger canvas."""

from __future__ import annotations

import logging
import os
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fomm.media.audio import mux_audio, stream_duration
from fomm.media.crop import CropBox, FaceBox, crop_picture, crop_square, crop_video, video_track
from fomm.media.image import read_image, write_image
from fomm.media.video import VideoReader, VideoWriter, probe

# Centre of the astronaut's face in skimage.data.astronaut() (512x512), marked by eye
# between the eyes and the mouth (at the nose); the crop is judged against it.
FACE_CENTRE = (226.0, 122.0)
CANVAS = (300, 400)  # height, width
STILL_FRAMES = 12


def place_astronaut(x: int, y: int, scale: float) -> tuple[np.ndarray, tuple[float, float]]:
    """The astronaut scaled and pasted at (x, y) on a gradient canvas, and its face centre."""
    height, width = CANVAS
    rows, cols = np.mgrid[0:height, 0:width]
    canvas = np.stack([80 + cols * 0.2, 90 + rows * 0.2, 100 + 0 * cols], -1).astype(np.uint8)
    side = round(512 * scale)
    photo = np.asarray(
        Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)
    )
    canvas[y : y + side, x : x + side] = photo[: height - y, : width - x]
    return canvas, (x + FACE_CENTRE[0] * side / 512, y + FACE_CENTRE[1] * side / 512)


def moving_plan() -> list[tuple[int, int, float]]:
    """Still for STILL_FRAMES frames, then 24 frames moving 120 px right, 40 down, 20% larger."""
    still = [(20, 20, 0.5)] * STILL_FRAMES
    moving = [
        (round(20 + i * 120 / 23), round(20 + i * 40 / 23), 0.5 + 0.1 * i / 23) for i in range(24)
    ]
    return still + moving


@pytest.fixture(scope="session")
def astronaut_clip(media_dir, ffmpeg_make):
    """The moving astronaut at 10 fps with a tone; returns (path, true face centres)."""
    silent = media_dir / "astronaut_silent.mp4"
    centres = []
    with VideoWriter(silent, 10, quality=90) as writer:
        for x, y, scale in moving_plan():
            frame, centre = place_astronaut(x, y, scale)
            centres.append(centre)
            writer.write(frame)
    path = media_dir / "astronaut moving.mp4"
    tone = ffmpeg_make(media_dir / "tone_for_astronaut.wav", "-f", "lavfi", "-i", "sine=duration=5")
    mux_audio(silent, tone, path)
    return path, np.array(centres)


def test_moving_face_is_followed_and_still_face_is_steady(astronaut_clip):
    path, truth = astronaut_clip
    track = video_track(path)
    assert track.method == "smoothed" and track.detections >= 12
    centres = np.array([(box.centre_x, box.centre_y) for box in track.boxes])
    assert centres.shape == truth.shape
    height, width = CANVAS
    error = np.hypot(*(centres - truth).T)
    assert error.max() < 0.10 * min(height, width), error.round(1)
    still_jitter = np.hypot(*np.diff(centres[:STILL_FRAMES], axis=0).T)
    assert still_jitter.max() < 0.01 * min(height, width), still_jitter.round(2)
    sides = np.array([box.side for box in track.boxes])
    face_side = 100 * np.array([scale for _, _, scale in moving_plan()])  # the cascade's box
    assert np.all((sides > 1.3 * face_side) & (sides < 2.4 * face_side))


def test_still_face_gets_one_box(media_dir):
    path = media_dir / "astronaut_still.mp4"
    frame, truth = place_astronaut(60, 10, 0.55)
    with VideoWriter(path, 10, quality=90) as writer:
        writer.write(np.stack([frame] * 8))
    track = video_track(path)
    assert track.method == "fixed" and len(set(track.boxes)) == 1
    box = track.boxes[0]
    assert np.hypot(box.centre_x - truth[0], box.centre_y - truth[1]) < 0.1 * CANVAS[0]


def test_video_crop_keeps_audio_timing_and_size(tmp_path, astronaut_clip):
    path, truth = astronaut_clip
    out = tmp_path / "cropped.mp4"
    track = crop_video(path, out, size=128)
    source, cropped = probe(path), probe(out)
    assert (cropped.width, cropped.height) == (128, 128)
    assert cropped.fps == source.fps == Fraction(10)
    assert cropped.frame_count == source.frame_count == len(track.boxes)
    assert cropped.has_audio
    assert abs(stream_duration(out, "a:0") - stream_duration(out, "V:0")) < 0.1
    assert os.listdir(tmp_path) == ["cropped.mp4"]
    frames = VideoReader(out).read_all()
    # the face centre stays near the middle of the crop in every frame
    for frame, box, centre in zip(frames, track.boxes, truth):
        assert frame.shape == (128, 128, 3)
        offset = (centre - (box.centre_x, box.centre_y)) / box.side
        assert np.all(np.abs(offset) < 0.1)


def test_picture_crop_centres_the_face(tmp_path):
    source = tmp_path / "astronaut photo.png"
    write_image(source, data.astronaut())
    out = tmp_path / "crop.png"
    box = crop_picture(source, out, size=96)
    assert np.hypot(box.centre_x - FACE_CENTRE[0], box.centre_y - FACE_CENTRE[1]) < 0.1 * 512
    assert 140 < box.side < 220
    assert read_image(out).shape == (96, 96, 3)


def test_no_face_gives_centre_square_and_warning(tmp_path, caplog):
    rows, cols = np.mgrid[0:60, 0:100]
    gradient = np.stack([rows * 4, cols * 2, rows + cols], -1).astype(np.uint8)
    source = tmp_path / "gradient.png"
    write_image(source, gradient)
    with caplog.at_level(logging.WARNING, logger="fomm.media.crop"):
        box = crop_picture(source, tmp_path / "out.png", size=60)
    assert "no face" in caplog.text and str(source) in caplog.text
    assert box == CropBox(50, 30, 60)
    assert np.array_equal(read_image(tmp_path / "out.png"), gradient[:, 20:80])


def test_forced_box_and_no_face(tmp_path):
    pattern = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
    source = tmp_path / "pattern.png"
    write_image(source, pattern)
    crop_picture(source, tmp_path / "box.png", size=20, box=CropBox.from_xywh(10, 5, 20, 20))
    assert np.array_equal(read_image(tmp_path / "box.png"), pattern[5:25, 10:30])
    crop_picture(source, tmp_path / "centre.png", size=48, face=False)
    assert np.array_equal(read_image(tmp_path / "centre.png"), pattern[:, 8:56])


def test_animated_gif_crops_to_a_video_or_a_picture(tmp_path, ffmpeg_make):
    from fomm.media.crop import crop_file

    gif = ffmpeg_make(
        tmp_path / "driving.gif", "-f", "lavfi", "-i", "testsrc2=size=80x60:rate=10",
        "-frames:v", "7",
    )  # fmt: skip
    crop_file(gif, tmp_path / "driving.mp4", size=48, face=False)
    video = probe(tmp_path / "driving.mp4")
    assert (video.frame_count, video.fps, video.width) == (7, 10, 48)
    crop_file(gif, tmp_path / "first.png", size=48, face=False)  # a picture: its first frame
    assert read_image(tmp_path / "first.png").shape == (48, 48, 3)


def test_box_leaving_the_frame_is_shifted_or_padded():
    frame = np.arange(40 * 60 * 3, dtype=np.uint32).reshape(40, 60, 3).astype(np.uint8)
    shifted = crop_square(frame, CropBox(centre_x=55, centre_y=5, side=30), 30)
    assert np.array_equal(shifted, frame[0:30, 30:60])
    assert CropBox(55, 5, 30).pixel_square(40, 60) == (30, 0, 30)
    padded = crop_square(frame, CropBox(centre_x=30, centre_y=20, side=60), 60)
    assert padded.shape == (60, 60, 3)
    assert np.array_equal(padded[10:50], frame)
    assert np.array_equal(padded[0], frame[0]) and np.array_equal(padded[59], frame[39])


def test_face_box_geometry():
    face = FaceBox(x=10, y=20, width=40, height=40)
    assert CropBox.around_face(face, 1.5) == CropBox(30, 40, 60)
    assert CropBox.from_xywh(0, 0, 30, 10) == CropBox(15, 5, 30)


def test_cli_crop(tmp_path, fomm_cli, awkward_name, empty_file):
    source = tmp_path / f"{awkward_name}.jpg"
    write_image(source, data.astronaut())
    out = tmp_path / "out dir" / f"{awkward_name} crop.png"
    done = fomm_cli("crop", source, "-o", out, "--size", "64", "--margin", "2")
    assert done.returncode == 0, done.stderr
    assert read_image(out).shape == (64, 64, 3)
    for bad in (["--box", "1,2,3"], ["--box", "900,900,10,10"], ["--size", "0"]):
        failed = fomm_cli("crop", source, "-o", tmp_path / "bad.png", *bad)
        assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1
    failed = fomm_cli("crop", empty_file, "-o", tmp_path / "x.mp4")
    assert failed.returncode == 2
    assert failed.stderr.strip() == f"fomm: error: {empty_file}: file is empty"
    assert sorted(os.listdir(tmp_path)) == sorted([source.name, "out dir"])
    assert not (tmp_path / "PWNED").exists()


def test_huge_and_tiny_pictures(tmp_path, caplog):
    canvas = np.full((3000, 4000, 3), 120, np.uint8)
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((1024, 1024)))
    canvas[1000:2024, 1500:2524] = photo
    write_image(tmp_path / "huge.jpg", canvas)
    box = crop_picture(tmp_path / "huge.jpg", tmp_path / "huge_crop.png", size=64)
    truth = (1500 + FACE_CENTRE[0] * 2, 1000 + FACE_CENTRE[1] * 2)
    assert np.hypot(box.centre_x - truth[0], box.centre_y - truth[1]) < 0.1 * 3000
    assert read_image(tmp_path / "huge_crop.png").shape == (64, 64, 3)
    write_image(tmp_path / "dot.png", np.full((1, 1, 3), 9, np.uint8))
    with caplog.at_level(logging.WARNING, logger="fomm.media.crop"):
        crop_picture(tmp_path / "dot.png", tmp_path / "dot_crop.png", size=16)
    assert "no face" in caplog.text
    assert np.all(read_image(tmp_path / "dot_crop.png") == 9)
