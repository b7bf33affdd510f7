"""Open and lookup cost of the cache's persistent index against the number of entries.

For each size, one pack of N metrics records is written without the index (as an older cache
or a killed writer leaves it); then, each in a fresh ``Cache``: the first open, which indexes the
pack by scanning it (what every open cost before the index); a second open, which reads no pack;
and 1,000 lookups of random present keys and 1,000 of absent ones. Per-lookup times at every
size are the O(1) check; the machine is shared, so compare sizes within one run.

    python benchmarks/cache_index.py [--sizes 10000,100000,1000000] [--folder DIR]
"""
from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from harness.store.cache import Cache, PackWriter, output_key
from harness.store.pack_index import INDEX_NAME

FINGERPRINT = "f" * 32


def _key(i: int) -> str:
    return output_key(FINGERPRINT, f"image-{i}", f"mask-{i}", 16)


def _write(root: Path, n: int) -> None:
    writer = PackWriter(root / "packs" / FINGERPRINT[:16])
    payload = b'{"L1": 1.25, "PSNR": 25.5, "SSIM": 0.875, "out_of_range": 0.0}'
    for i in range(n):
        writer.append({"kind": "metrics", "key": _key(i), "profile": "paper"}, payload)
    writer.close()


def _timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--folder", type=Path, help="where to write the synthetic caches (default: a temporary folder)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(dir=args.folder))
    rng = random.Random(0)
    group = FINGERPRINT[:16]
    print(f"{'entries':>9} {'write s':>8} {'index build s':>14} {'open s':>8} {'hit us':>8} {'miss us':>8} "
          f"{'pack MB':>8} {'index MB':>9}")
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            root = base / str(n)
            write, _ = _timed(lambda: _write(root, n))
            build, _ = _timed(lambda: Cache(root)._group_index(group))
            cache = Cache(root)
            opened, _ = _timed(lambda: cache._group_index(group))
            present = [_key(rng.randrange(n)) for _ in range(1000)]
            absent = [_key(n + i) for i in range(1000)]
            hit, found = _timed(lambda: [cache.get_metrics(k, "paper") for k in present])
            miss, none = _timed(lambda: [cache.get_metrics(k, "paper") for k in absent])
            assert all(found) and not any(none)
            folder = root / "packs" / group
            pack_mb = sum(p.stat().st_size for p in folder.glob("*.pack")) / 1e6
            index_mb = sum(p.stat().st_size for p in folder.glob(INDEX_NAME + "*")) / 1e6
            print(f"{n:9d} {write:8.2f} {build:14.2f} {opened:8.4f} {hit * 1e3:8.1f} {miss * 1e3:8.1f} "
                  f"{pack_mb:8.1f} {index_mb:9.1f}", flush=True)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
