"""The solve itself: argument checking, the time grid, the choice of driver, and the hand-off to a backend.

:func:`sdekit.solve` is this plus the neural-SDE wrappers (``adjoint=``, ``logqp=``, :mod:`sdekit.neural`),
which call :func:`integrate` for their own passes; keeping the two apart keeps the import graph acyclic.
"""

from __future__ import annotations

import time

import numpy as np

from . import philox
from .brownian import BrownianPath, segments_for
from .errors import IncompatibleMethodError, InvalidArgumentError, ShapeError
from .grid import MAX_STEPS, Plan, make_plan  # noqa: F401  (Plan and MAX_STEPS: part of solve's vocabulary)
from .memory import check_allocation
from .noise import check_noise
from .sde import SDE, as_sde
from .solvers import REGISTRY, get_solver, noise_class, supported_classes
from .validation import check_bool, check_positive_int, check_t_span


def _shape_of(x0):
    if x0 is None:
        raise InvalidArgumentError("x0 must be a number or an array; got None")
    if hasattr(x0, "shape") and not isinstance(x0, np.ndarray) and (type(x0).__module__ or "").startswith("torch"):
        return tuple(x0.shape)
    try:
        arr = np.asarray(x0)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"x0 must be a number or a (rectangular) array; got {type(x0).__name__} "
                                   f"({str(e).splitlines()[0]})") from None
    if arr.dtype == object or arr.dtype.kind not in "biufc":
        raise InvalidArgumentError(f"x0 must be real numbers; got {type(x0).__name__} of dtype {arr.dtype}")
    return arr.shape


def event_shape(x0, n_paths, brownian):
    """Number of paths and event shape from ``x0`` (any array-like), ``n_paths`` and ``brownian``."""
    shape = _shape_of(x0)
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


def auto_method(sde):
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


def integrate(sde, x0, t_span, *, dt=None, n_steps=None, method="auto", n_paths=None, seed=0, brownian=None,
              save_at=None, backend="auto", dtype=None, device=None, progress=False, adaptive=None, rtol=None,
              atol=None, max_steps=None, grid=None, args=None, **method_options):
    """:func:`sdekit.solve` without ``adjoint``/``adjoint_params``/``logqp`` (same arguments, same result).

    >>> import sdekit as sk
    >>> from sdekit.integrate import integrate
    >>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    >>> integrate(gbm, 1.0, (0.0, 1.0), n_steps=8, n_paths=3).ys.shape
    (2, 3, 1)
    """
    from .backends import select_backend

    started = time.perf_counter()
    sde = as_sde(sde)
    progress = check_bool("progress", progress)
    t0, t1 = check_t_span(t_span)
    seed = philox.check_seed(seed)
    if isinstance(method, str) and method == "auto":
        method = auto_method(sde)
    solver = get_solver(method, is_ode=sde.is_ode, **method_options)
    check_compatible(solver, sde)
    solver = solver.prepare(sde)
    per_path = False
    if isinstance(adaptive, str):
        if adaptive not in ("batch", "per_path"):
            raise InvalidArgumentError(f'adaptive must be True, False, None, "batch" or "per_path"; got {adaptive!r}')
        adaptive, per_path = True, adaptive == "per_path"
    adaptive = solver.adaptive_default if adaptive is None else check_bool("adaptive", adaptive)
    if not adaptive and (rtol is not None or atol is not None or max_steps is not None) and \
            not solver.adaptive_default:
        raise InvalidArgumentError("rtol, atol and max_steps apply to adaptive solves; pass adaptive=True")
    if adaptive and not solver.error_estimate:
        raise IncompatibleMethodError(
            f"method {solver.name!r} has no error estimate, so it cannot step adaptively; methods that can: "
            f"{', '.join(c.name for c in REGISTRY if c.error_estimate)}")
    n, event = event_shape(x0, n_paths, brownian)
    D = int(np.prod(event))
    if adaptive:
        from .adaptive import adaptive_plan

        plan = adaptive_plan(t0, t1, dt, n_steps, save_at)
    else:
        plan = make_plan(t0, t1, dt, n_steps, save_at, grid)
    be = select_backend(backend, sde, x0, work=n * max(plan.n_steps, 1) * D, device=device)
    check_allocation(len(plan.save) * n * D * (4 if dtype == "float32" else 8) + 3 * n * D * 8,
                     f"the saved states ({len(plan.save)} x {n} paths x {D} components)")
    x, dtype_name = be.initial_state(x0, n, event, dtype, device)
    m = brownian_dim_of(sde, be, t0, x, n, event)
    noise = None
    if m > 0 or solver.n_aux > 0:
        noise = noise_for(brownian, be, n, max(m, 1), (t0, t1), seed, plan, dtype_name, x, solver, adaptive)
    terms = be.make_terms(sde, n, event, m, be.prepare_args(args, n, x))
    if adaptive:
        result = be.integrate_adaptive(solver, terms, x, plan, noise if m > 0 else None, noise, progress,
                                       rtol=rtol, atol=atol, max_steps=max_steps, per_path=per_path)
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




def brownian_dim_of(sde, be, t, x, n, event):
    """The Brownian dimension m (0 for an ODE); torchsde-style general noise without ``brownian_size`` is probed."""
    if sde.is_ode:
        return 0
    if sde.infers_brownian_dim:
        return be.infer_brownian_dim(sde, t, x.reshape((n,) + tuple(event)))
    return sde.brownian_dim_for(int(np.prod(event)))


def noise_for(brownian, be, n, m, t_span, seed, plan, dtype_name, x, solver, adaptive):
    if brownian is None:
        segments = 1 if adaptive or plan.n_uniform == 0 else segments_for(plan.n_uniform)
        return be.brownian(n, m, t_span, seed=seed, segments=segments, dtype=dtype_name, like=x)
    check_noise(brownian, n_paths=n, dim=m, t_span=t_span, levy_area=solver.levy_area, n_aux=solver.n_aux)
    be.check_noise_backend(brownian, x)
    return brownian
