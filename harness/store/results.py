"""One aggregate results file per run folder, beside the per-item records (lm-eval style).

``results.json`` says what was run (spec, protocol and its deviations, data fingerprint, each
method with its fingerprint, checkpoint and completeness), the per-cell aggregates (``n``,
failures, metric means, set-level metrics), the failures by method, stage and reason, and the
versions; ``records.parquet`` holds every method's per-item records in one table (for large
runs, where CSV is slow to read). Both are rewritten at the end of each run from the records,
which stay the source.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.store.atomic import atomic_write_bytes, atomic_write_text
from harness.store.records import load_records, load_set_metrics, read_run, static_environment

METHOD_FIELDS = ("method", "fingerprint", "checkpoint", "identity_sha", "untrained", "reads_ground_truth", "resized", "supplied", "lossy",
                 "predictions", "code",
                 "config", "profile", "metrics", "set_features", "items", "scored_items", "failed_items", "complete")


def _plain(value: Any) -> Any:
    """JSON-safe: NaN becomes null, numpy scalars plain numbers."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def write_results(run_dir: Path) -> Path:
    from harness.reports.report import aggregate  # pandas: loaded when a run writes its results, not at import

    spec, summary = read_run(run_dir)
    records, sets = load_records(run_dir), load_set_metrics(run_dir)
    methods = {}
    for path in sorted((run_dir / "methods").glob("*/method.json")):
        info = json.loads(path.read_text())
        methods[info["label"]] = {key: info.get(key) for key in METHOD_FIELDS}
        if "set_state" in info:  # --set-state sums (docs/set-state.md); features mode's entry is as it was
            methods[info["label"]]["set_state"] = info["set_state"]
    table = aggregate(records, set_metrics=sets).drop(columns=["block", "run", "dataset"], errors="ignore")
    cells = [{key: _plain(value) for key, value in row.items()} for row in table.to_dict("records")]
    failed = records[records["status"] != "ok"] if len(records) else records
    failures = [] if failed.empty else [
        {"method": method, "stage": stage, "reason": reason, "count": int(count)}
        for (method, stage, reason), count in failed.groupby(["method", "stage", "reason"]).size().items()
    ]
    payload = {
        "run": run_dir.name, "spec": spec.to_dict(), "protocol": summary.get("protocol"),
        "deviations": summary.get("deviations"), "data_fingerprint": summary.get("data_fingerprint"),
        "methods": methods, "results": cells, "failures": failures,
        # no time of writing: a rerun, or the same run under torchrun, writes the same file
        "input_failures": summary.get("input_failures"), "environment": static_environment(),
    }
    path = run_dir / "results.json"
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    if len(records):
        atomic_write_bytes(run_dir / "records.parquet", records.to_parquet(index=False))
    return path
