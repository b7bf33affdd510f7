"""Set-state sums: a finished process keeps its part (one process too, as part 1-0), and a rerun
starts from its exact sums and sample where every item in them is scored from the cache again:
nothing predicted or extracted for those items, and the same bytes as a run from scratch."""
import json
import os
import signal

import numpy as np
import pytest

from harness.config import RunConfig
from harness.engine.distributed import Shard
from harness.engine.reduce import reduce_run
from harness.engine.runner import run
from harness.errors import Interrupted
from harness.metrics.inception import InceptionFeatures
from harness.store.parts import PartsError, read_parts
from tests.plugin_methods import MeanFill
from tests.test_distributed import PROCESS_FIELDS, _same_run
from tests.test_set_sums import SPEC, SmallProbe

FLAKY = "tests.test_set_sums_reuse:flaky"


class Flaky(MeanFill):
    """Mean fill whose first item of each batch is NaN (a failed item) while $FLAKY_FAILS is set, and
    whose call number $FLAKY_STOP is a Ctrl-C."""

    name = "flaky"

    def predict(self, images, masks, **kwargs):
        out = super().predict(images, masks)
        if str(MeanFill.calls) == os.environ.get("FLAKY_STOP"):
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C (one the predictor raised itself is its error)
        if os.environ.get("FLAKY_FAILS"):
            out[0] = float("nan")
        return out


def flaky(checkpoint=None, device=None, **options):
    return Flaky()


def _once(out, method: str = FLAKY, sample: int = 6, identity: str = "small probe", shard=None, **settings):
    """One run in sums mode under --keep-outputs none: (its method's result, images the extractor saw)."""
    extractor = InceptionFeatures.from_module(SmallProbe(), identity)
    result = run(RunConfig.of(SPEC, [f"m={method}"], out=out, metrics=("PSNR",), set_metrics=("FID", "KID"),
                              extractor=extractor, set_bootstrap=2, set_state="sums", set_sample=sample, keep="none",
                              batch_size=3, shard=shard, **settings))
    return result.methods[0] if result.methods else result, extractor.module.images


def _files(runs) -> dict[str, bytes]:
    """The run's files but its parts, method.json without what a process counts (predicted, ...)."""
    [run_dir] = (p for p in runs.iterdir() if not p.name.startswith("."))  # .shards: notes of --shard processes
    files = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.relative_to(run_dir).parts[0] != "parts"):
        data = path.read_bytes()
        if path.name == "method.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k not in PROCESS_FIELDS}).encode()
        files[str(path.relative_to(run_dir))] = data
    return files


def test_a_finished_run_again_predicts_and_extracts_nothing_and_writes_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    first, seen = _once(tmp_path / "runs")
    before = _files(tmp_path / "runs")
    [stored] = (tmp_path / "runs").glob("*/parts/m/1-0/features.npz")
    written = stored.stat().st_ino
    again, seen_again = _once(tmp_path / "runs")
    assert stored.stat().st_ino == written  # nothing added: the sums on disk are not compressed again
    assert (first.predicted, seen) == (9, 18)  # 9 composites and 9 truths
    assert (again.predicted, again.scored, seen_again) == (0, 0, 0)
    assert again.note == "set-level sums of 9 items taken from its earlier part, 0 images through the extractor"
    assert _files(tmp_path / "runs") == before
    # the one process's part: the reducer's format, every scored item's id listed, and the reducer's files
    [run_dir] = (tmp_path / "runs").iterdir()
    [part] = read_parts(run_dir / "methods" / "m")
    assert part.folder.name == "1-0" and part.included("0-60") == sorted(r["item_id"] for r in first.rows)
    assert part.state("0-60").real.count == 9 and len(part.state("0-60").ids) == 6
    reduce_run(run_dir)
    assert _files(tmp_path / "runs") == before


