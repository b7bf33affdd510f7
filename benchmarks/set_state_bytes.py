"""Bytes persisted per item with ``--keep-outputs none`` and the set-level metrics FID, KID, P-IDS,
U-IDS, per component, for ``--set-state features`` and ``--set-state sums``: measured on a small
run with 2,048-dimensional features (a fixed random projection standing in for Inception: the
bytes depend on the dimension, not on the values), then extrapolated to large buckets, where the
sums' fixed O(D²) bytes per part, method and bucket are shared by the part's items.

Usage: python benchmarks/set_state_bytes.py [--items 240] [--sample 60] [--parts 3]
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import RunConfig  # noqa: E402
from harness.data.spec import RunSpec  # noqa: E402
from harness.engine.distributed import Shard  # noqa: E402
from harness.engine.reduce import reduce_run  # noqa: E402
from harness.engine.runner import run  # noqa: E402
from harness.metrics.inception import InceptionFeatures  # noqa: E402

DIM = 2048


class Projection(torch.nn.Module):
    """2,048 non-negative features per image from its mean colour (a fixed random projection)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.randn(3, DIM, generator=torch.Generator().manual_seed(0))

    def forward(self, images):
        return torch.relu(images.float().mean((2, 3)) / 255 @ self.weight)


def _folder(root: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / "images" / f"im{i:05d}.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[: 2 + i % 6] = 255
        Image.fromarray(mask).save(root / "masks" / f"im{i:05d}.png")


def _size(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def _measure(tmp: Path, mode: str, items: int, sample: int, parts: int) -> tuple[dict[str, float], float]:
    spec = RunSpec(dataset="folder", data_root=str(tmp / "data"), size=16, buckets="0-100")
    cache, out = tmp / f"cache-{mode}", tmp / f"runs-{mode}"
    os.environ["HARNESS_CACHE"] = str(cache)
    for index in range(parts):
        result = run(RunConfig.of(spec, ["telea"], out=out, metrics=("PSNR", "SSIM", "L1"),
                                  set_metrics=("FID", "KID", "P-IDS", "U-IDS"), set_bootstrap=0, keep="none",
                                  extractor=InceptionFeatures.from_module(Projection(), "projection"), set_state=mode,
                                  set_sample=sample, shard=Shard(index, parts)))
    reduce_run(result.run_dir)
    packs = cache / "packs"
    # sqlite's -wal and -shm files are transient (checkpointed into the index): left out
    steady = [p for p in packs.rglob("*") if not p.name.endswith(("-wal", "-shm"))]
    features = [p for p in steady if p.parent.name[:5] == "feat-"]
    metrics = [p for p in steady if p.parent.name[:5] != "feat-"]
    found = {
        "cache: metrics records (packs)": _size(p for p in metrics if p.suffix == ".pack"),
        "cache: metrics index": _size(p for p in metrics if p.suffix != ".pack"),
        "cache: features (packs)": _size(p for p in features if p.suffix == ".pack"),
        "cache: features index": _size(p for p in features if p.suffix != ".pack"),
        "records.csv": _size(result.run_dir.rglob("records.csv")),
        "manifest.csv": _size([result.run_dir / "manifest.csv"]),
        "cache: mask index": _size(cache.glob("mask-index/*")),
    }
    # before zlib (sums parts are compressed, and this stand-in extractor's features compress far
    # better than Inception's): an upper bound; the compressed sizes follow in brackets
    sums = sample_bytes = rest = packed_sums = packed_sample = 0
    for npz in result.run_dir.glob("parts/*/*/features.npz"):
        with zipfile.ZipFile(npz) as archive:
            for entry in archive.infolist():
                if ".sums." in entry.filename:
                    sums, packed_sums = sums + entry.file_size, packed_sums + entry.compress_size
                elif entry.filename.split(".")[-2] in ("real", "fake"):
                    sample_bytes, packed_sample = sample_bytes + entry.file_size, packed_sample + entry.compress_size
                else:
                    rest += entry.compress_size
    found["parts: features (sample in sums mode)"] = sample_bytes
    found["  (zlib-compressed, this extractor)"] = packed_sample
    found["parts: exact sums"] = sums
    found["  (zlib-compressed, at these few items)"] = packed_sums
    found["parts: records, ids, part.json"] = rest + _size(p for p in result.run_dir.glob("parts/*/*/*")
                                                           if p.name != "features.npz")
    return {k: v / items for k, v in found.items()}, sums / parts


def _compressed(dim: int) -> float:
    """Share of the sums' bytes zlib keeps (parts are np.savez_compressed), on Inception-like features."""
    from harness.metrics.mergeable import ExactSums

    sums = ExactSums(dim)
    sums.add(np.random.default_rng(0).gamma(2.0, 0.2, (4096, dim)).astype(np.float32))
    raw, packed = io.BytesIO(), io.BytesIO()
    np.savez(raw, **sums.packed())
    np.savez_compressed(packed, **sums.packed())
    return len(packed.getvalue()) / len(raw.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=240)
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--parts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        _folder(tmp / "data", args.items)
        rows = {mode: _measure(tmp, mode, args.items, args.sample, args.parts) for mode in ("features", "sums")}
    print(f"measured: {args.items} items, one method, one bucket, {args.parts} parts, D = {DIM}, "
          f"sums-mode sample {args.sample}; bytes per item")
    for name in rows["features"][0]:
        print(f"  {name:40s} features {rows['features'][0][name]:9.0f}   sums {rows['sums'][0][name]:9.0f}")
    per_part = rows["sums"][1]
    sample_item = rows["sums"][0]["parts: features (sample in sums mode)"] * args.items / args.sample
    # the index: README's ≈180 B per entry (the sqlite file measured here keeps part of it in its WAL)
    base = sum(v for k, v in rows["sums"][0].items()
               if not any(w in k for w in ("features", "sums", "index", "zlib"))) + 180
    print(f"sums per part, method and bucket: {per_part / 1e6:.1f} MB before zlib (which keeps {_compressed(512):.0%} "
          f"of them at D = 512, 4,096 items; extrapolated without it); per sampled item (in the parts): {sample_item:.0f} B; the rest per item: {base:.0f} B")
    print("extrapolated, sums mode, bytes per item of one method (one process keeps its part too: 1 part):")
    for n in (36_500, 1_000_000, 100_000_000):
        for k in (1_000, 10_000):
            cells = [f"{base + sample_item * min(k, n) / n + per_part * p / n:8.0f} ({p} parts)" for p in (1, 2, 16, 64)]
            print(f"  {n:>11,} items/bucket, K = {k:>6,}: " + "  ".join(cells))
    print(f"break-even (10 KB per item) for P parts and sample K: n >= (P x {per_part / 1e6:.1f} MB + K x "
          f"{sample_item / 1e3:.1f} KB) / ({10_000 - base:.0f} B)")


if __name__ == "__main__":
    main()
