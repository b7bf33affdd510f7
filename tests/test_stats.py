"""Bootstrap intervals and paired tests of harness.reports.stats on hand-checkable data."""
import numpy as np
import pandas as pd
import pytest

from harness.reports.stats import (
    bootstrap_ci,
    bootstrap_means,
    cell_confidence,
    cell_means,
    paired_comparison,
    wilcoxon_p,
)


def _records(method: str, values: dict[str, np.ndarray], dataset: str = "celeba", bucket: str = "0-20") -> pd.DataFrame:
    n = len(next(iter(values.values())))
    return pd.DataFrame(
        {"method": method, "dataset": dataset, "bucket": bucket, "item_id": [f"img{i:04d}" for i in range(n)], **values}
    )


def test_constant_data_has_zero_width_interval():
    low, high = bootstrap_ci(np.full(50, 3.25))
    assert low == high == 3.25


def test_interval_of_large_normal_sample_covers_true_mean():
    values = np.random.default_rng(1).normal(10.0, 2.0, size=5000)
    low, high = bootstrap_ci(values)
    assert low < 10.0 < high
    # width close to the normal-theory 2 * 1.96 * sigma / sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(5000), rel=0.15)


def test_bootstrap_is_seeded_and_chunked_consistently():
    values = np.arange(10.0)
    first, second = bootstrap_means(values, 300, seed=7), bootstrap_means(values, 300, seed=7)
    assert first.shape == (300,) and np.array_equal(first, second)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=2)


def test_nan_values_are_ignored_and_empty_gives_nan():
    assert bootstrap_ci(np.array([2.0, np.nan, 2.0, 2.0, 2.0])) == (2.0, 2.0)
    assert all(np.isnan(bootstrap_ci(np.array([np.nan]))))


def test_cell_means_and_confidence_count_images_per_cell():
    records = pd.concat(
        [
            _records("misf", {"PSNR": np.array([30.0, 32.0, 34.0, 32.0]), "LPIPS": np.array([0.1, np.nan, 0.3, 0.2])}),
            _records("rfrnet", {"PSNR": np.array([29.0, 29.0]), "LPIPS": np.array([0.2, 0.2])}, bucket="20-40"),
        ]
    )
    means = cell_means(records).set_index(["method", "bucket", "metric"])
    assert means.loc[("misf", "0-20", "PSNR"), "mean"] == 32.0
    assert means.loc[("misf", "0-20", "LPIPS"), "n"] == 3
    assert means.loc[("misf", "0-20", "LPIPS"), "mean"] == pytest.approx(0.2)
    conf = cell_confidence(records).set_index(["method", "bucket", "metric"])
    assert np.isnan(conf.loc[("rfrnet", "20-40", "PSNR"), ["ci_low", "ci_high"]].astype(float)).all()  # n = 2
    assert conf.loc[("rfrnet", "20-40", "PSNR"), "note"] == "no interval: n < 4"
    low, high = conf.loc[("misf", "0-20", "PSNR"), ["ci_low", "ci_high"]]
    assert 30.0 <= low < 32.0 < high <= 34.0


def _pair(shift_psnr: float, shift_l1: float, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    psnr, l1 = rng.normal(28, 3, n), rng.normal(2.0, 0.5, n)
    half = rng.normal(0, 0.2, (2, n // 2))
    noise = np.concatenate([half, -half], axis=1)  # symmetric: no shift means no difference at all
    a = _records("misf", {"PSNR": psnr + shift_psnr + noise[0], "L1": l1 + shift_l1 + noise[1] / 10})
    b = _records("rfrnet", {"PSNR": psnr, "L1": l1})
    return pd.concat([a, b.sample(frac=1.0, random_state=0)])  # shuffled: pairing must use item_id


def test_paired_comparison_detects_a_clear_difference():
    result = paired_comparison(_pair(shift_psnr=0.5, shift_l1=-0.1), "misf", "rfrnet").set_index("metric")
    assert result.loc["PSNR", "better"] == "misf" and result.loc["L1", "better"] == "misf"
    assert result.loc["PSNR", "n_pairs"] == 200
    assert result.loc["PSNR", "mean_diff"] == pytest.approx(0.5, abs=0.05)
    assert (result["p_wilcoxon"] < 1e-6).all()


def test_paired_comparison_finds_no_absent_difference():
    result = paired_comparison(_pair(shift_psnr=0.0, shift_l1=0.0), "misf", "rfrnet").set_index("metric")
    assert (result["better"] == "none").all()
    assert result.loc["PSNR", "ci_low"] < 0 < result.loc["PSNR", "ci_high"]
    assert (result["p_wilcoxon"] > 0.05).all()


def test_paired_comparison_uses_shared_items_and_metric_direction():
    a = _records("a", {"L1": np.full(8, 1.0)})
    b = _records("b", {"L1": np.full(6, 2.0)})
    result = paired_comparison(pd.concat([a, b]), "a", "b", metrics=["L1"])
    assert result[["n_pairs", "mean_diff", "better"]].values.tolist() == [[6, -1.0, "a"]]


def test_wilcoxon_of_identical_samples_is_one():
    assert wilcoxon_p(np.zeros(10)) == 1.0
