"""Per-process parts of a shared run (torchrun ranks, ``--shard`` processes): what the reducer
(harness.engine.reduce) merges into the files one process writes, without reading a prediction.

    <run>/parts/<method folder>/<count>-<index>/records.parquet  the part's rows, each cell as the text
                                                                 records.csv holds (exact, any type)
                                                 features.npz    per bucket: the scored items' ids and
                                                                 their real and fake features, item order
                                                                 (set-state sums: the sampled items', the
                                                                 exact sums of every scored item and those
                                                                 items' ids, sorted and zlib-compressed)
                                                 part.json       what the process was and counted; written
                                                                 last: a part without it is missing

Every file is written atomically, so a process killed while writing leaves its part missing, never
half there. A process writing part I of N removes the label's parts of another N (an earlier
split of the same run). In set-state sums one process keeps its part too (1-0), and a rerun of
part I of N starts from its sums where they still hold (harness.engine.evaluation).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics.mergeable import BucketState, ExactSums
from harness.store.atomic import atomic_write_bytes, atomic_write_text
from harness.store.csvfiles import csv_text

FOLDER = "parts"
MARKER = "part.json"
#: Version of the part format: the reducer refuses parts of another one.
PART_FORMAT = 1

#: Per bucket: item ids, real features [N, D], fake features [N, D] (rows in item order).
BucketFeatures = tuple[list[str], np.ndarray, np.ndarray]
#: Per bucket (set-state sums): the exact sums of the real and of the fake features.
BucketSums = tuple[ExactSums, ExactSums]


class PartsError(ValueError):
    """The parts of a method cannot make its records: one is missing, or they do not belong together."""


def parts_folder(method_dir: Path) -> Path:
    """``<run>/parts/<method folder name>`` for ``<run>/methods/<method folder name>``."""
    return method_dir.parent.parent / FOLDER / method_dir.name


def remove_parts(method_dir: Path) -> None:
    """Remove a method's parts: a single process writing its records without a part (set-state
    features) makes them stale, and ``harness reduce`` would otherwise rebuild the records from them
    (another predictor, another set state)."""
    shutil.rmtree(parts_folder(method_dir), ignore_errors=True)


def cells(rows: list[dict[str, Any]], columns: list[str]) -> list[list[str]]:
    """Each row's cells exactly as records.csv writes them (csv_text's number and text rules)."""
    return list(csv.reader(io.StringIO(csv_text(rows, columns), newline="")))[1:]


def csv_of_cells(columns: list[str], rows: list[list[str]]) -> str:
    """The CSV text of ``cells`` rows: byte for byte what csv_text writes for the rows they came from."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def part_path(method_dir: Path, index: int, count: int) -> Path:
    return parts_folder(method_dir) / f"{count}-{index}"


