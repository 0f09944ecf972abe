"""``solve(..., adjoint=, logqp=)``: the path KL and the adjoint, wrapped around the ordinary solve.

:func:`solve_neural` resolves the problem as :func:`sdekit.solve` would (backend,
paths, grid, Brownian path), augments it with the KL component when ``logqp`` is
given (:mod:`sdekit.logqp`), runs the ordinary solve on it, directly or inside
the adjoint's autograd node (:mod:`sdekit.adjoint`), and splits the result back
into ``sol.ys`` and ``sol.logqp``. The forward numbers are those of the same call
without ``adjoint=``: the same grid and the same path for the same seed.

>>> import torch, sdekit as sk
>>> net = torch.nn.Linear(2, 2).double()
>>> sde = sk.SDE(lambda t, x: net(x), lambda t, x: 0.3 + 0.0 * x)
>>> x0 = torch.zeros(16, 2, dtype=torch.float64)
>>> a = sk.solve(sde, x0, (0.0, 1.0), n_steps=20, adjoint=True)
>>> b = sk.solve(sde, x0, (0.0, 1.0), n_steps=20)
>>> bool(torch.equal(a.ys, b.ys)), a.ys.requires_grad
(True, True)
"""

from __future__ import annotations

import numpy as np

from . import philox
from .errors import BackendError, IncompatibleMethodError, InvalidArgumentError
from .brownian import BrownianPath
from .logqp import LogqpSDE, PaddedNoise, concat, prior_from, zeros_as
from .sde import as_sde
from .solution import Solution
from .solvers import get_solver
from .grid import save_times
from .integrate import auto_method, brownian_dim_of, check_compatible, event_shape, integrate, make_plan, noise_for
from .validation import check_bool, check_t_span


def _internal_save(save_at, t0, t1):
    """The user's ``save_at`` with ``t1`` appended when it ends earlier, and whether it was appended."""
    if save_at is None or isinstance(save_at, str):
        return save_at, False
    sa = save_times(save_at, t0, t1)
    if sa[-1] < t1 - 1e-9 * (t1 - t0):
        return np.append(sa, t1), True
    return sa, False


def solve_neural(sde, x0, t_span, *, adjoint, adjoint_params, logqp, options, method_options):
    """The body of ``sk.solve`` when ``adjoint``, ``adjoint_params`` or ``logqp`` is given (see the module)."""
    from .backends import get_backend, select_backend

    adjoint = check_bool("adjoint", adjoint)
    if adjoint_params is not None and not adjoint:
        raise InvalidArgumentError("adjoint_params applies with adjoint=True")
    opts = dict(options)
    sde = as_sde(sde)
    t0, t1 = check_t_span(t_span)
    seed = philox.check_seed(opts.pop("seed"))
    method = opts.pop("method")
    if isinstance(method, str) and method == "auto":
        method = auto_method(sde)
    solver = get_solver(method, is_ode=sde.is_ode, **method_options)
    check_compatible(solver, sde)
    solver = solver.prepare(sde)
    adaptive = opts.pop("adaptive")
    adaptive = solver.adaptive_default if adaptive is None else check_bool("adaptive", adaptive)
    prior = None
    if logqp is not None:
        if sde.is_ode:
            raise IncompatibleMethodError("logqp needs an SDE: the path KL divides by the diffusion, which an ODE "
                                          "does not have")
        prior = prior_from(logqp, sde)
    be = select_backend(opts.pop("backend"), sde, x0)
    if adjoint:
        if be.name != "torch":
            raise BackendError(f"adjoint=True computes gradients with torch; this solve runs on the {be.name!r} "
                               "backend (pass a torch x0 or torch modules, or backend='torch')")
        from .adjoint import adjoint_kind, check_adjoint_method

        check_adjoint_method(solver, adaptive)
    if prior is not None and be.name == "numba":
        be = get_backend("numpy")  # the augmented drift is a Python function: the fused kernel cannot take it
    brownian = opts.pop("brownian")
    n, event = event_shape(x0, opts.pop("n_paths"), brownian)
    D = int(np.prod(event))
    save_at, appended = _internal_save(opts.pop("save_at"), t0, t1)
    if adaptive:
        from .adaptive import adaptive_plan

        plan = adaptive_plan(t0, t1, opts["dt"], opts["n_steps"], save_at)
    else:
        plan = make_plan(t0, t1, opts["dt"], opts["n_steps"], save_at, opts["grid"])
    x, dtype_name = be.initial_state(x0, n, event, opts.pop("dtype"), opts.pop("device"))
    m = brownian_dim_of(sde, be, t0, x, n, event)
    noise = brownian
    if noise is None and (m > 0 or solver.n_aux > 0):
        noise = noise_for(None, be, n, max(m, 1), (t0, t1), seed, plan, dtype_name, x, solver, adaptive)
    pad = prior is not None and sde.noise == "diagonal" and noise is not None
    if prior is not None:
        problem = LogqpSDE(sde, prior, event, m)
        x_in = concat([x, zeros_as(x, (x.shape[0], 1))], 1)  # the path KL starts at 0
        m_in, event_in = problem.brownian_dim_for(D + 1), (D + 1,)
    else:
        problem, x_in, m_in, event_in = sde, x, m, tuple(event)

    def noise_for_pass():
        # A BrownianPath is a pure function of (seed, path, time): each pass (forward, backward) gets its own
        # copy, freed after it, so the two passes' memoised tree nodes never coexist. Other sources are shared.
        src = _fresh_copy(noise) if adjoint else noise
        return PaddedNoise(src) if pad else src

    def forward_noise():
        # The adjoint's forward queries the path pairwise, as its backward does: the same numbers, and neither
        # pass holds the block buffers of a grid sweep (the memory of both stays that of one step).
        src = noise_for_pass()
        return _Pairwise(src) if adjoint and isinstance(src, (BrownianPath, PaddedNoise)) else src

    inner = dict(opts, method=solver, seed=seed, save_at=save_at, backend=be, dtype=dtype_name, adaptive=adaptive)
    if adjoint and adjoint_kind(solver) == "continuous" and sde.calculus == "ito" and not sde.additive and \
            sde.noise == "diagonal" and m > 0:
        terms0 = be.make_terms(sde, n, event, m)
        be.check_diagonal_coupling(terms0.diffusion, t0, x.detach(), "the adjoint of an Itô diagonal SDE")

    def run(state):
        arg = state if len(event_in) == 1 else state.reshape((n,) + tuple(event_in))
        return integrate(problem, arg, (t0, t1), brownian=forward_noise(), **inner)

    if adjoint:
        from .adjoint import resolve_parameters

        ys_flat, stats, carry = _adjoint_run(run, problem, x_in, be, plan, noise_for_pass, solver, n, event_in, m_in,
                                             resolve_parameters(adjoint_params, sde, prior))
    else:
        sol_in = run(x_in)
        ys_flat = sol_in.ys.reshape((sol_in.ys.shape[0], n, -1))
        stats, carry = sol_in.stats, sol_in.final_carry
    k_user = ys_flat.shape[0] - (1 if appended else 0)
    ts = np.asarray(plan.times[plan.save][:k_user], dtype=np.float64)
    if prior is not None:
        ys = ys_flat[:k_user, :, :D]
        logqp_saved = ys_flat[:k_user, :, D]
        logqp_total = ys_flat[-1, :, D]
        carry = _strip_carry(carry, D)
    else:
        ys, logqp_saved, logqp_total = ys_flat[:k_user], None, None
    if tuple(event) != (D,):
        ys = ys.reshape((k_user, n) + tuple(event))
    if adjoint:
        stats = dict(stats, adjoint=adjoint_kind(solver))
    terms = be.make_terms(sde, n, event, m) if m > 0 else None
    return Solution(ts=ts, ys=ys, stats=stats, method=solver.name, backend=be.name, brownian=noise,
                    final_carry=carry, logqp=logqp_total, logqp_saved=logqp_saved, terms=terms)


