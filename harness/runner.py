"""A run: build the manifest, the predictors and the labels, then dispatch each evaluation.

Data flows one way: manifest → predictor (only for cache misses) → cache → metrics (only for
items not yet scored under the profile and its version) → records (harness.evaluation does
one method). The records are rewritten as items finish, so an interrupted run loses at most
the batches in flight and a rerun resumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace as _replace
from pathlib import Path
from typing import Any, Sequence

from harness import prediction
from harness.cache import Cache
from harness.distributed import Shard
from harness.errors import Interrupted, StrictModeError, UsageError
from harness.evaluation import Evaluation, MethodResult
from harness.execution import Execution, configure
from harness.features import FeatureStore
from harness.manifest import Failure, Manifest, ManifestItem, build_manifest
from harness.metrics.registry import get_profile, import_target, set_metric
from harness.options import bind, check_known
from harness.pipeline import tune_allocator
from harness.predictor import pick_device
from harness.progress import current, stage
from harness.records import MethodRecords, claim_label, runs_root, write_run
from harness.results import write_results
from harness.registry import load_predictor, method_entry
from harness.spec import RunSpec

__all__ = ["Evaluation", "MethodRequest", "MethodResult", "RunResult", "parse_methods", "run", "weights_hint"]


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
class RunResult:
    run_dir: Path
    manifest: Manifest
    methods: list[MethodResult] = field(default_factory=list)

    @property
    def failures(self) -> list[Failure]:
        return self.manifest.failures + [f for m in self.methods for f in m.failures]


#: Datasets of the paper: for them a method's released weights of the same name are meant.
PAPER_DATASETS = ("celeba", "places2", "dunhuang")


def plugin_label(request: MethodRequest, predictor: Any, taken: set[str]) -> MethodRequest:
    """A plug-in given without a label (``pkg.module:factory``) goes under its predictor's ``name``,
    else its factory's name, when that label is free in the run."""
    if request.label != request.method or ":" not in request.method:
        return request
    for label in (predictor.name, request.method.partition(":")[2]):
        if label and label != "unnamed" and label not in taken:
            return _replace(request, label=label)
    return request


def weights_hint(spec: RunSpec) -> dict[str, str]:
    """``dataset=`` for factories choosing default weights; other datasets get each method's default."""
    return {"dataset": spec.dataset} if spec.dataset in PAPER_DATASETS else {}


def _extractor(profile: str, device: Any, inception_weights: str | None) -> Any:
    """The profile's own feature extractor (mat: NVIDIA's wrapper around the offline trunk), else
    torch-fidelity's Inception with the official weights or the offline trunk."""
    factory = get_profile(profile).features
    if factory:
        if inception_weights:
            raise UsageError(f"profile {profile} computes its set-level metrics with its own feature extractor; "
                             "--inception-weights (torch-fidelity's file) does not apply to it")
        return import_target(factory)(device)
    from harness.metrics.inception import InceptionFeatures

    return InceptionFeatures(device, inception_weights)


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
        "execution": predictor.execution.describe(),
        "batch_size": evaluation.batch_size,
        "keep_outputs": evaluation.keep,
        "profile": evaluation.profile.convention(),
        "metrics": list(evaluation.metrics),
        "metrics_device": str(evaluation.scorer.device),
        "metrics_reference_code": evaluation.scorer.reference,
        "seed": spec.seed,
        "set_features": evaluation.features.describe() if evaluation.features is not None else None,
    }


