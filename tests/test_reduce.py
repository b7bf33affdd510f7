"""Shared runs without a process that reads everything back: the manifest built in shares, per-part
results merged by the reducer into the single-process files, a missing or foreign part refused
by name, a reducer restarted after a kill, and FID statistics merged from sums."""
import json
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import harness.data.manifest as manifest_module
from harness.cli import main
from harness.config import RunConfig
from harness.data.manifest import Share, build_manifest
from harness.data.spec import RunSpec
from harness.engine.distributed import Shard
from harness.engine.reduce import reduce_run
from harness.engine.runner import run
from harness.metrics import mat
from harness.metrics.inception import InceptionFeatures
from harness.metrics.mergeable import FrechetSums, frechet_from_sums
from harness.metrics.setlevel import frechet_distance
from harness.store import records as records_module
from harness.store.parts import PartsError
from tests.test_distributed import MEAN_FILL, NO_LPIPS, _same_run
from tests.test_set_metrics_run import Probe

SPEC = RunSpec(limit=3, size=32)
METHODS = ["telea", MEAN_FILL]


# --- the manifest in shares ------------------------------------------------------------------


def count_decodes(monkeypatch) -> Counter:
    """Images decoded while a manifest is built, by (thread name, image id): each process of
    _Processes is a thread."""
    decoded = Counter()
    original = manifest_module._decode_one

    def counting(spec_, image):
        decoded[threading.current_thread().name, image.id] += 1
        return original(spec_, image)

    monkeypatch.setattr(manifest_module, "_decode_one", counting)
    return decoded

