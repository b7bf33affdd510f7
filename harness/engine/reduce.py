"""The reducer: a shared run's parts (harness.store.parts) merged into the records, set-level
metrics, method.json and results.json that one process writes for the same run, byte for byte
(method.json but for its time of writing), reading no prediction and no cache.

* **Records**: every part's rows, put in the manifest's order; every item of the manifest must be
  in exactly one part, else an error (never a smaller n).
* **Set-level metrics** (FID, KID, P-IDS, U-IDS and their bootstrap intervals): with set-state
  "features" each part keeps the real and fake features of its scored items per bucket (every
  scored item, float32 as cached); the reducer puts them in item order and computes each metric as
  one process does from the cache. With set-state "sums" each part keeps exact integer sums of
  every scored item's features and the features of its bottom-K sample; the reducer adds the sums
  (FID) and takes the bottom K of the parts' samples (KID, P-/U-IDS, intervals) with the function
  one process applies to its single part (harness.engine.features.state_rows): the same bits.
* **Restartable**: every file is written atomically, and the same parts give the same bytes: a
  reducer killed at any point is simply run again.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.manifest import Failure
from harness.engine.evaluation import MethodResult
from harness.engine.features import set_rows, state_rows
from harness.metrics.mergeable import BucketState
from harness.metrics.registry import metric_columns, metrics
from harness.store.atomic import stale_temporary_files
from harness.store.csvfiles import unescape
from harness.store.parts import FOLDER, Part, PartsError, csv_of_cells, read_parts
from harness.store.records import MethodRecords, method_folder
from harness.store.results import write_results
from harness.store.shardnotes import records_written


def _manifest(run_dir: Path) -> tuple[list[str], list[str]]:
    """(item ids, their buckets) in the manifest's order."""
    path = run_dir / "manifest.csv"
    if not path.is_file():
        raise PartsError(f"{run_dir}: no manifest.csv; is this a run folder of a shared run?")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [unescape(r["item_id"]) for r in rows], [unescape(r["bucket"]) for r in rows]


def labels_with_parts(run_dir: Path) -> list[str]:
    """Folder names under ``<run>/parts`` (one per method that left parts)."""
    return sorted(p.name for p in (run_dir / FOLDER).glob("*") if p.is_dir())


def reduce_run(run_dir: Path, labels: list[str] | None = None, shard_word: str = "shard") -> list[MethodResult]:
    """Merge the parts of ``labels`` (default: every method with parts) and write the run's
    records and results.json; returns each method's result as one process would."""
    run_dir = Path(run_dir)
    fingerprint = json.loads((run_dir / "run.json").read_text())["data_fingerprint"]
    ids, buckets = _manifest(run_dir)
    folders = [method_folder(run_dir, label).name for label in labels] if labels is not None else labels_with_parts(run_dir)
    results = [_reduce_method(run_dir / "methods" / name, fingerprint, ids, buckets, shard_word) for name in folders]
    write_results(run_dir)
    records_written(run_dir.parent, run_dir.name)
    for leftover in stale_temporary_files(run_dir):  # of writers killed in earlier runs (kill -9)
        leftover.unlink(missing_ok=True)
    return results


