"""FID's statistics as sums that parts of a set merge without their features: the count, the
float64 sum of the features and the float64 sum of their outer products. The union's mean and
covariance follow for either normalisation: N − 1 (torch-fidelity's ``np.cov``, the shared FID)
or N (MAT's and StyleGAN's FeatureStats, ``mat.FID``, which accumulate exactly these sums).

The merge is exact in the sense that matters: the sums of the union are the sums of the parts,
whatever the split; float64 addition is not associative, so two splits differ in the last bits
(about 1e-16 relative per element) and the FID by far less than 1e-12 relative of the value one
process computes from all features (tests/test_reduce.py measures it). Per part this is O(D²)
numbers (32 MB at D = 2,048) whatever the number of items, where the features are O(N·D): the
form for FID-only runs of very many items. KID's subsets, the IDS SVM and the bootstrap need the
features themselves (harness.engine.reduce keeps them per part).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class FrechetSums:
    count: int
    total: np.ndarray  # [D] float64: sum of the rows
    outer: np.ndarray  # [D, D] float64: sum of the rows' outer products

    @classmethod
    def of(cls, features: np.ndarray) -> FrechetSums:
        """The sums of ``features`` [N, D] (held in float64, as torch-fidelity and MAT hold them)."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {x.shape}")
        return cls(len(x), x.sum(0), x.T @ x)

    @classmethod
    def merge(cls, parts: Iterable[FrechetSums]) -> FrechetSums:
        """The sums of the union of the parts (in the order given)."""
        parts = list(parts)
        if not parts or len({p.total.shape for p in parts}) != 1:
            raise ValueError("merge needs at least one part, all of one feature dimension")
        return cls(sum(p.count for p in parts), np.sum([p.total for p in parts], axis=0),
                   np.sum([p.outer for p in parts], axis=0))

    def statistics(self, ddof: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance normalised by N − ``ddof``): ddof 1 as ``np.cov``, 0 as MAT."""
        if self.count - ddof < 1:
            raise ValueError(f"a covariance needs more than {ddof} item(s), got {self.count}")
        mean = self.total / self.count
        return mean, (self.outer - self.count * np.outer(mean, mean)) / (self.count - ddof)


def frechet_from_sums(real: FrechetSums, fake: FrechetSums, ddof: int) -> float:
    """||μ_r − μ_f||² + Tr(S_r + S_f) − 2 Σ sqrt(eigenvalues of S_r S_f) (real parts), the trace
    of the matrix square root as torch-fidelity 0.4.0 computes it (MAT's ``sqrtm`` has the same trace)."""
    (mu_r, s_r), (mu_f, s_f) = real.statistics(ddof), fake.statistics(ddof)
    root_trace = np.sqrt(np.linalg.eigvals(s_r @ s_f).astype(np.complex128)).real.sum()
    return float(np.square(mu_r - mu_f).sum() + np.trace(s_r) + np.trace(s_f) - 2 * root_trace)
