"""``solve``: argument checking, the time grid, and the hand-off to a backend."""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from . import philox
from .brownian import BrownianPath, odd_part
from .errors import IncompatibleMethodError, InvalidArgumentError, ShapeError
from .sde import SDE, as_sde
from .solvers import get_solver
from .validation import check_positive_int, check_t_span


@dataclass
class Plan:
    """The time grid of a fixed-step solve, built once and shared by every backend.

    ``times`` (float64, strictly increasing, ``times[0] = t0``, ``times[-1] = t1``)
    are the points the solver steps onto; ``save`` lists the indices of
    ``times`` whose states are kept, in order.
    """

    times: np.ndarray
    save: np.ndarray
    n_uniform: int  # steps of the uniform grid before save points were inserted

    @property
    def n_steps(self) -> int:
        return len(self.times) - 1


def make_plan(t0, t1, dt, n_steps, save_at) -> Plan:
    """Build the uniform grid (``dt`` or ``n_steps``) merged with ``save_at``."""
    span = t1 - t0
    if (dt is None) == (n_steps is None):
        raise InvalidArgumentError(
            f"exactly one of dt or n_steps must be given; got dt={dt!r}, n_steps={n_steps!r}"
        )
    if dt is not None:
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
            raise InvalidArgumentError(f"dt must be a positive finite float; got {dt!r}")
        # The largest uniform step not above dt (a step a hair above by rounding is kept).
        n_steps = max(1, math.ceil(span / dt * (1 - 1e-12)))
    n = check_positive_int("n_steps", n_steps)
    times = t0 + span * (np.arange(n + 1, dtype=np.float64) / n)
    times[-1] = t1
    if save_at is None:
        return Plan(times, np.array([0, n]), n)
    if isinstance(save_at, str):
        if save_at != "steps":
            raise InvalidArgumentError(f'save_at must be None, "steps" or an array of times; got {save_at!r}')
        return Plan(times, np.arange(n + 1), n)
    try:
        sa = np.asarray(save_at, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"save_at must be an array of floats; got {type(save_at).__name__}") from None
    if sa.size == 0:
        raise InvalidArgumentError("save_at must not be empty")
    if not np.all(np.isfinite(sa)):
        raise InvalidArgumentError(f"save_at must be finite; got {sa}")
    tol = 1e-12 * span
    if sa[0] < t0 - tol or sa[-1] > t1 + tol:
        raise InvalidArgumentError(
            f"save_at must lie inside t_span [{t0}, {t1}]; got values in [{sa.min()}, {sa.max()}]"
        )
    if np.any(np.diff(sa) <= 0):
        raise InvalidArgumentError("save_at must be strictly increasing")
    sa = np.clip(sa, t0, t1)
    # Merge: a save time within rounding of a grid point replaces that point exactly.
    snap = 1e-9 * span / n
    idx = np.clip(np.rint((sa - t0) / span * n).astype(np.int64), 0, n)
    on_grid = np.abs(times[idx] - sa) <= snap
    times = times.copy()
    times[idx[on_grid]] = sa[on_grid]
    merged = np.union1d(times, sa[~on_grid])
    save = np.searchsorted(merged, sa)
    return Plan(merged, save, n)


def _infer_shape(x0, n_paths):
    """Number of paths and state dimension from ``x0`` (any array-like) and ``n_paths``."""
    shape = tuple(getattr(x0, "shape", np.shape(x0)))
    if n_paths is not None:
        n_paths = check_positive_int("n_paths", n_paths)
    if len(shape) == 0:
        return (n_paths or 1), 1, "scalar"
    if len(shape) == 1:
        if shape[0] < 1:
            raise ShapeError(f"x0 must have at least one component; got shape {shape}")
        return (n_paths or 1), shape[0], "vector"
    if len(shape) == 2:
        if n_paths is not None and n_paths != shape[0]:
            raise ShapeError(
                f"x0 has {shape[0]} paths (shape {shape}) but n_paths={n_paths}; "
                "pass a (d,) x0 to broadcast it to n_paths paths"
            )
        if shape[0] < 1 or shape[1] < 1:
            raise ShapeError(f"x0 must have shape (n, d) with n, d >= 1; got {shape}")
        return shape[0], shape[1], "matrix"
    raise ShapeError(f"x0 must be a float, a (d,) array or an (n, d) array; got shape {shape}")


def _check_compatible(solver, sde: SDE):
    if sde.is_ode:
        return
    if solver.kind == "ode":
        raise IncompatibleMethodError(
            f"method {solver.name!r} solves ODEs; this problem is an SDE with {sde.noise} noise. "
            "Use an SDE method (euler_maruyama, heun, milstein, predictor_corrector)"
        )
    if sde.noise not in solver.noise_types:
        raise IncompatibleMethodError(
            f"method {solver.name!r} supports noise {sorted(solver.noise_types)}; the SDE has noise={sde.noise!r}"
        )
    if solver.calculus not in ("any", sde.calculus) and not sde.additive:
        raise IncompatibleMethodError(
            f"method {solver.name!r} converges to the {solver.calculus} solution but the SDE is "
            f"{sde.calculus} (with non-additive noise): it would solve a different equation. "
            f"Declare calculus={solver.calculus!r} (converting the drift) or choose a method for {sde.calculus}"
        )


