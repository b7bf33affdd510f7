"""Metrics: what each is and each profile's convention (registry, no torch), the functions
(functional, lpips_model, ...) and per-item scoring (scoring)."""
from harness.metrics.registry import Metric, Profile, get_metric, get_profile, metric_columns, profiles

__all__ = ["Metric", "Profile", "get_metric", "get_profile", "metric_columns", "profiles"]
