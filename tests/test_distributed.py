"""Scale-out: the plan shares every method and bucket in whole batches; torchrun ranks and
independent shards (--shard I/N, then a plain run) write the single-process records byte for
byte, also after a rank is killed with kill -9 and the command run again."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.engine import pipeline
from harness.store.cache import Cache
from harness.cli import main
from harness.engine.distributed import Shard, from_environment, parse_shard, plan
from harness.data.manifest import ManifestItem
from harness.metrics.inception import InceptionFeatures
from harness.config import RunConfig
from harness.engine.runner import run
from harness.data.spec import RunSpec
from tests.plugin_methods import MeanFill
from tests.test_set_metrics_run import Probe

ROOT = Path(__file__).resolve().parents[1]
MEAN_FILL = "tests.plugin_methods:mean_fill"
NO_LPIPS = ("PSNR", "SSIM", "L1")
#: method.json fields that describe the writing, not the result: when it was written and, for a
#: rerun that resumes, what that command itself predicted and scored.
PROCESS_FIELDS = ("written", "predicted", "scored")


def _items(sizes: dict[str, int]) -> list[ManifestItem]:
    return [ManifestItem(f"{b}/{i}", b, f"i{i}", f"m{i}", 0.1, "", "x", "y") for b, n in sizes.items() for i in range(n)]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("sizes", [(7, 5, 1), (4, 4, 4), (0, 9, 2)])
def test_plan_gives_every_item_once_in_whole_batches_and_a_share_of_every_method_and_bucket(count, sizes):
    items = _items(dict(zip(("0-20", "20-40", "40-60"), sizes)))
    methods = [("slow", 1), ("batched", 3), ("pairs", 2), ("big", 4)]
    parts = plan(methods, items, count)
    assert parts == plan(methods, items, count)  # every process computes the same plan
    for label, batch in methods:
        owner = {}
        for rank, rank_parts in enumerate(parts):
            for part_label, part in rank_parts:
                if part_label == label:
                    for item in part:
                        assert item.item_id not in owner, "an item given twice"
                        owner[item.item_id] = rank
        assert sorted(owner) == sorted(i.item_id for i in items)
        loads = [sum(1 for r in owner.values() if r == rank) for rank in range(count)]
        assert max(loads) - min(loads) <= batch  # each process does its share of each method
        for bucket in ("0-20", "20-40", "40-60"):
            stratum = [i for i in items if i.bucket == bucket]
            grid = [stratum[k : k + batch] for k in range(0, len(stratum), batch)]
            batches = []
            for rank in range(count):
                mine = [i for i in stratum if owner[i.item_id] == rank]
                chunks = [mine[k : k + batch] for k in range(0, len(mine), batch)]
                assert all(chunk in grid for chunk in chunks)  # the batches a single process forms
                batches.append(len(chunks))
            assert max(batches) - min(batches) <= 1  # a bucket of large holes is shared like the rest


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="0 <= I < N"):
            parse_shard(bad)


def test_under_torchrun_cuda_means_the_rank_s_gpu_and_shards_keep_the_device_given(monkeypatch):
    import torch

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(pipeline, "cores", lambda: 16)  # the cores this process may use
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    rank = Shard(3, 4, local=3, group=object())
    assert rank.settings(None, "cuda", None, False) == ("cuda:1", "cuda:1", 3)  # 4 ranks on 2 GPUs and 16 cores
    assert chosen == [1]
    assert rank.settings("cpu", None, 2, False) == ("cpu", None, 2)
    assert Shard(0, 2).settings(None, None, None, False) == (None, None, None)  # --shard: as given
    with pytest.raises(ValueError, match="one process"):
        rank.settings(None, None, None, True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="independent processes"):
        from_environment("0/2")


def _same_run(a: Path, b: Path) -> None:
    """Two runs folders hold the same run, byte for byte (method.json: but for PROCESS_FIELDS; the
    parts of a shared run are left out)."""
    [run_a], [run_b] = list(a.iterdir()), list(b.iterdir())

    def listing(run: Path) -> list[Path]:
        return sorted(p.relative_to(run) for p in run.rglob("*") if p.is_file() and p.relative_to(run).parts[0] != "parts")

    files = listing(run_a)
    assert files == listing(run_b)
    assert any(f.name == "records.csv" for f in files)
    for name in files:
        if name.name == "method.json":
            first, second = (json.loads((root / name).read_text()) for root in (run_a, run_b))
            assert {k: v for k, v in first.items() if k not in PROCESS_FIELDS} == \
                   {k: v for k, v in second.items() if k not in PROCESS_FIELDS}, name
        else:
            assert (run_a / name).read_bytes() == (run_b / name).read_bytes(), name


def _report(root: Path, capsys) -> str:
    assert main(["report", "--runs", str(root)]) == 0
    return capsys.readouterr().out


def test_shards_then_the_reducer_or_a_plain_run_write_the_single_process_records_and_set_metrics(tmp_path, monkeypatch,
                                                                                                   capsys):
    spec, methods = RunSpec(limit=2, size=32), ["telea", MEAN_FILL]

    def evaluate(out: Path, shard: Shard | None = None):
        extractor = InceptionFeatures.from_module(Probe(), "probe")
        return run(RunConfig.of(spec, methods, out=out, metrics=NO_LPIPS, set_metrics=("FID", "KID"),
                   extractor=extractor, set_bootstrap=5, shard=shard))

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-single"))
    evaluate(tmp_path / "single")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-shared"))
    shards = [Shard(0, 2), Shard(1, 2)]
    for shard in shards:
        run_dir = evaluate(tmp_path / "sharded", shard).run_dir
        assert not list((tmp_path / "sharded").rglob("records.csv"))  # a shard writes its part, no records
    assert main(["report", "--runs", str(tmp_path / "sharded")]) == 0
    err = capsys.readouterr().err  # report says what is left to run
    assert "shard(s) 0/2, 1/2 done and cached" in err and f"harness reduce --run {run_dir}" in err
    assert [s.done for s in shards] == [{"telea": (3, 3), MEAN_FILL: (3, 3)}] * 2
    assert main(["reduce", "--run", str(run_dir)]) == 0
    assert "| telea" in capsys.readouterr().out  # the table, as the run prints it
    _same_run(tmp_path / "single", tmp_path / "sharded")
    assert _report(tmp_path / "single", capsys) == _report(tmp_path / "sharded", capsys)
    assert not (tmp_path / "sharded" / ".shards").exists()  # the notes have served
    MeanFill.calls = 0
    merged = evaluate(tmp_path / "sharded")  # the plain command after the shards: the same, all from the cache
    assert MeanFill.calls == 0 and [m.predicted for m in merged.methods] == [0, 0]
    assert all(len(m.set_rows) == 6 for m in merged.methods)
    _same_run(tmp_path / "single", tmp_path / "sharded")


def _env(tmp_path: Path, cache: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp_path / cache), **extra}


def _torchrun(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "harness", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _outputs_per_pack(cache: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in Cache(cache).entries():
        if entry.header["kind"] == "output":
            found.setdefault(entry.path.name, set()).add(entry.header["key"])
    return found


@pytest.mark.slow  # two torchrun ranks, each importing torch: 15 s on 2 cores at load 3
def test_torchrun_two_ranks_write_the_single_process_records(tmp_path, capsys):
    args = ["run", "--methods", "telea,misf", "--checkpoint", "misf=random", "--limit", "2", "--size", "32",
            "--no-lpips", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "single")]) == 0
    proc = _torchrun([*args, "--out", str(tmp_path / "ranks")], _env(tmp_path, "cache-ranks"))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "rank 1: 6 items of 2 method(s) done (6 predicted)" in out and out.count("| telea") == 1
    _same_run(tmp_path / "single", tmp_path / "ranks")
    info = json.loads(next((tmp_path / "ranks").rglob("telea/method.json")).read_text())
    assert info["predicted"] == 6  # the records count the work of both ranks
    packs = _outputs_per_pack(tmp_path / "cache-ranks")
    assert sorted(len(keys) for keys in packs.values()) == [3, 3, 3, 3]  # per method, each rank predicted half
    assert len(set.union(*packs.values())) == 12


@pytest.mark.slow
def test_a_rank_killed_with_kill_9_then_the_same_command_gives_the_single_process_records(tmp_path, capsys):
    args = ["run", "--methods", MEAN_FILL, "--limit", "3", "--size", "48", "--batch-size", "1", "--no-lpips",
            "--no-progress", "--out"]
    assert main([*args, str(tmp_path / "single")]) == 0
    pids = tmp_path / "pids"
    pids.mkdir()
    slow = _env(tmp_path, "cache-ranks", MEAN_FILL_DELAY="0.5", MEAN_FILL_PID_DIR=str(pids))
    proc = _torchrun([*args, str(tmp_path / "ranks")], slow)
    deadline = time.time() + 120
    rank1 = None
    while time.time() < deadline and proc.poll() is None:
        if (pids / "rank1.pid").is_file() and (pid := (pids / "rank1.pid").read_text()):
            if any(name.endswith(f"-{pid}.pack") for name in _outputs_per_pack(tmp_path / "cache-ranks")):
                rank1 = int(pid)
                break
        time.sleep(0.05)
    assert rank1 is not None, "rank 1 must have cached an item before it is killed"
    os.kill(rank1, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    killed_with = sum(len(keys) for keys in _outputs_per_pack(tmp_path / "cache-ranks").values())
    assert 1 <= killed_with < 9, "the kill must land mid-run"

    again = _torchrun([*args, str(tmp_path / "ranks")], _env(tmp_path, "cache-ranks"))
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    _same_run(tmp_path / "single", tmp_path / "ranks")
    info = json.loads(next((tmp_path / "ranks").rglob("method.json")).read_text())
    assert info["predicted"] == 9 - killed_with and info["complete"] is True  # only what was lost was redone


@pytest.mark.slow
def test_a_rank_that_hangs_stops_the_run_with_an_error_naming_it(tmp_path):
    args = ["run", "--methods", MEAN_FILL, "--limit", "1", "--size", "32", "--no-lpips", "--no-progress",
            "--rank-timeout", "4", "--out", str(tmp_path / "ranks")]
    start = time.time()
    proc = _torchrun(args, _env(tmp_path, "cache", MEAN_FILL_HANG_RANK="1"))
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0 and time.time() - start < 150
    # rank 1 is named (rank 0 too, should a loaded machine have kept it from finishing an item for 4 s)
    assert re.search(r"error: (rank 0, )?rank 1 finished no item for 4 s \(--rank-timeout\)", out), out
    assert "run the same command again" in out
