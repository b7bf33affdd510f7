"""Content-addressed cache of predictions, per-image metrics and features, in append-only packs.

An output's key is ``<fingerprint[:16]>-<sha256(fingerprint, image hash, mask hash, size)>``,
where the fingerprint covers the method, its weights, config and code versions: any change of
them, of the image or of the mask makes a new key, so nothing stale is ever reused. Entries
of one fingerprint prefix (one method) live in one folder, ``packs/<prefix>/``; features in
``packs/feat-<extractor>/``.

Each process appends to its own pack file per folder, so writers never share a file (safe on
network filesystems, for several ranks or array jobs at once). A record is a fixed head (magic,
lengths, CRC-32), a JSON header and a payload: a prediction as float32 (only its hole pixels by
default, byte-shuffled and zlib-compressed, lossless for everything scoring and grids read), a
metrics JSON, or a feature vector. A process killed mid-append leaves a partial tail that
readers ignore; a record whose CRC or content fails validation is reported as damaged and is a
miss, recomputed and appended again; the newest record of a key wins. Records are written to
the OS at once (other processes see them) and fsynced when a pack is closed or synced.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.environment import Environment
from harness.store.atomic import atomic_write_text
from harness.store.pack_index import PackIndex

CACHE_VERSION = 3
PREFIX = 16  # characters of the fingerprint that prefix a key and name its folder
MAGIC = b"HPK1"
HEAD = struct.Struct("<4sIQI")  # magic, header length, payload length, CRC-32 of header + payload
KEEP = ("none", "holes", "full")  # what of each prediction is kept (--keep-outputs)


def cache_root() -> Path:
    return Environment.read().cache_root


def output_key(fingerprint: str, image_sha: str, mask_sha: str, size: int) -> str:
    blob = f"v{CACHE_VERSION}|{fingerprint}|{image_sha}|{mask_sha}|{size}".encode()
    return f"{fingerprint[:PREFIX]}-{hashlib.sha256(blob).hexdigest()[:48]}"


def truth_key(image_sha: str, size: int) -> str:
    """The features key of a ground-truth image (shared by every method)."""
    return "truth-" + hashlib.sha256(f"v{CACHE_VERSION}|{image_sha}|{size}".encode()).hexdigest()[:48]


def validate_output(array: Any, shape: tuple[int, ...] | None = None) -> str | None:
    """Why a cached prediction is unusable, or None."""
    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
        return f"dtype {getattr(array, 'dtype', type(array).__name__)} (expected float32)"
    if array.ndim != 3 or array.shape[0] != 3 or (shape is not None and tuple(array.shape) != tuple(shape)):
        return f"shape {array.shape} (expected {shape or '(3, H, W)'})"
    if not np.isfinite(array).all():
        return "non-finite values"
    return None


def validate_metrics(data: Any) -> str | None:
    """Why a cached metrics entry is unusable, or None."""
    if not isinstance(data, dict):
        return f"not a JSON object ({type(data).__name__})"
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} is {value!r}, not a finite number"
    return None


def pack_floats(values: np.ndarray) -> bytes:
    """float32 values, bytes grouped by significance (shuffled) so zlib finds the redundancy."""
    raw = np.ascontiguousarray(values, dtype=np.float32).view(np.uint8).reshape(-1, 4)
    return zlib.compress(np.ascontiguousarray(raw.T).tobytes(), 1)


def unpack_floats(payload: bytes, count: int) -> np.ndarray:
    planes = np.frombuffer(zlib.decompress(payload), np.uint8)
    if planes.size != 4 * count:
        raise ValueError(f"{planes.size} bytes for {count} values")
    return np.ascontiguousarray(planes.reshape(4, count).T).view(np.float32).reshape(-1)


@dataclass(frozen=True)
class Entry:
    path: Path
    offset: int  # of the record's head
    header: dict[str, Any]
    payload_length: int
    problem: str | None = None  # why the record is unusable before its payload is read (then header is {})
    tail: bool = False  # the bytes from here to the end form no record
    end: int = 0  # where the next record starts (0: not known)


def header_problem(header: Any) -> str | None:
    """Why a record's header is unusable (type, keys, field types, count against shape), or None.

    Checked before any field is used: a header damaged in a way its CRC was recomputed over
    (or that an older writer got wrong) must never index or shape a read.
    """
    if not isinstance(header, dict):
        return f"header is a JSON {type(header).__name__}, not an object"
    kind, key = header.get("kind"), header.get("key")
    if kind not in ("output", "metrics", "features") or not isinstance(key, str) or not key:
        return f"header without a known kind and a key ({sorted(header)[:6]})"
    if kind == "metrics" and not isinstance(header.get("profile"), str):
        return "metrics header without a profile"
    if kind == "features":
        dim = header.get("dim")
        return None if type(dim) is int and dim > 0 else f"features header with dim {dim!r}"
    if kind == "output":
        shape, count, holes = header.get("shape"), header.get("count"), header.get("holes")
        if (not isinstance(shape, list) or len(shape) != 3 or shape[0] != 3
                or not all(type(n) is int and n > 0 for n in shape)):
            return f"output header with shape {shape!r}"
        if type(count) is not int or type(holes) is not bool:
            return f"output header with count {count!r}, holes {holes!r}"
        full = shape[0] * shape[1] * shape[2]
        if (count != full) if not holes else (count % 3 or count > full):
            return f"output header says {count} values for shape {shape} (holes only: {holes})"
    return None


def pack_records(path: Path, start: int = 0) -> Iterator[Entry]:
    """The records of a pack file, in order, from byte ``start`` (a record's start). A complete
    record whose header is not a valid JSON object comes with its ``problem`` (the scan goes on:
    its lengths are known); bytes that do not form a record (a partial tail of a killed writer, a
    cut file, a damaged head) end the scan as one last entry with its ``problem``. A folder named
    ``*.pack`` has no records."""
    if not path.is_file():
        return
    size = path.stat().st_size
    with path.open("rb") as handle:
        offset = handle.seek(start)
        while offset < size:
            head = handle.read(HEAD.size)
            magic, header_length, payload_length, _ = HEAD.unpack(head) if len(head) == HEAD.size else (b"", 0, 0, 0)
            end = offset + HEAD.size + header_length + payload_length
            if magic != MAGIC or header_length > 1 << 20 or end > size:
                what = "a partial record (a writer killed mid-append, or a cut file)" if magic == MAGIC else "no record head"
                yield Entry(path, offset, {}, size - offset, f"{size - offset} bytes at the end: {what}", tail=True)
                return
            try:
                header = json.loads(handle.read(header_length))
                problem = header_problem(header)
            except ValueError:
                problem = "header is not JSON"
            yield Entry(path, offset, header if problem is None else {}, payload_length, problem, end=end)
            handle.seek(end)
            offset = end


class PackWriter:
    """This process's pack in one folder: appends whole records with one ``write`` each."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{socket.gethostname()}-{os.getpid()}.pack"
        self.path = folder / name
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        self.offset = 0

    def append(self, header: dict[str, Any], payload: bytes) -> Entry:
        header_bytes = json.dumps(header, sort_keys=True).encode()
        crc = zlib.crc32(payload, zlib.crc32(header_bytes))
        record = HEAD.pack(MAGIC, len(header_bytes), len(payload), crc) + header_bytes + payload
        os.write(self._fd, record)
        entry = Entry(self.path, self.offset, header, len(payload), end=self.offset + len(record))
        self.offset += len(record)
        return entry

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)


