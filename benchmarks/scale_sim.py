"""Large shared runs simulated on one machine: per-item cost against process count and item count,
and a failure drill. Read ratios, not seconds: the machine is shared.

* ``real``: torchrun over gloo with 1..N processes on tiny images (a folder of synthetic 40x40
  PNGs, generated masks, one bucket, telea at 32 px, fresh cache per case, one thread per
  process): wall and CPU seconds at two item counts, and from their difference the marginal cost
  per item (start-up excluded); memory sampled from /proc while it runs: the largest peak RSS of
  one process (VmHWM; shared libraries count in each) and the peak of the tree's summed PSS (shared
  pages counted once: what the run takes from the machine). The records (and with
  ``--set-metrics`` set_metrics.csv, e.g. FID through the offline Inception trunk) of every process
  count are checked to be byte-identical to the plain process's. A case that would not fit in the
  memory available now (its process count times the PSS per process of the case with the most
  processes so far, plus a quarter as margin) is skipped and says so: the machine is shared.
* ``synthetic``: the reducer in metrics-only mode on synthetic parts (16 parts of records rows with
  three metrics, no prediction exists): seconds per item to merge them and write records.csv,
  method.json, results.json and records.parquet, at 1k .. 1M items; and FID's mergeable sums
  (harness.metrics.mergeable, D = 64) built per part and merged, per item.
* ``drill``: three ``--shard`` processes; one is killed (SIGKILL) mid-run, so its part is missing
  and ``harness reduce`` refuses, naming it; that shard run again completes the run, whose records
  equal a plain process's. A part deleted afterwards (a lost part) is refused the same way and
  rerun from the cache. A reducer of a large synthetic run killed at several moments leaves only
  whole files, and run again writes the bytes of an uninterrupted reduce.

Usage: python benchmarks/scale_sim.py [--sections real,synthetic,drill] [--procs 1,4,16] [--items 48,192]
                                      [--set-metrics FID] [--synthetic 1000,10000,100000,1000000]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.data.spec import RunSpec  # noqa: E402
from harness.hashing import sha256_json  # noqa: E402
from harness.metrics.mergeable import FrechetSums  # noqa: E402
from harness.store.atomic import atomic_write_text  # noqa: E402
from harness.store.csvfiles import csv_text  # noqa: E402
from harness.store.parts import write_part  # noqa: E402
from harness.store.records import ITEM_COLUMNS, record_columns  # noqa: E402

MEAN_FILL = "tests.plugin_methods:mean_fill"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp / "cache"),
            "HARNESS_RUNS": str(tmp / "runs"), **extra}


def _kb(text: str, field: str) -> int:
    """A ``field:  N kB`` line of /proc's status or smaps_rollup, in kB."""
    return int(text.split(f"\n{field}:", 1)[1].split()[0])


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from the children files of every thread (Linux /proc)."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                queue += [int(child) for child in children.read_text().split()]
            except OSError:  # the thread or process ended meanwhile
                pass
    return found


class Footprint:
    """The memory of a process tree while it runs: per process its peak RSS (VmHWM, exact, but
    counting in every process the shared libraries it maps) and the peak of the tree's summed
    PSS (sampled; each shared page counted once, split among its sharers)."""

    def __init__(self, root: int):
        self.root, self.peak_rss, self.peak_pss = root, {}, 0

    def sample(self) -> None:
        total = 0
        for pid in _tree(self.root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:  # ended between the listing and the read
                continue
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), _kb(status, "VmHWM"))
            total += _kb("\n" + rollup, "Pss")
        self.peak_pss = max(self.peak_pss, total)


def _available_mb() -> float:
    return _kb("\n" + Path("/proc/meminfo").read_text(), "MemAvailable") / 1024


def _timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int, Footprint]:
    """Wall and CPU seconds, exit code and footprint of ``command`` (its output in ``log``)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        footprint = Footprint(proc.pid)
        while proc.poll() is None:
            footprint.sample()
            time.sleep(0.25)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.returncode, footprint


def _digest(run_dir: Path) -> str:
    """sha256 over every method's records.csv and set_metrics.csv and results.json."""
    digest = hashlib.sha256()
    for path in sorted([*run_dir.glob("methods/*/records.csv"), *run_dir.glob("methods/*/set_metrics.csv"),
                        run_dir / "results.json"]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


# --- real: torchrun over gloo -----------------------------------------------------------------------

def _images(folder: Path, count: int) -> None:
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "images" / f"im{i:06d}.png")


