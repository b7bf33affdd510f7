"""One predictor on one manifest: predict what is not cached, score what is not scored.

Per batch, the main thread only feeds the device: loader workers have decoded the items and
read their cached predictions (harness.engine.pipeline); the main thread predicts the misses and runs
every other model on the device (LPIPS, the feature extractor of set-level metrics), so that
only it ever sets torch's process-wide TF32 switches; a background thread then computes the
other metrics, keeps the predictions (by default only their hole pixels) and metrics in the
cache, and records the rows. Every finished item is in the cache as soon as that thread
has handled it, so an interrupted run loses at most the batches in flight. With no loader
workers (the default on a CPU whose cores all run the model) the same steps run in series in
the main thread.
"""
from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness.engine import prediction
from harness.store.cache import KEEP, PREFIX, Cache, output_key
from harness.engine.features import FeatureStore, set_rows, set_state, state_rows
from harness.guard import no_exit
from harness.hashing import sha256_json
from harness.data.manifest import Failure, Manifest, ManifestItem
from harness.metrics import get_profile
from harness.metrics.functional import out_of_range
from harness.metrics.mergeable import BucketState, ExactSums, bottom_k
from harness.metrics.model_files import ModelFiles
from harness.metrics.registry import Metric
from harness.metrics.scoring import Scorer, Views, no_tf32
from harness.engine.pipeline import Batch, InlineSink, ItemSource, Sink, defaults, loader
from harness.predictor import Predictor, pick_device
from harness.engine.progress import progress_bar
from harness.store.parts import stored_part
from harness.store.records import ITEM_COLUMNS


@dataclass
class MethodResult:
    label: str
    method: str
    rows: list[dict[str, Any]]  # one per item in manifest order: ``status`` "ok" or "failed"
    failures: list[Failure]
    predicted: int = 0
    scored: int = 0
    damaged: list[str] = field(default_factory=list)  # cache entries found damaged and replaced
    set_rows: list[dict[str, Any]] = field(default_factory=list)  # set-level metrics per bucket
    complete: bool = False
    note: str | None = None

    @property
    def out_of_range_items(self) -> int:
        return sum(1 for r in self.rows if (r.get("out_of_range") or 0) > 0)

    def counts(self) -> dict[str, Any]:
        return {"items": len(self.rows), "scored_items": sum(r["status"] == "ok" for r in self.rows),
                "failed_items": len(self.failures), "predicted": self.predicted, "scored": self.scored,
                "damaged_cache_entries": len(self.damaged), "out_of_range_items": self.out_of_range_items}


@dataclass
class _Job:
    """A batch between the main thread and the sink: what was predicted and scored on the device."""

    count: int  # items of the batch, failed ones included (for progress)
    bucket: str
    items: list[ManifestItem] = field(default_factory=list)  # the ones to score
    views: Views | None = None  # their images, masks and predictions on the metrics' device
    new: list[bool] = field(default_factory=list)  # predicted now (to be kept in the cache), not read from it
    model_rows: list[dict[str, float]] = field(default_factory=list)
    needed: tuple[str, ...] = ()
    bucket_done: bool = False


