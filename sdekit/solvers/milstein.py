"""Milstein's scheme: diagonal and scalar noise, and general noise declared commutative; Itô and Stratonovich."""

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


def milstein_commutative_ito_step(terms, t, dt, x, dw, aux):
    # Kloeden-Platen's derivative-free form with one support point per noise column j,
    # Y_j = x + f dt + g_j sqrt(dt):  (G(Y_j) - G) / sqrt(dt) ~ L^j G. Commutativity turns the
    # double integrals into (dW_j dW_k - delta_jk dt) / 2, which has mean zero, so the
    # O(sqrt(dt)) error of the one-sided difference keeps strong order 1.
    f = terms.drift(t, x)
    g = terms.diffusion(t, x)
    sq = dt**0.5
    base = x + f * dt
    out = base + terms.noise(g, dw)
    m = dw.shape[1]
    for j in range(m):
        dgj = terms.diffusion(t, base + g[:, :, j] * sq) - g
        prod = dw * dw[:, j:j + 1]
        prod[:, j] = prod[:, j] - dt
        out = out + terms.noise(dgj, prod) * (0.5 / sq)
    return out


def milstein_commutative_stratonovich_step(terms, t, dt, x, dw, aux):
    # 1/2 sum_jk L^j g_k dW_j dW_k = 1/2 D(G dW)[G dW]: a central difference along v = G dW
    # (error O(|dW|^4): the strong order stays 1) -- two extra evaluations whatever m is.
    f = terms.drift(t, x)
    g = terms.diffusion(t, x)
    v = terms.noise(g, dw)
    g_plus = terms.diffusion(t, x + 0.5 * v)
    g_minus = terms.diffusion(t, x - 0.5 * v)
    return x + f * dt + v + 0.5 * terms.noise(g_plus - g_minus, dw)


class Milstein(Solver):
    r"""Milstein's scheme (strong order 1.0, weak order 1).

    Itô form:
    .. math:: x_{k+1} = x_k + fΔt + gΔW + \tfrac12 (L^1 g)\,(ΔW^2 - Δt),
    Stratonovich form: the same with :math:`ΔW^2` in place of :math:`ΔW^2 - Δt`,
    where :math:`(L^j g)_i = \sum_l g_{lj}\, ∂g_i/∂x_l`. It follows the calculus the
    SDE declares. Noise: scalar, diagonal (``g_i`` must depend on ``x_i`` only — the
    rule's assumption; ``solve`` checks it once), and general noise declared
    commutative (``sk.SDE(..., noise="general", commutative=True)``, i.e.
    :math:`L^j g_k = L^k g_j`), where
    :math:`x_{k+1} = x_k + fΔt + GΔW + \tfrac12\sum_{j,k} L^j g_k (ΔW_jΔW_k - δ_{jk}Δt)` (Itô).

    **How** :math:`L g` **is obtained.** By default derivative-free. Itô,
    diagonal/scalar: one extra diffusion evaluation at the support value
    :math:`\bar x = x + fΔt + g\sqrt{Δt}`, :math:`L^1 g ≈ (g(t, \bar x) - g(t, x))/\sqrt{Δt}`
    (Kloeden & Platen 1992, §11.1); its O(√Δt) error multiplies the mean-zero
    :math:`ΔW^2 - Δt`, so strong order 1.0 is kept. Stratonovich: the term
    multiplies :math:`ΔW^2` (mean Δt), so it must be accurate to O(Δt): a central
    difference (two extra evaluations). General commutative noise: Itô uses one
    support point per noise column (``1 + m`` diffusion evaluations), Stratonovich a
    central difference along :math:`GΔW` (three). Pass ``gdg=callable``
    (``(t, x) -> (n, d)``, the exact :math:`L^1 g`, diagonal/scalar noise) to use the
    analytic term instead. Evaluations per step: 3 (Itô), 4 (Stratonovich),
    3 with ``gdg``; ``2 + m`` / 4 for general commutative noise.

    Reference: G. N. Milstein, *Theory Probab. Appl.* 19 (1974);
    Kloeden & Platen (1992), §10.3, §11.1 and §11.3 (commutative noise).
    """

    name = "milstein"
    ode_counterpart = "euler"
    calculus = "any"
    noise_types = frozenset({"diagonal", "scalar", "general"})
    noise_classes = frozenset({"additive", "scalar", "diagonal", "commutative"})
    strong_order = {"general": 1.0}
    weak_order = {"general": 1.0}
    nfe_per_step = 3
    rule = staticmethod(milstein_ito_step)
    checks_coupling = True  # solve probes diagonal noise for g_i depending on x_j (the rule assumes g_i(x_i))

    def __init__(self, gdg=None):
        if gdg is not None and not callable(gdg):
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(f"gdg must be callable (t, x) -> (n, d); got {type(gdg).__name__}")
        self.gdg = gdg

    def prepare(self, sde):
        from ..errors import IncompatibleMethodError

        strat = sde.calculus == "stratonovich" and not sde.additive
        if sde.noise == "general":
            if not (getattr(sde, "commutative", False) or sde.additive):
                raise IncompatibleMethodError(
                    "method 'milstein' on general noise needs commutative noise (L^j g_k = L^k g_j); declare "
                    "sk.SDE(..., commutative=True) if it is, or use 'euler_maruyama', 'heun' or 'weak2'")
            if self.gdg is not None:
                raise IncompatibleMethodError("gdg= applies to diagonal and scalar noise; general noise uses "
                                              "the derivative-free commutative form")
            rule = milstein_commutative_stratonovich_step if strat else milstein_commutative_ito_step
            return self.bound(rule=rule, nfe_per_step=4 if strat else 2 + sde.brownian_dim)
        if self.gdg is not None:
            return self.bound(rule=None, nfe_per_step=3, stratonovich=strat)
        rule = milstein_stratonovich_step if strat else milstein_ito_step
        return self.bound(rule=rule, nfe_per_step=4 if strat else 3)

    def step(self, terms, t, dt, x, dw, aux):
        if self.rule is not None:
            return self.rule(terms, t, dt, x, dw, aux)
        f = terms.drift(t, x)
        g = terms.diffusion(t, x)
        sq = dw * dw if getattr(self, "stratonovich", False) else dw * dw - dt
        return x + f * dt + terms.noise(g, dw) + 0.5 * self.gdg(t, x) * sq

    def fused_rule(self):
        # The fused kernel runs diagonal/scalar rules on flat states; the commutative ones slice g by column.
        return self.rule if self.rule in (milstein_ito_step, milstein_stratonovich_step) else None

    def __repr__(self):
        return "Milstein()" if self.gdg is None else "Milstein(gdg=...)"