def write_part(method_dir: Path, index: int, count: int, meta: dict[str, Any], columns: list[str],
               rows: list[list[str]], features: dict[str, BucketFeatures], sums: dict[str, BucketSums] | None = None,
               included: dict[str, list[str]] | None = None) -> Path:
    """Part ``index`` of ``count`` of one method: its rows (cells), its features (and sums, with
    the ids of the items ``included`` in them) per bucket and ``meta`` (identity, counts, ...);
    returns its folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = parts_folder(method_dir)
    for other in folder.glob("*-*"):
        if other.is_dir() and not other.name.startswith(f"{count}-"):
            shutil.rmtree(other, ignore_errors=True)
    part = part_path(method_dir, index, count)
    (part / MARKER).unlink(missing_ok=True)  # the part is missing until it is whole again
    table = pa.Table.from_arrays([pa.array([r[c] for r in rows], pa.string()) for c in range(len(columns))],
                                 names=columns)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write_bytes(part / "records.parquet", buffer.getvalue())
    arrays: dict[str, np.ndarray] = {"buckets": np.array(list(features), dtype=str)}
    for b, (ids, real, fake) in enumerate(features.values()):
        arrays[f"{b}.ids"] = np.array(ids, dtype=str)
        arrays[f"{b}.real"], arrays[f"{b}.fake"] = _compact(real), _compact(fake)
    for b, bucket in enumerate(features):
        for side, exact in zip(("real", "fake"), (sums or {}).get(bucket, ())):
            arrays.update({f"{b}.sums.{side}.{name}": value for name, value in exact.packed().items()})
        if included and bucket in included:  # sorted, one per line: zlib keeps a few bytes per item
            arrays[f"{b}.included"] = np.frombuffer("\n".join(sorted(included[bucket])).encode(), np.uint8)
    if not _holds(part / "features.npz", arrays):  # a rerun that added nothing: its sums are already there
        buffer = io.BytesIO()
        (np.savez_compressed if sums else np.savez)(buffer, **arrays)  # zlib keeps about 65 % of the sums
        atomic_write_bytes(part / "features.npz", buffer.getvalue())
    atomic_write_text(part / MARKER, json.dumps({"format": PART_FORMAT, "index": index, "count": count,
                                                 "columns": columns, **meta}, default=str))
    return part


def _holds(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Whether ``path`` holds exactly ``arrays`` (names, types, shapes, values): reading it back costs
    a fraction of compressing the sums again."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return set(stored.files) == set(arrays) and all(
                (a := stored[name]).dtype == value.dtype and a.shape == value.shape and np.array_equal(a, value)
                for name, value in arrays.items())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False


def _compact(values: np.ndarray) -> np.ndarray:
    """float32 when that holds the values exactly (features are cached as float32), else as given."""
    values = np.asarray(values)
    small = values.astype(np.float32)
    return small if np.array_equal(small.astype(values.dtype), values) else values


@dataclass
class Part:
    folder: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return f"part {self.meta['index']} of {self.meta['count']}"

    def rows(self) -> list[list[str]]:
        import pyarrow.parquet as pq

        table = pq.read_table(self.folder / "records.parquet")
        if table.column_names != self.meta["columns"]:
            raise PartsError(f"{self.folder}: records columns {table.column_names} are not those of its part.json")
        return [list(row) for row in zip(*(table.column(c).to_pylist() for c in table.column_names))]

    def state(self, bucket: str) -> BucketState | None:
        """Set-state sums: the part's exact sums and sample of one ``bucket`` (None: no item of it
        scored here), read alone: a reducer holds one bucket of one part beside its running merge."""
        with np.load(self.folder / "features.npz", allow_pickle=False) as stored:
            b = _bucket_index(stored, bucket)
            if b is None:
                return None
            sides = [ExactSums.unpacked({name: stored[f"{b}.sums.{side}.{name}"] for name in ("count", "total", "high", "low")})
                     for side in ("real", "fake")]
            return BucketState(*sides, [str(i) for i in stored[f"{b}.ids"]], stored[f"{b}.real"], stored[f"{b}.fake"])

    def included(self, bucket: str) -> list[str] | None:
        """Set-state sums: the sorted ids of every item in the part's sums of ``bucket`` (None: the
        part has no such bucket or does not list them)."""
        with np.load(self.folder / "features.npz", allow_pickle=False) as stored:
            b = _bucket_index(stored, bucket)
            if b is None or f"{b}.included" not in stored.files:
                return None
            text = stored[f"{b}.included"].tobytes().decode()
        return text.split("\n") if text else []

    def features(self) -> dict[str, BucketFeatures]:
        with np.load(self.folder / "features.npz", allow_pickle=False) as stored:
            return {str(bucket): (list(stored[f"{b}.ids"]), stored[f"{b}.real"], stored[f"{b}.fake"])
                    for b, bucket in enumerate(stored["buckets"])}



def _bucket_index(stored: Any, bucket: str) -> int | None:
    """The number a features.npz stores ``bucket``'s arrays under (None: it has no such bucket)."""
    names = [str(name) for name in stored["buckets"]]
    return names.index(bucket) if bucket in names else None

def read_parts(method_dir: Path, shard_word: str = "shard") -> list[Part]:
    """The complete parts of one method, in index order; a :class:`PartsError` naming every part
    missing (a process that did not finish, or a part folder lost) rather than a smaller n."""
    folder = parts_folder(method_dir)
    found: dict[int, dict[int, Part]] = {}
    for part in sorted(folder.glob("*-*")):
        count, _, index = part.name.partition("-")
        if not (count.isdigit() and index.isdigit()):
            continue
        found.setdefault(int(count), {})
        if (part / MARKER).is_file():
            meta = _meta(part / MARKER)
            if (meta.get("count"), meta.get("index")) != (int(count), int(index)):
                raise PartsError(f"{part}: its {MARKER} is part {meta.get('index')} of {meta.get('count')}; "
                                 "a part moved by hand? run that part again")
            found[int(count)][int(index)] = Part(part, meta)
    counts = sorted(found)
    if not counts:
        raise PartsError(f"no parts of {method_dir.name} in {folder}")
    if len(counts) > 1:
        raise PartsError(f"{folder} holds parts of runs split {' and '.join(map(str, counts))} ways; run the parts of "
                         "one split again")
    count = counts[0]
    have = found.get(count, {})
    missing = [i for i in range(count) if i not in have]
    if missing:
        names = ", ".join(f"{shard_word} {i}/{count}" for i in missing)
        again = f"harness run ... --shard {missing[0]}/{count}, then harness reduce" if shard_word == "shard" else \
            "the same command: it finishes from the cache"
        raise PartsError(f"{method_dir.name}: {len(missing)} of {count} parts missing ({names}): that process did not "
                         f"finish or its part was lost; run it again ({again})")
    return [have[i] for i in range(count)]


def stored_part(method_dir: Path, index: int, count: int) -> tuple[Part | None, str]:
    """Part ``index`` of ``count`` as an earlier process left it, or (None, why not: "" when there
    is none)."""
    folder = part_path(method_dir, index, count)
    if not (folder / MARKER).is_file():
        return None, ""
    try:
        return Part(folder, _meta(folder / MARKER)), ""
    except PartsError as error:
        return None, str(error)


def _meta(marker: Path) -> dict[str, Any]:
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as error:
        raise PartsError(f"{marker}: unreadable ({error}); run that part again") from None
    if meta.get("format") != PART_FORMAT:
        raise PartsError(f"{marker}: part format {meta.get('format')}, not {PART_FORMAT}: run that part again")
    return meta