def read_payload(entry: Entry) -> bytes:
    """The payload of a record, or ValueError when it is damaged: no record head at its offset, a
    header other than the one indexed (``entry.header``, where known), or a CRC that does not match."""
    with entry.path.open("rb") as handle:
        handle.seek(entry.offset)
        head = handle.read(HEAD.size)
        if len(head) != HEAD.size:
            raise ValueError("no record at its offset (the pack was cut)")
        magic, header_length, payload_length, crc = HEAD.unpack(head)
        if magic != MAGIC or header_length > 1 << 20 or payload_length != entry.payload_length:
            raise ValueError("no record head at its offset (the pack was rewritten or damaged)")
        header_bytes = handle.read(header_length)
        payload = handle.read(payload_length)
    if len(payload) != payload_length or zlib.crc32(payload, zlib.crc32(header_bytes)) != crc:
        raise ValueError("checksum mismatch")
    if entry.header and json.loads(header_bytes) != entry.header:
        raise ValueError("a header other than the indexed one")
    return payload


def _scan(path: Path, start: int) -> Iterator[tuple[int, int, dict, int, str | None, bool]]:
    for entry in pack_records(path, start):
        yield entry.offset, entry.end, entry.header, entry.payload_length, entry.problem, entry.tail


class Cache:
    """Outputs, metrics and features by key; thread-safe (a writer thread may append while
    the main thread reads). Each folder's persistent index (harness.store.pack_index) is
    brought up to date with its packs on first use."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_root()
        self._index: dict[str, PackIndex] = {}
        self._writers: dict[str, PackWriter] = {}
        self._lock = threading.RLock()

    # --- folders, index, writing ------------------------------------------------------------

    def folder(self, group: str) -> Path:
        return self.root / "packs" / group

    def _group_index(self, group: str) -> PackIndex:
        with self._lock:
            if group not in self._index:
                self._index[group] = PackIndex(self.folder(group), _scan)
            return self._index[group]

    def unusable(self, group: str) -> list[str]:
        """The complete records of ``group`` that were skipped for an invalid header, described."""
        with self._lock:
            found = self._group_index(group).unusable()
        return [f"{pack} record at byte {offset}: {problem} (skipped; harness cache prune --damaged removes it)"
                for pack, offset, problem in found]

    def _append(self, group: str, header: dict[str, Any], payload: bytes) -> None:
        with self._lock:
            if group not in self._writers:
                self._writers[group] = PackWriter(self.folder(group))
                if group in self._index and not self._index[group].persistent:  # looked up before the folder existed
                    del self._index[group]
            index = self._group_index(group)
            entry = self._writers[group].append(header, payload)
            index.add(entry.path.name, entry.offset, entry.end, header, entry.payload_length)

    def _lookup(self, group: str, kind: str, key: str, profile: str = "") -> Entry | None:
        with self._lock:
            found = self._group_index(group).lookup(kind, key, profile)
        if found is None:
            return None
        pack, offset, header, length = found
        return Entry(self.folder(group) / pack, offset, header, length)

    def refresh(self) -> None:
        """Bring the indexes up to date with what other processes appended meanwhile (the records
        of a run shared by several processes)."""
        with self._lock:
            for index in self._index.values():
                index.refresh()

    def sync(self) -> None:
        """fsync every pack this process writes (durability at checkpoints, not per item)."""
        with self._lock:
            for writer in self._writers.values():
                writer.sync()

    def close(self) -> None:
        with self._lock:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()

    def entries(self) -> Iterator[Entry]:
        """Every record of every pack (older ones included), for verification and statistics."""
        for path in sorted((self.root / "packs").glob("*/*.pack")):
            yield from pack_records(path)

    # --- predictions --------------------------------------------------------------------------

    def has_output(self, key: str) -> bool:
        return self._lookup(key[:PREFIX], "output", key) is not None

    def put_output(self, key: str, prediction: np.ndarray, holes: np.ndarray | None = None) -> None:
        """Keep a prediction [3,H,W]: its values at ``holes`` (bool [H,W]) only, or all of it."""
        prediction = np.ascontiguousarray(prediction, dtype=np.float32)
        values = prediction[:, holes] if holes is not None else prediction
        header = {"kind": "output", "key": key, "shape": list(prediction.shape), "holes": holes is not None,
                  "count": int(values.size)}
        self._append(key[:PREFIX], header, pack_floats(values))

    def read_output(
        self, key: str, shape: tuple[int, ...] | None = None, holes: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, str | None]:
        """(prediction, None), (None, None) when absent, or (None, why it is damaged).

        A holes-only record is rebuilt with ``holes`` (the item's mask; zeros elsewhere, which
        no composite reads): without ``holes`` it cannot be rebuilt and counts as absent.
        """
        entry = self._lookup(key[:PREFIX], "output", key)
        if entry is None:
            return None, None
        header = entry.header
        try:
            values = unpack_floats(read_payload(entry), header["count"])
            if header["holes"]:
                if holes is None:
                    return None, None
                if int(holes.sum()) * 3 != header["count"]:
                    return None, f"holes-only record of {header['count'] // 3} pixels for a mask of {int(holes.sum())}"
                array = np.zeros(header["shape"], np.float32)
                array[:, holes] = values.reshape(3, -1)
            else:
                array = values.reshape(header["shape"])
        except (ValueError, KeyError, zlib.error) as error:
            return None, f"unreadable ({error})"
        problem = validate_output(array, shape)
        return (None, problem) if problem else (array, None)

    def get_output(self, key: str, shape: tuple[int, ...] | None = None, holes: np.ndarray | None = None) -> np.ndarray | None:
        return self.read_output(key, shape, holes)[0]

    # --- metrics ------------------------------------------------------------------------------

    def read_metrics(self, key: str, profile: str) -> tuple[dict[str, float], str | None]:
        """(metrics, None); ({}, None) when absent; ({}, why it is damaged)."""
        entry = self._lookup(key[:PREFIX], "metrics", key, profile)
        if entry is None:
            return {}, None
        try:
            data = json.loads(read_payload(entry))
        except ValueError as error:
            return {}, f"unreadable ({error})"
        problem = validate_metrics(data)
        return ({}, problem) if problem else ({k: float(v) for k, v in data.items()}, None)

    def get_metrics(self, key: str, profile: str) -> dict[str, float]:
        return self.read_metrics(key, profile)[0]

    def put_metrics(self, key: str, profile: str, values: dict[str, float], merge: bool = True) -> None:
        merged = {**(self.get_metrics(key, profile) if merge else {}), **values}
        header = {"kind": "metrics", "key": key, "profile": profile}
        self._append(key[:PREFIX], header, json.dumps(merged, sort_keys=True).encode())

    # --- features ------------------------------------------------------------------------------

    def has_features(self, extractor: str, key: str) -> bool:
        return self._lookup(f"feat-{extractor[:PREFIX]}", "features", key) is not None

    def read_features(self, extractor: str, key: str) -> tuple[np.ndarray | None, str | None]:
        entry = self._lookup(f"feat-{extractor[:PREFIX]}", "features", key)
        if entry is None:
            return None, None
        try:
            array = np.frombuffer(read_payload(entry), np.float32).copy()
        except ValueError as error:
            return None, f"unreadable ({error})"
        if array.size != entry.header.get("dim") or not np.isfinite(array).all():
            return None, f"features of {array.size} values (expected finite float32 [{entry.header.get('dim')}])"
        return array, None

    def put_features(self, extractor: str, key: str, features: np.ndarray) -> None:
        values = np.ascontiguousarray(features, dtype=np.float32).reshape(-1)
        header = {"kind": "features", "key": key, "dim": int(values.size)}
        self._append(f"feat-{extractor[:PREFIX]}", header, values.tobytes())

    # --- what a fingerprint prefix is ------------------------------------------------------------

    def describe_method(self, fingerprint: str, info: dict[str, Any]) -> None:
        """Remember what a fingerprint prefix is (for ``harness cache info`` and ``prune --method``)."""
        path = self.folder(fingerprint[:PREFIX]) / "method.json"
        try:
            labels = set(json.loads(path.read_text()).get("labels", []))
        except (OSError, ValueError, AttributeError):
            labels = set()
        labels.add(info.get("label", ""))
        atomic_write_text(path, json.dumps({**info, "labels": sorted(labels - {""})}, indent=1, sort_keys=True, default=str))
