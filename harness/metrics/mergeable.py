"""Set-level statistics that parts of a set merge without their features.

* :class:`FrechetSums`: FID's statistics as float64 sums (the count, the sum of the features, the
  sum of their outer products). The union's mean and covariance follow for either normalisation:
  N − 1 (torch-fidelity's ``np.cov``, the shared FID) or N (MAT's and StyleGAN's FeatureStats,
  ``mat.FID``, which accumulate exactly these sums). Float64 addition is not associative, so
  plain float sums of two splits differ in the last bits.
* :class:`ExactSums`: the same sums held as integers, so that any split and any order give the
  same bits. Each feature is put on a declared fixed point, q = round(x · 2^FRACTION_BITS) with
  |x| < FEATURE_RANGE (a feature outside is refused, never clipped); q is split into two 16-bit
  limbs, and a batch's limb products are float64 matrix products whose every partial sum is an
  integer below 2^53 (exact, whatever order the BLAS adds in), added into int64 accumulators that
  cannot overflow below MAX_ITEMS items. The FID is then a deterministic function of integers.
* The sample of KID, P-/U-IDS and the bootstrap (:func:`bottom_k`): per bucket of the manifest,
  the K items with the smallest blake2b of their item id, those of them scored. Every process of
  a shared run holds the manifest, so each keeps the features of its own sampled items and the
  union of the parts' is exactly the one-process sample (K items in all, whatever the split).

Per part this is O(D²) integers whatever the number of items (docs/set-state.md has the sizes).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

#: Fixed point of the exact sums: features are held as integer multiples of 2^-FRACTION_BITS
#: (float32 features in [0.5, 256) are exact on it; smaller ones are rounded by at most 2^-25).
FRACTION_BITS = 24
#: Features must lie in (−FEATURE_RANGE, FEATURE_RANGE): q then fits 32 bits (Inception's pool
#: features lie in [0, ~20]).
FEATURE_RANGE = 2.0 ** 8
_LIMB = 16  # q = high · 2^16 + low, low in [0, 2^16), |high| <= 2^16: every limb product <= 2^32
_ROWS = 2 ** 20  # rows in a float64 limb sum: 2^20 products <= 2^32 (2^21 for the cross term) stay below 2^53
#: Items one accumulator takes: a cross term adds up to 2^33 per item to an int64.
MAX_ITEMS = 2 ** 30


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


class ExactSums:
    """Count, Σq and Σqqᵀ of features on the fixed point, as integers (see the module's notes).

    Σqqᵀ = limbs[0]·2^32 + limbs[1]·2^16 + limbs[2] with the limb accumulators high·highᵀ,
    high·lowᵀ + low·highᵀ and low·lowᵀ: exact float64 sums of up to 2^21 items (every limb
    product is at most 2^32), moved into int64 before they could lose a bit."""

    def __init__(self, dim: int, count: int = 0, total: np.ndarray | None = None, limbs: np.ndarray | None = None):
        self.dim, self.count = dim, count
        self.total = np.zeros(dim, np.int64) if total is None else np.asarray(total, np.int64)
        # int64 limb totals, made when first needed: until 2^20 rows only the float64 sums exist
        self._limbs = None if limbs is None else np.asarray(limbs, np.int64)
        if self.total.shape != (dim,) or (self._limbs is not None and self._limbs.shape != (3, dim, dim)):
            raise ValueError(f"sums of {dim} features need a total [{dim}] and limbs [3, {dim}, {dim}]")
        self._pending: list[np.ndarray] | None = None  # float64 limb sums of the rows since the last move
        self._pending_rows = 0

    def add(self, features: np.ndarray) -> None:
        """Add the rows of ``features`` [N, D]; a value outside the declared range is refused."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be [N, {self.dim}], got shape {x.shape}")
        outside = ~(np.abs(x) < FEATURE_RANGE)  # NaN too
        if outside.any():
            raise ValueError(f"a feature value {x[outside][0]} is outside the exact sums' declared range "
                             f"(-{FEATURE_RANGE:g}, {FEATURE_RANGE:g}); use --set-state features for this extractor")
        if self.count + len(x) > MAX_ITEMS:
            raise ValueError(f"exact sums hold at most {MAX_ITEMS} items per set")
        from scipy.linalg.blas import dgemm, dsyrk  # BLAS accumulating in place: C += AᵀB (upper triangle: AᵀA)

        q = np.rint(np.ldexp(x, FRACTION_BITS)).astype(np.int64)
        for start in range(0, len(q), _ROWS):
            chunk = q[start:start + _ROWS]
            if self._pending_rows + len(chunk) > _ROWS:
                self._settle()
            if self._pending is None:
                self._pending = [np.zeros((self.dim, self.dim), order="F") for _ in range(3)]
            high, low = (chunk >> _LIMB).astype(np.float64), (chunk & ((1 << _LIMB) - 1)).astype(np.float64)
            hh, hl, ll = self._pending
            self._pending = [dsyrk(1.0, high, beta=1.0, c=hh, trans=1, lower=0, overwrite_c=1),
                             dgemm(1.0, high, low, beta=1.0, c=hl, trans_a=1, overwrite_c=1),  # + its transpose when settled
                             dsyrk(1.0, low, beta=1.0, c=ll, trans=1, lower=0, overwrite_c=1)]
            self._pending_rows += len(chunk)
        self.total += q.sum(0)
        self.count += len(x)

    def _settle(self) -> None:
        if self._pending is not None:
            hh, hl, ll = (p.astype(np.int64) for p in self._pending)
            self._pending, self._pending_rows = None, 0
            strict = np.tril_indices(self.dim, -1)
            for square in (hh, ll):  # syrk filled the upper triangle
                square[strict] = square.T[strict]
            pending = np.stack([hh, hl + hl.T, ll])
            if self._limbs is None:
                self._limbs = pending
            else:
                self._limbs += pending

    @property
    def limbs(self) -> np.ndarray:
        """[3, D, D] int64: the limb accumulators."""
        self._settle()
        if self._limbs is None:
            self._limbs = np.zeros((3, self.dim, self.dim), np.int64)
        return self._limbs

    @classmethod
    def merge(cls, parts: Sequence[ExactSums]) -> ExactSums:
        """The sums of the union: integer additions, the same bits in any order."""
        if not parts or len({p.dim for p in parts}) != 1:
            raise ValueError("merge needs at least one part, all of one feature dimension")
        count = sum(p.count for p in parts)
        if count > MAX_ITEMS:
            raise ValueError(f"exact sums hold at most {MAX_ITEMS} items per set, the parts have {count}")
        return cls(parts[0].dim, count, np.sum([p.total for p in parts], axis=0), np.sum([p.limbs for p in parts], axis=0))

    def _canonical(self) -> tuple[np.ndarray, np.ndarray]:
        """Σqqᵀ as high · 2^32 + low with low in [0, 2^32): the one form of the integers, whatever
        limbs they were added in (int64 high, uint32 low)."""
        hh, hl, ll = self.limbs
        low = (ll & 0xFFFFFFFF) + ((hl & 0xFFFF) << 16)  # below 2^33
        high = hh + (hl >> 16) + (ll >> 32) + (low >> 32)
        return high, (low & 0xFFFFFFFF).astype(np.uint32)

    def frechet(self) -> FrechetSums:
        """The float64 sums (a fixed function of the integers) for :func:`frechet_from_sums`."""
        high, low = self._canonical()
        outer = (high.astype(np.float64) * 2.0 ** 32 + low.astype(np.float64)) * 2.0 ** (-2 * FRACTION_BITS)
        return FrechetSums(self.count, self.total.astype(np.float64) * 2.0 ** -FRACTION_BITS, outer)

    def packed(self) -> dict[str, np.ndarray]:
        """Arrays to store: the count, Σq and the upper triangle of Σqqᵀ (it is symmetric) in its
        canonical form: 12 bytes per entry."""
        upper = np.triu_indices(self.dim)
        high, low = self._canonical()
        return {"count": np.array(self.count, np.int64), "total": self.total, "high": high[upper], "low": low[upper]}

    @classmethod
    def unpacked(cls, arrays: dict[str, np.ndarray]) -> ExactSums:
        dim = len(arrays["total"])
        limbs = np.zeros((3, dim, dim), np.int64)
        upper = np.triu_indices(dim)
        for limb, name in ((0, "high"), (2, "low")):  # high · 2^32 + low: limbs (high, 0, low)
            limbs[limb][upper] = arrays[name]
            limbs[limb][upper[1], upper[0]] = arrays[name]
        return cls(dim, int(arrays["count"]), arrays["total"], limbs)


