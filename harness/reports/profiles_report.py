"""The same items under several metric profiles, side by side: how much conventions move numbers.

Runs that differ only in their profile (same protocol otherwise, same data) score identical
items; ``harness run --profile paper,lama,edgeconnect`` makes them from one set of predictions.
This table shows each (method, bucket) mean under every profile and, for each metric column
that several profiles share, the difference from the first profile: mean and largest
per-image difference.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from harness.metrics.registry import metric_columns
from harness.reports.table import Table, frame_table


def profile_comparison(records: pd.DataFrame, profiles: Sequence[str]) -> pd.DataFrame:
    """Rows (dataset, method, bucket, metric) with a column per profile, plus ``Δ <p> mean`` and
    ``Δ <p> max`` per other profile (per-image differences against the first profile)."""
    ok = records[(records["status"] == "ok") & records["profile"].isin(profiles)]
    groups = ok.groupby("items_key")["profile"].nunique()
    shared = groups[groups >= 2].index
    if shared.empty:
        raise ValueError(f"no runs scored the same items under several of the profiles {', '.join(profiles)}; "
                         f"make them with harness run --profile {','.join(profiles)}")
    ok = ok[ok["items_key"].isin(shared)]
    metrics = metric_columns(ok.columns)
    long = ok.melt(id_vars=["items_key", "dataset", "method", "bucket", "item_id", "profile"], value_vars=metrics,
                   var_name="metric", value_name="value").dropna(subset=["value"])
    wide = long.pivot_table(index=["items_key", "dataset", "method", "bucket", "metric", "item_id"], columns="profile",
                            values="value", aggfunc="first")
    present = [p for p in profiles if p in wide.columns]
    keys = ["dataset", "method", "bucket", "metric"]
    table = wide.groupby(level=["items_key", *keys], sort=False)[present].mean()
    first = present[0]
    for other in present[1:]:
        diff = (wide[other] - wide[first]).dropna()
        grouped = diff.groupby(level=["items_key", *keys], sort=False)
        table[f"Δ {other} mean"] = grouped.mean()
        table[f"Δ {other} max"] = grouped.apply(lambda d: d.loc[d.abs().idxmax()] if len(d) else float("nan"))
    return table.reset_index().drop(columns="items_key")


def profiles_table(records: pd.DataFrame, profiles: Sequence[str]) -> Table:
    """:func:`profile_comparison` as a table."""
    table = profile_comparison(records, profiles)
    numbers = [c for c in table.columns if c not in ("dataset", "method", "bucket", "metric")]
    title = (f"The same items under the profiles {', '.join(profiles)}: means, and the difference from "
             f"{profiles[0]} (mean and largest per image; empty where a profile has no such column)")
    return frame_table(table, numbers, "metric", title)
