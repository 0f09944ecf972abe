r"""Time grids fitted to a model on a pilot batch: few-step sampling at the quality of many steps.

A fixed schedule (``uniform``, ``karras``, ``logsnr``) places its steps by a formula that knows
nothing about the data; where a distribution's samples choose their mode or its modes shrink to
their widths, a deterministic sampler makes most of its error, and where that happens depends
on the data. :func:`fit_times` finds the grid of a given budget that makes one deterministic
sampler follow its own many-step solution as closely as possible on a pilot batch (the idea of
Tong et al.'s LD3, 2025, and of Watson et al. 2021: fit the discretisation to a teacher).

*The fit.* With the plan of ``method`` at this budget (``N`` steps from ``T`` down to ``eps``,
endpoints fixed) the free parameters are the ``N`` step widths in log-SNR
:math:`λ = -\log σ`, written :math:`h_i = (λ_{end} - λ_{start})\,\mathrm{softmax}(u)_i` so that
every grid is strictly monotone and spans the whole range. For ``pilot`` prior draws
:math:`x_T^{(k)}` (Philox normals of ``seed``) and their teacher outputs
:math:`\hat x^{(k)}` (UniPC order 3 on ``teacher_steps`` log-SNR steps, the same ``eps`` and
final-step choice; pathwise converged to ~1e-8 there), the objective is

.. math::  J(u) = \log \frac{1}{K d}\sum_k \big\lVert x^{(k)}_{\text{method}}(u) - \hat x^{(k)} \big\rVert^2 ,

minimised by L-BFGS-B with finite-difference gradients from the schedule's grid (``schedule``,
default the method's). The teacher is the same ODE's accurate solution, so a small ``J`` means
the sampler reproduces its large-budget output: its large-NFE quality at this budget.

*Cost.* One run on the schedule's grid, the teacher (``teacher_steps`` evaluations, plus one with
``final_denoise``), then L-BFGS-B: a gradient is ``N + 1`` runs of ``nfe`` evaluations each, and
the line searches add a few, so ``maxiter = 40`` iterations are some ``40 (N + 2)`` runs on the
pilot batch. ``FittedTimes.pilot_nfe`` is the total, counted as for ``sol.stats["nfe"]``: score
calls on the whole pilot batch at once (times ``pilot`` for single-sample evaluations). Seconds
for an analytic score; for a network, the price of fitting once and sampling many times with the
result. In float32 the finite-difference step is 1e-3 (float32 rounding would swamp 1e-8).

*Scope.* Deterministic samplers only (:data:`DETERMINISTIC`: ``ddim`` with ``eta = 0``,
``dpm_solver``, ``unipc``, ``edm`` without churn, ``ode`` with a fixed-step solver), from
``forward.T`` on a linear forward process with marginals (the grid is placed in log-SNR). The
pilot's draws should not be the ones you evaluate on: ``skd.sample(..., times=fit, seed=s)`` with
another ``s`` (the benchmark does). The result carries its ``method`` and ``final_denoise``, and
``times=fit`` takes the latter over, so the budget spent is the one fitted.

>>> import sdekit_diffusion as skd, sdekit_scores as sks
>>> ring = sks.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.01, 0.01])
>>> vp = skd.VPSDE()
>>> fit = skd.fit_times(vp, ring.perturbed(vp), 1, method="dpm_solver", nfe=6, pilot=64, maxiter=10)
>>> len(fit.times), fit.error < fit.start_error
(6, True)
>>> x = skd.sample(vp, ring.perturbed(vp), 1000, 1, method="dpm_solver", times=fit, seed=1)
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from sdekit.errors import IncompatibleMethodError, InvalidArgumentError
from sdekit.progress import Progress
from sdekit.testing.problems import check_count
from sdekit.validation import check_bool
from sdekit_scores import _arrays as AL

from .budget import method_name, sampling_plan
from .logsnr import time_at
from .samplers import sample
from .schedules import grid_from_times

#: method -> None (always deterministic) or (option, the values that make it deterministic, the
#: option's default, what to say): a grid can only be fitted pathwise for those; read by
#: :func:`fit_times` and its error messages.
DETERMINISTIC = {
    "ddim": ("eta", (0, 0.0), 0.0, "eta=0"),
    "edm": ("s_churn", (0, 0.0), 0.0, "s_churn=0"),
    "dpm_solver": None,
    "unipc": None,
    "ode": ("solver", ("rk4", "heun", "euler"), "rk4", "a fixed-step solver (rk4, heun, euler; dopri5 chooses its "
                                                       "own steps)"),
}


class FittedTimes(NamedTuple):
    """A fitted grid: pass it (or its ``times``) as ``skd.sample(..., times=fit)``.

    ``times`` the decreasing forward times (``N + 1``); ``sigmas`` their noise levels;
    ``start_error`` and ``error`` the pilot's RMS distance to the teacher on the schedule's grid
    and on the fitted one (per coordinate); ``pilot_nfe`` the score calls the fit made on the
    pilot batch (teacher included); ``runs`` the sampler runs; ``method`` and ``final_denoise``
    those it was fitted for (``sample(..., times=fit)`` takes ``final_denoise`` from it).
    """

    times: np.ndarray
    sigmas: np.ndarray
    start_error: float
    error: float
    pilot_nfe: int
    runs: int
    method: str
    final_denoise: bool


class _Spent:
    """What the fit has spent: score calls on the pilot batch and sampler runs."""

    def __init__(self):
        self.nfe = self.runs = 0


#: The objective's value for a grid the sampler cannot run on (knots met, non-finite states): above
#: any log mean squared error of finite float64 numbers (>= log(1e-300) ~ -691; at most ~ +1418).
_PENALTY = 2000.0


def _check_deterministic(name, options):
    if name not in DETERMINISTIC:
        ok = ", ".join(f"{m}" + (f" ({c[3]})" if c else "") for m, c in DETERMINISTIC.items())
        raise IncompatibleMethodError(f"fit_times fits a grid pathwise, which needs a deterministic sampler: {ok}; "
                                      f"got method={name!r}")
    cond = DETERMINISTIC[name]
    if cond is not None:
        key, allowed, default, what = cond
        if options.get(key, default) not in allowed:
            raise IncompatibleMethodError(f"fit_times needs a deterministic {name}: {what}; got {key}={options[key]!r}")


def fit_times(forward, score, shape, *, method="unipc", nfe=None, n_steps=None, schedule=None, rho=7.0, eps=None,
              t_start=None, final_denoise=None, pilot=512, teacher_steps=500, maxiter=40, seed=0, backend="auto",
              progress=False, **options) -> FittedTimes:
    r"""The grid of ``nfe`` evaluations (or ``n_steps`` steps) on which ``method`` best follows its teacher.

    The fit is described in the module docstring (:mod:`sdekit_diffusion.fitted`).

    Parameters
    ----------
    forward, score, shape, method, nfe, n_steps, schedule, rho, eps, final_denoise, backend,
    options : as for :func:`~sdekit_diffusion.sample` (``schedule`` is the starting grid; one of
        ``nfe`` and ``n_steps`` is required; ``t_start`` is not supported: the fit starts at ``T``).
    pilot : number of prior draws the grid is fitted on (default 512; fewer fit the few draws near a
        boundary between modes, and the fit then generalises worse: measured on two 1-D modes at 8 NFE,
        the fresh draws' mode flips 1.1% with 128, 0.6% with 512, 0.7% on log-SNR steps).
    teacher_steps : steps of the teacher (UniPC order 3 on log-SNR steps; default 500).
    maxiter : L-BFGS-B iterations (default 40).
    seed : the pilot's prior draws (use another seed to sample).
    progress : a progress bar over the iterations on stderr.

    Returns
    -------
    :class:`FittedTimes`; ``skd.sample(forward, score, n, shape, method=method, times=fit, **options)``
    spends exactly the budget asked for.

    Example
    -------
    >>> import sdekit_diffusion as skd, sdekit_scores as sks
    >>> vp, data = skd.VPSDE(), sks.Gaussian([0.0], [[0.01]])
    >>> fit = skd.fit_times(vp, data.perturbed(vp), 1, method="ddim", nfe=5, pilot=32, maxiter=15)
    >>> round(fit.error / fit.start_error, 1)     # DDIM's best 4 steps + the denoise, against log-SNR steps
    0.6
    """
    name = method_name(method)
    _check_deterministic(name, options)
    pilot = check_count("pilot", pilot, maximum=1 << 20)
    maxiter = check_count("maxiter", maxiter, maximum=10_000)
    teacher_steps = check_count("teacher_steps", teacher_steps, maximum=100_000)
    progress = check_bool("progress", progress)
    if nfe is None and n_steps is None:
        raise InvalidArgumentError("fit_times needs the budget to fit: nfe= or n_steps=")
    if t_start is not None:
        raise InvalidArgumentError("fit_times starts at forward.T (its pilot draws are prior draws); t_start= "
                                   "is not supported")
    if not hasattr(forward, "marginal"):
        raise IncompatibleMethodError("fit_times places the grid in log-SNR: the forward process needs marginals")
    for key in ("times", "x_T", "init", "save_at", "return_solution"):
        if key in options:
            raise InvalidArgumentError(f"fit_times does not take {key}= (it finds times=; the pilot draws come from "
                                       "seed=)")
    cost = {k: options[k] for k in ("n_corrector", "n_inner", "solver") if k in options}
    plan = sampling_plan(forward, name, n_steps=n_steps, nfe=nfe, schedule=schedule, rho=rho, eps=eps,
                         final_denoise=final_denoise, **cost)
    if teacher_steps <= plan.n_steps:
        raise InvalidArgumentError(f"teacher_steps must exceed the sampler's {plan.n_steps} steps; got {teacher_steps}")
    if name == "edm" and plan.edm_last != "heun":
        raise InvalidArgumentError(f"nfe={nfe} makes edm's last step an Euler step, which a grid of times cannot say; "
                                   f"use nfe={plan.nfe + 1} or n_steps={plan.n_steps}")
    sig = plan.grid.sigmas
    if not (np.all(np.isfinite(sig)) and sig[-1] > 0):
        raise InvalidArgumentError(f"fit_times needs a positive noise level at the end (t = {plan.times[-1]}): "
                                   "stop at eps > 0")
    t0, t1 = float(plan.times[0]), float(plan.times[-1])
    lam = -np.log(sig)
    span = lam[-1] - lam[0]
    common = dict(seed=seed, backend=backend, final_denoise=plan.final_denoise)
    spent = _Spent()

    def run(meth, times=None, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on the probe grids that fail
            sol = sample(forward, score, pilot, shape, method=meth, times=times, return_solution=True,
                         **common, **kw)
        spent.nfe += int(sol.stats["nfe"])
        spent.runs += 1
        return sol.samples

    def flat(x):
        return np.asarray(AL.to_numpy(x), dtype=np.float64).reshape(pilot, -1)

    # the schedule's grid first: it checks the method's options before the teacher's long run
    first = run(name, times=plan.times, **options)
    fd_step = 1e-3 if getattr(first, "dtype", None) is not None and "float32" in str(first.dtype) else 1e-8
    teacher_kw = {k: v for k, v in options.items() if k in ("dtype", "device", "batch_size")}
    teacher = flat(run("unipc", n_steps=teacher_steps, schedule="logsnr", order=3, eps=t1, **teacher_kw))

    def times_of(u):
        w = np.exp(u - u.max())
        knots = lam[0] + np.concatenate([[0.0], np.cumsum(w / w.sum())]) * span
        ts = np.array([time_at(forward, math.exp(-v)) for v in knots[1:-1]])
        return np.concatenate([[t0], ts, [t1]])

    def log_error(x):
        # the plain mean, not a trimmed one: the few draws that land in another mode than the teacher's are
        # the error that moves mode weights, and trimming them away was measured to double them
        err = float(np.mean((flat(x) - teacher) ** 2))
        return math.log(max(err, 1e-300)) if math.isfinite(err) else _PENALTY

    def objective(u):
        ts = times_of(u)
        if np.any(np.diff(ts) >= 0):
            return _PENALTY  # two knots met in float64: no grid there
        try:
            return log_error(run(name, times=ts, **options))
        except (FloatingPointError, ArithmeticError):  # sdekit's NonFiniteError: this grid blew up
            return _PENALTY

    from scipy.optimize import minimize

    # u has one redundant direction (softmax is shift-invariant); its finite difference is zero and
    # L-BFGS-B does not move along it
    u0 = np.log(np.diff(lam) / span)
    start = log_error(first)
    with Progress(maxiter, "fit_times", enabled=progress) as bar:
        res = minimize(objective, u0, method="L-BFGS-B", options={"maxiter": maxiter, "eps": fd_step},
                       callback=lambda *_: bar.update(1))
    u, best = (res.x, float(res.fun)) if res.fun < start else (u0, start)
    times = times_of(u)
    return FittedTimes(times, grid_from_times(forward, times).sigmas, math.exp(start / 2),
                       math.exp(best / 2), spent.nfe, spent.runs, name, plan.final_denoise)


__all__ = ["fit_times", "FittedTimes", "DETERMINISTIC"]
