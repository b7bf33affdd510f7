"""Datasets given as WebDataset-style tar shards: ``--dataset shards --data-root PATTERN``.

A shard is a tar file whose members are grouped into samples by key: ``KEY.png`` (or any image
extension) is the image, ``KEY.mask.png`` its own mask (optional), ``KEY.json`` its metadata
(optional: ``{"id": ..., "mask_id": ...}``, the ids the images and masks had in their folder).
Members of one sample are adjacent; the key is the member name up to the first dot of its
file name. PATTERN is a local path, a brace pattern (``shards-{0000..0099}.tar``,
harness.data.brace), an ``http(s)://`` URL or another URL that fsspec opens (``s3://``).

Each shard is read once, front to back (tarfile's stream mode): nothing is ever seeked in a
stream, and no more than one member is held in memory. Items are then read at random by the
engine, so what is read is kept where it can be reached again: the images of an uncompressed
local shard by their offset in the shard itself (no copy), those of any other stream appended to
one local spool file per shard, and every mask as its own spool file (the mask measurement
reads files). The spool is a temporary folder, removed when the dataset is.

An image's identity is the hash of its decoded pixels, the bytes of its member decode exactly as
the file they came from (harness.data.images.decode_image), and its id is the metadata's ``id``
or ``KEY.EXT``, so a folder converted by ``harness shards`` gives the folder's manifest, item for
item. A shard that ends without tar's end-of-archive marker, cannot be read, holds an id seen
before or a key that comes back after other samples is refused with one line naming it; a
sample without an image is a counted input failure. The dataset lists how many samples each
shard yielded (``Dataset.parts``, in run.json). Layout and rules in full: docs/shards.md §1-§6.
"""
from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

from harness.data.brace import expand
from harness.data.datasets import Dataset, DatasetSource, ImageItem
from harness.data.images import InputError, decode_image
from masks.sources import IMAGE_SUFFIXES, FileMaskSet, MaskFile

IMAGE_EXTENSIONS = tuple(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES)
MASK_PREFIX = "mask."
#: Leading bytes of the compressed formats tarfile's stream mode reads (an uncompressed tar has none).
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
HTTP_TIMEOUT_SECONDS = 60


class ShardError(ValueError):
    """A shard that cannot be used as a whole; the message names it."""


def shard_urls(pattern: str) -> list[str]:
    """The shards a pattern names, in order (local ``~`` expanded)."""
    names = expand(pattern.strip())
    return [name if _scheme(name) else os.path.expanduser(name) for name in names]


def check_location(pattern: str) -> list[str]:
    """The shards of ``pattern``, or the first reason they cannot be read, found without reading
    them: a bad brace pattern, a local shard that does not exist, a URL scheme without its reader."""
    urls = shard_urls(pattern)
    missing = [url for url in urls if not _scheme(url) and not Path(url).is_file()]
    if missing:
        raise ShardError(f"{len(missing)} of {len(urls)} shard(s) of {pattern} do not exist, first: {missing[0]}")
    for url in urls:
        scheme = _scheme(url)
        if scheme and scheme not in ("http", "https"):
            _fsspec(url)
    return urls


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and scheme.isalnum() else ""


def _fsspec(url: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise ShardError(f"{url}: reading {_scheme(url)}:// shards needs fsspec: pip install fsspec "
                         "(and its file system: s3fs for s3://, gcsfs for gs://)") from None
    return fsspec


@contextmanager
def open_shard(url: str) -> Iterator[BinaryIO]:
    """A shard as a byte stream: a local file, an HTTP response read as it arrives, or fsspec's file."""
    scheme = _scheme(url)
    try:
        if not scheme:
            stream = open(url, "rb")
        elif scheme in ("http", "https"):
            stream = urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS)
        else:
            stream = _fsspec(url).open(url, "rb").open()
    except (OSError, urllib.error.URLError, HTTPException) as error:
        raise ShardError(f"{url}: cannot be opened ({error})") from None
    with stream:
        yield stream


@dataclass(frozen=True)
class Member:
    """One file of a sample: where its data starts in the (uncompressed) tar stream, and its
    bytes when they were read."""

    name: str
    offset: int
    size: int
    data: bytes | None


@dataclass(frozen=True)
class Sample:
    key: str
    members: dict[str, Member]  # by extension: "png", "mask.png", "json", ...


