r"""Assertions for users' pytest suites: orders, moments, distributions.

Each raises ``AssertionError`` with a message that shows the evidence (the
error table, the z-scores, the statistic), so a failing CI run says why.

>>> import sdekit as sk
>>> fit = sk.testing.fit_order([0.1, 0.05, 0.025], [0.1, 0.05, 0.025])
>>> _ = sk.testing.assert_order(fit, 1.0, tol=0.1)
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .convergence import OrderFit, strong_order, weak_order
from .distances import ks_1d, mmd_test, moment_test, z_threshold
from .problems import check_count, check_real


def _check_alpha(alpha):
    return check_real("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)


def _check_fit_args(expected, tol):
    return check_real("expected", expected), check_real("tol", tol, low=0.0)


def assert_order(fit: OrderFit, expected: float, tol: float = 0.15, *, require_ci: bool = False):
    r"""Assert :math:`|q̂ - q| ≤ \mathrm{tol}` for a fitted order (and optionally that the CI meets the band).

    With ``require_ci=True`` the fit's confidence interval must also overlap
    :math:`[q - \mathrm{tol}, q + \mathrm{tol}]` (a tighter check when the estimate
    is noisy but the band is narrow). Returns ``fit``.
    """
    if not isinstance(fit, OrderFit):
        raise InvalidArgumentError(f"fit must be an OrderFit (from fit_order, strong_order or weak_order); "
                                   f"got {type(fit).__name__}")
    expected, tol = _check_fit_args(expected, tol)
    ok = abs(fit.order - expected) <= tol
    if require_ci:
        ok = ok and fit.ci[0] <= expected + tol and fit.ci[1] >= expected - tol
    if not ok:
        raise AssertionError(f"expected {fit.kind or ''} order {expected} ± {tol}, measured {fit.order:.3f} "
                             f"(CI [{fit.ci[0]:.3f}, {fit.ci[1]:.3f}])\n{fit.table()}")
    return fit


def assert_strong_order(problem, method, expected: float, tol: float = 0.15, **kwargs) -> OrderFit:
    """Run :func:`strong_order` and :func:`assert_order`; returns the fit.

    >>> import sdekit as sk
    >>> _ = sk.testing.assert_strong_order(sk.testing.problems.gbm(), "milstein", 1.0, tol=0.2,
    ...                                    n_steps=[16, 32, 64], n_paths=200)
    """
    _check_fit_args(expected, tol)
    return assert_order(strong_order(problem, method, **kwargs), expected, tol)


def assert_weak_order(problem, method, expected: float, tol: float = 0.25, **kwargs) -> OrderFit:
    """Run :func:`weak_order` and :func:`assert_order`; returns the fit.

    Also fails when an error is within 2 standard errors of 0 (the fit would
    then measure noise, not bias).
    """
    _check_fit_args(expected, tol)
    fit = weak_order(problem, method, **kwargs)
    noisy = fit.errors < 2 * fit.error_se
    if np.any(noisy):
        raise AssertionError("weak errors are not resolved above Monte Carlo noise (error < 2 se) at "
                             f"n_steps={list(fit.n_steps[noisy])}; use more paths or coarser steps\n{fit.table()}")
    return assert_order(fit, expected, tol)


def assert_moments(samples, mean=None, var=None, *, z: float = None, alpha: float = 1e-3):
    r"""Assert sample means/variances match exact values within Monte Carlo error.

    Uses :func:`moment_test`; the threshold ``z`` defaults to the Bonferroni
    two-sided normal quantile for all compared moments at family-wise level
    ``alpha`` (:func:`~sdekit.testing.distances.z_threshold`): a correct model
    fails with probability at most about ``alpha``. Returns the :class:`MomentTest`.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(2.0, 1.0, size=(5000, 2))
    >>> _ = assert_moments(x, mean=[2.0, 2.0], var=[1.0, 1.0])
    """
    _check_alpha(alpha)
    if z is not None:
        z = check_real("z", z, low=0.0, low_open=True)
    r = moment_test(samples, mean, var)
    k = sum(0 if v is None else np.size(v) for v in (mean, var))
    thr = z_threshold(max(k, 1), alpha) if z is None else z
    if r.max_abs_z > thr:
        raise AssertionError(f"moments differ beyond Monte Carlo error (|z| = {r.max_abs_z:.2f} > {thr:.2f}):\n"
                             f"  sample mean {r.mean} (se {r.mean_se}) vs exact {mean}\n"
                             f"  sample var  {r.var} (se {r.var_se}) vs exact {var}")
    return r


def assert_distribution(samples, cdf, *, alpha: float = 1e-3):
    """Assert a 1-d sample is consistent with ``cdf`` (or a second sample): KS p-value ≥ ``alpha``.

    >>> import numpy as np
    >>> from scipy import stats
    >>> _ = assert_distribution(np.random.default_rng(0).standard_normal(1000), stats.norm.cdf)
    """
    _check_alpha(alpha)
    r = ks_1d(samples, cdf)
    if r.pvalue < alpha:
        raise AssertionError(f"Kolmogorov–Smirnov rejects the law: D = {r.statistic:.4f}, p = {r.pvalue:.2e} "
                             f"< {alpha} (n = {r.n})")
    return r


def assert_same_distribution(a, b, *, alpha: float = 1e-3, n_permutations: int = 200, seed: int = 0):
    """Assert two samples ``(n, d)`` share a law: MMD permutation test p-value ≥ ``alpha``.

    The smallest attainable p-value is ``1 / (n_permutations + 1)``, so keep
    ``alpha`` above it.
    """
    _check_alpha(alpha)
    n_permutations = check_count("n_permutations", n_permutations)
    if alpha < 1.0 / (n_permutations + 1):
        raise InvalidArgumentError(f"alpha={alpha} is below the test's resolution 1/(n_permutations+1) = "
                                   f"{1.0 / (n_permutations + 1):.3g}; raise n_permutations")
    stat, pv = mmd_test(a, b, n_permutations=n_permutations, seed=seed)
    if pv < alpha:
        raise AssertionError(f"MMD permutation test rejects equal laws: MMD² = {stat:.4g}, p = {pv:.4f} < {alpha}")
    return stat, pv
