"""Cost of the shard reader's mask spool against the number of masks (issue 26, item 2).

A dataset read from tar shards writes every mask to a file of its own in one temporary folder
(harness.data.shards: masks are measured as files) and removes the folder with the dataset. Does
a file cost more when the folder already holds a million? For each size N this writes N files of
a 16 px mask PNG's size into a fresh folder the way the reader does (``Path.write_bytes``), then
removes it (``shutil.rmtree``); ``--per-folder K`` spreads the files over sub-folders of K files
each instead (a possible remedy: one sub-folder per shard). It reports CPU microseconds per file of each (the machine is
shared: CPU seconds of this process, not wall) with the wall time beside them.

    python benchmarks/spool_files.py [--sizes 1000,10000,100000,1000000] [--bytes 84] [--per-folder K] [--folder DIR]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU, wall) seconds of ``work()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--bytes", type=int, default=84, help="size of each file (a 16 px mask PNG of a rectangle: 84)")
    parser.add_argument("--per-folder", type=int, default=0, help="files per sub-folder (default: all in one folder)")
    parser.add_argument("--folder", type=Path, help="where the spool folders go (default: the temporary folder)")
    args = parser.parse_args()
    data = bytes(range(256)) * (args.bytes // 256 + 1)
    print(f"{'files':>8} {'write cpu µs':>12} {'write wall µs':>13} {'remove cpu µs':>13} {'remove wall µs':>14}")
    for n in (int(s) for s in args.sizes.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="spool-", dir=args.folder))
        per = args.per_folder or n
        for sub in range(-(-n // per)):
            (folder / f"{sub:06d}").mkdir()
        write = timed(lambda: [(folder / f"{i // per:06d}" / f"{i:09d}.png").write_bytes(data[: args.bytes]) for i in range(n)])
        remove = timed(lambda: shutil.rmtree(folder))
        print(f"{n:8d} {write[0] / n * 1e6:12.1f} {write[1] / n * 1e6:13.1f} {remove[0] / n * 1e6:13.1f} "
              f"{remove[1] / n * 1e6:14.1f}", flush=True)


if __name__ == "__main__":
    main()
