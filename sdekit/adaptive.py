r"""The adaptive driver: any solver with an embedded error estimate, one generic PI controller.

A step from ``t`` with size ``h`` gives ``x_next`` and a local error estimate
``err`` (:meth:`Solver.adaptive_step`). Its size in units of the tolerance is the
root-mean-square over components

.. math:: e = \Big(\frac1d\sum_i \Big(\frac{err_i}{atol + rtol\max(|x_i|, |x_{next,i}|)}\Big)^2\Big)^{1/2},

maximised over paths when all paths share the step (``per_path=False``). The
step is accepted when ``e <= 1``; the next size is

.. math:: h_{new} = h \cdot \mathrm{clip}\big(s\, e^{-β_1} e_{prev}^{β_2},\ f_{min}, f_{max}\big),
          \qquad β_1 = \tfrac{1}{q + 1} - 0.75 β_2,\ β_2 = \tfrac{0.04 \cdot 5}{q + 1},

with ``q`` the estimate's order (``solver.error_order``; 4 for Dormand–Prince),
safety ``s = 0.9``, ``f_min = 0.2``, ``f_max = 10`` (Hairer & Wanner's PI gains for
DOPRI5, scaled to the order); a rejected step shrinks by
``max(f_min, s e^{-1/(q+1)})``. Without ``dt``/``n_steps`` the first step comes
from Hairer's initial-step heuristic (ODEs) or ``span / 100`` (SDEs).

**SDEs.** A rejected step is retried over the shorter interval *on the same
Brownian path*: the tree's bridge (:class:`~sdekit.BrownianPath`) gives the
exact conditional increment and area, so no bias comes from rejection (drawing
fresh increments after a rejection would bias the accepted ones towards small
noise). Step ends are rounded down to a node of the Brownian tree with at least
four significant bits (a change of at most 1/16 of the step), so queries stay
shallow in the tree and cheap; save times are hit exactly. Methods that need
auxiliary normals cannot run adaptively (their acceptance would select the normals).

References: Hairer, Nørsett & Wanner, *Solving ODEs I* (1993), §II.4;
Gustafsson, *ACM TOMS* 17 (1991); Rackauckas & Nie, "Adaptive methods for
stochastic differential equations via natural embeddings and rejection sampling
with memory", *DCDS-B* 22 (2017); Foster & Kidger's virtual Brownian tree (diffrax).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import IncompatibleMethodError, InvalidArgumentError, NonFiniteError, StepLimitError
from .grid import save_times, steps_from_dt
from .progress import Progress
from .solution import IntegrateResult
from .terms import terms_rows
from .validation import check_positive_int, check_real

__all__ = ["StepLimitError", "AdaptivePlan", "adaptive_plan", "integrate_adaptive", "Controller",
           "generic_attempt"]


@dataclass
class AdaptivePlan:
    """Targets of an adaptive solve: ``times[0] = t0``, then every save time (``t1`` last), and the first step."""

    times: np.ndarray
    save: np.ndarray
    first_step: float = None
    n_uniform: int = 0

    @property
    def n_steps(self):
        return max(len(self.times) - 1, 1)


def adaptive_plan(t0, t1, dt, n_steps, save_at) -> AdaptivePlan:
    """The save targets of an adaptive solve; ``dt`` or ``n_steps`` (optional) set the first step."""
    span = t1 - t0
    if dt is not None and n_steps is not None:
        raise InvalidArgumentError(f"give at most one of dt or n_steps for an adaptive solve; got dt={dt!r}, "
                                   f"n_steps={n_steps!r}")
    first = None
    if dt is not None:
        first = span / steps_from_dt(span, dt)
    elif n_steps is not None:
        first = span / check_positive_int("n_steps", n_steps)
    if save_at is None:
        return AdaptivePlan(np.array([t0, t1]), np.array([0, 1]), first)
    if isinstance(save_at, str):
        raise InvalidArgumentError('save_at="steps" keeps every step of a fixed grid; an adaptive solve saves '
                                   'at given times (an array) or at t0 and t1 (None)')
    sa = save_times(save_at, t0, t1)
    times = np.union1d([t0, t1], sa)
    return AdaptivePlan(times, np.searchsorted(times, sa), first)


@dataclass
class Controller:
    """The PI step-size controller (see the module docstring); ``q`` is the error estimate's order."""

    q: float
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0
    beta2: float = None

    def __post_init__(self):
        k = 1.0 / (self.q + 1.0)
        self.beta2 = 0.2 * k if self.beta2 is None else self.beta2  # Hairer's 0.04 for q = 4
        self.beta1 = k - 0.75 * self.beta2
        self.k = k

    def accept(self, h, e, e_prev):
        fac = self.safety * max(e, 1e-10) ** (-self.beta1) * e_prev ** self.beta2
        return h * min(self.factor_max, max(self.factor_min, fac))

    def reject(self, h, e):
        if not math.isfinite(e):
            return 0.25 * h
        return h * max(self.factor_min, self.safety * e ** (-self.k))


