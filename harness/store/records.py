"""A run as a folder of plain files, which reports read back without recomputing anything.

    <runs>/<run name>/spec.json            the RunSpec as resolved (mask set and buckets used)
                      run.json             identity and summary: data fingerprint, deviations
                                           from the paper's protocol, items per bucket, notes
                      manifest.csv         items: image, mask, measured hole ratio, bucket, hashes
                      input_failures.csv   images and masks that could not be used, with reasons
                      methods/<label>/records.csv   every item: status, reason, per-image metrics
                      methods/<label>/method.json   label, method, fingerprint, identity, metric
                                                    profile and version, flags, counts, complete
                      parts/<label>/<N>-<I>/        a shared run's part I of N (harness.store.parts)

The run name hashes the protocol and the data actually used, so two protocols or two data
folders never share a folder. A label holds one predictor: results of other weights or
settings under the same label are refused (give them another label, or replace).
Records are rewritten atomically as items finish; ``complete`` is false until the method is done.
"""
from __future__ import annotations

import json
import math
import platform
import re
import subprocess
import time
from dataclasses import asdict, fields
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.environment import Environment
from harness.store.atomic import atomic_write_text
from harness.store.csvfiles import csv_text, read_csv
from harness.data.manifest import Failure, Manifest
from harness.metrics.registry import metric_columns
from harness.hashing import sha256_json
from harness.data.spec import RunSpec
from harness.reports.marks import RUN_FLAGS

if TYPE_CHECKING:
    import pandas as pd

PACKAGES = ("misf-harness", "torch", "torchvision", "numpy", "scikit-image", "lpips", "opencv-python-headless", "pillow", "pandas")
ITEM_COLUMNS = ["item_id", "bucket", "image_id", "mask_id", "hole_ratio"]
STATUS_COLUMNS = ["status", "stage", "reason"]


def record_columns(metric_names) -> list[str]:
    return [*ITEM_COLUMNS, *STATUS_COLUMNS, *metric_names, "out_of_range", "cache_key"]


TEXT_COLUMNS = ["item_id", "bucket", "image_id", "mask_id", "status", "stage", "reason", "cache_key", "method"]
FAILURE_COLUMNS = [f.name for f in fields(Failure)]
SET_COLUMNS = ["bucket", "metric", "n", "value", "ci_low", "ci_high", "note", "features"]
FLUSH_SECONDS = 5.0


def runs_root() -> Path:
    return Environment.read().runs_root


def write_failures(path: Path, failures: list[Failure]) -> None:
    atomic_write_text(path, csv_text((asdict(f) for f in failures), FAILURE_COLUMNS))


