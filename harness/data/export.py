"""``harness export``: a protocol's inputs as files another code base reads, with an index and
the protocol's identity, so that its predictions can be scored here (harness.predictions).

Per manifest item: the image at evaluation geometry (after the dataset's crop and resize), its
mask and the masked image (holes zeroed), all lossless 8-bit PNG, named and placed by a layout
(:mod:`harness.data.layouts`). ``index.csv`` lists item id, bucket, measured hole ratio, position,
file names and each file's SHA-256; ``harness-export.json`` holds the identity of the inputs (the
protocol without the metric profile, and the manifest's content fingerprint), which the import
compares with its run's.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from harness.data.layouts import FLISTS, IDENTITY_FILE, INDEX_FILE, PREDICTIONS_FOLDER, Layout, item_names, layout
from harness.data.manifest import Manifest, build_manifest
from harness.data.spec import RunSpec
from harness.engine.progress import track
from harness.errors import UsageError
from harness.hashing import sha256_json
from harness.store.atomic import atomic_write_bytes, atomic_write_text
from harness.store.csvfiles import csv_text

INDEX_COLUMNS = ["name", "number", "item_id", "bucket", "hole_ratio", "image", "image_sha256", "mask",
                 "mask_sha256", "masked", "masked_sha256"]
FORMAT = 1


@dataclass(frozen=True)
class Exported:
    folder: Path
    layout: str
    items: int
    identity: dict[str, Any]


def inputs_identity(manifest: Manifest) -> str:
    """What identifies the inputs a prediction was made from: the protocol (data, masks, buckets,
    size, resize, seed, limit; not the metric profile, which changes only the scoring) and the
    content of every item."""
    return sha256_json({**manifest.spec.protocol(), "profile": None, "data": manifest.fingerprint()})


def export(spec: RunSpec, out: Path | str, layout_name: str = "plain", cache_root: Path | None = None,
           roots: Mapping[str, str] | None = None) -> Exported:
    """Build the manifest of ``spec`` and write its inputs to ``out`` in the named layout
    (plain, lama, misf, edgeconnect, mat); see :func:`export_manifest`."""
    return export_manifest(build_manifest(spec, cache_root=cache_root, roots=roots), out, layout_name)


def export_manifest(manifest: Manifest, out: Path | str, layout_name: str = "plain") -> Exported:
    """Write every item of ``manifest`` to ``out``; an existing export there is replaced (its
    ``predictions/`` folder is kept), any other non-empty folder is refused."""
    chosen, folder = layout(layout_name), Path(out).expanduser().resolve()
    if folder.is_dir() and any(folder.iterdir()) and not (folder / IDENTITY_FILE).is_file():
        raise UsageError(f"--out {folder}: the folder is not empty and holds no export; choose a new folder")
    items = manifest.items
    names = item_names([(i.image_sha256, i.mask_sha256) for i in items])
    rows = []
    for number, (item, name) in enumerate(track(list(zip(items, names)), "exporting"), start=1):
        image, mask = manifest.load(item)
        holes = mask > 0.5
        row = {"name": name, "number": number, "item_id": item.item_id, "bucket": item.bucket,
               "hole_ratio": float(item.hole_ratio)}
        for part, pixels in (("image", image), ("mask", chosen.mask_pixels(holes)),
                             ("masked", np.where(holes[:, :, None], 0, image).astype(np.uint8))):
            relative = getattr(chosen, part).format(name=name, number=number)
            row[part], row[f"{part}_sha256"] = relative, _write_png(folder / relative, pixels)
        rows.append(row)
    if chosen.flist:
        _write_flists(folder, chosen, rows)
    (folder / PREDICTIONS_FOLDER).mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / INDEX_FILE, csv_text(rows, INDEX_COLUMNS))
    identity = {"format": FORMAT, "layout": chosen.name, "inputs": inputs_identity(manifest),
                "data_fingerprint": manifest.fingerprint(), "protocol": {**manifest.spec.protocol(), "profile": None},
                "items": len(rows), "input_failures": len(manifest.failures), "index": INDEX_FILE,
                "predictions": chosen.output}
    atomic_write_text(folder / IDENTITY_FILE, json.dumps(identity, indent=2) + "\n")
    return Exported(folder, chosen.name, len(rows), identity)


def _write_png(path: Path, pixels: np.ndarray) -> str:
    """Lossless PNG (uint8 RGB or L); returns the SHA-256 of the bytes written."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L").save(buffer, format="PNG")
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _write_flists(folder: Path, chosen: Layout, rows: list[dict[str, Any]]) -> None:
    """The image and mask file lists, absolute paths in item order: JSON arrays (MISF reads them
    with json.load) or one path a line (EdgeConnect reads them with numpy.genfromtxt)."""
    for part, file in FLISTS.items():
        paths = [str(folder / row[part]) for row in rows]
        text = json.dumps(paths) if chosen.flist == "json" else "".join(f"{p}\n" for p in paths)
        atomic_write_text(folder / file, text)
