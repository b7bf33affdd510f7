"""A run as a folder of plain files, which reports read back without recomputing anything.

    <runs>/<run name>/spec.json            the RunSpec
                      manifest.csv         items: image, mask, measured hole ratio, bucket, hashes
                      input_failures.csv   images that could not be used
                      methods/<method>/records.csv   per-image metrics (+ cache key)
                      methods/<method>/failures.csv  items that failed for this method, with reasons
                      methods/<method>/method.json   fingerprint, config, metric profile, metadata
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
from dataclasses import asdict, fields
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from harness.atomic import atomic_write_text
from harness.manifest import Failure
from harness.spec import RunSpec

PACKAGES = ("misf-harness", "torch", "torchvision", "numpy", "scikit-image", "lpips", "opencv-python-headless", "pillow", "pandas")


def runs_root() -> Path:
    return Path(os.environ.get("HARNESS_RUNS", "runs"))


def _csv_text(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def write_failures(path: Path, failures: list[Failure]) -> None:
    atomic_write_text(path, _csv_text((asdict(f) for f in failures), [f.name for f in fields(Failure)]))


def environment() -> dict[str, Any]:
    """Package versions, machine and git commit, for the record (with the time of writing)."""
    return {**_static_environment(), "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}


@lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
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


def write_method(
    run_dir: Path, method: str, rows: list[dict[str, Any]], columns: list[str], failures: list[Failure], info: dict[str, Any]
) -> Path:
    folder = run_dir / "methods" / method.replace("/", "_").replace(":", "_")
    atomic_write_text(folder / "records.csv", _csv_text(rows, columns))
    write_failures(folder / "failures.csv", failures)
    atomic_write_text(folder / "method.json", json.dumps({**info, "method": method, **environment()}, indent=2, default=str))
    return folder


def write_spec(run_dir: Path, spec: RunSpec) -> None:
    atomic_write_text(run_dir / "spec.json", json.dumps(spec.to_dict(), indent=2, sort_keys=True))


def find_runs(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).rglob("spec.json"))


def load_records(root: Path | str) -> pd.DataFrame:
    """Every per-image record under ``root`` (a runs folder or one run), with dataset and run."""
    frames = []
    for run_dir in find_runs(Path(root)):
        spec = RunSpec.from_dict(json.loads((run_dir / "spec.json").read_text()))
        for method_dir in sorted((run_dir / "methods").glob("*")):
            records, info_file = method_dir / "records.csv", method_dir / "method.json"
            if not records.is_file() or not info_file.is_file():
                continue
            info = json.loads(info_file.read_text())
            frame = pd.read_csv(records, dtype={"item_id": str, "image_id": str, "mask_id": str, "bucket": str})
            frame.insert(0, "method", info["method"])
            frame.insert(1, "dataset", spec.dataset)
            frame["run"] = run_dir.name
            frame["profile"] = info.get("profile", {}).get("name", spec.profile)
            frame["reads_ground_truth"] = bool(info.get("reads_ground_truth", False))
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["method", "dataset", "bucket", "item_id", "run", "profile"])
    return pd.concat(frames, ignore_index=True)


def load_failures(root: Path | str) -> pd.DataFrame:
    frames = []
    for run_dir in find_runs(Path(root)):
        for path in [run_dir / "input_failures.csv", *sorted((run_dir / "methods").glob("*/failures.csv"))]:
            if path.is_file() and path.stat().st_size:
                frame = pd.read_csv(path, dtype=str)
                frame["run"] = run_dir.name
                frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "item_id", "stage", "reason", "run"])
