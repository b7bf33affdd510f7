"""The evaluation sets of today's 512-px protocols, each with its official geometry.

* ``places365-val``: Places365-Standard ``val_large``, all 36,500 images (the set of MAT's and
  Co-Mod-GAN's ``fid36k5`` / ``ids36k5``) with MAT's validation geometry: reflect-pad the bottom
  and right edges up to 512, then the central 512 x 512 (no resize).
* ``places365-test30k``: LaMa's 30,000 Places365-Standard ``test_large`` images
  (``configs/test_large_30k.lst``): the shorter side resized to 512 with PIL bicubic, as LaMa's
  ``gen_mask_dataset.py``; the harness then takes the central square where LaMa picks a random,
  mask-dependent square (docs/protocol-datasets.md).
* ``celebahq-val``: CelebA-HQ's validation split (2,993 of 30,000: CelebA's partition through
  CelebAMask-HQ's id mapping), the split MAT reports on; the harness resizes the 1024 px
  images to ``--size`` with its own ``--resize`` (MAT's 512 px copies are not described upstream).
* ``ffhq-val``: FFHQ's own validation split (images 60,000-69,999, the ffhq-dataset README) at
  512 x 512 as StyleGAN's TFRecord pyramid makes it (2 x 2 means, then rint). Co-Mod-GAN scores
  the first 10,000 records of its TFRecords instead, an order the release does not document.
* ``celebahq-lama``: LaMa's 2,000 CelebA-HQ evaluation images (``fetch_data/val_shuffled.flist``)
  of the 256 x 256 ``data256x256`` release, used as they are.

The image lists are fixed by the protocol: a file missing from the folder is an input failure
of its items (counted in every table), never a silently smaller set. harness.builtins registers
each source below under its name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from PIL import Image

from harness.data.datasets import Dataset, DatasetSource, ImageItem
from harness.data.images import read_image
from harness.data.lists import lama_celebahq_visual_test, lama_places365_test_30k

MAT_SIZE = 512
PLACES_VAL_COUNT = 36_500
LAMA_SIZE = 512
CELEBAHQ_VAL_COUNT = 2_993
FFHQ_SIZE = 512
FFHQ_VAL_RANGE = (60_000, 70_000)

PLACES_DOWNLOAD = "http://places2.csail.mit.edu/download.html (Places365-Standard high-resolution images: {})"
CELEBAHQ_VAL_DOWNLOAD = ("https://github.com/switchablenorms/CelebAMask-HQ (CelebA-HQ-img/, CelebA-HQ-to-CelebA-mapping.txt) "
                         "and list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html")
CELEBAHQ_DOWNLOAD = ("LaMa's README, CelebA section: data256x256.zip from "
                     "https://drive.google.com/drive/folders/11Vz0fqHS2rXDb5pprgTjpD7S2BAJhi1P")


def mat_val_crop(image: np.ndarray, size: int = MAT_SIZE) -> np.ndarray:
    """MAT's ``ImageFolderMaskDataset._load_raw_image`` (datasets/dataset_512_val.py): reflect-pad
    bottom/right to at least ``size`` (cv2.BORDER_REFLECT), then the central size x size."""
    height, width = image.shape[:2]
    if height < size or width < size:
        image = cv2.copyMakeBorder(image, 0, max(0, size - height), 0, max(0, size - width), cv2.BORDER_REFLECT)
        height, width = image.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(image[top:top + size, left:left + size])


def lama_rescale(image: np.ndarray, out_min_size: int = LAMA_SIZE) -> np.ndarray:
    """LaMa's ``process_images``: scale so that the shorter side is ``out_min_size`` (each side
    ``round(side * factor)``), PIL bicubic; an image already at that size is kept."""
    pil = Image.fromarray(image)
    factor = out_min_size / min(pil.size)
    out_size = tuple(int(v) for v in (np.array(pil.size) * factor).round().astype("uint32"))
    return np.array(pil.resize(out_size, resample=Image.BICUBIC))


def _protocol(name: str, layout: str, download: str, files: Callable[[Path], list[tuple[str, Path]]],
              geometry: Callable[[np.ndarray], np.ndarray], default_masks: str) -> DatasetSource:
    """A fixed evaluation list as a dataset: ``files`` maps the root to (image id, file) in
    evaluation order; ``geometry`` is the official one, applied to the decoded RGB image before
    the harness's own crop/resize."""

    def load(root: Path, **_: Any) -> Dataset:
        items = tuple(ImageItem(image_id, (lambda path=path: geometry(read_image(path))), path)
                      for image_id, path in files(root))
        return Dataset(name, items, default_masks=default_masks)

    return DatasetSource(name, layout, load, download)


def _folder(root: Path, subfolder: str) -> Path:
    return root / subfolder if (root / subfolder).is_dir() else root


def _places365_val(root: Path) -> list[tuple[str, Path]]:
    folder = _folder(root, "val_large")
    names = [f"Places365_val_{n:08d}.jpg" for n in range(1, PLACES_VAL_COUNT + 1)]
    return [(name, folder / name) for name in names]


def _places365_test30k(root: Path) -> list[tuple[str, Path]]:
    folder = _folder(root, "test_large")
    return [(name, folder / name) for name in lama_places365_test_30k()]


