r"""How each sampler spends its score evaluations, and the plan of a call before it runs.

``nfe`` (a budget of score evaluations) or ``n_steps`` fixes the grid; :func:`sampling_plan`
returns both, with the grid, before any work, and ``skd.sample`` spends exactly ``plan.nfe``
(``sol.stats["nfe"]`` counts the calls). A final denoising step (Tweedie's x̂₀ at the last
time) costs one evaluation.

==============================  ===========================  =====================================
method                          evaluations per step         budget ``B`` (``f`` = final_denoise)
==============================  ===========================  =====================================
``euler_maruyama``,             1                            ``n_steps = B − f``
``ancestral``, ``ddim``,
``dpm_solver``,
``dpm_solver_sde``, ``unipc``
``heun``                        2                            ``n_steps = (B − f)/2`` (must divide)
``ode``                         1 / 2 / 4 (euler/heun/rk4)   ``(B − f)/k``; ``dopri5`` is adaptive:
                                                             no budget, counted after the run
``pc``                          ``1 + n_corrector``          ``(B − f)/(1 + n_corrector)``
``annealed_langevin``           ``n_inner``                  ``(B − f)/n_inner``
``edm``                         2 (Heun)                     ``N = ⌈(B − f)/2⌉`` steps; for an odd
                                                             ``B − f`` the last is an Euler step
==============================  ===========================  =====================================

A budget a method cannot spend exactly is refused with the nearest ones it can.

>>> from sdekit_diffusion import VPSDE
>>> p = sampling_plan(VPSDE(), "edm", nfe=10)
>>> p.n_steps, p.nfe, p.final_denoise, p.edm_last
(5, 10, True, 'euler')
>>> sampling_plan(VPSDE(), "dpm_solver", nfe=10).n_steps
9
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import check_count, check_real

from .schedules import SCHEDULES, Grid, grid_from_times, time_grid

T_METHODS = ("euler_maruyama", "heun", "pc", "ode", "ancestral", "annealed_langevin")
LOGSNR_METHODS = ("ddim", "dpm_solver", "dpm_solver_sde", "edm", "unipc")
METHODS = T_METHODS + LOGSNR_METHODS
ALIASES = {"em": "euler_maruyama", "predictor_corrector": "pc", "probability_flow": "ode",
           "ddpm": "ancestral", "ncsn": "annealed_langevin", "dpm_solver++": "dpm_solver", "heun_edm": "edm"}
# The schedule a method uses when none is given: the t-methods keep Song et al.'s uniform grids; the
# exponential integrators take equal log-SNR steps (Lu et al.), EDM its σ-ramp (Karras et al.).
DEFAULT_SCHEDULE = {**{m: "uniform" for m in T_METHODS}, "ddim": "logsnr", "dpm_solver": "logsnr",
                    "dpm_solver_sde": "logsnr", "edm": "karras", "unipc": "logsnr"}
ODE_SOLVER_NFE = {"euler": 1, "heun": 2, "rk4": 4, "dopri5": None}


def method_name(method):
    """The canonical method name (aliases resolved), or an InvalidArgumentError listing the valid ones."""
    name = ALIASES.get(method, method) if isinstance(method, str) else None
    if name not in METHODS:
        raise InvalidArgumentError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    return name


def per_step(name, options):
    """Score evaluations per step of ``name`` with its ``options`` (None: adaptive, unknown in advance)."""
    if name == "heun" or name == "edm":
        return 2
    if name == "pc":
        return 1 + check_count("n_corrector", options.get("n_corrector", 1))
    if name == "annealed_langevin":
        return check_count("n_inner", options.get("n_inner", 2))
    if name == "ode":
        solver = options.get("solver", "rk4")
        if solver not in ODE_SOLVER_NFE:
            raise InvalidArgumentError(f"solver must be one of {', '.join(ODE_SOLVER_NFE)}; got {solver!r}")
        return ODE_SOLVER_NFE[solver]
    return 1


@dataclass
class SamplingPlan:
    """What a ``sample`` call will do: its grid (forward ``times``, σ), steps, exact NFE, final denoising."""

    method: str
    grid: Grid
    n_steps: int
    nfe: Optional[int]
    final_denoise: bool
    schedule: Optional[str]
    edm_last: str = "heun"

    @property
    def times(self):
        return self.grid.times


def _steps_for_budget(name, budget, k, final_denoise):
    spend = budget - int(final_denoise)
    if name == "edm":
        if spend < 1:
            raise InvalidArgumentError(f"nfe={budget} leaves no evaluation for a step (final_denoise costs one)")
        return (spend + 1) // 2, ("euler" if spend % 2 else "heun")
    if spend < k or spend % k:
        lo, hi = max(k, spend - spend % k), spend - spend % k + k
        near = sorted({v + int(final_denoise) for v in (lo, hi)})
        other = " (or toggle final_denoise, one evaluation)" if k > 1 else ""
        raise InvalidArgumentError(
            f"nfe={budget} cannot be spent exactly by {name!r} ({k} score evaluations per step"
            f"{', +1 for final_denoise' if final_denoise else ''}): use nfe={' or '.join(map(str, near))}{other}")
    return spend // k, "heun"


def sampling_plan(forward, method="euler_maruyama", *, n_steps=None, nfe=None, schedule=None, times=None, rho=7.0,
                  eps=None, t_start=None, final_denoise=None, **options) -> SamplingPlan:
    """The plan of ``skd.sample(forward, ..., method, ...)`` with these arguments (module docstring).

    ``options`` are the method's options that change its cost (``n_corrector``, ``n_inner``,
    ``solver``); others are ignored here. ``final_denoise=None`` is the method's convention:
    True for the data-prediction samplers (ddim, dpm_solver, dpm_solver_sde, edm, unipc), whose
    papers end at σ = 0, False for the others.
    """
    name = method_name(method)
    if final_denoise is None:  # a fitted grid (skd.fit_times) says whether it was fitted with the final denoise
        final_denoise = getattr(times, "final_denoise", None)
    if final_denoise is None:
        final_denoise = name in LOGSNR_METHODS
    elif not isinstance(final_denoise, (bool, np.bool_)):
        raise InvalidArgumentError(f"final_denoise must be a bool; got {final_denoise!r}")
    final_denoise = bool(final_denoise)
    T = check_real("forward.T", getattr(forward, "T", 1.0), low=0.0, low_open=True)
    k = per_step(name, options)
    given = [a for a, v in (("n_steps", n_steps), ("nfe", nfe), ("times", times)) if v is not None]
    if len(given) > 1:
        raise InvalidArgumentError(f"pass only one of n_steps, nfe and times; got {', '.join(given)}")
    edm_last = "heun"
    if times is not None:
        if schedule is not None or eps is not None or t_start is not None:
            raise InvalidArgumentError("times= is the whole grid: it replaces schedule, eps and t_start")
        grid = grid_from_times(forward, times)
        if grid.times[0] > T * (1 + 1e-12):
            raise InvalidArgumentError(f"times must start at or below forward.T={T}; got {grid.times[0]}")
        n = grid.times.size - 1
        if name == "ode" and k is None:
            raise InvalidArgumentError("the adaptive ode solver (dopri5) chooses its own steps; times= needs "
                                       "solver='rk4', 'heun' or 'euler'")
        return SamplingPlan(name, grid, n, None if k is None else n * k + int(final_denoise), final_denoise,
                            None, edm_last)
    if eps is None:
        eps = float(getattr(forward, "t_min", 1e-3))
    eps = check_real("eps", eps, low=0.0)
    t0 = T if t_start is None else check_real("t_start", t_start, low=0.0, low_open=True)
    if t0 > T * (1 + 1e-12):
        raise InvalidArgumentError(f"t_start must be in (eps, T={T}]; got {t0}")
    if not eps < t0:
        raise InvalidArgumentError(f"eps must be in [0, T={T}) and below t_start; got eps={eps}, t_start={t0}")
    if schedule is None:
        schedule = DEFAULT_SCHEDULE[name]
    elif not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise InvalidArgumentError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {schedule!r}")
    if k is None:  # adaptive: the budget is not known in advance
        if nfe is not None:
            raise InvalidArgumentError("the adaptive ode solver (dopri5) spends what its tolerances need: nfe= cannot "
                                       "be given; use solver='rk4', 'heun' or 'euler', or n_steps (the first step)")
        n = check_count("n_steps", 1000 if n_steps is None else n_steps)
    elif nfe is not None:
        budget = check_count("nfe", nfe)
        n, edm_last = _steps_for_budget(name, budget, k, final_denoise)
    else:
        n = check_count("n_steps", 1000 if n_steps is None else n_steps)
    grid = time_grid(forward, n, schedule, t_start=t0, t_end=eps, rho=rho)
    if k is None:
        cost = None
    elif name == "edm":
        cost = 2 * n - (edm_last == "euler") + int(final_denoise)
    else:
        cost = n * k + int(final_denoise)
    return SamplingPlan(name, grid, n, cost, final_denoise, schedule, edm_last)


__all__ = ["METHODS", "T_METHODS", "LOGSNR_METHODS", "ALIASES", "DEFAULT_SCHEDULE", "SamplingPlan", "sampling_plan",
           "method_name", "per_step"]
