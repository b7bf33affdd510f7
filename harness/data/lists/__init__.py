"""File lists that official protocols ship, stored compressed (JSON: about, count, the sha256
of the upstream list file, and the data as zlib + base64)."""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from pathlib import Path

FOLDER = Path(__file__).parent


def _stored(name: str) -> tuple[dict, bytes]:
    record = json.loads((FOLDER / f"{name}.json").read_text())
    return record, zlib.decompress(base64.b64decode(record["data"]))


def lama_places365_test_30k() -> list[str]:
    """LaMa's 30,000 Places365 test_large names (configs/test_large_30k.lst), sorted."""
    record, data = _stored("lama_places365_test_large_30k")
    numbers, total = [], 0
    for delta in data.decode().split():
        total += int(delta)
        numbers.append(total)
    return _checked(record, [f"Places365_test_{n:08d}.jpg" for n in numbers])


def lama_celebahq_visual_test() -> list[str]:
    """LaMa's 2,000 CelebA-HQ evaluation names (fetch_data/val_shuffled.flist), 0-based ``N.jpg``."""
    record, data = _stored("lama_celebahq_visual_test")
    return _checked(record, data.decode().split())


def _checked(record: dict, names: list[str]) -> list[str]:
    """The names, after proving they rebuild the upstream file byte for byte."""
    text = "".join(f"{n}\n" for n in names).encode()
    if len(names) != record["count"] or hashlib.sha256(text).hexdigest() != record["sha256_of_list_file"]:
        raise RuntimeError("a stored file list is damaged (its sha256 differs from the upstream file's)")
    return names
