"""Regression check: a run's aggregates against committed expectations with tolerances.

An expectations file (JSON) holds the RunSpec, the methods, the set-level metrics it runs
(optional: FID, KID, ...; computed without bootstrap), the fingerprint of the data the
expectations were made on, per-metric absolute tolerances and the expected aggregates (n,
failures, the mean of each metric and the set-level values per method × bucket). ``harness check`` evaluates the
spec (cached outputs are reused, metrics are always recomputed so that a change of the metric
code is caught on a warm cache), compares cell by cell and prints a readable diff.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.store.atomic import atomic_write_text
from harness.errors import UsageError
from harness.metrics.registry import column, metric_columns
from harness.store.records import find_runs, read_run
from harness.reports.report import aggregate
from harness.data.spec import RunSpec, spec_problem
from harness.reports.table import Table, frame_table

COUNTS = ("n", "failures")


@dataclass(frozen=True)
class Expectations:
    spec: RunSpec
    methods: tuple[str, ...]
    tolerances: dict[str, float]
    aggregates: pd.DataFrame
    data_fingerprint: str | None = None
    set_metrics: tuple[str, ...] = ()  # names as `harness run --set-metrics` takes them

    @classmethod
    def read(cls, path: Path | str) -> "Expectations":
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise UsageError(f"{path} is not JSON ({error})") from None
        _validate(data, path)
        return cls(
            RunSpec.from_dict(data["spec"]),
            tuple(data["methods"]),
            dict(data.get("tolerances", {})),
            pd.DataFrame(data["aggregates"]),
            data.get("data_fingerprint"),
            tuple(data.get("set_metrics") or ()),
        )

    def write(self, path: Path | str) -> None:
        rows = json.loads(self.aggregates.to_json(orient="records"))
        payload = {
            "spec": self.spec.to_dict(),
            "methods": list(self.methods),
            **({"set_metrics": list(self.set_metrics)} if self.set_metrics else {}),
            "data_fingerprint": self.data_fingerprint,
            "tolerances": self.tolerances,
            "aggregates": rows,
        }
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def _validate(data: Any, path: Path | str) -> None:
    """The file's shape, checked so that a hand-edited file fails with a message, not deep in pandas."""
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expectations are a JSON object with spec, methods, tolerances, aggregates; "
                         f"got a {type(data).__name__} (write one with harness check --write)")
    missing = [key for key in ("spec", "methods", "aggregates") if key not in data]
    if missing:
        raise UsageError(f"{path}: no {', '.join(missing)} (expectations hold spec, methods, tolerances, aggregates)")
    if not isinstance(data["spec"], dict) or not isinstance(data["methods"], list) or not isinstance(data["aggregates"], list):
        raise UsageError(f"{path}: spec must be an object, methods and aggregates lists")
    if not isinstance(data.get("set_metrics") or [], list):
        raise UsageError(f"{path}: set_metrics must be a list of names (FID, KID, P-IDS, U-IDS)")
    if not isinstance(data.get("tolerances") or {}, dict):
        raise UsageError(f"{path}: tolerances must be an object {{metric: number}}")
    bad = {k: v for k, v in (data.get("tolerances") or {}).items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0}
    if bad:
        raise UsageError(f"{path}: tolerances must be non-negative numbers, got {bad}")
    problem = spec_problem(data["spec"]) or _aggregates_problem(data["aggregates"], data.get("tolerances") or {})
    if problem:
        raise UsageError(f"{path}: {problem} (write one with harness check --write)")


def _aggregates_problem(aggregates: list, tolerances: dict) -> str | None:
    """Why expected aggregates cannot be read: a cell that is no object with a method and a bucket,
    names that are no known metric, or values that are no numbers. (None at all is readable, for
    ``--write``; comparing them checks nothing and fails, see :func:`verdict`.)"""
    known = {"method", "bucket", *COUNTS}
    for cell in aggregates:
        if not isinstance(cell, dict) or not isinstance(cell.get("method"), str) or "bucket" not in cell:
            return f"aggregate {cell!r} is not an object with method and bucket"
        for name, value in cell.items():
            if name not in known and not metric_columns([name]):
                return f"aggregate of {cell['method']} names {name!r}, which is no metric"
            if name not in ("method", "bucket") and value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float))):
                return f"aggregate of {cell['method']}: {name} is {value!r}, not a number or null"
    unknown = [name for name in tolerances if not metric_columns([name])]
    return f"tolerances name {', '.join(unknown)}, which are no metrics" if unknown else None


