"""One deterministic fill computed two ways, for the round trip of tests/test_predictions.py:
in process as a plug-in predictor (:func:`quantised_fill`), and as a foreign program that reads
an export and writes PNGs under the layout's official output names (``python -m
tests.predictions_tools EXPORT OUT``; numpy and Pillow only, no harness import)."""
import csv
import json
import sys
from pathlib import Path

import numpy as np


def fill_u8(masked: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """uint8 HxWx3: each hole pixel gets the integer mean of its channel's known pixels plus a
    pattern of its coordinates, so that every output is an exact 8-bit value and not flat."""
    known = ~holes
    mean = masked[known].astype(np.int64).sum(axis=0) // max(1, int(known.sum()))
    rows, cols = np.indices(holes.shape)
    pattern = ((rows * 7 + cols * 3) % 32)[:, :, None]
    values = np.clip(mean[None, None, :] + pattern - 16, 0, 255).astype(np.uint8)
    return np.where(holes[:, :, None], values, masked).astype(np.uint8)


def quantised_fill(checkpoint=None, device=None):
    """The plug-in: the same fill on the harness's inputs (holes zeroed, 1 = hole)."""
    import torch

    from harness.predictor import Predictor

    class QuantisedFill(Predictor):
        name = "quantised-fill"

        def predict(self, images, masks, **kwargs):
            out = []
            for image, mask in zip(images, masks):
                u8 = np.round(image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
                filled = fill_u8(u8, mask[0].numpy() > 0.5)
                out.append(torch.from_numpy(filled).permute(2, 0, 1).float() / 255)
            return torch.stack(out)

    return QuantisedFill()


def write_predictions(export: Path, out: Path) -> int:
    from PIL import Image

    identity = json.loads((export / "harness-export.json").read_text())
    hole_value = 0 if identity["layout"] == "mat" else 255
    out.mkdir(parents=True, exist_ok=True)
    with open(export / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        masked = np.asarray(Image.open(export / row["masked"]).convert("RGB"))
        holes = np.asarray(Image.open(export / row["mask"])) == hole_value
        name = identity["predictions"].format(name=row["name"], number=row["number"])
        Image.fromarray(fill_u8(masked, holes)).save(out / name)
    return len(rows)


if __name__ == "__main__":
    print(write_predictions(Path(sys.argv[1]), Path(sys.argv[2])))
