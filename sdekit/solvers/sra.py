"""Rößler's SRA1: strong order 1.5 for additive noise, with the space-time Lévy area."""

from .base import Solver
from .iterated import i10_over_h


def _sra1_stages(terms, t, dt, x, dw):
    W, H = dw
    i10 = i10_over_h(W, H)  # I_(1,0) / h = (1/h) int_t^{t+h} (W_s - W_t) ds, from the space-time area
    k1 = terms.drift(t, x)
    g0 = terms.diffusion(t, x)
    g1 = terms.diffusion(t + dt, x)
    x2 = x + (0.75 * dt) * k1 + 1.5 * terms.noise(g1, i10)
    k2 = terms.drift(t + 0.75 * dt, x2)
    noise = terms.noise(g1, W - i10) + terms.noise(g0, i10)
    return k1, k2, g0, noise


def sra1_step(terms, t, dt, x, dw, aux):
    k1, k2, _, noise = _sra1_stages(terms, t, dt, x, dw)
    return x + (dt / 3.0) * (k1 + 2.0 * k2) + noise


def sra1_with_error(terms, t, dt, x, dw, aux):
    # Embedded Euler–Maruyama (strong order 1 for additive noise): f(t, x) dt + g(t) dW, from the same stages.
    k1, k2, g0, noise = _sra1_stages(terms, t, dt, x, dw)
    x_next = x + (dt / 3.0) * (k1 + 2.0 * k2) + noise
    return x_next, (dt * 2.0 / 3.0) * (k2 - k1) + noise - terms.noise(g0, dw[0])


class SRA(Solver):
    r"""Rößler's SRA1 for additive noise: strong order 1.5, weak order 2.

    With :math:`I_{(1)} = ΔW`, :math:`I_{(1,0)}/h = H + ΔW/2` (``H`` the space-time
    Lévy area of the step, drawn exactly by the Brownian tree), :math:`g_0 = g(t)`,
    :math:`g_1 = g(t + h)`:

    .. math::
        k_1 = f(t, x),\qquad
        k_2 = f\big(t + \tfrac34 h,\ x + \tfrac34 h k_1 + \tfrac32 g_1 I_{(1,0)}/h\big),\\
        x_{k+1} = x + \tfrac h3 (k_1 + 2k_2) + g_1\,(I_{(1)} - I_{(1,0)}/h) + g_0\, I_{(1,0)}/h .

    Any noise type with ``additive=True`` (``g`` may depend on t). Two drift and two
    diffusion evaluations per step. Adaptive (``adaptive=True``): the embedded
    Euler–Maruyama solution (strong order 1 here) gives the local error estimate
    :math:`\tfrac{2h}3(k_2 - k_1) + g_1(I_{(1)} - I_{(1,0)}/h) + g_0 I_{(1,0)}/h - g_0 I_{(1)}`.

    Reference: A. Rößler, "Runge–Kutta methods for the strong approximation of
    solutions of stochastic differential equations", *SIAM J. Numer. Anal.* 48
    (2010), Table 5.2 (SRA1); Rackauckas & Nie, *DCDS-B* 22 (2017) (the error estimate).

    >>> import sdekit as sk
    >>> p = sk.testing.problems.ou()
    >>> sk.solve(p.sde, p.x0, p.t_span, n_steps=32, n_paths=4, method="sra").ys.shape
    (2, 4, 1)
    """

    name = "sra"
    ode_counterpart = "heun"
    calculus = "any"
    requires = frozenset({"additive"})
    strong_order = {"additive": 1.5}
    weak_order = {"additive": 2.0}
    nfe_per_step = 4
    levy_area = "space-time"
    rule = staticmethod(sra1_step)
    error_estimate = True
    error_order = 0.5
    rule_with_error = staticmethod(sra1_with_error)
