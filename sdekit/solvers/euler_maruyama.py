"""Euler–Maruyama."""

from .base import Solver
from .heun import euler_heun_pair


def euler_maruyama_step(terms, t, dt, x, dw, aux):
    return x + terms.drift(t, x) * dt + terms.noise(terms.diffusion(t, x), dw)


def euler_maruyama_with_error(terms, t, dt, x, dw, aux):
    # Lamba's estimate: the Heun corrector's change to the Euler step, 1/2 [(f1 - f0) dt + (g1 - g0) dW].
    x_em, x_heun = euler_heun_pair(terms, t, dt, x, dw)
    return x_em, x_heun - x_em


class EulerMaruyama(Solver):
    r"""Euler–Maruyama: ``x_{k+1} = x_k + f(t_k, x_k) Δt + g(t_k, x_k) ΔW_k``.

    Converges to the **Itô** solution. Strong order 0.5 (1.0 for additive noise),
    weak order 1. Any noise type. Two evaluations per step (f and g).

    Adaptive (``adaptive=True``): Lamba's error estimate, the change a Heun corrector
    would make, ``\tfrac12[(f(\tilde x) - f(x))Δt + (g(\tilde x) - g(x))ΔW]`` (four
    evaluations per step; Lamba, Mattingly & Stuart, *IMA J. Numer. Anal.* 27 (2007)).

    Reference: Kloeden & Platen, *Numerical Solution of SDEs* (1992), §9.1 and §10.2.

    >>> import sdekit as sk
    >>> p = sk.testing.problems.gbm()
    >>> sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=64, n_paths=4, method="em")
    >>> sol.ys.shape
    (2, 4, 1)
    """

    name = "euler_maruyama"
    aliases = ("em",)
    ode_counterpart = "euler"
    calculus = "ito"
    strong_order = {"general": 0.5, "additive": 1.0}
    weak_order = {"general": 1.0}
    nfe_per_step = 2
    rule = staticmethod(euler_maruyama_step)
    error_estimate = True
    error_order = 0.0
    nfe_adaptive = 4
    rule_with_error = staticmethod(euler_maruyama_with_error)
