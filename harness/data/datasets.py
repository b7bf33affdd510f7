"""Datasets: ordered lists of images (and, for some, their own masks), by name.

Each dataset lists its test images in a fixed, sorted order without decoding them; decoding
happens when the manifest is built, so a broken file becomes a recorded failure, not a crash.
Roots come from ``--data-root`` or ``$HARNESS_DATA_<NAME>`` (e.g. ``HARNESS_DATA_CELEBA``;
``-`` in a name becomes ``_``).

A dataset is a :class:`DatasetSource` in a registry: a plug-in adds one with
:func:`register_dataset` or an entry point in the group ``inpainting_harness.datasets``
(a new dataset is one file). Registering a name twice is an error.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from harness.data.images import read_image
from harness.environment import Environment, data_variable
from harness.registry import DATASETS
from masks.sources import FileMaskSet, MaskFile, image_files


@dataclass(frozen=True)
class ImageItem:
    """One image; ``id`` keeps the relative path and extension, so ids are unique in a dataset."""

    id: str
    load: Callable[[], np.ndarray]
    path: Path | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    images: tuple[ImageItem, ...]
    #: The dataset's own masks (Dunhuang, folders with masks); each names its image (``image_id``).
    paired_masks: FileMaskSet | None = None
    default_masks: str = "generated"
    #: Images that have no usable mask of their own: (image id, reason); they become input failures.
    unmatched: tuple[tuple[str, str], ...] = ()
    #: Read from tar shards (harness.data.shards): each shard with the samples it yielded, in order.
    parts: tuple[tuple[str, int], ...] = ()


#: The embedded sample: scikit-image's bundled images (name[:index] of ``skimage.data``) and their files.
SAMPLE_FILES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
    "stereo_motorcycle:0": "motorcycle_left.png",
    "stereo_motorcycle:1": "motorcycle_right.png",
}
SAMPLE_IMAGES = tuple(SAMPLE_FILES)


def _skimage_loader(name: str) -> Callable[[], np.ndarray]:
    """The bundled file of ``name`` read with Pillow, the pixels ``skimage.data`` gives (tested)
    without importing ``skimage.io``, whose plug-in scan (and scipy) cost a one-image run 0.15 s."""
    def load() -> np.ndarray:
        import skimage.data
        from PIL import Image

        with Image.open(Path(skimage.data.__file__).with_name(SAMPLE_FILES[name])) as image:
            return np.asarray(image)

    return load


def _file_item(path: Path, root: Path) -> ImageItem:
    return ImageItem(path.relative_to(root).as_posix(), lambda: read_image(path), path)


def _sample(root: Path | None, **_: Any) -> Dataset:
    return Dataset("sample", tuple(ImageItem(n.replace(":", "-"), _skimage_loader(n)) for n in SAMPLE_IMAGES))


CELEBA_PARTITIONS = {"train": "0", "val": "1", "test": "2"}


def _celeba(root: Path, split: str = "test", **_: Any) -> Dataset:
    partition, images = root / "list_eval_partition.txt", root / "img_align_celeba"
    if not partition.is_file() or not images.is_dir():
        raise FileNotFoundError(f"CelebA at {root} needs img_align_celeba/ and list_eval_partition.txt ({CELEBA_DOWNLOAD})")
    wanted = CELEBA_PARTITIONS[split]
    names = sorted(line.split()[0] for line in partition.read_text().splitlines() if line.split()[1:] == [wanted])
    return Dataset("celeba", tuple(_file_item(images / n, images) for n in names), default_masks="nvidia")


def _places2(root: Path, file_list: str | None = None, **_: Any) -> Dataset:
    if file_list:
        listed = _read_list(Path(file_list))
        items = [ImageItem(p, (lambda path=_listed(root, p): read_image(path)), _listed(root, p)) for p in listed]
        if len(set(listed)) != len(listed):
            raise ValueError(f"{file_list} lists some images twice")
        return Dataset("places2", tuple(items), default_masks="nvidia")
    folder = next((root / d for d in ("val_large", "val_256") if (root / d).is_dir()), root)
    return Dataset("places2", tuple(_file_item(p, folder) for p in image_files(folder)), default_masks="nvidia")


def _listed(root: Path, entry: str) -> Path:
    return Path(entry) if Path(entry).is_absolute() else root / entry


def _read_list(path: Path) -> list[str]:
    """A file list as MISF writes it (a JSON array) or one path per line."""
    text = path.read_text().strip()
    return json.loads(text) if text.startswith("[") else [line.strip() for line in text.splitlines() if line.strip()]


def _own_masks(images: list[Path], mask_dir: Path, suffixes: tuple[str, ...]) -> tuple[list[MaskFile], list[tuple[str, str]]]:
    """Each image's mask in ``mask_dir``: same stem plus one of ``suffixes`` and any image extension.

    An image with no such mask, or with two, is unmatched (a recorded failure, not a refused run).
    """
    by_stem: dict[str, list[Path]] = {}
    for path in image_files(mask_dir):
        by_stem.setdefault(path.stem, []).append(path)
    masks, unmatched = [], []
    for image in images:
        found = [p for suffix in suffixes for p in by_stem.get(image.stem + suffix, [])]
        if len(found) == 1:
            masks.append(MaskFile(found[0].name, found[0], "", image.name))
        else:
            which = ", ".join(p.name for p in found)
            unmatched.append((image.name, f"no mask in {mask_dir}" if not found else f"ambiguous masks in {mask_dir}: {which}"))
    return masks, unmatched


def _dunhuang(root: Path, **_: Any) -> Dataset:
    gt_dir, mask_dir = root / "test_gt", root / "test"
    if not gt_dir.is_dir() or not mask_dir.is_dir():
        raise FileNotFoundError(f"Dunhuang at {root} needs test/ (with *_mask.jpg) and test_gt/ ({DUNHUANG_DOWNLOAD})")
    gts = image_files(gt_dir)
    masks, unmatched = _own_masks(gts, mask_dir, ("_mask",))
    # Official MISF config for Dunhuang: MASK_THRESHOLD 100, MASK_REVERSE 1 (holes are dark in the JPEGs).
    paired = FileMaskSet("dunhuang", tuple(masks), threshold=100, hole_is_white=False, single_bucket=True)
    items = tuple(_file_item(p, gt_dir) for p in gts)
    return Dataset("dunhuang", items, paired, default_masks="paired", unmatched=tuple(unmatched))


def _folder(root: Path, mask_hole_is_white: bool = True, **_: Any) -> Dataset:
    image_dir = root / "images" if (root / "images").is_dir() else root
    paths = image_files(image_dir)
    items = tuple(_file_item(p, image_dir) for p in paths)
    mask_dir = root / "masks"
    if not mask_dir.is_dir():
        return Dataset("folder", items)
    masks, unmatched = _own_masks(paths, mask_dir, ("", "_mask"))
    paired = FileMaskSet("folder", tuple(masks), hole_is_white=mask_hole_is_white)
    return Dataset("folder", items, paired, default_masks="paired", unmatched=tuple(unmatched))


@dataclass(frozen=True)
class DatasetSource:
    """A dataset by name: ``load(root, file_list=, split=, mask_hole_is_white=)`` lists its images."""

    name: str
    layout: str
    load: Callable[..., Dataset]
    download: str = "your own images"
    needs_root: bool = True
    splits: tuple[str, ...] = ("test",)  # e.g. CelebA's official train/val/test partition
    #: The root is a location the source checks itself (tar shards: a brace pattern or a URL), not a folder.
    root_is_location: bool = False
    #: Its loader takes ``share=`` and each process of a shared manifest reads only its part of the data.
    reads_in_parts: bool = False

    def status(self, environment: Environment | None = None) -> str:
        """Where this machine has it (for ``harness list``)."""
        if not self.needs_root:
            return "embedded"
        root = (environment or Environment.read()).root(self.env)
        if root and self.root_is_location:
            return f"given ({root})"
        return f"present ({root})" if root and Path(root).is_dir() else f"set --data-root or ${self.env}"

    @property
    def env(self) -> str:
        """The variable that can hold its root."""
        return data_variable(self.name)


CELEBA_DOWNLOAD = ("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped images img_align_celeba.zip "
                   "and Eval/list_eval_partition.txt)")
DUNHUANG_DOWNLOAD = "the MISF/JPGNet authors' copy: https://drive.google.com/file/d/1zqFX_gg6Pp4kf4PrmKB7NIojQDSxS3xr"

SAMPLE = DatasetSource("sample", "9 colour photos shipped with scikit-image (embedded default, offline)", _sample,
                       needs_root=False)
CELEBA = DatasetSource("celeba", "CelebA aligned (img_align_celeba/ + list_eval_partition.txt), official test split",
                       _celeba, CELEBA_DOWNLOAD, splits=tuple(CELEBA_PARTITIONS))
PLACES2 = DatasetSource("places2", "Places365-Standard validation images (val_large/ or val_256/), or --file-list",
                        _places2,
                        "http://places2.csail.mit.edu/download.html (Places365-Standard validation images, val_large.tar)")
DUNHUANG = DatasetSource("dunhuang", "e-Heritage 2019 Dunhuang challenge: test/ (*_mask.jpg) + test_gt/", _dunhuang,
                         DUNHUANG_DOWNLOAD)
FOLDER = DatasetSource("folder", "any folder of images (images/ and optional masks/ with the same stems, or flat)",
                       _folder)


def register_dataset(source: DatasetSource) -> DatasetSource:
    """Add a dataset source under its name (the registry :data:`harness.registry.DATASETS`)."""
    return DATASETS.add(source.name, source)


def datasets() -> dict[str, DatasetSource]:
    """Every registered dataset, plug-ins included."""
    return DATASETS.all()


def dataset_source(name: str) -> DatasetSource:
    return DATASETS.get(name)


def _root(source: DatasetSource, data_root: str | os.PathLike | None, roots: Mapping[str, str] | None) -> Path | str:
    name = source.name
    value = data_root or (Environment.read().roots if roots is None else roots).get(source.env)
    if not value:
        raise FileNotFoundError(
            f"Dataset '{name}' needs --data-root DIR or ${source.env}. Expected layout: {source.layout}. "
            f"Download: {source.download}"
        )
    if source.root_is_location:
        return str(value)
    root = Path(value).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset '{name}': {root} is not a folder. Expected layout: {source.layout}")
    return root


def load_dataset(
    name: str,
    data_root: str | os.PathLike | None = None,
    file_list: str | None = None,
    mask_hole_is_white: bool = True,
    split: str = "test",
    roots: Mapping[str, str] | None = None,
    share: Any = None,
) -> Dataset:
    """A dataset by name; a missing one is an error saying where to get it and its layout.

    ``split`` selects a partition of datasets that have them (CelebA: train, val, test); the
    others have one list (pass a training list to Places2 with ``file_list``). Without
    ``data_root`` the root comes from ``$HARNESS_DATA_<NAME>`` in ``roots`` (the environment's
    when None). ``share`` (harness.data.manifest.Share) is passed to a source that reads a part
    per process (``reads_in_parts``: tar shards), so that each rank reads only its own.
    """
    source = dataset_source(name)
    if split not in source.splits:
        raise ValueError(f"dataset '{name}' has no split '{split}'; its splits: {', '.join(source.splits)}")
    root = _root(source, data_root, roots) if source.needs_root else None
    shared = {"share": share} if share is not None and source.reads_in_parts else {}
    return source.load(root, file_list=file_list, split=split, mask_hole_is_white=mask_hole_is_white, **shared)
