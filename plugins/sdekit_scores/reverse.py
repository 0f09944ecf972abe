r"""Time reversal (Anderson 1982), the probability-flow ODE and Langevin dynamics, as SDE transformations.

Forward Itô SDE :math:`dX = f(t, X)\,dt + G(t, X)\,dW`, :math:`A = G G^\top`,
marginal densities :math:`p_t`. Its Fokker–Planck equation can be written

.. math::  \partial_t p = -\nabla\cdot\big[(f - \tfrac12 \nabla\cdot A - \tfrac12 A \nabla\log p)\,p\big],
           \qquad (\nabla\cdot A)_i = \textstyle\sum_j \partial_j A_{ij},

using :math:`\sum_j \partial_j (A_{ij} p) = p(\nabla\cdot A)_i + p (A\nabla\log p)_i`.

*Reverse SDE.* In reversed time :math:`s = T - t`, :math:`Y_s = X_{T-s}` solves

.. math::  dY = \big[-f + A\,\nabla\log p + \nabla\cdot A\big](T-s, Y)\,ds + G(T-s, Y)\,d\bar W_s

(Itô in s), with :math:`Y_s \sim p_{T-s}` when :math:`Y_0 \sim p_T`. The
divergence term vanishes when ``G`` does not depend on x (VE/VP/sub-VP) and
is easy to forget otherwise; ``docs/time-reversal.md`` derives it.

*Probability flow.* :math:`\dot x = f - \tfrac12 \nabla\cdot A - \tfrac12 A\nabla\log p` has the
same marginals, deterministically.

*Langevin.* :math:`dX = \nabla\log p(X)\,dt + \sqrt2\,dW` has stationary law ``p``.

The divergence :math:`\nabla\cdot A` is computed (``divergence=None``, the default) as
zero for additive noise, by forward-mode autograd (``torch.func.jvp``) for torch
states, else by central finite differences with step
:math:`h_j = 6\cdot10^{-6}(1 + |x_j|)` (float64; ``5\cdot10^{-3}`` in float32), which costs
``2d`` diffusion evaluations per drift evaluation. Pass ``divergence=fn`` (``fn(t, x) ->
(n, d)``, forward time) to give it exactly, ``"fd"`` / ``"autograd"`` to force a method,
``"zero"`` to omit it (wrong for state-dependent noise; useful to see why).
"""

from __future__ import annotations

import math

import numpy as np

import sdekit as sk
from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import check_real

from . import _arrays as Ar
from .protocol import as_score


def _a_times(noise, g, v):
    """``A v`` with ``A = G G^T`` for the noise structure (``v``: ``(n, d)``)."""
    if noise == "diagonal":
        return g * g * v
    if noise == "scalar":
        return g * (g * v).sum(-1)[:, None]
    w = (v[:, :, None] * g).sum(1)  # G^T v: (n, m)
    return (g @ w[:, :, None])[:, :, 0]


def _a_column(noise, g, j):
    """Column ``j`` of ``A = G G^T`` (the vector ``A_{:, j}``), ``(n, d)``."""
    if noise == "diagonal":
        col = g * g
        mask = Ar.like(np.eye(g.shape[1])[j], g)
        return col * mask
    if noise == "scalar":
        return g * g[:, j:j + 1]
    return (g * g[:, j:j + 1, :]).sum(-1)


def divergence_fd(sde, t, x):
    r""":math:`\nabla\cdot(GG^\top)(t, x)` by central differences, ``(n, d)`` (any noise type).

    >>> import numpy as np, sdekit as sk
    >>> gbm = sk.SDE(lambda t, x: 0 * x, lambda t, x: 0.5 * x)      # A = 0.25 x^2
    >>> np.round(divergence_fd(gbm, 0.0, np.array([[2.0]])), 6).tolist()   # d/dx 0.25 x^2 = 0.5 x
    [[1.0]]
    """
    d = x.shape[1]
    rel = 5e-3 if str(x.dtype).endswith("float32") else 6e-6
    out = 0.0
    eye = np.eye(d)
    for j in range(d):
        e = Ar.like(eye[j], x)
        h = (abs(x[:, j:j + 1]) + 1.0) * rel
        gp = sde.diffusion(t, x + h * e)
        gm = sde.diffusion(t, x - h * e)
        out = out + (_a_column(sde.noise, gp, j) - _a_column(sde.noise, gm, j)) / (2.0 * h)
    return out


