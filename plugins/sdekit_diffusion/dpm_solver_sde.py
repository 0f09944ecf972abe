r"""DPM-Solver++(2M) SDE (Lu et al., 2022, arXiv:2211.01095, the SDE variant of Sec. 5 / App.)."""

from __future__ import annotations

import math

from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import check_real

from .dataprediction import LogSNRSolver, check_flag, phi


class DPMSolverSDE(LogSNRSolver):
    r"""Second-order multistep exponential integrator of the η-family reverse SDE (η = 1: Anderson's).

    On ``dy = g (D − y) dλ + η√2 e^{−λ} dW`` with ``g = 1 + η²``
    (:func:`~sdekit_diffusion.logsnr_problem` with ``eta``), the linear part and the noise
    integrate exactly over a step ``h`` (σ' = e^{−(λ+h)}):

    .. math::  y' = e^{-g h} y + g h φ_1(-g h)\,D_0 + c_2\,\frac{D_0 - D_1}{r_0}
                    + σ' \sqrt{1 - e^{-2η^2 h}}\; z,

    with ``D_1`` the previous step's data prediction, ``r_0 = h_1/h``, and ``c_2 = ½ g h φ_1(−g h)``
    (``solver_type="midpoint"``, the paper's) or ``g h φ_2(−g h)`` (``"heun"``); ``z = ΔW/√h``
    from the problem's Brownian path in λ. The first step (and, with ``lower_order_final``, the last
    of a short run) is first order — for η = 1 that step is DDPM's ancestral step. Strong order 1
    and weak order 2 in the data-prediction sense of the paper (exact for a point mass). One score
    evaluation per step. (k-diffusion's ``eta`` is ``η²`` here.)

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VPSDE, logsnr_problem
    >>> vp, data = VPSDE(), sks.Gaussian([1.0], [[0.25]])
    >>> prob = logsnr_problem(vp, data.perturbed(vp), eta=1.0)
    >>> y = sk.solve(prob, prob.to_scaled(1.0, vp.prior_sample(4000, 1, seed=0)), (prob.logsnr(1.0), prob.logsnr(1e-3)),
    ...              n_steps=30, method=DPMSolverSDE(n_steps=30), seed=1).ys[-1]
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)
    (1.0, 0.5)
    """

    name = "dpm_solver_sde"
    weak_order = {"additive": 2.0}
    stochastic = True
    order = 2

    def __init__(self, eta=1.0, *, solver_type="midpoint", n_steps=None, then_denoise=False, lower_order_final=True):
        self.eta = check_real("eta", eta, low=0.0, low_open=True)
        if solver_type not in ("midpoint", "heun"):
            raise InvalidArgumentError(f'solver_type must be "midpoint" or "heun"; got {solver_type!r}')
        self.solver_type = solver_type
        self._init_common(n_steps, then_denoise, check_flag("lower_order_final", lower_order_final))

    def init_carry(self, terms, t, x):
        return 0, None

    def step_carry(self, terms, t, dt, x, dw, aux, carry):
        i, last = carry
        D0 = self.denoised(terms, t, x)
        h, g, e2 = dt, self.gain, self.eta * self.eta
        gh = g * h
        y = x * math.exp(-gh) + D0 * (gh * phi(1, -gh))
        if last is not None and self.order_at(i) >= 2:
            lam1, D1 = last
            r0 = (t - lam1) / h
            c2 = 0.5 * gh * phi(1, -gh) if self.solver_type == "midpoint" else gh * phi(2, -gh)
            y = y + (D0 - D1) * (c2 / r0)
        noise = math.exp(-(t + h)) * math.sqrt(-math.expm1(-2.0 * e2 * h)) / math.sqrt(h)
        return y + dw * noise, (i + 1, (t, D0))


__all__ = ["DPMSolverSDE"]
