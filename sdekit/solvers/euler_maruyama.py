"""Euler–Maruyama."""

from .base import Solver


def euler_maruyama_step(terms, t, dt, x, dw, aux):
    return x + terms.drift(t, x) * dt + terms.noise(terms.diffusion(t, x), dw)


class EulerMaruyama(Solver):
    r"""Euler–Maruyama: ``x_{k+1} = x_k + f(t_k, x_k) Δt + g(t_k, x_k) ΔW_k``.

    Converges to the **Itô** solution. Strong order 0.5 (1.0 for additive noise),
    weak order 1. Any noise type. Two evaluations per step (f and g).

    Reference: Kloeden & Platen, *Numerical Solution of SDEs* (1992), §9.1 and §10.2.

    >>> import sdekit as sk
    >>> p = sk.testing.problems.gbm()
    >>> sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=64, n_paths=4, method="em")
    >>> sol.ys.shape
    (2, 4, 1)
    """

    name = "euler_maruyama"
    calculus = "ito"
    strong_order = 0.5
    strong_order_additive = 1.0
    weak_order = 1.0
    nfe_per_step = 2

    def step(self, terms, t, dt, x, dw, aux):
        return euler_maruyama_step(terms, t, dt, x, dw, aux)

    def numba_step(self):
        return euler_maruyama_step
