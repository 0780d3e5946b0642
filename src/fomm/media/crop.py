"""Square face crops on the CPU, for pictures and videos, with scikit-image's LBP face cascade.

How a crop is chosen:
- Faces are found with the frontal-face LBP cascade that scikit-image ships, on frames
  shrunk so their shorter side is DETECTION_SIDE pixels; faces from SMALLEST_FACE of the
  shorter side up are found. The largest face wins.
- The crop is a square centred on the face box, `margin` times its side (default 1.8: the
  cascade's box spans brows to chin, so 1.8x holds the whole head and some neck, like the
  crops the published models were trained on).
- Videos: the face is looked for about DETECTIONS_PER_SECOND times a second; outliers
  (a detection far from its neighbours') are dropped and the box is interpolated in between.
  When the centre moves less than STILL_MOVEMENT and the size changes less than that (as
  fractions of the box side) over the whole clip, one box serves every frame; otherwise the
  track is smoothed with a Gaussian of SMOOTHING_SECONDS.
- A box that leaves the frame is shifted back inside; one larger than the frame is padded
  with the frame's edge pixels. The square is resized to `size`.
- No face: the centre square, with a warning. `box` forces a crop; `face=False` takes the
  centre square without looking.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fomm.errors import FommError, InputError
from fomm.fileutil import check_output_path
from fomm.media.image import is_picture

logger = logging.getLogger(__name__)

DEFAULT_SIZE = 256
DEFAULT_MARGIN = 1.8
DETECTION_SIDE = 240
# faces smaller than this fraction of the shorter side are not looked for (halves the search)
SMALLEST_FACE = 1 / 8
CASCADE_WINDOW = 24
DETECTIONS_PER_SECOND = 4
STILL_MOVEMENT = 0.1
SMOOTHING_SECONDS = 0.25
# a detection further than this (in box sides) from the median of its neighbours is noise
OUTLIER_DISTANCE = 0.5


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixels of the frame it was found in."""

    x: float
    y: float
    width: float
    height: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True)
class CropBox:
    """A square crop: centre and side in pixels of the input frame."""

    centre_x: float
    centre_y: float
    side: float

    @classmethod
    def around_face(cls, face: FaceBox, margin: float) -> CropBox:
        centre_x, centre_y = face.centre
        return cls(centre_x, centre_y, margin * max(face.width, face.height))

    @classmethod
    def from_xywh(cls, x: float, y: float, width: float, height: float) -> CropBox:
        """The square on the longer side of a user's box, around its centre."""
        return cls(x + width / 2, y + height / 2, max(width, height))

    @classmethod
    def centre_square(cls, height: int, width: int) -> CropBox:
        return cls(width / 2, height / 2, min(height, width))

    def pixel_square(self, height: int, width: int) -> tuple[int, int, int]:
        """(left, top, side) in whole pixels, shifted to stay inside a height x width frame
        whenever the square fits in it."""
        side = max(1, round(self.side))
        left = round(self.centre_x - side / 2)
        top = round(self.centre_y - side / 2)
        if side <= width:
            left = min(max(left, 0), width - side)
        else:
            left = round((width - side) / 2)
        if side <= height:
            top = min(max(top, 0), height - side)
        else:
            top = round((height - side) / 2)
        return left, top, side


@dataclass(frozen=True)
class CropTrack:
    """The box used for each frame of a video, and how it was chosen."""

    boxes: tuple[CropBox, ...]
    method: str  # "fixed", "smoothed", "no-face", "centre", "given"
    detections: int


@functools.lru_cache(maxsize=1)
def _cascade():
    from skimage import data, feature

    return feature.Cascade(data.lbp_frontal_face_cascade_filename())


def _grey(frame: np.ndarray) -> np.ndarray:
    weights = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    return (frame[..., :3].astype(np.float32) @ weights) / 255.0


def detection_scale(height: int, width: int) -> float:
    """Factor that shrinks a frame to DETECTION_SIDE on its shorter side (never enlarges)."""
    return min(1.0, DETECTION_SIDE / min(height, width))


def detect_face(frame: np.ndarray, scale: float | None = None) -> FaceBox | None:
    """The largest frontal face in an (H, W, 3) frame, in that frame's pixels, or None.

    The frame is shrunk by `scale` (default `detection_scale`) before the search; pass 1.0
    for a frame that is already small.
    """
    from PIL import Image

    scale = detection_scale(*frame.shape[:2]) if scale is None else scale
    if scale < 1.0:
        height, width = frame.shape[:2]
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame = np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., :3])).resize(
            small, Image.Resampling.BOX))  # fmt: skip
        scale_x, scale_y = small[0] / width, small[1] / height
    else:
        scale_x = scale_y = scale
    grey = _grey(frame)
    smallest = max(CASCADE_WINDOW, round(min(grey.shape) * SMALLEST_FACE))
    if min(grey.shape) < smallest:
        return None
    found = _cascade().detect_multi_scale(
        img=grey,
        scale_factor=1.2,
        step_ratio=1,
        min_size=(smallest, smallest),
        max_size=grey.shape,
        min_neighbor_number=4,
    )
    if not found:
        return None
    best = max(found, key=lambda face: face["width"] * face["height"])
    return FaceBox(
        x=best["c"] / scale_x,
        y=best["r"] / scale_y,
        width=best["width"] / scale_x,
        height=best["height"] / scale_y,
    )


