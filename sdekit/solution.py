"""The result of :func:`sdekit.solve`, and the drivers' result type it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class IntegrateResult:
    """What a driver (fixed-step loop, fused kernel, adaptive controller) hands back to ``solve``.

    ``ys`` is ``(k, n, D)`` (the flat state); ``extra`` goes into ``Solution.stats``.
    """

    ts: np.ndarray
    ys: Any
    n_steps: Any
    nfe: Any
    extra: dict = field(default_factory=dict)
    final_carry: Any = None


@dataclass
class Solution:
    """Saved states of a solve.

    Attributes
    ----------
    ts : numpy.ndarray, shape (k,), float64
        Saved times.
    ys : array, shape (k, n, *event)
        States at ``ts`` for each of the n paths (``(k, n, d)`` for vector states); a
        NumPy array, or a torch tensor on the state's device for the torch backend.
    stats : dict
        ``n_steps`` (steps taken), ``nfe`` (drift + diffusion evaluations),
        ``wall_time`` (seconds); adaptive solves add ``n_accepted`` and
        ``n_rejected`` (per-path arrays when step sizes are per path); the Numba
        backend adds ``compile_time``.
    method, backend : str
    brownian : BrownianPath or None
        The path that drove the solve (reuse it with ``brownian=``).
    final_carry : object or None
        A multistep rule's carry at ``t1`` (e.g. reversible Heun's ``(ŷ, μ, σ)``), from
        which the solve can be run backwards.

    >>> import sdekit as sk
    >>> sol = sk.solve(sk.ODE(lambda t, x: -x), 1.0, (0.0, 1.0), n_steps=8, save_at="steps")
    >>> sol.ts.shape, sol.ys.shape, sol.stats["nfe"]
    ((9,), (9, 1, 1), 8)
    """

    ts: np.ndarray
    ys: Any
    stats: dict = field(default_factory=dict)
    method: str = ""
    backend: str = ""
    brownian: Optional[Any] = None
    final_carry: Optional[Any] = None

    @property
    def final(self):
        """The last saved state, shape ``(n, *event)``."""
        return self.ys[-1]

    def __repr__(self):
        shape = tuple(self.ys.shape)
        return (f"Solution(method={self.method!r}, backend={self.backend!r}, ts={self.ts.shape[0]} times, "
                f"ys shape={shape}, stats={self.stats})")
