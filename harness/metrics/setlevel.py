"""Set-level metrics over feature arrays (one row per image): FID, KID, P-IDS/U-IDS, bootstrap.

Pure functions, no I/O and no model: the features come from :mod:`harness.metrics.inception`
(or any extractor). ``real[i]`` and ``fake[i]`` are the same item (ground truth and its
inpainting) where a function needs pairs. FID and KID call torch-fidelity 0.4.0's own
statistics functions, so our numbers are theirs on the same features; P-IDS/U-IDS restate MAT's
evaluation code, which has no importable package.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from harness.metrics.frechet import frechet_distance_low_rank, is_rank_deficient

#: FID is biased upwards at any finite size, the more so the fewer items (Bińkowski et al., ICLR
#: 2018; Chong & Forsyth, CVPR 2020), and below the 2048 feature dimensions its covariance is
#: rank-deficient (pytorch-fid's README asks for at least 2048 samples). Callers mark FIDs of
#: smaller sets; KID, unbiased at any size, is the metric for small buckets.
FID_MIN_ITEMS = 2048


#: The Fréchet distances by metric key, with the covariance's ddof of each (N − 1: torch-fidelity's
#: ``np.cov``; N: MAT's FeatureStats): what set-state "sums" computes from exact sums
#: (harness.metrics.mergeable) rather than from the features.
FRECHET_DDOF = {"set.FID": 1, "mat.FID": 0}


def fid_is_biased(n_items: int) -> bool:
    """Whether a FID over ``n_items`` per set falls under :data:`FID_MIN_ITEMS`."""
    return n_items < FID_MIN_ITEMS


def _features(x: np.ndarray, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < min_rows:
        raise ValueError(f"{name} must be [N, D] features with N >= {min_rows}, got shape {x.shape}")
    return x


def _pair(real: np.ndarray, fake: np.ndarray, paired: bool = False, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    real, fake = _features(real, "real", min_rows), _features(fake, "fake", min_rows)
    if real.shape[1] != fake.shape[1] or (paired and real.shape != fake.shape):
        raise ValueError(f"real {real.shape} and fake {fake.shape} do not match" + (" row for row" if paired else ""))
    return real, fake


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID = ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)).

    torch-fidelity 0.4.0 ``fid_features_to_statistics`` (mean, ``np.cov``: N-1 normalised) and
    ``fid_statistics_to_metric`` (the square root's trace as the sum of the real parts of the
    square roots of the eigenvalues of S_r S_f; no epsilon added), in float64; with fewer items
    than dimensions the same trace from the N x N problem (harness.metrics.frechet). MAT's and
    StyleGAN's scripts use 1/N covariances and ``scipy.linalg.sqrtm`` instead.
    """
    real, fake = _pair(real, fake)
    if is_rank_deficient(real, fake):  # fewer items than dimensions: the same value, exactly and fast
        return frechet_distance_low_rank(real, fake, ddof=1)
    import torch  # torch-fidelity pulls in torchvision: loaded only when a set metric is computed
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (real, fake)]
    return float(fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID])


def kernel_inception_distance(
    real: np.ndarray,
    fake: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over subsets): unbiased MMD^2 with the kernel (gamma x.y + coef0)^degree,
    gamma = 1/D by default (Bińkowski et al. 2018).

    torch-fidelity 0.4.0 ``kid_features_to_metric`` in float64, called as its
    ``calculate_metrics(input1=fake, input2=real)``: per subset, ``RandomState(seed).choice``
    without replacement draws ``subset_size`` fake rows, then ``subset_size`` real rows; std is
    ``np.std`` (ddof 0). torch-fidelity refuses sets smaller than ``subset_size``; here the subset
    size becomes min(subset_size, N, M): with N = M <= subset_size every subset is all items
    (std 0, not a sampling spread). torch-fidelity's own default seed is 2020.
    """
    import torch
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    real, fake = _pair(real, fake)
    size = min(subset_size, len(real), len(fake))
    out = kid_features_to_metric(
        torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=subsets, kid_subset_size=size, kid_kernel="poly",
        kid_kernel_poly_degree=degree, kid_kernel_poly_gamma=gamma, kid_kernel_poly_coef0=coef0, rng_seed=seed,
        verbose=False,
    )
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


def inception_discriminative_scores(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """(P-IDS, U-IDS) as MAT computes them (fenglinglwb/MAT evaluatoin/cal_fid_pids_uids.py,
    metrics/inception_discriminative_score.py).

    Features are held in float32 (MAT's FeatureStats); ``sklearn.svm.LinearSVC(dual=False)``
    with its defaults is fit on real (label 1) and fake (label 0) rows. U-IDS is its
    misclassification rate on those same rows; P-IDS is the fraction of pairs whose fake has a
    larger decision value than its own real.
    """
    import sklearn.svm  # with pandas and pyarrow behind it: only when IDS is computed

    real, fake = (x.astype(np.float32) for x in _pair(real, fake, paired=True, min_rows=1))
    inputs = np.concatenate([real, fake])
    targets = np.array([1] * len(real) + [0] * len(fake))
    svm = sklearn.svm.LinearSVC(dual=False).fit(inputs, targets)
    u_ids = 1 - svm.score(inputs, targets)
    p_ids = np.mean(svm.decision_function(fake) > svm.decision_function(real))
    return float(p_ids), float(u_ids)


def bootstrap_interval(
    real: np.ndarray,
    fake: np.ndarray,
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn(real, fake)``, resampling pairs (rows)
    with replacement (``default_rng(seed).integers``, as :func:`harness.reports.stats.bootstrap_ci`).

    A resample repeats items, which biases FID and KID further; the interval shows the spread
    of the set, it is not centred on the estimate.
    """
    real, fake = _pair(real, fake, paired=True, min_rows=1)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(real), len(real))
        values.append(metric_fn(real[rows], fake[rows]))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


# --- the registry's implementations: (real, fake) -> one value ------------------------------

def fid(real: np.ndarray, fake: np.ndarray) -> float:
    return frechet_distance(real, fake)


def kid(real: np.ndarray, fake: np.ndarray) -> float:
    """KID's mean over subsets, x1000 as papers print it."""
    return kernel_inception_distance(real, fake)[0] * 1000


def p_ids(real: np.ndarray, fake: np.ndarray) -> float:
    return _ids_of_last_features(real, fake)[0]


def u_ids(real: np.ndarray, fake: np.ndarray) -> float:
    return _ids_of_last_features(real, fake)[1]


_LAST_IDS: list = []  # [(digest of the features, (P-IDS, U-IDS))]


def _ids_of_last_features(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """P-IDS and U-IDS are two registry metrics but one SVM fit (minutes at 2 x 36,500 items):
    the scores of the last features seen, keyed by a digest of their bytes, serve the second."""
    digest = hashlib.blake2b(digest_size=16)
    for x in (real, fake):
        x = np.ascontiguousarray(x)
        digest.update(str((x.dtype, x.shape)).encode())
        digest.update(memoryview(x).cast("B"))
    key = digest.digest()
    if not _LAST_IDS or _LAST_IDS[0][0] != key:
        _LAST_IDS[:] = [(key, inception_discriminative_scores(real, fake))]
    return _LAST_IDS[0][1]
