"""sk.testing.problems: exact solutions, exact moments and stationary laws against Monte Carlo.

Three layers, each with fixed seeds:
1. exact(t, x0, w) sampled at w ~ N(0, tau I) (no discretisation) against mean(t)/var(t);
2. the SDE itself simulated (small in the default run, 10^5 paths under --runslow) against mean(t)/var(t);
3. structural identities (exact at t0, vectorisation, chunk-independent initial states, scores).
Moment comparisons use z-scores whose standard errors come from the sample's own fourth
moment (sk.testing.moment_test) and a Bonferroni threshold at family-wise level 1e-3
(sk.testing.assert_moments), so a correct formula fails with probability < 0.1 %.
"""

import math

import numpy as np
import pytest
from scipy import stats

import sdekit as sk

P = sk.testing.problems
SDE_PROBLEMS = [n for n, c in P.REGISTRY.items() if n != "ode_riccati"]
EXACT_PROBLEMS = [n for n in SDE_PROBLEMS if P.by_name(n).exact is not None]


def _method_for(p):
    """A weak-order-1 (or better) method that solves the problem's own calculus."""
    if p.sde.additive:
        return "heun"  # = Itô for additive noise; weak order 2 on linear drifts
    if p.sde.noise == "general":
        return "heun" if p.sde.calculus == "stratonovich" else "euler_maruyama"
    return "milstein"


def test_registry_has_the_issue_problems():
    for name in ["gbm", "ou", "ou_time_varying", "linear_additive", "scalar_linear", "gbm_stratonovich",
                 "scalar_linear_stratonovich", "linear_general", "linear_general_stratonovich",
                 "langevin_gaussian", "langevin_mixture"]:
        p = P.by_name(name)
        assert isinstance(p, sk.testing.Problem)
        assert p.mean is not None and p.var is not None
        t1 = p.t_span[1]
        assert np.shape(p.mean(t1)) == (p.d,) and np.shape(p.var(t1)) == (p.d,)
    assert P.scalar_linear().sde.noise == "scalar" and P.scalar_linear().d > 1
    assert P.linear_general().sde.noise == "general"
    assert P.gbm_stratonovich().sde.calculus == "stratonovich"


@pytest.mark.parametrize("name", EXACT_PROBLEMS)
def test_exact_starts_at_x0_and_vectorises(name):
    p = P.by_name(name)
    t0, t1 = p.t_span
    x = p.exact(t0, p.x0, np.zeros((3, p.m)))
    np.testing.assert_allclose(x, np.broadcast_to(p.x0, (3, p.d)), rtol=1e-13)
    w = np.random.default_rng(0).standard_normal((5, p.m))
    a = p.exact(t1, p.x0, w)  # x0 of shape (d,)
    b = p.exact(t1, np.broadcast_to(p.x0, (5, p.d)), w)  # x0 of shape (n, d)
    assert a.shape == (5, p.d)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    # Row i depends on row i only.
    np.testing.assert_allclose(p.exact(t1, p.x0, w[2:3]), a[2:3], rtol=1e-14)


@pytest.mark.parametrize("name", EXACT_PROBLEMS)
def test_exact_solution_moments(name):
    """exact(t, x0, W) with W ~ N(0, tau I) reproduces mean(t) and var(t) (10^5 draws, no bias)."""
    p = P.by_name(name)
    t0, t1 = p.t_span
    for t in (t0 + 0.5 * (t1 - t0), t1):
        w = math.sqrt(t - t0) * np.random.default_rng(1).standard_normal((100_000, p.m))
        sk.testing.assert_moments(p.exact(t, p.x0, w), p.mean(t), p.var(t))


def _simulate(p, n_paths, n_steps, seed):
    x0 = p.initial(n_paths, seed=seed)
    t0, t1 = p.t_span
    ts = [t0 + 0.5 * (t1 - t0), t1]
    sol = sk.solve(p.sde, x0, p.t_span, n_steps=n_steps, method=_method_for(p), seed=seed, save_at=ts,
                   backend="numpy")
    return ts, sol.ys


