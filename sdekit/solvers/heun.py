"""Stochastic Heun (trapezoidal predictor–corrector on the Stratonovich equation)."""

from .base import Solver


def stochastic_heun_step(terms, t, dt, x, dw, aux):
    f0 = terms.drift(t, x)
    g0 = terms.diffusion(t, x)
    x_pred = x + f0 * dt + terms.noise(g0, dw)
    f1 = terms.drift(t + dt, x_pred)
    g1 = terms.diffusion(t + dt, x_pred)
    return x + (0.5 * dt) * (f0 + f1) + terms.noise(0.5 * (g0 + g1), dw)


def euler_heun_pair(terms, t, dt, x, dw):
    """``(x_euler, x_heun)``: the predictor and the corrector of one step (the embedded pair of both methods)."""
    f0 = terms.drift(t, x)
    g0 = terms.diffusion(t, x)
    x_pred = x + f0 * dt + terms.noise(g0, dw)
    f1 = terms.drift(t + dt, x_pred)
    g1 = terms.diffusion(t + dt, x_pred)
    return x_pred, x + (0.5 * dt) * (f0 + f1) + terms.noise(0.5 * (g0 + g1), dw)


def heun_with_error(terms, t, dt, x, dw, aux):
    x_pred, x_next = euler_heun_pair(terms, t, dt, x, dw)
    return x_next, x_next - x_pred


class Heun(Solver):
    r"""Stochastic Heun.

    .. math::
        \tilde x = x_k + f(t_k, x_k)Δt + g(t_k, x_k)ΔW_k, \\
        x_{k+1} = x_k + \tfrac12[f(t_k, x_k) + f(t_{k+1}, \tilde x)]Δt
                      + \tfrac12[g(t_k, x_k) + g(t_{k+1}, \tilde x)]ΔW_k.

    Converges to the **Stratonovich** solution (equal to Itô's when the noise
    is additive). Strong order 1.0 for commutative noise (scalar, diagonal with
    ``g_i`` depending on ``x_i`` only, additive, general declared commutative),
    0.5 for general non-commutative noise; weak order 1, and 2 for additive noise
    (the trapezoidal rule matches the first two moments of ∫W ds to the needed
    order; measured 2.2 on Ornstein–Uhlenbeck). Four evaluations per step.

    Adaptive (``adaptive=True``): the predictor is an embedded lower-order
    solution; ``x_{k+1} - \tilde x = \tfrac12[(f_1 - f_0)Δt + (g_1 - g_0)ΔW]`` estimates
    the local error (of order Δt: the controller's exponent is 1). A rejected step
    is retried on the same Brownian path (:mod:`sdekit.adaptive`).

    Reference: Kloeden & Platen (1992), §15.1 (trapezoidal / Heun scheme);
    Rümelin, *SIAM J. Numer. Anal.* 19 (1982).
    """

    name = "heun"
    ode_counterpart = "heun"
    calculus = "stratonovich"
    strong_order = {"general": 0.5, "commutative": 1.0}
    weak_order = {"general": 1.0, "additive": 2.0}
    nfe_per_step = 4
    rule = staticmethod(stochastic_heun_step)
    error_estimate = True
    error_order = 0.0
    nfe_adaptive = 4
    rule_with_error = staticmethod(heun_with_error)
