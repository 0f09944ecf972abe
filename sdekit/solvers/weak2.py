"""Platen's explicit weak order 2.0 scheme for Itô SDEs with general (non-commutative) noise."""

from .base import Solver


def platen_weak2_step(terms, t, dt, x, dw, aux):
    # Kloeden & Platen (1992), (15.1.5), with R-supports at t + dt for time-dependent coefficients.
    a = terms.drift(t, x)
    g = terms.diffusion(t, x)  # (n, d, m); (n, d) for scalar and diagonal noise
    sq = dt**0.5
    ups = x + a * dt + terms.noise(g, dw)
    out = x + (0.5 * dt) * (terms.drift(t + dt, ups) + a)
    shifted = x + a * dt
    if len(g.shape) == 2:
        # Scalar noise, or diagonal noise with g_i(x_i): every cross term vanishes and the scheme is the
        # scalar one, component by component (three diffusion evaluations).
        rp = terms.diffusion(t + dt, shifted + g * sq)
        rm = terms.diffusion(t + dt, shifted - g * sq)
        return out + 0.25 * (rp + rm + 2.0 * g) * dw + (0.25 / sq) * (rp - rm) * (dw * dw - dt)
    m = dw.shape[1]
    signs = aux[0] if m > 1 else None  # two-point variables V_{r,j} = +-dt from the signs of auxiliary normals
    for j in range(m):
        gj = g[:, :, j]
        dwj = dw[:, j:j + 1]
        rp = terms.diffusion(t + dt, shifted + gj * sq)[:, :, j]
        rm = terms.diffusion(t + dt, shifted - gj * sq)[:, :, j]
        out = out + 0.25 * (rp + rm + 2.0 * gj) * dwj + (0.25 / sq) * (rp - rm) * (dwj * dwj - dt)
    for r in range(m if m > 1 else 0):
        gr = g[:, :, r]
        up = terms.diffusion(t, x + gr * sq)
        um = terms.diffusion(t, x - gr * sq)
        dwr = dw[:, r:r + 1]
        for j in range(m):
            if j == r:
                continue
            # V_{r,j} for r < j from the sign of one normal; V_{j,r} = -V_{r,j}
            k = r * m + j if r < j else j * m + r
            s = signs[:, k:k + 1]
            v = dt * (2.0 * (s > 0.0) - 1.0)
            v = v if r < j else -v
            dwj = dw[:, j:j + 1]
            out = out + 0.25 * (up[:, :, j] + um[:, :, j] - 2.0 * g[:, :, j]) * dwj \
                + (0.25 / sq) * (up[:, :, j] - um[:, :, j]) * (dwj * dwr + v)
    return out


class Weak2(Solver):
    r"""Platen's explicit weak order 2.0 scheme (Itô, any noise type, non-commutative included).

    With :math:`a = f(t, x)`, :math:`b^j = g(t, x)_{:, j}`, :math:`\bar Υ = x + aΔ + \sum_j b^j ΔW^j`,
    :math:`R^j_\pm = x + aΔ \pm b^j\sqrt Δ` (evaluated at :math:`t + Δ`) and
    :math:`U^r_\pm = x \pm b^r\sqrt Δ`:

    .. math::
        x_{k+1} = x + \tfrac12\big(a(\bar Υ) + a\big)Δ
        + \tfrac14\sum_j\Big[\big(b^j(R^j_+) + b^j(R^j_-) + 2b^j\big)ΔW^j
          + \sum_{r \ne j}\big(b^j(U^r_+) + b^j(U^r_-) - 2b^j\big)ΔW^j\Big] \\
        + \tfrac{1}{4\sqrt Δ}\sum_j\Big[\big(b^j(R^j_+) - b^j(R^j_-)\big)\big((ΔW^j)^2 - Δ\big)
          + \sum_{r \ne j}\big(b^j(U^r_+) - b^j(U^r_-)\big)\big(ΔW^jΔW^r + V_{r,j}\big)\Big],

    where :math:`V_{r,j} = -V_{j,r}` are independent two-point variables, :math:`\pm Δ`
    with probability 1/2 (signs of auxiliary normals; ``n_aux = 1``), standing in for
    the Lévy areas, which a weak scheme needs only in distribution. Weak order 2 for
    smooth coefficients; strong order 0.5 (1.0 for commutative noise). Scalar and diagonal noise (``g_i(x_i)``:
    ``solve`` checks) need no cross terms: the scheme is then the scalar one per
    component. Evaluations per step: 2 drift and ``1 + 4m`` diffusion for general
    noise with ``m > 1``, 2 drift and 3 diffusion otherwise.

    Reference: Kloeden & Platen, *Numerical Solution of SDEs* (1992), §15.1, (15.1.5);
    E. Platen, *Math. Comput. Simul.* 38 (1995).
    """

    name = "weak2"
    ode_counterpart = "heun"
    calculus = "ito"
    strong_order = {"general": 0.5, "commutative": 1.0}
    weak_order = {"general": 2.0}
    nfe_per_step = 5
    n_aux = 1
    rule = staticmethod(platen_weak2_step)
    checks_coupling = True

    def aux_dim(self, d, m):
        return m * m

    def prepare(self, sde):
        if sde.noise == "general" and (sde.brownian_dim or 1) > 1:
            return self.bound(nfe_per_step=3 + 4 * sde.brownian_dim)
        return self.bound(n_aux=0, nfe_per_step=5)

    def fused_rule(self):
        return None  # it slices g by column: runs on the shared loop
