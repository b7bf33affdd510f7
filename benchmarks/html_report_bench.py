"""Size and load time of the HTML report for many synthetic items (default 10,000, four methods).

Builds a synthetic run folder (records of four methods whose metrics fall with the hole ratio),
writes the report with synthetic pictures (scikit-image photos with free-form holes, "outputs"
blurred in the holes; real JPEG sizes), then opens it in the system Chromium from file:// and
measures the time to a usable page (script done, first page of the image browser laid out) and
to the load event, against the same report of 100 items as the reference.

Usage: python benchmarks/html_report_bench.py [--items 10000] [--size 256] [--out DIR] [--chromium PATH]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from harness.store.csvfiles import csv_text
from harness.reports.html import write_report
from harness.store.records import load_records, record_columns
from harness.data.spec import RunSpec
from masks.buckets import parse_buckets
from masks.generator import free_form_mask

METHODS = ("telea", "navier-stokes", "biharmonic", "misf")
METRICS = ("PSNR", "SSIM", "L1", "LPIPS")
POOL = 24  # distinct synthetic pictures, cycled (encoding, not drawing, is what costs)


def synthetic_run(root: Path, items: int, size: int) -> Path:
    """A run folder as harness.store.records writes it, with ``items`` items over the paper's buckets."""
    rng = np.random.default_rng(0)
    spec = RunSpec(dataset="sample", masks="generated", buckets="0-20,20-40,40-60", limit=items // 3, size=size)
    run_dir = root / spec.run_name("synthetic")
    buckets = [b.label for b in parse_buckets(spec.buckets)]
    bucket = [buckets[i % 3] for i in range(items)]
    ratio = np.array([rng.uniform(0.2 * (i % 3), 0.2 * (i % 3 + 1)) for i in range(items)])
    ids = [f"img{i // 3:05d}.png|gen-{bucket[i]}-{i:05d}" for i in range(items)]
    (run_dir / "methods").mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(spec.to_dict()))
    (run_dir / "run.json").write_text(json.dumps({"run": run_dir.name, "protocol": spec.describe(), "deviations": spec.deviations(),
                                                  "bucket_sizes": {b: bucket.count(b) for b in buckets}, "items": items}))
    for skill, method in enumerate(METHODS):
        quality = 1.0 - 0.15 * skill
        psnr = 34 - 25 * ratio + 2 * quality + rng.normal(0, 2, items)
        rows = [{"item_id": ids[i], "bucket": bucket[i], "image_id": ids[i].split("|")[0], "mask_id": ids[i].split("|")[1],
                 "hole_ratio": f"{ratio[i]:.6f}", "status": "ok", "PSNR": float(psnr[i]), "SSIM": float(min(1.0, 0.99 - ratio[i] + rng.normal(0, 0.03))),
                 "L1": float(max(0.0, 10 * ratio[i] - quality + rng.normal(0, 0.5))),
                 "LPIPS": float(max(0.0, 0.4 * ratio[i] + rng.normal(0, 0.03))),
                 "cache_key": f"{method}-{i}"} for i in range(items)]
        folder = run_dir / "methods" / method
        folder.mkdir()
        (folder / "records.csv").write_text(csv_text(rows, record_columns(METRICS)))
        (folder / "method.json").write_text(json.dumps({"label": method, "method": method, "untrained": method == "misf",
                                                        "complete": True, "profile": {"name": "paper", "version": "synthetic"}}))
    return run_dir


class SyntheticPanels:
    """Photos with free-form holes; each method's "output" is the photo blurred by its own radius in the holes."""

    def __init__(self, size: int):
        from skimage import data

        photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
        buckets = parse_buckets("0-20,20-40,40-60")
        self.pool = []
        for k in range(POOL):
            photo = Image.fromarray(photos[k % len(photos)]).resize((size, size))
            mask = free_form_mask(size, buckets[k % 3], 0, k) > 0.5
            truth = np.asarray(photo)
            shown = truth.copy()
            shown[mask] = 255
            outputs = []
            for radius in (2, 4, 6, 12):
                blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(radius)))
                outputs.append(np.where(mask[..., None], blurred, truth))
            self.pool.append([shown, *outputs, truth])

    def panels(self, item_id: str, methods) -> list[np.ndarray]:
        return self.pool[int(item_id.rsplit("-", 1)[1]) % POOL]


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def load_times(index: Path, chromium: str, repeats: int = 3) -> dict[str, float]:
    """Median seconds from navigation to a usable page and to the load event, in a fresh page each time,
    and to re-sort the image browser by a gap (with Playwright's round trip)."""
    from playwright.sync_api import sync_playwright

    ready, loaded, sorted_ = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort())
            page.goto(index.as_uri(), wait_until="load")
            page.wait_for_selector("html[data-ready=true]")
            page.wait_for_selector("article.item")
            timing = page.evaluate("() => [performance.getEntriesByName('report-ready')[0].startTime, "
                                   "performance.getEntriesByType('navigation')[0].loadEventEnd]")
            ready.append(timing[0] / 1000)
            loaded.append(timing[1] / 1000)
            start = time.perf_counter()
            page.select_option(".browser-controls .sort-key", "gap")
            page.wait_for_selector("article.item")
            sorted_.append(time.perf_counter() - start)
            page.close()
        browser.close()
    return {"ready_s": statistics.median(ready), "load_event_s": statistics.median(loaded), "sort_by_gap_s": statistics.median(sorted_)}


def build(root: Path, items: int, size: int) -> dict[str, float]:
    runs = root / "runs"
    synthetic_run(runs, items, size)
    start = time.perf_counter()
    records = load_records(runs)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    index = write_report(runs, records, pd.DataFrame(columns=["run"]), root / "report",
                         panel_source=lambda run: SyntheticPanels(size))
    written = time.perf_counter() - start
    total, files = folder_size(root / "report")
    return {"index": index, "load_records_s": loaded, "write_report_s": written, "index_html_MB": index.stat().st_size / 1e6,
            "folder_MB": total / 1e6, "files": files}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--reference-items", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", help="keep the reports here (default: a temporary folder)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    rows = {}
    for name, items in (("reference", args.reference_items), ("large", args.items)):
        built = build(root / name, items, args.size)
        times = load_times(built.pop("index"), args.chromium)
        rows[f"{name} ({items} items)"] = {**built, **times}
        print(name, json.dumps(rows[f"{name} ({items} items)"]), flush=True)
    table = pd.DataFrame(rows).T
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    large, reference = table.iloc[1], table.iloc[0]
    print(f"ready time ratio large/reference: {large['ready_s'] / reference['ready_s']:.2f}")
    if not args.out:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
