"""Time reversal: OU from its time-T law, state-dependent diffusion (GBM, lognormal marginals,
diagonal and general noise), the probability flow, and Langevin sampling (the tutorial's Example 6).

Tolerances: a sample mean / std of n paths has standard error std/sqrt(n) / std/sqrt(2n); every
bound below is at least 4 standard errors plus the O(dt) discretisation bias measured once.
"""

import math

import numpy as np
import pytest
from scipy import stats

import sdekit as sk
import sdekit_diffusion as skd
import sdekit_scores as sks

OU = skd.OUSDE(theta=1.5, sigma=0.8, mu=0.5, T=1.0)
X0 = sks.Gaussian([2.0], [[0.09]])  # N(2, 0.3^2)


def _ou_reversal(n, n_steps, method="euler_maruyama"):
    ps = X0.perturbed(OU)
    y0 = ps.at(OU.T).sample(n, seed=11)  # the exact time-T law
    rev = sks.reverse(OU, ps, OU.T)
    return sk.solve(rev, y0, (0.0, OU.T), n_steps=n_steps, seed=12, method=method, backend="numpy").ys[-1]


@pytest.mark.parametrize("method", ["euler_maruyama", "heun"])
def test_ou_reversal_recovers_initial_gaussian(method):
    y = _ou_reversal(10_000, 200, method)
    assert abs(y.mean() - 2.0) < 0.02 and abs(y.std() - 0.3) < 0.02


@pytest.mark.slow
def test_ou_reversal_acceptance():
    y = _ou_reversal(40_000, 1000)
    print(f"OU reversal: mean {y.mean():.4f} (2), std {y.std():.4f} (0.3)")
    assert abs(y.mean() - 2.0) < 0.02 and abs(y.std() - 0.3) < 0.02


def test_ou_probability_flow_recovers_initial_gaussian():
    ps = X0.perturbed(OU)
    y0 = ps.at(OU.T).sample(5000, seed=1)
    ode = sks.probability_flow(OU, ps, T=OU.T)
    y = sk.solve(ode, y0, (0.0, OU.T), n_steps=50, method="rk4").ys[-1]
    assert abs(y.mean() - 2.0) < 0.02 and abs(y.std() - 0.3) < 0.02
    # the flow transports the exact quantiles: y is a monotone map of y0, so the ranks agree
    assert np.array_equal(np.argsort(y[:, 0]), np.argsort(y0[:, 0]))


# --- state-dependent diffusion: GBM dX = mu X dt + sig X dW, X_0 lognormal -----------------------
MU, SIG, T = 0.2, 0.6, 1.0
M0, V0 = 0.0, 0.25  # log X_0 ~ N(M0, V0)


def _lognormal_law(t):
    return M0 + (MU - 0.5 * SIG**2) * t, V0 + SIG**2 * t


def gbm_score(t, x):
    """Score of the lognormal law of X_t: d/dx [-log x - (log x - m)^2 / (2 v)]."""
    m, v = _lognormal_law(t)
    return -1.0 / x - (np.log(x) - m) / (v * x)


def _gbm(noise):
    if noise == "diagonal":
        return sk.SDE(lambda t, x: MU * x, lambda t, x: SIG * x)
    # the same two independent GBMs written with a (n, 2, 2) diagonal-matrix diffusion
    def g(t, x):
        G = np.zeros(x.shape + (2,))
        G[:, 0, 0], G[:, 1, 1] = SIG * x[:, 0], SIG * x[:, 1]
        return G

    return sk.SDE(lambda t, x: MU * x, g, noise="general", brownian_dim=2)


def _reverse_gbm(noise, divergence, n=8000, n_steps=200):
    mT, vT = _lognormal_law(T)
    y0 = np.exp(sks.Gaussian([mT, mT], vT).sample(n, seed=5))
    rev = sks.reverse(_gbm(noise), gbm_score, T, divergence=divergence)
    y = sk.solve(rev, y0, (0.0, T), n_steps=n_steps, seed=6, backend="numpy").ys[-1]
    return np.log(y)


@pytest.mark.parametrize("noise", ["diagonal", "general"])
def test_state_dependent_reversal_needs_the_divergence_term(noise):
    # with the term (finite differences by default) the reversal returns the law of log X_0 = N(0, 0.25)
    ly = _reverse_gbm(noise, None)
    assert np.all(np.abs(ly.mean(0) - M0) < 0.03) and np.all(np.abs(ly.std(0) - math.sqrt(V0)) < 0.03)
    ks = stats.kstest(ly[:, 0], stats.norm(M0, math.sqrt(V0)).cdf).statistic
    assert ks < 0.03
    # the exact divergence d/dx (sig x)^2 = 2 sig^2 x gives the same numbers
    if noise == "diagonal":
        ly2 = _reverse_gbm(noise, lambda t, x: 2 * SIG**2 * x)
        np.testing.assert_allclose(ly2, ly, rtol=1e-6, atol=1e-6)
    # without it the reversal solves another equation: the log-mean comes out near -0.45
    bad = _reverse_gbm(noise, "zero")
    assert np.all(np.abs(bad.mean(0) - M0) > 0.3)


# --- Example 6 of the tutorial seed: Langevin sampling of 0.3 N(-5, 4) + 0.7 N(5, 4) ------------
EX6 = sks.GaussianMixture([0.3, 0.7], [[-5.0], [5.0]], [4.0, 4.0])


def _example6(n, t_end, dt):
    x0 = sks.Gaussian([0.0], [[1.0]]).sample(n, seed=21)  # started from N(0, 1) as in the tutorial
    sol = sk.solve(sks.langevin_sde(EX6), x0, (0.0, t_end), dt=dt, seed=22, backend="numpy")
    return sol.ys[-1][:, 0]


def test_example6_langevin_mixture():
    # The chain mixes between the modes on a time scale of ~100 (barrier ~2 nats), so t = 400.
    x = _example6(4000, 400.0, 0.2)
    ks = stats.kstest(x, EX6.cdf)
    assert ks.statistic < 0.035, ks  # 99.9% KS quantile at n = 4000 is 0.031; bias < 0.005
    assert abs((x > 0).mean() - 0.7) < 0.035


@pytest.mark.slow
def test_example6_langevin_mixture_full():
    x = _example6(20_000, 800.0, 0.2)
    ks = stats.kstest(x, EX6.cdf)
    print(f"Example 6: KS {ks.statistic:.4f} (p = {ks.pvalue:.3f}), mass right {np.mean(x > 0):.4f}")
    assert ks.statistic < 0.02
