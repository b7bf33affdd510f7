"""A small real run (two classical methods on the embedded default, 64 px) and its HTML report,
built once per test module (the cache lives in the run's folder)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

METHODS = ["biharmonic", "telea"]  # the order of the report (method folders sorted)


def build_sample_report(folder: Path, image_format: str = "png") -> tuple[Path, Path]:
    """(runs folder, report folder): run, then ``harness report --format html``."""
    from harness.cli import main

    runs, report = folder / "runs", folder / "report"
    previous = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(folder / "cache")
    try:
        args = ["--methods", ",".join(METHODS), "--limit", "2", "--size", "64", "--out", str(runs), "--no-progress", "--no-lpips"]
        assert main(["run", *args]) == 0
        assert main(["report", "--runs", str(runs), "--format", "html", "--output", str(report),
                     "--image-format", image_format]) == 0
    finally:
        if previous is None:
            os.environ.pop("HARNESS_CACHE", None)
        else:
            os.environ["HARNESS_CACHE"] = previous
    return runs, report


def embedded_data(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))
