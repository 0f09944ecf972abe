"""Rößler's SRIW1: strong order 1.5 for Itô SDEs with scalar or diagonal noise, with the space-time Lévy area."""

from .base import Solver
from .iterated import iterated_integrals  # noqa: F401  (also part of this module's surface)

# SRIW1 (Rößler 2010; the coefficients as tabulated by StochasticDiffEq.jl). Stage i has drift
# time c0[i] and diffusion time c1[i]; rows list the nonzero A/B coefficients of earlier stages.
C0 = (0.0, 0.75, 0.0, 0.0)
C1 = (0.0, 0.25, 1.0, 0.25)
A0 = ((), (0.75,), (0.0, 0.0), (0.0, 0.0, 0.0))
A1 = ((), (0.25,), (1.0, 0.0), (0.0, 0.0, 0.25))
B0 = ((), (1.5,), (0.0, 0.0), (0.0, 0.0, 0.0))
B1 = ((), (0.5,), (-1.0, 0.0), (-5.0, 3.0, 0.5))
ALPHA = (1.0 / 3.0, 2.0 / 3.0, 0.0, 0.0)
BETA1 = (-1.0, 4.0 / 3.0, 2.0 / 3.0, 0.0)
BETA2 = (-1.0, 4.0 / 3.0, -1.0 / 3.0, 0.0)
BETA3 = (2.0, -4.0 / 3.0, -2.0 / 3.0, 0.0)
BETA4 = (-2.0, 5.0 / 3.0, -2.0 / 3.0, 1.0)


def _sriw1(terms, t, dt, x, dw):
    i1, i11, i10, i111 = iterated_integrals(dw, dt)
    sq = dt**0.5
    fs, gs = [], []
    for i in range(4):
        h0 = x
        h1 = x
        for j in range(i):
            if A0[i][j] != 0.0:
                h0 = h0 + (A0[i][j] * dt) * fs[j]
            if A1[i][j] != 0.0:
                h1 = h1 + (A1[i][j] * dt) * fs[j]
            if B0[i][j] != 0.0:
                h0 = h0 + B0[i][j] * terms.noise(gs[j], i10)
            if B1[i][j] != 0.0:
                h1 = h1 + (B1[i][j] * sq) * gs[j]
        fs.append(terms.drift(t + C0[i] * dt, h0) if i < 2 else fs[0])  # alpha_3 = alpha_4 = 0: no drift needed
        gs.append(terms.diffusion(t + C1[i] * dt, h1))
    drift = (ALPHA[0] * dt) * fs[0] + (ALPHA[1] * dt) * fs[1]
    noise_m, noise_h = None, None  # the Milstein-order terms and the order-1.5 terms
    for i in range(4):
        low = terms.noise(gs[i], BETA1[i] * i1 + BETA2[i] * i11)
        high = terms.noise(gs[i], BETA3[i] * i10 + BETA4[i] * i111)
        noise_m = low if noise_m is None else noise_m + low
        noise_h = high if noise_h is None else noise_h + high
    return x + drift + noise_m + noise_h, drift - dt * fs[0] + noise_h


def sriw1_step(terms, t, dt, x, dw, aux):
    return _sriw1(terms, t, dt, x, dw)[0]


def sriw1_with_error(terms, t, dt, x, dw, aux):
    return _sriw1(terms, t, dt, x, dw)


class SRI(Solver):
    r"""Rößler's SRIW1 for Itô SDEs with scalar or diagonal noise: strong order 1.5, weak order 2.

    A four-stage stochastic Runge–Kutta method on the iterated integrals
    :math:`I_{(1)} = ΔW`, :math:`I_{(1,1)} = (ΔW^2 - h)/2`,
    :math:`I_{(1,1,1)} = (ΔW^3 - 3hΔW)/6` and :math:`I_{(1,0)} = h(H + ΔW/2)` (``H`` the
    space-time Lévy area, drawn exactly by the Brownian tree):

    .. math::
        H^{(0)}_i = x + \sum_j A^{(0)}_{ij} f_j h + \sum_j B^{(0)}_{ij} g_j I_{(1,0)}/h,\qquad
        H^{(1)}_i = x + \sum_j A^{(1)}_{ij} f_j h + \sum_j B^{(1)}_{ij} g_j \sqrt h,\\
        x_{k+1} = x + \sum_i α_i f_i h + \sum_i g_i\big(β^{(1)}_i I_{(1)} + β^{(2)}_i I_{(1,1)}/\sqrt h
                  + β^{(3)}_i I_{(1,0)}/h + β^{(4)}_i I_{(1,1,1)}/h\big),

    with :math:`f_i = f(t + c^{(0)}_i h, H^{(0)}_i)`, :math:`g_i = g(t + c^{(1)}_i h, H^{(1)}_i)` and the
    SRIW1 coefficients (``C0 … BETA4`` in this module). Diagonal noise needs ``g_i``
    to depend on ``x_i`` only (commutative; ``solve`` checks). Two drift and four
    diffusion evaluations per step. Adaptive (``adaptive=True``): Rackauckas & Nie's
    estimate, the order-1.5 part of the step
    :math:`\sum_i α_i f_i h - f_1 h + \sum_i g_i(β^{(3)}_i I_{(1,0)}/h + β^{(4)}_i I_{(1,1,1)}/h)`.

    Reference: A. Rößler, "Runge–Kutta methods for the strong approximation of
    solutions of stochastic differential equations", *SIAM J. Numer. Anal.* 48 (2010);
    C. Rackauckas & Q. Nie, *DCDS-B* 22 (2017).

    >>> import sdekit as sk
    >>> p = sk.testing.problems.gbm()
    >>> sk.solve(p.sde, p.x0, p.t_span, n_steps=32, n_paths=4, method="sri").ys.shape
    (2, 4, 1)
    """

    name = "sri"
    ode_counterpart = "heun"
    calculus = "ito"
    noise_types = frozenset({"diagonal", "scalar"})
    strong_order = {"general": 1.5}
    weak_order = {"general": 2.0}
    nfe_per_step = 6
    levy_area = "space-time"
    rule = staticmethod(sriw1_step)
    error_estimate = True
    error_order = 0.5
    rule_with_error = staticmethod(sriw1_with_error)
    checks_coupling = True
