r"""Time grids for sampling: uniform in t, Karras et al.'s σ-ramp, or uniform in log-SNR.

Every linear forward process has the scaled noise level :math:`σ_t = s_t/m_t`
(:func:`~sdekit_diffusion.logsnr.scaled_sigma`, increasing in t) and log-SNR :math:`λ = -\log σ`.
A grid of ``N`` steps from ``t_start`` down to ``t_end`` is, with ``σ_hi = σ(t_start)``,
``σ_lo = σ(t_end)`` and ``i = 0, …, N``:

* ``"uniform"``: :math:`t_i = t_{start} + \tfrac iN (t_{end} - t_{start})` (Song et al.'s grids; the
  default of the methods that integrate in t);
* ``"karras"``: :math:`σ_i = \big(σ_{hi}^{1/ρ} + \tfrac iN (σ_{lo}^{1/ρ} - σ_{hi}^{1/ρ})\big)^ρ`
  (Karras et al. 2022, eq. 5; ``rho=7``): dense at low noise, where the ODE curves most;
* ``"logsnr"``: :math:`λ_i` uniform between ``−log σ_hi`` and ``−log σ_lo`` (Lu et al. 2022's
  "logSNR" steps: equal steps of the exponential integrators' variable).

Times follow from the σ values by the process's exact inverse ``time_at``; the endpoints are
``t_start`` and ``t_end`` exactly. For VP with the defaults (β 0.1 → 20, ``eps = 1e-3``) σ runs
from 0.0100 to 152; for VE (0.01 → 50) from 0.0013 to 50; for EDM from 0.002 to 80.

>>> from sdekit_diffusion import EDMSDE
>>> g = time_grid(EDMSDE(), 4, "karras", t_end=0.002)       # EDM: t is σ
>>> [round(float(v), 4) for v in g.times]
[80.0, 17.5278, 2.5152, 0.1698, 0.002]
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import check_count, check_real

from .logsnr import scaled_sigma, time_at

SCHEDULES = ("uniform", "karras", "logsnr")


class Grid(NamedTuple):
    """A sampling grid: forward ``times`` (decreasing, ``N + 1``) and their noise levels ``sigmas`` (σ = s/m)."""

    times: np.ndarray
    sigmas: np.ndarray

    @property
    def logsnr(self):
        """``λ_i = −log σ_i`` (increasing; ``inf`` where σ = 0)."""
        with np.errstate(divide="ignore"):
            return -np.log(self.sigmas)


def time_grid(forward, n_steps, schedule="uniform", *, t_start=None, t_end=1e-3, rho=7.0) -> Grid:
    """The grid of ``n_steps`` steps from ``t_start`` (default ``forward.T``) down to ``t_end`` (module docstring)."""
    n = check_count("n_steps", n_steps)
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise InvalidArgumentError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {schedule!r}")
    T = float(getattr(forward, "T", 1.0))
    t0 = T if t_start is None else check_real("t_start", t_start)
    t1 = check_real("t_end", t_end, low=0.0)
    if not t1 < t0:
        raise InvalidArgumentError(f"the grid must run from t_start={t0} down to a smaller t_end; got t_end={t1}")
    i = np.arange(n + 1, dtype=np.float64) / n
    if schedule == "uniform":
        times = t0 + i * (t1 - t0)
        sigmas = _sigmas(forward, times)
    else:
        s_hi, s_lo = scaled_sigma(forward, t0), scaled_sigma(forward, t1)
        if schedule == "karras":
            rho = check_real("rho", rho, low=0.0, low_open=True)
            sigmas = (s_hi ** (1.0 / rho) + i * (s_lo ** (1.0 / rho) - s_hi ** (1.0 / rho))) ** rho
        else:
            if not s_lo > 0:
                raise InvalidArgumentError(f"the logsnr schedule needs a positive noise level at t_end={t1} "
                                           "(log σ = −inf there); use eps > 0")
            sigmas = np.exp(math.log(s_hi) + i * (math.log(s_lo) - math.log(s_hi)))
        sigmas[0], sigmas[-1] = s_hi, s_lo
        times = np.array([time_at(forward, s) for s in sigmas])
    times[0], times[-1] = t0, t1
    if np.any(np.diff(times) >= 0):
        raise InvalidArgumentError(f"the {schedule} grid of {n} steps has coinciding times in float64; use fewer steps")
    return Grid(times, sigmas)


def grid_from_times(forward, times) -> Grid:
    """An explicit grid: ``times`` a strictly decreasing array of forward times (at least two), or a grid
    object with a ``times`` attribute (:class:`Grid`, :class:`~sdekit_diffusion.fitted.FittedTimes`)."""
    times = getattr(times, "times", times)
    try:
        ts = np.asarray(times, dtype=np.float64).reshape(-1).copy()
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"times must be an array of floats; got {type(times).__name__}") from None
    if ts.size < 2 or not np.all(np.isfinite(ts)):
        raise InvalidArgumentError("times must hold at least two finite forward times")
    if np.any(np.diff(ts) >= 0):
        raise InvalidArgumentError("times must be strictly decreasing (from the start time down to the end)")
    if ts[-1] < 0:
        raise InvalidArgumentError(f"times must be >= 0; got {ts[-1]}")
    return Grid(ts, _sigmas(forward, ts))


def _sigmas(forward, times):
    """σ at each time; NaN for a forward SDE without marginals (a t-method's uniform grid needs none)."""
    if not hasattr(forward, "marginal"):
        return np.full(times.shape, np.nan)
    return np.array([scaled_sigma(forward, t) for t in times])


__all__ = ["SCHEDULES", "Grid", "time_grid", "grid_from_times"]