def divergence_autograd(sde, t, x):
    r""":math:`\nabla\cdot(GG^\top)(t, x)` for a torch state by forward-mode autograd (``d`` JVPs).

    >>> import torch, sdekit as sk
    >>> gbm = sk.SDE(lambda t, x: 0 * x, lambda t, x: 0.5 * x)      # d/dx 0.25 x^2 = 0.5 x
    >>> divergence_autograd(gbm, 0.0, torch.tensor([[2.0]], dtype=torch.float64)).tolist()
    [[1.0]]
    """
    import torch

    d = x.shape[1]
    out = torch.zeros_like(x)
    x = x.detach()
    for j in range(d):
        e = torch.zeros_like(x)
        e[:, j] = 1.0
        _, dcol = torch.func.jvp(lambda y: _a_column(sde.noise, sde.diffusion(t, y), j), (x,), (e,))
        out = out + dcol
    return out


def _divergence_fn(sde, divergence):
    if callable(divergence):
        return divergence
    if divergence is None:
        if sde.additive:
            return None
        divergence = "auto"
    if divergence == "zero":
        return None
    if divergence == "fd":
        return lambda t, x: divergence_fd(sde, t, x)
    if divergence == "autograd":
        return lambda t, x: divergence_autograd(sde, t, x)
    if divergence == "auto":
        def auto(t, x):
            if Ar.is_torch(x):
                try:
                    return divergence_autograd(sde, t, x)
                except Exception:  # noqa: BLE001 - a diffusion that forward-mode AD cannot trace
                    pass
            return divergence_fd(sde, t, x)

        return auto
    raise InvalidArgumentError(
        f'divergence must be None, a callable (t, x) -> (n, d), "fd", "autograd", "auto" or "zero"; got {divergence!r}'
    )


def _check_ito(sde, what):
    if sde.is_ode:
        raise InvalidArgumentError(f"{what} needs an SDE with noise; got an ODE")
    if sde.calculus != "ito" and not sde.additive:
        raise InvalidArgumentError(
            f"{what} is derived for an Itô SDE; this one is Stratonovich with state-dependent noise. "
            "Convert it to Itô (drift + ½ Σ_k (∂G_k) G_k) and declare calculus='ito'"
        )


class ReversedSDE(sk.SDE):
    """The SDE returned by :func:`reverse` (an :class:`sdekit.SDE`); keeps ``forward``, ``score``, ``T``."""


def reverse(sde, score, T, *, divergence=None):
    r"""Anderson's reverse-time SDE in :math:`s = T - t`, as an :class:`sdekit.SDE`.

    .. math::  dY_s = \big[-f + GG^\top \nabla\log p + \nabla\cdot(GG^\top)\big](T - s, Y_s)\,ds
                      + G(T - s, Y_s)\,d\bar W_s.

    ``sde``: a forward Itô SDE (any noise type; torchsde-style objects too).
    ``score``: ``(t, x) -> ∇ log p_t(x)`` in *forward* time. ``divergence``: see the
    module docstring (default: zero for additive noise, autograd for torch
    states, central differences otherwise). Solve the result from ``s = 0``
    (``Y_0 ~ p_T``) to ``s = T - ε``. The noise type, Brownian dimension and
    ``additive`` flag carry over; the result is Itô.

    >>> import numpy as np, sdekit as sk
    >>> from sdekit_scores import Gaussian, reverse
    >>> ou = sk.SDE(lambda t, x: -x, lambda t, x: 2 ** 0.5 + 0 * x, additive=True)   # stationary N(0, 1)
    >>> rev = reverse(ou, Gaussian([0.0], [[1.0]]), T=1.0)
    >>> y0 = Gaussian([0.0], [[1.0]]).sample(20_000, seed=0)
    >>> y = sk.solve(rev, y0, (0.0, 1.0), n_steps=50, seed=1).ys[-1]
    >>> round(float(y.var()), 1)     # reversal of the stationary OU: again N(0, 1)
    1.0
    """
    T = check_real("T", T)
    sde = sk.as_sde(sde)
    _check_ito(sde, "reverse")
    score = as_score(score)
    div = _divergence_fn(sde, divergence)
    f, gfun, noise = sde.drift, sde.diffusion, sde.noise

    def drift(s, y):
        t = T - s
        out = _a_times(noise, gfun(t, y), score(t, y)) - f(t, y)
        if div is not None:
            out = out + div(t, y)
        return out

    def diffusion(s, y):
        return gfun(T - s, y)

    rev = ReversedSDE(drift, diffusion, noise=noise, calculus="ito", brownian_dim=sde.brownian_dim,
                      additive=sde.additive)
    rev.forward, rev.score, rev.T = sde, score, T
    return rev