def _celebahq_lama(root: Path) -> list[tuple[str, Path]]:
    """``N.jpg`` (LaMa's re-indexed name) is ``data256x256/{N+1:05d}.jpg`` of the release, or
    ``N.jpg`` itself in a folder LaMa's prepare script wrote."""
    ids = sorted(lama_celebahq_visual_test(), key=lambda name: int(Path(name).stem))
    if (root / "data256x256").is_dir():
        return [(i, root / "data256x256" / f"{int(Path(i).stem) + 1:05d}.jpg") for i in ids]
    folder = _folder(root, "visual_test_source_256")
    return [(i, folder / i) for i in ids]


def _celebahq_val(root: Path) -> list[tuple[str, Path]]:
    """CelebA's own val partition carried over to CelebA-HQ by CelebAMask-HQ's id mapping
    (24,183 / 2,993 / 2,824): the 2,993 images whose CelebA original is in partition 1."""
    mapping, partition = root / "CelebA-HQ-to-CelebA-mapping.txt", root / "list_eval_partition.txt"
    if not mapping.is_file() or not partition.is_file():
        raise FileNotFoundError(f"celebahq-val at {root} needs CelebA-HQ-img/, CelebA-HQ-to-CelebA-mapping.txt "
                                f"(CelebAMask-HQ) and CelebA's list_eval_partition.txt")
    split = dict(line.split()[:2] for line in partition.read_text().splitlines() if len(line.split()) >= 2)
    rows = [line.split() for line in mapping.read_text().splitlines()[1:] if line.strip()]
    hq = sorted(int(idx) for idx, _, orig_file in rows if split.get(orig_file) == "1")
    if len(hq) != CELEBAHQ_VAL_COUNT:
        raise ValueError(f"celebahq-val: {mapping.name} and {partition.name} give {len(hq)} validation images, "
                         f"not CelebA-HQ's {CELEBAHQ_VAL_COUNT}; are they the official files?")
    folder = _folder(root, "CelebA-HQ-img")
    return [(f"{n}.jpg", folder / f"{n}.jpg") for n in hq]


def stylegan_pyramid(image: np.ndarray, size: int = FFHQ_SIZE) -> np.ndarray:
    """The ``size`` level of StyleGAN(2)'s multi-resolution TFRecords (dataset_tool.py
    ``TFRecordExporter.add_image``): repeated 2 x 2 means in float32 from the uint8 image, then
    ``rint`` and clip to uint8 (the FFHQ-512 data Co-Mod-GAN trains and evaluates on)."""
    side = image.shape[0]
    if image.shape[1] != side or side < size or side % size or (side // size) & (side // size - 1):
        raise ValueError(f"a StyleGAN pyramid needs a square image of {size} times a power of two, got {image.shape[:2]}")
    level = image
    while level.shape[0] > size:
        level = level.astype(np.float32)
        level = (level[0::2, 0::2] + level[0::2, 1::2] + level[1::2, 0::2] + level[1::2, 1::2]) * 0.25
    return np.rint(level).clip(0, 255).astype(np.uint8)


def _ffhq_val(root: Path) -> list[tuple[str, Path]]:
    """FFHQ's validation split (its README: images 60,000-69,999), from ``images1024x1024/``
    as released (thousand-image sub-folders) or flat."""
    folder = _folder(root, "images1024x1024")
    nested = (folder / "60000").is_dir()
    return [(f"{n:05d}.png", folder / (f"{n // 1000 * 1000:05d}/{n:05d}.png" if nested else f"{n:05d}.png"))
            for n in range(*FFHQ_VAL_RANGE)]


def _as_stored(image: np.ndarray) -> np.ndarray:
    return image


PLACES365_VAL = _protocol("places365-val", "Places365-Standard val_large, all 36,500 (MAT, Co-Mod-GAN), MAT's 512 crop",
                          PLACES_DOWNLOAD.format("val_large.tar"), _places365_val, mat_val_crop, "mat-large-512")
PLACES365_TEST30K = _protocol("places365-test30k",
                              "LaMa's 30,000 of Places365-Standard test_large, shorter side 512 (bicubic)",
                              PLACES_DOWNLOAD.format("test_large.tar"), _places365_test30k, lama_rescale,
                              "lama-thick-512")
CELEBAHQ_VAL = _protocol("celebahq-val",
                         "CelebA-HQ validation split, 2,993 (CelebA's partition via CelebAMask-HQ's mapping)",
                         CELEBAHQ_VAL_DOWNLOAD, _celebahq_val, _as_stored, "mat-large-512")
FFHQ_VAL = _protocol("ffhq-val", "FFHQ validation split (images 60,000-69,999 of images1024x1024/), StyleGAN's 512 level",
                     "https://github.com/NVlabs/ffhq-dataset (images1024x1024)", _ffhq_val, stylegan_pyramid,
                     "comodgan-512")
CELEBAHQ_LAMA = _protocol("celebahq-lama",
                          "LaMa's 2,000 CelebA-HQ 256 evaluation images (data256x256/ or re-indexed N.jpg)",
                          CELEBAHQ_DOWNLOAD, _celebahq_lama, _as_stored, "lama-thick-256")
