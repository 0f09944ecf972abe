"""Fixed-step explicit Runge–Kutta methods for ODEs: Euler, Heun, classical RK4.

Each is one pure step; they differ only in their Butcher tableau, which is
spelled out in the step itself (three short rules read better than a generic
tableau interpreter, and Numba compiles them as they are).
"""

from .base import Solver


def euler_step(terms, t, dt, x, dw, aux):
    return x + terms.drift(t, x) * dt


def heun_ode_step(terms, t, dt, x, dw, aux):
    k1 = terms.drift(t, x)
    k2 = terms.drift(t + dt, x + k1 * dt)
    return x + (0.5 * dt) * (k1 + k2)


def rk4_step(terms, t, dt, x, dw, aux):
    h2 = 0.5 * dt
    k1 = terms.drift(t, x)
    k2 = terms.drift(t + h2, x + k1 * h2)
    k3 = terms.drift(t + h2, x + k2 * h2)
    k4 = terms.drift(t + dt, x + k3 * dt)
    return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class _FixedODE(Solver):
    kind = "ode"
    calculus = "any"


class Euler(_FixedODE):
    """Explicit Euler, ``x_{k+1} = x_k + h f(t_k, x_k)``. Order 1, one evaluation per step."""

    name, nfe_per_step = "euler", 1
    strong_order = {"ode": 1.0}
    rule = staticmethod(euler_step)


class HeunODE(_FixedODE):
    """Heun's method (explicit trapezoidal): ``k1 = f(t, x)``, ``k2 = f(t + h, x + h k1)``,
    ``x_{k+1} = x_k + h (k1 + k2) / 2``. Order 2, two evaluations per step.

    Reference: Hairer, Nørsett & Wanner, *Solving ODEs I* (1993), §II.1.
    """

    name, nfe_per_step = "heun", 2
    strong_order = {"ode": 2.0}
    rule = staticmethod(heun_ode_step)


class RK4(_FixedODE):
    """The classical fourth-order Runge–Kutta method (Kutta 1901). Order 4, four evaluations per step.

    ``x_{k+1} = x_k + h (k1 + 2 k2 + 2 k3 + k4) / 6`` with the usual stages.
    Reference: Hairer, Nørsett & Wanner (1993), Table II.1.2.
    """

    name, nfe_per_step = "rk4", 4
    strong_order = {"ode": 4.0}
    rule = staticmethod(rk4_step)
