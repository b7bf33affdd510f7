"""Run methods over a manifest: predict what is not cached, score what is not scored, record.

Data flows one way: manifest → predictor (only for cache misses) → cache → metrics (only for
items not yet scored under the profile) → records. Every finished item is in the cache the
moment it is done, so an interrupted run loses at most the batch in flight.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from harness.adapt import plan_fit
from harness.cache import Cache, output_key
from harness.manifest import Failure, Manifest, ManifestItem, build_manifest
from harness.metrics import METRICS, get_profile
from harness.metrics.lpips_model import lpips_distance
from harness.predictor import Predictor, pick_device
from harness.progress import progress_bar
from harness.records import runs_root, write_failures, write_method, write_spec
from harness.registry import load_predictor
from harness.spec import RunSpec

ITEM_COLUMNS = ["item_id", "bucket", "image_id", "mask_id", "hole_ratio"]


class StrictModeError(RuntimeError):
    """Raised in --strict mode after the run's records are written, when any item failed."""


@dataclass
class MethodResult:
    method: str
    rows: list[dict[str, Any]]
    failures: list[Failure]
    predicted: int = 0
    scored: int = 0


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


def _tensors(manifest: Manifest, items: list[ManifestItem]) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = zip(*(manifest.load(item) for item in items))
    image_t = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    mask_t = torch.from_numpy(np.stack(masks))[:, None].float()
    return image_t, mask_t