def crop_square(frame: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut the square `box` out of an (H, W, 3) frame (edge pixels repeated where it leaves
    the frame) and resize it to (size, size, 3) uint8."""
    from PIL import Image

    height, width = frame.shape[:2]
    left, top, side = box.pixel_square(height, width)
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom, pad_right = max(0, top + side - height), max(0, left + side - width)
    if pad_top or pad_left or pad_bottom or pad_right:
        frame = np.pad(frame, ((pad_top, pad_bottom), (pad_left, pad_right), (0, 0)), mode="edge")
        top, left = top + pad_top, left + pad_left
    square = np.ascontiguousarray(frame[top : top + side, left : left + side, :3])
    if side == size:
        return square
    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.LANCZOS))


def choose_picture_box(
    image: np.ndarray,
    margin: float = DEFAULT_MARGIN,
    box: CropBox | None = None,
    face: bool = True,
    name: str = "picture",
) -> CropBox:
    """The crop for one picture: given, around the largest face, or the centre square."""
    height, width = image.shape[:2]
    if box is not None:
        check_box_overlaps(box, height, width, name)
        return box
    if not face:
        return CropBox.centre_square(height, width)
    found = detect_face(image)
    if found is None:
        logger.warning("%s: no face found; cropped the centre square", name)
        return CropBox.centre_square(height, width)
    return CropBox.around_face(found, margin)


def crop_picture(
    source: str | os.PathLike,
    output: str | os.PathLike,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    box: CropBox | None = None,
    face: bool = True,
) -> CropBox:
    """Crop a picture file to a size x size square picture file; returns the box used."""
    from fomm.media.image import read_image, write_image

    _check_options(size, margin)
    check_output_path(output, inputs=(source,))
    image = read_image(source)
    chosen = choose_picture_box(image, margin, box, face, name=str(source))
    write_image(output, crop_square(image, chosen, size))
    return chosen


def check_box_overlaps(box: CropBox, height: int, width: int, name: str) -> None:
    """A forced box must cover part of the frame (a typo would otherwise crop padding)."""
    half = box.side / 2
    if (
        box.centre_x + half <= 0
        or box.centre_y + half <= 0
        or box.centre_x - half >= width
        or box.centre_y - half >= height
    ):
        raise FommError(f"{name}: the box lies outside the {width}x{height} frame")


def _check_options(size: int, margin: float) -> None:
    if size < 8:
        raise FommError(f"--size must be at least 8 pixels, got {size}")
    if not margin > 0:
        raise FommError(f"--margin must be positive, got {margin}")


def _drop_outliers(samples: list[tuple[int, FaceBox]]) -> list[tuple[int, FaceBox]]:
    """Remove detections far from the median of their five nearest neighbours in time."""
    if len(samples) < 3:
        return samples
    kept = []
    for index, (frame_index, face) in enumerate(samples):
        lo, hi = max(0, index - 2), min(len(samples), index + 3)
        neighbours = [other for _, other in samples[lo:hi]]
        median_x = float(np.median([other.centre[0] for other in neighbours]))
        median_y = float(np.median([other.centre[1] for other in neighbours]))
        median_side = float(np.median([max(other.width, other.height) for other in neighbours]))
        distance = np.hypot(face.centre[0] - median_x, face.centre[1] - median_y)
        side = max(face.width, face.height)
        if distance <= OUTLIER_DISTANCE * median_side and abs(side - median_side) <= (
            OUTLIER_DISTANCE * median_side
        ):
            kept.append((frame_index, face))
    return kept or samples


def _smooth_keeping_trends(track: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time; the ends are padded by point reflection, so a box
    still moving at the first or last frame is not pulled back toward where it was."""
    from scipy.ndimage import gaussian_filter1d

    pad = min(len(track) - 1, int(4 * sigma))
    if pad < 1:
        return track
    front = 2 * track[0] - track[pad:0:-1]
    back = 2 * track[-1] - track[-2 : -pad - 2 : -1]
    padded = np.concatenate([front, track, back])
    return gaussian_filter1d(padded, sigma=sigma, axis=0, mode="nearest")[pad:-pad]


def plan_track(
    samples: list[tuple[int, FaceBox]], frame_count: int, fps: float, margin: float
) -> tuple[list[CropBox], str]:
    """Per-frame crop boxes from sparse face detections: one box or a smoothed track."""
    samples = _drop_outliers(samples)
    frames = np.array([index for index, _ in samples], dtype=np.float64)
    boxes = [CropBox.around_face(face, margin) for _, face in samples]
    everywhere = np.arange(frame_count, dtype=np.float64)
    track = np.stack(
        [
            np.interp(everywhere, frames, [getattr(box, name) for box in boxes])
            for name in ("centre_x", "centre_y", "side")
        ],
        axis=1,
    )
    median = np.median(track, axis=0)
    movement = np.hypot(track[:, 0] - median[0], track[:, 1] - median[1]).max() / median[2]
    growth = np.abs(track[:, 2] - median[2]).max() / median[2]
    if movement < STILL_MOVEMENT and growth < STILL_MOVEMENT:
        return [CropBox(*map(float, median))] * frame_count, "fixed"
    sigma = max(1.0, SMOOTHING_SECONDS * fps)
    smooth = _smooth_keeping_trends(track, sigma)
    return [CropBox(*map(float, row)) for row in smooth], "smoothed"


def video_track(
    source: str | os.PathLike,
    margin: float = DEFAULT_MARGIN,
    box: CropBox | None = None,
    face: bool = True,
) -> CropTrack:
    """The crop box of every frame of a video (first pass: detection on shrunk frames)."""
    from fomm.media.video import VideoReader, probe

    info = probe(source)
    if box is not None:
        check_box_overlaps(box, info.height, info.width, str(source))
    if box is not None or not face:
        chosen = box or CropBox.centre_square(info.height, info.width)
        return CropTrack((chosen,) * (info.frame_count or 1), "given" if box else "centre", 0)
    every = max(1, round(float(info.fps) / DETECTIONS_PER_SECOND))
    samples: list[tuple[int, FaceBox]] = []
    count = 0
    with VideoReader(source, max_size=DETECTION_SIDE) as reader:
        back = info.width / reader.width
        for index, frame in enumerate(reader):
            count = index + 1
            if index % every:
                continue
            found = detect_face(frame, scale=1.0)
            if found is not None:
                samples.append(
                    (
                        index,
                        FaceBox(found.x * back, found.y * back, found.width * back,
                                found.height * back),
                    )
                )  # fmt: skip
    if not samples:
        logger.warning("%s: no face found in any frame; cropped the centre square", source)
        centre = CropBox.centre_square(info.height, info.width)
        return CropTrack((centre,) * count, "no-face", 0)
    boxes, method = plan_track(samples, count, float(info.fps), margin)
    return CropTrack(tuple(boxes), method, len(samples))


def crop_video(
    source: str | os.PathLike,
    output: str | os.PathLike,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    box: CropBox | None = None,
    face: bool = True,
    quality: int | None = None,
) -> CropTrack:
    """Crop a video to a size x size H.264 mp4 with the same frame rate and its audio."""
    from fomm.media.audio import mux_audio
    from fomm.media.ffmpeg_args import DEFAULT_QUALITY
    from fomm.media.video import VideoReader, VideoWriter, probe

    _check_options(size, margin)
    source, output = Path(source), Path(output)
    if is_picture(output):
        raise FommError(f"{output}: a video is cropped to a video; name the output .mp4")
    check_output_path(output, inputs=(source,))
    track = video_track(source, margin, box, face)
    silent = output.with_name(f".{output.stem}.silent-{os.getpid()}.mp4")
    try:
        with (
            VideoReader(source) as reader,
            VideoWriter(
                silent, reader.fps, quality=DEFAULT_QUALITY if quality is None else quality
            ) as writer,
        ):
            for index, frame in enumerate(reader):
                chosen = track.boxes[min(index, len(track.boxes) - 1)]
                writer.write(crop_square(frame, chosen, size))
        if probe(source).has_audio:
            mux_audio(silent, source, output)
        else:
            os.replace(silent, output)
    except FommError as error:
        hidden_name = f"{silent}: "
        if str(error).startswith(hidden_name):
            # the user knows the output's name, not the intermediate's
            raise InputError(output, str(error)[len(hidden_name) :]) from None
        raise
    finally:
        silent.unlink(missing_ok=True)
    return track


def crop_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    box: CropBox | None = None,
    face: bool = True,
) -> CropBox | CropTrack:
    """Crop a picture (by its suffix) or a video; an animated GIF is cropped as a video when
    the output is named as one (.mp4)."""
    gif_to_video = Path(source).suffix.lower() == ".gif" and not is_picture(output)
    if is_picture(source) and not gif_to_video:
        return crop_picture(source, output, size, margin, box, face)
    return crop_video(source, output, size, margin, box, face)
