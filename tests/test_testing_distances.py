"""Distribution distances, moment tests and assertion helpers: identities, power and calibration."""

import math

import numpy as np
import pytest
from scipy import stats

import sdekit as sk

T = sk.testing


def test_ks_one_and_two_sample():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4000)
    assert T.ks_1d(x, stats.norm.cdf).pvalue > 1e-3
    # A shift of 0.15 sd with 4000 samples: D ~ 0.06 vs the 1e-6 critical value ~0.04.
    assert T.ks_1d(x + 0.15, stats.norm.cdf).pvalue < 1e-6
    y = rng.standard_normal(3000)
    assert T.ks_1d(x, y).pvalue > 1e-3
    assert T.ks_1d(x[:, None], y + 0.2).pvalue < 1e-6
    with pytest.raises(ValueError):
        T.ks_1d(np.zeros((5, 2)), stats.norm.cdf)


def test_sliced_wasserstein_identities():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2000, 3))
    b = rng.standard_normal((1500, 3)) * 2.0
    assert T.sliced_wasserstein(a, a) == 0.0
    assert T.sliced_wasserstein(a, b) == pytest.approx(T.sliced_wasserstein(b, a), rel=1e-12)
    assert T.sliced_wasserstein(3 * a, 3 * b) == pytest.approx(3 * T.sliced_wasserstein(a, b), rel=1e-12)
    # A pure translation by v: each projection moves by theta.v, so SW_2^2 = mean (theta.v)^2 ~ |v|^2 / d.
    v = np.array([3.0, 0.0, 0.0])
    sw = T.sliced_wasserstein(a, a + v, n_projections=2000)
    assert sw**2 == pytest.approx(9.0 / 3, rel=0.1)  # 2000 directions: mean of (theta_1)^2 within ~3 %


def test_wasserstein_1d_exact_values():
    u = np.array([0.0, 1.0, 2.0, 3.0])
    assert T.sliced_wasserstein(u, u + 0.5) == pytest.approx(0.5)
    assert T.sliced_wasserstein(u, u[::-1] + 0.5, p=1) == pytest.approx(0.5)  # order-free
    # Unequal sizes: W1 between uniform on {0, 1} and on {0, 0.5, 1, 1.5}: quantile functions differ by
    # 0, 0.5, 0, 0.5 on quarters -> W1 = 0.25.
    assert T.sliced_wasserstein(np.array([0.0, 1.0]), np.array([0.0, 0.5, 1.0, 1.5]), p=1) == pytest.approx(0.25)


def test_sliced_wasserstein_converges_to_gaussian_value():
    """1-d W2 between N(0,1) and N(0, 4) is |1 - 2| = 1 (Gaussians: W2^2 = dm^2 + (s1 - s2)^2)."""
    rng = np.random.default_rng(2)
    w = T.sliced_wasserstein(rng.standard_normal(50_000), 2 * rng.standard_normal(50_000))
    assert w == pytest.approx(1.0, abs=0.03)


def test_mmd_unbiased_and_powerful():
    rng = np.random.default_rng(3)
    vals = np.array([T.mmd(rng.standard_normal((200, 2)), rng.standard_normal((200, 2))) for _ in range(40)])
    # Unbiased: the mean over 40 null replicates is within 4 standard errors of 0 (and some are negative).
    assert abs(vals.mean()) < 4 * vals.std(ddof=1) / math.sqrt(40)
    assert (vals < 0).any()
    alt = T.mmd(rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + [0.7, 0.0])
    assert alt > vals.max()


def test_mmd_matches_a_direct_computation():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((30, 2)), rng.standard_normal((20, 2)) + 0.3
    z = np.concatenate([a, b])
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    h = np.median(d[np.triu_indices(50, 1)])
    assert sk.testing.distances.median_bandwidth(a, b) == pytest.approx(h, rel=1e-10)
    k = np.exp(-(d**2) / (2 * h * h))
    kaa, kbb, kab = k[:30, :30], k[30:, 30:], k[:30, 30:]
    direct = ((kaa.sum() - 30) / (30 * 29) + (kbb.sum() - 20) / (20 * 19) - 2 * kab.mean())
    assert T.mmd(a, b) == pytest.approx(direct, rel=1e-10)


def test_mmd_permutation_test():
    rng = np.random.default_rng(5)
    _, p_null = T.mmd_test(rng.standard_normal((150, 1)), rng.standard_normal((150, 1)), n_permutations=100)
    _, p_alt = T.mmd_test(rng.standard_normal((150, 1)), 1.0 + rng.standard_normal((150, 1)), n_permutations=100)
    assert p_null > 0.01 and p_alt <= 1 / 101 + 1e-12


def test_moment_test_z_scores_are_calibrated():
    """Under the null the z-scores are ~N(0, 1). 4000 independent components of n = 400 normal draws each
    (moment_test is vectorised over components): two-sided 5 % rejection rates are 5 % +- 1.5 %
    (binomial sd 0.34 %, plus O(1/n) bias of the kurtosis estimate)."""
    rng = np.random.default_rng(6)
    r = T.moment_test(rng.standard_normal((400, 4000)), mean=np.zeros(4000), var=np.ones(4000))
    for z in (r.mean_z, r.var_z):
        assert abs((np.abs(z) > 1.96).mean() - 0.05) < 0.015


def test_moment_test_skewed_law_stays_near_nominal_in_the_tail():
    """Exponential law (skewness 2, kurtosis 9), n = 400: the mean test is near nominal and the variance
    test at most mildly anti-conservative (documented: ~7 % at 5 %, ~0.3 % at 0.1 %)."""
    rng = np.random.default_rng(8)
    r = T.moment_test(rng.exponential(1.0, size=(400, 4000)), mean=np.ones(4000), var=np.ones(4000))
    assert abs((np.abs(r.mean_z) > 1.96).mean() - 0.05) < 0.015
    assert (np.abs(r.var_z) > 1.96).mean() < 0.09
    assert (np.abs(r.var_z) > 3.29).mean() < 0.006


def test_assert_helpers_pass_and_fail():
    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, size=(20_000, 2))
    T.assert_moments(x, mean=[1.0, 1.0], var=[4.0, 4.0])
    with pytest.raises(AssertionError, match="moments differ"):
        T.assert_moments(x, mean=[1.0, 1.1], var=[4.0, 4.0])  # 0.1 = 7 standard errors
    with pytest.raises(AssertionError, match="moments differ"):
        T.assert_moments(x, var=[4.0, 4.3])  # 7.5 % of the variance = 7.5 standard errors
    T.assert_distribution(x[:, 0], stats.norm(1.0, 2.0).cdf)
    with pytest.raises(AssertionError, match="Kolmogorov"):
        T.assert_distribution(x[:, 0], stats.norm(1.0, 1.8).cdf)
    T.assert_same_distribution(x[:300], rng.normal(1.0, 2.0, size=(300, 2)), alpha=0.01, n_permutations=100)
    with pytest.raises(AssertionError, match="MMD"):
        T.assert_same_distribution(x[:300], rng.normal(2.0, 2.0, size=(300, 2)), alpha=0.01, n_permutations=100)
    fit = T.fit_order([0.1, 0.05, 0.025], [0.1, 0.05, 0.025])
    T.assert_order(fit, 1.0, 0.1)
    with pytest.raises(AssertionError, match="order 0.5"):
        T.assert_order(fit, 0.5, 0.1)