def run(
    spec: RunSpec,
    methods: Sequence[str | MethodRequest],
    checkpoints: dict[str, str] | None = None,
    device: str | None = None,
    batch_size: int | None = None,
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
    execution: Execution = Execution(),
    keep: str = "holes",
    workers: int | None = None,
    metrics_device: str | None = None,
    name_plugins: bool = False,
    shard: Shard | None = None,
) -> RunResult:
    """Evaluate ``methods`` on ``spec``; writes ``<out>/<run name>/`` and returns it.

    Every predictor is built (weights checked) and every label claimed before anything runs,
    so a missing checkpoint or a taken label stops the run before hours of work, not after.
    ``rescore`` ignores cached metrics (not cached outputs): ``harness check`` uses it so that
    a metric change is caught even on a warm cache. ``set_metrics`` (FID, KID×1000, P-IDS,
    U-IDS) are computed per bucket from cached per-item features of ``extractor`` (default:
    torch-fidelity's Inception with ``inception_weights``), with ``set_bootstrap`` resamples
    for their intervals. ``execution`` (precision, channels_last, compile, cuDNN autotuning) is
    part of each predictor's identity; ``keep`` is what of each prediction the cache keeps
    (holes, full, none); ``batch_size`` and ``workers`` default per device. ``name_plugins``
    labels unlabelled plug-ins by their predictor's name (:func:`plugin_label`; the command line does).
    ``shard`` (from harness.distributed) makes this process do its part of a run shared with
    others; only the process that writes the records (rank 0 of torchrun) goes on to write them.
    """
    requests = parse_methods(methods, checkpoints)
    if shard is not None:
        device, metrics_device, workers = shard.settings(device, metrics_device, workers, rescore)
    manifest = build_manifest(spec) if shard is None else shard.manifest(spec)
    run_dir = Path(out or runs_root()) / manifest.run_name()
    writes = shard is None or shard.writes_records
    if writes:
        write_run(run_dir, manifest)
    result = RunResult(run_dir, manifest)
    if current() is not None:
        current().expect(len(manifest.items) * len(requests))
    if strict and manifest.failures:
        raise StrictModeError(f"{len(manifest.failures)} input(s) failed; first: {manifest.failures[0].reason}")
    cache = Cache()
    chosen_sets = [set_metric(name, spec.profile) for name in set_metrics]
    store = None
    if chosen_sets:
        if extractor is None:
            extractor = _extractor(spec.profile, pick_device(device), inception_weights)
        store = FeatureStore(cache, extractor, manifest.spec.size)
    hint, options = weights_hint(manifest.spec), options or {}
    factories = {r.label: method_entry(r.method).factory() for r in requests}
    check_known(factories, options)
    evaluations, taken = [], {r.label for r in requests}
    for request in requests:
        chosen = bind(factories[request.label], options, hint)
        with stage("load models"):
            predictor = load_predictor(request.method, checkpoint=request.checkpoint, device=device, **chosen)
        if name_plugins:
            request = plugin_label(request, predictor, taken)
            taken.add(request.label)
        configure(predictor, execution)
        if predictor.device.type == "cpu":
            tune_allocator()
        evaluation = Evaluation(manifest, predictor, request.label, cache, batch_size, metrics, request.method, rescore,
                                metrics_device, store, chosen_sets, set_bootstrap, keep, workers)
        evaluation.result.note = claim_label(run_dir, request.label, request.method, predictor.identity(), replace)
        evaluations.append((request, evaluation))
    if shard is not None:
        shard.compute([e for _, e in evaluations], manifest.items, show_progress)
        if not writes:
            return result
    for request, evaluation in evaluations:
        info = _method_info(evaluation, request, manifest.spec)
        records = MethodRecords(run_dir, request.label, request.method, evaluation.predictor.identity(), info,
                                evaluation.metrics)
        cache.describe_method(evaluation.fingerprint, {"label": request.label, "method": request.method,
                                                       "checkpoint": request.checkpoint, "config": info["config"]})
        with stage(f"evaluate {request.label}"):
            # after a shared computation everything is cached: rank 0's progress line already counted it
            result.methods.append(_evaluate(evaluation, records, manifest.items, show_progress and shard is None))
        evaluation.predictor = None  # release the model before the next method's evaluation
    write_results(run_dir)
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
    evaluation.cache.sync()  # the method's cache entries are durable before its records say complete
    save(complete=True)
    return outcome
