"""Stochastic Heun (trapezoidal predictor–corrector on the Stratonovich equation)."""

from .base import Solver


def stochastic_heun_step(terms, t, dt, x, dw, aux):
    f0 = terms.drift(t, x)
    g0 = terms.diffusion(t, x)
    x_pred = x + f0 * dt + terms.noise(g0, dw)
    f1 = terms.drift(t + dt, x_pred)
    g1 = terms.diffusion(t + dt, x_pred)
    return x + (0.5 * dt) * (f0 + f1) + terms.noise(0.5 * (g0 + g1), dw)


class Heun(Solver):
    r"""Stochastic Heun.

    .. math::
        \tilde x = x_k + f(t_k, x_k)Δt + g(t_k, x_k)ΔW_k, \\
        x_{k+1} = x_k + \tfrac12[f(t_k, x_k) + f(t_{k+1}, \tilde x)]Δt
                      + \tfrac12[g(t_k, x_k) + g(t_{k+1}, \tilde x)]ΔW_k.

    Converges to the **Stratonovich** solution (equal to Itô's when the noise
    is additive). Strong order 1.0 for commutative noise (diagonal, scalar,
    additive), 0.5 for general non-commutative noise; weak order 1. Four
    evaluations per step.

    Reference: Kloeden & Platen (1992), §15.1 (trapezoidal / Heun scheme);
    Rümelin, *SIAM J. Numer. Anal.* 19 (1982).
    """

    name = "heun"
    calculus = "stratonovich"
    strong_order = 1.0  # commutative noise; 0.5 for general non-commutative noise
    strong_order_additive = 1.0
    weak_order = 1.0
    nfe_per_step = 4

    def step(self, terms, t, dt, x, dw, aux):
        return stochastic_heun_step(terms, t, dt, x, dw, aux)

    def numba_step(self):
        return stochastic_heun_step
