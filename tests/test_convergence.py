"""The convergence table: every core method's strong/weak (or ODE) order, asserted from one table.

Each row is (method, problem, kind, expected order, tolerance). Strong rows refine
one Brownian path (``sk.testing.strong_order`` shares a ``BrownianPath`` across the
resolutions and the reference); weak rows pair every path with its own reference,
so the estimator's noise is the strong error over sqrt(n) (see
``sdekit.testing.convergence``).

Why the tolerances hold (fixed seeds, backend="numpy"):
- strong, 1000 paths, n = 16…256: the slope's Monte Carlo spread (bootstrap over
  paths, ``fit.ci_bootstrap``) has a half-width of about 0.03 for order-0.5 rows
  and 0.01–0.03 for order-1 rows; each test also asserts that the bootstrap
  half-width is below tol/2, so a pass is not luck and a failure is not noise.
  Tolerance 0.15 (order 0.5) / 0.15 (order 1) leaves room for pre-asymptotic
  curvature on top of that.
- weak, 100 000 paths, n = 4…32: every error is asserted to be at least 5
  standard errors above zero (relative noise ≤ 20 % per point, much less on the
  coarse points), which moves the fitted slope by < 0.1 across a factor-8 range
  of dt; the remaining pre-asymptotic bias (ratios 1.7–1.9 instead of 2 at the
  coarsest steps) is about −0.1. Tolerance 0.25.
- ODE rows have no noise: the LS CI reflects only curvature/round-off; 0.15.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest

import sdekit as sk

P = sk.testing.problems
STRONG_STEPS = [16, 32, 64, 128, 256]
WEAK_STEPS = [4, 8, 16, 32]


def _sq(x):
    return x * x


@dataclass(frozen=True)
class Row:
    method: str
    problem: Callable  # () -> Problem
    kind: str  # "strong", "weak", "ode"
    expected: float
    tol: float
    f: Optional[Callable] = None  # weak test function
    note: str = ""

    @property
    def id(self):
        name = self.problem.__name__ if hasattr(self.problem, "__name__") else "problem"
        return f"{self.kind}-{self.method}-{name}{'-' + self.note if self.note else ''}"


def ou_tv():
    # beta from 0.1 to 4: moderate stiffness so the coarse grids are in the asymptotic regime.
    return P.ou_time_varying(beta_min=0.1, beta_max=4.0, mu=0.5, sigma=0.8, x0=1.5)


def gbm3():
    return P.gbm(mu=[0.3, -0.2, 0.5], sigma=[0.5, 0.8, 0.3], x0=[1.0, 2.0, 0.5])


def langevin2():
    return P.langevin_gaussian(mean=[0.0, 1.0], cov=[[1.0, 0.5], [0.5, 2.0]])


TABLE = [
    # Euler–Maruyama: 0.5 multiplicative (every noise type), 1.0 additive (with and without exact solution)
    Row("euler_maruyama", P.gbm, "strong", 0.5, 0.15),
    Row("euler_maruyama", gbm3, "strong", 0.5, 0.15),
    Row("euler_maruyama", P.scalar_linear, "strong", 0.5, 0.15),
    Row("euler_maruyama", P.linear_general, "strong", 0.5, 0.15),
    Row("euler_maruyama", P.linear_additive, "strong", 1.0, 0.15),
    Row("euler_maruyama", P.ou, "strong", 1.0, 0.15, note="fine-reference"),
    Row("euler_maruyama", ou_tv, "strong", 1.0, 0.15, note="fine-reference"),
    Row("euler_maruyama", langevin2, "strong", 1.0, 0.15, note="fine-reference"),
    # Stochastic Heun: Stratonovich problems, commutative noise -> 1.0; additive -> 1.0
    Row("heun", P.gbm_stratonovich, "strong", 1.0, 0.15),
    Row("heun", P.scalar_linear_stratonovich, "strong", 1.0, 0.15),
    Row("heun", P.linear_general_stratonovich, "strong", 1.0, 0.15),
    Row("heun", P.ou, "strong", 1.0, 0.15, note="fine-reference"),
    # Milstein: Itô and Stratonovich, diagonal and scalar noise -> 1.0
    Row("milstein", P.gbm, "strong", 1.0, 0.15),
    Row("milstein", P.gbm_stratonovich, "strong", 1.0, 0.15),
    Row("milstein", P.scalar_linear, "strong", 1.0, 0.15),
    Row("milstein", P.scalar_linear_stratonovich, "strong", 1.0, 0.15),
    # Predictor–corrector (trapezoidal corrector): 0.5 multiplicative, 1.0 additive
    Row("predictor_corrector", P.gbm, "strong", 0.5, 0.15),
    Row("predictor_corrector", P.linear_additive, "strong", 1.0, 0.15),
    # Weak order 1 for every SDE method. f = x^2 where f = x would show a higher order
    # (the trapezoidal corrector's mean recursion matches exp(mu dt) to O(dt^2)).
    Row("euler_maruyama", P.gbm, "weak", 1.0, 0.25),
    Row("euler_maruyama", P.gbm, "weak", 1.0, 0.25, f=_sq, note="x2"),
    Row("euler_maruyama", P.scalar_linear, "weak", 1.0, 0.25),
    Row("euler_maruyama", P.linear_general, "weak", 1.0, 0.25, f=_sq, note="x2"),
    Row("milstein", P.gbm, "weak", 1.0, 0.25),
    Row("heun", P.gbm_stratonovich, "weak", 1.0, 0.25, f=_sq, note="x2"),
    Row("predictor_corrector", P.gbm, "weak", 1.0, 0.25, f=_sq, note="x2"),
    Row("euler_maruyama", P.ou, "weak", 1.0, 0.25, note="fine-reference"),
    # ODE methods on a nonlinear non-autonomous ODE (exact solution, no noise)
    Row("euler", P.ode_riccati, "ode", 1.0, 0.15),
    Row("heun", P.ode_riccati, "ode", 2.0, 0.15),
    Row("rk4", P.ode_riccati, "ode", 4.0, 0.15),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_convergence_table(row):
    p = row.problem()
    if row.kind == "strong":
        fine_ref = p.exact is None
        fit = sk.testing.strong_order(p, row.method, n_steps=STRONG_STEPS, n_paths=500 if fine_ref else 1000,
                                      seed=0, reference_n_steps=8 * STRONG_STEPS[-1] if fine_ref else None)
        half = (fit.ci_bootstrap[1] - fit.ci_bootstrap[0]) / 2
        assert half < row.tol / 2, f"Monte Carlo spread {half:.3f} too wide for tol {row.tol}\n{fit.table()}"
    elif row.kind == "weak":
        # The fine-reference row needs fewer paths (its errors are >50 standard errors at 100 000 paths).
        fit = sk.testing.weak_order(p, row.method, f=row.f, n_steps=WEAK_STEPS,
                                    n_paths=100_000 if p.exact is not None else 30_000, seed=0,
                                    reference_n_steps=256 if p.exact is None else None)
        assert np.all(fit.errors > 5 * fit.error_se), f"weak errors not resolved above noise\n{fit.table()}"
    else:
        # From 32 steps on (dt = 1/16): RK4's error ratios are 14.1, 15.1, ... -> 16; at dt = 1/8 it is
        # still pre-asymptotic (ratio 11.8).
        fit = sk.testing.strong_order(p, row.method, n_steps=[32, 64, 128, 256], n_paths=2, seed=0)
        assert fit.errors[-1] > 1e-13  # above round-off, so the slope is the method's
    sk.testing.assert_order(fit, row.expected, row.tol)


def test_table_covers_every_core_method():
    methods = {r.method for r in TABLE}
    assert set(sk.solvers.SDE_METHODS) <= methods
    assert {"euler", "heun", "rk4"} <= {r.method for r in TABLE if r.kind == "ode"}
    noises = {r.problem().sde.noise for r in TABLE if r.kind == "strong" and r.method == "euler_maruyama"}
    assert noises == {"diagonal", "scalar", "general"}


def test_dopri5_error_tracks_rtol():
    """Dormand–Prince's global error follows the tolerance: |err| <= 10 rtol and slope ~1 in rtol."""
    p = P.ode_riccati()
    x1 = p.exact(p.t_span[1], p.x0)[0, 0]
    rtols = np.array([1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10])
    errs, steps = [], []
    for rtol in rtols:
        sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=4, method="dopri5", rtol=rtol, atol=1e-3 * rtol,
                       backend="numpy")
        errs.append(abs(sol.ys[-1, 0, 0] - x1) / abs(x1))
        steps.append(sol.stats["n_accepted"])
    errs = np.array(errs)
    # Per-step error control keeps the global error within a small multiple of rtol (measured: 0.1–2x).
    assert np.all(errs <= 10 * rtols), errs / rtols
    fit = sk.testing.fit_order(rtols, errs)
    assert abs(fit.order - 1.0) < 0.3, fit.table()  # error proportional to tolerance
    # A fifth-order method needs ~ rtol^(-1/5) steps: 6 decades -> about 16x more steps.
    assert 5 < steps[-1] / steps[0] < 40, steps


