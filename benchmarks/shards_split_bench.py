"""Bytes each torchrun rank reads from tar shards: while the manifest is built, then while it loads
the items the plan gives it (a run's prediction phase, without a method).

W ranks (processes over gloo) build the manifest of S shards of synthetic JPEGs together, plain
and gzip, local; per rank it counts the bytes read from shard streams (each ``open_shard``'s
reads) and every byte the process read from files (``rchar`` of /proc/self/io: shards read in
place, spool and copies included). Run it with another checkout first on PYTHONPATH to measure
that code (for example the code before shards were split by rank). Usage:
python benchmarks/shards_split_bench.py [--world 3] [--shards 8] [--per-shard 12] [--size 128]
"""
from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def make(root: Path, shards: int, per_shard: int, size: int) -> dict[str, str]:
    from harness.data.datasets import load_dataset
    from harness.data.shard_writer import write_shards

    folder = root / "folder"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(shards * per_shard):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)
    written = write_shards(load_dataset("folder", folder), root / "plain", per_shard)
    (root / "gz").mkdir()
    for shard in written.shards:
        (root / "gz" / f"{shard.name}.gz").write_bytes(gzip.compress(shard.read_bytes(), mtime=0))
    last = f"{len(written.shards) - 1:04d}"
    return {"plain": str(root / f"plain/shards-{{0000..{last}}}.tar"),
            "gzip": str(root / f"gz/shards-{{0000..{last}}}.tar.gz")}


def rank(index: int, world: int, store: str, patterns: dict[str, str], cache: str, out: str) -> None:
    import torch.distributed as dist

    import harness.data.shards as shards
    from harness.data.spec import RunSpec
    from harness.engine.distributed import Shard, plan

    streamed = [0]
    original = shards.open_shard

    class Counted:
        def __init__(self, stream):
            self.stream = stream

        def read(self, *args):
            data = self.stream.read(*args)
            streamed[0] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self.stream, name)

    def counting(*args, **kwargs):
        manager = original(*args, **kwargs)

        class Wrapped:
            def __enter__(self):
                return Counted(manager.__enter__())

            def __exit__(self, *exc):
                return manager.__exit__(*exc)

        return Wrapped()

    shards.open_shard = counting
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=index, world_size=world)
    shard = Shard(index, world, group=dist.group.WORLD)
    rows = []
    for kind, pattern in patterns.items():
        spec = RunSpec(dataset="shards", data_root=pattern, size=64)
        streamed[0], before = 0, _rchar()
        manifest = shard.manifest(spec, Path(cache) / f"{kind}-{index}", roots={})
        built = (streamed[0], _rchar() - before)
        streamed[0], before = 0, _rchar()
        mine = plan([("method", 8)], manifest.items, world)[index]
        for _, items in mine:
            for item in items:
                manifest.load(item)
        loaded = (streamed[0], _rchar() - before)
        rows.append({"kind": kind, "rank": index, "items": sum(len(i) for _, i in mine),
                     "manifest_streamed": built[0], "manifest_rchar": built[1],
                     "load_streamed": loaded[0], "load_rchar": loaded[1]})
        dist.barrier()
    Path(out, f"rank{index}.json").write_text(json.dumps(rows))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--per-shard", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        patterns = make(root, args.shards, args.per_shard, args.size)
        total = sum(p.stat().st_size for p in (root / "plain").iterdir())
        gz = sum(p.stat().st_size for p in (root / "gz").iterdir())
        print(f"{args.shards} shards of {args.per_shard} JPEGs of {args.size}^2: {total / 1e6:.2f} MB plain, "
              f"{gz / 1e6:.2f} MB gzip; {args.world} ranks")
        context = multiprocessing.get_context("spawn")
        processes = [context.Process(target=rank, args=(i, args.world, str(root / "store"), patterns,
                                                          str(root / "cache"), tmp)) for i in range(args.world)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        rows = [row for i in range(args.world) for row in json.loads((root / f"rank{i}.json").read_text())]
    print("kind   rank items  manifest: streamed MB  read MB   load: streamed MB  read MB")
    for row in sorted(rows, key=lambda r: (r["kind"], r["rank"])):
        print(f"{row['kind']:6} {row['rank']:4} {row['items']:5}  {row['manifest_streamed'] / 1e6:18.2f} "
              f"{row['manifest_rchar'] / 1e6:8.2f}  {row['load_streamed'] / 1e6:17.2f} {row['load_rchar'] / 1e6:8.2f}")


if __name__ == "__main__":
    main()
