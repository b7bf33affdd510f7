"""Regression check: a run's aggregates against committed expectations with tolerances.

An expectations file (JSON) holds the RunSpec, the methods, per-metric absolute tolerances
and the expected aggregates (mean per method × bucket). ``harness check`` evaluates the spec
(everything cached is reused), compares cell by cell and prints a readable diff.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.atomic import atomic_write_text
from harness.metrics import METRICS
from harness.report import aggregate
from harness.spec import RunSpec

DEFAULT_TOLERANCES = {"PSNR": 0.01, "SSIM": 1e-4, "L1": 0.005, "LPIPS": 1e-3}


@dataclass(frozen=True)
class Expectations:
    spec: RunSpec
    methods: tuple[str, ...]
    tolerances: dict[str, float]
    aggregates: pd.DataFrame

    @classmethod
    def read(cls, path: Path | str) -> "Expectations":
        data = json.loads(Path(path).read_text())
        return cls(
            RunSpec.from_dict(data["spec"]),
            tuple(data["methods"]),
            {**DEFAULT_TOLERANCES, **data.get("tolerances", {})},
            pd.DataFrame(data["aggregates"]),
        )

    def write(self, path: Path | str) -> None:
        rows = json.loads(self.aggregates.to_json(orient="records"))
        payload = {
            "spec": self.spec.to_dict(),
            "methods": list(self.methods),
            "tolerances": self.tolerances,
            "aggregates": rows,
        }
        atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def expectations_from_records(spec: RunSpec, methods: list[str], records: pd.DataFrame) -> Expectations:
    table = aggregate(records[records["method"].isin(methods)]).drop(columns="dataset")
    return Expectations(spec, tuple(methods), dict(DEFAULT_TOLERANCES), table)


def compare(expected: Expectations, records: pd.DataFrame) -> pd.DataFrame:
    """One row per expected cell: expected, actual, difference, tolerance, ok."""
    actual = aggregate(records).set_index(["method", "bucket"])
    rows = []
    for _, cell in expected.aggregates.iterrows():
        key = (cell["method"], str(cell["bucket"]))
        for metric in ["n", *METRICS]:
            want = cell.get(metric)
            if want is None or pd.isna(want):
                continue
            got = actual.loc[key, metric] if key in actual.index else float("nan")
            tolerance = 0 if metric == "n" else expected.tolerances[metric]
            ok = not pd.isna(got) and abs(float(got) - float(want)) <= tolerance
            rows.append({"method": key[0], "bucket": key[1], "metric": metric, "expected": float(want),
                         "actual": float(got), "diff": float(got) - float(want), "tolerance": tolerance, "ok": ok})
    return pd.DataFrame(rows)
