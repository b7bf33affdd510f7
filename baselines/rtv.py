"""RTV structure smoothing ("tsmooth", Xu et al. SIGGRAPH Asia 2012) as StructureFlow computes it.

A port of StructureFlow's ``scripts/matlab/code/tsmooth.m``, which the authors ran offline in
MATLAB to make the structure images their networks read. Per iteration the texture weights
come from the current estimate, then ``(I + lambda/2 * L_w) x = I`` is solved per channel, always
with the input image on the right-hand side. The numerics are tsmooth.m's MATLAB branch:
``ichol(A, michol='on')`` (zero fill-in, dropped fill-in subtracted from both diagonals so that
``L L' e = A e``) as the preconditioner of ``pcg(A, b, 0.1, 100)``, column-major unknowns,
zero initial guess. The loose tolerance makes the result depend on these details, which is
why they are reproduced rather than replaced by an exact solve.

Two parameter sets are offered, since which one the released weights saw is undocumented:

* ``function-defaults`` (the default): ``tsmooth(I, 0.015, 3)`` with the function's own
  sharpness 0.02 and 4 iterations. The repository's lossless ``example/*_tsmooth.png`` files
  (celeba 1-3, places 1) equal this port's output exactly after uint8 rounding.
* ``script``: ``tsmooth(I, 0.015, 3, 0.001, 3)`` as written in ``generate_structure_images.m``.
  The JPEG examples of places 2-4 and paris 1 match it (mean difference about 1.2 grey levels,
  JPEG noise), celeba 4 matches the other set: the authors used both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import convolve1d
from scipy.sparse.linalg import SuperLU, splu


@dataclass(frozen=True)
class RTVSettings:
    lam: float
    sigma: float
    sharpness: float
    iterations: int


SETTINGS: dict[str, RTVSettings] = {
    "function-defaults": RTVSettings(lam=0.015, sigma=3.0, sharpness=0.02, iterations=4),
    "script": RTVSettings(lam=0.015, sigma=3.0, sharpness=0.001, iterations=3),
}
DEFAULT_SETTINGS = "function-defaults"

#: tsmooth.m's fixed gradient floor (``vareps``) and pcg tolerance and iteration cap.
_VAREPS = 0.001
PCG_TOL = 0.1
PCG_MAXIT = 100


def _gaussian(sigma: float) -> np.ndarray:
    """``fspecial('gaussian', [1, bitor(round(5 sigma), 1)], sigma)`` (MATLAB rounds halves up)."""
    size = int(np.floor(5 * sigma + 0.5)) | 1
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g[g < np.finfo(float).eps * g.max()] = 0
    return g / g.sum()


def _lowpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """``conv2(conv2(im, g, 'same'), g', 'same')`` per channel: separable, zero padding."""
    g = _gaussian(sigma)
    return convolve1d(convolve1d(image, g, axis=1, mode="constant"), g, axis=0, mode="constant")


def texture_weights(x: np.ndarray, sigma: float, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """``computeTextureWeights`` (mask all zero, as tsmooth is called): [H,W] weights to the right and below."""
    channels = x.shape[2]
    fx = np.zeros_like(x)
    fy = np.zeros_like(x)
    fx[:, :-1] = np.diff(x, axis=1)
    fy[:-1] = np.diff(x, axis=0)
    wto = 1 / np.maximum(np.sqrt(fx**2 + fy**2).sum(2) / channels, sharpness)
    smooth = _lowpass(x, sigma)
    gfx = np.zeros_like(x)
    gfy = np.zeros_like(x)
    gfx[:, :-1] = np.diff(smooth, axis=1)
    gfy[:-1] = np.diff(smooth, axis=0)
    wx = wto / np.maximum(np.abs(gfx).sum(2) / channels, _VAREPS)
    wy = wto / np.maximum(np.abs(gfy).sum(2) / channels, _VAREPS)
    wx[:, -1] = 0
    wy[-1, :] = 0
    return wx, wy


def _wavefronts(rows: int, cols: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pixels grouped by p + q: each depends only on its upper and left neighbours."""
    p, q = np.indices((rows, cols))
    order = np.argsort((p + q).ravel(), kind="stable")
    starts = np.cumsum([0, *np.bincount((p + q).ravel())])
    pf, qf = p.ravel()[order], q.ravel()[order]
    return [(pf[a:b], qf[a:b]) for a, b in zip(starts[:-1], starts[1:])]


def michol0(diagonal: np.ndarray, below: np.ndarray, right: np.ndarray) -> sp.csc_matrix:
    """MATLAB ``ichol(A, struct('michol','on'))`` of the 5-point matrix A, as a sparse lower L.

    ``diagonal``, ``below``, ``right`` [H,W]: A's diagonal and its entries to the pixel below
    (``A(i+1,i)``) and to the right (``A(i+H,i)``) in column-major order. With no fill-in, L
    keeps A's pattern: column i holds L(i,i), L(i+1,i) = below/L(i,i), L(i+H,i) = right/L(i,i).
    The fill-in ``L(i+1,i) L(i+H,i)`` at (i+H, i+1) lies outside the pattern and is subtracted
    from both diagonals instead (the "modified" variant).
    """
    rows, cols = diagonal.shape
    # padded by one leading row and column of zeros so that neighbours of the border exist
    root = np.zeros((rows + 1, cols + 1))
    low = np.zeros_like(root)  # L(i+1, i)
    side = np.zeros_like(root)  # L(i+H, i)
    for p, q in _wavefronts(rows, cols):
        up, left = (p, q + 1), (p + 1, q)  # pixel above and pixel to the left, in padded indices
        d = diagonal[p, q] - low[up] ** 2 - side[left] ** 2 - low[up] * side[up] - low[left] * side[left]
        if np.any(d <= 0):
            raise np.linalg.LinAlgError("ichol: non-positive pivot")
        root[p + 1, q + 1] = np.sqrt(d)
        low[p + 1, q + 1] = below[p, q] / root[p + 1, q + 1]
        side[p + 1, q + 1] = right[p, q] / root[p + 1, q + 1]
    n = rows * cols
    flat = lambda a: a[1:, 1:].ravel(order="F")  # noqa: E731 (column-major, as MATLAB's (:))
    return sp.diags([flat(root), flat(low)[:-1], flat(side)[: n - rows]], [0, -1, -rows], format="csc")


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS, whose threads spin badly on a shared CPU."""
    return float(np.einsum("i,i->", a, b))


def _norm(a: np.ndarray) -> float:
    return _dot(a, a) ** 0.5


def _pcg(matrix: sp.spmatrix, rhs: np.ndarray, lu: SuperLU) -> np.ndarray:
    """MATLAB ``pcg(A, b, PCG_TOL, PCG_MAXIT, L, L')`` from x0 = 0 (``lu`` holds L): stops at the
    first iterate whose residual (confirmed by recomputing b - A x) is <= tol * |b|; else returns
    the iterate with the smallest residual."""
    tolb = PCG_TOL * _norm(rhs)
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    if _norm(residual) <= tolb:
        return x
    best, best_norm = x, _norm(residual)
    rho = 1.0
    direction = np.zeros_like(rhs)
    for iteration in range(PCG_MAXIT):
        z = lu.solve(lu.solve(residual), trans="T")
        rho_old, rho = rho, _dot(residual, z)
        direction = z if iteration == 0 else z + (rho / rho_old) * direction
        q = matrix @ direction
        alpha = rho / _dot(direction, q)
        x = x + alpha * direction
        residual = residual - alpha * q
        norm = _norm(residual)
        if norm <= tolb:
            residual = rhs - matrix @ x
            norm = _norm(residual)
            if norm <= tolb:
                return x
        if norm < best_norm:
            best, best_norm = x, norm
    return best


def solve(image: np.ndarray, wx: np.ndarray, wy: np.ndarray, lam: float) -> np.ndarray:
    """``solveLinearEquation``: (I + lam * weighted Laplacian) x = image, per channel."""
    rows, cols, _ = image.shape
    n = rows * cols
    right, below = -lam * wx, -lam * wy
    diagonal = 1 - (right + below)
    diagonal[:, 1:] -= right[:, :-1]  # west neighbour's horizontal weight
    diagonal[1:, :] -= below[:-1, :]  # north neighbour's vertical weight
    dx, dy = right.ravel(order="F"), below.ravel(order="F")
    lower = sp.diags([dy[:-1], dx[: n - rows]], [-1, -rows])
    matrix = (lower + lower.T + sp.diags(diagonal.ravel(order="F"))).tocsr()
    # L is triangular: SuperLU without pivoting or reordering keeps it as is and solves with L and L'
    lu = splu(michol0(diagonal, below, right), permc_spec="NATURAL", diag_pivot_thresh=0)
    out = np.empty_like(image)
    for c in range(image.shape[2]):
        out[:, :, c] = _pcg(matrix, image[:, :, c].ravel(order="F"), lu).reshape(rows, cols, order="F")
    return out


def tsmooth(image: np.ndarray, settings: RTVSettings | str = DEFAULT_SETTINGS) -> np.ndarray:
    """RTV structure of a float [H,W,3] image in [0,1]; float64 [H,W,3], not clipped."""
    if isinstance(settings, str):
        settings = SETTINGS[settings]
    image = np.asarray(image, dtype=np.float64)
    x = image
    sigma = settings.sigma
    for _ in range(settings.iterations):
        wx, wy = texture_weights(x, sigma, settings.sharpness)
        x = solve(image, wx, wy, settings.lam / 2)
        sigma = max(sigma / 2, 0.5)
    return x


def to_uint8(structure: np.ndarray) -> np.ndarray:
    """What MATLAB's ``imwrite`` stores for a double image: round(clip(x, 0, 1) * 255)."""
    return np.round(np.clip(structure, 0, 1) * 255).astype(np.uint8)
