"""Pictures in and out with Pillow: any common format to (H, W, 3) uint8 RGB, as displayed."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from fomm.errors import InputError
from fomm.fileutil import atomic_output
from fomm.media.frames import as_rgb_uint8

logger = logging.getLogger(__name__)

# Largest picture read: 100 megapixels (e.g. 12000 x 8000, beyond any phone or camera).
# Decoding it takes about 300 MB as RGB; a file claiming more is refused before decoding,
# as a decompression bomb (a tiny file that expands to gigabytes) would be.
MAX_PIXELS = 100_000_000

JPEG_QUALITY = 95

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def is_picture(path: str | os.PathLike) -> bool:
    """Named as a picture (by its suffix; a .gif counts as one)."""
    return Path(path).suffix.lower() in PICTURE_SUFFIXES


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not a picture")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(path, _too_large_message(None)) from None
    except UnidentifiedImageError:
        raise InputError(path, "not a picture format that can be read") from None
    except OSError as error:
        raise InputError(path, f"cannot be read ({error})") from None
    width, height = picture.size
    if width * height > MAX_PIXELS:
        picture.close()
        raise InputError(path, _too_large_message((width, height)))
    return picture


def _too_large_message(size: tuple[int, int] | None) -> str:
    limit = f"the limit of {MAX_PIXELS // 1_000_000} megapixels"
    if size is None:
        return f"picture is larger than {limit} (refused as a possible decompression bomb)"
    width, height = size
    return f"picture of {width}x{height} pixels is over {limit} (refused as a possible decompression bomb)"


def _deep_to_8bit(picture) -> np.ndarray:
    """Grey 16-bit, 32-bit integer or float pictures as (H, W) uint8."""
    values = np.asarray(picture)
    if picture.mode == "F":
        scale = 255.0 if float(np.nanmax(values, initial=0)) <= 1.0 else 1.0
        return np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8)
    top = 65535 if picture.mode.startswith("I;16") or values.max(initial=0) > 255 else 255
    return np.clip(np.rint(values.astype(np.float64) * (255 / top)), 0, 255).astype(np.uint8)


def _to_srgb(picture):
    """CMYK to RGB, through its ICC profile when it has one (RGB profiles are ignored, as the
    original demo's reader does)."""
    profile = picture.info.get("icc_profile")
    if profile:
        try:
            import io

            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            target = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(picture, source, target, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            logger.debug("ICC conversion failed (%s); plain CMYK formula used", error)
    return picture.convert("RGB")


def read_image(
    path: str | os.PathLike, background: tuple[int, int, int] | None = (255, 255, 255)
) -> np.ndarray:
    """A picture as (H, W, 3) uint8 RGB, as a viewer shows it.

    PNG, JPEG (incl. CMYK), WebP, BMP, TIFF, GIF (first frame) and whatever else Pillow
    reads. EXIF orientation is applied; grey and palette become RGB; 16-bit becomes 8-bit;
    transparency is composited over `background`, or dropped when `background` is None (the
    original demo keeps the colour channels of transparent pixels as they are stored).
    Pictures over MAX_PIXELS are refused.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    picture = _open(path)
    try:
        with picture:
            picture.seek(0)
            try:
                picture = ImageOps.exif_transpose(picture)
            except (OSError, ValueError, KeyError, TypeError, SyntaxError) as error:
                logger.warning("%s: damaged EXIF ignored, picture used as stored (%s)", path, error)
            picture.load()
            if picture.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
                return np.ascontiguousarray(np.repeat(_deep_to_8bit(picture)[..., None], 3, 2))
            has_alpha = picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
                picture.mode in ("P", "L", "RGB") and "transparency" in picture.info
            )
            if has_alpha and background is None:
                return np.ascontiguousarray(np.asarray(picture.convert("RGBA"))[..., :3])
            if has_alpha:
                rgba = np.asarray(picture.convert("RGBA"), dtype=np.float32)
                return composite_on(rgba, background)
            if picture.mode != "RGB":
                picture = _to_srgb(picture) if picture.mode == "CMYK" else picture.convert("RGB")
            return np.ascontiguousarray(np.asarray(picture, dtype=np.uint8)[..., :3])
    except InputError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(path, f"picture is damaged or unsupported ({error})") from None


def composite_on(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Blend (H, W, 4) RGBA values (0-255) over a solid colour, as uint8 RGB."""
    alpha = rgba[..., 3:4] / 255.0
    colour = np.asarray(background, dtype=np.float32).reshape(1, 1, 3)
    blended = rgba[..., :3] * alpha + colour * (1.0 - alpha)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Save an (H, W, 3) picture (uint8, or float in [0, 1]); the format follows the suffix.

    Written to a temporary name and renamed when complete.
    """
    from PIL import Image

    path = Path(path)
    pixels = as_rgb_uint8(image)
    if len(pixels) != 1:
        raise ValueError(f"{path}: expected one picture, got a batch of {len(pixels)}")
    picture = Image.fromarray(pixels[0])
    suffix = path.suffix.lower()
    options = {"quality": JPEG_QUALITY} if suffix in (".jpg", ".jpeg", ".webp") else {}
    file_format = Image.registered_extensions().get(suffix)
    if file_format is None:
        raise InputError(path, f"unknown picture format {path.suffix!r} (use .png or .jpg)")
    with atomic_output(path) as temp:
        try:
            picture.save(temp, format=file_format, **options)
        except OSError as error:
            raise InputError(path, f"cannot be written ({error.strerror or error})") from None
    return path
