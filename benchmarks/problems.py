"""The benchmark problems' drift and diffusion, written once for every array library.

Each ``*_functions(m)`` takes an array namespace ``m`` (``numpy``, ``torch`` or
``jax.numpy``) and returns ``(drift, diffusion)`` in sdekit's batched convention
``f(t, x)`` with ``x`` of shape ``(..., d)``. Every contender of a benchmark
(sdekit on each backend, the hand-written loops, torchsde, diffrax, a
``jax.lax.scan`` loop) calls the *same* text, so no contender gets cheaper
arithmetic than another (``x * x * x`` everywhere, never ``x ** 3`` on one side).
Only ``m.sin``, ``m.cos`` and ``m.stack(arrays, -1)`` are used: all three
libraries and Numba's NumPy support spell them alike.

Example
-------
>>> import numpy as np
>>> f, g = lorenz_functions(np)
>>> f(0.0, np.array([[1.0, 1.0, 1.0]]))
array([[ 0.        , 26.        , -1.66666667]])
>>> f, g = nonlinear_functions(np)
>>> float(f(0.0, np.zeros((1, 1)))[0, 0]), float(g(0.0, np.zeros((1, 1)))[0, 0])
(0.0, 0.55)
"""

from __future__ import annotations

GBM_MU, GBM_SIGMA = 0.5, 0.8
OU_THETA, OU_MEAN, OU_SIGMA = 2.0, 1.0, 0.7
NL_SIGMA = 0.5
LORENZ_SIGMA, LORENZ_RHO, LORENZ_BETA = 10.0, 28.0, 8.0 / 3.0
LORENZ_NOISE = 0.3


def gbm_functions(m):
    """``dX = 0.5 X dt + 0.8 X dW`` (Itô)."""
    def drift(t, x):
        return 0.5 * x

    def diffusion(t, x):
        return 0.8 * x

    return drift, diffusion


def ou_functions(m):
    """``dX = 2 (1 - X) dt + 0.7 dW`` (additive noise)."""
    def drift(t, x):
        return 2.0 * (1.0 - x)

    def diffusion(t, x):
        return 0.7 + 0.0 * x

    return drift, diffusion


def nonlinear_functions(m):
    """``dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i`` (diagonal noise, any dimension)."""
    def drift(t, x):
        return -x * x * x + m.sin(x)

    def diffusion(t, x):
        return 0.5 * (1.0 + 0.1 * m.cos(x))

    return drift, diffusion


def lorenz_functions(m):
    """Lorenz's system (sigma 10, rho 28, beta 8/3) with multiplicative diagonal noise ``0.3 X_i dW_i``.

    ``x[..., 0]`` and a stack over the last axis, so the same text serves a
    batch ``(n, 3)`` and a single path ``(3,)`` (diffrax under ``vmap``).
    """
    def drift(t, x):
        a, b, c = x[..., 0], x[..., 1], x[..., 2]
        return m.stack((10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c), -1)

    def diffusion(t, x):
        return 0.3 * x

    return drift, diffusion


FUNCTIONS = {"gbm": gbm_functions, "ou": ou_functions, "nonlinear": nonlinear_functions,
             "lorenz": lorenz_functions}