def test_items_that_failed_are_added_to_the_earlier_sums_and_equal_a_run_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-scratch"))
    _once(tmp_path / "scratch")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FLAKY_FAILS", "1")
    first, _ = _once(tmp_path / "runs")
    failed = {f.item_id for f in first.failures}
    assert len(failed) == 3
    [run_dir] = (tmp_path / "runs").iterdir()
    [part] = read_parts(run_dir / "methods" / "m")
    included = part.included("0-60")
    assert len(included) == 6 and not failed & set(included)
    sampled = set(part.state("0-60").ids)
    monkeypatch.delenv("FLAKY_FAILS")
    again, seen = _once(tmp_path / "runs")
    assert (again.predicted, seen) == (3, 6) and not again.failures  # only the 3 that failed: composite and truth
    assert again.note == "set-level sums of 6 items taken from its earlier part, 6 images through the extractor"
    _same_run(tmp_path / "scratch", tmp_path / "runs")  # records, set_metrics.csv, results.json: byte for byte
    [part] = read_parts(run_dir / "methods" / "m")
    assert len(part.included("0-60")) == 9 and sampled < set(part.state("0-60").ids)  # a failed item is now sampled


def test_a_run_interrupted_keeps_what_finished_and_its_rerun_adds_the_rest_as_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-scratch"))
    _once(tmp_path / "scratch")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(MeanFill, "calls", 0)
    monkeypatch.setenv("FLAKY_STOP", "3")  # Ctrl-C in the third batch of 3
    with pytest.raises(Interrupted, match="kept 6 of 9 items"):
        _once(tmp_path / "runs")
    [run_dir] = (tmp_path / "runs").iterdir()
    [part] = read_parts(run_dir / "methods" / "m")
    assert len(part.included("0-60")) == 6 == part.state("0-60").real.count
    with pytest.raises(PartsError, match="3 item\\(s\\) of the manifest are in no part"):
        reduce_run(run_dir)  # what the part lacks is an error, never a smaller n
    monkeypatch.delenv("FLAKY_STOP")
    again, seen = _once(tmp_path / "runs")
    assert (again.predicted, seen) == (3, 6)  # the 3 left: composites and truths
    assert again.note == "set-level sums of 6 items taken from its earlier part, 6 images through the extractor"
    _same_run(tmp_path / "scratch", tmp_path / "runs")


@pytest.mark.parametrize("spoil, note", [
    ("rescore", "0-60: the earlier set-level sums not reused (9 of its 9 items not scored from the cache this time"),
    ("truncate", "0-60: the earlier set-level sums not readable (BadZipFile"),
])
def test_a_rescore_or_a_damaged_part_recomputes_the_bucket_and_says_so(tmp_path, monkeypatch, spoil, note):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    before = _files(tmp_path / "runs")
    if spoil == "truncate":
        [stored] = (tmp_path / "runs").glob("*/parts/m/1-0/features.npz")
        stored.write_bytes(stored.read_bytes()[:-100])
    again, seen = _once(tmp_path / "runs", rescore=spoil == "rescore")
    assert (again.predicted, seen) == (9, 18) and note in again.note
    assert _files(tmp_path / "runs") == before


@pytest.mark.parametrize("change", [{"sample": 7}, {"identity": "another probe"}, {"method": "telea", "replace": True}])
def test_a_part_of_another_sample_extractor_or_method_is_not_reused(tmp_path, monkeypatch, change):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache-scratch"))
    _once(tmp_path / "scratch", **change)  # the same run from scratch
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    again, seen = _once(tmp_path / "runs", **change)
    assert seen == 18 and "its earlier set-level sums not reused (made by another method version" in again.note
    [a], [b] = (tmp_path / "runs").iterdir(), (tmp_path / "scratch").iterdir()
    for name in ("set_metrics.csv", "records.csv"):
        assert (a / "methods" / "m" / name).read_bytes() == (b / "methods" / "m" / name).read_bytes()


def test_a_method_added_to_a_finished_run_is_the_only_one_predicted_and_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    extractor = InceptionFeatures.from_module(SmallProbe(), "small probe")
    result = run(RunConfig.of(SPEC, [f"m={FLAKY}", "telea"], out=tmp_path / "runs", metrics=("PSNR",),
                              set_metrics=("FID", "KID"), extractor=extractor, set_bootstrap=2, set_state="sums",
                              set_sample=6, keep="none", batch_size=3))
    assert [m.predicted for m in result.methods] == [0, 9] and extractor.module.images == 18  # telea's alone
    assert "0 images through the extractor" in result.methods[0].note and result.methods[1].note is None


