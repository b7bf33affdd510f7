"""The frozen description of an evaluation: what data, which masks, which protocol."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides *which* items are evaluated and *how* they are scored.

    Methods are not part of it: one spec's folder collects the records of every method run on
    it, so methods evaluated at different times are compared on identical items.
    """

    dataset: str = "sample"
    data_root: str | None = None
    file_list: str | None = None
    masks: str | None = None  # None: the dataset's default mask set
    mask_root: str | None = None
    mask_polarity: str = "white"  # for the 'folder' mask set: which value marks holes
    buckets: str | None = None  # None: the paper's 0-20,20-40,40-60
    seed: int = 0
    limit: int | None = None  # images per bucket
    size: int = 256
    resize: str = "pil-bilinear"
    profile: str = "paper"

    @property
    def hole_is_white(self) -> bool:
        return self.mask_polarity == "white"

    def protocol(self) -> dict[str, Any]:
        """The fields that define the items (paths are left out: moving data changes nothing)."""
        return {k: v for k, v in asdict(self).items() if k not in ("data_root", "mask_root", "file_list")}

    def run_name(self) -> str:
        """Readable, stable folder name: dataset, masks, a short hash of the whole protocol."""
        digest = hashlib.sha256(json.dumps(self.protocol(), sort_keys=True).encode()).hexdigest()[:8]
        limit = f"-n{self.limit}" if self.limit else ""
        return f"{self.dataset}-{self.masks or 'default'}{limit}-s{self.seed}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
