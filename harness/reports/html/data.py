"""What the HTML report reads: per run its spec, run.json, each label's method.json, its records
and set-level results, and the Fig. 7 results written beside the runs. Nothing is recomputed."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.store.records import find_runs, method_folder, read_run
from harness.data.spec import RunSpec


@dataclass
class Fig7Result:
    folder: Path
    values: pd.DataFrame  # misf.fig7.read_fig7: attrs hold method, level, untrained, run


@dataclass
class RunData:
    path: Path
    spec: RunSpec
    summary: dict[str, Any]
    records: pd.DataFrame  # this run's records (harness.store.records.load_records)
    sets: pd.DataFrame  # this run's set-level results
    methods: dict[str, dict[str, Any]]  # label → method.json
    fig7: list[Fig7Result] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def _method_info(run_dir: Path, label: str) -> dict[str, Any]:
    try:
        return json.loads((method_folder(run_dir, label) / "method.json").read_text())
    except (OSError, ValueError):
        return {"label": label}


def fig7_results(root: Path) -> list[Fig7Result]:
    """Every ``fig7/<folder>/fig7_values.csv`` beside the runs (``harness fig7``'s default place), read by
    the registry's HTML section ``fig7`` (none without the plug-in that writes them)."""
    from harness.registry import HTML_SECTIONS

    if "fig7" not in HTML_SECTIONS:
        return []
    read_fig7 = HTML_SECTIONS.get("fig7")
    root = Path(root)
    bases = [root, root.parent] if (root / "spec.json").is_file() else [root]
    folders = sorted({p.parent for base in bases for p in (base / "fig7").glob("*/fig7_values.csv")})
    return [Fig7Result(folder, read_fig7(folder)) for folder in folders]


def load_runs(root: Path, records: pd.DataFrame, sets: pd.DataFrame) -> tuple[list[RunData], list[Fig7Result]]:
    """The runs under ``root`` that hold some of ``records`` (already selected by the caller), and
    the Fig. 7 results that belong to none of them."""
    wanted = set(records["run"]) if len(records) else set()
    figures = fig7_results(root)
    runs = []
    for run_dir in find_runs(Path(root)):
        if run_dir.name not in wanted:
            continue
        spec, summary = read_run(run_dir)
        mine = records[records["run"] == run_dir.name].reset_index(drop=True)
        labels = list(dict.fromkeys(mine["method"]))
        own = [f for f in figures if f.values.attrs.get("run") == run_dir.name]
        runs.append(RunData(run_dir, spec, summary, mine, sets[sets["run"] == run_dir.name] if len(sets) else sets,
                            {label: _method_info(run_dir, label) for label in labels}, own))
    claimed = {id(f) for run in runs for f in run.fig7}
    return runs, [f for f in figures if id(f) not in claimed]
