"""One prediction file to float RGB pixels in [0,1], or a reason why not.

Accepted: PNG of 8 or 16 bits per channel (16-bit through OpenCV: Pillow would keep only the
high byte without a word), JPEG (lossy: counted and marked), TIFF (8/16-bit or float), NPY
(HxWx3 float, or uint8) and EXR where a reader is installed. Grayscale, alpha, palette, other
bit depths, unreadable or truncated files are refused with their reason: never converted.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

#: Suffixes read as predictions, in the order a name is looked for.
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".exr")
LOSSY = (".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOURS = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale with alpha", 6: "RGB with alpha"}


class Unusable(ValueError):
    """A prediction file that cannot be scored; the message is the item's failure reason."""


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # float32 HxWx3, [0,1] for integer files; floats as written
    lossy: bool


def decode(data: bytes, suffix: str) -> Decoded:
    """The pixels of a file's bytes, by its (lower-case) suffix."""
    readers = {".png": _png, ".jpg": _jpeg, ".jpeg": _jpeg, ".tif": _tiff, ".tiff": _tiff, ".npy": _npy, ".exr": _exr}
    if suffix not in readers:
        raise Unusable(f"unsupported file type {suffix} (use {' '.join(SUFFIXES)})")
    pixels = readers[suffix](data)
    if pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1):
        raise Unusable("grayscale prediction (one channel); write RGB")
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise Unusable(f"array of shape {pixels.shape}, expected height x width x 3")
    if pixels.shape[2] == 4:
        raise Unusable("prediction has an alpha channel; write RGB")
    return Decoded(_scaled(pixels), suffix in LOSSY)


def _scaled(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / np.float32(255)
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / np.float32(65535)
    if np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32)
    raise Unusable(f"pixel type {pixels.dtype} (use 8- or 16-bit integers or floats)")


def _pillow(data: bytes, kind: str):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # decodes every byte: a truncated file fails here
    except Exception as error:  # Pillow raises many types for broken files
        raise Unusable(f"unreadable {kind} ({type(error).__name__}, {error})") from None
    return image


def _png(data: bytes) -> np.ndarray:
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise Unusable("not a PNG file (no PNG header)")
    depth, colour = data[24], data[25]
    if colour != 2:
        raise Unusable(f"{_PNG_COLOURS.get(colour, f'colour type {colour}')} PNG; write RGB")
    if depth not in (8, 16):
        raise Unusable(f"{depth}-bit PNG; write 8 or 16 bits per channel")
    image = _pillow(data, "PNG")  # checks the whole stream, also for 16 bits
    if depth == 8:
        return np.asarray(image.convert("RGB"))
    import cv2

    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        raise Unusable("16-bit PNG that OpenCV cannot decode as 16-bit RGB")
    return np.ascontiguousarray(pixels[:, :, ::-1])  # OpenCV's BGR


def _jpeg(data: bytes) -> np.ndarray:
    image = _pillow(data, "JPEG")
    if image.mode not in ("RGB", "L"):
        raise Unusable(f"JPEG in mode {image.mode}; write RGB")
    return np.asarray(image)


def _tiff(data: bytes) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(io.BytesIO(data))
    except Exception as error:  # tifffile raises many types for broken files
        raise Unusable(f"unreadable TIFF ({type(error).__name__}, {error})") from None


def _npy(data: bytes) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # numpy raises ValueError, EOFError, ... for broken files
        raise Unusable(f"unreadable NPY ({type(error).__name__}, {error})") from None


def _exr(data: bytes) -> np.ndarray:
    import warnings

    try:
        import imageio.v3 as iio

        with warnings.catch_warnings():  # imageio's search through its plug-ins warns about unrelated ones
            warnings.simplefilter("ignore")
            return np.asarray(iio.imread(data, extension=".exr"))
    except Exception as error:  # no EXR plug-in installed, or a broken file
        raise Unusable(f"EXR not readable here ({type(error).__name__}, {error}); install an EXR reader "
                       "for imageio (pip install imageio[freeimage] or OpenEXR) or write 16-bit PNG, TIFF or NPY") from None
