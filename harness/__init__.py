"""MISF evaluation harness: one protocol for MISF, its ablations, baselines and your models.

``load_predictor`` and ``register_method`` come from :mod:`harness.registry`, loaded on first
use so that importing any harness module (the core modules models import, or the report) stays
light.
"""
from typing import Any

__all__ = ["load_predictor", "register_method"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
