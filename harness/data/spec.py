"""The frozen description of an evaluation: what data, which masks, which protocol."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

#: The paper's evaluation: datasets, their mask sets, 256 px, PIL bilinear, the three buckets.
PAPER_MASKS = {"celeba": "nvidia", "places2": "nvidia", "dunhuang": "paired"}
PAPER_BUCKETS = "0-20,20-40,40-60"
PATH_FIELDS = ("data_root", "mask_root", "file_list")


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides *which* items are evaluated and *how* they are scored.

    Methods are not part of it: one run folder collects the records of every method run on
    it, so methods evaluated at different times are compared on identical items. Paths are
    not part of a run's identity either: the content of the data is (see :func:`run_name`).
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
    #: The published protocol these settings are (``--protocol``, harness.data.protocols), or None.
    protocol_name: str | None = None

    @property
    def hole_is_white(self) -> bool:
        return self.mask_polarity == "white"

    def protocol(self) -> dict[str, Any]:
        """The fields that define how items are made and scored (paths left out; no protocol
        name when none is given, so the identity of such runs is what it was before names existed)."""
        return {k: v for k, v in asdict(self).items()
                if k not in PATH_FIELDS and not (k == "protocol_name" and v is None)}

    def deviations(self) -> list[str]:
        """How this protocol differs from the paper's, in words (empty: the paper's protocol).
        Under a named protocol the settings are its own (harness.data.protocols.check), so only a
        limit can differ from it."""
        if self.protocol_name:
            return [f"limit {self.limit} images per bucket (protocol {self.protocol_name}: the whole test set)"] \
                if self.limit else []
        found = []
        if self.dataset not in PAPER_MASKS:
            found.append(f"dataset {self.dataset} (not one of the paper's)")
        elif (self.masks or PAPER_MASKS[self.dataset]) != PAPER_MASKS[self.dataset]:
            found.append(f"masks {self.masks} (paper: {PAPER_MASKS[self.dataset]})")
        if (self.buckets or PAPER_BUCKETS) != PAPER_BUCKETS:
            found.append(f"buckets {self.buckets} (paper: {PAPER_BUCKETS})")
        if self.size != 256:
            found.append(f"size {self.size} (paper: 256)")
        if self.resize != "pil-bilinear":
            found.append(f"resize {self.resize} (paper: pil-bilinear)")
        if self.limit:
            found.append(f"limit {self.limit} images per bucket (paper: the whole test set)")
        if self.profile != "paper":
            found.append(f"metric profile {self.profile} (paper: paper)")
        return found

    def describe(self) -> str:
        """One line for table headers: dataset, masks, size, resize, seed, limit, profile (after
        the published protocol's name, when there is one)."""
        parts = [self.dataset, f"masks {self.masks or 'default'}", f"buckets {self.buckets or PAPER_BUCKETS}",
                 f"size {self.size}", self.resize, f"seed {self.seed}"]
        if self.limit:
            parts.append(f"limit {self.limit}")
        described = " · ".join([*parts, f"profile {self.profile}"])
        return f"{self.protocol_name} ({described})" if self.protocol_name else described

    def run_name(self, data_fingerprint: str) -> str:
        """Readable folder name plus a hash of the protocol *and* of the data actually used.

        ``data_fingerprint`` hashes the manifest (image and mask content hashes, ratios,
        buckets, input failures), so two data folders with the same flags are two runs, and a
        moved folder with identical content is the same run.
        """
        blob = json.dumps({"protocol": self.protocol(), "data": data_fingerprint}, sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        limit = f"-n{self.limit}" if self.limit else ""
        return f"{self.dataset}-{self.masks or 'default'}-{self.size}px{limit}-s{self.seed}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        problem = spec_problem(data, unknown_ok=True)
        if problem:
            raise ValueError(f"not a run spec: {problem}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


_TYPES = {"str": str, "int": int, "None": type(None)}


def spec_problem(data: Any, unknown_ok: bool = False) -> str | None:
    """Why ``data`` (a hand-written or damaged spec) is not a RunSpec's fields, or None: not an
    object, a value of the wrong type (``"size": "128"``), or (unless ``unknown_ok``, for folders
    of other versions) a key that is no field."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    allowed = {f.name: tuple(_TYPES[t.strip()] for t in str(f.type).split("|")) for f in fields(RunSpec)}
    unknown = sorted(set(data) - set(allowed))
    if unknown and not unknown_ok:
        return f"unknown key(s) {', '.join(map(str, unknown))} (a spec holds {', '.join(allowed)})"
    for key, value in data.items():
        if key in allowed and (isinstance(value, bool) or not isinstance(value, allowed[key])):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed[key])
            return f"{key} is {value!r}, not {names}"
    return None
