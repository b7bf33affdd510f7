"""Writes the report folder: index.html, the image browser's pictures, Fig. 7 pictures."""
from __future__ import annotations

import shutil
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import pandas as pd

from harness.reports.html import images as pictures
from harness.reports.html.data import RunData, load_runs
from harness.reports.html.template import render_page
from harness.reports.html.viewmodel import fig7_view, paper_section, run_view
from harness.store.records import environment

PanelFactory = Callable[[RunData], pictures.PanelSource]


def _images(run: RunData, key: str, output: Path, methods: list[str], fmt: str, source: PanelFactory | None) -> dict:
    """Write one run's pictures; what the page needs to find them, or a note saying why there are none."""
    try:
        panels = source(run) if source else pictures.RunPanels(run)
    except (OSError, ValueError, KeyError) as error:  # the data folder is not reachable from here
        warnings.warn(f"{run.name}: no pictures ({error})", RuntimeWarning, stacklevel=2)
        return {"note": f"the run's images could not be read here ({error})"}
    folder = output / "img" / key
    if folder.exists():
        shutil.rmtree(folder)
    items = list(dict.fromkeys(run.records["item_id"]))
    missing, grey = pictures.write_item_images(panels, items, methods, folder, fmt)
    return {"dir": f"img/{key}", "ext": pictures.SUFFIX[fmt], "panels": ["Input", *methods, "GT"], "thumb": pictures.THUMB,
            "size": run.spec.size, "missing": missing, "grey": grey, "lossy": fmt == "jpeg"}


def write_report(root: Path, records: pd.DataFrame, sets: pd.DataFrame, output: Path, images: bool = True,
                 image_format: str = "jpeg", pair: tuple[str, str] | None = None, n_resamples: int = 2000,
                 panel_source: PanelFactory | None = None) -> Path:
    """The report of ``records`` (runs under ``root``) in ``output``; returns its index.html.

    ``panel_source`` makes a run's pictures (default: from its manifest and the cache)."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    runs, orphans = load_runs(Path(root), records, sets)
    figures = {}
    for result in [f for run in runs for f in run.fig7] + orphans:
        picture = result.folder / "fig7.png"
        if picture.is_file():
            target = output / "fig7" / f"{result.folder.name}.png"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(picture, target)
            figures[str(result.folder)] = f"fig7/{target.name}"
    views = []
    for index, run in enumerate(runs):
        key = f"r{index}"
        methods = list(dict.fromkeys(run.records["method"]))
        shown = _images(run, key, output, methods, image_format, panel_source) if images else None
        views.append(run_view(run, key, shown, figures, n_resamples, pair))
    env = environment()
    try:
        version = metadata.version("misf-harness")
    except metadata.PackageNotFoundError:
        version = "?"
    context = {
        "title": "Inpainting evaluation report", "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": version, "commit": (env.get("git_commit") or "")[:12], "root": str(root), "runs": views,
        "orphans": [fig7_view(f, figures.get(str(f.folder))) for f in orphans],
        "published": [] if any(v["paper"] for v in views) else paper_section(None, None),
    }
    data = {"runs": {view["key"]: view["data"] for view in views}}
    index = output / "index.html"
    index.write_text(render_page(context, data), encoding="utf-8")
    return index
