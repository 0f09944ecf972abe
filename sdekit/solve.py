"""``solve``: argument checking, the time grid, the choice of driver, and the hand-off to a backend."""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from . import philox
from .brownian import BrownianPath, segments_for
from .errors import IncompatibleMethodError, InvalidArgumentError, ShapeError
from .memory import check_allocation
from .noise import check_noise
from .sde import SDE, as_sde
from .solvers import REGISTRY, get_solver, noise_class, supported_classes
from .validation import check_bool, check_positive_int, check_t_span


@dataclass
class Plan:
    """The time grid of a fixed-step solve, built once and shared by every backend.

    ``times`` (float64, strictly increasing, ``times[0] = t0``, ``times[-1] = t1``)
    are the points the solver steps onto; ``save`` lists the indices of
    ``times`` whose states are kept, in order. ``n_uniform`` is the number of
    steps of the uniform grid before save points were inserted (0 for an explicit grid).
    """

    times: np.ndarray
    save: np.ndarray
    n_uniform: int

    @property
    def n_steps(self) -> int:
        return len(self.times) - 1


MAX_STEPS = 1 << 40  # grid steps a solve may address (auxiliary draws are keyed by the step index)


def _steps_from_dt(span, dt):
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
        raise InvalidArgumentError(f"dt must be a positive finite float; got {dt!r}")
    ratio = span / float(dt)
    if not ratio < MAX_STEPS:
        raise InvalidArgumentError(f"dt={dt!r} gives {ratio:.3g} steps over the span; at most 2**40 are allowed")
    # The largest uniform step not above dt (a step a hair above by rounding is kept).
    return max(1, math.ceil(ratio * (1 - 1e-12)))


def _check_distinct(times, what):
    gaps = np.diff(times)
    if not np.all(gaps > 0):
        i = int(np.argmin(gaps > 0))
        raise InvalidArgumentError(
            f"{what} has times {times[i]!r} and {times[i + 1]!r} that coincide in float64: the span is too short "
            "for this many steps at this magnitude of t (or two requested times are closer than float64 resolves)")


def _save_times(save_at, t0, t1):
    if isinstance(save_at, (bool, np.bool_)):
        raise InvalidArgumentError(f'save_at must be None, "steps" or an array of times; got {save_at!r}')
    try:
        sa = np.asarray(save_at, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"save_at must be an array of floats; got {type(save_at).__name__}") from None
    if np.asarray(save_at).dtype == np.bool_:
        raise InvalidArgumentError("save_at must be an array of times, not booleans")
    if sa.size == 0:
        raise InvalidArgumentError("save_at must not be empty")
    if not np.all(np.isfinite(sa)):
        raise InvalidArgumentError(f"save_at must be finite; got {sa}")
    span = t1 - t0
    tol = 1e-12 * span
    if sa[0] < t0 - tol or sa[-1] > t1 + tol:
        raise InvalidArgumentError(
            f"save_at must lie inside t_span [{t0}, {t1}]; got values in [{sa.min()}, {sa.max()}]"
        )
    if np.any(np.diff(sa) <= 0):
        raise InvalidArgumentError("save_at must be strictly increasing")
    sa = np.clip(sa, t0, t1)
    _check_distinct(sa, "save_at")
    return sa


