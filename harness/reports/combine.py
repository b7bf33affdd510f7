"""What ``report --combine`` may pool: runs of one dataset under one metric convention, each
image once.

Pooling is for more data, never for mixing conventions: three profiles' SSIMs averaged in one
column (0.9150, 0.9179, 0.9656 → 0.9328) are no SSIM at all, and a run of ``--limit 2`` pooled
with one of ``--limit 4`` over the same images counts each shared image twice. So runs of a
dataset that differ in metric profile, size or resize are kept in separate tables (the dataset
label says which convention), the same image scored by one method in one bucket by two pooled
runs is refused, and every pooled run's protocol is named.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.store.csvfiles import read_csv
from harness.errors import UsageError
from harness.store.records import find_runs, read_run


def _run_facts(root: Path, runs: set[str]) -> tuple[dict[str, str], dict[str, pd.Series]]:
    """Per run name: its convention (profile, size, resize) and its items' image hashes."""
    conventions, images = {}, {}
    for run_dir in find_runs(root):
        if run_dir.name not in runs:
            continue
        spec, _ = read_run(run_dir)
        conventions[run_dir.name] = f"profile {spec.profile} · {spec.size} px · resize {spec.resize}"
        manifest = read_csv(run_dir / "manifest.csv", ["item_id", "image_sha256"])
        images[run_dir.name] = manifest.set_index("item_id")["image_sha256"]
    return conventions, images


def pooled(records: pd.DataFrame, root: Path) -> pd.DataFrame:
    """``records`` ready for a combined report: a dataset whose runs differ in convention becomes
    one dataset label per convention; ``protocol`` names every pooled run's protocol. Raises
    UsageError when pooling would count an image twice for a method and bucket."""
    if records.empty:
        return records
    records = records.copy()
    conventions, images = _run_facts(root, set(records["run"]))
    convention = records["run"].map(conventions).fillna("")
    several = convention.groupby(records["dataset"]).transform("nunique") > 1
    records.loc[several, "dataset"] = records.loc[several, "dataset"] + " (" + convention[several] + ")"
    records["image_sha256"] = [images.get(run, pd.Series(dtype=str)).get(item) for run, item in
                               zip(records["run"], records["item_id"])]
    scored = records.dropna(subset=["image_sha256"]).drop_duplicates(["dataset", "method", "bucket", "image_sha256", "run"])
    twice = scored[scored.duplicated(["dataset", "method", "bucket", "image_sha256"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        runs = ", ".join(dict.fromkeys(twice.loc[(twice["image_sha256"] == first["image_sha256"])
                                                 & (twice["method"] == first["method"]), "run"]))
        raise UsageError(f"--combine would count image {first['image_id']} of {first['method']} (bucket {first['bucket']}) "
                         f"more than once: runs {runs} score it; {twice['image_sha256'].nunique()} image(s) are shared. "
                         "Combine runs of different data only (choose them with --run or --dataset)")
    protocols = records.groupby("dataset")[["run", "protocol"]].apply(
        lambda part: " | ".join(f"{run}: {protocol}" for run, protocol in dict(zip(part["run"], part["protocol"])).items()))
    records["protocol"] = records["dataset"].map(protocols)
    return records.drop(columns="image_sha256")
