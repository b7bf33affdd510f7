"""Run methods over a manifest: predict what is not cached, score what is not scored, record.

Data flows one way: manifest → predictor (only for cache misses) → cache → metrics (only for
items not yet scored under the profile and its version) → records. Every finished item is in
the cache the moment it is done and the records are rewritten as items finish, so an
interrupted run loses at most the batch in flight and a rerun resumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from harness.cache import Cache, output_key
from harness.errors import Interrupted, StrictModeError
from harness.images import InputError
from harness.manifest import Failure, Manifest, ManifestItem, build_manifest
from harness.metrics import get_profile
from harness.metrics.scoring import Scorer
from harness import prediction
from harness.features import FeatureStore, set_rows
from harness.metrics.functional import composite, out_of_range
from harness.metrics.registry import Metric, set_metric
from harness.prediction import predict_batch
from harness.hashing import sha256_json
from harness.predictor import Predictor, pick_device
from harness.progress import progress_bar
from harness.records import ITEM_COLUMNS, MethodRecords, claim_label, runs_root, write_run
from harness.options import bind, check_known
from harness.registry import load_predictor, method_entry
from harness.spec import RunSpec


@dataclass(frozen=True)
class MethodRequest:
    """One method entry of a run: the label its results go under, the registered name or
    ``pkg.module:factory``, and its checkpoint."""

    label: str
    method: str
    checkpoint: str | None = None


def parse_methods(entries: Sequence[str | MethodRequest], checkpoints: dict[str, str] | None = None) -> list[MethodRequest]:
    """``"method"`` or ``"label=method"`` entries; checkpoints are looked up by label, then by method."""
    checkpoints = checkpoints or {}
    requests = []
    for entry in entries:
        if isinstance(entry, MethodRequest):
            requests.append(entry)
            continue
        label, sep, method = entry.partition("=")
        label, method = (label.strip(), method.strip()) if sep else (entry.strip(), entry.strip())
        if not label or not method:
            raise ValueError(f"bad method entry {entry!r}: use METHOD or LABEL=METHOD")
        requests.append(MethodRequest(label, method, checkpoints.get(label, checkpoints.get(method))))
    labels = [r.label for r in requests]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"method label(s) {', '.join(twice)} given twice; name each entry (LABEL=METHOD)")
    return requests


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
class RunResult:
    run_dir: Path
    manifest: Manifest
    methods: list[MethodResult] = field(default_factory=list)

    @property
    def failures(self) -> list[Failure]:
        return self.manifest.failures + [f for m in self.methods for f in m.failures]


def _batches(items: list[ManifestItem], size: int) -> Iterator[list[ManifestItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Evaluation:
    """One predictor on one manifest, with its cache and metric profile."""

    def __init__(
        self, manifest: Manifest, predictor: Predictor, label: str, cache: Cache, batch_size: int,
        metrics: Sequence[str] | None = None, method: str | None = None, rescore: bool = False,
        device: str | torch.device | None = None, features: FeatureStore | None = None,
        set_metrics: Sequence[Metric] = (), set_bootstrap: int = 50,
    ):
        self.manifest, self.predictor, self.label = manifest, predictor, label
        self.cache, self.batch_size, self.rescore = cache, batch_size, rescore
        self.method = method or label
        self.profile = get_profile(manifest.spec.profile)
        # Metric models (LPIPS) run on the run's device: the predictor's unless told otherwise.
        self.scorer = Scorer(self.profile, pick_device(device) if device is not None else predictor.device, metrics)
        self.metrics = self.scorer.names
        self.features, self.set_metrics, self.set_bootstrap = features, tuple(set_metrics), set_bootstrap
        if self.set_metrics and features is None:
            raise ValueError("set-level metrics need a feature extractor")
        # The method name is part of it: two factories of one class with settings the class does
        # not report in config() must never share cached outputs. The prediction path's version
        # too: a change of the harness's resizing or validation must not reuse old outputs.
        self.fingerprint = sha256_json([self.method, predictor.fingerprint(), prediction.PREDICTION_CODE_VERSION])[:32]
        self.result = MethodResult(label, self.method, [], [])
        self._rows: dict[str, dict[str, Any]] = {}

    def key(self, item: ManifestItem) -> str:
        return output_key(self.fingerprint, item.image_sha256, item.mask_sha256, self.manifest.spec.size)

    def rows(self, items: list[ManifestItem]) -> list[dict[str, Any]]:
        """Rows of the items finished so far, in manifest order."""
        return [self._rows[i.item_id] for i in items if i.item_id in self._rows]

    def _row(self, item: ManifestItem, values: dict[str, float], status: str = "ok", stage: str = "", reason: str = "") -> None:
        self._rows[item.item_id] = {**{c: getattr(item, c) for c in ITEM_COLUMNS}, "status": status, "stage": stage,
                                    "reason": reason, **values, "cache_key": self.key(item)}

    def _fail(self, item: ManifestItem, stage: str, reason: str) -> None:
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
        self, items: list[ManifestItem], show_progress: bool = True, after_batch: Callable[[bool], None] | None = None
    ) -> MethodResult:
        """Score ``items``; ``after_batch(bucket_done)`` is called after each batch (to save records)."""
        cached = self._cached_metrics(items)
        # A metric's model (LPIPS) is built only when some item lacks it: a cached rerun builds nothing.
        lacking = [m for m in self.metrics if any(m not in cached[i.item_id] for i in items)]
        unavailable = set(lacking) - set(self.scorer.available(lacking))
        wanted = tuple(m for m in self.metrics if m not in unavailable)
        pending = []
        for item in items:
            done = all(m in cached[item.item_id] for m in (*wanted, "out_of_range"))
            if done and (self.features is None or self.features.has(self.key(item), item.image_sha256)):
                self._row(item, cached[item.item_id])
            else:
                pending.append(item)
        with progress_bar(show_progress) as progress:
            for bucket in dict.fromkeys(i.bucket for i in items):
                todo = [i for i in pending if i.bucket == bucket]
                total = sum(i.bucket == bucket for i in items)
                task = progress.add_task(f"{self.label} · {bucket}", total=total, completed=total - len(todo))
                batches = list(_batches(todo, self.batch_size))
                for index, batch in enumerate(batches):
                    self._process(batch, wanted, cached)
                    progress.advance(task, len(batch))
                    if after_batch:
                        after_batch(index == len(batches) - 1)
        if self.set_metrics:
            self.result.set_rows = self._score_sets(items, wanted, cached)
        self.result.rows = self.rows(items)
        self.result.complete = True
        return self.result

    def _score_sets(self, items: list[ManifestItem], wanted: tuple[str, ...], cached: dict[str, dict[str, float]]) -> list[dict]:
        """Per bucket, the set-level metrics over the features of the items scored; damaged
        features are recomputed first."""
        rows = []
        for bucket in dict.fromkeys(i.bucket for i in items):
            scored = [i for i in items if i.bucket == bucket and self._rows.get(i.item_id, {}).get("status") == "ok"]
            keys, shas = [self.key(i) for i in scored], [i.image_sha256 for i in scored]
            real, fake, bad = self.features.read(keys, shas)
            if bad:
                self.result.damaged += [f"{scored[i].item_id} features: missing or damaged" for i in bad]
                for batch in _batches([scored[i] for i in bad], self.batch_size):
                    self._process(batch, wanted, cached, force_features=True)
                real, fake, _ = self.features.read(keys, shas)
            rows += set_rows(bucket, real, fake, self.set_metrics, self.set_bootstrap, self.manifest.spec.seed)
        return rows

    def _load(self, batch: list[ManifestItem]) -> list[tuple[ManifestItem, np.ndarray, np.ndarray]]:
        loaded = []
        for item in batch:
            try:
                loaded.append((item, *self.manifest.load(item)))
            except (InputError, OSError, ValueError) as error:  # the file broke or changed after the manifest
                self._fail(item, "load", str(error))
        return loaded

    def _process(
        self, batch: list[ManifestItem], wanted: tuple[str, ...], cached: dict[str, dict[str, float]],
        force_features: bool = False,
    ) -> None:
        """Load, reuse valid cached outputs, predict the rest, validate, cache, score what is
        missing (metrics and, with set-level metrics, features)."""
        loaded = self._load(batch)
        if not loaded:
            return
        items = [entry[0] for entry in loaded]
        images = torch.from_numpy(np.stack([entry[1] for entry in loaded])).permute(0, 3, 1, 2).float() / 255
        masks = torch.from_numpy(np.stack([entry[2] for entry in loaded]))[:, None].float()
        size = self.manifest.spec.size
        outputs: list[torch.Tensor | None] = []
        for item in items:
            array, damage = self.cache.read_output(self.key(item), (3, size, size))
            if damage:
                self.result.damaged.append(f"{item.item_id} output: {damage}")
            outputs.append(None if array is None else torch.from_numpy(array))
        need = [i for i, out in enumerate(outputs) if out is None]
        if need:
            self._predict([items[i] for i in need], images[need], masks[need], need, outputs)
        good = [i for i, out in enumerate(outputs) if out is not None]
        if not good:
            return
        predictions = torch.stack([outputs[i] for i in good])
        needed = tuple(m for m in (*wanted, "out_of_range") if any(m not in cached[items[i].item_id] for i in good))
        rows = self.scorer(images[good], predictions, masks[good], needed) if needed else [{} for _ in good]
        if self.features is not None:
            self._add_features([items[i] for i in good], images[good], predictions, masks[good], force_features)
        for i, output, values in zip(good, predictions, rows):
            item = items[i]
            values["out_of_range"] = out_of_range(output, masks[i])
            merged = {**cached[item.item_id], **values}
            self.cache.put_metrics(self.key(item), self.profile.cache_name, merged, merge=False)
            self.result.scored += bool(needed)
            self._row(item, merged)

    def _add_features(self, items, images, predictions, masks, force: bool) -> None:
        lacking = [j for j, item in enumerate(items) if force or not self.features.has(self.key(item), item.image_sha256)]
        if lacking:
            composites = composite(predictions[lacking], images[lacking], masks[lacking]).clamp(0, 1)
            self.features.add([self.key(items[j]) for j in lacking], [items[j].image_sha256 for j in lacking],
                              composites, images[lacking])

    def _predict(self, items, images, masks, positions, outputs) -> None:
        try:
            predicted = predict_batch(self.predictor, images, masks)
        except Exception as error:  # a broken batch must not lose the rest of the run
            for item in items:
                self._fail(item, "predict", f"{type(error).__name__}: {error}")
            return
        for item, position, output, problem in zip(items, positions, predicted.outputs, predicted.problems):
            if problem:
                self._fail(item, "predict", problem)
                continue
            self.cache.put_output(self.key(item), output.numpy())
            self.result.predicted += 1
            outputs[position] = output


#: Datasets of the paper: for them a method's released weights of the same name are meant.
PAPER_DATASETS = ("celeba", "places2", "dunhuang")


def weights_hint(spec: RunSpec) -> dict[str, str]:
    """``dataset=`` for factories choosing default weights; other datasets get each method's default."""
    return {"dataset": spec.dataset} if spec.dataset in PAPER_DATASETS else {}