def test_a_shard_run_again_reuses_its_part_and_the_reducer_writes_the_same_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    for index in (0, 1):
        run_dir = _once(tmp_path / "runs", shard=Shard(index, 2))[0].run_dir
    reduce_run(run_dir)
    before = _files(tmp_path / "runs")
    part = run_dir / "parts" / "m" / "2-1" / "features.npz"
    with np.load(part) as stored:
        sums = stored["0.sums.real.high"].copy()
    _, seen = _once(tmp_path / "runs", shard=Shard(1, 2))
    assert seen == 0
    with np.load(part) as stored:
        assert np.array_equal(stored["0.sums.real.high"], sums)
    reduce_run(run_dir)
    assert _files(tmp_path / "runs") == before


def test_an_interrupted_run_that_cannot_keep_its_part_says_so_and_its_rerun_computes_everything(tmp_path, monkeypatch):
    import harness.engine.distributed as distributed

    def full(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(MeanFill, "calls", 0)
    monkeypatch.setenv("FLAKY_STOP", "2")
    with monkeypatch.context() as patch:
        patch.setattr(distributed, "write_part", full)
        with pytest.raises(Interrupted, match=r"kept 3 of 9 items .*its set-level sums not kept \(no space left"):
            _once(tmp_path / "runs")
    monkeypatch.delenv("FLAKY_STOP")
    again, seen = _once(tmp_path / "runs")
    assert (again.predicted, seen, again.note) == (9, 18, None)


def test_the_reducer_refuses_parts_of_two_extractors(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs", shard=Shard(0, 2))
    run_dir = _once(tmp_path / "runs", identity="another probe", shard=Shard(1, 2))[0].run_dir
    with pytest.raises(PartsError, match="set-level features of another extractor than"):
        reduce_run(run_dir)


def test_the_sample_owns_its_rows_and_a_written_part_releases_the_sums(tmp_path, monkeypatch):
    """A sampled row kept as a view would hold its whole batch (both sides) in memory: most batches
    of a bucket much larger than K. Once its part is written, a method's sums (about 200 MB per
    bucket at 2,048 features) are dropped, so a run of many methods holds one method's at a time."""
    from harness.engine.evaluation import Evaluation

    seen, release = [], Evaluation.release_set_state

    def watched(self):
        seen.append((self, [side.base is None for pair in self._samples.values() for side in pair]))
        release(self)

    monkeypatch.setattr(Evaluation, "release_set_state", watched)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    [(evaluation, owned)] = seen
    assert len(owned) == 12 and all(owned)  # 6 sampled items, both sides: copies, not views of a batch
    assert evaluation._sums == evaluation._samples == evaluation._summed == {}


def test_an_interrupt_before_the_earlier_part_is_taken_keeps_that_part(tmp_path, monkeypatch):
    """A Ctrl-C while a rerun reads its cached metrics (before it has taken its earlier part's sums)
    must not replace that part with an empty one: the next rerun still starts from it."""
    from harness.engine.evaluation import Evaluation

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    [part] = (tmp_path / "runs").glob("*/parts/m/1-0")
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    cached = Evaluation._cached_metrics

    def interrupted(self, items):
        cached(self, items)
        raise KeyboardInterrupt

    monkeypatch.setattr(Evaluation, "_cached_metrics", interrupted)
    with pytest.raises(Interrupted):
        _once(tmp_path / "runs")
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before
    monkeypatch.setattr(Evaluation, "_cached_metrics", cached)
    again, seen = _once(tmp_path / "runs")
    assert (again.predicted, seen) == (0, 0)


def test_a_features_run_of_the_label_removes_its_sums_part_so_reduce_cannot_bring_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _once(tmp_path / "runs")
    [run_dir] = (tmp_path / "runs").iterdir()
    assert (run_dir / "parts" / "m" / "1-0").is_dir()
    extractor = InceptionFeatures.from_module(SmallProbe(), "small probe")
    run(RunConfig.of(SPEC, [f"m={FLAKY}"], out=tmp_path / "runs", metrics=("PSNR",), set_metrics=("FID", "KID"),
                     extractor=extractor, set_bootstrap=2, keep="none", batch_size=3))
    features = _files(tmp_path / "runs")
    assert not (run_dir / "parts" / "m").exists()
    reduce_run(run_dir)  # `harness reduce --run runs`: nothing of this method to rebuild
    assert _files(tmp_path / "runs") == features
    assert "exact sums" not in features["methods/m/set_metrics.csv"].decode()
