"""Milstein's scheme for diagonal and scalar noise, Itô and Stratonovich forms."""

import copy

from .base import Solver


def milstein_ito_step(terms, t, dt, x, dw, aux):
    f = terms.drift(t, x)
    g = terms.diffusion(t, x)
    sq = dt**0.5
    g_support = terms.diffusion(t, x + f * dt + g * sq)
    return x + f * dt + terms.noise(g, dw) + (g_support - g) * ((dw * dw - dt) / (2.0 * sq))


def milstein_stratonovich_step(terms, t, dt, x, dw, aux):
    f = terms.drift(t, x)
    g = terms.diffusion(t, x)
    half = 0.5 * dt**0.5
    # Central difference: here L^1 g multiplies dW^2, whose mean is dt, so it must be
    # accurate to O(dt) (a one-sided difference would leave an O(sqrt(dt)) global bias).
    g_plus = terms.diffusion(t, x + g * half)
    g_minus = terms.diffusion(t, x - g * half)
    return x + f * dt + terms.noise(g, dw) + (g_plus - g_minus) * ((dw * dw) / (4.0 * half))


class Milstein(Solver):
    r"""Milstein's scheme (strong order 1.0, weak order 1), diagonal and scalar noise.

    Itô form:
    .. math:: x_{k+1} = x_k + fΔt + gΔW + \tfrac12 (L^1 g)\,(ΔW^2 - Δt),
    Stratonovich form: the same with :math:`ΔW^2` in place of :math:`ΔW^2 - Δt`,
    where :math:`(L^1 g)_i = \sum_j g_j\, ∂g_i/∂x_j`. It follows the calculus the
    SDE declares.

    **How** :math:`L^1 g` **is obtained.** By default derivative-free. Itô form:
    one extra diffusion evaluation at the support value
    :math:`\bar x = x + fΔt + g\sqrt{Δt}`,
    :math:`L^1 g ≈ (g(t, \bar x) - g(t, x))/\sqrt{Δt}` (Kloeden & Platen 1992,
    §11.1, the "Runge–Kutta" Milstein scheme); its O(√Δt) error multiplies the
    mean-zero :math:`ΔW^2 - Δt`, so strong order 1.0 is kept. Stratonovich form:
    the term multiplies :math:`ΔW^2` (mean Δt), so :math:`L^1 g` must be
    accurate to O(Δt): a central difference
    :math:`(g(x + \tfrac12 g\sqrt{Δt}) - g(x - \tfrac12 g\sqrt{Δt}))/\sqrt{Δt}`
    (two extra evaluations). For diagonal noise this assumes, as Milstein's
    scheme itself does, that :math:`g_i` depends on :math:`x_i` only
    (commutative noise). Pass ``gdg=callable`` (``(t, x) -> (n, d)``, the exact
    :math:`L^1 g`) to use the analytic term instead. Evaluations per step:
    3 (Itô), 4 (Stratonovich), or 3 with ``gdg``.

    Reference: G. N. Milstein, *Theory Probab. Appl.* 19 (1974);
    Kloeden & Platen (1992), §10.3 and §11.1.
    """

    name = "milstein"
    calculus = "any"
    noise_types = frozenset({"diagonal", "scalar"})
    strong_order = 1.0
    strong_order_additive = 1.0
    weak_order = 1.0
    nfe_per_step = 3

    def __init__(self, gdg=None):
        if gdg is not None and not callable(gdg):
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(f"gdg must be callable (t, x) -> (n, d); got {type(gdg).__name__}")
        self.gdg = gdg
        self.stratonovich = False

    def prepare(self, sde):
        bound = copy.copy(self)
        bound.stratonovich = sde.calculus == "stratonovich"
        if bound.gdg is None and bound.stratonovich:
            bound.nfe_per_step = 4
        return bound

    def step(self, terms, t, dt, x, dw, aux):
        if self.gdg is None:
            rule = milstein_stratonovich_step if self.stratonovich else milstein_ito_step
            return rule(terms, t, dt, x, dw, aux)
        f = terms.drift(t, x)
        g = terms.diffusion(t, x)
        sq = dw * dw if self.stratonovich else dw * dw - dt
        return x + f * dt + terms.noise(g, dw) + 0.5 * self.gdg(t, x) * sq

    def numba_step(self):
        if self.gdg is not None:
            return None
        return milstein_stratonovich_step if self.stratonovich else milstein_ito_step