class Evaluation:
    """One predictor on one manifest, with its cache and metric profile.

    ``batch_size``, ``workers`` and ``prefetch`` default per device (harness.engine.pipeline.defaults);
    ``keep`` is what of each prediction the cache keeps: "holes" (default; lossless for every
    metric and grid), "full" or "none"; ``files``: where model-based metrics' networks come from.
    ``set_sample``: None keeps every scored item's features (set-state "features"); K keeps exact
    sums of all and the features of a sample of K per bucket (set-state "sums", docs/set-state.md).
    """

    def __init__(
        self, manifest: Manifest, predictor: Predictor, label: str, cache: Cache, batch_size: int | None = None,
        metrics: Sequence[str] | None = None, method: str | None = None, rescore: bool = False,
        device: str | torch.device | None = None, features: FeatureStore | None = None,
        set_metrics: Sequence[Metric] = (), set_bootstrap: int = 50, keep: str = "holes",
        workers: int | None = None, prefetch: int | None = None, files: ModelFiles = ModelFiles(),
        set_sample: int | None = None,
    ):
        self.manifest, self.predictor, self.label = manifest, predictor, label
        self.cache, self.rescore = cache, rescore
        self.method = method or label
        self.profile = get_profile(manifest.spec.profile)
        base = defaults(predictor.device)
        self.batch_size = batch_size or base.batch_size
        self.workers = base.workers if workers is None else workers
        self.prefetch = prefetch or base.prefetch
        if keep not in KEEP:
            raise ValueError(f"keep must be one of {', '.join(KEEP)}, not '{keep}'")
        self.keep = keep
        # Metrics run on the predictor's device unless told otherwise; put on the CPU explicitly,
        # they run the reference code itself (scikit-image) where a metric names one.
        metrics_on = pick_device(device) if device is not None else predictor.device
        self.scorer = Scorer(self.profile, metrics_on, metrics, reference=device is not None and metrics_on.type == "cpu",
                             files=files)
        self.metrics = self.scorer.names
        self.features, self.set_metrics, self.set_bootstrap = features, tuple(set_metrics), set_bootstrap
        if self.set_metrics and features is None:
            raise ValueError("set-level metrics need a feature extractor")
        self.set_sample = set_sample if self.set_metrics else None
        self._sums: dict[str, tuple[ExactSums, ExactSums]] = {}  # set-state sums: per bucket, of this run()
        self._samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # and the sampled items' (real, fake)
        self._summed: dict[str, list[str]] = {}  # and the ids in the sums
        self._torn: set[str] = set()  # buckets whose sums an interrupt may have left half-added
        # set-state sums: per bucket of the manifest (which every process of a shared run holds), the
        # items with the smallest blake2b of their id; those scored are the sample, whose features are
        # kept (in memory, then in the part, from which a rerun of the part starts: :meth:`_resume`)
        self._sampled: set[str] = set() if self.set_sample is None else {
            i for b in dict.fromkeys(i.bucket for i in manifest.items)
            for i in bottom_k((i.item_id for i in manifest.items if i.bucket == b), self.set_sample)}
        # The method name is part of it: two factories of one class with settings the class does
        # not report in config() must never share cached outputs. The prediction path's version
        # too: a change of the harness's resizing or validation must not reuse old outputs.
        self.fingerprint = sha256_json([self.method, predictor.fingerprint(), prediction.PREDICTION_CODE_VERSION])[:32]
        self.result = MethodResult(label, self.method, [], [])
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # rows and counters are written by the main thread and the sink
        self.reused = 0  # items of the last run() found complete in the cache
        #: set-state sums: (method folder, index, count) of this process's part, whose earlier sums a run reuses
        self.earlier: tuple[Path, int, int] | None = None
        self.resumed = False  # set-state sums: whether run() has taken its earlier part's state (_resume)

    def key(self, item: ManifestItem) -> str:
        return output_key(self.fingerprint, item.image_sha256, item.mask_sha256, self.manifest.spec.size)

    def rows(self, items: list[ManifestItem]) -> list[dict[str, Any]]:
        """Rows of the items finished so far, in manifest order."""
        with self._lock:
            return [self._rows[i.item_id] for i in items if i.item_id in self._rows]

    def _row(self, item: ManifestItem, values: dict[str, float], status: str = "ok", stage: str = "", reason: str = "") -> None:
        row = {**{c: getattr(item, c) for c in ITEM_COLUMNS}, "status": status, "stage": stage, "reason": reason,
               **values, "cache_key": self.key(item)}
        with self._lock:
            self._rows[item.item_id] = row

    def _fail(self, item: ManifestItem, stage: str, reason: str) -> None:
        with self._lock:
            self.result.failures.append(Failure(self.label, item.item_id, stage, reason, item.bucket))
        self._row(item, {}, "failed", stage, reason)

    def _cached_metrics(self, items: list[ManifestItem]) -> dict[str, dict[str, float]]:
        found = {}
        for item in items:
            values, damage = ({}, None) if self.rescore else self.cache.read_metrics(self.key(item), self.profile.cache_name)
            if damage:
                self.result.damaged.append(f"{item.item_id} metrics: {damage}")
            found[item.item_id] = values
        return found

    def run(
        self, items: list[ManifestItem], show_progress: bool = True, after_batch: Callable[[bool], None] | None = None,
        sets: bool = True,
    ) -> MethodResult:
        """Score ``items``; ``after_batch(bucket_done)`` is called after each batch (to save records).

        ``sets=False`` leaves out the set-level metrics (a process doing a part of a shared run);
        running items again replaces their earlier failures (it tries them again)."""
        ids = {item.item_id for item in items}
        if self.set_sample is not None:  # the sums are of this call's items (from its part's earlier ones: _resume)
            self._sums, self._samples, self._summed, self._torn = {}, {}, {}, set()
            self.resumed = False  # until _resume has its earlier part's state: an interrupt before keeps that part
        with self._lock:
            self.result.failures = [f for f in self.result.failures if f.item_id not in ids]
        self._cached = cached = self._cached_metrics(items)
        self.result.damaged += [d for d in self.cache.unusable(self.fingerprint[:PREFIX]) if d not in self.result.damaged]
        # A metric's model (LPIPS) is built only when some item lacks it: a cached rerun builds nothing.
        lacking = [m for m in self.metrics if any(m not in cached[i.item_id] for i in items)]
        unavailable = set(lacking) - set(self.scorer.available(lacking))
        self._wanted = wanted = tuple(m for m in self.metrics if m not in unavailable)
        done = {i.item_id for i in items if all(m in cached[i.item_id] for m in (*wanted, "out_of_range"))}
        summed = self._resume(items, done) if self.set_sample is not None else set()  # in the earlier part's sums
        self.resumed = True
        extracted = self.features.computed if self.features is not None else 0
        complete, pending = [], []
        for item in items:
            found = item.item_id in done and (self.features is None or item.item_id in summed or (
                self.set_sample is None and self.features.has(self.key(item), item.image_sha256)))
            (complete if found else pending).append(item)
        self.reused = len(complete)
        for item in complete:
            self._row(item, cached[item.item_id])
        with progress_bar(show_progress) as progress:
            tasks = {}
            for bucket in dict.fromkeys(i.bucket for i in items):
                total = sum(i.bucket == bucket for i in items)
                todo = sum(i.bucket == bucket for i in pending)
                tasks[bucket] = progress.add_task(f"{self.label} · {bucket}", total=total, completed=total - todo)

            def finish(job: _Job) -> None:
                self._finish(job)
                progress.advance(tasks[job.bucket], job.count)
                if after_batch:
                    after_batch(job.bucket_done)

            self._stream(pending, finish)
        if summed:  # the extractor's count is the store's, shared by the methods: this run's share of it
            self._say(f"set-level sums of {len(summed)} items taken from its earlier part, "
                      f"{self.features.computed - extracted} images through the extractor")
        if self.set_metrics and sets:
            self.result.set_rows = self._score_sets(items)
        self.result.rows = self.rows(items)
        self.result.complete = True
        return self.result

    def state_identity(self) -> str:
        """What an item's place in the sums depends on besides its id: the method (its predictions),
        the manifest (what each id is), the extractor, the profile, the set state. A part made under
        another is never reused."""
        profile = self.profile
        return sha256_json([self.fingerprint, self.manifest.fingerprint(), self.features.describe(),
                            [profile.name, profile.version, profile.quantise], set_state(self.set_sample)])[:32]

    def _resume(self, items: list[ManifestItem], done: set[str]) -> set[str]:
        """Set-state sums: per bucket, start from the sums and sample of this part's earlier run when
        every item in them is among ``done`` (scored from the cache now, so nothing of it changed);
        the others are added as they pass the extractor. The sums are integers, so the result is
        the same bits as computing every item again. Returns the ids whose features are reused."""
        if self.earlier is None:
            return set()
        part, problem = stored_part(*self.earlier)
        if part is None or part.meta.get("state_identity") != self.state_identity():
            if part is not None or problem:
                why = problem or "made by another method version, manifest, extractor or set state"
                self._say(f"its earlier set-level sums not reused ({why}): every item passes the extractor again")
            return set()
        reused: set[str] = set()
        for bucket in dict.fromkeys(i.bucket for i in items):
            try:
                state, included = part.state(bucket), part.included(bucket)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                self._say(f"{bucket}: the earlier set-level sums not readable ({type(error).__name__}: {error}); "
                          "its items pass the extractor again")
                continue
            if state is None or included is None:
                continue
            here = {i.item_id for i in items if i.bucket == bucket and i.item_id in done}
            lost = [i for i in included if i not in here]
            kept = set(state.ids)
            if lost or len(included) != state.real.count or any(i in self._sampled and i not in kept for i in included):
                why = (f"{len(lost)} of its {len(included)} items not scored from the cache this time, e.g. {lost[0]}"
                       if lost else "its ids do not match its sums or sample")
                self._say(f"{bucket}: the earlier set-level sums not reused ({why}); its items pass the extractor again")
                continue
            self._sums[bucket], self._summed[bucket] = (state.real, state.fake), list(included)
            self._samples.update((i, (state.real_sample[j], state.fake_sample[j])) for j, i in enumerate(state.ids)
                                 if i in self._sampled)
            reused.update(included)
        return reused

    def _say(self, text: str) -> None:
        """A line for the run's summary (the method's note)."""
        self.result.note = "; ".join(n for n in (self.result.note, text) if n)

    def _batches(self, pending: list[ManifestItem]) -> list[tuple[list[int], bool]]:
        """Positions per batch (never across buckets), each with whether it ends its bucket."""
        batches = []
        for bucket in dict.fromkeys(i.bucket for i in pending):
            positions = [p for p, item in enumerate(pending) if item.bucket == bucket]
            for start in range(0, len(positions), self.batch_size):
                chunk = positions[start : start + self.batch_size]
                batches.append((chunk, start + self.batch_size >= len(positions)))
        return batches

    def _stream(self, pending: list[ManifestItem], finish: Callable[[_Job], None], force_features: bool = False) -> None:
        """Items through loader workers, the device and the sink thread (with no workers: all in
        series in this thread)."""
        if not pending:
            return
        plan = self._batches(pending)
        source = ItemSource(self.manifest, pending, self.cache, [self.key(i) for i in pending], read_outputs=True)
        workers = self.workers if len(plan) > 1 else 0
        batches = iter(loader(source, [p for p, _ in plan], workers, self.prefetch, self.predictor.device.type == "cuda"))
        # started after the workers were forked: no thread of ours holds a lock then
        sink = Sink(finish) if workers else InlineSink(finish)
        try:
            for (_, bucket_done), batch in zip(plan, batches):
                job = self._prepare([pending[p] for p in batch.positions], batch, force_features)
                job.bucket_done = bucket_done
                sink.submit(job)
        finally:
            sink.close()  # on Ctrl-C too: what reached the device is scored and kept

    def _prepare(self, items: list[ManifestItem], batch: Batch, force_features: bool) -> _Job:
        """Main thread: failures of loading, prediction of the misses, the metrics that run with
        the model (LPIPS, float32 convolutions), the features of set-level metrics."""
        empty = _Job(len(items), items[0].bucket)
        loaded = []
        for item, error in zip(items, batch.errors):
            if error is not None:
                self._fail(item, "load", error)
            else:
                loaded.append(item)
        for item, damage in zip(loaded, batch.damage):
            if damage:
                self.result.damaged.append(f"{item.item_id} output: {damage}")
        if not loaded:
            return empty
        device = self.scorer.device
        images, masks = batch.images.to(device, non_blocking=True), batch.masks.to(device, non_blocking=True)
        outputs: list[torch.Tensor | None] = list(batch.outputs)
        need = [i for i, out in enumerate(outputs) if out is None]
        if need:
            everything = len(need) == len(loaded)  # no copies of the batch for the usual case
            self._predict([loaded[i] for i in need], images if everything else images[need],
                          masks if everything else masks[need], need, outputs)
        good = [i for i, out in enumerate(outputs) if out is not None]
        if not good:
            return empty
        if len(good) == len(loaded):
            kept, good_images, good_masks = loaded, images, masks
        else:
            kept, good_images, good_masks = [loaded[i] for i in good], images[good], masks[good]
        # A copy, also of a batch just predicted: a predictor may reuse its output buffer on its
        # next call (CUDA graphs of torch.compile do) while the sink still reads this one.
        predictions = torch.stack([outputs[i].to(device, non_blocking=True) for i in good])
        cached = self._cached
        needed = tuple(m for m in (*self._wanted, "out_of_range") if any(m not in cached[item.item_id] for item in kept))
        views = self.scorer.views(good_images, predictions, good_masks)  # computed lazily, shared with the sink
        model_rows = self.scorer.score(views, needed, part="model") if needed else [{} for _ in good]
        if self.features is not None:
            self._add_features(kept, views, force_features)
        return _Job(len(items), items[0].bucket, kept, views, [i in need for i in good], model_rows, needed)

    def _predict(self, items, images, masks, positions, outputs) -> None:
        """Fills ``outputs`` at ``positions``."""
        try:
            with no_exit(f"{self.label}'s predict"):
                predicted = prediction.predict_batch(self.predictor, images, masks, [i.item_id for i in items])
        except Exception as error:  # a broken batch must not lose the rest of the run
            for item in items:
                self._fail(item, "predict", f"{type(error).__name__}: {error}")
            return
        for item, position, output, problem in zip(items, positions, predicted.outputs, predicted.problems):
            if problem:
                self._fail(item, "predict", problem)
                continue
            self.result.predicted += 1
            outputs[position] = output

    def _finish(self, job: _Job) -> None:
        """Sink thread: the other metrics, the cache (prediction, metrics), the rows."""
        if not job.items:
            return
        plain_rows = self.scorer.score(job.views, job.needed, part="plain") if job.needed else [{} for _ in job.items]
        host_outputs = job.views.predictions.cpu() if self.keep != "none" and any(job.new) else None
        for i, item in enumerate(job.items):
            key = self.key(item)
            if host_outputs is not None and job.new[i]:
                holes = job.views.masks[i, 0].cpu().numpy() > 0.5 if self.keep == "holes" else None
                self.cache.put_output(key, host_outputs[i].numpy(), holes)
            values = {**job.model_rows[i], **plain_rows[i]}
            values["out_of_range"] = out_of_range(job.views.predictions[i], job.views.masks[i])
            merged = {**self._cached[item.item_id], **values}
            self.cache.put_metrics(key, self.profile.cache_name, merged, merge=False)
            self._cached[item.item_id] = merged
            with self._lock:
                self.result.scored += bool(job.needed)
            self._row(item, merged)

    def _add_features(self, items: list[ManifestItem], views: Views, force: bool) -> None:
        """Main thread: the extractor's features of the composites (and truths) not cached yet; in
        set-state sums of every item, added to the bucket's sums, kept in memory for the sample."""
        if self.set_sample is not None:
            with no_tf32():
                real, fake = self.features.extract([i.image_sha256 for i in items], views.composite, views.images)
            dim, bucket = real.shape[1], items[0].bucket
            self._torn.add(bucket)  # until the batch is in both sums and listed (an interrupt may come in between)
            for sums, values in zip(self._sums.setdefault(bucket, (ExactSums(dim), ExactSums(dim))), (real, fake)):
                sums.add(values)
            self._summed.setdefault(bucket, []).extend(i.item_id for i in items)
            for j, item in enumerate(items):
                if item.item_id in self._sampled:
                    self._samples[item.item_id] = real[j].copy(), fake[j].copy()  # a view would keep its batch
            self._torn.discard(bucket)
            return
        lacking = [j for j, item in enumerate(items) if force or not self.features.has(self.key(item), item.image_sha256)]
        if lacking:
            with no_tf32():
                self.features.add([self.key(items[j]) for j in lacking], [items[j].image_sha256 for j in lacking],
                                  views.composite[lacking], views.images[lacking])

    def _score_sets(self, items: list[ManifestItem]) -> list[dict]:
        """Per bucket, the set-level metrics over the features of the items scored (set-state sums:
        from this process's one part, as the reducer computes them from many)."""
        if self.set_sample is not None:
            position = {item.item_id: n for n, item in enumerate(items)}
            return [row for bucket, state in self.set_states(items)
                    for row in state_rows(bucket, [state] if state else [], self.set_sample, position, self.set_metrics,
                                          self.set_bootstrap, self.manifest.spec.seed, self.features.extractor.identity)]
        return [row for bucket, _, real, fake in self.set_features(items)
                for row in set_rows(bucket, real, fake, self.set_metrics, self.set_bootstrap, self.manifest.spec.seed,
                                    self.features.extractor.identity)]

    def set_states(self, items: list[ManifestItem], interrupted: bool = False) -> list[tuple[str, BucketState | None]]:
        """Set-state sums, per bucket of ``items``: the sums of its scored items and the features of
        those in the sample, in item order (None: no item scored). ``interrupted``: of a run stopped
        early, the items summed so far, leaving out a bucket whose sums the interrupt may have torn."""
        states = []
        for bucket in dict.fromkeys(i.bucket for i in items):
            if interrupted and bucket in self._torn:
                continue
            listed = self._summed.get(bucket, [])
            summed, sums = set(listed), self._sums.get(bucket)
            count = sums[0].count if sums else 0
            scored = {i.item_id for i in items if i.bucket == bucket and self._rows.get(i.item_id, {}).get("status") == "ok"}
            if not count == len(listed) == len(summed) or not (interrupted or summed == scored):  # each scored item once
                raise RuntimeError(f"{self.label} {bucket}: sums of {count} items, {len(listed)} listed, {len(scored)} scored")
            if not sums:
                states.append((bucket, None))
                continue
            sampled = [i.item_id for i in items if i.item_id in summed and i.item_id in self._sampled]
            dim = sums[0].dim
            real, fake = (np.array([self._samples[i][side] for i in sampled], np.float32).reshape(-1, dim) for side in (0, 1))
            states.append((bucket, BucketState(*sums, sampled, real, fake)))
        return states

    def release_set_state(self) -> None:
        """Set-state sums: drop the sums and sample once its part is written (about 200 MB per
        bucket at 2,048 features), so that a run of many methods holds one method's at a time."""
        self._sums, self._samples, self._summed, self._torn = {}, {}, {}, set()

    def summed(self, bucket: str) -> list[str]:
        """Set-state sums: the ids of the items in ``bucket``'s sums."""
        return list(self._summed.get(bucket, ()))

    def set_features(self, items: list[ManifestItem]) -> list[tuple[str, list[ManifestItem], Any, Any]]:
        """Per bucket of ``items``: its items scored, in order, and their (real, fake) features;
        missing or damaged features are computed again first."""
        found = []
        for bucket in dict.fromkeys(i.bucket for i in items):
            scored = [i for i in items if i.bucket == bucket and self._rows.get(i.item_id, {}).get("status") == "ok"]
            keys, shas = [self.key(i) for i in scored], [i.image_sha256 for i in scored]
            real, fake, bad = self.features.read(keys, shas)
            if bad:
                self.result.damaged += [f"{scored[i].item_id} features: missing or damaged" for i in bad]
                self._stream([scored[i] for i in bad], self._finish, force_features=True)
                real, fake, _ = self.features.read(keys, shas)
            found.append((bucket, scored, real, fake))
        return found
