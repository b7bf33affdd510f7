"""A run: build the manifest, the predictors and the labels, then dispatch each evaluation.

Data flows one way: manifest → predictor (only for cache misses) → cache → metrics (only for
items not yet scored under the profile and its version) → records (harness.engine.evaluation does
one method). The records are rewritten as items finish, so an interrupted run loses at most
the batches in flight and a rerun resumes.
"""
from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace as _replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

from harness.engine import prediction
from harness.store.atomic import stale_temporary_files
from harness.store.cache import Cache
from harness.engine.distributed import Shard, write_method_part
from harness.errors import Interrupted, StrictModeError, UsageError
from harness.engine.evaluation import Evaluation, MethodResult
from harness.engine.execution import Execution, configure
from harness.engine.features import FeatureStore, set_state
from harness.labels import label_problem
from harness.data.manifest import Failure, Manifest, ManifestItem
from harness.metrics.registry import get_profile, set_metric
from harness.engine.options import bind, check_known
from harness.engine.reduce import reduce_run
from harness.engine.pipeline import tune_allocator
from harness.predictor import ItemPredictor, pick_device
from harness.engine.progress import current, stage
from harness.store.parts import remove_parts
from harness.store.records import MethodRecords, claim_label, method_folder, write_run
from harness.store.results import write_results
from harness.registry import import_target, load_predictor, method_entry
from harness.store.shardnotes import note_shard, records_written
from harness.store.worklock import exclusive
from harness.config import MethodRequest, RunConfig, ScoringConfig, parse_methods
from harness.data.protocols import check as check_protocol
from harness.data.spec import RunSpec


__all__ = ["Evaluation", "MethodRequest", "MethodResult", "RunResult", "parse_methods", "run", "weights_hint"]


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
        if label and label != "unnamed" and label not in taken and label_problem(label) is None:
            return _replace(request, label=label)
    return request


def weights_hint(spec: RunSpec) -> dict[str, str]:
    """``dataset=`` for factories choosing default weights; other datasets get each method's default."""
    return {"dataset": spec.dataset} if spec.dataset in PAPER_DATASETS else {}


def _extractor(profile: str, device: Any, scoring: ScoringConfig) -> Any:
    """The profile's own feature extractor (mat: NVIDIA's wrapper around the offline trunk), else
    torch-fidelity's Inception with the official weights or the offline trunk."""
    factory = get_profile(profile).features
    if factory:
        if scoring.inception_weights:
            raise UsageError(f"profile {profile} computes its set-level metrics with its own feature extractor; "
                             "--inception-weights / $HARNESS_INCEPTION_WEIGHTS (torch-fidelity's file) does not apply to it")
        return import_target(factory)(device, scoring.models)
    from harness.metrics.inception import InceptionFeatures

    return InceptionFeatures(device, scoring.inception_weights, scoring.models.inception_trunk)


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
        # A fixed-size model under another size's protocol: its numbers are marked in every table.
        "resized": predictor.size.native not in (None, spec.size),
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
        **({"set_state": set_state(evaluation.set_sample)} if evaluation.set_sample is not None else {}),
        **(predictor.run_info() if isinstance(predictor, ItemPredictor) else {}),  # supplied predictions
    }


