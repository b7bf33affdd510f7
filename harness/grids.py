"""Qualitative comparison grids in the style of the paper's Fig. 5, from cached outputs.

Rows are examples; columns are the masked input, each method's composite and the ground
truth. An optional zoom box is drawn on every panel and its crop shown enlarged beneath.
Nothing is predicted here: a method's outputs come from the cache via its run records.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from harness.cache import Cache
from harness.manifest import build_manifest
from harness.spec import RunSpec

LABEL_HEIGHT = 18
GAP = 4


def _composite_u8(image: np.ndarray, mask: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    pred = np.transpose(prediction, (1, 2, 0))
    merged = pred * mask[:, :, None] + image.astype(np.float32) / 255 * (1 - mask[:, :, None])
    return np.round(np.clip(merged, 0, 1) * 255).astype(np.uint8)


def _masked_input(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    shown = image.copy()
    shown[mask > 0.5] = 255  # holes shown white, as in the paper's figures
    return shown


def _panel(array: np.ndarray, zoom: tuple[int, int, int] | None) -> Image.Image:
    """The image, plus (with zoom = x, y, side) a red box and the enlarged crop below it."""
    image = Image.fromarray(array)
    if zoom is None:
        return image
    x, y, side = zoom
    crop = image.crop((x, y, x + side, y + side)).resize((image.width, image.width), Image.NEAREST)
    ImageDraw.Draw(image).rectangle((x, y, x + side - 1, y + side - 1), outline=(255, 0, 0), width=2)
    out = Image.new("RGB", (image.width, image.height + GAP + crop.height), "white")
    out.paste(image, (0, 0))
    out.paste(crop, (0, image.height + GAP))
    return out


def comparison_grid(
    run_dir: Path,
    methods: list[str],
    records: pd.DataFrame,
    bucket: str | None = None,
    samples: int = 4,
    zoom: tuple[int, int, int] | None = None,
) -> Image.Image:
    """A grid image for the first ``samples`` items (of ``bucket``) that every method scored."""
    spec = RunSpec.from_dict(json.loads((Path(run_dir) / "spec.json").read_text()))
    manifest = build_manifest(spec)
    mine = records[(records["run"] == Path(run_dir).name) & records["method"].isin(methods) & (records["status"] == "ok")]
    if bucket:
        mine = mine[mine["bucket"] == bucket]
    keys = mine.pivot_table(index="item_id", columns="method", values="cache_key", aggfunc="first").dropna()
    by_id = {item.item_id: item for item in manifest.items}
    chosen = [item_id for item_id in (i.item_id for i in manifest.items) if item_id in keys.index][:samples]
    if not chosen:
        raise ValueError("no item was scored by every requested method in that run/bucket")
    cache = Cache()
    rows = []
    for item_id in chosen:
        image, mask = manifest.load(by_id[item_id])
        panels = [_masked_input(image, mask)]
        for method in methods:
            prediction, damage = cache.read_output(keys.loc[item_id, method], (3, *image.shape[:2]), mask > 0.5)
            if prediction is None:
                state = f"damaged ({damage})" if damage else "not"
                raise FileNotFoundError(f"{method}: the output for {item_id} is {state} in the cache {cache.root}; "
                                        "rerun the method to recompute it")
            panels.append(_composite_u8(image, mask, prediction))
        rows.append([_panel(p, zoom) for p in [*panels, image]])
    return _assemble(rows, ["Input", *methods, "GT"])


def _assemble(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    width, height = rows[0][0].size
    grid = Image.new("RGB", (len(labels) * (width + GAP) - GAP, LABEL_HEIGHT + len(rows) * (height + GAP)), "white")
    draw = ImageDraw.Draw(grid)
    for col, label in enumerate(labels):
        draw.text((col * (width + GAP) + 4, 3), label, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for col, panel in enumerate(row):
            grid.paste(panel, (col * (width + GAP), LABEL_HEIGHT + r * (height + GAP)))
    return grid
