"""One batch through a predictor: zero the holes, fit the method's size, predict on copies,
validate, fit back.

Validation happens before anything is clamped: a prediction that is not a float tensor of the
expected shape fails the batch; an item with NaN or Inf values fails alone. Values outside
[0,1] are legal but counted (``harness.metrics.functional.out_of_range``), since scoring
clamps the composite.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.engine.adapt import plan_fit
from harness.engine.execution import Execution, executing, memory_format
from harness.predictor import ItemPredictor, Predictor

#: Version of the harness's prediction path (this module and harness.engine.adapt), part of every
#: prediction's cache key: bump it when a change moves any method's outputs.
PREDICTION_CODE_VERSION = 2


class PredictionError(ValueError):
    """The predictor's output for a whole batch is unusable (type, dtype or shape)."""


@dataclass(frozen=True)
class Predicted:
    outputs: torch.Tensor  # float32 [B,3,H,W] on the predictor's device, raw (not clamped)
    problems: list[str | None]  # per item: why it is unusable, or None


def predict_batch(predictor: Predictor, images: torch.Tensor, masks: torch.Tensor,
                  item_ids: list[str] | None = None) -> Predicted:
    """images float [B,3,H,W] in [0,1] (ground truth), masks [B,1,H,W] with 1 = hole; ``item_ids``
    name the items for an :class:`~harness.predictor.ItemPredictor`, which may fail single items."""
    fit = plan_fit(predictor.size, images.shape[2], images.shape[3])
    inputs, fitted_masks = fit.forward(images * (1 - masks), masks)
    device = predictor.device
    # Copies: nothing a predictor does to its inputs (in-place ops included) reaches scoring.
    execution = getattr(predictor, "execution", None) or Execution()
    kwargs = {"ground_truth": fit.ground_truth(images).to(device, copy=True)} if predictor.reads_ground_truth else {}
    inputs = memory_format(inputs.to(device, copy=True), execution)
    given: list[str | None] = [None] * len(images)
    with torch.inference_mode(), executing(execution, device):
        if isinstance(predictor, ItemPredictor):
            out, given = predictor.predict_items(list(item_ids or []), inputs, fitted_masks.to(device, copy=True))
        else:
            out = predictor.predict(inputs, fitted_masks.to(device, copy=True), **kwargs)
    expected = (len(images), 3, *fit.input_size)
    if not isinstance(out, torch.Tensor):
        raise PredictionError(f"predictor returned {type(out).__name__}, expected a tensor of shape {expected}")
    if tuple(out.shape) != expected:
        raise PredictionError(f"predictor returned shape {tuple(out.shape)}, expected {expected}")
    if not out.dtype.is_floating_point:
        raise PredictionError(f"predictor returned dtype {str(out.dtype).removeprefix('torch.')}; "
                              "predictions are float images in [0,1]")
    out = out.detach().to(torch.float32)
    finite = torch.isfinite(out).flatten(1).all(1).tolist()
    problems = [reason or (None if ok else "prediction has NaN or Inf values") for reason, ok in zip(given, finite)]
    return Predicted(fit.backward(out), problems)
