"""The protocol made concrete: a deterministic pairing of images with masks per bucket.

Pairing rules (same spec and inputs → byte-identical manifest):

* generated masks: image i of bucket b gets ``free_form_mask(size, b, seed, i)``;
* a mask set from files: every mask is measured at evaluation size after binarisation and
  falls into the bucket [a, b) of its measured ratio; within a bucket the candidates (sorted
  by id) are permuted with ``default_rng([seed, bucket index])`` and image i gets candidate
  ``perm[i % n]``;
* a dataset's own masks (Dunhuang, folders with masks): each image keeps its mask; the bucket
  is ``default`` for Dunhuang, else the measured ratio's bucket.

``--limit N`` keeps the first N images of the test list in each bucket. Images are paired
before they are decoded, so a broken image removes only its own items.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from harness.atomic import atomic_write_text
from harness.cache import cache_root
from harness.datasets import Dataset, load_dataset
from harness.images import InputError, array_sha256, prepare_image
from harness.spec import RunSpec
from masks.buckets import DEFAULT_BUCKET, Bucket, bucket_of, hole_ratio, parse_buckets
from masks.generator import free_form_mask
from masks.sources import GENERATED, FileMaskSet, load_mask_set


@dataclass(frozen=True)
class ManifestItem:
    item_id: str
    bucket: str
    image_id: str
    mask_id: str
    hole_ratio: float
    source_bin: str
    image_sha256: str
    mask_sha256: str


@dataclass(frozen=True)
class Failure:
    method: str
    item_id: str
    stage: str
    reason: str


MaskLoader = Callable[[], np.ndarray]


@dataclass
class Manifest:
    spec: RunSpec
    items: list[ManifestItem]
    failures: list[Failure]
    dataset: Dataset
    mask_loaders: dict[str, MaskLoader]

    def load(self, item: ManifestItem) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 HxWx3 image, float32 HxW mask with 1 = hole) at evaluation size."""
        image = self._images[item.image_id].load()
        return prepare_image(image, self.spec.size, self.spec.resize), self.mask_loaders[item.mask_id]()

    def __post_init__(self) -> None:
        self._images = {img.id: img for img in self.dataset.images}

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([f.name for f in fields(ManifestItem)])
        for item in self.items:
            row = list(astuple(item))
            row[4] = f"{item.hole_ratio:.6f}"
            writer.writerow(row)
        return buffer.getvalue()

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_csv())


@dataclass(frozen=True)
class _Measured:
    mask_id: str
    ratio: float
    sha: str
    source_bin: str


def _measure_file_masks(mask_set: FileMaskSet, spec: RunSpec) -> list[_Measured]:
    """Ratio and hash of every mask at evaluation size, memoised in the cache by file stats."""
    stats = [(m.id, str(m.path.resolve()), m.path.stat().st_size, m.path.stat().st_mtime_ns) for m in mask_set.files]
    key = hashlib.sha256(json.dumps([stats, spec.size, spec.resize, mask_set.threshold, mask_set.hole_is_white]).encode()).hexdigest()
    index_file = cache_root() / "mask-index" / f"{key}.json"
    try:
        return [_Measured(*row) for row in json.loads(index_file.read_text())]
    except (OSError, ValueError, TypeError):
        pass
    measured = []
    for mask in mask_set.files:
        try:
            array = mask_set.load(mask, spec.size, spec.resize)
        except InputError:
            continue  # an unreadable mask simply never becomes a candidate
        measured.append(_Measured(mask.id, hole_ratio(array), array_sha256(array), mask.source_bin))
    atomic_write_text(index_file, json.dumps([astuple(m) for m in measured]))
    return measured


def _file_loader(mask_set: FileMaskSet, spec: RunSpec) -> dict[str, MaskLoader]:
    return {m.id: (lambda m=m: mask_set.load(m, spec.size, spec.resize)) for m in mask_set.files}


def build_manifest(spec: RunSpec) -> Manifest:
    dataset = load_dataset(spec.dataset, spec.data_root, spec.file_list, spec.hole_is_white)
    buckets = parse_buckets(spec.buckets)
    mask_kind = spec.masks or dataset.default_masks
    pairs: list[tuple[Bucket, int, str, float, str, str]] = []  # bucket, image index, mask id, ratio, bin, sha
    loaders: dict[str, MaskLoader] = {}
    limit = spec.limit or len(dataset.images)

    if mask_kind == "paired":
        if dataset.paired_masks is None:
            raise ValueError(f"dataset '{dataset.name}' has no masks of its own; choose --masks")
        measured = {m.mask_id: m for m in _measure_file_masks(dataset.paired_masks, spec)}
        loaders = _file_loader(dataset.paired_masks, spec)
        counts: dict[str, int] = {}
        for index, mask in enumerate(dataset.paired_masks.files):
            if mask.id not in measured:
                continue
            m = measured[mask.id]
            bucket = DEFAULT_BUCKET if dataset.name == "dunhuang" else bucket_of(m.ratio, buckets)
            if bucket is None or counts.get(bucket.label, 0) >= limit:
                continue
            counts[bucket.label] = counts.get(bucket.label, 0) + 1
            pairs.append((bucket, index, m.mask_id, m.ratio, m.source_bin, m.sha))
    elif mask_kind == GENERATED:
        for bucket in buckets:
            for index in range(min(limit, len(dataset.images))):
                mask_id = f"gen-s{spec.seed}-{bucket.label}-{index:05d}"
                array = free_form_mask(spec.size, bucket, spec.seed, index)
                loaders[mask_id] = lambda b=bucket, i=index: free_form_mask(spec.size, b, spec.seed, i)
                pairs.append((bucket, index, mask_id, hole_ratio(array), "", array_sha256(array)))
    else:
        mask_set = load_mask_set(mask_kind, spec.mask_root, spec.hole_is_white)
        measured = _measure_file_masks(mask_set, spec)
        loaders = _file_loader(mask_set, spec)
        for b_index, bucket in enumerate(buckets):
            candidates = sorted((m for m in measured if bucket.contains(m.ratio)), key=lambda m: m.mask_id)
            if not candidates:
                raise ValueError(f"mask set '{mask_kind}' has no mask with a hole ratio in bucket {bucket.label}")
            order = np.random.default_rng([spec.seed, b_index]).permutation(len(candidates))
            for index in range(min(limit, len(dataset.images))):
                m = candidates[order[index % len(candidates)]]
                pairs.append((bucket, index, m.mask_id, m.ratio, m.source_bin, m.sha))

    return _materialise(spec, dataset, pairs, loaders)


def _materialise(spec: RunSpec, dataset: Dataset, pairs, loaders: dict[str, MaskLoader]) -> Manifest:
    """Decode and hash each needed image once; broken images become failures."""
    image_sha: dict[int, str] = {}
    failures: list[Failure] = []
    for index in sorted({p[1] for p in pairs}):
        image = dataset.images[index]
        try:
            image_sha[index] = array_sha256(prepare_image(image.load(), spec.size, spec.resize))
        except (InputError, OSError, ValueError) as error:
            failures.append(Failure("*", image.id, "input", str(error)))
    items = [
        ManifestItem(f"{dataset.images[i].id}|{mask_id}", b.label, dataset.images[i].id, mask_id, ratio, source_bin, image_sha[i], sha)
        for b, i, mask_id, ratio, source_bin, sha in pairs
        if i in image_sha
    ]
    return Manifest(spec, items, failures, dataset, loaders)