def sample_key(item_id: str) -> bytes:
    """The order of the sample: blake2b of the item id (16 bytes), smallest first."""
    return hashlib.blake2b(item_id.encode(), digest_size=16).digest()


def bottom_k(item_ids: Iterable[str], k: int) -> set[str]:
    """The ``k`` item ids with the smallest :func:`sample_key` (all of them when fewer)."""
    return set(sorted(item_ids, key=lambda item: (sample_key(item), item))[:k])


@dataclass
class BucketState:
    """What a part keeps of one bucket in sums mode: the exact sums of every scored item (real,
    fake) and the features of its sampled items (``ids`` with rows of ``real`` and ``fake``)."""

    real: ExactSums
    fake: ExactSums
    ids: list[str]
    real_sample: np.ndarray
    fake_sample: np.ndarray

    @classmethod
    def merge(cls, parts: Sequence[BucketState], k: int, position: dict[str, int]) -> BucketState:
        """The union's sums and its sample (the parts' samples; their bottom ``k``, should a part hold
        more), the sample's rows in item order (``position``: each item's place in the manifest)."""
        rows = [(part, j) for part in parts for j in range(len(part.ids))]
        chosen = bottom_k((p.ids[j] for p, j in rows), k)
        rows = sorted(((p, j) for p, j in rows if p.ids[j] in chosen), key=lambda r: position[r[0].ids[r[1]]])
        dim = parts[0].real.dim

        def stack(side: str) -> np.ndarray:
            return np.array([getattr(p, side)[j] for p, j in rows], np.float64).reshape(len(rows), dim)

        return cls(ExactSums.merge([p.real for p in parts]), ExactSums.merge([p.fake for p in parts]),
                   [p.ids[j] for p, j in rows], stack("real_sample"), stack("fake_sample"))