def _tolerances(solver, rtol, atol, max_steps):
    ode = solver.kind == "ode"
    rtol = getattr(solver, "rtol", None) if rtol is None else rtol
    atol = getattr(solver, "atol", None) if atol is None else atol
    max_steps = getattr(solver, "max_steps", None) if max_steps is None else max_steps
    rtol = (1e-6 if ode else 1e-3) if rtol is None else check_real("rtol", rtol, positive=True)
    atol = (1e-8 if ode else 1e-6) if atol is None else check_real("atol", atol, positive=True)
    if rtol == 0 and atol == 0:
        raise InvalidArgumentError("rtol and atol cannot both be 0")
    max_steps = 100_000 if max_steps is None else check_positive_int("max_steps", max_steps)
    return rtol, atol, max_steps


def _norm(be, err, x, x_next, rtol, atol):
    scale = atol + rtol * be.maximum(abs(x), abs(x_next))
    per_path = ((err / scale) ** 2).mean(-1) ** 0.5
    return be.reduce_max(per_path)


def generic_attempt(be, solver, terms):
    """One attempt as array operations on the whole batch: ``(t, h, x, dw, carry, rtol, atol) -> (x_next, e, carry)``.

    ``e`` is the batch's error norm (the module docstring's ``e``, maximised over
    paths). The reference every backend's :meth:`~sdekit.backends.base.Backend.adaptive_attempt`
    agrees with (the Numba backend compiles it into one parallel call).
    """
    def attempt(t, h, x, dw, carry, rtol, atol):
        x_next, err, carry_next = solver.adaptive_step(terms, t, h, x, dw, (), carry)
        return x_next, _norm(be, err, x, x_next, rtol, atol), carry_next

    return attempt


def _initial_step(be, terms, t, x, span, rtol, atol, q, ode):
    """Hairer & Wanner's starting step (II.4, 'Starting step size') for ODEs; a hundredth of the span for SDEs."""
    if not ode:
        return span / 100.0
    scale = atol + rtol * abs(x)
    f0 = terms.drift(t, x)
    d0 = be.reduce_max(((x / scale) ** 2).mean(-1) ** 0.5)
    d1 = be.reduce_max(((f0 / scale) ** 2).mean(-1) ** 0.5)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, span)
    f1 = terms.drift(t + h0, x + h0 * f0)
    d2 = be.reduce_max((((f1 - f0) / scale) ** 2).mean(-1) ** 0.5) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1.0 / (q + 1.0))
    return min(100 * h0, h1, span)


def integrate_adaptive(be, solver, terms, x, plan, bm, aux_noise, progress, *, rtol=None, atol=None,
                       max_steps=None, per_path=False):
    """Integrate from ``plan.times[0]`` to ``plan.times[-1]`` landing exactly on every save time."""
    if solver.n_aux:
        raise IncompatibleMethodError(f"method {solver.name!r} draws auxiliary normals; an adaptive solve would "
                                      "select them by acceptance (biased), so it runs on fixed steps only")
    rtol, atol, max_steps = _tolerances(solver, rtol, atol, max_steps)
    if per_path:
        return _per_path(be, solver, terms, x, plan, bm, progress, rtol, atol, max_steps)
    return _integrate(be, solver, terms, x, plan, bm, progress, rtol, atol, max_steps)