def _strip_carry(carry, D):
    """A multistep carry of the augmented state cut back to the problem's ``D`` components."""
    if carry is None:
        return None
    out = []
    for c in carry:
        out.append(c[:, :D] if getattr(c, "ndim", 0) >= 2 else c)
    return tuple(out)


class _Pairwise:
    """A noise source answering ``increment(s, t)`` (and areas, auxiliary normals) but no grid sweep."""

    def __init__(self, base):
        self.base = base
        for name in ("n_paths", "dim", "t0", "t1", "backend", "device", "dtype", "increment",
                     "space_time_levy_area", "aux_normals"):
            if hasattr(base, name):
                setattr(self, name, getattr(base, name))


def _fresh_copy(noise):
    """A new :class:`~sdekit.BrownianPath` with ``noise``'s parameters (the same numbers), or ``noise`` itself."""
    return noise.fresh_copy() if type(noise) is BrownianPath else noise


def _adjoint_run(run, problem, x_in, be, plan, noise_for_pass, solver, n, event_in, m_in, params):
    """Run the solve inside :class:`sdekit.adjoint.AdjointSolve`: ``(ys (k, n, D), stats, carry)``."""
    from .adjoint import AdjointSolve, Replay, adjoint_kind

    if not params and not x_in.requires_grad:
        raise InvalidArgumentError(
            "adjoint=True found nothing to differentiate: x0 does not require grad and no parameters were found in "
            "the drift or diffusion (nn.Module, bound method, closure or global). Pass adjoint_params=[...]")
    D_in = int(np.prod(event_in))
    terms = be.make_terms(problem, n, event_in, m_in)
    rp = Replay(terms=terms, noise=noise_for_pass if m_in > 0 else None, times=plan.times, save=plan.save,
                kind=adjoint_kind(solver), noise_type=problem.noise, calculus=problem.calculus,
                additive=problem.additive, is_ode=problem.is_ode, params=params, cast=be.noise_caster(x_in))
    box = {}

    def forward(state):
        sol = run(state)
        box["carry"] = sol.final_carry
        ys = sol.ys.reshape((sol.ys.shape[0], n, D_in))
        carry = tuple(sol.final_carry) if rp.kind == "exact" else None
        return ys, carry, sol.stats

    rp.forward = forward
    ys = AdjointSolve.apply(rp, x_in, *params)
    carry = box.get("carry")
    carry = tuple(c.detach() for c in carry) if carry is not None else None
    return ys, rp.stats, carry
