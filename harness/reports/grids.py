"""Qualitative comparison grids in the style of the paper's Fig. 5, from cached outputs.

Rows are examples, each headed by its item id, bucket and hole ratio; columns are the masked
input, each method's composite (optionally with its scores, e.g. PSNR and LPIPS, beneath) and
the ground truth. An optional zoom box is drawn on every panel and its crop shown enlarged
beneath. Text is sized to the panels so that it stays readable at 64 px and at 256 px.
Nothing is predicted here: a method's outputs come from the cache via its run records.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from harness.store.cache import Cache
from harness.errors import UsageError
from harness.data.manifest import build_manifest
from harness.data.spec import RunSpec

GAP = 4
PAD = 4  # around text
ROW_GAP = 12  # between one row's scores and the next row's caption


def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` px (the tiny bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _fitting_font(texts: list[str], width: int, size: int, smallest: int = 9) -> ImageFont.ImageFont:
    """The largest font from ``size`` down to ``smallest`` px in which every line of ``texts`` fits ``width``."""
    lines = [line for text in texts for line in text.split("\n")]
    for candidate in range(size, smallest - 1, -1):
        font = _font(candidate)
        if all(font.getlength(line) <= width for line in lines):
            return font
    return _font(smallest)


def _line_height(font: ImageFont.ImageFont) -> int:
    return font.getbbox("Ag|")[3] + 2 * PAD


def check_zoom(zoom: tuple[int, int, int] | None, width: int, height: int) -> None:
    """A zoom square must lie inside the panel (pixels at the run's size)."""
    if zoom is None:
        return
    x, y, side = zoom
    if side < 2 or x < 0 or y < 0 or x + side > width or y + side > height:
        raise UsageError(f"--zoom {x},{y},{side}: the square must lie inside the {width}x{height} images "
                         f"(x + side <= {width}, y + side <= {height}, side >= 2)")


def composite_u8(image: np.ndarray, mask: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """What a figure shows of a prediction: the composite on the image, rounded to uint8."""
    pred = np.transpose(prediction, (1, 2, 0))
    merged = pred * mask[:, :, None] + image.astype(np.float32) / 255 * (1 - mask[:, :, None])
    return np.round(np.clip(merged, 0, 1) * 255).astype(np.uint8)


def masked_input(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The corrupted input as figures show it: holes white."""
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
    scores: str | None = None,
) -> Image.Image:
    """A grid image for the first ``samples`` items (of ``bucket``) that every method scored;
    ``scores`` ("PSNR,LPIPS") are printed under each method's panel."""
    spec = RunSpec.from_dict(json.loads((Path(run_dir) / "spec.json").read_text()))
    check_zoom(zoom, spec.size, spec.size)
    manifest = build_manifest(spec)
    mine = records[(records["run"] == Path(run_dir).name) & records["method"].isin(methods) & (records["status"] == "ok")]
    if bucket:
        mine = mine[mine["bucket"] == bucket]
    shown = [name.strip() for name in (scores or "").split(",") if name.strip()]
    absent = [name for name in shown if name not in mine.columns or mine[name].isna().all()]
    if absent:
        known = [c for c in mine.columns if mine[c].dtype.kind == "f" and c not in ("hole_ratio", "out_of_range")]
        raise UsageError(f"--scores: no {', '.join(absent)} in these records (scored: {', '.join(known)})")
    keys = mine.pivot_table(index="item_id", columns="method", values="cache_key", aggfunc="first").dropna()
    by_id = {item.item_id: item for item in manifest.items}
    chosen = [item_id for item_id in (i.item_id for i in manifest.items) if item_id in keys.index][:samples]
    if not chosen:
        raise UsageError("no item was scored by every requested method in that run/bucket")
    values = mine.set_index(["item_id", "method"])
    cache = Cache()
    rows, captions, notes = [], [], []
    for item_id in chosen:
        image, mask = manifest.load(by_id[item_id])
        panels, below = [masked_input(image, mask)], [""]
        for method in methods:
            prediction, damage = cache.read_output(keys.loc[item_id, method], (3, *image.shape[:2]), mask > 0.5)
            if prediction is None:
                state = f"damaged ({damage})" if damage else "not"
                raise FileNotFoundError(f"{method}: the output for {item_id} is {state} in the cache {cache.root}; "
                                        "rerun the method to recompute it")
            panels.append(composite_u8(image, mask, prediction))
            below.append("\n".join(f"{name} {values.loc[(item_id, method), name]:.{_digits(name)}f}"
                                   + (" dB" if name.startswith("PSNR") else "") for name in shown))
        rows.append([_panel(p, zoom) for p in [*panels, image]])
        item = by_id[item_id]
        captions.append(f"{item.bucket} · holes {100 * item.hole_ratio:.1f}% · {item_id}")  # a long id is cut last
        notes.append([*below, ""])
    return _assemble(rows, ["Input", *methods, "GT"], captions, notes, len(shown))


def _digits(metric: str) -> int:
    """Decimals shown: 2 for dB, 3 for the rest (SSIM, LPIPS, L1)."""
    return 2 if metric.startswith("PSNR") else 3


def _fit(text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _assemble(rows: list[list[Image.Image]], labels: list[str], captions: list[str], notes: list[list[str]],
              note_lines: int) -> Image.Image:
    width, height = rows[0][0].size
    size = max(12, min(20, width // 12))
    font = _font(size)
    header = _fitting_font(labels, width - PAD, size)  # narrow panels: a smaller font rather than a cut name
    small = _fitting_font([note for row in notes for note in row], width - PAD, size)
    line = _line_height(font)
    below = note_lines * (_line_height(small) - 2 * PAD) + 2 * PAD if note_lines else 0
    row_height = line + height + below + ROW_GAP
    grid_width = len(labels) * (width + GAP) - GAP
    grid = Image.new("RGB", (grid_width, line + len(rows) * row_height), "white")
    draw = ImageDraw.Draw(grid)
    for col, label in enumerate(labels):  # centred over its column
        label = _fit(label, header, width - PAD)
        draw.text((col * (width + GAP) + (width - header.getlength(label)) / 2, PAD), label, fill=(0, 0, 0), font=header)
    for r, row in enumerate(rows):
        top = line + r * row_height
        draw.text((PAD, top + PAD), _fit(captions[r], font, grid_width - 2 * PAD), fill=(90, 90, 90), font=font)
        for col, panel in enumerate(row):
            grid.paste(panel, (col * (width + GAP), top + line))
            if notes[r][col]:
                draw.multiline_text((col * (width + GAP) + PAD, top + line + height + PAD), notes[r][col],
                                    fill=(0, 0, 0), font=small, spacing=0)
    return grid
