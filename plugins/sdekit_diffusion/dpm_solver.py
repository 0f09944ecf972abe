r"""DPM-Solver++ multistep (Lu, Zhou, Bao, Chen, Li & Zhu, 2022, arXiv:2211.01095), data prediction, orders 1–3."""

from __future__ import annotations

import math

from .dataprediction import LogSNRSolver, check_flag, check_order, phi


class DPMSolver(LogSNRSolver):
    r"""DPM-Solver++(kM): the exponential integrator of the data-prediction ODE with multistep differences.

    On ``dy/dλ = D(λ, y) − y`` (:func:`~sdekit_diffusion.logsnr_problem`) the step from ``λ`` to
    ``λ + h`` is exact for the linear part and integrates a polynomial in λ through the last
    ``k`` data predictions ``D_0 = D(λ, y), D_1, D_2`` (at ``λ − h_1``, ``λ − h_1 − h_2``;
    ``r_0 = h_1/h``, ``r_1 = h_2/h``):

    * order 1 (= DDIM): :math:`y' = e^{-h} y + h φ_1(-h)\,D_0`;
    * order 2 (the paper's Algorithm 2, "2M"): :math:`y' = e^{-h} y + h φ_1(-h)\,\big[(1 + \tfrac{1}{2r_0}) D_0 - \tfrac{1}{2r_0} D_1\big]`;
    * order 3 ("3M"): with :math:`d_{10} = (D_0 - D_1)/r_0`, :math:`d_{11} = (D_1 - D_2)/r_1`,
      :math:`δ_1 = d_{10} + \tfrac{r_0}{r_0 + r_1}(d_{10} - d_{11})`, :math:`δ_2 = \tfrac{d_{10} - d_{11}}{r_0 + r_1}`:
      :math:`y' = e^{-h} y + h φ_1(-h) D_0 + h φ_2(-h)\,δ_1 + h φ_3(-h)\,δ_2`

    (:math:`φ_k` of :func:`~sdekit_diffusion.dataprediction.phi`; ``h φ_1(−h) = 1 − e^{−h}``).
    Global order ``k`` in λ. The first steps warm up with orders 1, 2, and with
    ``lower_order_final`` a run of fewer than 15 steps ends with lower orders (the paper's
    recommendation; :func:`~sdekit_diffusion.dataprediction.step_order`). One score evaluation
    per step; the history lives in the carry.

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VPSDE, logsnr_problem
    >>> vp, data = VPSDE(), sks.Gaussian([1.0], [[0.25]])
    >>> prob = logsnr_problem(vp, data.perturbed(vp))
    >>> y = sk.solve(prob, prob.to_scaled(1.0, vp.prior_sample(4000, 1, seed=0)), (prob.logsnr(1.0), prob.logsnr(1e-3)),
    ...              n_steps=20, method=DPMSolver(order=3, n_steps=20)).ys[-1]
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (1.0, 0.5)
    """

    name = "dpm_solver"
    weak_order = {"ode": 3.0}

    def __init__(self, order=2, *, n_steps=None, then_denoise=False, lower_order_final=True):
        self.order = check_order(order)
        self._init_common(n_steps, then_denoise, check_flag("lower_order_final", lower_order_final))

    def init_carry(self, terms, t, x):
        return 0, ()

    def step_carry(self, terms, t, dt, x, dw, aux, carry):
        i, hist = carry
        D0 = self.denoised(terms, t, x)
        k = min(self.order_at(i), len(hist) + 1)
        h = dt
        p1 = h * phi(1, -h)
        y = x * math.exp(-h)
        if k == 1:
            y = y + D0 * p1
        elif k == 2:
            lam1, D1 = hist[0]
            r0 = (t - lam1) / h
            y = y + (D0 * (1.0 + 0.5 / r0) - D1 * (0.5 / r0)) * p1
        else:
            (lam1, D1), (lam2, D2) = hist[0], hist[1]
            r0, r1 = (t - lam1) / h, (lam1 - lam2) / h
            d10, d11 = (D0 - D1) * (1.0 / r0), (D1 - D2) * (1.0 / r1)
            dd = d10 - d11
            y = y + D0 * p1 + (d10 + dd * (r0 / (r0 + r1))) * (h * phi(2, -h)) + dd * (h * phi(3, -h) / (r0 + r1))
        return y, (i + 1, ((t, D0),) + hist[:1])


__all__ = ["DPMSolver"]