def _check_simulated_moments(name, n_paths, n_steps):
    p = P.by_name(name)
    ts, ys = _simulate(p, n_paths, n_steps, seed=3)
    for k, t in enumerate(ts):
        sk.testing.assert_moments(ys[k], p.mean(t), p.var(t))


@pytest.mark.parametrize("name", SDE_PROBLEMS)
def test_simulated_moments_small(name):
    """4000 paths, 200 steps: weak bias (<= ~0.5 % of a standard deviation) is far below the 1.6 % MC error."""
    _check_simulated_moments(name, 4000, 200)


@pytest.mark.slow
@pytest.mark.parametrize("name", SDE_PROBLEMS)
def test_simulated_moments_1e5(name):
    """10^5 paths, 400 steps: MC error 0.3 % of a standard deviation; weak bias of order dt = 1/400 of that."""
    _check_simulated_moments(name, 100_000, 400)


def test_seed_time_varying_ou_mean_is_wrong_as_printed():
    """The tutorial prints the mean as x0 exp(-B(t)); simulation rejects it and accepts x0 exp(-B(t)/2)."""
    p = P.ou_time_varying(beta_min=0.1, beta_max=2.0, x0=2.0)  # mild beta so the two formulas differ clearly
    ts, ys = _simulate(p, 4000, 200, seed=5)
    x = ys[-1]
    big_b = 0.1 + 0.5 * 1.9
    wrong = 2.0 * math.exp(-big_b)
    r = sk.testing.moment_test(x, mean=[wrong])
    assert abs(r.mean_z[0]) > 10
    sk.testing.assert_moments(x, p.mean(1.0), p.var(1.0))
    assert p.mean(1.0)[0] == pytest.approx(2.0 * math.exp(-big_b / 2))


def test_stratonovich_and_ito_gbm_relation():
    """dX = mu X dt + s X o dW is the Itô GBM with drift mu + s^2/2: same exact solution, same moments."""
    s = P.gbm_stratonovich(mu=0.2, sigma=0.6)
    i = P.gbm(mu=0.2 + 0.18, sigma=0.6)
    w = np.linspace(-2, 2, 7)[:, None]
    np.testing.assert_allclose(s.exact(0.7, s.x0, w), i.exact(0.7, i.x0, w), rtol=1e-14)
    np.testing.assert_allclose(s.mean(0.7), i.mean(0.7), rtol=1e-14)
    np.testing.assert_allclose(s.var(0.7), i.var(0.7), rtol=1e-14)


def test_commuting_linear_matrices_commute():
    p = P.linear_general()
    A, Bs = p.params["A"], p.params["B"]
    for B in Bs:
        np.testing.assert_allclose(A @ B, B @ A, atol=1e-14)
    for B in Bs:
        for C in Bs:
            np.testing.assert_allclose(B @ C, C @ B, atol=1e-14)
    # diffusion(t, x)[:, :, k] = B_k x
    x = np.array([[1.0, -2.0], [0.5, 0.3]])
    g = p.sde.diffusion(0.0, x)
    assert g.shape == (2, 2, 3)
    np.testing.assert_allclose(g[:, :, 1], x @ Bs[1].T, rtol=1e-14)


def test_langevin_mixture_score_and_stationary_sampler():
    gm = P.langevin_mixture().stationary
    x = np.linspace(-9, 9, 13)[:, None]
    h = 1e-5
    num = (gm.logpdf(x + h) - gm.logpdf(x - h)) / (2 * h)
    np.testing.assert_allclose(gm.score(x)[:, 0], num, rtol=1e-6, atol=1e-8)
    # The sampler's law is the mixture (KS, 20 000 draws; p-value above 1e-3 unless it is wrong).
    sk.testing.assert_distribution(gm.sample(20_000, seed=2)[:, 0], gm.cdf)
    # Its density integrates to 1.
    grid = np.linspace(-25, 25, 20001)[:, None]
    assert np.exp(gm.logpdf(grid)).sum() * (grid[1, 0] - grid[0, 0]) == pytest.approx(1.0, abs=1e-8)


