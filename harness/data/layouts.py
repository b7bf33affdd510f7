"""How an export lays out a protocol's inputs for a foreign code base, and where that code
base's official test script writes its predictions (docs/predictions.md has the sources).

Every layout writes 8-bit PNGs only (lossless): the image at evaluation geometry, its mask and
the masked image (holes zeroed). Items are named ``<position>_<content digest>``: the position
keeps sorted order equal to manifest order (MAT pairs images and masks by sorted name, MISF
numbers its outputs by list position), the digest of the item's image and mask hashes keeps a
folder made for other data from matching by name. No name contains ``mask`` (LaMa finds its
masks by that word).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

IDENTITY_FILE = "harness-export.json"
INDEX_FILE = "index.csv"
PREDICTIONS_FOLDER = "predictions"  # made empty by the export: where the foreign script may write


@dataclass(frozen=True)
class Layout:
    """Relative file patterns (``{name}``: the item's name, ``{number}``: its 1-based position)."""

    name: str
    description: str
    image: str
    mask: str
    masked: str
    hole_value: int  # mask pixel value of a hole (255: white = hole; 0: MAT's 1 = kept)
    flist: str | None = None  # "json" (MISF: JSON arrays) or "lines" (EdgeConnect); absolute paths
    output: str = "{name}.png"  # the official script's output file, in its output folder

    def mask_pixels(self, holes):
        """uint8 mask image of a boolean hole map, in this layout's polarity."""
        import numpy as np

        return np.where(holes, self.hole_value, 255 - self.hole_value).astype(np.uint8)


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("plain", "images/, masks/ (white = hole), masked/; predictions as <name>.png (or .jpg .tif .npy .exr)",
           "images/{name}.png", "masks/{name}.png", "masked/{name}.png", 255),
    Layout("lama", "LaMa bin/predict.py: input/<name>.png + input/<name>_mask.png (white = hole); "
           "outputs <name>_mask.png", "input/{name}.png", "input/{name}_mask.png", "masked/{name}.png", 255,
           output="{name}_mask.png"),
    Layout("misf", "MISF test.py: images/, masks/ (white = hole) listed in JSON file lists; "
           "outputs <number>__pre1.png", "images/{name}.png", "masks/{name}.png", "masked/{name}.png", 255,
           flist="json", output="{number}__pre1.png"),
    Layout("edgeconnect", "EdgeConnect test.py: images/, masks/ (white = hole) listed one path a line; "
           "outputs <name>.png", "images/{name}.png", "masks/{name}.png", "masked/{name}.png", 255, flist="lines"),
    Layout("mat", "MAT generate_image.py --dpath images --mpath masks (mask 255 = kept, 0 = hole); outputs <name>.png",
           "images/{name}.png", "masks/{name}.png", "masked/{name}.png", 0),
)}

#: Flist files of the misf and edgeconnect layouts (TEST_FLIST, TEST_MASK_FLIST).
FLISTS = {"image": "test_images.flist", "mask": "test_masks.flist"}
#: MISF's test writes these beside each <number>__pre1.png (input, truth, composite): not predictions to read.
MISF_COMPANIONS = ("in", "gt", "pre2")


def item_names(content: Sequence[tuple[str, str]]) -> list[str]:
    """Names of items given as (image sha256, mask sha256) in manifest order."""
    width = max(5, len(str(len(content))))
    return [f"{position:0{width}d}_{hashlib.sha256((image + mask).encode()).hexdigest()[:10]}"
            for position, (image, mask) in enumerate(content)]


def layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout '{name}': choose {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