# ---- acceptance lines of the issue, with the contract's exact calls ---------------------------
def test_acceptance_em_strong_gbm():
    p = P.gbm(mu=0.5, sigma=0.8)
    fit = sk.testing.strong_order(p, "euler_maruyama", n_steps=[16, 32, 64, 128, 256], n_paths=4000, seed=0)
    assert abs(fit.order - 0.5) <= 0.15, fit.table()
    assert fit.ci[0] <= fit.order <= fit.ci[1]
    assert fit.ci[1] - fit.ci[0] < 0.5
    assert fit.errors.shape == fit.dts.shape == (5,) and np.all(np.diff(fit.dts) < 0)


def test_acceptance_em_weak_gbm():
    p = P.gbm(mu=0.5, sigma=0.8)
    fit = sk.testing.weak_order(p, "euler_maruyama", f=lambda x: x, n_steps=[2, 4, 8, 16], n_paths=200_000, seed=0)
    assert abs(fit.order - 1.0) <= 0.25, fit.table()
    # The EM mean is exactly x0 (1 + mu dt)^N: the estimated errors must match it within 4 se.
    exact_err = np.abs(np.exp(0.5) - (1 + 0.5 / fit.n_steps) ** fit.n_steps)
    assert np.all(np.abs(fit.errors - exact_err) < 4 * fit.error_se), (fit.errors, exact_err, fit.error_se)


def test_acceptance_em_strong_no_exact_additive():
    ou = P.ou(theta=2.0, mu=1.0, sigma=0.7)
    fit = sk.testing.strong_order(ou.sde, "euler_maruyama", x0=1.0, t_span=(0.0, 1.0), n_steps=[8, 16, 32, 64],
                                  n_paths=2000, seed=1)
    assert abs(fit.order - 1.0) <= 0.2, fit.table()
    assert fit.extra["reference"].startswith("euler_maruyama with 1024")
