r"""UniPC (Zhao, Bai, Rao, Zhou & Lu, NeurIPS 2023, arXiv:2302.04867): unified predictor–corrector, data prediction."""

from __future__ import annotations

import math

import numpy as np

from sdekit.errors import InvalidArgumentError

from .dataprediction import LogSNRSolver, check_flag, check_order, phi


def _coefficients(rks, h, variant, solve_all):
    r"""UniPC's ``ρ`` from the ratios ``r_m`` (last entry 1): ``R ρ = b`` with ``R_{jm} = r_m^{j-1}``,
    ``b_j = j!\,(-h) φ_{j+1}(-h) / B(h)``, ``B = −h`` (``bh1``) or ``e^{−h} − 1`` (``bh2``).

    ``solve_all`` (corrector): the full system; otherwise the predictor's, without the last row
    and column (and Zhao et al.'s ρ = 1/2 at order 2)."""
    hh = -h
    B = hh if variant == "bh1" else math.expm1(hh)
    p = len(rks)
    R = np.array([[r ** j for r in rks] for j in range(p)], dtype=np.float64)
    b = np.array([math.factorial(j) * hh * phi(j + 1, hh) / B for j in range(1, p + 1)], dtype=np.float64)
    if solve_all:
        return (np.array([0.5]) if p == 1 else np.linalg.solve(R, b)), B
    if p == 1:
        return np.zeros(0), B
    if p == 2:
        return np.array([0.5]), B
    return np.linalg.solve(R[:-1, :-1], b[:-1]), B


class UniPC(LogSNRSolver):
    r"""UniP-p predictor with the UniC corrector, in data prediction ("UniPC-p", B(h) variants bh1/bh2; p = 1, 2, 3).

    With the data predictions ``D_0 = D(λ_0, y_0)`` and earlier ``D_m`` at ``λ_m`` (``m = 1, …, p − 1``),
    ``r_m = (λ_m − λ_0)/h`` (negative) and ``Δ_m = (D_m − D_0)/r_m``, the predictor from ``λ_0`` to
    ``λ_0 + h`` is

    .. math::  y^{pred} = e^{-h} y_0 + (1 - e^{-h}) D_0 - B(h) \sum_{m=1}^{p-1} ρ^p_m Δ_m

    (order ``p``; DDIM for ``p = 1``). At the next step the new evaluation ``D_t = D(λ_0 + h, y^{pred})``,
    needed anyway, corrects the state the next predictor starts from:

    .. math::  y^{c} = e^{-h} y_0 + (1 - e^{-h}) D_0 - B(h)\Big(\sum_{m=1}^{p-1} ρ^c_m Δ_m + ρ^c_p (D_t - D_0)\Big),

    raising the order to ``p + 1`` without another evaluation (Zhao et al., Thm 3.1/3.3). The corrector's
    order is the predictor's (the paper's UniPC-p) unless ``corrector_order`` caps it:
    ``order=2, corrector_order=1`` (UniP-2 with the two-point UniC-1, ``ρ^c = 1/2``: a multistep
    predictor with an exponential trapezoidal corrector, global order 2) extrapolates least and
    measured best at 10 NFE in ``benchmarks/diffusion_nfe.py`` (docs/diffusion.md).
    ``ρ`` solve ``Σ_m ρ_m r_m^{j−1} = j!\,h φ_{j+1}(h)/B(h)`` (with ``−h`` in data prediction),
    ``ρ^p = 1/2`` at ``p = 2``, ``ρ^c = 1/2`` at ``p = 1``; ``B(h) = −h`` (``variant="bh1"``) or
    ``e^{−h} − 1`` (``"bh2"``). Warm-up and ``lower_order_final`` as in
    :class:`~sdekit_diffusion.DPMSolver`; the last predicted state is returned uncorrected (a
    final denoising step evaluates at it). One score evaluation per step; history
    ``(λ_m, D_m)``, the last start point and its order live in the carry.

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VPSDE, logsnr_problem
    >>> vp, data = VPSDE(), sks.Gaussian([1.0], [[0.25]])
    >>> prob = logsnr_problem(vp, data.perturbed(vp))
    >>> y = sk.solve(prob, prob.to_scaled(1.0, vp.prior_sample(4000, 1, seed=0)), (prob.logsnr(1.0), prob.logsnr(1e-3)),
    ...              n_steps=20, method=UniPC(order=3, n_steps=20)).ys[-1]
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (1.0, 0.5)
    """

    name = "unipc"
    weak_order = {"ode": 4.0}

    def __init__(self, order=2, *, variant="bh2", corrector=True, corrector_order=None, n_steps=None,
                 then_denoise=False, lower_order_final=True):
        self.order = check_order(order)
        self.corrector_order = None if corrector_order is None else check_order(corrector_order)
        if variant not in ("bh1", "bh2"):
            raise InvalidArgumentError(f'variant must be "bh1" or "bh2"; got {variant!r}')
        self.variant, self.corrector = variant, check_flag("corrector", corrector)
        self._init_common(n_steps, then_denoise, check_flag("lower_order_final", lower_order_final))

    def init_carry(self, terms, t, x):
        return 0, (), None  # step index, history ((λ_m, D_m), ...) newest first, (y_0, λ_0, order) of the last step

    @staticmethod
    def _base(y0, D0, h):
        return y0 * math.exp(-h) + D0 * (h * phi(1, -h))

    def step_carry(self, terms, t, dt, x, dw, aux, carry):
        return self._step(terms, t, dt, x, carry)

    def _correct(self, D_t, t, hist, last):
        y0, lam0, p = last
        if self.corrector_order is not None:
            p = min(self.corrector_order, len(hist))
        h = t - lam0
        (_, D0), older = hist[0], hist[1:p]
        rks = [(lam_m - lam0) / h for lam_m, _ in older] + [1.0]
        rho, B = _coefficients(rks, h, self.variant, solve_all=True)
        corr = (D_t - D0) * float(rho[-1])
        for (lam_m, D_m), r, c in zip(older, rks, rho[:-1]):
            corr = corr + (D_m - D0) * (float(c) / r)
        return self._base(y0, D0, h) - corr * B

    def _step(self, terms, t, dt, x, carry):
        i, hist, last = carry
        D_t = self.denoised(terms, t, x)
        if last is not None and self.corrector:
            x = self._correct(D_t, t, hist, last)
        hist = ((t, D_t),) + hist[:2]
        p = min(self.order_at(i), len(hist))
        h = dt
        y = self._base(x, D_t, h)
        if p > 1:
            older = hist[1:p]
            rks = [(lam_m - t) / h for lam_m, _ in older] + [1.0]
            rho, B = _coefficients(rks, h, self.variant, solve_all=False)
            pred = None
            for (lam_m, D_m), r, c in zip(older, rks, rho):
                term = (D_m - D_t) * (float(c) / r)
                pred = term if pred is None else pred + term
            y = y - pred * B
        return y, (i + 1, hist, (x, t, p))


__all__ = ["UniPC"]