def make_plan(t0, t1, dt, n_steps, save_at, grid=None) -> Plan:
    """Build the uniform grid (``dt`` or ``n_steps``), or an explicit ``grid``, merged with ``save_at``.

    A save time within rounding of a grid point replaces that point exactly (each
    grid point at most once); others are inserted. Times that float64 cannot tell
    apart are refused, never merged silently.
    """
    span = t1 - t0
    if grid is not None:
        if dt is not None or n_steps is not None:
            raise InvalidArgumentError("grid= replaces dt and n_steps; pass only one of them")
        try:
            times = np.asarray(grid, dtype=np.float64).reshape(-1).copy()
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"grid must be an array of times; got {type(grid).__name__}") from None
        if times.size < 2 or not np.all(np.isfinite(times)):
            raise InvalidArgumentError("grid must hold at least two finite times")
        if abs(times[0] - t0) > 1e-12 * span or abs(times[-1] - t1) > 1e-12 * span:
            raise InvalidArgumentError(f"grid must start at t0={t0} and end at t1={t1}; got [{times[0]}, {times[-1]}]")
        times[0], times[-1] = t0, t1
        if np.any(np.diff(times) <= 0):
            raise InvalidArgumentError("grid must be strictly increasing")
        n, n_uniform = times.size - 1, 0
    else:
        if (dt is None) == (n_steps is None):
            raise InvalidArgumentError(
                f"exactly one of dt or n_steps must be given; got dt={dt!r}, n_steps={n_steps!r}"
            )
        n = _steps_from_dt(span, dt) if dt is not None else check_positive_int("n_steps", n_steps)
        if n >= MAX_STEPS:
            raise InvalidArgumentError(f"n_steps must be below 2**40; got {n}")
        check_allocation(8 * (n + 1), "the time grid (n_steps + 1 float64 times)")
        times = t0 + span * (np.arange(n + 1, dtype=np.float64) / n)
        times[-1] = t1
        n_uniform = n
    _check_distinct(times, "the time grid")
    if save_at is None:
        return Plan(times, np.array([0, n]), n_uniform)
    if isinstance(save_at, str):
        if save_at != "steps":
            raise InvalidArgumentError(f'save_at must be None, "steps" or an array of times; got {save_at!r}')
        return Plan(times, np.arange(n + 1), n_uniform)
    sa = _save_times(save_at, t0, t1)
    idx = np.clip(np.searchsorted(times, sa), 0, n)
    # nearest grid point of each save time
    left = np.clip(idx - 1, 0, n)
    nearest = np.where(np.abs(times[left] - sa) <= np.abs(times[idx] - sa), left, idx)
    gap = np.min(np.diff(times)) if n > 0 else span
    snap = 1e-9 * gap
    on_grid = np.abs(times[nearest] - sa) <= snap
    claimed = set()
    times = times.copy()
    extra = []
    for s, i, ok in zip(sa, nearest, on_grid):
        if ok and int(i) not in claimed:
            claimed.add(int(i))
            times[i] = s
        else:
            extra.append(s)
    merged = np.union1d(times, np.asarray(extra, dtype=np.float64))
    _check_distinct(merged, "the time grid merged with save_at")
    save = np.searchsorted(merged, sa)
    return Plan(merged, save, n_uniform)


def _event_shape(x0, n_paths, brownian):
    """Number of paths and event shape from ``x0`` (any array-like), ``n_paths`` and ``brownian``."""
    shape = tuple(getattr(x0, "shape", None) if hasattr(x0, "shape") else np.shape(x0))
    if n_paths is not None:
        n_paths = check_positive_int("n_paths", n_paths)
    elif brownian is not None and hasattr(brownian, "n_paths"):
        n_paths = int(brownian.n_paths)
    if len(shape) == 0:
        return (n_paths or 1), (1,)
    if any(s < 1 for s in shape):
        raise ShapeError(f"x0 must have at least one component; got shape {shape}")
    if len(shape) == 1:
        return (n_paths or 1), shape
    if n_paths is None or n_paths == shape[0]:
        return shape[0], shape[1:]
    if len(shape) == 2:
        raise ShapeError(
            f"x0 has {shape[0]} paths (shape {shape}) but n_paths={n_paths}; "
            "pass a (d,) x0 to broadcast it to n_paths paths"
        )
    return n_paths, shape  # an event-shaped x0 (e.g. one image), broadcast to n_paths


def _auto_method(sde):
    if sde.is_ode:
        return "euler"
    return "heun" if sde.calculus == "stratonovich" and not sde.additive else "euler_maruyama"


def _methods_for(cls_name):
    names = [c.name for c in REGISTRY if c.kind == "sde" and cls_name in supported_classes(c)]
    return ", ".join(names)


def check_compatible(solver, sde: SDE):
    """Refuse a method that cannot solve ``sde`` (kind, noise class, calculus) with a message saying why."""
    if sde.is_ode:
        return
    if solver.kind == "ode":
        raise IncompatibleMethodError(
            f"method {solver.name!r} solves ODEs; this problem is an SDE with {sde.noise} noise. "
            f"Use an SDE method ({', '.join(c.name for c in REGISTRY if c.kind == 'sde')})"
        )
    cls = noise_class(sde)
    if cls not in supported_classes(type(solver)):
        extra = " (non-commutative)" if cls == "general" else ""
        raise IncompatibleMethodError(
            f"method {solver.name!r} supports noise classes {sorted(supported_classes(type(solver)))}; the SDE "
            f"has noise={sde.noise!r}{extra}. Methods for it: {_methods_for(cls)}"
        )
    if "additive" in solver.requires and not sde.additive:
        raise IncompatibleMethodError(
            f"method {solver.name!r} needs additive noise (declare sk.SDE(..., additive=True) if the diffusion "
            "does not depend on x)")
    if solver.calculus not in ("any", sde.calculus) and not sde.additive:
        raise IncompatibleMethodError(
            f"method {solver.name!r} converges to the {solver.calculus} solution but the SDE is "
            f"{sde.calculus} (with non-additive noise): it would solve a different equation. "
            f"Declare calculus={solver.calculus!r} (converting the drift) or choose a method for {sde.calculus}"
        )


