"""Dormand–Prince 5(4), adaptive, for ODEs."""

from .base import Solver

# Butcher tableau (Dormand & Prince 1980); A[i][j] is stage i's weight of k_{j+1}.
C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
# b - b_hat (fifth minus embedded fourth order weights; the 7th stage is FSAL).
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def dopri5_step(terms, t, dt, x, k1):
    r"""One Dormand–Prince step from ``x`` with first stage ``k1 = f(t, x)``.

    .. math:: k_i = f\big(t + c_i h,\ x + h\textstyle\sum_{j<i} a_{ij} k_j\big),\quad
              x_{next} = x + h\textstyle\sum_i b_i k_i,\quad err = h\textstyle\sum_i e_i k_i

    Returns ``(x_next, error_estimate, k7)`` where ``k7 = f(t + dt, x_next)`` is the
    next step's first stage (first same as last). One line per stage rather than a
    loop over the tableau: Numba compiles this very function into the fused
    adaptive attempt (:mod:`sdekit.backends.numba_adaptive`), where each line fuses
    into one pass over the chunk (a loop would make a pass, and an array, per
    weight; a list of stages of different lengths does not compile at all). The
    terms are added left to right, as a loop would; ``b_2 = e_2 = 0`` are left out.

    >>> import numpy as np
    >>> from sdekit.solvers.base import Terms
    >>> terms = Terms(lambda t, x: -x, None, None)
    >>> x = np.ones((1, 1))
    >>> x1, err, k7 = dopri5_step(terms, 0.0, 0.1, x, -x)
    >>> bool(abs(x1[0, 0] - np.exp(-0.1)) < 1e-8), bool(np.allclose(k7, -x1))
    (True, True)
    """
    f = terms.drift
    k2 = f(t + C[1] * dt, x + (A[1][0] * dt) * k1)
    k3 = f(t + C[2] * dt, x + (A[2][0] * dt) * k1 + (A[2][1] * dt) * k2)
    k4 = f(t + C[3] * dt, x + (A[3][0] * dt) * k1 + (A[3][1] * dt) * k2 + (A[3][2] * dt) * k3)
    k5 = f(t + C[4] * dt, x + (A[4][0] * dt) * k1 + (A[4][1] * dt) * k2 + (A[4][2] * dt) * k3
           + (A[4][3] * dt) * k4)
    k6 = f(t + C[5] * dt, x + (A[5][0] * dt) * k1 + (A[5][1] * dt) * k2 + (A[5][2] * dt) * k3
           + (A[5][3] * dt) * k4 + (A[5][4] * dt) * k5)
    x_next = x + (B[0] * dt) * k1 + (B[2] * dt) * k3 + (B[3] * dt) * k4 + (B[4] * dt) * k5 + (B[5] * dt) * k6
    k7 = f(t + dt, x_next)
    err = ((E[0] * dt) * k1 + (E[2] * dt) * k3 + (E[3] * dt) * k4 + (E[4] * dt) * k5 + (E[5] * dt) * k6
           + (E[6] * dt) * k7)
    return x_next, err, k7


def dopri5_rule(terms, t, dt, x, dw, aux):
    return dopri5_step(terms, t, dt, x, terms.drift(t, x))[0]


def dopri5_rule_with_error(terms, t, dt, x, dw, aux):
    x_next, err, _ = dopri5_step(terms, t, dt, x, terms.drift(t, x))
    return x_next, err


def dopri5_attempt(terms, t, dt, x, dw, aux, k1):
    """An adaptive attempt with the FSAL carry ``k1`` (contract item 8): ``(x_next, err, k7)``."""
    return dopri5_step(terms, t, dt, x, k1)


class Dopri5(Solver):
    r"""Dormand–Prince 5(4): adaptive by default (ODEs).

    Fifth-order solution, embedded fourth-order error estimate, first-same-as-last
    (six evaluations per accepted step). Run by :mod:`sdekit.adaptive`'s generic
    PI controller: the error of a step is the RMS over components of
    ``err / (atol + rtol max(|x|, |x_next|))``; a step is accepted when it is at
    most 1. ``rtol``/``atol`` may be given here or to ``solve``; ``dt`` / ``n_steps``
    give the first step size (optional); ``stats`` reports ``n_accepted`` and
    ``n_rejected``. With ``adaptive=False`` it is a fixed-step fifth-order method.

    Reference: Dormand & Prince, *J. Comput. Appl. Math.* 6 (1980);
    Hairer & Wanner, *Solving ODEs I* (1993), §II.4–5.
    """

    name = "dopri5"
    kind = "ode"
    calculus = "any"
    strong_order = {"ode": 5.0}
    nfe_per_step = 6
    error_estimate = True
    error_order = 4.0
    adaptive_default = True
    rule = staticmethod(dopri5_rule)
    rule_with_error = staticmethod(dopri5_rule_with_error)
    attempt_rule = staticmethod(dopri5_attempt)

    def __init__(self, rtol=None, atol=None, max_steps=None, safety=None):
        self.rtol, self.atol, self.max_steps, self.safety = rtol, atol, max_steps, safety

    def initial_carry(self, terms, t, x):
        return terms.drift(t, x)

    def adaptive_step(self, terms, t, dt, x, dw, aux, carry):
        k1 = terms.drift(t, x) if carry is None else carry
        return dopri5_attempt(terms, t, dt, x, dw, aux, k1)

    def __repr__(self):
        return "Dopri5()"
