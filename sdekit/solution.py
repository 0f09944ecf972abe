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
    logqp : array, shape (n,), or None
        With ``sk.solve(..., logqp=prior_drift)``: the path KL term
        :math:`\\tfrac12\\int_{t_0}^{t_1} |u|^2 dt` per path (:mod:`sdekit.logqp`).
    logqp_saved : array, shape (k, n), or None
        The same integral from ``t0`` to each saved time.

    ``evaluate(t)`` gives the state at any time between the first and last saved times
    (dense output; see :meth:`evaluate`).

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
    logqp: Optional[Any] = None
    logqp_saved: Optional[Any] = None
    terms: Optional[Any] = field(default=None, repr=False)  # the flat diffusion and noise map, for evaluate()

    @property
    def final(self):
        """The last saved state, shape ``(n, *event)``."""
        return self.ys[-1]

    def evaluate(self, t):
        r"""The state at time ``t`` (a float: ``(n, *event)``) or times (an array: ``(len(t), n, *event)``).

        Between consecutive saved times :math:`t_a < t < t_b` with states :math:`y_a, y_b`,

        .. math:: y(t) = y_a + r\,(y_b - y_a) + g(t_a, y_a)\,\big(W_t - W_{t_a} - r\,(W_{t_b} - W_{t_a})\big),
                  \qquad r = \frac{t - t_a}{t_b - t_a},

        where :math:`W` is the solve's own Brownian path (``sol.brownian``) and :math:`g` its
        diffusion (the noise map of the problem: ``g * dW`` or ``g @ dW``). That is linear
        interpolation plus the Brownian bridge of the solve's path pinned at both saved
        times, scaled by the diffusion at the left state. Properties:

        - it returns the saved states at saved times and is continuous in ``t``;
        - with ``save_at="steps"`` and Euler–Maruyama it *is* the Euler–Maruyama step
          from the grid point before ``t`` to ``t`` on the same path: the state a solve
          whose grid contains ``t`` has there (other methods: the same formula, the
          Euler–Maruyama interpolant of their steps);
        - for ``dX = σ dW`` with constant σ it reproduces ``X(t)`` exactly at every ``t``;
        - without a Brownian path (ODEs) it is linear interpolation;
        - between widely spaced saved times it is only as good as one Euler–Maruyama
          step of that size: save the steps for a dense output that follows the path.

        Times outside ``[ts[0], ts[-1]]`` raise :class:`~sdekit.errors.InvalidArgumentError`.
        On the torch backend the result is differentiable (through ``ys`` and ``g``).

        Reference: the Brownian bridge, P. Glasserman, *Monte Carlo Methods in Financial
        Engineering* (2004), §3.1; dense output of SDE solves as in diffrax's
        ``SaveAt(dense=True)`` and torchsde's outputs at arbitrary ``ts``.

        >>> import numpy as np, sdekit as sk
        >>> bm_only = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 2.0 + 0.0 * x, additive=True)
        >>> sol = sk.solve(bm_only, 0.0, (0.0, 1.0), n_steps=8, n_paths=3, seed=4, backend="numpy")
        >>> bool(np.allclose(sol.evaluate(0.3), 2.0 * sol.brownian.value(0.3)))   # X = 2 W at any t
        True
        >>> sol.evaluate([0.1, 0.5, 0.9]).shape
        (3, 3, 1)
        """
        from .dense import evaluate

        return evaluate(self, t)

    def __repr__(self):
        shape = tuple(self.ys.shape)
        return (f"Solution(method={self.method!r}, backend={self.backend!r}, ts={self.ts.shape[0]} times, "
                f"ys shape={shape}, stats={self.stats})")
