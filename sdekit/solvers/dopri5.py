"""Dormand–Prince 5(4), adaptive, for ODEs."""

from .base import Solver

# Butcher tableau (Dormand & Prince 1980).
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
    """One Dormand–Prince step from ``x`` with first stage ``k1 = f(t, x)``.

    Returns ``(x_next, error_estimate, k7)`` where ``k7 = f(t + dt, x_next)`` is the
    next step's first stage (first same as last).
    """
    ks = [k1]
    for i in range(1, 6):
        xi = x
        for a, k in zip(A[i], ks):
            if a != 0.0:
                xi = xi + (a * dt) * k
        ks.append(terms.drift(t + C[i] * dt, xi))
    x_next = x
    for b, k in zip(B, ks):
        if b != 0.0:
            x_next = x_next + (b * dt) * k
    k7 = terms.drift(t + dt, x_next)
    ks.append(k7)
    err = None
    for e, k in zip(E, ks):
        if e != 0.0:
            err = (e * dt) * k if err is None else err + (e * dt) * k
    return x_next, err, k7


def dopri5_rule(terms, t, dt, x, dw, aux):
    return dopri5_step(terms, t, dt, x, terms.drift(t, x))[0]


def dopri5_rule_with_error(terms, t, dt, x, dw, aux):
    x_next, err, _ = dopri5_step(terms, t, dt, x, terms.drift(t, x))
    return x_next, err


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

    def __init__(self, rtol=None, atol=None, max_steps=None, safety=None):
        self.rtol, self.atol, self.max_steps, self.safety = rtol, atol, max_steps, safety

    def initial_carry(self, terms, t, x):
        return terms.drift(t, x)

    def adaptive_step(self, terms, t, dt, x, dw, aux, carry):
        k1 = terms.drift(t, x) if carry is None else carry
        return dopri5_step(terms, t, dt, x, k1)

    def __repr__(self):
        return "Dopri5()"
