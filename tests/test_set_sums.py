"""Set-state sums: FID from exact integer sums that give the same bits for any split and order,
KID, P-/U-IDS and the intervals over a bottom-K blake2b sample that merges exactly, and a run in
that mode whose shards and reducer write the single process's files."""
import csv
import hashlib
import json

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.config import RunConfig
from harness.data.spec import RunSpec
from harness.engine.distributed import Shard
from harness.engine.reduce import reduce_run
from harness.engine.runner import run
from harness.metrics import mat
from harness.metrics.inception import InceptionFeatures
from harness.metrics.mergeable import (FEATURE_RANGE, FRACTION_BITS, BucketState, ExactSums, FrechetSums, bottom_k,
                                       frechet_from_sums)
from harness.metrics.setlevel import frechet_distance, kernel_inception_distance
from harness.store.parts import PartsError
from tests.test_distributed import _same_run
from tests.test_set_metrics_run import Probe


def _features(seed: int, n: int, d: int):
    rng = np.random.default_rng(seed)
    real = rng.gamma(2.0, 0.2, (n, d)).astype(np.float32)  # non-negative, as Inception's pool features
    fake = np.abs(real + rng.normal(0, 0.5, (n, d))).astype(np.float32)
    return real, fake, rng


def _split_sums(x: np.ndarray, parts: int, rng) -> ExactSums:
    """The sums of ``x`` cut at random places into ``parts``, each part's rows shuffled, merged in a random order."""
    cuts = np.sort(rng.choice(np.arange(1, len(x)), parts - 1, replace=False))
    pieces = []
    for piece in np.split(x, cuts):
        sums = ExactSums(x.shape[1])
        for rows in np.array_split(rng.permutation(piece), 3):  # batches of the part
            sums.add(rows)
        pieces.append(sums)
    return ExactSums.merge([pieces[i] for i in rng.permutation(parts)])


def test_exact_sums_give_the_same_bits_for_any_split_and_order_and_the_features_fid_within_1e_7():
    real, fake, rng = _features(0, 300, 24)
    values = {}
    for parts in (1, 3, 7):
        for _ in range(2):
            sums = [_split_sums(x, parts, rng) for x in (real, fake)]
            for ddof in (0, 1):
                values.setdefault(ddof, set()).add(frechet_from_sums(sums[0].frechet(), sums[1].frechet(), ddof).hex())
    assert all(len(v) == 1 for v in values.values())  # one value, bit for bit, whatever the split
    one = {ddof: float.fromhex(v.pop()) for ddof, v in values.items()}
    # independent references on the same features: torch-fidelity's statistics (N-1), MAT's code (1/N)
    for ddof, reference in ((1, frechet_distance(real, fake)), (0, mat.fid(real, fake))):
        assert one[ddof] != reference  # a different computation (rounding to the fixed point) ...
        assert abs(one[ddof] - reference) <= 1e-7 * reference  # ... that differs by far less than 1e-6 (2.4e-9 here)


def test_exact_sums_are_the_integer_sums_past_the_float64_limit_and_refuse_what_they_cannot_hold():
    rng = np.random.default_rng(1)
    # 2^20 + 7 rows near the range's edge: the limb sums move into int64 once, and every bit counts
    x = (FEATURE_RANGE - rng.random((2 ** 20 + 7, 2)) * 2.0 ** -10) * rng.choice([-1, 1], (2 ** 20 + 7, 2))
    sums = ExactSums(2)
    for rows in np.array_split(x, 5):
        sums.add(rows)
    q = [[int(v) for v in np.rint(np.ldexp(x[:, j], FRACTION_BITS)).astype(np.int64)] for j in range(2)]
    limbs = sums.limbs
    for a in range(2):
        for b in range(2):
            exact = sum(u * v for u, v in zip(q[a], q[b]))  # Python integers: no rounding anywhere
            assert int(limbs[0, a, b]) * 2 ** 32 + int(limbs[1, a, b]) * 2 ** 16 + int(limbs[2, a, b]) == exact
    assert [int(t) for t in sums.total] == [sum(column) for column in q] and sums.count == len(x)
    stored = sums.packed()  # what a part stores: the upper triangle, high · 2^32 + low
    for (a, b), high, low in zip([(0, 0), (0, 1), (1, 1)], stored["high"], stored["low"]):
        assert 0 <= int(low) < 2 ** 32 and int(high) * 2 ** 32 + int(low) == sum(u * v for u, v in zip(q[a], q[b]))
    back = ExactSums.unpacked(stored)
    assert back.count == sums.count and np.array_equal(back.total, sums.total)
    assert all(np.array_equal(x, y) for x, y in zip(back.packed().values(), stored.values()))
    assert back.frechet().outer.tobytes() == sums.frechet().outer.tobytes()  # read back: the same floats
    merged = ExactSums.merge([back, sums])  # limbs of both forms add up to the same integers
    assert merged.frechet().outer.tobytes() == ExactSums.merge([sums, sums]).frechet().outer.tobytes()
    for bad in (FEATURE_RANGE, -FEATURE_RANGE - 1, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"outside the exact sums' declared range \(-256, 256\)"):
            ExactSums(2).add(np.array([[0.5, bad]]))
    with pytest.raises(ValueError, match=r"must be \[N, 2\]"):
        ExactSums(2).add(np.zeros((3, 4)))


