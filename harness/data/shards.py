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
one local spool file per shard, and every mask as its own spool file, in a folder per shard (the mask
measurement reads files). The spool is a temporary folder, removed when the dataset is.

Under torchrun (``share``) each shard is streamed by one rank only, shard i by rank i % world
(:func:`shard_slots`); the ranks gather what they listed, so each holds the whole dataset, and
read an image of another rank's shard at its offset (in place, an HTTP range, a seek) or from a
copy of the shard kept once (docs/shards.md §6).

An image's identity is the hash of its decoded pixels, the bytes of its member decode exactly as
the file they came from (harness.data.images.decode_image), and its id is the metadata's ``id``
or ``KEY.EXT``, so a folder converted by ``harness shards`` gives the folder's manifest, item for
item. A shard that ends without tar's end-of-archive marker, cannot be read, holds an id seen
before or a key that comes back after other samples is refused with one line naming it; a
sample without an image is a counted input failure. The dataset lists how many samples each
shard yielded (``Dataset.parts``, in run.json). Layout and rules in full: docs/shards.md §1-§6.
"""
from __future__ import annotations

import fcntl
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import threading
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
def open_shard(url: str, span: tuple[int, int] | None = None) -> Iterator[BinaryIO]:
    """A shard as a byte stream: a local file, an HTTP response read as it arrives, or fsspec's file.
    ``span`` (offset, size) asks an HTTP server for those bytes only (a 206 answer holds them)."""
    scheme = _scheme(url)
    try:
        if not scheme:
            stream = open(url, "rb")
        elif scheme in ("http", "https"):
            headers = {"Range": f"bytes={span[0]}-{span[0] + span[1] - 1}"} if span else {}
            stream = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=HTTP_TIMEOUT_SECONDS)
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


def iter_samples(url: str, read: Callable[[str], bool] = lambda extension: True,
                 opened: Callable[[str], None] = lambda compression: None) -> Iterator[Sample]:
    """The samples of one shard in order, read front to back; a member's bytes are read when
    ``read(extension)`` says so, and ``opened`` learns the stream's compression ("" for none,
    else "gz", "bz2" or "xz"). A damaged or cut shard raises :class:`ShardError` naming it."""
    count, key, members, keys = 0, None, {}, set()
    try:
        with open_shard(url) as stream, tarfile.open(fileobj=stream, mode="r|*", tarinfo=_Header) as tar:
            opened(getattr(tar.fileobj, "comptype", "tar").replace("tar", ""))
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


def shard_slots(count: int, rank: int, world: int) -> list[int]:
    """The shards a rank streams: shard i goes to rank ``i % world``, so each is read by one rank."""
    return [i for i in range(count) if i % world == rank]


def image_owners(dataset: Dataset, world: int) -> list[int]:
    """Per image of ``dataset``, the rank of ``world`` that streamed its shard (:func:`shard_slots`):
    the one that decodes and measures it while the manifest is built."""
    owner = {i: rank for rank in range(world) for i in shard_slots(len(dataset.parts), rank, world)}
    return [owner[i] for i, (_, count) in enumerate(dataset.parts) for _ in range(count)]


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


@dataclass(frozen=True)
class _Elsewhere:
    """An image of a shard another rank streamed, read again from the shard (:func:`read_member`)."""

    url: str
    member: Member
    compression: str  # "" for a plain tar, else tarfile's name of it ("gz", "bz2", "xz")
    copy: Path  # where this process keeps the shard, should it have to read it whole

    def __call__(self) -> np.ndarray:
        name = f"{self.url}:{self.member.name}"
        try:
            data = read_member(self.url, self.member, self.compression, self.copy)
        except ShardError as error:
            raise InputError(f"{name}: {error}") from None
        return decode_image(data, name)


def read_member(url: str, member: Member, compression: str, copy: Path) -> bytes:
    """The bytes of ``member`` (at its offset of the shard's tar stream). Of a plain tar, by a seek
    or an HTTP range request the server honours: nothing else is read. Otherwise (a compressed
    shard, a server that sends the whole file) the shard is read whole once, into ``copy``,
    uncompressed, and its members are read from there: the process and its loader workers read
    such a shard at most once, never once per image."""
    try:
        if not copy.is_file():
            with open_shard(url, None if compression else (member.offset, member.size)) as stream:
                if not compression and getattr(stream, "status", None) == 206:  # just the member's bytes
                    return _whole(url, member, stream.read(member.size))
                if not compression and stream.seekable():
                    stream.seek(member.offset)
                    return _whole(url, member, stream.read(member.size))
                with open(copy.with_name(copy.name + ".lock"), "wb") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # one of the workers asking at once copies, the others wait
                    if not copy.is_file():
                        _keep(stream, compression, copy)
        with open(copy, "rb") as handle:
            handle.seek(member.offset)
            return _whole(url, member, handle.read(member.size))
    except ShardError:
        raise
    except Exception as error:  # the stream's and the decompressors' many types (lzma's is no OSError)
        raise ShardError(f"{url}: cannot read {member.name} ({type(error).__name__}: {error})") from None


def _whole(url: str, member: Member, data: bytes) -> bytes:
    if len(data) != member.size:
        raise ShardError(f"{url}: {member.name} is shorter than when the shard was listed")
    return data


def _keep(stream: BinaryIO, compression: str, copy: Path) -> None:
    """The whole stream, uncompressed, into ``copy``: written aside, then renamed, so that loader
    workers reading the same shard at once never see half a copy."""
    if compression:
        import bz2
        import gzip
        import lzma

        stream = {"gz": lambda: gzip.GzipFile(fileobj=stream), "bz2": lambda: bz2.BZ2File(stream),
                  "xz": lambda: lzma.LZMAFile(stream)}[compression]()
    partial = copy.with_name(f"{copy.name}.{os.getpid()}.{threading.get_ident()}")
    with open(partial, "wb") as out:
        shutil.copyfileobj(stream, out)
    os.replace(partial, copy)


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


@dataclass(frozen=True)
class _Entry:
    """One sample as the rank that streamed its shard lists it for every rank: the image's place
    (its bytes stay in the shard or that rank's spool) and the mask's bytes (a few KB: every rank
    keeps every mask as a file, as the mask measurement and loaders read files)."""

    key: str
    image_id: str
    image: Member | None  # without its bytes; None: the sample has no image
    spooled: int  # the image's offset in its reader's spool file; -1 when read in place
    members: str  # the sample's member names (the reason of a sample without an image)
    mask_id: str = ""
    mask: Member | None = None  # with its bytes


@dataclass
class _Listing:
    """One shard as its reader saw it: its samples in order, whether the stream is compressed,
    and the error that stopped the reading (after the samples listed)."""

    index: int
    url: str
    compression: str = ""
    entries: list[_Entry] = field(default_factory=list)
    error: str = ""


def _list_shard(index: int, url: str, spool: _Spool) -> _Listing:
    """Stream one shard: its samples listed, its images kept in place or appended to its spool
    file. An error is kept in the listing, so that every rank can stop on it together."""
    listing = _Listing(index, url)
    try:
        in_place = _plain_local(url)
        path = None if in_place else spool.path(f"{index:06d}.images")

        def opened(compression: str) -> None:
            listing.compression = compression

        with open(path, "wb") if path else nullcontext() as out:
            for sample in iter_samples(url, read=lambda ext: not (in_place and ext.lower() in IMAGE_EXTENSIONS),
                                       opened=opened):
                listing.entries.append(_entry(url, sample, out))
    except ShardError as error:
        listing.error = str(error)
    except Exception as error:  # a local failure (the spool's disk): still the shard's reader's line
        listing.error = f"{url}: {type(error).__name__}: {error}"
    return listing


def _entry(url: str, sample: Sample, spool: BinaryIO | None) -> _Entry:
    lower = {ext.lower(): ext for ext in sample.members}
    image_ext = _only(url, sample, [lower[e] for e in lower if e in IMAGE_EXTENSIONS], "image")
    mask_ext = _only(url, sample, [lower[e] for e in lower if e.startswith(MASK_PREFIX)
                                   and e[len(MASK_PREFIX):] in IMAGE_EXTENSIONS], "mask")
    meta = _metadata(url, sample)
    image_id = meta.get("id") or (f"{sample.key}.{image_ext}" if image_ext else sample.key)
    image, spooled = None, -1
    if image_ext is not None:
        member = sample.members[image_ext]
        image = Member(member.name, member.offset, member.size, None)
        if spool is not None:
            spooled = spool.tell()
            spool.write(member.data)
    mask = sample.members.get(mask_ext) if mask_ext else None
    return _Entry(sample.key, image_id, image, spooled, ", ".join(m.name for m in sample.members.values()),
                  (meta.get("mask_id") or mask.name) if mask else "", mask)


@dataclass
class _Reader:
    """Builds the dataset's images, masks and per-shard counts from the shards' listings, in shard
    order, the same in every rank (the checks across shards included)."""

    images: list[ImageItem] = field(default_factory=list)
    masks: list[MaskFile] = field(default_factory=list)
    without_mask: list[tuple[str, str]] = field(default_factory=list)
    parts: list[tuple[str, int]] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    spool: _Spool = field(default_factory=_Spool)

    def add(self, listing: _Listing, mine: bool) -> None:
        """A shard's samples; ``mine``: this process streamed it (its spool holds the images)."""
        url, shard_file, masks = listing.url, Path(listing.url), None
        for entry in listing.entries:
            if entry.image_id in self.seen:
                raise ShardError(f"{url}: image '{entry.image_id}' (sample '{entry.key}') is also in "
                                 f"{self.seen[entry.image_id]}; ids must be unique across the shards")
            self.seen[entry.image_id] = url
            self.images.append(ImageItem(entry.image_id, self._image(listing, entry, mine, shard_file)))
            if entry.mask is None:
                self.without_mask.append((entry.image_id, f"no mask in {url}"))
            else:
                extension = split_name(entry.mask.name)[1][len(MASK_PREFIX):]
                if masks is None:  # a folder per shard: file creation slows as a folder fills (a million masks)
                    masks = self.spool.path(f"{listing.index:06d}.masks")
                    masks.mkdir(exist_ok=True)
                path = masks / f"{len(self.masks):09d}.{extension}"
                path.write_bytes(entry.mask.data)
                self.masks.append(MaskFile(entry.mask_id, path, "", entry.image_id, f"{url}:{entry.mask.name}"))
        if listing.error:
            raise ShardError(listing.error)
        self.parts.append((url, len(listing.entries)))

    def _image(self, listing: _Listing, entry: _Entry, mine: bool, shard_file: Path) -> Callable[[], np.ndarray]:
        """Where the image can be read again: in a local shard itself (``shard_file``, one path
        object for all its images), in this process's spool, or from a shard another rank streamed."""
        url, image = listing.url, entry.image
        if image is None:
            return _missing(f"{url}: sample '{entry.key}' has no image ({entry.members})")
        name = f"{url}:{image.name}"
        if entry.spooled < 0:  # a local uncompressed shard, read in place by whichever rank
            return _Stored(shard_file, image.offset, image.size, name)
        if mine:
            return _Stored(self.spool.path(f"{listing.index:06d}.images"), entry.spooled, image.size, name)
        return _Elsewhere(url, image, listing.compression, self.spool.path(f"{listing.index:06d}.tar"))


def _read(urls: list[str], share: Any) -> _Reader:
    """Every shard streamed by exactly one rank (:func:`shard_slots`), in rounds: in round k each
    rank streams its k-th shard, and the listings are gathered and added in shard order, so every
    rank holds the whole dataset, and an error stops every rank in the same round with the line
    one process gives."""
    index, world = (share.index, share.count) if share is not None else (0, 1)
    gather = share.gather if share is not None else (lambda value: [value])
    reader = _Reader()
    slots = shard_slots(len(urls), index, world)
    try:
        for round_ in range(len(shard_slots(len(urls), 0, world))):
            listing = _list_shard(slots[round_], urls[slots[round_]], reader.spool) if round_ < len(slots) else None
            for rank, gathered in enumerate(gather(listing)):
                if gathered is not None:
                    reader.add(gathered, mine=rank == index)
    except BaseException:
        if reader.spool.folder is not None:
            shutil.rmtree(reader.spool.folder, ignore_errors=True)
        raise
    return reader


def _shards(root: str, mask_hole_is_white: bool = True, share: Any = None, **_: Any) -> Dataset:
    """``share`` (harness.data.manifest.Share): this rank's place among the ranks building the
    manifest together, each streaming only its shards; None: one process streams them all."""
    reader = _read(check_location(root), share)
    paired = None
    if reader.masks:
        paired = FileMaskSet("shards", tuple(reader.masks), hole_is_white=mask_hole_is_white)
    dataset = Dataset("shards", tuple(reader.images), paired, "paired" if paired else "generated",
                      tuple(reader.without_mask) if paired else (), tuple(reader.parts))
    reader.spool.remove_with(dataset)
    return dataset


SHARDS = DatasetSource(
    "shards", "tar shards (KEY.png, optional KEY.mask.png, KEY.json; `harness shards` writes them): "
    "--data-root 'shards-{0000..0099}.tar' or http(s)://, s3:// URLs", _shards, root_is_location=True,
    reads_in_parts=True)
