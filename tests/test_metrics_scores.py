"""FID, KID and precision/recall on synthetic features (no network: fast and exact)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from ganvas.metrics import scores


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def _fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook computation (as pytorch-fid does it): scipy's general sqrtm of Σ1Σ2."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(np.real(covmean)))


def test_feature_stats_match_numpy() -> None:
    x = _gaussian(300, 16, 0).astype(np.float32)
    mu, sigma = scores.feature_stats(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10)


def test_fid_of_a_set_with_itself_is_zero() -> None:
    x = _gaussian(500, 64, 1)
    mu, sigma = scores.feature_stats(x)
    assert scores.fid_from_stats(mu, sigma, mu, sigma) <= 1e-6


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_fid_agrees_with_scipy_sqrtm(shift: float) -> None:
    a = _gaussian(3000, 64, 2)
    b = _gaussian(3000, 64, 3, shift=shift, scale=1.2) @ np.diag(np.linspace(0.5, 1.5, 64))
    ours = scores.fid_from_stats(*scores.feature_stats(a), *scores.feature_stats(b))
    assert abs(ours - _fid_reference(a, b)) <= 1e-6


def test_fid_closed_form_for_diagonal_gaussians() -> None:
    # N(μ1, diag v1) vs N(μ2, diag v2): |μ1-μ2|² + Σ (sqrt v1 - sqrt v2)²
    rng = np.random.default_rng(4)
    mu1, mu2, v1, v2 = rng.normal(size=8), rng.normal(size=8), rng.random(8) + .1, rng.random(8) + .1
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    got = scores.fid_from_stats(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(expected, abs=1e-10)


def test_fid_is_symmetric_and_grows_with_shift() -> None:
    a, b, c = _gaussian(800, 32, 5), _gaussian(800, 32, 6, shift=0.5), _gaussian(800, 32, 7, 1.0)
    sa, sb, sc = (scores.feature_stats(x) for x in (a, b, c))
    assert scores.fid_from_stats(*sa, *sb) == pytest.approx(scores.fid_from_stats(*sb, *sa),
                                                            rel=1e-9)
    assert scores.fid_from_stats(*sa, *sb) < scores.fid_from_stats(*sa, *sc)


def test_fid_stays_finite_and_real_for_rank_deficient_samples() -> None:
    # 40 and 60 samples of 2048-d features: both covariances are singular (rank < 60).
    a = np.abs(_gaussian(40, 2048, 8))
    b = np.abs(_gaussian(60, 2048, 9, shift=0.2))
    with pytest.warns(UserWarning, match="2048"):
        value = scores.fid_from_features(a, b)
    assert isinstance(value, float) and np.isfinite(value) and value > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning / RuntimeWarning from the sqrt
        stats_a, stats_b = scores.feature_stats(a), scores.feature_stats(b)
        via_stats = scores.fid_from_stats(*stats_a, *stats_b)
        same = scores.fid_from_stats(*stats_a, *stats_a)
    # the d×d eigen route and the n×n singular-value route agree
    assert via_stats == pytest.approx(value, abs=1e-6)
    assert same <= 1e-6 and scores.fid_from_features(a, a, warn=False) <= 1e-6


def test_fid_rejects_mismatched_statistics() -> None:
    with pytest.raises(ValueError):
        scores.fid_from_stats(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def _mmd_bruteforce(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    return xx + yy - 2 * xy


def test_kid_matches_the_unbiased_mmd_formula() -> None:
    x, y = _gaussian(12, 5, 10), _gaussian(12, 5, 11, shift=0.4)
    mean, std = scores.kid(x, y, num_subsets=3, max_subset_size=12)
    assert mean == pytest.approx(_mmd_bruteforce(x, y), rel=1e-10)
    assert std == pytest.approx(0, abs=1e-12)  # every subset is the whole set


def test_kid_near_zero_for_same_distribution_and_positive_when_shifted() -> None:
    a, b = np.abs(_gaussian(1500, 64, 12)), np.abs(_gaussian(1500, 64, 13))
    shifted = np.abs(_gaussian(1500, 64, 14, shift=0.3))
    same_mean, same_std = scores.kid(a, b, num_subsets=20)
    self_mean, _ = scores.kid(a, a, num_subsets=20)
    shift_mean, shift_std = scores.kid(a, shifted, num_subsets=20)
    assert shift_mean > 0 and shift_mean > 10 * abs(same_mean) and shift_mean > 5 * shift_std
    assert abs(same_mean) < 3 * same_std + 1e-3
    # A set against itself: overlapping subsets put self-pairs into the cross term, a -O(1/m) bias.
    assert abs(self_mean) < 0.3 * shift_mean
    assert same_std > 0  # 1000-of-1500 subsets differ


def test_kid_is_deterministic_and_rejects_tiny_sets() -> None:
    a, b = _gaussian(50, 8, 15), _gaussian(60, 8, 16)
    assert scores.kid(a, b, num_subsets=5) == scores.kid(a, b, num_subsets=5)
    with pytest.raises(ValueError):
        scores.kid(a[:1], b)


def test_knn_radii_and_coverage_match_bruteforce(monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.spatial.distance import cdist

    monkeypatch.setattr(scores, "_block_size", lambda columns: 7)  # force many small blocks
    real, fake = _gaussian(50, 6, 17), _gaussian(40, 6, 18, shift=0.5)
    d = cdist(real, real, "sqeuclidean")
    expected = np.sort(d, axis=1)[:, 3]
    np.testing.assert_allclose(scores.knn_radii(real, 3), expected, rtol=1e-9, atol=1e-9)
    inside = (cdist(fake, real, "sqeuclidean") <= expected[None, :]).any(axis=1).mean()
    assert scores.manifold_coverage(real, expected, fake) == pytest.approx(inside)


def test_precision_recall_on_synthetic_clusters() -> None:
    real = _gaussian(600, 16, 19)
    good = scores.precision_recall(real, _gaussian(600, 16, 20))
    collapsed = scores.precision_recall(real, _gaussian(600, 16, 21, scale=0.2))
    far = scores.precision_recall(real, _gaussian(600, 16, 22, shift=5.0))
    assert min(good) > 0.6
    assert collapsed[0] > 0.95 and collapsed[1] < 0.2  # realistic but not diverse
    assert far[0] < 0.01 and far[1] < 0.01


def test_precision_recall_half_the_modes_missing() -> None:
    centres = np.eye(8) * 20
    rng = np.random.default_rng(23)
    real = np.concatenate([c + rng.normal(size=(200, 8)) for c in centres])
    fake = np.concatenate([c + rng.normal(size=(400, 8)) for c in centres[:4]])
    precision, recall = scores.precision_recall(real, fake)
    assert precision > 0.8 and 0.4 < recall < 0.6


def test_precision_recall_needs_more_than_k_samples() -> None:
    with pytest.raises(ValueError):
        scores.precision_recall(_gaussian(3, 4, 0), _gaussian(10, 4, 1), k=3)
