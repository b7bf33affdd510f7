"""Tar shards split over torchrun's ranks, as processes over gloo: 3 ranks on 8 local shards
stream each shard once (rank i % 3 streams shard i, per-rank logs of tests/shards_rank_probe.py)
and write the records, manifest and run.json of one process, which are those of the same images
as a folder; a damaged shard of rank 1 stops every rank with the line one process gives."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.data.datasets import load_dataset
from harness.data.shard_writer import write_shards
from harness.data.shards import shard_urls
from tests.test_distributed import _same_run
from tests.test_shards_split import _folder

ROOT = Path(__file__).resolve().parents[1]
WORLD = 3
ARGS = ["run", "--methods", "telea", "--size", "32", "--no-lpips", "--no-progress", "--buckets", "0-30,30-60"]


def _shards(tmp_path: Path) -> tuple[Path, str]:
    folder = _folder(tmp_path / "folder", 15, flaws=False)
    assert len(write_shards(load_dataset("folder", folder), tmp_path / "shards", per_shard=2).shards) == 8
    return folder, str(tmp_path / "shards/shards-{0000..0007}.tar")


def _torchrun(args: list[str], tmp_path: Path) -> tuple[int, str]:
    (tmp_path / "logs").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp_path / "cache-ranks"),
           "SHARD_OPEN_LOG": str(tmp_path / "logs"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
               "-m", "tests.shards_rank_probe", *args]
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout


def _opened(tmp_path: Path, rank: int) -> list[str]:
    log = tmp_path / "logs" / f"rank{rank}.log"
    return log.read_text().splitlines() if log.is_file() else []


@pytest.mark.slow  # three ranks, each importing torch: about 20 s on 2 busy cores
def test_three_ranks_stream_each_shard_once_and_write_the_one_process_run(tmp_path, monkeypatch):
    folder, pattern = _shards(tmp_path)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-single"))
    assert main([*ARGS, "--dataset", "shards", "--data-root", pattern, "--out", str(tmp_path / "single")]) == 0
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-folder"))
    assert main([*ARGS, "--dataset", "folder", "--data-root", str(folder), "--out", str(tmp_path / "folder-run")]) == 0
    code, out = _torchrun([*ARGS, "--dataset", "shards", "--data-root", pattern, "--out", str(tmp_path / "ranks")],
                          tmp_path)
    assert code == 0, out
    _same_run(tmp_path / "single", tmp_path / "ranks")  # manifest.csv, records, run.json (its shard counts) ...
    [ranks], [alone] = (list((tmp_path / name).iterdir()) for name in ("ranks", "folder-run"))
    for file in ("manifest.csv", "methods/telea/records.csv"):  # ... and the folder's
        assert (ranks / file).read_bytes() == (alone / file).read_bytes(), file
    urls = shard_urls(pattern)
    for rank in range(WORLD):  # each shard streamed once, by its rank; a local one is read in place, never again
        assert _opened(tmp_path, rank) == [f"stream {url}" for url in urls[rank::WORLD]], rank


@pytest.mark.slow
def test_a_damaged_shard_of_rank_1_stops_every_rank_with_its_line(tmp_path, capsys):
    _, pattern = _shards(tmp_path)
    damaged = tmp_path / "shards/shards-0004.tar"  # 4 % 3: rank 1's
    damaged.write_bytes(damaged.read_bytes()[:1500])
    args = [*ARGS, "--dataset", "shards", "--data-root", pattern, "--out", str(tmp_path / "runs")]
    assert main(args) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: {damaged}: damaged after 0 complete sample(s)") and "\n" not in line
    start = time.time()
    code, out = _torchrun(args, tmp_path)
    assert code != 0 and time.time() - start < 200
    assert out.count(line) == WORLD, out  # every rank ends on the one-process line, none waits for rank 1
    assert [(tmp_path / "logs" / f"rank{r}.exit").read_text() for r in range(WORLD)] == ["2"] * WORLD
    assert f"stream {damaged}" in _opened(tmp_path, 1)
    assert all(f"stream {damaged}" not in _opened(tmp_path, r) for r in (0, 2))