def predict_batch(predictor: Predictor, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Zero the holes, fit the method's size, predict, fit back; validates the output shape."""
    fit = plan_fit(predictor.size, images.shape[2], images.shape[3])
    inputs, fitted_masks = fit.forward(images * (1 - masks), masks)
    kwargs = {"ground_truth": fit.ground_truth(images).to(predictor.device)} if predictor.reads_ground_truth else {}
    with torch.inference_mode():
        out = predictor.predict(inputs.to(predictor.device), fitted_masks.to(predictor.device), **kwargs)
    expected = (len(images), 3, *fit.input_size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"predictor returned {got}, expected {expected}")
    return fit.backward(out.detach().float().cpu())


class Evaluation:
    """One method on one manifest, with its cache and metric profile."""

    def __init__(
        self, manifest: Manifest, predictor: Predictor, method: str, cache: Cache, batch_size: int,
        metrics: tuple[str, ...] = METRICS,
    ):
        self.manifest, self.predictor, self.method = manifest, predictor, method
        self.cache, self.batch_size, self.metrics = cache, batch_size, metrics
        self.profile = get_profile(manifest.spec.profile)
        # The method name is part of it: two factories of one class with settings the class
        # does not report in config() must never share cached outputs.
        self.fingerprint = hashlib.sha256(f"{method}|{predictor.fingerprint()}".encode()).hexdigest()[:32]
        self._lpips: Any = None

    def key(self, item: ManifestItem) -> str:
        return output_key(self.fingerprint, item.image_sha256, item.mask_sha256, self.manifest.spec.size)

    def _lpips_fn(self):
        if self._lpips is None:
            self._lpips = lpips_distance(self.profile.lpips_net, pick_device(None)) or False
        return self._lpips or None

    def _predict(self, batch: list[ManifestItem], wanted: tuple[str, ...], result: MethodResult) -> None:
        """Predict, cache, and score the live outputs at once (no second decode of the inputs)."""
        images, masks = _tensors(self.manifest, batch)
        try:
            out = predict_batch(self.predictor, images, masks).clamp(0, 1)
        except Exception as error:  # a broken batch must not lose the rest of the run
            result.failures += [Failure(self.method, i.item_id, "predict", f"{type(error).__name__}: {error}") for i in batch]
            return
        good = []
        for index, (item, prediction) in enumerate(zip(batch, out)):
            if not torch.isfinite(prediction).all():
                result.failures.append(Failure(self.method, item.item_id, "predict", "prediction has NaN or Inf values"))
                continue
            self.cache.put_output(self.key(item), prediction.numpy())
            result.predicted += 1
            good.append(index)
        if good and wanted:
            self._score_tensors([batch[i] for i in good], images[good], out[good], masks[good], wanted, result)

    def _score_tensors(self, batch, images, predictions, masks, wanted: tuple[str, ...], result: MethodResult) -> None:
        rows = self.profile.compute(images, predictions, masks, wanted, self._lpips_fn() if "LPIPS" in wanted else None)
        for item, values in zip(batch, rows):
            self.cache.put_metrics(self.key(item), self.profile.name, values)
            result.scored += 1

    def _score_cached(self, batch: list[ManifestItem], wanted: tuple[str, ...], result: MethodResult) -> None:
        images, masks = _tensors(self.manifest, batch)
        predictions = torch.stack([torch.from_numpy(self.cache.get_output(self.key(i))) for i in batch])
        self._score_tensors(batch, images, predictions, masks, wanted, result)

    def _missing_metrics(self, item: ManifestItem, wanted: tuple[str, ...]) -> tuple[str, ...]:
        cached = self.cache.get_metrics(self.key(item), self.profile.name)
        return tuple(m for m in wanted if m not in cached)

    def run(self, items: list[ManifestItem], show_progress: bool = True) -> MethodResult:
        result = MethodResult(self.method, [], [])
        # LPIPS is built only when some item lacks it: a fully cached rerun builds nothing.
        lacking_lpips = "LPIPS" in self.metrics and any(self._missing_metrics(i, ("LPIPS",)) for i in items)
        wanted = tuple(m for m in self.metrics if m != "LPIPS" or (lacking_lpips and self._lpips_fn() is not None))
        with progress_bar(show_progress) as progress:
            for bucket in dict.fromkeys(i.bucket for i in items):
                in_bucket = [i for i in items if i.bucket == bucket]
                todo = [i for i in in_bucket if not self.cache.has_output(self.key(i))]
                task = progress.add_task(
                    f"{self.method} · {bucket}", total=len(in_bucket), completed=len(in_bucket) - len(todo)
                )
                for batch in _batches(todo, self.batch_size):
                    self._predict(batch, wanted, result)
                    progress.advance(task, len(batch))
            failed = {f.item_id for f in result.failures}
            # Outputs cached by an earlier (or interrupted) run that still lack metrics.
            missing = {i.item_id: self._missing_metrics(i, wanted) for i in items if i.item_id not in failed}
            unscored = [i for i in items if missing.get(i.item_id)]
            if unscored:
                task = progress.add_task(f"{self.method} · metrics", total=len(unscored))
                for batch in _batches(unscored, self.batch_size):
                    needed = tuple(m for m in wanted if any(m in missing[i.item_id] for i in batch))
                    self._score_cached(batch, needed, result)
                    progress.advance(task, len(batch))
        for item in items:
            if item.item_id in failed:
                continue
            values = self.cache.get_metrics(self.key(item), self.profile.name)
            result.rows.append({**{c: getattr(item, c) for c in ITEM_COLUMNS}, **values, "cache_key": self.key(item)})
        return result


#: Datasets of the paper: for them a method's released weights of the same name are meant.
PAPER_DATASETS = ("celeba", "places2", "dunhuang")


def weights_hint(spec: RunSpec) -> dict[str, str]:
    """``dataset=`` for factories choosing default weights; other datasets get each method's default."""
    return {"dataset": spec.dataset} if spec.dataset in PAPER_DATASETS else {}


def run(
    spec: RunSpec,
    methods: list[str],
    checkpoints: dict[str, str] | None = None,
    device: str | None = None,
    batch_size: int = 8,
    out: Path | None = None,
    strict: bool = False,
    show_progress: bool = True,
    options: dict[str, Any] | None = None,
    metrics: tuple[str, ...] = METRICS,
) -> RunResult:
    """Evaluate ``methods`` on ``spec``; writes ``<out>/<spec.run_name()>/`` and returns it."""
    manifest = build_manifest(spec)
    run_dir = Path(out or runs_root()) / spec.run_name()
    write_spec(run_dir, spec)
    manifest.write(run_dir / "manifest.csv")
    write_failures(run_dir / "input_failures.csv", manifest.failures)
    if strict and manifest.failures:
        raise StrictModeError(f"{len(manifest.failures)} input(s) failed; first: {manifest.failures[0].reason}")
    result = RunResult(run_dir, manifest)
    cache = Cache()
    for method in methods:
        predictor = load_predictor(
            method, checkpoint=(checkpoints or {}).get(method), device=device, **{**weights_hint(spec), **(options or {})}
        )
        evaluation = Evaluation(manifest, predictor, method, cache, batch_size, metrics)
        outcome = evaluation.run(manifest.items, show_progress)
        info = {
            "fingerprint": evaluation.fingerprint,
            "config": predictor.config(),
            "reads_ground_truth": predictor.reads_ground_truth,
            "device": str(predictor.device),
            "profile": evaluation.profile.convention(),
            "predicted": outcome.predicted,
            "scored": outcome.scored,
            "seed": spec.seed,
        }
        columns = ITEM_COLUMNS + list(METRICS) + ["cache_key"]
        write_method(run_dir, method, outcome.rows, columns, outcome.failures, info)
        result.methods.append(outcome)
        if strict and outcome.failures:
            raise StrictModeError(f"{method}: {len(outcome.failures)} item(s) failed; first: {outcome.failures[0].reason}")
    return result
