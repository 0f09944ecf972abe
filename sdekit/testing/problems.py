"""Analytic SDE problems with exact solutions and moments (placeholder module, expanded by issue 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..sde import SDE


@dataclass
class Problem:
    """An SDE with its initial state, span and, where known, its exact solution and moments."""

    name: str
    sde: SDE
    x0: np.ndarray
    t_span: tuple
    exact: Optional[Callable] = None
    mean: Optional[Callable] = None
    var: Optional[Callable] = None


def gbm(mu=0.5, sigma=0.8, x0=1.0, t_span=(0.0, 1.0)):
    """dX = mu X dt + sigma X dW (Itô): X_t = x0 exp((mu - sigma^2/2) t + sigma W_t)."""
    sde = SDE(lambda t, x: mu * x, lambda t, x: sigma * x)
    t0 = t_span[0]
    return Problem(
        "gbm", sde, np.array([x0], dtype=float), tuple(t_span),
        exact=lambda t, x0_, w: x0_ * np.exp((mu - 0.5 * sigma**2) * (t - t0) + sigma * w),
        mean=lambda t: x0 * np.exp(mu * (t - t0)),
        var=lambda t: x0**2 * np.exp(2 * mu * (t - t0)) * (np.exp(sigma**2 * (t - t0)) - 1),
    )
