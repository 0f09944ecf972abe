"""The adaptive-step driver (Dormand–Prince with a PI controller), backend-agnostic."""

from __future__ import annotations

import math

from .errors import NonFiniteError, SDEKitError
from .progress import Progress
from .solvers.dopri5 import dopri5_step


class StepLimitError(SDEKitError, RuntimeError):
    """An adaptive solve needed more than ``max_steps`` steps."""


def _error_norm(be, err, x, x_next, rtol, atol):
    scale = atol + rtol * be.maximum(abs(x), abs(x_next))
    per_path = ((err / scale) ** 2).mean(-1) ** 0.5
    return be.reduce_max(per_path)


def integrate_adaptive(be, solver, terms, x, plan, progress):
    """Integrate from ``plan.times[0]`` to ``plan.times[-1]`` landing exactly on the save times."""
    from .backends.base import IntegrateResult

    times = plan.times
    targets = [float(times[i]) for i in plan.save]
    t, t_end = float(times[0]), float(times[-1])
    h = float(times[1] - times[0])  # the user's dt / n_steps sets the first step
    saved = [x] if targets and targets[0] <= t else []
    nxt = len(saved)
    k1 = terms.drift(t, x)
    nfe, accepted, rejected, err_prev = 1, 0, 0, 1.0
    with Progress(1000, solver.name, enabled=progress) as bar:
        while nxt < len(targets):
            if accepted + rejected >= solver.max_steps:
                raise StepLimitError(f"dopri5 took more than max_steps={solver.max_steps} steps at t={t:.6g}; "
                                     "loosen rtol/atol or raise max_steps")
            target = targets[nxt]
            h_try = min(h, target - t)
            x_next, err, k7 = dopri5_step(terms, t, h_try, x, k1)
            nfe += 6
            e = _error_norm(be, err, x, x_next, solver.rtol, solver.atol)
            if not math.isfinite(e):
                if h_try < 1e-14 * max(1.0, abs(t_end)):
                    raise NonFiniteError(f"dopri5: the state became non-finite near t={t:.6g}", step=accepted,
                                         time=t)
                h = 0.25 * h_try
                rejected += 1
                continue
            if e <= 1.0:
                t = target if h_try == target - t else t + h_try
                x, k1 = x_next, k7
                accepted += 1
                fac = solver.safety * max(e, 1e-10) ** (-0.7 / 5) * err_prev ** (0.4 / 5)
                err_prev = max(e, 1e-4)
                h = h_try * min(10.0, max(0.2, fac))
                if t >= target:
                    saved.append(x)
                    nxt += 1
                bar.update(0)
            else:
                rejected += 1
                h = h_try * max(0.2, solver.safety * e ** (-1 / 5))
    return IntegrateResult(times[plan.save], be.stack(saved), accepted, nfe,
                           {"n_accepted": accepted, "n_rejected": rejected})
