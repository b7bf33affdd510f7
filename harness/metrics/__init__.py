"""Metrics: pure functions (functional), LPIPS loading (lpips_model), conventions (profiles)."""
from harness.metrics.profiles import HIGHER_IS_BETTER, METRICS, PROFILES, Profile, get_profile

__all__ = ["HIGHER_IS_BETTER", "METRICS", "PROFILES", "Profile", "get_profile"]