def _reduce_method(method_dir: Path, fingerprint: str, ids: list[str], buckets: list[str], shard_word: str) -> MethodResult:
    parts = read_parts(method_dir, shard_word)
    first = parts[0].meta
    for part in parts:
        if part.meta["data_fingerprint"] != fingerprint:
            raise PartsError(f"{part.folder}: made for other data than this run's manifest; run that part again")
        if part.meta.get("set_state") != first.get("set_state"):
            raise PartsError(f"{part.folder}: set-level state {part.meta.get('set_state', {}).get('mode', 'features')}, "
                             f"{parts[0].folder}: {first.get('set_state', {}).get('mode', 'features')} (or another "
                             "sample): run every part of the method again with one --set-state and --set-sample")
        if part.meta["record"]["identity_sha"] != first["record"]["identity_sha"] or part.meta["columns"] != first["columns"]:
            raise PartsError(f"{part.folder}: another predictor or other metrics than {parts[0].folder}; "
                             "run every part of the method again")
        if (part.meta.get("features_identity"), part.meta.get("state_identity")) != (
                first.get("features_identity"), first.get("state_identity")):  # the extractor (its weights too), the profile
            raise PartsError(f"{part.folder}: set-level features of another extractor than {parts[0].folder} (or of "
                             "another profile or prediction code): run every part of the method again with one extractor")
    columns = first["columns"]
    rows = _ordered_rows(method_dir, parts, columns, ids)
    set_rows_ = _set_rows(parts, ids, buckets) if first["set_metrics"] else []
    record = first["record"]  # MethodRecords.info of part 0's process
    result = MethodResult(record["label"], record["method"], _typed(columns, rows),
                          [Failure(**f) for p in parts for f in p.meta["failures"]],
                          sum(p.meta["predicted"] for p in parts), sum(p.meta["scored"] for p in parts),
                          [d for p in parts for d in p.meta["damaged"]], set_rows_, True)
    info = {k: v for k, v in record.items() if k not in ("label", "method", "identity", "identity_sha")}
    records = MethodRecords(method_dir.parent.parent, record["label"], record["method"], record["identity"], info,
                            first["metrics"])
    records.write(csv_of_cells(columns, rows), True, result.counts(), set_rows_)  # counted as one process counts
    return result


def _ordered_rows(method_dir: Path, parts: list[Part], columns: list[str], ids: list[str]) -> list[list[str]]:
    """Every part's rows in manifest order; each manifest item once, and nothing else."""
    at = columns.index("item_id")
    found: dict[str, list[str]] = {}
    for part in parts:
        for row in part.rows():
            item = unescape(row[at])
            if item in found:
                raise PartsError(f"{method_dir.name}: item {item} is in two parts ({part.name} and another)")
            found[item] = row
    strangers = set(found) - set(ids)
    if strangers:
        raise PartsError(f"{method_dir.name}: the parts hold {len(strangers)} item(s) not in the run's manifest "
                         f"(e.g. {sorted(strangers)[0]}); run the parts again")
    absent = [i for i in ids if i not in found]
    if absent:
        raise PartsError(f"{method_dir.name}: {len(absent)} item(s) of the manifest are in no part (e.g. {absent[0]}); "
                         "run the parts again")
    return [found[i] for i in ids]


def _set_rows(parts: list[Part], ids: list[str], buckets: list[str]) -> list[dict[str, Any]]:
    """Per bucket (manifest order), the set-level metrics over every part's features in item order."""
    meta = parts[0].meta
    chosen = [metrics()[key] for key in meta["set_metrics"]]
    position = {item: i for i, item in enumerate(ids)}
    if "set_state" in meta:  # set-state sums: per bucket, the parts' sums and samples merged one part at a time
        sample, rows = meta["set_state"]["sample"], []
        for bucket in dict.fromkeys(buckets):
            merged = None
            for part in parts:
                state = part.state(bucket)
                if state is not None:  # integer sums: any grouping gives the same bits
                    merged = state if merged is None else BucketState.merge([merged, state], sample, position)
            rows += state_rows(bucket, [merged] if merged else [], sample, position, chosen, meta["bootstrap"],
                               meta["seed"], meta["features_identity"])
        return rows
    stored = [part.features() for part in parts]
    rows = []
    for bucket in dict.fromkeys(buckets):
        pieces = []
        for features in stored:
            if bucket in features:
                names, real, fake = features[bucket]
                pieces += [(position[item], real[j], fake[j]) for j, item in enumerate(names)]
        pieces.sort(key=lambda piece: piece[0])
        real = np.array([p[1] for p in pieces], np.float64)
        fake = np.array([p[2] for p in pieces], np.float64)
        rows += set_rows(bucket, real, fake, chosen, meta["bootstrap"], meta["seed"], meta["features_identity"])
    return rows


def _typed(columns: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
    """Rows read back: numbers as floats, empty cells left out (as a failed item's row has them)."""
    numeric = {*metric_columns(columns), "hole_ratio", "out_of_range"}
    kinds = [(c, c in numeric) for c in columns]
    return [{c: (float(v) if number else unescape(v)) for (c, number), v in zip(kinds, row) if v != ""} for row in rows]