def real(procs: list[int], items: list[int], set_metrics: str = "") -> None:
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        _images(tmp / "data", max(items))
        print(f"\n## real: telea on tiny images over gloo{', set metrics ' + set_metrics if set_metrics else ''} "
              f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, {_available_mb() / 1024:.1f} GB available)")
        print(f"{'processes':>9s} {'items':>6s} {'wall s':>7s} {'CPU s':>7s} {'wall ms/item':>12s} "
              f"{'peak RSS/process MB':>19s} {'peak PSS total MB':>17s} records")
        costs: dict[tuple[int, int], tuple[float, float]] = {}  # (processes, items): wall and CPU seconds
        reference: dict[int, str] = {}
        per_process = 0.0  # PSS per process of the case with the most processes so far (fewer share less)
        for n in items:
            for p in procs:
                case = tmp / f"p{p}-n{n}"
                needed = 1.25 * p * per_process
                if needed > _available_mb():
                    print(f"{p:9d} {n:6d} skipped: needs about {needed / 1024:.1f} GB, "
                          f"{_available_mb() / 1024:.1f} GB available")
                    continue
                args = ["run", "--methods", "telea", "--dataset", "folder", "--data-root", str(tmp / "data"), "--masks",
                        "generated", "--buckets", "0-60", "--size", "32", "--limit", str(n), "--no-lpips",
                        "--no-progress", "--out", str(case / "runs")]
                if set_metrics:  # e.g. FID: the offline Inception trunk in every process
                    args += ["--set-metrics", set_metrics, "--set-bootstrap", "0"]
                command = [sys.executable, "-m", "harness", *args] if p == 1 else [
                    sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={p}", "-m",
                    "harness", *args]
                wall, cpu, code, footprint = _timed(command, _env(case, OMP_NUM_THREADS="1"), case / "log.txt")
                if code:
                    errors = [l for l in (case / "log.txt").read_text().splitlines() if "rror" in l]
                    print(f"{p:9d} {n:6d} failed (exit {code}): {errors[-3:]}")
                    continue
                if p >= max((q for q, _ in costs), default=0):
                    per_process = footprint.peak_pss / 1024 / p
                workers = [rss for pid, rss in footprint.peak_rss.items() if p == 1 or pid != footprint.root]
                [run_dir] = (case / "runs").iterdir()
                digest = _digest(run_dir)
                reference.setdefault(n, digest)
                same = "identical to 1 process" if digest == reference[n] else f"DIFFERENT ({digest})"
                print(f"{p:9d} {n:6d} {wall:7.1f} {cpu:7.1f} {1000 * wall / n:12.1f} {max(workers) / 1024:19.0f} "
                      f"{footprint.peak_pss / 1024:17.0f} {same}")
                costs[p, n] = wall, cpu
                subprocess.run(["rm", "-rf", str(case / "cache")], check=True)
        if len(items) == 2:
            low, high = sorted(items)
            print("marginal ms per item, wall / CPU (between the two item counts, start-up excluded): " + ", ".join(
                f"{p} proc: {1000 * (costs[p, high][0] - costs[p, low][0]) / (high - low):.1f} / "
                f"{1000 * (costs[p, high][1] - costs[p, low][1]) / (high - low):.1f}"
                for p in procs if (p, low) in costs and (p, high) in costs))
        print("peak RSS/process: the largest VmHWM of one process (the torchrun launcher left out; the shared "
              "libraries count in each); peak PSS total: the whole tree's, launcher included, shared pages once")


# --- synthetic: the reducer in metrics-only mode ----------------------------------------------------

BUCKETS = ("0-20", "20-40", "40-60")


