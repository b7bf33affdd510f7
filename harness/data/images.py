"""Reading images and masks into canonical arrays, and the official MISF geometry.

Every file becomes uint8 HxWx3 (images) or uint8 HxW (masks) whatever its mode: grayscale
is replicated to RGB, alpha is dropped, 16-bit values are scaled to 8 bits. Geometry follows
the official MISF loader: centre-crop to a square, then bilinear resize. The released MISF
models were trained and tested with ``scipy.misc.imresize`` (PIL bilinear, antialiased when
downscaling), so ``pil-bilinear`` is the default; ``cv2-bilinear`` is the later code's choice.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

RESIZE_METHODS = ("pil-bilinear", "cv2-bilinear")


class InputError(ValueError):
    """An image or mask that cannot be used; the message says which file and why."""


def _open(source: Path | BinaryIO, name: Path | str) -> Image.Image:
    try:
        image = Image.open(source)
        image.load()
    except Exception as error:  # PIL raises many types for broken or truncated files
        # PIL names a stream by its repr, whose memory address would make the reason (and the
        # data fingerprint it enters) differ from run to run: name it as a file is named
        reason = str(error) if isinstance(source, Path) else str(error).replace(repr(source), repr(str(name)))
        raise InputError(f"{name}: cannot be read as an image ({type(error).__name__}: {reason})") from error
    return image


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Bring a pixel array to uint8 by its dtype, never by its values.

    uint16 is 16-bit (x/257, rounded) even when every value is small: guessing the bit depth
    from the maximum would read a dark 16-bit image 257 times too bright. Floats are taken to
    lie in [0,1] (x255, rounded). Other integer types have no agreed scale and are refused.
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.round(array.astype(np.float64) / 257.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        return np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    raise InputError(f"unsupported pixel type {array.dtype} (use 8- or 16-bit images)")


def as_rgb(array: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 from grayscale, gray+alpha, RGB or RGBA arrays of any bit depth."""
    array = to_uint8(np.asarray(array))
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (1, 2):
        return np.repeat(array[:, :, :1], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise InputError(f"unsupported image shape {array.shape}")


def as_gray(array: np.ndarray) -> np.ndarray:
    """uint8 HxW for masks: RGB(A) masks are read through their first channel."""
    array = to_uint8(np.asarray(array))
    if array.ndim == 3:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise InputError(f"unsupported mask shape {array.shape}")
    return array


def _pixels(image: Image.Image, path: Path | str) -> np.ndarray:
    """The decoded pixels with a dtype that states their bit depth."""
    if image.mode == "I" and image.format == "PNG":
        return np.array(image).astype(np.uint16)  # PNG has no 32-bit grey: this is 16-bit data
    if image.mode in ("I", "F"):
        raise InputError(f"{path}: {'32-bit integer' if image.mode == 'I' else 'floating-point'} images are not supported")
    if image.mode == "P":
        image = image.convert("RGBA")
    elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    return np.array(image)


def read_image(path: Path | str) -> np.ndarray:
    """A file as uint8 HxWx3, as stored: EXIF orientation is ignored, as the official loaders do."""
    path = Path(path)
    return _image_array(_open(path, path), path)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """An image file's bytes (a tar member), exactly as :func:`read_image` reads that file."""
    return _image_array(_open(io.BytesIO(data), name), name)


def _image_array(image: Image.Image, name: Path | str) -> np.ndarray:
    array = _pixels(image, name)
    if array.size == 0:
        raise InputError(f"{name}: empty image")
    return as_rgb(array)


def exif_orientation(path: Path | str) -> int:
    """The EXIF orientation tag (1 = as stored; 0 when the file has none or cannot say)."""
    try:
        with Image.open(path) as image:
            return int(image.getexif().get(0x0112, 0))
    except Exception:  # unreadable files are reported by read_image
        return 0


def read_mask(path: Path | str) -> np.ndarray:
    """A mask file as uint8 HxW (grey levels kept; binarised later at evaluation size)."""
    path = Path(path)
    image = _open(path, path)
    if image.mode == "P":
        image = image.convert("L")
    return as_gray(_pixels(image, path))


def center_crop_square(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return array[top : top + side, left : left + side]


def resize(array: np.ndarray, size: int, method: str = "pil-bilinear") -> np.ndarray:
    """Bilinear resize of a uint8 array to size x size."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    if method == "pil-bilinear":
        return np.array(Image.fromarray(array).resize((size, size), Image.BILINEAR))
    if method == "cv2-bilinear":
        import cv2

        return cv2.resize(array, (size, size), interpolation=cv2.INTER_LINEAR)
    raise ValueError(f"unknown resize method '{method}'; choose from {RESIZE_METHODS}")


def prepare_image(array: np.ndarray, size: int, method: str = "pil-bilinear") -> np.ndarray:
    """Official MISF geometry: centre-crop to a square, then resize to size x size."""
    return resize(center_crop_square(as_rgb(array)), size, method)


def prepare_mask(
    array: np.ndarray, size: int, threshold: int = 0, hole_is_white: bool = True, method: str = "pil-bilinear"
) -> np.ndarray:
    """Mask at evaluation size as float32 {0,1} with 1 = hole.

    As the official loader: same crop and bilinear resize as the image, then ``> threshold``
    (every interpolated grey pixel above it counts), then polarity reversal for sources
    whose holes are black (MISF's MASK_REVERSE, e.g. Dunhuang with threshold 100).
    """
    binary = resize(center_crop_square(as_gray(array)), size, method) > threshold
    hole = binary if hole_is_white else ~binary
    return hole.astype(np.float32)


def array_sha256(array: np.ndarray) -> str:
    """Content hash of a prepared array (dtype and shape included)."""
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