def solve(sde, x0, t_span, *, dt=None, n_steps=None, method="euler_maruyama", n_paths=None, seed=0,
          brownian=None, save_at=None, backend="auto", dtype=None, device=None, progress=False,
          **method_options):
    r"""Solve an SDE (or ODE) for many paths at once.

    Parameters
    ----------
    sde : SDE, ODE or torchsde-style object
    x0 : float, ``(d,)`` or ``(n, d)`` array (NumPy or torch)
        A ``(d,)`` x0 is broadcast to ``n_paths`` paths (default 1).
    t_span : (t0, t1) with t1 > t0
    dt, n_steps : exactly one; the grid is uniform with ``n_steps`` steps
        (``dt`` is rounded down to divide the span).
    method : str or Solver
        ``euler_maruyama`` (``em``), ``heun``, ``milstein``, ``predictor_corrector``
        (``pc``); for ODEs ``euler``, ``heun``, ``rk4``, ``dopri5``.
    seed : int
        Path ``i`` is a pure function of ``(seed, i)``.
    brownian : BrownianPath, optional
        A path to reuse (its seed wins), e.g. to refine the grid on the same path.
    save_at : None, "steps" or increasing array of times
        ``None`` keeps ``t0`` and ``t1``; an array is stepped onto exactly and
        ``sol.ts`` equals it; ``"steps"`` keeps every grid point.
    backend : "auto", "numpy", "numba" or "torch"
    dtype : "float64" (default, or x0's float dtype) or "float32"
    device : torch device (torch backend)
    progress : bool, show a progress bar
    **method_options : passed to the method (e.g. ``rtol`` for ``dopri5``)

    Returns
    -------
    Solution with ``ts`` (k,), ``ys`` (k, n, d), ``stats``.

    Update rules, orders and references are in each method's docstring
    (``sdekit.solvers``). Errors: :mod:`sdekit.errors`.

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    >>> sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=100, n_paths=20_000, seed=0, backend="numpy")
    >>> round(float(sol.ys[-1].mean()), 1)   # E X_1 = exp(0.5)
    1.6
    """
    from .backends import select_backend

    started = time.perf_counter()
    sde = as_sde(sde)
    solver = get_solver(method, is_ode=sde.is_ode, **method_options)
    _check_compatible(solver, sde)
    if hasattr(solver, "prepare"):
        solver = solver.prepare(sde)
    t0, t1 = check_t_span(t_span)
    seed = philox.check_seed(seed)
    plan = make_plan(t0, t1, dt, n_steps, save_at)
    n, d, _ = _infer_shape(x0, n_paths)
    be = select_backend(backend, sde, x0, work=n * plan.n_steps * d)
    x, dtype_name = be.initial_state(x0, n, d, dtype, device)
    m = sde.brownian_dim_for(d)
    if getattr(sde, "_infer_brownian_dim", False):
        m = be.infer_brownian_dim(sde, plan.times[0], x)
        sde.brownian_dim = m
    bm = None
    if m > 0 or solver.n_aux > 0:
        bm = _brownian_for(brownian, be, n, max(m, 1), (t0, t1), seed, plan, dtype_name, x)
    terms = be.make_terms(sde, n, d, m)
    result = be.integrate(solver, terms, x, plan, bm if m > 0 else None, bm, progress)
    stats = {"n_steps": result.n_steps, "nfe": result.nfe, **result.extra,
             "wall_time": time.perf_counter() - started}
    return _solution(result, plan, stats, solver, be, bm)


def _solution(result, plan, stats, solver, be, bm):
    from .solution import Solution

    return Solution(ts=result.ts, ys=result.ys, stats=stats, method=solver.name, backend=be.name, brownian=bm)


def _brownian_for(brownian, be, n, m, t_span, seed, plan, dtype_name, x):
    if brownian is None:
        return be.brownian(n, m, t_span, seed=seed, segments=odd_part(plan.n_uniform), dtype=dtype_name,
                           like=x)
    if not isinstance(brownian, BrownianPath):
        raise InvalidArgumentError(f"brownian must be an sdekit.BrownianPath; got {type(brownian).__name__}")
    if brownian.n_paths != n or brownian.dim != m:
        raise ShapeError(
            f"brownian has n_paths={brownian.n_paths}, dim={brownian.dim}; this solve needs "
            f"n_paths={n}, dim={m} (the SDE's Brownian dimension)"
        )
    tol = 1e-12 * (t_span[1] - t_span[0])
    if brownian.t0 > t_span[0] + tol or brownian.t1 < t_span[1] - tol:
        raise InvalidArgumentError(
            f"brownian spans [{brownian.t0}, {brownian.t1}], which does not cover t_span {t_span}"
        )
    return brownian
