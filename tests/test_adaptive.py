"""Adaptive stepping: the error follows the tolerance, rejection leaves no bias, save times and bursts.

Monte Carlo tolerances: with n paths a mean has standard error sd/sqrt(n); we assert
within 4-5 standard errors (fixed seeds, so each test is deterministic).
"""

import numpy as np
import pytest

import sdekit as sk
from sdekit import errors

P = sk.testing.problems


def _strong_error(problem, sol):
    n = sol.ys.shape[1]
    w = sol.brownian.value(problem.t_span[1])
    exact = problem.exact(problem.t_span[1], np.broadcast_to(problem.x0, (n, problem.d)), w)
    return float(np.abs(sol.ys[-1] - exact).mean())


@pytest.mark.parametrize("method, problem, slope", [
    ("sri", P.gbm(), 1.0),  # local estimate ~ h^1.5, global error ~ rtol
    ("heun", P.gbm_stratonovich(), 1.0),
    ("euler_maruyama", P.gbm(), 0.5),  # strong order 0.5 against an estimate of order 1
])
def test_strong_error_falls_with_the_tolerance(method, problem, slope):
    rtols = np.array([1e-1, 1e-2, 1e-3]) if method != "sri" else np.array([1e-1, 1e-2, 1e-3, 1e-4])
    errs, steps = [], []
    for rtol in rtols:
        sol = sk.solve(problem.sde, problem.x0, problem.t_span, adaptive=True, rtol=rtol, atol=1e-2 * rtol,
                       n_paths=1000, method=method, seed=0, backend="numpy")
        errs.append(_strong_error(problem, sol))
        steps.append(sol.stats["n_accepted"])
    errs = np.array(errs)
    assert np.all(np.diff(errs) < 0) and np.all(np.diff(steps) > 0), (errs, steps)
    fit = sk.testing.fit_order(rtols, errs)
    assert abs(fit.order - slope) < 0.25, fit.table()


class _FreshAfterRejection:
    """The naive adaptive noise for one path: every attempted step draws a fresh increment.

    Implements the noise protocol with no tree and no bridge: a rejected step's increment is
    forgotten and the retry draws another, so the accepted increments are selected towards
    small |dW| wherever the error estimate grows with |dW| (Rackauckas & Nie 2017).
    """

    def __init__(self, seed):
        self.n_paths, self.dim, self.t0, self.t1 = 1, 1, 0.0, 1.0
        self.rng = np.random.default_rng(seed)

    def increment(self, s, t):
        return self.rng.standard_normal((1, 1)) * np.sqrt(t - s)


def test_rejected_steps_reuse_the_path_and_leave_no_bias():
    # GBM: log X_1 ~ N((mu - sigma^2/2), sigma^2) exactly. Per-path steps (each path's rejections its own),
    # Euler-Maruyama with Lamba's estimate (it grows with |dW|). With the tree a rejected step is retried
    # on the same path: Var log X_1 within Monte Carlo noise of sigma^2 (measured 0.246 vs 0.25, se 0.014);
    # drawing fresh increments after rejections selects small ones (measured 0.045: 14 se too small).
    p = P.gbm(mu=0.2, sigma=0.5)
    n, rtol = 600, 5e-3
    sol = sk.solve(p.sde, p.x0, p.t_span, adaptive="per_path", rtol=rtol, atol=1e-3, method="euler_maruyama",
                   n_paths=n, seed=3, backend="numpy")
    assert np.mean(sol.stats["n_rejected"]) > 5  # the test exercises rejections
    se = 0.25 * np.sqrt(2 / n)
    tree = np.log(sol.ys[-1, :, 0]).var()
    assert abs(tree - 0.25) < 4 * se, tree
    naive = np.array([np.log(sk.solve(p.sde, p.x0, p.t_span, adaptive=True, rtol=rtol, atol=1e-3,
                                      method="euler_maruyama", brownian=_FreshAfterRejection([7, i]), n_paths=1,
                                      backend="numpy").ys[-1, 0, 0]) for i in range(n)])
    assert naive.var() < 0.25 - 6 * se, naive.var()