def _run(config: RunConfig, held: ExitStack) -> RunResult:
    """Evaluate the configured methods on the configured protocol; writes
    ``<runs root>/<run name>/`` and returns it.

    Every predictor is built (weights checked) and every label claimed before anything runs,
    so a missing checkpoint or a taken label stops the run before hours of work, not after.
    ``rescore`` ignores cached metrics (not cached outputs): ``harness check --rescore`` uses it
    to recompute metrics whose code changed without a version bump. Set-level metrics (FID, KID×1000, P-IDS,
    U-IDS) are computed per bucket from cached per-item features of the configured extractor
    (default: torch-fidelity's Inception). The execution settings are part of each predictor's
    identity. ``name_plugins`` labels unlabelled plug-ins by their predictor's name
    (:func:`plugin_label`; the command line does). A process of a run shared with others
    (harness.engine.distributed) does its part; only the one that writes the records goes on.
    """
    ex, scoring, output = config.execution, config.scoring, config.output
    check_protocol(config.spec)  # a named protocol's settings are its own, whoever built the spec
    shard = ex.shard or Shard(0, 1)  # one process is the one-shard case
    device, metrics_device, workers = shard.settings(ex.device, ex.metrics_device, ex.workers, ex.rescore)
    manifest = shard.manifest(config.spec, output.cache_root, output.roots)
    run_dir = output.runs_root / manifest.run_name()
    if shard.writes_records or shard.group is None:  # --shard too: the reducer reads the manifest
        write_run(run_dir, manifest)
    result = RunResult(run_dir, manifest)
    requests = list(config.methods)
    if current() is not None:
        current().expect(len(manifest.items) * len(requests))
    if ex.strict and manifest.failures:
        raise StrictModeError(f"{len(manifest.failures)} input(s) failed; first: {manifest.failures[0].reason}")
    cache = Cache(output.cache_root)
    chosen_sets = [set_metric(name, config.spec.profile) for name in scoring.set_metrics]
    store = None
    if chosen_sets:
        extractor = scoring.extractor
        if extractor is None:
            extractor = _extractor(config.spec.profile, pick_device(device), scoring)
        store = FeatureStore(cache, extractor, manifest.spec.size)
    hint, options = weights_hint(manifest.spec), dict(config.options)
    factories = {r.label: method_entry(r.method).factory() for r in requests}
    check_known(factories, options)
    evaluations, taken = [], {r.label for r in requests}
    for request in requests:
        chosen = bind(factories[request.label], options, hint)
        with stage("load models"):
            predictor = load_predictor(request.method, checkpoint=request.checkpoint, device=device, **chosen)
        if ex.name_plugins:
            request = plugin_label(request, predictor, taken)
            taken.add(request.label)
        if isinstance(predictor, ItemPredictor):  # before the fingerprint: it covers the files used
            predictor.attach(manifest)
        configure(predictor, ex.execution or Execution())
        if predictor.device.type == "cpu":
            tune_allocator()
        evaluation = Evaluation(manifest, predictor, request.label, cache, ex.batch_size,
                                scoring.item_metrics(manifest.spec.profile), request.method,
                                ex.rescore, metrics_device, store, chosen_sets, scoring.set_bootstrap, ex.keep, workers,
                                files=scoring.models, set_sample=scoring.sample)
        notes = [claim_label(run_dir, request.label, request.method, predictor.identity(), ex.replace),
                 *(predictor.notes() if isinstance(predictor, ItemPredictor) else [])]
        evaluation.result.note = "; ".join(n for n in notes if n) or None
        if evaluation.set_sample is not None:  # set-state sums: this process's part, from which a rerun starts
            evaluation.earlier = (method_folder(run_dir, request.label), shard.index, shard.count)
        evaluations.append((request, evaluation))
    keys = [f"{manifest.fingerprint()}|{e.fingerprint}|{shard.name()} of {shard.count}" for _, e in evaluations]
    held.enter_context(exclusive(cache.root, keys, run_dir, wait=ex.wait, stream=sys.stderr if shard.shows_progress else None))
    shard.compute([e for _, e in evaluations], manifest.items, output.progress)
    records = {request.label: MethodRecords(run_dir, request.label, request.method, evaluation.predictor.identity(),
                                            _method_info(evaluation, request, manifest.spec), evaluation.metrics)
               for request, evaluation in evaluations}
    if not shard.single:  # this process's part; the reducer merges the parts (harness.engine.reduce)
        shard.write_parts([(e, records[r.label]) for r, e in evaluations], manifest.fingerprint())
        if not shard.writes_records:
            if shard.group is None:  # --shard: tell `report` that the reducer is still to run
                note_shard(run_dir.parent, run_dir.name, shard.index, shard.count, [r.label for r, _ in evaluations])
            shard.close()
            return result
    for request, evaluation in evaluations:
        info = records[request.label].info
        cache.describe_method(evaluation.fingerprint, {"label": request.label, "method": request.method,
                                                       "checkpoint": request.checkpoint, "config": info["config"]})
        if shard.single:
            if evaluation.set_sample is None:  # its records replace what earlier parts of the label would give
                remove_parts(method_folder(run_dir, request.label))
            with stage(f"evaluate {request.label}"):
                # set-state sums: its part (as the reducer reads it), from which a rerun starts
                keep_part = partial(write_method_part, shard, evaluation, records[request.label], manifest.items,
                                    manifest.fingerprint()) if evaluation.set_sample is not None else None
                result.methods.append(_evaluate(evaluation, records[request.label], manifest.items, output.progress,
                                                keep_part))
        evaluation.predictor = None  # release the model before the next method's evaluation
    if shard.single:
        write_results(run_dir)
        records_written(run_dir.parent, run_dir.name)
        for leftover in stale_temporary_files(run_dir):  # of writers killed in earlier runs (kill -9)
            leftover.unlink(missing_ok=True)
    else:
        with stage("reduce"):  # rank 0: every rank's part is written
            result.methods = reduce_run(run_dir, [r.label for r, _ in evaluations], "rank")
        for method, (_, evaluation) in zip(result.methods, evaluations):
            method.note = evaluation.result.note
        shard.close()  # the other ranks wait here for the reduction
    if ex.strict and result.failures:
        first = result.failures[0]
        raise StrictModeError(f"{len(result.failures)} item(s) failed; first: {first.method} {first.item_id}: {first.reason}")
    return result