def environment() -> dict[str, Any]:
    """Package versions, machine and git commit, for the record (with the time of writing)."""
    return {**static_environment(), "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}


@lru_cache(maxsize=1)
def static_environment() -> dict[str, Any]:
    """What does not change within a process: asked once, not once per method."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
    }


def write_run(run_dir: Path, manifest: Manifest) -> None:
    """Everything about the run that does not depend on a method."""
    spec = manifest.spec
    atomic_write_text(run_dir / "spec.json", json.dumps(spec.to_dict(), indent=2, sort_keys=True))
    summary = {
        "run": run_dir.name,
        "data_fingerprint": manifest.fingerprint(),
        "protocol": spec.describe(),
        "deviations": spec.deviations(),
        "bucket_sizes": manifest.bucket_sizes(),
        "items": len(manifest.items),
        "input_failures": len(manifest.failures),
        "unused_masks": manifest.unused_masks,
        "exif_oriented": manifest.exif_oriented,
        "upscaled": manifest.upscaled,
    }
    if manifest.dataset.parts:  # read from tar shards: the samples each one yielded
        summary["shards"] = [{"shard": shard, "samples": count} for shard, count in manifest.dataset.parts]
    atomic_write_text(run_dir / "run.json", json.dumps(summary, indent=2))
    manifest.write(run_dir / "manifest.csv")
    write_failures(run_dir / "input_failures.csv", manifest.failures)


def method_folder(run_dir: Path, label: str) -> Path:
    """``methods/<label>``; a label with other characters gets a hash so two never collide."""
    if re.fullmatch(r"[A-Za-z0-9._-]+", label) and label.strip("."):  # never "." or "..": folders
        return run_dir / "methods" / label
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label)
    return run_dir / "methods" / f"{safe}-{sha256_json(label)[:8]}"


class LabelTaken(ValueError):
    """A label of a run already holds the results of a different predictor."""


def claim_label(run_dir: Path, label: str, method: str, identity: dict[str, Any], replace: bool) -> str | None:
    """Check that ``label`` may hold this predictor's results; returns a note for the user or None.

    Results of the same predictor (same method, weights, config) made by other code or metric
    versions are simply replaced; another predictor under the same label is an error unless
    ``replace``.
    """
    info_file = method_folder(run_dir, label) / "method.json"
    try:
        old = json.loads(info_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return f"{label}: unreadable {info_file} replaced"
    if old.get("identity_sha") == sha256_json([method, identity]):
        return None
    if replace:
        return f"{label}: replaced the earlier records (another predictor: {old.get('method')}, {old.get('checkpoint')})"
    raise LabelTaken(
        f"'{label}' in {run_dir} already holds results of another predictor ({old.get('method')}, checkpoint "
        f"{old.get('checkpoint')}, fingerprint {str(old.get('fingerprint'))[:12]}); weights or settings differ. "
        f"Give this one its own name (--name NAME, or --methods NAME={method}) or pass --replace to discard the earlier records."
    )


class MethodRecords:
    """The records file and method.json of one label in one run, rewritten atomically."""

    def __init__(self, run_dir: Path, label: str, method: str, identity: dict[str, Any], info: dict[str, Any],
                 metric_names) -> None:
        self.folder = method_folder(run_dir, label)
        self.columns = record_columns(metric_names)
        self.info = {"label": label, "method": method, "identity": identity, "identity_sha": sha256_json([method, identity]), **info}
        self._last = 0.0

    def flush(self, rows: list[dict[str, Any]], complete: bool, counts: dict[str, Any],
              set_rows: list[dict[str, Any]] | None = None) -> None:
        self.write(csv_text(rows, self.columns), complete, counts, set_rows)

    def write(self, records: str, complete: bool, counts: dict[str, Any],
              set_rows: list[dict[str, Any]] | None = None) -> None:
        """The records as CSV text already made (the reducer joins the parts' rows); method.json last."""
        atomic_write_text(self.folder / "records.csv", records)
        if set_rows:
            atomic_write_text(self.folder / "set_metrics.csv", csv_text(set_rows, SET_COLUMNS))
        payload = {**self.info, **counts, "complete": complete, **environment()}
        atomic_write_text(self.folder / "method.json", json.dumps(payload, indent=2, default=str))
        self._last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._last >= FLUSH_SECONDS


def find_runs(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).rglob("spec.json"))


def read_run(run_dir: Path) -> tuple[RunSpec, dict[str, Any]]:
    """The spec and run.json summary of a run folder (older folders without run.json get a minimal one)."""
    try:
        spec = RunSpec.from_dict(json.loads((run_dir / "spec.json").read_text()))
    except ValueError as error:  # hand-edited or damaged: name the file
        raise ValueError(f"{run_dir / 'spec.json'}: {error}") from None
    try:
        summary = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        summary = {"protocol": spec.describe(), "deviations": spec.deviations(), "bucket_sizes": {}}
    return spec, summary


def _numeric(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    import pandas as pd  # records are read back with pandas; a run writes them without it

    for column in [*metric_columns(frame.columns), "hole_ratio", "out_of_range"]:
        if column in frame:
            try:
                frame[column] = pd.to_numeric(frame[column].replace("nan", np.nan))
            except (TypeError, ValueError):
                raise ValueError(f"{path}: column {column} holds values that are not numbers; rerun the method "
                                 "to rewrite its records") from None
    return frame


#: Values a metric can take at all: a hand-edited or damaged cell outside them is no result.
BOUNDS = {"PSNR": (0.0, 100.0), "PSNR (hole)": (0.0, 100.0), "SSIM": (-1.0, 1.0), "L1": (0.0, 100.0),
          "L1 (hole)": (0.0, 100.0), "LPIPS": (0.0, math.inf), "out_of_range": (0.0, 1.0)}


def _check_rows(frame: pd.DataFrame, path: Path, manifest_ids: set[str] | None) -> None:
    """A records file's rows are results only if each item is in the run's manifest, appears
    once, and its values are finite numbers a metric can take; else a ValueError naming the file."""
    fix = "; rerun the method (with --replace) to rewrite its records"
    if "item_id" in frame:
        twice = frame["item_id"][frame["item_id"].duplicated()]
        if len(twice):
            raise ValueError(f"{path}: item {twice.iloc[0]} appears more than once{fix}")
        if manifest_ids is not None:
            strangers = sorted(set(frame["item_id"]) - manifest_ids)
            if strangers:
                raise ValueError(f"{path}: item {strangers[0]} is not in the run's manifest ({len(strangers)} such){fix}")
    for column in [*metric_columns(frame.columns), "out_of_range"]:
        if column not in frame:
            continue
        values = frame[column].dropna()
        low, high = BOUNDS.get(column, (-math.inf, math.inf))
        bad = values[~np.isfinite(values) | (values < low - 1e-9) | (values > high + 1e-9)]  # 1e-9: rounding
        if len(bad):
            raise ValueError(f"{path}: {column} holds {float(bad.iloc[0])!r}, not a value {column} can take{fix}")


def _method_info(path: Path) -> dict[str, Any]:
    """A method.json, or a ValueError naming the file when it is not a JSON object with a method."""
    try:
        info = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error}); rerun the method to rewrite it") from None
    if not isinstance(info, dict) or not isinstance(info.get("method"), str):
        raise ValueError(f"{path}: not a method's description (no 'method'); rerun the method to rewrite it")
    return info


