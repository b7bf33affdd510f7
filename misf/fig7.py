"""The paper's Fig. 7: how close the corrupted image's features come to the ground truth's,
before and after semantic filtering (docs/misf.md §16, docs/metrics.md §7).

Exact choices (the paper gives no formula; unconfirmed):

* similarity: zero-lag, zero-mean normalised cross-correlation (Pearson's r) in float64,
  ``sum(a*b) / (sqrt(sum(a^2)) * sqrt(sum(b^2)) + 1e-8)`` of the centred tensors, per example;
* global: over all C*H*W elements of the level's features; hole: over all channels at the feature
  cells whose area-resized hole fraction is >= 0.5 (NaN when there is none);
* ground-truth pass: the complete image with an all-zero mask channel, ``cat(gt, 0)``;
* pre-filtering: F_l(corrupted) vs F_l(gt); post-filtering (primary, docs/misf.md §16's literal
  reading): F^_l(corrupted) vs F^_l(gt), each filtered with its own kernels; also
  F^_l(corrupted) vs F_l(gt) (the other reading, docs/misf.md §16) as ``*_post_vs_gt_pre``.

l is the predictor's filtered level (3 for MISF).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

EPS = 1e-8
HOLE_CELL_THRESHOLD = 0.5
PAIRS = {  # column -> (corrupted-pass feature, ground-truth-pass feature)
    "ncc_pre": ("pre", "pre"),
    "ncc_post": ("post", "post"),
    "ncc_post_vs_gt_pre": ("post", "pre"),
}


def ncc(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor | None = None, eps: float = EPS) -> torch.Tensor:
    """Zero-mean NCC per batch item of a, b [B,...]; ``region`` (bool, broadcastable to a) limits the elements.

    Returns float64 [B]; NaN for an item whose region is empty.
    """
    weight = torch.ones_like(a, dtype=torch.float64) if region is None else region.expand_as(a).double()
    a, b, weight = a.double().flatten(1), b.double().flatten(1), weight.flatten(1)
    count = weight.sum(1, keepdim=True)
    a = (a - (a * weight).sum(1, keepdim=True) / count) * weight
    b = (b - (b * weight).sum(1, keepdim=True) / count) * weight
    value = (a * b).sum(1) / (a.pow(2).sum(1).sqrt() * b.pow(2).sum(1).sqrt() + eps)
    return value.masked_fill(count.squeeze(1) == 0, float("nan"))


def hole_cells(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Feature cells that are mostly hole: area-resize the mask [B,1,H,W] and threshold at 0.5."""
    return F.interpolate(masks.float(), size=size, mode="area") >= HOLE_CELL_THRESHOLD


def fig7_batch(predictor: Any, images: torch.Tensor, masks: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-example NCCs for one batch: images [B,3,H,W] in [0,1] (ground truth), masks [B,1,H,W] 1 = hole."""
    level = predictor.feature_level
    if level is None:
        raise ValueError(f"{predictor.name} filters no features; Fig. 7 needs a feature-filtering variant")
    corrupted = predictor.features(images, masks)
    truth = predictor.features(images, torch.zeros_like(masks))
    names = {"pre": f"F{level}", "post": f"F{level}_hat"}
    region = hole_cells(masks.to(corrupted[names["pre"]].device), tuple(corrupted[names["pre"]].shape[-2:]))
    values = {"hole_ratio": masks.float().flatten(1).mean(1).cpu().numpy()}
    for column, (ours, theirs) in PAIRS.items():
        a, b = corrupted[names[ours]], truth[names[theirs]]
        values[column] = ncc(a, b).cpu().numpy()
        values[f"{column}_hole"] = ncc(a, b, region).cpu().numpy()
    return values


def fig7_values(
    predictor: Any,
    items: Iterable[tuple[str, str, torch.Tensor, torch.Tensor]],
    batch_size: int = 8,
) -> pd.DataFrame:
    """One row per ``(item_id, bucket, image [3,H,W], mask [1,H,W])``, batched by equal size.

    Columns: item_id, bucket, hole_ratio, ncc_pre, ncc_post, ncc_post_vs_gt_pre and their
    ``_hole`` versions. ``df.attrs`` records the method, level, whether weights are untrained,
    and the definition used.
    """
    rows: list[dict[str, Any]] = []
    for batch in _batches(items, batch_size):
        ids, buckets, images, masks = zip(*batch)
        values = fig7_batch(predictor, torch.stack(images), torch.stack(masks))
        for index, (item_id, bucket) in enumerate(zip(ids, buckets)):
            rows.append({"item_id": item_id, "bucket": bucket, **{k: float(v[index]) for k, v in values.items()}})
    columns = ["item_id", "bucket", "hole_ratio", *(f"{c}{s}" for s in ("", "_hole") for c in PAIRS)]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs.update(
        method=predictor.name,
        level=predictor.feature_level,
        untrained=bool(getattr(predictor, "untrained", False)),
        definition="zero-mean NCC, float64, eps 1e-8; global and hole cells (area >= 0.5); GT pass with empty mask",
    )
    return frame


def _batches(items: Iterable[tuple[str, str, torch.Tensor, torch.Tensor]], size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        if batch and (len(batch) == size or item[2].shape != batch[0][2].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def plot_fig7(
    df: pd.DataFrame,
    path: str | Path,
    title: str,
    pre: str = "ncc_pre",
    post: str = "ncc_post",
) -> Path:
    """Bar chart in the style of the paper's Fig. 7: pre-filtered vs filtered similarity per bucket.

    One panel for the global NCC and one for the hole cells; bars are means, whiskers one standard
    deviation; an "all" group pools every row unless a bucket is already called "all". The title
    says so when the weights were random.
    """
    from matplotlib.figure import Figure

    buckets = list(dict.fromkeys(df["bucket"]))
    groups = [(bucket, df[df["bucket"] == bucket]) for bucket in buckets]
    if "all" not in buckets:
        groups.append(("all", df))
    if df.attrs.get("untrained"):
        title = f"{title} (RANDOM WEIGHTS, untrained)"
    figure = Figure(figsize=(4 + 1.2 * len(groups), 3.9), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    x = np.arange(len(groups))
    for axis, suffix, label in zip(axes, ("", "_hole"), ("all feature cells", "hole cells")):
        for offset, column, name, colour in ((-0.2, pre, "Pre-filtered", "#9ab"), (0.2, post, "Filtered", "#d62")):
            values = [group[f"{column}{suffix}"] for _, group in groups]
            means, spreads = [v.mean() for v in values], [v.std() for v in values]
            axis.bar(x + offset, means, 0.4, yerr=spreads, label=name, color=colour, capsize=3)
        axis.set_xticks(x, [name for name, _ in groups])
        axis.set_xlabel("mask ratio")
        axis.set_title(label, fontsize=9)
    level = df.attrs.get("level")
    axes[0].set_ylabel(f"NCC with ground-truth {f'F{level} ' if level else ''}features")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    figure.suptitle(title, fontsize=10)
    path = Path(path)
    figure.savefig(path, dpi=150)
    return path



def write_fig7(df: pd.DataFrame, folder: str | Path, title: str, run: str | None = None) -> Path:
    """The values and their attrs (:func:`misf.fig7_files.write_values`) and ``fig7.png`` in ``folder``."""
    from misf.fig7_files import write_values

    folder = write_values(df, folder, title, run)
    plot_fig7(df, folder / "fig7.png", title)
    return folder