def solve(sde, x0, t_span, *, dt=None, n_steps=None, method="auto", n_paths=None, seed=0,
          brownian=None, save_at=None, backend="auto", dtype=None, device=None, progress=False,
          adaptive=None, rtol=None, atol=None, max_steps=None, grid=None, adjoint=False, adjoint_params=None,
          logqp=None, **method_options):
    r"""Solve an SDE (or ODE) for many paths at once.

    Parameters
    ----------
    sde : SDE, ODE or torchsde-style object
    x0 : float, event-shaped array or ``(n, *event)`` array (NumPy or torch)
        A float or ``(d,)`` x0 is broadcast to ``n_paths`` paths (default 1, or
        ``brownian.n_paths``); an ``(n, d)`` array gives n paths; an array of 3 or
        more dimensions is ``(n, *event)``, or one event broadcast to ``n_paths``
        when ``n_paths`` differs from its first dimension.
    t_span : (t0, t1) with t1 > t0
    dt, n_steps : exactly one for a fixed-step solve; the grid is uniform with
        ``n_steps`` steps (``dt`` is rounded down to divide the span). Optional for
        adaptive solves (the first step).
    method : str or Solver
        ``"auto"`` (default): Euler–Maruyama for Itô problems, stochastic Heun for
        Stratonovich ones, Euler for an ODE. Names: see ``docs/methods.md`` or
        ``sdekit.solvers.method_names()``.
    seed : int
        Path ``i`` is a pure function of ``(seed, i)``.
    brownian : BrownianPath or any object of the noise protocol (:mod:`sdekit.noise`)
        A path to reuse (its seed wins), e.g. to refine the grid on the same path.
    save_at : None, "steps" or increasing array of times
        ``None`` keeps ``t0`` and ``t1``; an array is stepped onto exactly and
        ``sol.ts`` equals it; ``"steps"`` keeps every grid point.
    backend : "auto", "numpy", "numba" or "torch" (or a backend instance)
    dtype : "float64" (default, or x0's float dtype) or "float32"
    device : torch device (torch backend)
    progress : bool, show a progress bar
    adaptive : bool or None
        Adaptive step-size control (methods with an error estimate; see
        :mod:`sdekit.adaptive`). ``None``: the method's default (``dopri5`` is adaptive).
    rtol, atol, max_steps : tolerances and step budget of an adaptive solve
        (defaults 1e-3, 1e-6, 100000; ``dopri5`` keeps its ODE defaults 1e-6, 1e-8).
    grid : increasing array of times from t0 to t1, instead of ``dt``/``n_steps``
        (a non-uniform fixed grid; only ``save_at`` states are kept).
    adjoint : bool
        Torch: gradients by the stochastic adjoint, in memory independent of the number
        of steps (exact for ``reversible_heun``); see :mod:`sdekit.adjoint`.
    adjoint_params : iterable of tensors
        What the adjoint differentiates besides ``x0`` (default: the parameters of the
        drift's and diffusion's modules).
    logqp : callable ``(t, x) -> drift``
        A prior drift: also integrate the path KL ``½∫|g⁻¹(f - prior)|² dt``, returned as
        ``sol.logqp`` ``(n,)`` (:mod:`sdekit.logqp`).
    **method_options : passed to the method (e.g. ``gdg`` for ``milstein``)

    Returns
    -------
    Solution with ``ts`` (k,), ``ys`` (k, n, *event), ``stats``; ``sol.evaluate(t)`` interpolates.

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
    if brownian is not None and not isinstance(brownian, BrownianPath):
        from .interop import as_noise

        brownian = as_noise(brownian, t_span)  # torchsde's Brownian objects, through the noise protocol
    if adjoint is not False or adjoint_params is not None or logqp is not None:
        from .neural import solve_neural

        return solve_neural(sde, x0, t_span, adjoint=adjoint, adjoint_params=adjoint_params, logqp=logqp,
                            options=dict(dt=dt, n_steps=n_steps, method=method, n_paths=n_paths, seed=seed,
                                         brownian=brownian, save_at=save_at, backend=backend, dtype=dtype,
                                         device=device, progress=progress, adaptive=adaptive, rtol=rtol, atol=atol,
                                         max_steps=max_steps, grid=grid),
                            method_options=method_options)
    sde = as_sde(sde)
    progress = check_bool("progress", progress)
    t0, t1 = check_t_span(t_span)
    seed = philox.check_seed(seed)
    if isinstance(method, str) and method == "auto":
        method = _auto_method(sde)
    solver = get_solver(method, is_ode=sde.is_ode, **method_options)
    check_compatible(solver, sde)
    solver = solver.prepare(sde)
    adaptive = solver.adaptive_default if adaptive is None else check_bool("adaptive", adaptive)
    if not adaptive and (rtol is not None or atol is not None or max_steps is not None) and \
            not solver.adaptive_default:
        raise InvalidArgumentError("rtol, atol and max_steps apply to adaptive solves; pass adaptive=True")
    if adaptive and not solver.error_estimate:
        raise IncompatibleMethodError(
            f"method {solver.name!r} has no error estimate, so it cannot step adaptively; methods that can: "
            f"{', '.join(c.name for c in REGISTRY if c.error_estimate)}")
    n, event = _event_shape(x0, n_paths, brownian)
    D = int(np.prod(event))
    if adaptive:
        from .adaptive import adaptive_plan

        plan = adaptive_plan(t0, t1, dt, n_steps, save_at)
    else:
        plan = make_plan(t0, t1, dt, n_steps, save_at, grid)
    be = select_backend(backend, sde, x0, work=n * max(plan.n_steps, 1) * D)
    check_allocation(len(plan.save) * n * D * (4 if dtype == "float32" else 8) + 3 * n * D * 8,
                     f"the saved states ({len(plan.save)} x {n} paths x {D} components)")
    x, dtype_name = be.initial_state(x0, n, event, dtype, device)
    m = _brownian_dim(sde, be, t0, x, n, event)
    noise = None
    if m > 0 or solver.n_aux > 0:
        noise = _noise_for(brownian, be, n, max(m, 1), (t0, t1), seed, plan, dtype_name, x, solver, adaptive)
    terms = be.make_terms(sde, n, event, m)
    if adaptive:
        from .adaptive import integrate_adaptive

        result = integrate_adaptive(be, solver, terms, x, plan, noise if m > 0 else None, noise, progress,
                                    rtol=rtol, atol=atol, max_steps=max_steps)
    else:
        if getattr(solver, "checks_coupling", False) and m > 0 and sde.noise == "diagonal" and not sde.additive:
            be.check_diagonal_coupling(terms.diffusion, t0, x, solver.name)
        result = be.integrate_fixed(solver, terms, x, plan, noise if m > 0 else None, noise, progress)
    stats = {"n_steps": result.n_steps, "nfe": result.nfe, **result.extra,
             "wall_time": time.perf_counter() - started}
    from .solution import Solution

    ys = result.ys if tuple(event) == (D,) else result.ys.reshape((result.ys.shape[0], n) + tuple(event))
    return Solution(ts=np.asarray(result.ts, dtype=np.float64), ys=ys, stats=stats, method=solver.name,
                    backend=be.name, brownian=noise, final_carry=result.final_carry, terms=terms if m > 0 else None)


def _brownian_dim(sde, be, t, x, n, event):
    """The Brownian dimension m (0 for an ODE); torchsde-style general noise without ``brownian_size`` is probed."""
    if sde.is_ode:
        return 0
    if getattr(sde, "_infer_brownian_dim", False):
        return be.infer_brownian_dim(sde, t, x.reshape((n,) + tuple(event)))
    return sde.brownian_dim_for(int(np.prod(event)))


def _noise_for(brownian, be, n, m, t_span, seed, plan, dtype_name, x, solver, adaptive):
    if brownian is None:
        segments = 1 if adaptive or plan.n_uniform == 0 else segments_for(plan.n_uniform)
        return be.brownian(n, m, t_span, seed=seed, segments=segments, dtype=dtype_name, like=x)
    check_noise(brownian, n_paths=n, dim=m, t_span=t_span, levy_area=solver.levy_area, n_aux=solver.n_aux)
    be.check_noise_backend(brownian, x)
    return brownian