def _per_path(be, solver, terms, x, plan, bm, progress, rtol, atol, max_steps):
    """Every path with its own step sizes (paths do not wait for the hardest one): the reference, path by path."""
    ys, acc, rej, nfe = [], [], [], 0
    with Progress(x.shape[0], f"{solver.name} (per path)", enabled=progress) as bar:
        for i in range(x.shape[0]):
            sub = bm.path(i) if bm is not None else None
            r = _integrate(be, solver, terms_rows(terms, i, i + 1), x[i:i + 1], plan, sub, False, rtol, atol,
                           max_steps)
            ys.append(r.ys)
            acc.append(r.extra["n_accepted"])
            rej.append(r.extra["n_rejected"])
            nfe += r.nfe
            bar.update()
    per = be.stack([y[:, 0] for y in ys])  # (n, k, D)
    ys_all = np.swapaxes(per, 0, 1) if isinstance(per, np.ndarray) else per.transpose(0, 1)
    acc, rej = np.asarray(acc), np.asarray(rej)
    return IntegrateResult(plan.times[plan.save], ys_all, acc, nfe,
                           {"n_accepted": acc, "n_rejected": rej, "per_path": True})


def _integrate(be, solver, terms, x, plan, bm, progress, rtol, atol, max_steps):
    times = plan.times
    targets = [float(times[i]) for i in plan.save]
    t, t_end = float(times[0]), float(times[-1])
    span = t_end - t
    q = solver.error_order if solver.error_order is not None else 1.0
    ctl = Controller(q)
    levy = solver.levy_area is not None
    per_attempt = solver.nfe_adaptive or solver.nfe_per_step
    snap = getattr(bm, "node_before", None)
    nfe = 0
    # (built first: a backend that compiles the attempt binds the user functions every call below then uses)
    attempt = be.adaptive_attempt(solver, terms, t, x, bm)
    h = plan.first_step
    if h is None:
        h = _initial_step(be, terms, t, x, span, rtol, atol, q, solver.kind == "ode")
        nfe += 2 if solver.kind == "ode" else 0
    saved = [x] if targets and targets[0] <= t else []
    nxt = len(saved)
    carry = solver.initial_carry(terms, t, x)
    nfe += 1 if carry is not None else 0
    accepted, rejected, e_prev, last_bad = 0, 0, 1.0, False
    tiny = 1e-14 * max(1.0, abs(t_end), span)
    with Progress(1000, solver.name, enabled=progress) as bar:
        done = 0
        while nxt < len(targets):
            if accepted + rejected >= max_steps:
                raise StepLimitError(f"{solver.name} took more than max_steps={max_steps} steps at t={t:.6g}; "
                                     "loosen rtol/atol or raise max_steps")
            target = targets[nxt]
            end = t + h
            if end >= target - 1e-12 * span:
                end = target
            elif snap is not None:
                end = snap(t, end)
            h_try = end - t
            if not h_try > tiny:
                if last_bad:
                    raise NonFiniteError(
                        f"{solver.name}: the state became non-finite near t={t:.6g} at every step size tried; "
                        "check the drift/diffusion for blow-up", step=accepted, time=t)
                raise StepLimitError(
                    f"{solver.name}: the step size fell below float64 resolution near t={t:.6g} without the error "
                    f"estimate reaching rtol={rtol:g}, atol={atol:g}; loosen the tolerances or check the problem "
                    "for a singularity")
            if bm is None:
                dw = None
            elif levy:
                dw = _levy_increment(bm, t, end)
            else:
                dw = bm.increment(t, end)
            x_next, e, carry_next = attempt(t, h_try, x, dw, carry, rtol, atol)
            nfe += per_attempt
            last_bad = not math.isfinite(e)
            if e <= 1.0:  # (NaN compares False: rejected)
                t, x, carry = end, x_next, carry_next
                accepted += 1
                h = ctl.accept(h_try, e, e_prev)
                e_prev = max(e, 1e-4)
                if t >= target:
                    saved.append(x)
                    nxt += 1
                frac = int(1000 * (t - float(times[0])) / span)
                bar.update(frac - done)
                done = frac
            else:
                rejected += 1
                h = ctl.reject(h_try, e)
    return IntegrateResult(times[plan.save], be.stack(saved), accepted, nfe,
                           {"n_accepted": accepted, "n_rejected": rejected})


def _levy_increment(bm, s, t):
    from .brownian import LevyIncrement

    return LevyIncrement(bm.increment(s, t), bm.space_time_levy_area(s, t))
