"""The image browser's pictures: per item one strip of panels (masked input, each method's
composite, ground truth) at full resolution for the zoom view, and the same strip as a thumbnail
for the list. One file per item and size keeps 10,000 items to 20,000 files that the page loads
only when shown. Predictions come from the cache through the run's records, as in
:mod:`harness.reports.grids`; nothing is predicted here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np
from PIL import Image

from harness.reports.grids import composite_u8, masked_input

THUMB = 128  # thumbnail panel side in pixels: a strip of five fills half a 1,400 px page, two cards a row
MISSING_GREY = 128
SUFFIX = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_SAVE = {"jpeg": {"quality": 92, "subsampling": 0}, "png": {"compress_level": 6}, "webp": {"lossless": True, "method": 2}}


class PanelSource(Protocol):
    """Gives each item's panels: [masked input, one composite per method (None: no output), ground truth]."""

    def panels(self, item_id: str, methods: Sequence[str]) -> list[np.ndarray | None]: ...


class RunPanels:
    """Panels of a run folder's items from its manifest (the data must be reachable) and the cache."""

    def __init__(self, run, cache=None):
        from harness.store.cache import Cache
        from harness.data.manifest import build_manifest

        self.manifest = build_manifest(run.spec)
        self.items = {item.item_id: item for item in self.manifest.items}
        ok = run.records[run.records["status"] == "ok"]
        self.keys = {(m, i): k for m, i, k in zip(ok["method"], ok["item_id"], ok["cache_key"]) if isinstance(k, str)}
        self.cache = cache or Cache()

    def panels(self, item_id: str, methods: Sequence[str]) -> list[np.ndarray | None]:
        image, mask = self.manifest.load(self.items[item_id])
        outputs = []
        for method in methods:
            key = self.keys.get((method, item_id))
            prediction = None if key is None else self.cache.get_output(key, (3, *image.shape[:2]), mask > 0.5)
            outputs.append(None if prediction is None else composite_u8(image, mask, prediction))
        return [masked_input(image, mask), *outputs, image]


def strip(panels: list[np.ndarray | None]) -> Image.Image:
    """Panels side by side, without gaps (the page crops them by position); missing ones grey."""
    height, width = next(p for p in panels if p is not None).shape[:2]
    out = np.full((height, width * len(panels), 3), MISSING_GREY, np.uint8)
    for index, panel in enumerate(panels):
        if panel is not None:
            out[:, index * width:(index + 1) * width] = panel
    return Image.fromarray(out)


def write_item_images(source: PanelSource, item_ids: Iterable[str], methods: Sequence[str], folder: Path,
                      fmt: str = "jpeg") -> tuple[dict[int, str], dict[int, str]]:
    """``full/<i>.<ext>`` and ``thumb/<i>.<ext>`` for item i. Returns {i: why} for items without
    pictures and {i: note} for items whose strip lacks some method's output (a grey panel)."""
    suffix = SUFFIX[fmt]
    (folder / "full").mkdir(parents=True, exist_ok=True)
    (folder / "thumb").mkdir(parents=True, exist_ok=True)
    missing, grey = {}, {}
    for index, item_id in enumerate(item_ids):
        try:
            panels = source.panels(item_id, methods)
        except (KeyError, OSError, ValueError) as error:  # input failures have no manifest item; InputError is a ValueError
            missing[index] = f"no picture: {error}" if not isinstance(error, KeyError) else "no picture: not in the manifest"
            continue
        absent = [method for method, panel in zip(methods, panels[1:-1]) if panel is None]
        if absent:
            grey[index] = f"grey: no output of {', '.join(absent)} (failed, or not kept in the cache: --keep-outputs)"
        full = strip(panels)
        full.save(folder / "full" / f"{index}.{suffix}", **_SAVE[fmt])
        count = len(panels)
        thumb = full.resize((THUMB * count, THUMB), Image.Resampling.BOX if full.height % THUMB == 0 else Image.Resampling.LANCZOS)
        thumb.save(folder / "thumb" / f"{index}.{suffix}", **_SAVE[fmt])
    return missing, grey