def test_exact_sums_of_values_on_the_grid_are_their_float64_sums():
    """Features that are multiples of 2^-8 and small: float64 holds their sums exactly, so the
    fixed point must give exactly FrechetSums' numbers (no rounding at all)."""
    rng = np.random.default_rng(2)
    x = rng.integers(-2000, 2000, (50, 6)) / 256.0
    sums = ExactSums(6)
    sums.add(x)
    reference, exact = FrechetSums.of(x), sums.frechet()
    assert exact.count == 50 and np.array_equal(exact.total, reference.total) and np.array_equal(exact.outer, reference.outer)


def test_the_sample_is_the_bottom_k_of_blake2b_and_the_same_for_any_split():
    ids = [f"0-20/img{i:04d}.png" for i in range(500)]
    expected = sorted(ids, key=lambda i: hashlib.blake2b(i.encode(), digest_size=16).digest())[:40]
    assert bottom_k(ids, 40) == set(expected)
    assert bottom_k(ids[:30], 40) == set(ids[:30])  # fewer than K: all of them
    rng = np.random.default_rng(3)
    position = {item: n for n, item in enumerate(ids)}
    features = rng.random((500, 3))
    for parts in (1, 3, 7):
        cuts = np.sort(rng.choice(np.arange(1, 500), parts - 1, replace=False))
        states = []
        for rows in np.split(rng.permutation(500), cuts):
            rows = [r for r in rows if ids[r] in bottom_k(ids, 40)]  # each part keeps its items of the bucket's bottom 40
            sums = ExactSums(3)
            states.append(BucketState(sums, sums, [ids[r] for r in rows], features[rows], features[rows] * 2))
        merged = BucketState.merge(states, 40, position)
        assert merged.ids == sorted(expected, key=position.get)  # the one-process sample, in item order
        assert np.array_equal(merged.real_sample, features[[position[i] for i in merged.ids]])


# --- runs --------------------------------------------------------------------------------------

SPEC = RunSpec(limit=16, size=32, buckets="0-60")  # the sample dataset's 9 images
SETS = ("FID", "KID", "P-IDS", "U-IDS")


class SmallProbe(Probe):
    """Probe with 4 features: more items (9) than dimensions, so FID's covariances have full rank."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 4, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.3)
            self.conv.bias.zero_()


def _extractor():
    return InceptionFeatures.from_module(SmallProbe(), "small probe")


def _run(out, mode: str, sample: int = 10_000, shard: Shard | None = None):
    extractor = _extractor()
    return run(RunConfig.of(SPEC, ["telea"], out=out, metrics=("PSNR",), set_metrics=SETS, extractor=extractor,
                            set_bootstrap=3, set_state=mode, set_sample=sample, shard=shard))


def _set_rows(runs) -> dict[str, list[str]]:
    [run_dir] = runs.iterdir()
    lines = (run_dir / "methods" / "telea" / "set_metrics.csv").read_text().splitlines()
    return {line.split(",")[1]: line for line in lines[1:]}


def _values(line: str) -> list[str]:
    return line.split(",")[2:6]  # n, value, ci_low, ci_high


def _cached_features(runs, chosen: set[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) features of the run's items (``chosen``: of those only) from its cache, in item order."""
    from harness.engine.features import FeatureStore
    from harness.store.cache import Cache
    from harness.store.records import load_records

    [run_dir] = runs.iterdir()
    shas = {row["item_id"]: row["image_sha256"] for row in csv.DictReader((run_dir / "manifest.csv").open())}
    records = load_records(runs)
    picked = records if chosen is None else records[records["item_id"].isin(chosen)]
    store = FeatureStore(Cache(runs.parent / "cache"), _extractor(), 32)
    real, fake, bad = store.read(list(picked["cache_key"]), [shas[i] for i in picked["item_id"]])
    assert not bad
    return real, fake