class _Processes:
    """``count`` processes as threads: their ``gather`` is an all-gather over a barrier."""

    def __init__(self, count: int):
        self.count, self.slots, self.barrier = count, [None] * count, threading.Barrier(count)

    def share(self, index: int) -> Share:
        def gather(value):
            self.slots[index] = value
            self.barrier.wait()
            everyone = list(self.slots)
            self.barrier.wait()  # nobody overwrites a slot before everyone has read it
            return everyone

        return Share(index, self.count, gather)

    def build(self, spec: RunSpec, cache_root: Path) -> list:
        built = [None] * self.count

        def one(index):
            built[index] = build_manifest(spec, cache_root=cache_root, roots={}, share=self.share(index))

        threads = [threading.Thread(target=one, args=(i,), name=f"process-{i}") for i in range(self.count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return built


def _folder(root: Path, count: int) -> None:
    """Images (one broken, one tiny: upscaled) with masks of their own, and a pool of masks."""
    rng = np.random.default_rng(1)
    for sub in ("images", "masks", "pool"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        side = 6 if i == 2 else 40
        Image.fromarray(rng.integers(0, 256, (side, side + 5, 3), dtype=np.uint8)).save(root / "images" / f"im{i}.png")
        for folder, rows in (("masks", 4 + 3 * i), ("pool", 2 + 2 * i)):
            mask = np.zeros((40, 40), np.uint8)
            mask[:rows] = 255
            Image.fromarray(mask).save(root / folder / f"im{i}.png")
    (root / "images" / "im3.png").write_bytes(b"broken")


@pytest.mark.parametrize("masks", [None, "folder", "generated"])
def test_a_manifest_built_in_shares_is_the_single_process_one_and_decodes_each_image_once(tmp_path, monkeypatch, masks):
    _folder(tmp_path / "data", 7)
    spec = RunSpec(dataset="folder", data_root=str(tmp_path / "data"), size=32, masks=masks,
                   mask_root=str(tmp_path / "data" / "pool") if masks == "folder" else None, buckets="0-20,20-40")
    alone = build_manifest(spec, cache_root=tmp_path / "cache-alone", roots={})
    decoded = count_decodes(monkeypatch)
    for count in (2, 3):
        decoded.clear()
        shared = _Processes(count).build(spec, tmp_path / f"cache-{count}")
        for manifest in shared:
            assert manifest.to_csv() == alone.to_csv() and manifest.fingerprint() == alone.fingerprint()
            assert manifest.failures == alone.failures and manifest.decoded == alone.decoded
            assert manifest.upscaled == alone.upscaled and manifest.unused_masks == alone.unused_masks
        assert set(decoded.values()) == {1}  # every image decoded once, by one process
        assert len({process for process, _ in decoded}) == min(count, len(decoded))
    assert "im3.png" in alone.decoded.broken and alone.upscaled  # the broken and the tiny image were merged too


def test_a_share_that_fails_ends_every_process_with_its_error():
    processes = _Processes(2)
    errors = [None, None]

    def one(index):
        try:
            processes.share(index).map(lambda x: 1 // (x - 3), list(range(6)), "dividing")
        except ValueError as error:
            errors[index] = str(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == ["dividing: process 1 of 2 failed: ZeroDivisionError: integer division or modulo by zero"] * 2


# --- parts and the reducer ----------------------------------------------------------------------

def _evaluate(out: Path, shard: Shard | None = None, methods=METHODS):
    extractor = InceptionFeatures.from_module(Probe(), "probe")
    return run(RunConfig.of(SPEC, methods, out=out, metrics=NO_LPIPS, set_metrics=("FID", "KID"), extractor=extractor,
                            set_bootstrap=5, shard=shard))


@pytest.fixture
def single(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("single")
    monkeypatch.setenv("HARNESS_CACHE", str(root / "cache"))
    _evaluate(root / "runs")
    return root / "runs"


def _shards(tmp_path: Path, monkeypatch, indices, count: int) -> Path:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-shared"))
    for index in indices:
        run_dir = _evaluate(tmp_path / "sharded", Shard(index, count)).run_dir
    return run_dir


def test_a_missing_or_lost_part_is_refused_by_name_and_its_rerun_completes_the_run(tmp_path, monkeypatch, single):
    run_dir = _shards(tmp_path, monkeypatch, [0, 2], 3)
    with pytest.raises(PartsError, match=r"1 of 3 parts missing \(shard 1/3\).*--shard 1/3"):
        reduce_run(run_dir)
    assert not list(run_dir.rglob("records.csv"))  # nothing written from two thirds of the items
    _shards(tmp_path, monkeypatch, [1], 3)
    assert main(["reduce", "--run", str(tmp_path / "sharded")]) == 0  # a runs folder: each of its runs with parts
    _same_run(single, tmp_path / "sharded")
    shutil.rmtree(run_dir / "parts" / "telea" / "3-0")  # a part lost after the fact
    with pytest.raises(PartsError, match=r"telea: 1 of 3 parts missing \(shard 0/3\)"):
        reduce_run(run_dir)
    assert main(["reduce", "--run", str(run_dir)]) == 2  # one error line, exit code 2
    assert main(["reduce", "--run", str(tmp_path / "cache-shared")]) == 2  # neither a run nor runs with parts


def test_the_reducer_refuses_parts_that_do_not_belong_together(tmp_path, monkeypatch):
    run_dir = _shards(tmp_path, monkeypatch, [0, 1], 2)
    parts = run_dir / "parts" / "telea"
    shutil.copytree(parts / "2-0", parts / "3-0")
    with pytest.raises(PartsError, match="3-0: its part.json is part 0 of 2"):  # a part renamed by hand
        reduce_run(run_dir, ["telea"])
    meta = json.loads((parts / "3-0" / "part.json").read_text())
    (parts / "3-0" / "part.json").write_text(json.dumps({**meta, "count": 3}))  # a stray part of another split
    with pytest.raises(PartsError, match="split 2 and 3 ways"):
        reduce_run(run_dir, ["telea"])
    shutil.rmtree(parts / "3-0")
    (run_dir / "run.json").write_text(json.dumps({**json.loads((run_dir / "run.json").read_text()), "data_fingerprint": "x"}))
    with pytest.raises(PartsError, match="made for other data"):
        reduce_run(run_dir, ["telea"])
    (run_dir / "run.json").write_text(json.dumps({**json.loads((run_dir / "run.json").read_text()),
                                                  "data_fingerprint": meta["data_fingerprint"]}))
    shutil.copy(parts / "2-0" / "records.parquet", parts / "2-1" / "records.parquet")  # an item in two parts
    with pytest.raises(PartsError, match="is in two parts"):
        reduce_run(run_dir, ["telea"])



def test_a_reducer_killed_mid_write_then_run_again_writes_the_same_bytes(tmp_path, monkeypatch, single):
    run_dir = _shards(tmp_path, monkeypatch, [0, 1], 2)
    real_write, writes = records_module.atomic_write_text, []

    def dying(path, text):
        if len(writes) == 2:  # the second method's records: killed after the first method's files
            raise KeyboardInterrupt
        writes.append(path)
        real_write(path, text)

    monkeypatch.setattr(records_module, "atomic_write_text", dying)
    with pytest.raises(KeyboardInterrupt):
        reduce_run(run_dir)
    assert not list(run_dir.rglob(".tmp-*")) and not (run_dir / "results.json").exists()
    monkeypatch.setattr(records_module, "atomic_write_text", real_write)
    reduce_run(run_dir)
    _same_run(single, tmp_path / "sharded")
    first = {p: p.read_bytes() for p in run_dir.rglob("*.csv")}
    reduce_run(run_dir)  # and once more: the same bytes
    assert first == {p: p.read_bytes() for p in run_dir.rglob("*.csv")}


# --- FID from merged sums -----------------------------------------------------------------------

def _features(seed: int, n: int, d: int, noise: float):
    rng = np.random.default_rng(seed)
    real = rng.gamma(2.0, 0.2, (n, d)).astype(np.float32)  # non-negative, as Inception's pool features
    fake = np.abs(real + rng.normal(0, noise, (n, d))).astype(np.float32)
    return real.astype(np.float64), fake.astype(np.float64), rng


@pytest.mark.parametrize("noise", [0.5, 0.02])
def test_fid_from_sums_merged_over_any_split_is_the_single_process_fid(noise):
    real, fake, rng = _features(0, 400, 48, noise)
    references = {1: frechet_distance(real, fake), 0: mat.fid(real, fake)}  # np.cov (N-1); MAT's 1/N
    scale = np.trace(np.cov(real.T)) + np.trace(np.cov(fake.T))  # the terms FID's value is a difference of
    for parts in (1, 2, 3, 16):
        cuts = np.sort(rng.choice(np.arange(1, len(real)), parts - 1, replace=False))
        sums = [FrechetSums.merge(FrechetSums.of(x) for x in np.split(features, cuts)) for features in (real, fake)]
        assert sums[0].count == len(real)
        mean, cov = sums[0].statistics(1)
        assert np.abs(mean - real.mean(0)).max() <= 1e-15 * np.abs(real.mean(0)).max()
        assert np.abs(cov - np.cov(real.T)).max() <= 1e-13 * np.abs(np.cov(real.T)).max()
        for ddof, reference in references.items():
            value = frechet_from_sums(*sums, ddof)
            assert abs(value - reference) <= 1e-14 * scale  # float64 rounding of the sums, nothing more
            if noise == 0.5:  # well apart: within 1e-12 of the value itself
                assert abs(value - reference) <= 1e-12 * reference
    with pytest.raises(ValueError, match="more than 1"):
        FrechetSums.of(real[:1]).statistics(1)


def test_a_shard_says_where_its_part_is_and_which_command_merges_the_parts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    args = ["run", "--methods", "telea", "--limit", "1", "--size", "32", "--no-lpips", "--no-progress", "--out",
            str(tmp_path / "runs"), "--shard"]
    assert main([*args, "1/2"]) == 0
    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if (p / "run.json").is_file()]
    err = capsys.readouterr().err
    assert f"shard 1/2: 1 items of 1 method(s) done (1 predicted), its part in {run_dir / 'parts'}" in err
    assert f"`harness reduce --run {run_dir}` writes the records" in err
    assert main([*args, "0/2"]) == 0 and main(["reduce", "--run", str(run_dir)]) == 0
    assert "telea: 3 scored, 0 failed, 3 predicted (merged from" in capsys.readouterr().err
