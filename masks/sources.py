"""Mask sets: where masks come from, their polarity and how they are binarised.

* ``generated``: the seeded free-form generator (masks.generator), one mask per image and bucket;
  the default for the embedded ``sample`` dataset and for plain folders.
* ``nvidia``: the NVIDIA irregular test set of Liu et al. (12,000 PNGs 00000-11999, white = hole,
  six nominal bins of 2,000 ordered by ratio). Path from ``--mask-root`` or ``$HARNESS_NVIDIA_MASKS``.
* ``buckets``: MISF-style folders ``0%-20%``, ``20%-40%``, ``40%-60%`` (white = hole).
* ``folder``: any folder of mask images (white = hole unless ``--mask-polarity black``).
* ``lama-{thin,medium,thick}-{256,512}``, ``mat-{large,small}-{512,256}``, ``comodgan-512``,
  ``comodgan-h{0..4}-512``: the published generators under the seeding contract of masks.seeded;
  image i gets mask i of the run's seed, bucketed by its measured ratio; one bucket 0-100
  unless ``--buckets`` is given.

Masks from files are binarised as the official MISF loader does (bilinear resize, ``> 0``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

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
    #: What a failure names it by where ``path`` is a temporary copy (a tar shard's member); else the path.
    name: str = ""


@dataclass(frozen=True)
class FileMaskSet:
    """A list of mask files with one binarisation rule."""

    name: str
    files: tuple[MaskFile, ...]
    threshold: int = 0
    hole_is_white: bool = True
    #: The set's masks are scored as one bucket ("default"), not by hole ratio (Dunhuang's official masks).
    single_bucket: bool = False


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder``; a broken symbolic link is listed too, so that reading it
    fails as a recorded input failure instead of the file silently missing from the run."""
    return sorted(p for p in folder.iterdir()
                  if (p.is_file() or (p.is_symlink() and not p.exists())) and p.suffix.lower() in IMAGE_SUFFIXES)


#: How a mask source pairs masks with images (harness.data.manifest implements each).
GENERATED, POOL, OWN, SEEDED = "generated", "pool", "own", "seeded"


@dataclass(frozen=True)
class MaskSource:
    """A mask set by name.

    ``pairing``: GENERATED (drawn per image and bucket, no files), POOL (files measured at
    evaluation size and drawn per bucket), OWN (the dataset's own masks, one per image) or
    SEEDED (a published generator, mask i for image i, masks.seeded). ``load(root,
    hole_is_white)`` lists a POOL's files; ``env`` names the variable that can hold its root
    (looked up in the ``roots`` the harness reads from the environment); ``default_buckets``
    replaces the paper's buckets when ``--buckets`` is not given.
    """

    name: str
    description: str
    pairing: str
    load: Callable[[Path, bool], FileMaskSet] | None = None
    env: str | None = None
    default_buckets: str | None = None

    def root(self, root: str | os.PathLike | None, roots: Mapping[str, str] | None = None) -> Path | None:
        """``root``, else the folder the variable ``env`` names in ``roots`` (the caller's environment)."""
        value = root or ((roots or {}).get(self.env) if self.env else None)
        return Path(value).expanduser() if value else None

    def files(self, root: str | os.PathLike | None, hole_is_white: bool = True,
              roots: Mapping[str, str] | None = None) -> FileMaskSet:
        """The pool's files; a missing folder is an error saying what to get."""
        folder = self.root(root, roots)
        if self.load is None:
            raise ValueError(f"mask set '{self.name}' has no files of its own")
        if folder is None or not folder.is_dir():
            where = folder or f"(no --mask-root{' / $' + self.env if self.env else ''})"
            raise FileNotFoundError(f"mask set '{self.name}' ({self.description}) not found at {where}; pass --mask-root DIR"
                                    + (f". Get them from {NVIDIA_SOURCE}" if self.name == "nvidia" else ""))
        return self.load(folder, hole_is_white)

    def status(self, roots: Mapping[str, str] | None = None) -> str:
        """Where this machine has it (for ``harness list``)."""
        if self.pairing != POOL:
            return "the dataset's own" if self.pairing == OWN else "embedded"
        folder = self.root(None, roots)
        if folder is not None and folder.is_dir():
            return f"present ({folder})"
        return "set --mask-root" + (f" or ${self.env}" if self.env else "")


def _nvidia(folder: Path, hole_is_white: bool) -> FileMaskSet:
    files = tuple(
        MaskFile(p.name, p, NVIDIA_BINS[int(p.stem) // 2000] if p.stem.isdigit() and int(p.stem) < 12000 else "")
        for p in image_files(folder)
    )
    return FileMaskSet("nvidia", files)


def _buckets(folder: Path, hole_is_white: bool) -> FileMaskSet:
    subfolders = sorted(d for d in folder.iterdir() if d.is_dir() and "%" in d.name)
    if not subfolders:
        raise FileNotFoundError(f"{folder} has no bucket folders such as '0%-20%'")
    return FileMaskSet("buckets", tuple(MaskFile(f"{d.name}/{p.name}", p, d.name) for d in subfolders for p in image_files(d)))


def _folder(folder: Path, hole_is_white: bool) -> FileMaskSet:
    return FileMaskSet("folder", tuple(MaskFile(p.name, p) for p in image_files(folder)), hole_is_white=hole_is_white)


#: The built-in sources (registered by the harness's built-ins under their names).
GENERATED_MASKS = MaskSource(GENERATED, "seeded free-form strokes filling each bucket (no files needed)", GENERATED)
NVIDIA = MaskSource("nvidia", "NVIDIA irregular test masks (Liu et al. 2018, 12,000 PNGs), white = hole", POOL, _nvidia,
                    "HARNESS_NVIDIA_MASKS")
BUCKETS = MaskSource("buckets", "MISF-style folders 0%-20%, 20%-40%, 40%-60% of mask images, white = hole", POOL,
                     _buckets)
FOLDER = MaskSource("folder", "any folder of mask images (white = hole unless --mask-polarity black)", POOL, _folder)
PAIRED = MaskSource("paired", "the dataset's own masks, one per image (Dunhuang, folders with masks/)", OWN)