@pytest.fixture
def features_run(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("features")
    monkeypatch.setenv("HARNESS_CACHE", str(root / "cache"))
    _run(root / "runs", "features")
    return root / "runs"


def test_a_sums_run_with_every_item_sampled_equals_the_features_run_bit_for_bit(tmp_path, monkeypatch, features_run):
    """With every scored item in the sample, sums mode computes every value from their features as
    features mode does: FID too (its sums would differ in the last digits), and the report has
    nothing to tell apart."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _run(tmp_path / "runs", "sums", sample=100)
    features, sums = _set_rows(features_run), _set_rows(tmp_path / "runs")
    for metric in ("FID", "KID×1000", "P-IDS", "U-IDS"):
        assert _values(sums[metric]) == _values(features[metric])  # the same items, order and seed: the same bits
        assert "all 9 scored items in the sample (--set-state sums)" in sums[metric]
        assert "sample" not in features[metric] and "exact sums" not in sums[metric]
    from harness.reports.report import render
    from harness.store.records import load_records, load_set_metrics

    report = render(load_records(tmp_path / "runs"), set_metrics=load_set_metrics(tmp_path / "runs"))
    assert "--set-state sums" not in report


def test_a_sampled_sums_run_in_shards_writes_the_single_process_files_and_kid_of_the_bottom_k(tmp_path, monkeypatch,
                                                                                             features_run):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-single"))
    _run(tmp_path / "single", "sums", sample=6)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-shards"))
    for index in (2, 0, 1):
        run_dir = _run(tmp_path / "shards", "sums", sample=6, shard=Shard(index, 3)).run_dir
    reduce_run(run_dir)
    _same_run(tmp_path / "single", tmp_path / "shards")  # records, set_metrics.csv, results.json: byte for byte
    rows = _set_rows(tmp_path / "single")
    assert "a sample of 6 of 9 items" in rows["KID×1000"] and _values(rows["KID×1000"])[0] == "6"
    # KID over the bottom 6 by blake2b, from the features run's cached features of those items
    from harness.engine.features import FeatureStore
    from harness.store.cache import Cache, truth_key
    from harness.store.records import load_records

    records = load_records(features_run)
    chosen = bottom_k(records["item_id"], 6)
    real, fake = _cached_features(features_run, chosen)
    assert len(real) == 6 and float(_values(rows["KID×1000"])[1]) == kernel_inception_distance(real, fake)[0] * 1000
    [run_dir_single] = (tmp_path / "single").iterdir()
    shas = {row["item_id"]: row["image_sha256"] for row in csv.DictReader((run_dir_single / "manifest.csv").open())}
    # the cache keeps no features at all: the sums and the sample's features are in the results (parts)
    single = FeatureStore(Cache(tmp_path / "cache-single"), _extractor(), 32)
    assert not any(single.cache.has_features(single.id, key) for key in records["cache_key"])
    assert not any(single.cache.has_features(single.id, truth_key(sha, 32)) for sha in shas.values())
    features_store = FeatureStore(Cache(features_run.parent / "cache"), _extractor(), 32)
    assert all(features_store.cache.has_features(features_store.id, truth_key(sha, 32)) for sha in shas.values())
    kept_by_parts = []
    for index in range(3):  # each part: the sums of its 3 scored items, the features of those in the sample
        with np.load(run_dir / "parts" / "telea" / f"3-{index}" / "features.npz") as stored:
            kept_by_parts += list(stored["0.ids"])
            assert int(stored["0.sums.real.count"]) == int(stored["0.sums.fake.count"]) == 3 >= len(stored["0.real"])
    assert sorted(kept_by_parts) == sorted(chosen)  # 6 in all, whatever the split


def test_the_reducer_refuses_parts_of_another_set_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _run(tmp_path / "runs", "sums", sample=6, shard=Shard(0, 2))
    run_dir = _run(tmp_path / "runs", "features", shard=Shard(1, 2)).run_dir
    with pytest.raises(PartsError, match="set-level state features.*sums.*run every part of the method again"):
        reduce_run(run_dir)


@pytest.mark.parametrize("flags, message", [
    (["--set-sample", "50"], "--set-sample applies to --set-state sums"),
    (["--set-state", "sums", "--set-sample", "2"], "--set-sample 2: the sample needs at least 5 items"),
])
def test_set_state_flags_are_checked_before_anything_runs(tmp_path, capsys, flags, message):
    args = ["run", "--methods", "telea", "--limit", "1", "--size", "32", "--no-progress", "--out", str(tmp_path), *flags]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_failed_items_leave_the_sums_and_shrink_the_sample_alike_in_one_process_and_in_shards(tmp_path, monkeypatch):
    method = "tests.plugin_methods:nan_first"  # the first item of each batch of 3 fails

    def once(out, shard=None):
        return run(RunConfig.of(SPEC, [f"broken={method}"], out=out, metrics=("PSNR",), set_metrics=("FID", "KID"),
                                extractor=_extractor(), set_bootstrap=2, set_state="sums", set_sample=5, batch_size=3,
                                shard=shard))

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-single"))
    single = once(tmp_path / "single")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-shards"))
    for index in (1, 0):
        run_dir = once(tmp_path / "shards", Shard(index, 2)).run_dir
    reduce_run(run_dir)
    _same_run(tmp_path / "single", tmp_path / "shards")
    rows = single.methods[0].rows
    scored = [r["item_id"] for r in rows if r["status"] == "ok"]
    sampled = [i for i in scored if i in bottom_k([r["item_id"] for r in rows], 5)]  # the manifest's 5, those scored
    assert len(scored) == 6 and 0 < len(sampled) < 5, sampled  # failed items left the sample, none replaced them
    lines = (run_dir / "methods" / "broken" / "set_metrics.csv").read_text().splitlines()
    fid, kid = (next(line for line in lines if f",{name}," in line) for name in ("FID", "KID×1000"))
    assert fid.split(",")[2] == "6" and "exact sums of 6 items" in fid
    assert kid.split(",")[2] == str(len(sampled)) and f"a sample of {len(sampled)} of 6 items" in kid


def test_a_report_names_the_methods_of_a_sample_and_ranks_no_sample_against_every_item(tmp_path, monkeypatch):
    from harness.reports.report import render
    from harness.store.records import load_records, load_set_metrics
    from tests.test_distributed import MEAN_FILL

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))

    def once(methods, mode):
        run(RunConfig.of(SPEC, methods, out=tmp_path / "runs", metrics=("PSNR",), set_metrics=("FID", "KID"),
                         extractor=_extractor(), set_bootstrap=0, set_state=mode, set_sample=6))
        return render(load_records(tmp_path / "runs"), set_metrics=load_set_metrics(tmp_path / "runs"))

    def set_cells(report: str) -> list[str]:  # FID and KID of both methods
        return [cell for line in report.splitlines() if line.startswith(("| telea", "| mean"))
                for cell in line.split("|")[-3:-1]]

    assert sum("**" in cell for cell in set_cells(once(["telea", f"mean={MEAN_FILL}"], "features"))) == 2  # ranked
    mixed = once([f"mean={MEAN_FILL}"], "sums")  # the same run: mean now in sums mode, telea in features mode
    assert "KID×1000 for mean: over a sample of 6 items per bucket" in mixed
    assert "FID for mean: from exact sums of every scored item" in mixed
    assert len(set_cells(mixed)) == 4 and not any("**" in cell for cell in set_cells(mixed))  # not ranked across modes
