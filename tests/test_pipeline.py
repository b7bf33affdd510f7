"""The pipeline's parts: per-device defaults, batches built in the loader, the two sinks, and the
same numbers whether the stages overlap (workers) or run in series (none)."""
import threading

import numpy as np
import pytest
import torch

from harness.engine import pipeline
from harness.store.cache import Cache
from harness.engine.evaluation import Evaluation
from harness.data.manifest import build_manifest
from harness.engine.pipeline import InlineSink, ItemSource, Sink, collate, defaults
from harness.data.spec import RunSpec
from tests.plugin_methods import MeanFill

NO_LPIPS = ("PSNR", "SSIM", "L1")


@pytest.mark.parametrize("cores, threads, workers", [(2, 2, 0), (16, 16, 0), (16, 8, 1), (1, 1, 0)])
def test_a_cpu_gets_a_worker_only_where_the_models_threads_leave_a_core(monkeypatch, cores, threads, workers):
    monkeypatch.setattr(pipeline, "cores", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert defaults(torch.device("cpu")).workers == workers
    for accelerator in ("cuda", "mps"):  # the model runs off the CPU: its cores decode
        assert defaults(torch.device(accelerator)).workers == max(1, min(8, cores - 1))


def test_processes_sharing_a_machine_share_its_cores(monkeypatch):
    monkeypatch.setattr(pipeline, "cores", lambda: 16)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert defaults(torch.device("cpu"), share=2).workers == 1  # 8 cores each, 4 of them for the model
    assert defaults(torch.device("cpu"), share=4).workers == 0  # 4 cores each, all for the model
    assert defaults(torch.device("cuda"), share=4).workers == 3


def _source(tmp_path, limit=2, size=32):
    manifest = build_manifest(RunSpec(limit=limit, size=size))
    return manifest, ItemSource(manifest, manifest.items, Cache(tmp_path / "cache"), ["k"] * len(manifest.items), False)


def test_a_batch_holds_the_loaded_samples_as_device_ready_tensors_in_one_storage(tmp_path):
    manifest, source = _source(tmp_path)
    samples = [source[i] for i in range(3)]
    samples[1] = {"index": 1, "error": "broken.png: cannot identify image file", "output": None, "damage": None}
    batch = collate(samples)
    assert batch.positions == [0, 1, 2] and batch.errors == [None, samples[1]["error"], None]
    assert batch.images.shape == (2, 3, 32, 32) and batch.masks.shape == (2, 1, 32, 32)
    for row, position in enumerate((0, 2)):
        image, mask = manifest.load(manifest.items[position])
        expected = torch.from_numpy(image).permute(2, 0, 1).float() / 255  # what the official code feeds
        assert torch.equal(batch.images[row], expected)
        assert torch.equal(batch.masks[row, 0], torch.from_numpy(mask))
    assert batch.images.untyped_storage().data_ptr() == batch.masks.untyped_storage().data_ptr()
    assert collate([samples[1]]).images is None


def test_the_inline_sink_works_in_the_calling_thread_and_the_sink_in_its_own_in_order():
    seen = []
    inline = InlineSink(lambda job: seen.append((job, threading.current_thread().name)))
    inline.submit(1)
    assert seen == [(1, threading.current_thread().name)]  # done before submit returned
    seen.clear()
    sink = Sink(lambda job: seen.append((job, threading.current_thread().name)))
    for job in range(5):
        sink.submit(job)
    sink.close()
    assert [job for job, _ in seen] == list(range(5)) and {name for _, name in seen} == {"harness-sink"}


def test_the_sinks_error_reaches_the_main_thread():
    def work(job):
        raise RuntimeError(f"disk full at job {job}")

    sink = Sink(work)
    sink.submit(0)
    with pytest.raises(RuntimeError, match="disk full at job 0"):
        sink.close()


def test_in_series_and_pipelined_runs_give_the_same_numbers(tmp_path, monkeypatch):
    manifest = build_manifest(RunSpec(limit=3, size=48))
    original = Evaluation._finish
    threads, results = {}, {}
    for workers in (0, 1):
        names = set()

        def finish(self, job, names=names):
            names.add(threading.current_thread().name)
            return original(self, job)

        monkeypatch.setattr(Evaluation, "_finish", finish)
        evaluation = Evaluation(manifest, MeanFill(), "mean-fill", Cache(tmp_path / f"cache-{workers}"), batch_size=2,
                                metrics=NO_LPIPS, workers=workers)
        results[workers] = evaluation.run(manifest.items, show_progress=False).rows
        threads[workers] = names
    assert threads == {0: {"MainThread"}, 1: {"harness-sink"}}
    assert len(results[0]) == len(manifest.items) and all(r["status"] == "ok" for r in results[0])
    assert all(np.isfinite(r["SSIM"]) for r in results[0])
    assert results[0] == results[1]


class ReusedBuffer(MeanFill):
    """Returns one output buffer, overwritten by each call (as CUDA graphs of torch.compile do)."""

    def __init__(self):
        super().__init__()
        self.buffer, self.second_call = None, threading.Event()

    def predict(self, images, masks, **kwargs):
        fill = super().predict(images, masks)
        first = self.buffer is None
        if first:
            self.buffer = torch.empty_like(fill)
        self.buffer.copy_(fill)
        if not first:
            self.second_call.set()  # the first call's output is overwritten now
        return self.buffer


def test_a_predictor_reusing_its_output_buffer_cannot_change_what_the_sink_scores(tmp_path, monkeypatch):
    manifest = build_manifest(RunSpec(limit=1, size=48))
    reference = Evaluation(manifest, MeanFill(), "mean-fill", Cache(tmp_path / "a"), batch_size=1, metrics=NO_LPIPS,
                           workers=0).run(manifest.items, show_progress=False).rows
    predictor = ReusedBuffer()
    original = Evaluation._finish

    def late_finish(self, job):  # the sink scores the first batch only after the next prediction
        predictor.second_call.wait(timeout=10)
        return original(self, job)

    monkeypatch.setattr(Evaluation, "_finish", late_finish)
    rows = Evaluation(manifest, predictor, "mean-fill", Cache(tmp_path / "b"), batch_size=1, metrics=NO_LPIPS,
                      workers=1).run(manifest.items, show_progress=False).rows
    assert predictor.second_call.is_set()
    assert [r["PSNR"] for r in rows] == [r["PSNR"] for r in reference]


def test_only_the_predictors_thread_sets_tf32_switches_even_when_scoring_runs_beside_it(tmp_path, monkeypatch):
    """TF32's switches are process-wide: a sink thread setting them could flip them under the
    model's forward (fp32 convolutions silently in TF32 on a GPU) or under a metric's."""
    from contextlib import contextmanager

    from harness.engine import prediction
    from harness.metrics import lama, scoring

    entered = []

    def recording(name, original):
        @contextmanager
        def wrapper(*args, **kwargs):
            entered.append((name, threading.current_thread().name))
            with original(*args, **kwargs):
                yield
        return wrapper

    monkeypatch.setattr(scoring, "no_tf32", recording("no_tf32", scoring.no_tf32))
    monkeypatch.setattr(lama, "exact_float32", recording("exact_float32", lama.exact_float32))
    monkeypatch.setattr(prediction, "executing", recording("executing", prediction.executing))
    manifest = build_manifest(RunSpec(limit=2, size=32, profile="lama"))
    evaluation = Evaluation(manifest, MeanFill(), "mean-fill", Cache(tmp_path / "cache"), batch_size=1,
                            metrics=("SSIM",), workers=1)
    rows = evaluation.run(manifest.items, show_progress=False).rows
    assert all(np.isfinite(r["SSIM"]) for r in rows) and len(rows) == len(manifest.items)
    assert {name for name, _ in entered} == {"no_tf32", "exact_float32", "executing"}
    assert {thread for _, thread in entered} == {"MainThread"}
