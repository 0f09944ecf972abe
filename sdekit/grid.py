"""The time grid of a solve: uniform steps (``dt`` / ``n_steps``) or an explicit grid, merged with save times.

Built once in :func:`make_plan` and shared by every backend and driver. Times that
float64 cannot tell apart are refused, never merged silently.

>>> from sdekit.grid import make_plan
>>> plan = make_plan(0.0, 1.0, None, 4, [0.3, 0.5])
>>> plan.times.tolist(), plan.save.tolist()
([0.0, 0.25, 0.3, 0.5, 0.75, 1.0], [2, 3])
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .errors import InvalidArgumentError
from .memory import check_allocation
from .validation import check_positive_int


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


def steps_from_dt(span, dt):
    """Uniform steps for ``dt``: the largest step not above it that divides the span."""
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
        raise InvalidArgumentError(f"dt must be a positive finite float; got {dt!r}")
    ratio = span / float(dt)
    if not ratio < MAX_STEPS:
        raise InvalidArgumentError(f"dt={dt!r} gives {ratio:.3g} steps over the span; at most 2**40 are allowed")
    # The largest uniform step not above dt (a step a hair above by rounding is kept).
    return max(1, math.ceil(ratio * (1 - 1e-12)))


def check_distinct(times, what):
    """Refuse times that coincide in float64 (a span too short for the steps, or save times too close)."""
    gaps = np.diff(times)
    if not np.all(gaps > 0):
        i = int(np.argmin(gaps > 0))
        raise InvalidArgumentError(
            f"{what} has times {times[i]!r} and {times[i + 1]!r} that coincide in float64: the span is too short "
            "for this many steps at this magnitude of t (or two requested times are closer than float64 resolves)")


def save_times(save_at, t0, t1):
    """``save_at`` as a checked, strictly increasing float64 array inside ``[t0, t1]``."""
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
    check_distinct(sa, "save_at")
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
        n = steps_from_dt(span, dt) if dt is not None else check_positive_int("n_steps", n_steps)
        if n >= MAX_STEPS:
            raise InvalidArgumentError(f"n_steps must be below 2**40; got {n}")
        check_allocation(8 * (n + 1), "the time grid (n_steps + 1 float64 times)")
        times = t0 + span * (np.arange(n + 1, dtype=np.float64) / n)
        times[-1] = t1
        n_uniform = n
    check_distinct(times, "the time grid")
    if save_at is None:
        return Plan(times, np.array([0, n]), n_uniform)
    if isinstance(save_at, str):
        if save_at != "steps":
            raise InvalidArgumentError(f'save_at must be None, "steps" or an array of times; got {save_at!r}')
        return Plan(times, np.arange(n + 1), n_uniform)
    sa = save_times(save_at, t0, t1)
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
    check_distinct(merged, "the time grid merged with save_at")
    save = np.searchsorted(merged, sa)
    return Plan(merged, save, n_uniform)