def synthetic_run(root: Path, count: int, parts: int = 16) -> Path:
    """A run folder with a manifest of ``count`` items and ``parts`` parts of one method's records."""
    spec = RunSpec(size=32, buckets=",".join(BUCKETS))
    rng = np.random.default_rng(count)
    per_bucket = -(-count // len(BUCKETS))
    ids = [f"img{i:07d}|gen-{b}-{i:07d}" for b in BUCKETS for i in range(per_bucket)][:count]
    buckets = [BUCKETS[k // per_bucket] for k in range(count)]
    ratio, psnr, ssim, l1 = rng.random(count) * 0.6, 20 + 10 * rng.random(count), rng.random(count), 10 * rng.random(count)
    fingerprint = sha256_json(["synthetic", count])
    run_dir = root / f"synthetic-{count}"
    manifest = [{"item_id": ids[k], "bucket": buckets[k], "image_id": ids[k].split("|")[0], "mask_id": ids[k].split("|")[1],
                 "hole_ratio": f"{ratio[k]:.6f}", "source_bin": "", "image_sha256": "0" * 64, "mask_sha256": "1" * 64}
                for k in range(count)]
    atomic_write_text(run_dir / "manifest.csv", csv_text(manifest, list(manifest[0])))
    atomic_write_text(run_dir / "spec.json", json.dumps(spec.to_dict(), indent=2, sort_keys=True))
    atomic_write_text(run_dir / "run.json", json.dumps({"run": run_dir.name, "data_fingerprint": fingerprint,
                                                        "protocol": spec.describe(), "deviations": spec.deviations(),
                                                        "bucket_sizes": {b: buckets.count(b) for b in BUCKETS},
                                                        "items": count, "input_failures": 0}))
    atomic_write_text(run_dir / "input_failures.csv", "method,item_id,stage,reason,bucket\n")
    metrics = ["PSNR", "SSIM", "L1"]
    columns = record_columns(metrics)
    info = {"label": "synthetic", "method": "synthetic", "identity": {}, "identity_sha": sha256_json(["synthetic", {}]),
            "profile": {"name": "paper"}, "metrics": metrics}
    owner = (np.arange(count) // 8) % parts  # whole batches of 8 dealt round the parts
    for part in range(parts):
        mine = np.flatnonzero(owner == part)
        rows = [[ids[k], buckets[k], manifest[k]["image_id"], manifest[k]["mask_id"], repr(float(ratio[k])), "ok", "", "",
                 repr(float(psnr[k])), repr(float(ssim[k])), repr(float(l1[k])), "0.0", f"{k:032x}"] for k in mine]
        meta = {"record": info, "metrics": metrics, "data_fingerprint": fingerprint, "predicted": len(mine),
                "scored": len(mine), "damaged": [], "failures": [], "set_metrics": [], "bootstrap": 0, "seed": 0,
                "features_identity": ""}
        write_part(run_dir / "methods" / "synthetic", part, parts, meta, columns, rows, {})
    assert columns[: len(ITEM_COLUMNS)] == ITEM_COLUMNS
    return run_dir


def synthetic(counts: list[int]) -> None:
    from harness.engine.reduce import reduce_run

    print(f"\n## synthetic: the reducer in metrics-only mode, 16 parts (load {os.getloadavg()[0]:.1f})")
    print(f"{'items':>9s} {'reduce s':>9s} {'us/item':>8s} {'FID sums us/item (D=64)':>24s} {'part bytes/item':>16s}")
    per_item = {}
    with tempfile.TemporaryDirectory() as tmp_:
        for count in counts:
            run_dir = synthetic_run(Path(tmp_), count)
            start = time.perf_counter()
            reduce_run(run_dir)
            seconds = time.perf_counter() - start
            per_item[count] = seconds / count
            part_bytes = sum(p.stat().st_size for p in (run_dir / "parts").rglob("*") if p.is_file())
            rng, start = np.random.default_rng(0), time.perf_counter()
            sums = [FrechetSums.of(rng.random((count // 16, 64), dtype=np.float32)) for _ in range(16)]
            FrechetSums.merge(sums)
            sums_seconds = time.perf_counter() - start
            print(f"{count:9d} {seconds:9.2f} {1e6 * per_item[count]:8.1f} {1e6 * sums_seconds / count:24.2f} "
                  f"{part_bytes / count:16.1f}")
            for path in sorted(run_dir.parent.glob("*")):
                subprocess.run(["rm", "-rf", str(path)], check=True)
    print(f"largest / smallest per-item time: {per_item[max(counts)] / per_item[min(counts)]:.2f}")


# --- drill ------------------------------------------------------------------------------------------

def _harness(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def _last(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1]


def drill() -> None:
    print(f"\n## drill (load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        args = ["run", "--methods", MEAN_FILL, "--limit", "3", "--size", "32", "--batch-size", "1", "--no-lpips",
                "--no-progress"]
        assert _harness(args, _env(tmp / "single")).returncode == 0
        [single] = (tmp / "single" / "runs").iterdir()
        env = _env(tmp / "shared")
        shards = [subprocess.Popen([sys.executable, "-m", "harness", *args, "--shard", f"{i}/3"], cwd=ROOT,
                                   env={**env, "MEAN_FILL_DELAY": "600" if i == 1 else "0"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(3)]
        for i in (0, 2):
            assert shards[i].wait(timeout=600) == 0
        time.sleep(2)
        os.kill(shards[1].pid, signal.SIGKILL)
        shards[1].wait()
        [run_dir] = [p for p in (tmp / "shared" / "runs").iterdir() if (p / "run.json").is_file()]
        done = _harness(["reduce", "--run", str(run_dir)], env)
        print(f"killed shard 1/3 (SIGKILL mid-run): reduce exit {done.returncode}: {_last(done.stderr)}")
        assert done.returncode == 2 and "shard 1/3" in done.stderr
        assert _harness([*args, "--shard", "1/3"], env).returncode == 0
        done = _harness(["reduce", "--run", str(run_dir)], env)
        same = _digest(run_dir) == _digest(single)
        print(f"shard 1/3 run again, reduce exit {done.returncode}; records equal one process's: {same}")
        assert done.returncode == 0 and same
        subprocess.run(["rm", "-rf", str(next((run_dir / "parts").iterdir()) / "3-2")], check=True)
        done = _harness(["reduce", "--run", str(run_dir)], env)
        print(f"part 2/3 deleted (lost): reduce exit {done.returncode}: {_last(done.stderr)}")
        assert done.returncode == 2 and "shard 2/3" in done.stderr
        start = time.perf_counter()
        assert _harness([*args, "--shard", "2/3"], env).returncode == 0
        rerun = time.perf_counter() - start
        done = _harness(["reduce", "--run", str(run_dir)], env)
        print(f"shard 2/3 run again ({rerun:.1f} s, from the cache), reduce exit {done.returncode}; "
              f"records equal one process's: {_digest(run_dir) == _digest(single)}")
        _killed_reducer(tmp)


def _killed_reducer(tmp: Path, count: int = 200_000) -> None:
    """A reducer killed at several moments, then run again: whole files only, then the clean bytes."""
    run_dir = synthetic_run(tmp / "big", count)
    env = _env(tmp / "big")
    start = time.perf_counter()
    assert _harness(["reduce", "--run", str(run_dir)], env).returncode == 0
    full = time.perf_counter() - start
    clean = _digest(run_dir)
    for fraction in (0.6, 0.75, 0.85, 0.92, 0.97):
        for path in [*run_dir.glob("methods/*/*"), run_dir / "results.json", run_dir / "records.parquet"]:
            path.unlink(missing_ok=True)  # each kill on a run not reduced yet
        proc = subprocess.Popen([sys.executable, "-m", "harness", "reduce", "--run", str(run_dir)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        present = sorted(p.name for p in run_dir.glob("methods/*/*")) + \
            [p.name for p in (run_dir / "results.json", run_dir / "records.parquet") if p.exists()]
        strays = list(run_dir.rglob(".tmp-*"))
        records = run_dir / "methods" / "synthetic" / "records.csv"
        whole = not records.exists() or records.read_text().count("\n") == count + 1
        print(f"reducer of {count} items killed at {fraction:.0%} of its {full:.1f} s: files {present or 'none'}, "
              f"{len(strays)} stray temporary file(s), records.csv whole or absent: {whole}")
        done = _harness(["reduce", "--run", str(run_dir)], env)
        print(f"  run again: exit {done.returncode}, same bytes as an uninterrupted reduce: {_digest(run_dir) == clean}, "
              f"stray temporary files left: {len(list(run_dir.rglob('.tmp-*')))}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="real,synthetic,drill")
    parser.add_argument("--procs", default="1,4,16", help="process counts of the real section (1: a plain process)")
    parser.add_argument("--items", default="48,192", help="item counts of the real section")
    parser.add_argument("--set-metrics", default="", help="real section: also these set-level metrics, e.g. FID "
                        "(records and set_metrics.csv are then compared across process counts)")
    parser.add_argument("--synthetic", default="1000,10000,100000,1000000", help="item counts of the synthetic section")
    args = parser.parse_args()
    sections = args.sections.split(",")
    if "real" in sections:
        real([int(v) for v in args.procs.split(",")], [int(v) for v in args.items.split(",")], args.set_metrics)
    if "synthetic" in sections:
        synthetic([int(v) for v in args.synthetic.split(",")])
    if "drill" in sections:
        drill()


if __name__ == "__main__":
    main()
