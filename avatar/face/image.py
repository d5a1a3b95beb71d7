"""Read a portrait file into an upright 8-bit RGB array, or say why not."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from avatar.errors import ImageError

log = logging.getLogger(__name__)

MAX_SIDE = 4096  # larger photos are downscaled: the face never needs more
MIN_SIDE = 64
#: Larger images are refused unless their decoder can reduce them while reading (JPEG).
MAX_DECODE_PIXELS = 120_000_000
#: Above this many pixels an image is read reduced (PIL's own default bomb-guard limit).
HUGE_PIXELS = 89_478_485


def load_image(source: str | Path | np.ndarray | Image.Image, *, notices: list[str] | None = None):
    """Return (H, W, 3) uint8 RGB, upright (EXIF applied), at most MAX_SIDE pixels on a side.

    Anything that changes the picture the user gave (downscaling, dropping
    alpha, taking the first frame of an animation) is appended to ``notices``.
    """
    notices = notices if notices is not None else []
    if isinstance(source, np.ndarray):
        return _from_array(source, notices)
    if isinstance(source, Image.Image):
        return _from_pil(source, notices)
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"The portrait file {path} does not exist.")
    use_own_pixel_limits()
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > HUGE_PIXELS:
                return _open_huge(path, im, notices)
            im.load()
            if getattr(im, "n_frames", 1) > 1:
                notices.append("The image is animated; its first frame is used.")
                im.seek(0)
            im = ImageOps.exif_transpose(im)
            return _from_pil(im, notices)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path.name} is not an image file that can be read.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path.name} is damaged or truncated and cannot be read.") from exc


def use_own_pixel_limits() -> None:
    """Switch off PIL's process-wide decompression-bomb guard; ``load_image`` applies its own.

    PIL's guard is one global that warns (or raises) inside ``Image.open`` for any thread.
    Turning it on and off around each read raced with other threads of the web app
    (gradio opens the same upload), which then saw a 108-megapixel photo as unreadable.
    Here it is switched off once and for good: very large images are decoded reduced
    (``_open_huge``) or refused with a sentence instead.
    """
    Image.MAX_IMAGE_PIXELS = None


def _open_huge(path: Path, im: Image.Image, notices: list[str]) -> np.ndarray:
    """Decode a very large image at reduced size without allocating it whole."""
    try:
        original = im.size
        im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at 1/2..1/8 scale
        drafted = im.size
        if drafted[0] * drafted[1] > MAX_DECODE_PIXELS:  # PNG, WebP, ...: no reduced decode
            raise ImageError(
                f"{path.name} is too large ({original[0]}×{original[1]} pixels); "
                f"use a photo under {MAX_DECODE_PIXELS // 1_000_000} megapixels."
            )
        im = ImageOps.exif_transpose(im)
        if im.size != drafted:  # EXIF turned it a quarter: so did the size the user sees
            original = original[::-1]
        return _from_pil(im, notices, original_size=original)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path.name} is damaged or too large to read.") from exc


def _from_pil(
    im: Image.Image, notices: list[str], original_size: tuple[int, int] | None = None
) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        if np.asarray(rgba)[..., 3].min() < 255:
            notices.append("The image has transparency; it is placed on a white background.")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    im = im.convert("RGB")  # CMYK, greyscale, palette, YCbCr
    return _from_array(np.asarray(im), notices, original_size=original_size)


def _from_array(
    arr: np.ndarray, notices: list[str], original_size: tuple[int, int] | None = None
) -> np.ndarray:
    """``original_size`` (width, height): the file's size when it was decoded already reduced."""
    import cv2

    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:  # (H, W, 1) is greyscale too
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError("The portrait must be a colour or greyscale image.")
    if arr.shape[2] == 4:
        alpha = arr[..., 3:4].astype(np.float32) / (65535.0 if arr.dtype == np.uint16 else 255.0)
        arr = arr[..., :3].astype(np.float32) * alpha + (1.0 - alpha) * (
            65535.0 if arr.dtype == np.uint16 else 255.0
        )
    if arr.dtype != np.uint8:
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(
            f"The image is {w}×{h} pixels; it must be at least {MIN_SIDE} on each side."
        )
    ow, oh = original_size or (w, h)
    if max(h, w) > MAX_SIDE or max(ow, oh) > max(h, w):
        s = min(1.0, MAX_SIDE / max(h, w))
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        notices.append(f"The image ({ow}×{oh}) was downscaled to {nw}×{nh}.")
        if (nw, nh) != (w, h):
            arr = cv2.resize(arr, (nw, nh), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(arr, dtype=np.uint8)