def run(config: RunConfig) -> RunResult:
    """Evaluate the configured methods on the configured protocol (:func:`_run` says how). A process
    computing the same work (same cache, data, method and part) makes it wait, and say so
    (harness.store.worklock): what that process finishes then comes from the cache."""
    with ExitStack() as held:
        return _run(config, held)


def _evaluate(evaluation: Evaluation, records: MethodRecords, items: list[ManifestItem], show_progress: bool,
              keep_part: Callable[[bool], None] | None = None) -> MethodResult:
    """Run one evaluation, saving its records at each finished bucket, every few seconds and at the end,
    and ``keep_part(interrupted)`` (set-state sums: its part, from which a rerun starts) at the end or
    when interrupted.

    A save rewrites every row so far, so its cost grows with the items done: saves are spaced by
    at least 20 times the last one's cost, which keeps them under 5 % of the run at any size."""
    last = {"at": time.monotonic(), "cost": 0.0}

    def save(complete: bool = False) -> None:
        start = time.monotonic()
        partial = evaluation.result
        partial.rows = evaluation.rows(items)
        records.flush(partial.rows, complete, partial.counts(), partial.set_rows)
        last["at"], last["cost"] = time.monotonic(), time.monotonic() - start

    def due() -> bool:
        return records.due() and time.monotonic() - last["at"] >= 20 * last["cost"]

    try:
        outcome = evaluation.run(items, show_progress, lambda bucket_done: save() if bucket_done or due() else None)
    except KeyboardInterrupt:
        save()
        lost = ""
        try:
            if keep_part and evaluation.resumed:  # before that, the earlier part is still the state to keep
                keep_part(True)
        except (OSError, RuntimeError, KeyError) as error:  # the rerun then computes the sums in full
            lost = f"; its set-level sums not kept ({error})"
        done = sum(r["status"] == "ok" for r in evaluation.result.rows)
        raise Interrupted(
            f"interrupted: kept {done} of {len(items)} items of {evaluation.label} and everything cached "
            f"(records in {records.folder}, marked incomplete){lost}; rerun the same command to resume"
        ) from None
    evaluation.cache.sync()  # the method's cache entries are durable before its records say complete
    save(complete=True)
    if keep_part:
        keep_part(False)
        evaluation.release_set_state()
    return outcome