def _one_run(records: pd.DataFrame) -> pd.DataFrame:
    runs = records["run"].unique() if "run" in records else []
    if len(runs) > 1:
        raise ValueError(f"expectations describe one run; these records hold {len(runs)}: {', '.join(runs)}")
    return records


def expectations_from_records(
    spec: RunSpec, methods: list[str], records: pd.DataFrame, data_fingerprint: str | None = None,
    set_frame: pd.DataFrame | None = None, set_metrics: tuple[str, ...] = (),
) -> Expectations:
    """Expectations from a run's records and its set-level results (``set_frame``, from
    :func:`harness.records.load_set_metrics`, made with ``set_metrics``)."""
    table = aggregate(_one_run(records[records["method"].isin(methods)]), set_metrics=set_frame)
    metrics = metric_columns(table.columns)
    table = table[["method", "bucket", *COUNTS, *metrics]].astype({m: float for m in metrics})  # set values join as objects
    tolerances = {m: column(m).tolerance for m in metrics}
    return Expectations(spec, tuple(methods), tolerances, table, data_fingerprint, tuple(set_metrics))


def compare(expected: Expectations, records: pd.DataFrame, set_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per expected cell and quantity: expected, actual, difference, tolerance, ok.

    n and failures must match exactly; a cell missing from the records fails, and so does an
    expected set-level value absent from ``set_frame``.
    """
    actual = aggregate(_one_run(records), set_metrics=set_frame).set_index(["method", "bucket"])
    rows = []
    for _, cell in expected.aggregates.iterrows():
        key = (cell["method"], str(cell["bucket"]))
        for metric in [*COUNTS, *metric_columns(expected.aggregates.columns)]:
            want = cell.get(metric)
            if want is None or pd.isna(want):
                continue
            got = actual.loc[key, metric] if key in actual.index and metric in actual else float("nan")
            tolerance = 0 if metric in COUNTS else expected.tolerances.get(metric, column(metric).tolerance)
            ok = not pd.isna(got) and abs(float(got) - float(want)) <= tolerance
            rows.append({"method": key[0], "bucket": key[1], "metric": metric, "expected": float(want),
                         "actual": float(got), "diff": float(got) - float(want), "tolerance": tolerance, "ok": ok})
    return pd.DataFrame(rows)


def verdict(expected: Expectations, diff: pd.DataFrame, data_fingerprint: str | None) -> tuple[list[str], bool]:
    """Lines saying what was checked, and whether the check passes: every expected metric is
    reported as checked (in how many cells) or not (why); a check that compared no metric
    value fails (a file whose metrics are all null compared only counts), and so does a run
    on other data than the expectations were made on."""
    lines, ok = [], bool(len(diff)) and bool(diff["ok"].all())
    values = diff[~diff["metric"].isin(COUNTS)] if len(diff) else diff
    for metric in metric_columns(expected.aggregates.columns):
        checked = int((values["metric"] == metric).sum()) if len(values) else 0
        lines.append(f"{metric}: checked in {checked} cell(s)" if checked else
                     f"{metric}: not checked (no expected value: null in every cell)")
    if values.empty:
        lines.append("error: no metric value was compared (only counts): this check checks nothing; "
                     "write the expectations where every metric has values (harness check --write)")
        ok = False
    if expected.data_fingerprint and data_fingerprint and expected.data_fingerprint != data_fingerprint:
        lines.append(f"error: the data differ from the data the expectations were made on (fingerprint "
                     f"{data_fingerprint[:12]}, expected {expected.data_fingerprint[:12]})")
        ok = False
    return lines, ok


def comparison_table(diff: pd.DataFrame, title: str = "") -> Table:
    """:func:`compare`'s rows (or some of them, e.g. the regressions) as a table; numbers at full
    precision, since a regression can hide below the printed digits."""
    return frame_table(diff, title=title)


def find_run(root: Path, expected: Expectations) -> Path:
    """The one run under ``root`` made with the expectations' protocol (and data, when recorded)."""
    wanted = {k: v for k, v in expected.spec.protocol().items() if v is not None}
    matches = []
    for run_dir in find_runs(root):
        spec, summary = read_run(run_dir)
        protocol = spec.protocol()
        same_protocol = all(protocol.get(k) == v for k, v in wanted.items())
        same_data = expected.data_fingerprint in (None, summary.get("data_fingerprint"))
        if same_protocol and same_data:
            matches.append(run_dir)
    if len(matches) != 1:
        found = "no run" if not matches else f"{len(matches)} runs ({', '.join(m.name for m in matches)})"
        raise FileNotFoundError(f"{found} under {root} match the expectations' protocol{' and data' if expected.data_fingerprint else ''}")
    return matches[0]
