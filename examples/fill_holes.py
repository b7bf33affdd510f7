"""A stand-in for a model the harness cannot import: fill the holes of an export, write PNGs.

It imports nothing of the harness (only numpy, Pillow and scikit-image), as a model in another
code base would not. It reads ``index.csv`` of an export made by ``harness export`` and writes
one ``<name>.png`` per item to ``predictions/`` of that export (README: "Evaluate a model you
cannot import")::

    harness export --out inputs --limit 2
    python examples/fill_holes.py inputs                 # or: --fill biharmonic (slower)
    harness run --methods mean-fill=predictions:inputs/predictions --limit 2
"""
import argparse
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image


def fill(masked: np.ndarray, holes: np.ndarray, how: str) -> np.ndarray:
    """uint8 HxWx3 with the hole pixels filled from the known ones."""
    if how == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        filled = inpaint_biharmonic(masked.astype(np.float64) / 255, holes, channel_axis=-1)
        return np.round(np.clip(filled, 0, 1) * 255).astype(np.uint8)
    mean = masked[~holes].mean(axis=0)  # per channel, over the known pixels
    return np.where(holes[:, :, None], np.round(mean).astype(np.uint8), masked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="folder written by harness export")
    parser.add_argument("--fill", choices=["mean", "biharmonic"], default="mean")
    args = parser.parse_args()
    hole_value = 0 if json.loads((args.export / "harness-export.json").read_text())["layout"] == "mat" else 255
    out = args.export / "predictions"
    out.mkdir(exist_ok=True)
    with open(args.export / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        masked = np.asarray(Image.open(args.export / row["masked"]).convert("RGB"))
        holes = np.asarray(Image.open(args.export / row["mask"])) == hole_value
        Image.fromarray(fill(masked, holes, args.fill)).save(out / f"{row['name']}.png")
    print(f"wrote {len(rows)} predictions to {out}")


if __name__ == "__main__":
    main()