class _Header(tarfile.TarInfo):
    """Tells tar's end-of-archive marker from a stream that just stops (tarfile reads both as the end)."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            tar.cut_short = True
            raise


def split_name(name: str) -> tuple[str, str]:
    """(key, extension) of a member: the file name splits at its first dot; folders stay in the key,
    less the ``./`` of archives made with ``tar -cf x.tar .``."""
    while name.startswith("./"):
        name = name[2:]
    folder, base = posixpath.split(name)
    stem, _, extension = base.partition(".")
    return posixpath.join(folder, stem), extension


def iter_samples(url: str, read: Callable[[str], bool] = lambda extension: True) -> Iterator[Sample]:
    """The samples of one shard in order, read front to back; a member's bytes are read when
    ``read(extension)`` says so. A damaged or cut shard raises :class:`ShardError` naming it."""
    count, key, members, keys = 0, None, {}, set()
    try:
        with open_shard(url) as stream, tarfile.open(fileobj=stream, mode="r|*", tarinfo=_Header) as tar:
            for info in tar:
                if not info.isfile():
                    continue
                name_key, extension = split_name(info.name)
                if name_key != key:
                    if name_key in keys:
                        raise ShardError(f"{url}: sample '{name_key}' comes back at '{info.name}' after other samples "
                                         "(the files of a sample must be adjacent)")
                    if key is not None:
                        count += 1
                        yield Sample(key, members)
                    key, members = name_key, {}
                    keys.add(key)
                if extension in members:
                    raise ShardError(f"{url}: sample '{key}' has two members '{info.name}'")
                data = tar.extractfile(info).read() if read(extension) else None
                members[extension] = Member(info.name, info.offset_data, info.size, data)
            if getattr(tar, "cut_short", False):
                raise ShardError(f"{url}: ends without tar's end-of-archive marker after {count} complete "
                                 "sample(s): the shard is truncated")
    except (tarfile.TarError, EOFError, OSError, HTTPException, urllib.error.URLError) as error:
        raise ShardError(f"{url}: damaged after {count} complete sample(s) ({type(error).__name__}: {error})") from None
    if key is not None:
        yield Sample(key, members)


def shard_slots(count: int, rank: int, world: int, worker: int = 0, workers: int = 1) -> list[int]:
    """The shards of one process: shard i goes to rank ``i % world``, and a rank's shards go in
    turn to its loader workers, so every shard is read by exactly one of them."""
    return [i for i in range(count) if i % world == rank][worker::workers]


def rank_images(dataset: Dataset, rank: int, world: int) -> list[int]:
    """Positions in ``dataset.images`` of the samples of the shards of ``rank``."""
    starts = np.cumsum([0] + [count for _, count in dataset.parts])
    return [p for i in shard_slots(len(dataset.parts), rank, world) for p in range(starts[i], starts[i + 1])]


class _Spool:
    """A temporary folder for what streams gave, removed with the dataset that reads from it (in
    the process that made it: loader workers forked from it leave it alone)."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    def path(self, name: str) -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="harness-shards-"))
        return self.folder / name

    def remove_with(self, owner: object) -> None:
        if self.folder is not None:
            weakref.finalize(owner, _remove, self.folder, os.getpid())


