"""A folder of predictions as a method: each manifest item's prediction read from its file.

Matching: an item's file is the export's name (``<name>.png``, or another readable suffix) or
the name a layout's official script writes (LaMa ``<name>_mask.png``, MISF ``<number>__pre1.png``;
EdgeConnect and MAT keep ``<name>.png``), in the folder itself. No file, or two candidates, is the
item's failure with its reason; readable files matching no item are counted and listed. A folder
with the export's identity file (in it or its parent) made for other inputs is refused.

Identity: the fingerprint covers the SHA-256 of every file used and the decoding choices, so a
changed file gives new results and an unchanged folder is served from the cache. The pixels are
then composited and scored like any predictor's output (harness.engine.prediction).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.export import inputs_identity
from harness.data.layouts import IDENTITY_FILE, LAYOUTS, MISF_COMPANIONS, item_names
from harness.errors import UsageError
from harness.hashing import file_sha256, sha256_json
from harness.predictions.decode import LOSSY, SUFFIXES, Unusable, decode
from harness.predictor import ItemPredictor

#: Unmatched files listed by name in the run summary (the rest counted).
SHOWN = 5


class FolderFactory:
    """The factory of ``predictions:DIR``: its one option is ``resize`` (``--option resize=true``)."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, device: Any = None, resize: bool = False) -> "FolderPredictions":
        return FolderPredictions(self.folder, resize)


def candidates(name: str, number: int) -> list[str]:
    """File names that hold the prediction of the item ``name`` at 1-based position ``number``."""
    official = {layout.output.format(name=name, number=number) for layout in LAYOUTS.values()}
    return list(dict.fromkeys([*(name + suffix for suffix in SUFFIXES), *sorted(official)]))


