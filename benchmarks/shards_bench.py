"""Reading a dataset as tar shards against reading it as a folder: list it, then decode every image.

N small synthetic JPEGs as a folder, as uncompressed local shards, as gzip shards and as shards
over HTTP from 127.0.0.1; the four are timed in turn, in several rounds (the machine is shared:
read the ratios to the folder of the same round, the median over rounds). Usage:
python benchmarks/shards_bench.py [--images 2000] [--size 64] [--per-shard 500] [--rounds 3]
"""
from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.datasets import load_dataset
from harness.data.shard_writer import write_shards


def make(root: Path, count: int, size: int, per_shard: int) -> tuple[Path, int]:
    folder = root / "folder"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        noise = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(noise).resize((size, size), Image.BILINEAR).save(folder / f"{i:07d}.jpg", quality=90)
    start = time.perf_counter()
    written = write_shards(load_dataset("folder", folder), root / "plain", per_shard)
    convert = time.perf_counter() - start
    (root / "gz").mkdir()
    for shard in written.shards:
        (root / "gz" / (shard.name + ".gz")).write_bytes(gzip.compress(shard.read_bytes(), mtime=0))
    print(f"{count} images of {size}x{size}: converted into {len(written.shards)} shards in {convert:.2f} s")
    return folder, len(written.shards)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def read_all(name: str, root: str) -> float:
    start = time.perf_counter()
    dataset = load_dataset(name, root)
    for image in dataset.images:
        image.load()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-shard", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder, shards = make(root, args.images, args.size, args.per_shard)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root / "plain")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        last = f"{shards - 1:04d}"
        cases = {"folder": ("folder", str(folder)),
                 "local shards": ("shards", str(root / f"plain/shards-{{0000..{last}}}.tar")),
                 "gzip shards": ("shards", str(root / f"gz/shards-{{0000..{last}}}.tar.gz")),
                 "http shards": ("shards", f"http://127.0.0.1:{server.server_address[1]}/shards-{{0000..{last}}}.tar")}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (dataset, location) in cases.items():
                times[name].append(read_all(dataset, location))
        server.shutdown()
    print(f"{'case':14s} {'median s':>9s} {'per image ms':>13s} {'vs folder':>10s}  (list the dataset, decode every image)")
    for name, values in times.items():
        ratio = statistics.median(v / f for v, f in zip(values, times["folder"]))
        median = statistics.median(values)
        print(f"{name:14s} {median:9.3f} {1000 * median / args.images:13.3f} {ratio:10.2f}")


if __name__ == "__main__":
    main()
