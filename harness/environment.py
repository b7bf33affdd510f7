"""The environment variables the harness honours, read in this one place.

The command line reads :meth:`Environment.read` once and puts what a run needs into its
configuration (harness.config); functions called without an explicit value (a library call, a
report) fall back to a fresh :meth:`Environment.read`. Nothing else in the harness reads or
writes ``os.environ``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.metrics.model_files import ModelFiles

_TRUE = {"1", "ON", "YES", "TRUE"}


def home_cache() -> Path:
    return Path.home() / ".cache" / "inpainting-harness"


def data_variable(dataset: str) -> str:
    """The variable that can hold a dataset's root; '-' becomes '_' so that every name gives a
    valid shell variable (``places365-val``: HARNESS_DATA_PLACES365_VAL)."""
    return f"HARNESS_DATA_{dataset.upper().replace('-', '_')}"


@dataclass(frozen=True)
class Environment:
    """What the environment says, read once (:meth:`read`); every field has its documented default."""

    cache_root: Path = field(default_factory=home_cache)  # $HARNESS_CACHE
    runs_root: Path = Path("runs")  # $HARNESS_RUNS
    weights_dir: Path = field(default_factory=lambda: home_cache() / "weights")  # $HARNESS_WEIGHTS
    lpips_weights: Path | None = None  # $HARNESS_LPIPS_WEIGHTS
    lpips_retry: bool = False  # $HARNESS_LPIPS_RETRY: try the backbone download again after a failure
    lpips_off: bool = False  # $HARNESS_NO_LPIPS: leave LPIPS empty (no VGG16 download)
    inception_weights: Path | None = None  # $HARNESS_INCEPTION_WEIGHTS
    inception_trunk: Path | None = None  # $HARNESS_INCEPTION_TRUNK (alias $HARNESS_MAT_INCEPTION_TRUNK)
    offline: bool = False  # $HF_HUB_OFFLINE
    progress_seconds: float = 5.0  # $HARNESS_PROGRESS_SECONDS: the interval of log lines
    #: $HARNESS_DATA_<NAME> (datasets) and $HARNESS_NVIDIA_MASKS style variables, by variable name.
    roots: Mapping[str, str] = field(default_factory=dict)
    #: torchrun's description of this process: WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE.
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> "Environment":
        """From ``environ`` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        path = lambda name: Path(env[name]).expanduser() if env.get(name) else None  # noqa: E731
        return cls(
            cache_root=path("HARNESS_CACHE") or home_cache(),
            runs_root=Path(env.get("HARNESS_RUNS", "runs")),
            weights_dir=path("HARNESS_WEIGHTS") or home_cache() / "weights",
            lpips_weights=path("HARNESS_LPIPS_WEIGHTS"),
            lpips_retry=bool(env.get("HARNESS_LPIPS_RETRY")),
            lpips_off=bool(env.get("HARNESS_NO_LPIPS")),
            inception_weights=path("HARNESS_INCEPTION_WEIGHTS"),
            inception_trunk=path("HARNESS_INCEPTION_TRUNK") or path("HARNESS_MAT_INCEPTION_TRUNK"),
            offline=env.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE,
            progress_seconds=float(env.get("HARNESS_PROGRESS_SECONDS", 5)),
            roots={k: v for k, v in env.items() if k.startswith("HARNESS_") and v and
                   (k.startswith("HARNESS_DATA_") or k.endswith("_MASKS"))},
            world_size=int(env.get("WORLD_SIZE", "1")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")),
        )

    def model_files(self, lpips_weights: Path | None = None) -> ModelFiles:
        """Model-based metrics' networks: ``lpips_weights`` (a flag) before the environment's."""
        return ModelFiles(lpips_weights or self.lpips_weights, self.lpips_retry, self.lpips_off, self.inception_trunk)

    def root(self, variable: str | None) -> str | None:
        """The folder a ``$HARNESS_DATA_<NAME>`` / mask-set variable names, if set."""
        return self.roots.get(variable) if variable else None