def _remove(folder: Path, pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class _Stored:
    """An image's bytes at ``offset`` in a local file, decoded on each call."""

    file: Path
    offset: int
    size: int
    name: str

    def __call__(self) -> np.ndarray:
        with open(self.file, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise InputError(f"{self.name}: the shard is shorter than when it was listed")
        return decode_image(data, self.name)


def _missing(reason: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        raise InputError(reason)

    return load


def _plain_local(url: str) -> bool:
    """An uncompressed local tar, whose members can be read again at their offsets."""
    if _scheme(url):
        return False
    with open(url, "rb") as handle:
        return not handle.read(6).startswith(COMPRESSED_MAGIC)


def _metadata(url: str, sample: Sample) -> dict[str, Any]:
    member = sample.members.get("json")
    if member is None:
        return {}
    try:
        meta = json.loads(member.data)
    except ValueError as error:
        raise ShardError(f"{url}: {member.name} is not JSON ({error})") from None
    if not isinstance(meta, dict) or any(not isinstance(meta.get(k, ""), str) for k in ("id", "mask_id")):
        raise ShardError(f"{url}: {member.name} must be an object whose 'id' and 'mask_id' are strings")
    return meta


def _only(url: str, sample: Sample, extensions: list[str], what: str) -> str | None:
    if len(extensions) > 1:
        raise ShardError(f"{url}: sample '{sample.key}' has {len(extensions)} {what}s ({', '.join(extensions)})")
    return extensions[0] if extensions else None


@dataclass
class _Reader:
    """Builds the dataset's images, masks and per-shard counts, shard after shard."""

    images: list[ImageItem] = field(default_factory=list)
    masks: list[MaskFile] = field(default_factory=list)
    without_mask: list[tuple[str, str]] = field(default_factory=list)
    parts: list[tuple[str, int]] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    spool: _Spool = field(default_factory=_Spool)

    def shard(self, index: int, url: str) -> None:
        in_place = _plain_local(url)
        spool = None if in_place else self.spool.path(f"{index:06d}.images")
        count = 0
        with open(spool, "wb") if spool else nullcontext() as out:
            for sample in iter_samples(url, read=lambda ext: not (in_place and ext.lower() in IMAGE_EXTENSIONS)):
                count += 1
                self.sample(url, sample, (spool, out) if spool else None)
        self.parts.append((url, count))

    def sample(self, url: str, sample: Sample, spool: tuple[Path, BinaryIO] | None) -> None:
        lower = {ext.lower(): ext for ext in sample.members}
        image_ext = _only(url, sample, [lower[e] for e in lower if e in IMAGE_EXTENSIONS], "image")
        mask_ext = _only(url, sample, [lower[e] for e in lower if e.startswith(MASK_PREFIX)
                                       and e[len(MASK_PREFIX):] in IMAGE_EXTENSIONS], "mask")
        meta = _metadata(url, sample)
        image_id = meta.get("id") or (f"{sample.key}.{image_ext}" if image_ext else sample.key)
        if image_id in self.seen:
            raise ShardError(f"{url}: image '{image_id}' (sample '{sample.key}') is also in {self.seen[image_id]}; "
                             "ids must be unique across the shards")
        self.seen[image_id] = url
        if image_ext is None:
            members = ", ".join(m.name for m in sample.members.values())
            self.images.append(ImageItem(image_id, _missing(f"{url}: sample '{sample.key}' has no image ({members})")))
        else:
            self.images.append(ImageItem(image_id, self._stored(url, sample.members[image_ext], spool)))
        if mask_ext is None:
            self.without_mask.append((image_id, f"no mask in {url}"))
        else:
            member = sample.members[mask_ext]
            path = self.spool.path(f"{len(self.masks):09d}.{mask_ext[len(MASK_PREFIX):]}")
            path.write_bytes(member.data)
            self.masks.append(MaskFile(meta.get("mask_id") or member.name, path, "", image_id))

    @staticmethod
    def _stored(url: str, member: Member, spool: tuple[Path, BinaryIO] | None) -> _Stored:
        """Where the image can be read again: in the shard itself, or appended to its spool file."""
        name = f"{url}:{member.name}"
        if spool is None:
            return _Stored(Path(url), member.offset, member.size, name)
        path, out = spool
        offset = out.tell()
        out.write(member.data)
        return _Stored(path, offset, member.size, name)


def _shards(root: str, mask_hole_is_white: bool = True, **_: Any) -> Dataset:
    reader = _Reader()
    try:
        for index, url in enumerate(check_location(root)):
            reader.shard(index, url)
    except BaseException:
        if reader.spool.folder is not None:
            shutil.rmtree(reader.spool.folder, ignore_errors=True)
        raise
    paired = None
    if reader.masks:
        paired = FileMaskSet("shards", tuple(reader.masks), hole_is_white=mask_hole_is_white)
    dataset = Dataset("shards", tuple(reader.images), paired, "paired" if paired else "generated",
                      tuple(reader.without_mask) if paired else (), tuple(reader.parts))
    reader.spool.remove_with(dataset)
    return dataset


SHARDS = DatasetSource(
    "shards", "tar shards (KEY.png, optional KEY.mask.png, KEY.json; `harness shards` writes them): "
    "--data-root 'shards-{0000..0099}.tar' or http(s)://, s3:// URLs", _shards, root_is_location=True)
