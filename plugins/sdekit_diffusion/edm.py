r"""EDM's stochastic Heun sampler (Karras, Aittala, Aila & Laine, NeurIPS 2022, Algorithm 2)."""

from __future__ import annotations

import math

from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import check_real

from .dataprediction import LogSNRSolver


class EDMHeun(LogSNRSolver):
    r"""Heun's method in σ with Karras et al.'s churn: 2 score evaluations per step (the last may be Euler).

    The probability-flow ODE of the scaled state is :math:`dy/dσ = (y - D(y, σ))/σ`. One step of
    Algorithm 2 from ``σ = e^{-λ}`` to ``σ' = e^{-(λ+h)}``:

    1. churn: :math:`γ = \min(S_{churn}/N, \sqrt2 - 1)` if :math:`S_{tmin} \le σ \le S_{tmax}` else 0;
       :math:`\hat σ = (1 + γ)σ`, :math:`\hat y = y + \sqrt{\hat σ^2 - σ^2}\,S_{noise}\,z`
       (``z`` the step's auxiliary normal; none is drawn when ``s_churn = 0``);
    2. Euler: :math:`d = (\hat y - D(\hat y, \hat σ))/\hat σ`, :math:`y' = \hat y + (σ' - \hat σ)\,d`;
    3. Heun: :math:`d' = (y' - D(y', σ'))/σ'`, :math:`y' = \hat y + (σ' - \hat σ)(d + d')/2`.

    ``N = n_steps`` is the number of steps of the grid. ``last="euler"`` skips step 3 on the last
    step (Algorithm 2's final step to σ = 0 is Euler, i.e. a denoising step; here it lets a budget
    of ``2N − 1`` evaluations be spent exactly). Without churn: Heun's second-order method in σ
    (global order 2); with churn, a sampler of the family, first order in its noise injection.
    ``D`` comes from the log-SNR problem's drift, evaluated at ``λ̂ = −log σ̂``.

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import EDMSDE, logsnr_problem
    >>> edm, data = EDMSDE(), sks.Gaussian([1.0], [[0.25]])
    >>> prob = logsnr_problem(edm, data.perturbed(edm))
    >>> y = sk.solve(prob, edm.prior_sample(4000, 1, seed=0), (prob.logsnr(80.0), prob.logsnr(0.002)),
    ...              n_steps=20, method=EDMHeun(s_churn=10.0, n_steps=20), seed=1).ys[-1]
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (1.0, 0.5)
    """

    name = "edm"
    weak_order = {"ode": 2.0}
    nfe_per_step = 2

    def __init__(self, s_churn=0.0, s_tmin=0.0, s_tmax=math.inf, s_noise=1.0, *, n_steps=None, last="heun",
                 then_denoise=False):
        self.s_churn = check_real("s_churn", s_churn, low=0.0)
        self.s_tmin = check_real("s_tmin", s_tmin, low=0.0)
        if not (isinstance(s_tmax, (int, float)) and not isinstance(s_tmax, bool) and s_tmax == s_tmax):
            raise InvalidArgumentError(f"s_tmax must be a float (inf allowed); got {s_tmax!r}")
        if s_tmax < self.s_tmin:
            raise InvalidArgumentError(f"s_tmax must be >= s_tmin; got {s_tmax} < {s_tmin}")
        self.s_tmax = float(s_tmax)
        self.s_noise = check_real("s_noise", s_noise, low=0.0)
        if last not in ("heun", "euler"):
            raise InvalidArgumentError(f'last must be "heun" or "euler"; got {last!r}')
        self.last = last
        self._init_common(n_steps, then_denoise)
        if self.s_churn > 0 and self.n_steps is None:
            raise InvalidArgumentError("s_churn > 0 needs n_steps (the churn per step is s_churn / n_steps)")
        self.n_aux = 1 if self.s_churn > 0 else 0
        self.stochastic = False  # the churn's normals are auxiliary draws: the problem stays the ODE

    def init_carry(self, terms, t, x):
        return 0

    def step_carry(self, terms, t, dt, x, dw, aux, i):
        sigma, sigma_next = math.exp(-t), math.exp(-(t + dt))
        gamma = 0.0
        if self.s_churn > 0 and self.s_tmin <= sigma <= self.s_tmax:
            gamma = min(self.s_churn / self.n_steps, math.sqrt(2.0) - 1.0)
        lam_hat, sigma_hat, y = t, sigma, x
        if gamma > 0:
            sigma_hat = sigma * (1.0 + gamma)
            lam_hat = -math.log(sigma_hat)
            y = x + aux[0] * (math.sqrt(sigma_hat ** 2 - sigma ** 2) * self.s_noise)
        step = sigma_next - sigma_hat
        d = (y - self.denoised(terms, lam_hat, y)) * (1.0 / sigma_hat)
        y_next = y + d * step
        euler = self.last == "euler" and self.n_steps is not None and i == self.n_steps - 1
        if not euler:
            d2 = (y_next - self.denoised(terms, t + dt, y_next)) * (1.0 / sigma_next)
            y_next = y + (d + d2) * (0.5 * step)
        return y_next, i + 1


__all__ = ["EDMHeun"]
