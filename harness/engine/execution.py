"""How a model runs: precision, memory format, compilation, cuDNN autotuning.

Each choice can move the outputs, so it is part of the predictor's identity (and cache key):
results of bf16 and fp32 never share a key or a label. The default is fp32 without TF32, the
arithmetic of the official numbers. On a GPU ``benchmarks/pipeline_bench.py`` reports how far
tf32 and bf16 move each metric from fp32 (MISF), so users can choose knowingly; fp16 is not measured.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Execution:
    precision: str = "fp32"  # fp32 (no TF32), tf32 (TF32 matmuls and convolutions), bf16 or fp16 autocast
    channels_last: bool = False
    compile: bool = False  # torch.compile of the predictor's module
    cudnn_benchmark: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{self.precision}'; choose from {', '.join(PRECISIONS)}")

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def configure(predictor: Any, execution: Execution) -> None:
    """Apply ``execution`` to a predictor once (memory format and compilation of its module)."""
    predictor.execution = execution
    module = getattr(predictor, "module", None)
    if module is None:
        if execution != Execution():
            raise ValueError(f"{predictor.name} has no torch module: only the default execution applies")
        return
    if execution.channels_last:
        predictor.module = module.to(memory_format=torch.channels_last)
    if execution.compile:
        predictor.module = torch.compile(predictor.module)


@contextmanager
def executing(execution: Execution, device: torch.device) -> Iterator[None]:
    """TF32, cuDNN autotuning and autocast as ``execution`` says, restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    tf32 = execution.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = execution.cudnn_benchmark
    dtype = _AUTOCAST.get(execution.precision)
    try:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def memory_format(tensor: torch.Tensor, execution: Execution) -> torch.Tensor:
    return tensor.contiguous(memory_format=torch.channels_last) if execution.channels_last else tensor
