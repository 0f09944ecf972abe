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
- weak rows on affine problems (every catalogue problem but the nonlinear additive
  one) have no Monte Carlo noise: the errors of E[X_T^2] come from exact quadrature
  of the one-step map (sdekit.testing.exact_weak), so the fitted slope differs from the
  order only by pre-asymptotic curvature (8…64 steps: within 0.1 for every method).
  Tolerance 0.25.
- weak rows on the nonlinear additive problem (slow): paired with a fine reference on
  the same paths, every error at least 5 standard errors above zero.
- ODE rows have no noise: the LS CI reflects only curvature/round-off; 0.15.
"""

import numpy as np
import pytest

import sdekit as sk
from sdekit.testing.catalogue import AFFINE, convergence_cases
from sdekit.testing.exact_weak import exact_weak_order

P = sk.testing.problems
STRONG_STEPS = [16, 32, 64, 128, 256]
WEAK_STEPS = [4, 8, 16, 32]
TOL = {"strong": 0.15, "weak": 0.25, "ode": 0.15}

# The table: every registered solver x every noise class it declares an order for x a catalogue problem
# of that class and calculus (sdekit.testing.catalogue), read from the solvers' facts. The exact
# (quadrature) weak rows cost milliseconds and run by default; Monte Carlo weak rows on the nonlinear
# additive problem are slow (--runslow).
CASES = [c for c in convergence_cases() if not (c.kind == "strong" and c.noise_class == "ode"
                                                 and sk.solvers.solver_class(c.method, "ode").adaptive_default)]
PARAMS = [pytest.param(c, id=c.id, marks=pytest.mark.slow if c.kind == "weak" and c.problem not in AFFINE else ())
          for c in CASES]


def _sq(x):
    return x * x


@pytest.mark.parametrize("case", PARAMS)
def test_convergence_table(case):
    p = case.make()
    if case.noise_class == "ode":
        # From 32 steps on (dt = 1/16): RK4's error ratios are 14.1, 15.1, ... -> 16; at dt = 1/8 it is
        # still pre-asymptotic (ratio 11.8).
        fit = sk.testing.strong_order(p, case.method, n_steps=[32, 64, 128, 256], n_paths=2, seed=0)
        assert fit.errors[-1] > 1e-13  # above round-off, so the slope is the method's
        sk.testing.assert_order(fit, case.order, TOL["ode"])
        return
    if case.kind == "strong":
        fine_ref = p.exact is None
        fit = sk.testing.strong_order(p, case.method, n_steps=STRONG_STEPS, n_paths=500 if fine_ref else 1000,
                                      seed=0, reference_n_steps=16 * STRONG_STEPS[-1] if fine_ref else None)
        half = (fit.ci_bootstrap[1] - fit.ci_bootstrap[0]) / 2
        assert half < TOL["strong"] / 2, f"Monte Carlo spread {half:.3f} too wide for tol\n{fit.table()}"
    elif case.problem in AFFINE:
        # Affine problems: the exact weak error of E[X_T^2] by quadrature of the one-step map (no Monte Carlo
        # noise at all), over 8..64 steps where every method here is in its asymptotic regime.
        fit = exact_weak_order(p, case.method, n_steps=[8, 16, 32, 64])
    else:
        # f = x^2 on the same paths: each path paired with a reference of 16x the finest steps on the same path
        # (its own weak error is 1/16, or 1/256 for order 2, of the finest's), 20 000 paths.
        steps = [2, 4, 8, 16] if case.order >= 2 else WEAK_STEPS
        fit = sk.testing.weak_order(p, case.method, f=_sq, n_steps=steps, n_paths=20_000, seed=0,
                                    reference_n_steps=16 * steps[-1])
        assert np.all(fit.errors > 5 * fit.error_se), f"weak errors not resolved above noise\n{fit.table()}"
    sk.testing.assert_order(fit, case.order, TOL[case.kind])


def test_table_covers_every_registered_method_and_noise_class():
    methods = {c.method for c in CASES}
    assert {cls.name for cls in sk.solvers.REGISTRY if not cls.adaptive_default} <= methods
    classes = {c.noise_class for c in CASES if c.method == "euler_maruyama" and c.kind == "strong"}
    assert classes == {"additive", "scalar", "diagonal", "commutative", "general"}


def test_a_solver_declared_in_one_file_joins_the_table():
    class Tiny(sk.solvers.Solver):
        """Euler–Maruyama again, declared from scratch (strong 0.5, weak 1)."""

        name = "tiny_em"
        strong_order = {"general": 0.5, "additive": 1.0}
        weak_order = {"general": 1.0}
        rule = staticmethod(sk.solvers.euler_maruyama.euler_maruyama_step)

    cases = convergence_cases([Tiny])
    assert {(c.kind, c.noise_class) for c in cases} >= {("strong", "diagonal"), ("strong", "additive"),
                                                        ("weak", "general")}
    case = next(c for c in cases if c.kind == "strong" and c.noise_class == "diagonal")
    fit = sk.testing.strong_order(case.make(), Tiny(), n_steps=STRONG_STEPS, n_paths=1000, seed=0)
    sk.testing.assert_order(fit, case.order, TOL["strong"])


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
