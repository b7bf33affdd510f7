"""Mask sets: where masks come from, their polarity and how they are binarised.

* ``generated``: the seeded free-form generator (masks.generator), one mask per image and bucket;
  the default for the embedded ``sample`` dataset and for plain folders.
* ``nvidia``: the NVIDIA irregular test set of Liu et al. (12,000 PNGs 00000-11999, white = hole,
  six nominal bins of 2,000 ordered by ratio). Path from ``--mask-root`` or ``$HARNESS_NVIDIA_MASKS``.
* ``buckets``: MISF-style folders ``0%-20%``, ``20%-40%``, ``40%-60%`` (white = hole).
* ``folder``: any folder of mask images (white = hole unless ``--mask-polarity black``).

Masks from files are binarised as the official MISF loader does (bilinear resize, ``> 0``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.images import prepare_mask, read_mask

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
NVIDIA_BINS = ("(1,10]%", "(10,20]%", "(20,30]%", "(30,40]%", "(40,50]%", "(50,60]%")
NVIDIA_SOURCE = (
    "https://nv-adlr.github.io/publication/partialconv-inpainting (test_mask.zip, "
    "unpacks to mask/testing_mask_dataset/00000.png ... 11999.png; CC BY-NC-SA 4.0)"
)


@dataclass(frozen=True)
class MaskFile:
    """One mask file; ``id`` keeps the extension (and sub-folder), so ids are unique per set."""

    id: str
    path: Path
    source_bin: str = ""
    #: For a dataset's own masks: the image this mask belongs to.
    image_id: str = ""


@dataclass(frozen=True)
class FileMaskSet:
    """A list of mask files with one binarisation rule."""

    name: str
    files: tuple[MaskFile, ...]
    threshold: int = 0
    hole_is_white: bool = True
    #: The set's masks are scored as one bucket ("default"), not by hole ratio (Dunhuang's official masks).
    single_bucket: bool = False

    def load(self, mask: MaskFile, size: int, resize_method: str = "pil-bilinear"):
        return prepare_mask(read_mask(mask.path), size, self.threshold, self.hole_is_white, resize_method)


GENERATED = "generated"
MASK_SETS = {
    GENERATED: "seeded free-form strokes filling each bucket (no files needed)",
    "nvidia": "NVIDIA irregular test masks (Liu et al. 2018, 12,000 PNGs), white = hole",
    "buckets": "MISF-style folders 0%-20%, 20%-40%, 40%-60% of mask images, white = hole",
    "folder": "any folder of mask images",
}


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def nvidia_root(root: str | os.PathLike | None) -> Path | None:
    value = root or os.environ.get("HARNESS_NVIDIA_MASKS")
    return Path(value).expanduser() if value else None


def load_mask_set(name: str, root: str | os.PathLike | None = None, hole_is_white: bool = True) -> FileMaskSet:
    """A file-based mask set by name; a missing folder is an error saying what to get."""
    if name == "nvidia":
        folder = nvidia_root(root)
        if folder is None or not folder.is_dir():
            raise FileNotFoundError(
                f"NVIDIA irregular test masks not found at {folder or '(no --mask-root / $HARNESS_NVIDIA_MASKS)'}. "
                f"Get them from {NVIDIA_SOURCE} and pass --mask-root DIR (the folder holding 00000.png ...)."
            )
        files = tuple(
            MaskFile(p.name, p, NVIDIA_BINS[int(p.stem) // 2000] if p.stem.isdigit() and int(p.stem) < 12000 else "")
            for p in image_files(folder)
        )
        return FileMaskSet("nvidia", files)
    if root is None or not Path(root).is_dir():
        raise FileNotFoundError(f"mask set '{name}' needs --mask-root DIR (got {root})")
    folder = Path(root)
    if name == "buckets":
        subfolders = sorted(d for d in folder.iterdir() if d.is_dir() and "%" in d.name)
        if not subfolders:
            raise FileNotFoundError(f"{folder} has no bucket folders such as '0%-20%'")
        files = tuple(MaskFile(f"{d.name}/{p.name}", p, d.name) for d in subfolders for p in image_files(d))
        return FileMaskSet("buckets", files)
    if name == "folder":
        return FileMaskSet("folder", tuple(MaskFile(p.name, p) for p in image_files(folder)), hole_is_white=hole_is_white)
    raise KeyError(f"unknown mask set '{name}'; known: {', '.join(MASK_SETS)}")