def probability_flow(sde, score, *, T=None, divergence=None):
    r"""The probability-flow ODE :math:`\dot x = f - \tfrac12\nabla\cdot(GG^\top) - \tfrac12 GG^\top\nabla\log p_t`.

    Returns an :class:`sdekit.ODE` in forward time t; with ``T`` given, in reversed
    time :math:`s = T - t` instead (drift negated, evaluated at ``T - s``), ready for
    ``sk.solve(ode, x_T, (0, T - eps), ...)``. ``divergence`` as in :func:`reverse`.

    >>> import numpy as np, sdekit as sk
    >>> from sdekit_scores import Gaussian, probability_flow
    >>> ou = sk.SDE(lambda t, x: -x, lambda t, x: 2 ** 0.5 + 0 * x, additive=True)
    >>> ode = probability_flow(ou, Gaussian([0.0], [[1.0]]))     # stationary: the flow is zero
    >>> np.round(ode.drift(0.3, np.array([[0.7]])), 12).tolist()
    [[0.0]]
    """
    sde = sk.as_sde(sde)
    _check_ito(sde, "probability_flow")
    score = as_score(score)
    div = _divergence_fn(sde, divergence)
    f, gfun, noise = sde.drift, sde.diffusion, sde.noise

    def velocity(t, x):
        out = f(t, x) - 0.5 * _a_times(noise, gfun(t, x), score(t, x))
        if div is not None:
            out = out - 0.5 * div(t, x)
        return out

    if T is None:
        ode = sk.ODE(velocity)
    else:
        T = check_real("T", T)
        ode = sk.ODE(lambda s, y: -velocity(T - s, y))
    ode.forward, ode.score, ode.T = sde, score, T
    return ode


def langevin_sde(score):
    r"""Langevin dynamics :math:`dX = \nabla\log p(X)\,dt + \sqrt2\,dW`, stationary law ``p``.

    ``score`` may be time-free (an object with ``.score(x)``) or ``(t, x)``.
    Euler–Maruyama on it is the unadjusted Langevin algorithm
    :math:`x_{k+1} = x_k + Δt\,\nabla\log p(x_k) + \sqrt{2Δt}\,z` (the seed's (4.1.9)).

    >>> import sdekit as sk
    >>> from sdekit_scores import Gaussian, langevin_sde
    >>> sol = sk.solve(langevin_sde(Gaussian([3.0], [[1.0]])), 0.0, (0.0, 20.0), n_steps=400,
    ...                n_paths=5000, seed=0)
    >>> round(float(sol.ys[-1].mean()))
    3
    """
    score = as_score(score)
    r2 = math.sqrt(2.0)
    return sk.SDE(lambda t, x: score(t, x), lambda t, x: r2 + 0.0 * x, additive=True)


__all__ = ["reverse", "probability_flow", "langevin_sde", "ReversedSDE", "divergence_fd", "divergence_autograd"]
