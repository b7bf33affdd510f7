"""A dataset written as tar shards (``harness shards``), the layout harness.data.shards reads.

Sample ``i`` of the dataset's order is ``KEY.EXT`` (the image), ``KEY.mask.EXT`` (its own mask,
when the dataset has one) and ``KEY.json`` (``{"id": ..., "mask_id": ...}``: the ids the run
shows, so a run on the shards makes the folder's manifest), with ``KEY`` the zero-padded index.
Images are the stored files, byte for byte, when they decode to the pixels the dataset loads;
otherwise (no file, as the embedded sample, or a loader that crops) the loaded pixels as PNG,
lossless either way. Headers carry no time, owner or mode of the machine (mtime 0, uid/gid 0,
0644), so the same input gives the same bytes (docs/shards.md §7).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image

from harness.data.datasets import Dataset, ImageItem
from harness.data.images import InputError, decode_image
from masks.sources import MaskFile

SHARD_NAME = "shards-{:04d}.tar"
SHARD_GLOB = "shards-*.tar"


@dataclass
class Written:
    """What a conversion wrote, for its summary."""

    shards: list[Path]
    samples: int = 0
    masks: int = 0
    encoded: int = 0  # images stored as PNG of the loaded pixels, not as their file
    without_image: int = 0  # unreadable images: a counted input failure in a run on the shards too


def write_shards(dataset: Dataset, out: Path, per_shard: int) -> Written:
    """``out/shards-0000.tar``, ... with ``per_shard`` samples each, in the dataset's order."""
    own = dataset.paired_masks
    if own is not None and (own.threshold != 0 or own.single_bucket):
        raise ValueError(f"dataset '{dataset.name}' has masks with their own rule (threshold {own.threshold}, "
                         f"{'one bucket' if own.single_bucket else 'buckets'}); shards hold masks read as a folder's")
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob(SHARD_GLOB))
    if existing:
        raise ValueError(f"{out} already holds shards ({existing[0].name}, ...): write into an empty folder")
    masks = {m.image_id: m for m in own.files} if own is not None else {}
    width = max(6, len(str(len(dataset.images) - 1)))
    written = Written([])
    for start in range(0, len(dataset.images), per_shard):
        path = out / SHARD_NAME.format(len(written.shards))
        with _atomic(path) as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for index in range(start, min(start + per_shard, len(dataset.images))):
                _sample(tar, f"{index:0{width}d}", dataset.images[index], masks.get(dataset.images[index].id), written)
        written.shards.append(path)
    return written


def _sample(tar: tarfile.TarFile, key: str, item: ImageItem, mask: MaskFile | None, written: Written) -> None:
    meta = {"id": item.id}
    stored = _stored(item)
    image = _image_bytes(item, stored)
    if image is None:
        written.without_image += 1
    else:
        extension, data = image
        written.encoded += stored is None or data is not stored[1]
        _add(tar, f"{key}.{extension}", data)
    if mask is not None:
        meta["mask_id"] = mask.id
        _add(tar, f"{key}.mask.{mask.path.suffix.lstrip('.').lower()}", mask.path.read_bytes())
        written.masks += 1
    _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
    written.samples += 1


def _image_bytes(item: ImageItem, stored: tuple[str, bytes] | None) -> tuple[str, bytes] | None:
    """(extension, bytes) that decode to the item's pixels: its ``stored`` file's when they do; None
    for an image that cannot be loaded (a stored file as broken is kept: a run on the shards fails it alike)."""
    try:
        pixels = item.load()
    except (InputError, OSError, ValueError):
        return stored if stored is not None and not _decodes(stored[1], item.id) else None
    if stored is not None and _decodes(stored[1], item.id, pixels):
        return stored
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "png", buffer.getvalue()


def _stored(item: ImageItem) -> tuple[str, bytes] | None:
    if item.path is None:
        return None
    try:
        return item.path.suffix.lstrip(".").lower(), item.path.read_bytes()
    except OSError:
        return None


def _decodes(data: bytes, name: str, pixels: np.ndarray | None = None) -> bool:
    """Whether ``data`` decodes (to ``pixels``, when given)."""
    try:
        decoded = decode_image(data, name)
    except InputError:
        return False
    return pixels is None or np.array_equal(decoded, pixels)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)  # mtime 0, uid/gid 0, no owner names, mode 0644
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """A file written under a temporary name and renamed into place once complete."""
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(temporary, "wb") as handle:
            yield handle
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