def test_save_points_are_hit_exactly_and_a_burst_gets_small_steps():
    # A short volatility burst at t = 0.5: dX = sigma(t) X dW.
    def sigma(t):
        return 0.2 + 2.0 * np.exp(-(((t - 0.5) / 0.02) ** 2))

    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: sigma(t) * x)
    save = np.array([0.1, 0.45, 0.5, 0.55, 1.0])
    sol = sk.solve(sde, 1.0, (0.0, 1.0), adaptive=True, rtol=1e-3, atol=1e-6, n_paths=200, method="sri",
                   seed=1, save_at=save, backend="numpy")
    assert np.array_equal(sol.ts, save) and sol.ys.shape == (5, 200, 1)
    assert sol.stats["n_rejected"] > 0
    # Against a fine fixed-step reference on the same path: adaptive is accurate where it matters.
    ref = sk.solve(sde, 1.0, (0.0, 1.0), n_steps=4096, n_paths=200, method="sri", brownian=sol.brownian,
                   save_at=save, backend="numpy")
    assert np.max(np.abs(sol.ys - ref.ys) / np.abs(ref.ys).clip(1e-3)) < 0.05


def test_adaptive_runs_a_user_solver_with_an_error_estimate():
    # Contract item 8: a user Solver with an embedded estimate runs adaptively through solve.
    class EulerHeunPair(sk.solvers.Solver):
        name = "my_pair"
        calculus = "stratonovich"
        strong_order = {"commutative": 1.0, "general": 0.5}
        error_estimate = True
        error_order = 0.0

        @staticmethod
        def rule(terms, t, dt, x, dw, aux):
            return sk.solvers.heun.stochastic_heun_step(terms, t, dt, x, dw, aux)

        @staticmethod
        def rule_with_error(terms, t, dt, x, dw, aux):
            x_pred, x_next = sk.solvers.heun.euler_heun_pair(terms, t, dt, x, dw)
            return x_next, x_next - x_pred

    p = P.gbm_stratonovich()
    sol = sk.solve(p.sde, p.x0, p.t_span, adaptive=True, rtol=1e-3, n_paths=100, method=EulerHeunPair(), seed=0)
    assert sol.stats["n_accepted"] > 10 and _strong_error(p, sol) < 0.01


def test_per_path_steps_differ_between_paths_and_each_meets_the_tolerance():
    p = P.gbm(mu=0.5, sigma=0.8)
    sol = sk.solve(p.sde, p.x0, p.t_span, adaptive="per_path", rtol=1e-3, atol=1e-5, method="sri", n_paths=30,
                   seed=2, backend="numpy")
    acc = sol.stats["n_accepted"]
    assert acc.shape == (30,) and acc.min() < acc.max()  # paths do not wait for the hardest one
    # per path the same as a batch solve of that path alone (its own Brownian path, its own steps)
    alone = sk.solve(p.sde, p.x0, p.t_span, adaptive=True, rtol=1e-3, atol=1e-5, method="sri",
                     brownian=sol.brownian.path(7), backend="numpy")
    np.testing.assert_allclose(sol.ys[:, 7], alone.ys[:, 0], rtol=1e-13)
    assert alone.stats["n_accepted"] == acc[7]


def test_adaptive_w_at_t1_is_the_fixed_grid_one():
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)
    fixed = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=1000, n_paths=16, seed=9, backend="numpy").ys[-1]
    ad = sk.solve(sde, 0.0, (0.0, 1.0), adaptive=True, method="sra", n_paths=16, seed=9, backend="numpy").ys[-1]
    np.testing.assert_allclose(ad, fixed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw, exc, word", [
    (dict(method="milstein", adaptive=True), errors.IncompatibleMethodError, "error estimate"),
    (dict(method="sri", adaptive="sometimes"), errors.InvalidArgumentError, "adaptive"),
    (dict(method="sri", adaptive=True, rtol=-1.0), errors.InvalidArgumentError, "rtol"),
    (dict(method="sri", adaptive=True, rtol=float("nan")), errors.InvalidArgumentError, "rtol"),
    (dict(method="sri", adaptive=True, max_steps=0), errors.InvalidArgumentError, "max_steps"),
    (dict(method="sri", rtol=1e-3), errors.InvalidArgumentError, "adaptive=True"),
    (dict(method="sri", adaptive=True, save_at="steps"), errors.InvalidArgumentError, "save_at"),
    (dict(method="sri", adaptive=True, max_steps=3), errors.StepLimitError, "max_steps"),
])
def test_bad_adaptive_options(kw, exc, word):
    p = P.gbm()
    with pytest.raises(exc, match=word):
        sk.solve(p.sde, p.x0, p.t_span, n_paths=4, backend="numpy", **kw)