class FolderPredictions(ItemPredictor):
    """Predictions read from files; ``resize`` lets a prediction of another size be resized
    (bilinear, antialiased) to the protocol's size, and marks the method (≈)."""

    def __init__(self, folder: str | Path, resize: bool = False):
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise UsageError(f"predictions:{folder}: no such folder '{self.folder}'")
        self.name = self.folder.name or "predictions"
        self.resize = resize
        self.files: dict[str, Path] = {}  # item id -> its file
        self.missing: dict[str, str] = {}  # item id -> why it has none
        self.hashes: dict[str, str] = {}  # item id -> sha256 of its file
        self.unmatched: list[str] = []
        self.expected = 0  # the protocol's size, known at attach

    # -- matching ---------------------------------------------------------------------------------
    def attach(self, manifest: Any) -> None:
        identified = self._check_identity(manifest)
        items, self.files, self.missing = manifest.items, {}, {}
        present = {p.name for p in self.folder.iterdir() if p.is_file()}
        used: set[str] = set()
        names = item_names([(i.image_sha256, i.mask_sha256) for i in items])
        for number, (item, name) in enumerate(zip(items, names), start=1):
            found = [c for c in candidates(name, number) if c in present]
            used.update(found)
            used.update(f"{number}__{part}.png" for part in MISF_COMPANIONS)
            if len(found) == 1:
                self.files[item.item_id] = self.folder / found[0]
            elif found:
                self.missing[item.item_id] = f"ambiguous: {' and '.join(found)} both name this item; keep one"
            else:
                self.missing[item.item_id] = f"no prediction file ({name}.png, {name}_mask.png or {number}__pre1.png)"
        numbered = [p.name for p in self.files.values() if p.name.endswith("__pre1.png")]
        if numbered and not identified:  # MISF numbers its outputs: only the export's identity ties them to items
            raise UsageError(f"{self.folder}: {numbered[0]} is named by position (MISF's test output); put the export's "
                             f"{IDENTITY_FILE} beside the predictions or in their parent folder, so they are known to "
                             "belong to this run's inputs")
        readable = sorted(f for f in present if Path(f).suffix.lower() in SUFFIXES)
        self.unmatched = [f for f in readable if f not in used]
        self.hashes = {item_id: file_sha256(path) for item_id, path in self.files.items()}
        self.expected = manifest.spec.size

    def _check_identity(self, manifest: Any) -> bool:
        """True when an export's identity file names this run's inputs, False when there is none;
        one made for other inputs is refused."""
        for place in (self.folder, self.folder.parent):
            file = place / IDENTITY_FILE
            if not file.is_file():
                continue
            try:
                exported = json.loads(file.read_text()).get("inputs")
            except (OSError, ValueError, AttributeError):
                raise UsageError(f"{file}: unreadable export identity; export again") from None
            if exported != inputs_identity(manifest):
                raise UsageError(f"{self.folder}: exported for other inputs than this run's ({file} differs in "
                                 "data, masks, buckets, size, seed or limit); run with the export's flags or export again")
            return True
        return False

    # -- identity ---------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Decoding choices (the files' content is in the fingerprint, so a fixed file needs no --replace)."""
        lossy = any(p.suffix.lower() in LOSSY for p in self.files.values())
        if lossy:  # JPEG decoders differ in their last bits
            import PIL

            return {"resize": self.resize, "jpeg_decoder": f"Pillow {PIL.__version__}"}
        return {"resize": self.resize}

    def fingerprint(self) -> str:
        digest = sha256_json(sorted((item_id, path.name, self.hashes[item_id]) for item_id, path in self.files.items()))
        return sha256_json([super().fingerprint(), digest])[:32]

    def run_info(self) -> dict[str, Any]:
        lossy = sum(p.suffix.lower() in LOSSY for p in self.files.values())
        return {"supplied": True, "lossy": lossy > 0, "resized": self.resize and self._resized() > 0,
                "predictions": {"folder": str(self.folder), "files": len(self.files), "missing": len(self.missing),
                                "unmatched": len(self.unmatched), "lossy_files": lossy, "resize": self.resize,
                                "files_sha256": sha256_json(sorted(self.hashes.items()))}}

    def notes(self) -> list[str]:
        if not self.unmatched:
            return []
        shown = ", ".join(self.unmatched[:SHOWN]) + (" ..." if len(self.unmatched) > SHOWN else "")
        return [f"{len(self.unmatched)} file(s) in {self.folder} match no item: {shown}"]

    def _resized(self) -> int:
        """Files of another size than the protocol's (read from their headers only where cheap)."""
        return sum(self._size_of(path) not in (None, (self.expected, self.expected)) for path in self.files.values())

    @staticmethod
    def _size_of(path: Path) -> tuple[int, int] | None:
        if path.suffix.lower() == ".npy":
            return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape[:2])
        try:
            from PIL import Image

            with Image.open(path) as image:
                return image.size[1], image.size[0]
        except Exception:  # unreadable: its item fails when read
            return None

    # -- reading ----------------------------------------------------------------------------------
    def predict_items(self, item_ids: list[str], images: torch.Tensor,
                      masks: torch.Tensor) -> tuple[torch.Tensor, list[str | None]]:
        out = torch.zeros_like(images, dtype=torch.float32)
        problems: list[str | None] = []
        for index, item_id in enumerate(item_ids):
            try:
                out[index] = self._read(item_id, tuple(images.shape[2:]))
                problems.append(None)
            except Unusable as error:
                problems.append(str(error))
        return out, problems

    def _read(self, item_id: str, size: tuple[int, int]) -> torch.Tensor:
        if item_id not in self.files:
            raise Unusable(self.missing.get(item_id, "no prediction file"))
        path = self.files[item_id]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise Unusable(f"cannot be read ({error.strerror or error}): {path.name}") from None
        if hashlib.sha256(data).hexdigest() != self.hashes[item_id]:
            raise Unusable(f"{path.name} changed during the run; run again")
        try:
            pixels = torch.from_numpy(np.ascontiguousarray(decode(data, path.suffix.lower()).pixels)).permute(2, 0, 1)
        except Unusable as error:
            raise Unusable(f"{error}: {path.name}") from None  # the reason first: the summary counts by it
        if tuple(pixels.shape[1:]) != size:
            if not self.resize:
                raise Unusable(f"size {pixels.shape[2]}x{pixels.shape[1]}, expected {size[1]}x{size[0]} (--option "
                               f"resize=true resizes it; the method is then marked ≈): {path.name}")
            pixels = F.interpolate(pixels[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        return pixels
