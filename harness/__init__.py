"""MISF evaluation harness: one protocol for MISF, its ablations, baselines and your models."""
from harness.registry import load_predictor, register_method

__all__ = ["load_predictor", "register_method"]
__version__ = "0.1.0"
