"""FID, KID and precision/recall from feature vectors, all accumulated in float64.

These functions know nothing about images or networks, so they are tested on synthetic features
and stay fast. Conventions: ``real``/``a`` is the reference set, ``fake``/``b`` the set under test.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Below this many samples the 2048×2048 covariance is rank-deficient; FID is then biased upward.
FID_MIN_SAMPLES = 2048


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, N−1) of N×D features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need an N×D feature array with N ≥ 2, got shape {x.shape}")
    mu = x.mean(axis=0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def _clip_round_off(values: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off (negative, or positive below the matrix's
    numerical resolution) set to 0; else a rank-deficient covariance's ~2000 null-space
    eigenvalues of ±1e-13 would add up their square roots."""
    floor = max(float(values.max(initial=0.0)), 0.0) * len(values) * np.finfo(np.float64).eps
    return np.where(values > floor, values, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(_clip_round_off(values))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrt(Σ1 Σ2)), computed so it stays real and finite for rank-deficient covariances.

    Σ1 Σ2 is not symmetric, which is why a general ``sqrtm`` can return complex values or fail
    when few samples make the covariances singular. But Σ1 Σ2 is similar to
    A = sqrt(Σ1) Σ2 sqrt(Σ1), which is symmetric PSD, so both have the same eigenvalues λ ≥ 0 and
    tr(sqrt(Σ1 Σ2)) = Σ sqrt(λ(A)): two ``eigh`` calls, no complex arithmetic.
    """
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    inner = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(_clip_round_off(values)).sum())


def fid_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                   sigma2: np.ndarray) -> float:
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2): |μ1−μ2|² + tr Σ1 + tr Σ2 − 2 tr sqrt(Σ1Σ2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs "
                         f"{mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    value = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
             - 2 * trace_sqrt_product(sigma1, sigma2))
    return max(float(value), 0.0)  # exact value is ≥ 0; only round-off can go below


def fid_from_features(a: np.ndarray, b: np.ndarray, warn: bool = True) -> float:
    """FID between two feature sets; warns (does not fail) when either has few samples.

    With fewer samples than dimensions the covariances have low rank, and the work shrinks to
    the samples: with A, B the centred features scaled by 1/sqrt(n−1), Σ1 = AᵀA and Σ2 = BᵀB, so
    Σ1Σ2 has the eigenvalues of (ABᵀ)(ABᵀ)ᵀ and tr sqrt(Σ1Σ2) is the sum of the singular values
    of the n1×n2 matrix ABᵀ. Same number as the d×d route, a fraction of the time.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for name, x in (("a", a), ("b", b)):
        if len(x) < 2 or x.ndim != 2:
            raise ValueError(f"need an N×D feature array with N ≥ 2 for {name}, got {x.shape}")
        if warn and len(x) < FID_MIN_SAMPLES:
            warnings.warn(f"FID from {len(x)} samples on side {name} (< {FID_MIN_SAMPLES}): "
                          "biased upward, compare only with FIDs of the same sample size",
                          stacklevel=2)
    if min(len(a), len(b)) >= a.shape[1]:
        return fid_from_stats(*feature_stats(a), *feature_stats(b))
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    A, B = (a - mu1) / np.sqrt(len(a) - 1), (b - mu2) / np.sqrt(len(b) - 1)
    trace_sqrt = np.linalg.svd(A @ B.T, compute_uv=False).sum()
    diff = mu1 - mu2
    value = diff @ diff + (A * A).sum() + (B * B).sum() - 2 * trace_sqrt
    return max(float(value), 0.0)


def kid(a: np.ndarray, b: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of the unbiased MMD² over random subsets.

    Kernel k(x, y) = (x·y/d + 1)³ (Bińkowski et al. 2018); each subset draws
    m = min(max_subset_size, |a|, |b|) samples per side without replacement. The seed is fixed so
    the same features always give the same number.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = min(max_subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per side, got {len(a)} and {len(b)}")
    d = a.shape[1]
    if m == len(a) == len(b):
        num_subsets = 1  # every "subset" is the whole set in another order: one value, std 0
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[i] = within - 2 * kxy.mean()
    return float(values.mean()), float(values.std())


def _block_size(columns: int, budget: int = 1 << 23) -> int:
    """Rows per block so a rows×columns float64 distance matrix stays near 64 MB."""
    return max(1, budget // max(columns, 1))


def _squared_distances(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    """|x−y|² for every pair, via |x|² + |y|² − 2x·y (clipped at 0 against round-off)."""
    d = (x * x).sum(axis=1)[:, None] + y_sq[None, :] - 2 * x @ y.T
    return np.maximum(d, 0, out=d)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each sample to its k-th nearest neighbour in ``x`` (itself excluded)."""
    sq = (x * x).sum(axis=1)
    radii = np.empty(len(x))
    step = _block_size(len(x))
    for start in range(0, len(x), step):
        d = _squared_distances(x[start:start + step], x, sq)
        # position 0 of each sorted row is the sample itself (distance 0)
        radii[start:start + step] = np.partition(d, k, axis=1)[:, k]
    return radii


def manifold_coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> float:
    """Fraction of ``queries`` inside at least one k-NN ball around a ``manifold`` sample."""
    sq = (manifold * manifold).sum(axis=1)
    inside = np.zeros(len(queries), dtype=bool)
    step = _block_size(len(manifold))
    for start in range(0, len(queries), step):
        d = _squared_distances(queries[start:start + step], manifold, sq)
        inside[start:start + step] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Precision: the share of ``fake`` samples inside the real manifold (are samples realistic?).
    Recall: the share of ``real`` samples inside the fake manifold (is the data covered?).
    Distances are computed in row blocks, so memory stays bounded for 10k+ samples.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per side, "
                         f"got {len(real)} and {len(fake)}")
    precision = manifold_coverage(real, knn_radii(real, k), fake)
    recall = manifold_coverage(fake, knn_radii(fake, k), real)
    return precision, recall
