r"""Convergence orders (strong and weak) and work–precision data.

Definitions used throughout
---------------------------
For step sizes :math:`Δt_1 > … > Δt_k` (``n_steps`` uniform steps each) the
method's end state :math:`X^{Δt}_N` is compared with a reference
:math:`X(T)` **on the same Brownian path** (one :class:`sdekit.BrownianPath`
per block of paths, shared by every resolution, so the grids refine one path):

* strong error  :math:`e(Δt) = \big(\frac1n\sum_{i=1}^n \|X^{Δt}_{N,i} - X_i(T)\|_2^p\big)^{1/p}`
  at the final time (``p = 1`` by default: :math:`E\|X_N - X(T)\|`, Kloeden–Platen's
  definition; ``p = 2`` gives the root-mean-square error);
* weak error  :math:`e(Δt) = |\frac1n\sum_i f(X^{Δt}_{N,i}) - f(X_i(T))|`, an
  unbiased estimate of :math:`|E f(X_N) - E f(X(T))|`. Pairing each path with
  its own reference removes most Monte Carlo noise: the variance of the
  difference is the squared *strong* error, not :math:`\mathrm{Var} f(X_T)`.
  ``fit.error_se`` holds each error's standard error.

The reference :math:`X(T)` is ``problem.exact(T, x0, W(T))`` when the problem
has an exact solution, else a solve with ``reference_n_steps`` steps (default 16
times the finest grid) by ``reference_method`` (default: the same method) on
the same path.

The order is the least-squares slope :math:`q` of :math:`\log e = c + q\log Δt`;
its confidence interval is :math:`q ± t_{k-2,\,0.975}\,\mathrm{se}(q)` with the
slope's standard error from the fit's residuals. That interval measures how
well a single power law explains the errors (pre-asymptotic curvature,
round-off, noise at the finest grid all widen it). It does not see Monte Carlo
noise that shifts every error alike, which the shared paths make the dominant
part of that noise; ``fit.ci_bootstrap`` (strong only: a percentile bootstrap
over paths, 400 resamples) quantifies the Monte Carlo part on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats

from .. import philox
from ..brownian import BrownianPath, odd_part
from ..errors import InvalidArgumentError, ShapeError
from ..sde import as_sde
from ..solve import solve
from .problems import Problem, check_array, check_count, check_real, check_span


@dataclass
class OrderFit:
    r"""Result of :func:`fit_order`, :func:`strong_order` or :func:`weak_order`.

    Attributes
    ----------
    order : float
        Least-squares slope of log(error) against log(dt).
    ci : (float, float)
        ``confidence``-level interval for the order (t-quantile, k - 2 degrees of freedom).
    errors, dts : ndarray
        The errors and step sizes fitted (dts decreasing).
    n_steps : ndarray of int
    stderr : float
        Standard error of the slope.
    constant : float
        The fitted error constant C in ``error ≈ C dt^order``.
    error_se : ndarray or None
        Monte Carlo standard error of each error estimate.
    ci_bootstrap : (float, float) or None
        Percentile-bootstrap interval over paths (strong order only).
    kind, method, problem : str
    times : ndarray or None
        Wall time of each solve (seconds).

    >>> import numpy as np
    >>> fit = fit_order([0.1, 0.05, 0.025], [0.2, 0.1, 0.05])
    >>> round(fit.order, 6), fit.ci[0] <= fit.order <= fit.ci[1]
    (1.0, True)
    """

    order: float
    ci: tuple
    errors: np.ndarray
    dts: np.ndarray
    stderr: float
    constant: float
    n_steps: Optional[np.ndarray] = None
    error_se: Optional[np.ndarray] = None
    ci_bootstrap: Optional[tuple] = None
    kind: str = ""
    method: str = ""
    problem: str = ""
    times: Optional[np.ndarray] = None
    confidence: float = 0.95
    extra: dict = field(default_factory=dict)

    def table(self) -> str:
        """A plain-text table of the errors and the fitted order."""
        lines = [f"{self.kind or 'order'} convergence: method={self.method or '?'} problem={self.problem or '?'}",
                 f"{'n_steps':>8} {'dt':>12} {'error':>12} {'std.err':>10} {'ratio':>7}"]
        prev = None
        for i, (dt, e) in enumerate(zip(self.dts, self.errors)):
            n = "" if self.n_steps is None else str(int(self.n_steps[i]))
            se = "" if self.error_se is None else f"{self.error_se[i]:.2e}"
            ratio = "" if prev is None or e <= 0 else f"{prev / e:.3f}"
            lines.append(f"{n:>8} {dt:12.5g} {e:12.5e} {se:>10} {ratio:>7}")
            prev = e
        lines.append(f"fitted order {self.order:.3f}, {int(self.confidence * 100)}% CI "
                     f"[{self.ci[0]:.3f}, {self.ci[1]:.3f}]")
        if self.ci_bootstrap is not None:
            lines.append(f"bootstrap (Monte Carlo) CI [{self.ci_bootstrap[0]:.3f}, {self.ci_bootstrap[1]:.3f}]")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def fit_order(dts, errors, confidence: float = 0.95) -> OrderFit:
    r"""Least-squares fit of :math:`\log e = c + q \log Δt` with a t-interval for :math:`q`.

    .. math:: \mathrm{se}(q) = \sqrt{\frac{\sum r_i^2/(k-2)}{\sum(\log Δt_i - \overline{\log Δt})^2}},\qquad
              q ± t_{k-2,(1+\mathrm{confidence})/2}\,\mathrm{se}(q).

    Two points leave no residual degrees of freedom: the interval is then
    ``(-inf, inf)``. Errors must be positive.

    >>> fit = fit_order([1/8, 1/16, 1/32, 1/64], [0.1, 0.05, 0.024, 0.0126])
    >>> round(fit.order, 2), fit.ci[1] - fit.ci[0] < 0.2
    (1.0, True)
    """
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    try:
        dts = np.asarray(dts, dtype=float).ravel()
        errors = np.asarray(errors, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InvalidArgumentError("dts and errors must be arrays of floats") from None
    if dts.shape != errors.shape or dts.size < 2:
        raise ShapeError(f"need at least two (dt, error) pairs of equal length; got {dts.size} dts and "
                         f"{errors.size} errors")
    if np.any(errors <= 0) or not np.all(np.isfinite(errors)):
        raise InvalidArgumentError(f"errors must be positive and finite to fit a log-log slope; got {errors}")
    if np.any(dts <= 0) or not np.all(np.isfinite(dts)):
        raise InvalidArgumentError(f"dts must be positive and finite; got {dts}")
    if np.unique(dts).size < 2:
        raise InvalidArgumentError(f"dts must hold at least two distinct step sizes; got {dts}")
    x, y = np.log(dts), np.log(errors)
    k = x.size
    xm = x.mean()
    sxx = ((x - xm) ** 2).sum()
    q = ((x - xm) * (y - y.mean())).sum() / sxx
    c = y.mean() - q * xm
    if k > 2:
        resid = y - (c + q * x)
        se = math.sqrt((resid**2).sum() / (k - 2) / sxx)
        half = stats.t.ppf(0.5 + confidence / 2, k - 2) * se
    else:
        se, half = float("inf"), float("inf")
    return OrderFit(order=float(q), ci=(float(q - half), float(q + half)), errors=errors, dts=dts,
                    stderr=float(se), constant=float(math.exp(c)), confidence=confidence)


# ----------------------------------------------------------------------------------------
# Running a study
# ----------------------------------------------------------------------------------------
def _resolve(problem, x0, t_span):
    """(sde, x0-provider Problem, exact or None, name) from a Problem or an SDE + x0 + t_span."""
    if isinstance(problem, Problem):
        if x0 is not None or t_span is not None:
            new_span = problem.t_span if t_span is None else check_span(t_span)
            # exact(t, x0, w) takes x0 but was built for the problem's t0: a new t0 drops it
            # (the study then uses a fine reference), a new end time or x0 keeps it.
            same_t0 = float(new_span[0]) == float(problem.t_span[0])
            return Problem(problem.name, problem.sde,
                           problem.x0 if x0 is None else _vector_x0(x0, problem.d),
                           new_span, exact=problem.exact if same_t0 else None,
                           x0_law=problem.x0_law if x0 is None else None)
        return problem
    sde = as_sde(problem)
    if x0 is None or t_span is None:
        raise InvalidArgumentError("an SDE without a Problem needs x0= and t_span= (the study's start and span)")
    x0a = np.atleast_1d(check_array("x0", x0))
    if x0a.ndim != 1:
        raise ShapeError(f"x0 must be a float or a (d,) array; got shape {x0a.shape}")
    return Problem(getattr(sde, "name", "sde"), sde, x0a, check_span(t_span), exact=None)


def _as_numpy(a):
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _segments(n_list):
    """Top-level segments of the shared path: the common odd part, so each grid hits tree nodes."""
    g = reduce(math.gcd, [int(n) for n in n_list])
    return odd_part(g)


def _vector_x0(x0, d):
    x0a = np.atleast_1d(check_array("x0", x0))
    if x0a.shape != (d,) and x0a.size != 1:
        raise ShapeError(f"x0 must be a float or a ({d},) array for this problem; got shape {x0a.shape}")
    return np.broadcast_to(x0a, (d,)).copy()


def _check_steps(n_steps):
    if isinstance(n_steps, (str, bytes)) or not hasattr(n_steps, "__iter__"):
        raise InvalidArgumentError(f"n_steps must list at least two positive step counts; got {n_steps!r}")
    ns = [check_count(f"n_steps[{i}]", n) for i, n in enumerate(n_steps)]
    if len(ns) < 2:
        raise InvalidArgumentError(f"n_steps must list at least two positive step counts; got {n_steps!r}")
    if sorted(set(ns)) != sorted(ns):
        raise InvalidArgumentError(f"n_steps must not repeat; got {n_steps!r}")
    return sorted(ns)


# Memory the study's result arrays need (end states per resolution and the reference), refused
# before any solve above this: a typo such as n_paths=10**12 must not end in a MemoryError.
MAX_STUDY_BYTES = 2**34


def _check_study(p_, ns, n_paths, seed, chunk, confidence, min_paths=1):
    """The arguments every study shares, checked before any work (typed errors naming each)."""
    n_paths = check_count("n_paths", n_paths, minimum=min_paths)
    philox.check_seed(seed)
    chunk = check_count("chunk", chunk)
    check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    need = (len(ns) + 1) * n_paths * p_.d * 8
    if need > MAX_STUDY_BYTES:
        raise InvalidArgumentError(f"n_paths={n_paths} with {len(ns)} resolutions in d={p_.d} needs {need} bytes of "
                                   f"end states, above {MAX_STUDY_BYTES}; use fewer paths")
    return n_paths, chunk


def _check_reference(ref_n, finest, reference_method):
    if ref_n is not None:
        ref_n = check_count("reference_n_steps", ref_n)
        if ref_n <= finest:
            raise InvalidArgumentError(f"reference_n_steps ({ref_n}) must exceed the finest n_steps ({finest})")
    if reference_method is not None and not isinstance(reference_method, str) and not hasattr(reference_method,
                                                                                              "step"):
        raise InvalidArgumentError(f"reference_method must be a method name or a Solver; got {reference_method!r}")
    return ref_n


def _final_states(p: Problem, method, ns, n_paths, seed, backend, chunk, ref_n, ref_method, method_options,
                  ref_mode=None):
    """End states per resolution (k, n, d), the reference (n, d) and wall times (k,).

    ``ref_mode``: "exact" (``p.exact`` at W(T)), "solve" (``ref_n`` steps of ``ref_method``) or "none".
    """
    if ref_mode is None:
        ref_mode = "exact" if ref_n is None else "solve"
    sde = p.sde
    t0, t1 = p.t_span
    d = p.d
    m = p.m
    k = len(ns)
    finals = np.empty((k, n_paths, d))
    ref = np.empty((n_paths, d))
    times = np.zeros(k)
    segs = _segments(ns + ([ref_n] if ref_n else []))
    bm_backend = "torch" if backend == "torch" else "numpy"
    for start in range(0, n_paths, chunk):
        nc = min(chunk, n_paths - start)
        x0 = p.initial(nc, seed=seed, offset=start)
        bm = None
        if m > 0:
            bm = BrownianPath(nc, m, (t0, t1), seed=seed, segments=segs, path_offset=start, backend=bm_backend)
        for j, n in enumerate(ns):
            tic = time.perf_counter()
            sol = solve(sde, x0, (t0, t1), n_steps=n, method=method, n_paths=nc, seed=seed, brownian=bm,
                        backend=backend, **method_options)
            times[j] += time.perf_counter() - tic
            finals[j, start:start + nc] = _as_numpy(sol.ys[-1])
        if ref_mode == "none":
            continue
        if ref_mode == "exact":
            w = np.zeros((nc, 0)) if bm is None else _as_numpy(bm.value(t1))
            ref[start:start + nc] = np.asarray(p.exact(t1, x0, w), dtype=float).reshape(nc, d)
        else:
            opts = method_options if ref_method is method else {}
            sol = solve(sde, x0, (t0, t1), n_steps=ref_n, method=ref_method, n_paths=nc, seed=seed, brownian=bm,
                        backend=backend, **opts)
            ref[start:start + nc] = _as_numpy(sol.ys[-1])
    return finals, ref, times


def _method_name(method):
    return method if isinstance(method, str) else getattr(method, "name", type(method).__name__) or "custom"


def _bootstrap_ci(per_path, dts, p, confidence, seed, n_boot=400):
    """Percentile bootstrap of the slope, resampling paths (rows of per_path are resolutions)."""
    rng = np.random.default_rng([int(seed), 0xB007])
    n = per_path.shape[1]
    x = np.log(dts)
    xm = x - x.mean()
    sxx = (xm**2).sum()
    slopes = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        e = (per_path[:, idx] ** p).mean(1) ** (1.0 / p)
        if np.any(e <= 0):
            slopes[b] = np.nan
            continue
        y = np.log(e)
        slopes[b] = (xm * (y - y.mean())).sum() / sxx
    lo, hi = np.nanquantile(slopes, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return float(lo), float(hi)


def strong_order(problem, method="euler_maruyama", *, n_steps=(16, 32, 64, 128, 256), n_paths=1000, seed=0,
                 x0=None, t_span=None, backend="numpy", p=1, reference_n_steps=None, reference_method=None,
                 confidence=0.95, chunk=50_000, bootstrap=True, **method_options) -> OrderFit:
    r"""Estimate the strong order of ``method`` on ``problem``.

    Strong error at the final time on the same Brownian path refined,
    :math:`e(Δt) = (E\|X^{Δt}_N - X(T)\|^p)^{1/p}` (``p = 1`` default), against
    ``problem.exact`` or, without one, a fine reference solve on the same path
    (see the module docstring). Returns an :class:`OrderFit`.

    Parameters
    ----------
    problem : Problem, or an SDE (then ``x0`` and ``t_span`` are required)
    method : name or :class:`sdekit.solvers.Solver` instance
    n_steps : step counts (at least two); sharing an odd part keeps the path cheap
    n_paths, seed : number of paths; path i is a function of (seed, i)
    backend : passed to :func:`sdekit.solve` (default ``"numpy"``: no compile time,
        bit-reproducible; ``"auto"`` may compile a Numba kernel per resolution)
    p : 1 or 2, the moment of the strong error
    reference_n_steps, reference_method : the fine reference when there is no
        exact solution (default ``16 * max(n_steps)`` steps of ``method``);
        pass ``reference_n_steps`` to force a reference solve even with ``exact``
    confidence : level of ``fit.ci`` and ``fit.ci_bootstrap``
    chunk : paths per block (bounds memory; results do not depend on it)
    **method_options : passed to the method (e.g. ``alpha`` for ``predictor_corrector``)

    Example
    -------
    >>> import sdekit as sk
    >>> p = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
    >>> fit = sk.testing.strong_order(p, "euler_maruyama", n_steps=[16, 32, 64, 128], n_paths=400, seed=0)
    >>> 0.3 < fit.order < 0.7, fit.ci[0] < fit.order < fit.ci[1]
    (True, True)
    """
    p_ = _resolve(problem, x0, t_span)
    ns = _check_steps(n_steps)
    if isinstance(p, (bool, np.bool_)) or p not in (1, 2):
        raise InvalidArgumentError(f"p must be 1 or 2; got {p!r}")
    n_paths, chunk = _check_study(p_, ns, n_paths, seed, chunk, confidence, min_paths=2)
    if not isinstance(bootstrap, (bool, np.bool_)):
        raise InvalidArgumentError(f"bootstrap must be a bool; got {bootstrap!r}")
    ref_method = method if reference_method is None else reference_method
    ref_n = _check_reference(reference_n_steps, ns[-1], reference_method)
    if p_.exact is None and ref_n is None:
        ref_n = 16 * ns[-1]
    finals, ref, times = _final_states(p_, method, ns, int(n_paths), seed, backend, int(chunk), ref_n, ref_method,
                                       method_options)
    per_path = np.linalg.norm(finals - ref[None], axis=2)  # (k, n)
    errors = (per_path**p).mean(1) ** (1.0 / p)
    if p == 1:
        se = per_path.std(1, ddof=1) / math.sqrt(n_paths)
    else:  # delta method for sqrt of a mean
        se = (per_path**2).std(1, ddof=1) / math.sqrt(n_paths) / (2 * np.maximum(errors, 1e-300))
    span = p_.t_span[1] - p_.t_span[0]
    dts = span / np.asarray(ns, dtype=float)
    fit = fit_order(dts, errors, confidence)
    fit.n_steps, fit.error_se, fit.times = np.asarray(ns), se, times
    fit.kind, fit.method, fit.problem = "strong", _method_name(method), p_.name
    fit.extra = {"reference": "exact" if ref_n is None else f"{_method_name(ref_method)} with {ref_n} steps",
                 "n_paths": int(n_paths), "p": p}
    if bootstrap and p_.m > 0:
        fit.ci_bootstrap = _bootstrap_ci(per_path, dts, p, confidence, seed)
    return fit


def weak_order(problem, method="euler_maruyama", *, f: Optional[Callable] = None, n_steps=(2, 4, 8, 16),
               n_paths=100_000, seed=0, x0=None, t_span=None, backend="numpy", reference_n_steps=None,
               reference_method=None, expectation=None, confidence=0.95, chunk=50_000,
               **method_options) -> OrderFit:
    r"""Estimate the weak order of ``method`` on ``problem`` for the test function ``f``.

    Weak error :math:`e(Δt) = |\frac1n\sum_i f(X^{Δt}_{N,i}) - f(X_i(T))|` with the
    reference :math:`X_i(T)` on the same path: ``problem.exact`` at :math:`W(T)`,
    else a fine reference solve (``reference_n_steps``, default ``16 * max(n_steps)``).
    Pairing makes the estimator's noise the strong error over :math:`\sqrt n`
    rather than :math:`\mathrm{sd}\,f(X_T)/\sqrt n`. Alternatively pass
    ``expectation`` (the exact :math:`E f(X_T)`, e.g. ``problem.mean(T)``) to use
    :math:`|\frac1n\sum_i f(X^{Δt}_{N,i}) - E f(X_T)|` without any reference.

    ``f`` maps ``(n, d)`` states to ``(n,)`` or ``(n, k)`` values (default: the
    identity); for vector values the error is the Euclidean norm of the mean
    difference. ``fit.error_se`` holds the standard errors: an error not well
    above its standard error (say < 3 se) is noise, not bias; use more paths or
    coarser steps.

    Example
    -------
    >>> import sdekit as sk
    >>> p = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
    >>> fit = sk.testing.weak_order(p, "euler_maruyama", n_steps=[2, 4, 8, 16], n_paths=20_000, seed=0)
    >>> 0.75 < fit.order < 1.25
    True
    """
    p_ = _resolve(problem, x0, t_span)
    ns = _check_steps(n_steps)
    n_paths, chunk = _check_study(p_, ns, n_paths, seed, chunk, confidence, min_paths=2)
    if f is not None and not callable(f):
        raise InvalidArgumentError(f"f must be a callable (n, d) -> (n,) or (n, k); got {type(f).__name__}")
    if expectation is not None:
        expectation = check_array("expectation", expectation)
    f = (lambda x: x) if f is None else f
    ref_method = method if reference_method is None else reference_method
    ref_n = _check_reference(reference_n_steps, ns[-1], reference_method)
    if p_.exact is None and ref_n is None and expectation is None:
        ref_n = 16 * ns[-1]
    if expectation is not None:
        ref_mode, ref_n = "none", None
    else:
        ref_mode = "exact" if ref_n is None else "solve"
    finals, ref, times = _final_states(p_, method, ns, int(n_paths), seed, backend, int(chunk), ref_n, ref_method,
                                       method_options, ref_mode)

    def fv(x):
        v = np.asarray(f(x), dtype=float)
        return v.reshape(v.shape[0], -1)

    errors, se = np.empty(len(ns)), np.empty(len(ns))
    if expectation is None:
        fref = fv(ref)
        for j in range(len(ns)):
            diff = fv(finals[j]) - fref  # (n, k)
            mdiff = diff.mean(0)
            errors[j] = np.linalg.norm(mdiff)
            se[j] = _norm_se(diff, mdiff)
    else:
        target = np.atleast_1d(np.asarray(expectation, dtype=float)).ravel()
        for j in range(len(ns)):
            vals = fv(finals[j])
            mdiff = vals.mean(0) - target
            errors[j] = np.linalg.norm(mdiff)
            se[j] = _norm_se(vals, mdiff)
    span = p_.t_span[1] - p_.t_span[0]
    dts = span / np.asarray(ns, dtype=float)
    fit = fit_order(dts, errors, confidence)
    fit.n_steps, fit.error_se, fit.times = np.asarray(ns), se, times
    fit.kind, fit.method, fit.problem = "weak", _method_name(method), p_.name
    fit.extra = {"n_paths": int(n_paths),
                 "reference": ("expectation given" if expectation is not None else
                               "exact" if ref_n is None else f"{_method_name(ref_method)} with {ref_n} steps")}
    return fit


def _norm_se(samples, mdiff):
    """Standard error of ``|mean(samples)|`` (delta method; the component's se in 1-d)."""
    n = samples.shape[0]
    sd = samples.std(0, ddof=1) / math.sqrt(n)
    norm = np.linalg.norm(mdiff)
    if norm == 0:
        return float(np.linalg.norm(sd))
    return float(math.sqrt(((mdiff / norm) ** 2 * sd**2).sum()))


# ----------------------------------------------------------------------------------------
# Work–precision
# ----------------------------------------------------------------------------------------
@dataclass
class WorkPrecision:
    """Error against wall time per method (from :func:`work_precision`).

    ``fits`` maps a method label to its :class:`OrderFit` (``errors``, ``dts``,
    ``times`` in seconds). :meth:`plot` draws log error against log time.
    """

    fits: dict
    kind: str = "strong"
    problem: str = ""

    def rows(self):
        """``(method, n_steps, dt, error, seconds)`` tuples."""
        out = []
        for label, fit in self.fits.items():
            for n, dt, e, t in zip(fit.n_steps, fit.dts, fit.errors, fit.times):
                out.append((label, int(n), float(dt), float(e), float(t)))
        return out

    def table(self) -> str:
        lines = [f"work-precision ({self.kind} error) on {self.problem}",
                 f"{'method':<22} {'n_steps':>8} {'error':>12} {'seconds':>10}"]
        lines += [f"{m:<22} {n:>8} {e:12.4e} {t:10.4f}" for m, n, _, e, t in self.rows()]
        return "\n".join(lines)

    def plot(self, ax=None, path=None):
        """Plot log error against log wall time per method (matplotlib, imported lazily).

        Returns the axes; with ``path`` the figure is also saved there.
        """
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for label, fit in self.fits.items():
            ax.loglog(fit.times, fit.errors, "o-", label=f"{label} (order {fit.order:.2f})")
        ax.set(xlabel="wall time [s]", ylabel=f"{self.kind} error", title=f"Work–precision: {self.problem}")
        ax.legend(fontsize=8)
        if path is not None:
            ax.figure.tight_layout()
            ax.figure.savefig(path, dpi=120)
        return ax


def work_precision(problem, methods: Sequence, *, kind="strong", n_steps=(8, 16, 32, 64, 128), n_paths=1000,
                   seed=0, backend="numpy", repeats=1, **kwargs) -> WorkPrecision:
    r"""Error against wall time for several methods on one problem (same paths for all).

    Each method runs :func:`strong_order` (or :func:`weak_order` with
    ``kind="weak"``; ``kwargs`` go through, e.g. ``f=``); the wall time of a
    resolution is the sum over path blocks of :func:`sdekit.solve`'s time, the
    fastest of ``repeats`` runs. ``methods`` holds names, solver instances or
    ``(label, method)`` pairs.

    >>> import sdekit as sk
    >>> wp = sk.testing.work_precision(sk.testing.problems.gbm(), ["euler_maruyama", "milstein"],
    ...                                n_steps=[8, 16, 32], n_paths=200)
    >>> sorted(wp.fits), len(wp.rows())
    (['euler_maruyama', 'milstein'], 6)
    """
    if not isinstance(kind, str) or kind not in ("strong", "weak"):
        raise InvalidArgumentError(f'kind must be "strong" or "weak"; got {kind!r}')
    repeats = check_count("repeats", repeats)
    if isinstance(methods, (str, bytes)) or not hasattr(methods, "__iter__"):
        raise InvalidArgumentError(f"methods must be a list of method names, solvers or (label, method) pairs; "
                                   f"got {methods!r}")
    run = strong_order if kind == "strong" else weak_order
    fits = {}
    for entry in methods:
        label, method = entry if isinstance(entry, tuple) else (_method_name(entry), entry)
        best = None
        for _ in range(repeats):
            fit = run(problem, method, n_steps=n_steps, n_paths=n_paths, seed=seed, backend=backend, **kwargs)
            if best is None:
                best = fit
            else:
                best.times = np.minimum(best.times, fit.times)
        fits[label] = best
    name = problem.name if isinstance(problem, Problem) else "sde"
    return WorkPrecision(fits, kind, name)
