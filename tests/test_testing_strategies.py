"""Hypothesis property tests built from sk.testing.strategies (small max_examples, no deadline)."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdekit as sk

S = sk.testing.strategies
# derandomize: the examples are a fixed function of the test (reproducible CI), no example database.
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=25, **SETTINGS)
@given(S.problems())
def test_generated_problems_are_valid_and_start_at_x0(p):
    assert 1 <= p.d <= 4
    t0, t1 = p.t_span
    assert t1 > t0
    x = p.exact(t0, p.x0, np.zeros((2, p.m)))
    np.testing.assert_allclose(x, np.broadcast_to(p.x0, (2, p.d)), rtol=1e-12, atol=1e-12)
    assert p.mean(t0).shape == (p.d,)
    np.testing.assert_allclose(p.mean(t0), p.x0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p.var(t0), 0.0, atol=1e-12)
    g = p.sde.diffusion(t0, np.broadcast_to(p.x0, (3, p.d)).copy())
    assert g.shape == ((3, p.d, p.m) if p.sde.noise == "general" else (3, p.d))


@settings(max_examples=8, **SETTINGS)
@given(S.problems(), st.integers(0, 2**32 - 1))
def test_exact_solution_mean_matches_mean_formula(p, seed):
    """E exact(t1, x0, W) = mean(t1) for every generated problem (20 000 exact draws, Bonferroni level 1e-4)."""
    t0, t1 = p.t_span
    w = math.sqrt(t1 - t0) * np.random.default_rng(seed).standard_normal((20_000, p.m))
    sk.testing.assert_moments(p.exact(t1, p.x0, w), mean=p.mean(t1), alpha=1e-4)


@settings(max_examples=6, **SETTINGS)
@given(S.problems(max_dim=3))
def test_refining_the_path_reduces_the_strong_error(p):
    """On the same path, 8x more steps cut the strong error of a convergent method by >= 2.2x
    (order >= 0.5 predicts >= sqrt(8) = 2.83x; the margin absorbs Monte Carlo noise at 300 paths)."""
    method = "heun" if p.sde.calculus == "stratonovich" else "euler_maruyama"
    fit = sk.testing.strong_order(p, method, n_steps=[8, 64], n_paths=300, seed=1, bootstrap=False)
    assert fit.errors[1] * 2.2 <= fit.errors[0], fit.table()


@settings(max_examples=6, **SETTINGS)
@given(S.problems(noise="diagonal", calculus="ito", exact_only=False, max_dim=2))
def test_simulated_mean_matches_exact_mean(p):
    """Heun/EM with 100 steps and 2000 paths reproduce mean(t1) for OU, Langevin and GBM-type problems.
    Threshold z = 6: the weak bias (order dt = 1/100 relative) stays below ~2 standard errors for the
    strategies' bounded coefficients; a wrong mean formula gives |z| in the tens."""
    method = "heun" if p.sde.additive else "euler_maruyama"
    sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=100, n_paths=2000, method=method, seed=2, backend="numpy")
    sk.testing.assert_moments(sol.ys[-1], mean=p.mean(p.t_span[1]), z=6.0)


@settings(max_examples=10, **SETTINGS)
@given(st.integers(1, 4).flatmap(lambda d: st.tuples(st.just(d), S.initial_states(d), S.time_spans())))
def test_initial_states_and_time_spans(args):
    d, x0, (t0, t1) = args
    assert x0.shape == (d,) and np.all(np.isfinite(x0)) and np.all(np.abs(x0) >= 0.2)
    assert 0.25 - 1e-12 <= t1 - t0 <= 2.0 + 1e-12  # t1 = t0 + length, rounded
    p = sk.testing.problems.gbm(mu=0.1, sigma=0.2, x0=x0, t_span=(t0, t1))
    sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=4, n_paths=3, backend="numpy")
    assert sol.ys.shape == (2, 3, d) and sol.ts[0] == t0 and sol.ts[-1] == t1