def load_records(root: Path | str) -> pd.DataFrame:
    """Every item of every method under ``root`` (a runs folder or one run), failed ones included.

    Columns: the record columns, plus method (the label), dataset, run, protocol, protocol_name, deviations,
    profile, items_key (equal for runs that differ only in profile), the method.json flags of
    :data:`~harness.reports.marks.RUN_FLAGS` and complete. Input failures of a bucket appear as
    failed items of every method of their run, since every method should have scored them.
    """
    import pandas as pd

    frames = []
    for run_dir in find_runs(Path(root)):
        spec, summary = read_run(run_dir)
        failures_file = run_dir / "input_failures.csv"
        inputs = read_csv(failures_file, FAILURE_COLUMNS) if failures_file.is_file() else pd.DataFrame(columns=FAILURE_COLUMNS)
        inputs = inputs[inputs.get("bucket", pd.Series(dtype=str)).fillna("") != ""]
        manifest_file = run_dir / "manifest.csv"
        manifest_ids = set(read_csv(manifest_file, ["item_id"])["item_id"]) if manifest_file.is_file() else None
        for method_dir in sorted((run_dir / "methods").glob("*")):
            records, info_file = method_dir / "records.csv", method_dir / "method.json"
            if not records.is_file() or not info_file.is_file():
                continue
            info = _method_info(info_file)
            frame = _numeric(read_csv(records, TEXT_COLUMNS), records)
            _check_rows(frame, records, manifest_ids)
            if "status" not in frame:
                frame["status"] = "ok"
            failed_inputs = pd.DataFrame({
                "item_id": inputs["item_id"], "bucket": inputs["bucket"], "status": "failed",
                "stage": inputs["stage"], "reason": inputs["reason"],
            })
            frame = pd.concat([frame, failed_inputs], ignore_index=True) if len(failed_inputs) else frame
            frame.insert(0, "method", info.get("label", info["method"]))
            frame.insert(1, "dataset", spec.dataset)
            frame["run"] = run_dir.name
            frame["protocol"] = summary.get("protocol", spec.describe())
            frame["protocol_name"] = spec.protocol_name or ""  # the published protocol (--protocol), if any
            frame["deviations"] = "; ".join(summary.get("deviations", spec.deviations()))
            frame["profile"] = info.get("profile", {}).get("name", spec.profile)
            # Runs that differ only in their metric profile score the same items: profile comparisons pair them.
            frame["items_key"] = sha256_json({**spec.protocol(), "profile": None, "data": summary.get("data_fingerprint")})[:12]
            for flag in RUN_FLAGS:
                frame[flag] = bool(info.get(flag, False))
            frame["complete"] = bool(info.get("complete", True))
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["method", "dataset", "bucket", "item_id", "status", "run", "profile"])
    return pd.concat(frames, ignore_index=True)


def load_set_metrics(root: Path | str) -> pd.DataFrame:
    """Every set-level result under ``root``: run, dataset, method (label), bucket, metric, n,
    value, ci_low, ci_high, note."""
    import pandas as pd

    frames = []
    for run_dir in find_runs(Path(root)):
        spec, _ = read_run(run_dir)
        for path in sorted((run_dir / "methods").glob("*/set_metrics.csv")):
            info = json.loads((path.parent / "method.json").read_text())
            frame = read_csv(path, ["bucket", "metric", "note", "features"]).reindex(columns=SET_COLUMNS)
            for column in ("n", "value", "ci_low", "ci_high"):  # "nan": a value not computed (too few items)
                frame[column] = pd.to_numeric(frame[column].replace("nan", np.nan))
            frames.append(frame.assign(run=run_dir.name, dataset=spec.dataset, method=info.get("label", info["method"])))
    columns = ["run", "dataset", "method", *SET_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def load_failures(root: Path | str) -> pd.DataFrame:
    """Every failed item and input under ``root``: run, method ("*" for inputs), item_id, bucket, stage, reason."""
    import pandas as pd

    frames = []
    for run_dir in find_runs(Path(root)):
        path = run_dir / "input_failures.csv"
        if path.is_file():
            frames.append(read_csv(path, FAILURE_COLUMNS).assign(run=run_dir.name))
    records = load_records(root)
    if len(records):
        failed = records[(records["status"] == "failed") & (records["stage"] != "input") & (records["stage"] != "mask")]
        frames.append(failed[["run", "method", "item_id", "bucket", "stage", "reason"]])
    columns = ["run", *FAILURE_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