def _method_info(evaluation: Evaluation, request: MethodRequest, spec: RunSpec) -> dict[str, Any]:
    predictor = evaluation.predictor
    return {
        "fingerprint": evaluation.fingerprint,
        "checkpoint": request.checkpoint,
        "config": predictor.config(),
        "code": predictor.code_identity(),
        "prediction_code_version": prediction.PREDICTION_CODE_VERSION,
        "reads_ground_truth": predictor.reads_ground_truth,
        "untrained": predictor.untrained,
        "device": str(predictor.device),
        "profile": evaluation.profile.convention(),
        "metrics": list(evaluation.metrics),
        "metrics_device": str(evaluation.scorer.device),
        "seed": spec.seed,
    }


def run(
    spec: RunSpec,
    methods: Sequence[str | MethodRequest],
    checkpoints: dict[str, str] | None = None,
    device: str | None = None,
    batch_size: int = 8,
    out: Path | None = None,
    strict: bool = False,
    show_progress: bool = True,
    options: dict[str, Any] | None = None,
    metrics: Sequence[str] | None = None,
    replace: bool = False,
    rescore: bool = False,
    set_metrics: Sequence[str] = (),
    extractor: Any = None,
    inception_weights: str | None = None,
    set_bootstrap: int = 50,
) -> RunResult:
    """Evaluate ``methods`` on ``spec``; writes ``<out>/<run name>/`` and returns it.

    Every predictor is built (weights checked) and every label claimed before anything runs,
    so a missing checkpoint or a taken label stops the run before hours of work, not after.
    ``rescore`` ignores cached metrics (not cached outputs): ``harness check`` uses it so that
    a metric change is caught even on a warm cache. ``set_metrics`` (FID, KID×1000, P-IDS,
    U-IDS) are computed per bucket from cached per-item features of ``extractor`` (default:
    torch-fidelity's Inception with ``inception_weights``), with ``set_bootstrap`` resamples
    for their intervals.
    """
    requests = parse_methods(methods, checkpoints)
    manifest = build_manifest(spec)
    run_dir = Path(out or runs_root()) / manifest.run_name()
    write_run(run_dir, manifest)
    result = RunResult(run_dir, manifest)
    if strict and manifest.failures:
        raise StrictModeError(f"{len(manifest.failures)} input(s) failed; first: {manifest.failures[0].reason}")
    cache = Cache()
    chosen_sets = [set_metric(name) for name in set_metrics]
    store = None
    if chosen_sets:
        if extractor is None:
            from harness.metrics.inception import InceptionFeatures

            extractor = InceptionFeatures(pick_device(device), inception_weights)
        store = FeatureStore(cache, extractor, manifest.spec.size)
    hint, options = weights_hint(manifest.spec), options or {}
    factories = {r.label: method_entry(r.method).factory() for r in requests}
    check_known(factories, options)
    evaluations = []
    for request in requests:
        chosen = bind(factories[request.label], options, hint)
        predictor = load_predictor(request.method, checkpoint=request.checkpoint, device=device, **chosen)
        evaluation = Evaluation(manifest, predictor, request.label, cache, batch_size, metrics, request.method, rescore,
                                device, store, chosen_sets, set_bootstrap)
        evaluation.result.note = claim_label(run_dir, request.label, request.method, predictor.identity(), replace)
        evaluations.append((request, evaluation))
    for request, evaluation in evaluations:
        info = _method_info(evaluation, request, manifest.spec)
        records = MethodRecords(run_dir, request.label, request.method, evaluation.predictor.identity(), info,
                                evaluation.metrics)
        cache.describe_method(evaluation.fingerprint, {"label": request.label, "method": request.method,
                                                       "checkpoint": request.checkpoint, "config": info["config"]})
        result.methods.append(_evaluate(evaluation, records, manifest.items, show_progress))
        evaluation.predictor = None  # release the model before the next method's evaluation
    if strict and result.failures:
        first = result.failures[0]
        raise StrictModeError(f"{len(result.failures)} item(s) failed; first: {first.method} {first.item_id}: {first.reason}")
    return result


def _evaluate(evaluation: Evaluation, records: MethodRecords, items: list[ManifestItem], show_progress: bool) -> MethodResult:
    """Run one evaluation, saving its records at each finished bucket, every few seconds and at the end."""

    def save(complete: bool = False) -> None:
        partial = evaluation.result
        partial.rows = evaluation.rows(items)
        records.flush(partial.rows, complete, partial.counts(), partial.set_rows)

    try:
        outcome = evaluation.run(items, show_progress, lambda bucket_done: save() if bucket_done or records.due() else None)
    except KeyboardInterrupt:
        save()
        done = sum(r["status"] == "ok" for r in evaluation.result.rows)
        raise Interrupted(
            f"interrupted: kept {done} of {len(items)} items of {evaluation.label} and everything cached "
            f"(records in {records.folder}, marked incomplete); rerun the same command to resume"
        ) from None
    save(complete=True)
    return outcome