def test_langevin_mixture_keeps_its_law():
    """Started from the mixture, Langevin dynamics stays there: KS at t = 1 (Heun, dt = 1/200)."""
    p = P.langevin_mixture()
    ts, ys = _simulate(p, 4000, 200, seed=4)
    sk.testing.assert_distribution(ys[-1][:, 0], p.stationary.cdf)


def test_langevin_mixture_from_a_point_reaches_the_mixture():
    """From a point the law converges to the mixture (Example 6's experiment): KS at t = 20.

    The tutorial's modes (+-5, sd 2) are separated by a barrier of depth log 16 ~ 2.8: Kramers' rate
    ~ 2.5e-3, so weights between the modes would need t ~ 10^3 to settle (a run to t = 30 is rejected,
    D = 0.042). Modes at +-1.5 with sd 1 mix in t ~ 1, so t = 20 is stationary to far below KS resolution.
    """
    p = P.langevin_mixture(means=(-1.5, 1.5), stds=(1.0, 1.0), start="point", x0=-3.0, t_span=(0.0, 20.0))
    sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=1000, n_paths=2000, method="heun", seed=6, backend="numpy")
    sk.testing.assert_distribution(sol.ys[-1][:, 0], p.stationary.cdf)
    # and the test has power: the same samples reject the mixture with the weights swapped
    wrong = sk.testing.problems.GaussianMixture((0.7, 0.3), (-1.5, 1.5), (1.0, 1.0))
    assert sk.testing.ks_1d(sol.ys[-1][:, 0], wrong.cdf).pvalue < 1e-6


def test_initial_states_do_not_depend_on_chunking():
    p = P.langevin_mixture()
    whole = p.initial(10_000, seed=3)
    parts = np.concatenate([p.initial(3000, seed=3, offset=0), p.initial(7000, seed=3, offset=3000)])
    np.testing.assert_array_equal(whole, parts)
    assert not np.array_equal(p.initial(100, seed=4), whole[:100])
    np.testing.assert_array_equal(P.gbm(x0=2.0).initial(3), np.full((3, 1), 2.0))


def test_langevin_gaussian_matches_its_stationary_law_at_large_t():
    p = P.langevin_gaussian(mean=[0.0, 1.0], cov=[[1.0, 0.5], [0.5, 2.0]])
    np.testing.assert_allclose(p.mean(60.0), p.stationary.mean, atol=1e-10)
    np.testing.assert_allclose(p.var(60.0), p.stationary.var, atol=1e-10)
    # The drift is the stationary law's score.
    x = np.array([[0.3, -0.4], [2.0, 1.0]])
    np.testing.assert_allclose(p.sde.drift(0.0, x), p.stationary.score(x), rtol=1e-12)


def test_ode_riccati_solves_its_ode():
    p = P.ode_riccati()
    t, h = 1.3, 1e-6
    x = p.exact(t, p.x0)
    deriv = (p.exact(t + h, p.x0) - p.exact(t - h, p.x0)) / (2 * h)
    np.testing.assert_allclose(deriv, p.sde.drift(t, x), rtol=1e-8)


def test_unknown_problem_name():
    with pytest.raises(ValueError, match="unknown problem"):
        P.by_name("nope")


def test_exact_moments_formula_for_gbm_against_scipy_lognormal():
    p = P.gbm(mu=0.3, sigma=0.5, x0=2.0)
    t = 1.7
    law = stats.lognorm(s=0.5 * math.sqrt(t), scale=2.0 * math.exp((0.3 - 0.125) * t))
    assert p.mean(t)[0] == pytest.approx(law.mean(), rel=1e-12)
    assert p.var(t)[0] == pytest.approx(law.var(), rel=1e-12)
