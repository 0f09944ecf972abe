r"""The sampling problem in log-SNR time: the data-prediction form every fast sampler integrates.

A linear forward process ``x_t = m_t x_0 + c_t + s_t ε`` is, in the *scaled* state
:math:`y = (x - c_t)/m_t = x_0 + σ ε` with :math:`σ = s_t/m_t`, one and the same process for
VE, VP, sub-VP, OU and EDM, run on its own clock (Karras et al. 2022, Sec. 4). In the log-SNR
:math:`λ = -\log σ` (increasing as noise is removed) its probability-flow ODE is

.. math::  \frac{dy}{dλ} = D(λ, y) - y,\qquad D(λ, y) = E[x_0 \mid y] = y + σ^2 m_t\,\nabla\log p_t(m_t y + c_t),

semilinear with the denoiser as its only nonlinearity: the form DDIM, DPM-Solver(++), UniPC
and EDM's Heun integrate (Lu et al. 2022, eq. 9 with :math:`α_t y = x`). Anderson's reverse SDE
and its family of the same marginals are, with :math:`η \ge 0`,

.. math::  dy = (1 + η^2)\,(D - y)\,dλ + η\sqrt 2\, e^{-λ}\, dW_λ

(``η = 0``: the ODE; ``η = 1``: the reverse SDE, DDPM's ancestral limit). Its linear part
integrates exactly over a step ``h``: :math:`y' = e^{-(1+η^2)h} y + \int (1+η^2) e^{-(1+η^2)(λ'-u)} D\,du
+ σ' \sqrt{1 - e^{-2η^2 h}}\, z`, which is where the samplers' coefficients come from.

:func:`logsnr_problem` builds this problem as an :class:`sdekit.ODE` (``eta=0``) or an additive
:class:`sdekit.SDE`; the samplers of ``sdekit_diffusion`` (:class:`~sdekit_diffusion.DDIM`,
:class:`~sdekit_diffusion.DPMSolver`, ...) recover ``D = y + drift/(1 + η²)`` from its drift, so
``sk.solve(problem, ..., method="rk4")`` solves the same equation with a generic rule.

>>> import sdekit as sk, sdekit_scores as sks
>>> from sdekit_diffusion import VPSDE
>>> vp, data = VPSDE(), sks.Gaussian([1.0], [[0.25]])
>>> prob = logsnr_problem(vp, data.perturbed(vp))
>>> lam0, lam1 = prob.logsnr(1.0), prob.logsnr(1e-3)
>>> y = sk.solve(prob, prob.to_scaled(1.0, vp.prior_sample(4000, 1, seed=0)), (lam0, lam1), n_steps=50,
...              method="rk4").ys[-1]
>>> x = prob.from_scaled(1e-3, y)
>>> round(float(x.mean()), 1), round(float(x.std()), 1)
(1.0, 0.5)
"""

from __future__ import annotations

import math

import numpy as np

import sdekit as sk
from sdekit.testing.problems import check_real
from sdekit_scores import as_score

from .sdes import LinearSDE, scalar_marginal


def scaled_sigma(forward, t):
    r"""EDM's noise level :math:`σ_t = s_t/m_t` of ``forward`` at forward time ``t`` (closed form when it has one)."""
    fn = getattr(forward, "scaled_sigma", None)
    if fn is not None:
        return float(fn(float(t)))
    m, s, _ = scalar_marginal(forward, t)
    return s / m


def time_at(forward, sigma):
    r"""The forward time with :math:`s_t/m_t = σ` (``forward.time_at`` or Brent's method on the marginals)."""
    fn = getattr(forward, "time_at", None)
    if fn is not None:
        return float(fn(float(sigma)))

    class _Shim(LinearSDE):  # reuse the generic inversion for any object with marginal() and T
        def __init__(self):
            self.T = float(getattr(forward, "T", 1.0))

        def scaled_sigma(self, t):
            m, s, _ = scalar_marginal(forward, t)
            return s / m

    return LinearSDE.time_at(_Shim(), sigma)


class _Denoiser:
    """``D(t, x)`` (x̂₀ in unscaled coordinates) of a score for a linear forward process, and the maps in between."""

    def __init__(self, forward, score):
        self.forward, self.score, self._cache = forward, as_score(score), {}

    def at_sigma(self, sigma):
        """``(t, m_t, s_t, c_t)`` at the scaled noise level ``σ`` (cached: a grid's levels recur)."""
        sigma = float(sigma)
        hit = self._cache.get(sigma)
        if hit is None:
            t = time_at(self.forward, sigma)
            hit = self._cache[sigma] = (t,) + scalar_marginal(self.forward, t)
            if len(self._cache) > 4096:
                self._cache.clear()
        return hit

    def denoise(self, t, x):
        d = self.score.denoise(t, x)
        if d is not None:
            return d
        m, s, c = scalar_marginal(self.forward, t)
        num = x + self.score(t, x) * (s * s)
        return (num - c if c else num) * (1.0 / m)

    def scaled(self, sigma, y):
        """``D`` as a function of the scaled state ``y`` at level ``σ``: one score evaluation."""
        t, m, _, c = self.at_sigma(sigma)
        return self.denoise(t, y * m + c if c else y * m)

    def to_scaled(self, t, x):
        m, _, c = scalar_marginal(self.forward, t)
        return (x - c if c else x) * (1.0 / m)

    def from_scaled(self, t, y):
        m, _, c = scalar_marginal(self.forward, t)
        return y * m + c if c else y * m


def _finish(problem, core, eta, gain, variable):
    problem.forward, problem.score, problem.eta, problem.gain = core.forward, core.score, eta, gain
    problem.denoise, problem.variable = core.denoise, variable
    problem.logsnr = lambda t: -math.log(scaled_sigma(core.forward, t))
    return problem


def logsnr_problem(forward, score, *, eta=0.0):
    r"""The sampling problem in ``(λ, y)`` (module docstring): an :class:`sdekit.ODE` for ``eta=0``, else an SDE.

    ``forward``: a linear forward process with scalar marginals; ``score``: ``(t, x) -> ∇log p_t(x)`` in
    forward time and unscaled ``x``, or an adapter with a data prediction
    (:meth:`sdekit_scores.Score.denoise`, used directly when present). The returned problem carries
    ``forward``, ``score``, ``eta``, ``gain = 1 + eta²``, and the maps :meth:`logsnr` (t → λ),
    ``time(λ)`` (λ → t), ``to_scaled(t, x)``, ``from_scaled(t, y)`` and ``denoise(t, x)`` (x̂₀ in
    unscaled coordinates). ``drift(λ, y)`` calls the score once.
    """
    eta = check_real("eta", eta, low=0.0)
    core = _Denoiser(forward, score)
    gain = 1.0 + eta * eta

    def drift(lam, y):
        return (core.scaled(math.exp(-float(lam)), y) - y) * gain

    if eta == 0.0:
        problem = sk.ODE(drift)
    else:
        r2 = math.sqrt(2.0) * eta
        problem = sk.SDE(drift, lambda lam, y: 0.0 * y + r2 * math.exp(-float(lam)), noise="diagonal",
                         calculus="ito", additive=True)
    problem.to_scaled, problem.from_scaled = core.to_scaled, core.from_scaled
    problem.time = lambda lam: core.at_sigma(math.exp(-float(lam)))[0]
    problem.is_logsnr_problem = True
    return _finish(problem, core, eta, gain, "logsnr")


def sigma_problem(forward, score, *, eta=0.0):
    r"""The sampling problem in EDM's variable: time ``τ = −σ`` (increasing), state ``y = (x − c_t)/m_t``.

    .. math::  dy = (1 + η^2)\,\frac{D(σ, y) - y}{σ}\,dτ + η\sqrt{2σ}\;dW_τ,\qquad σ = -τ

    (the log-SNR problem with ``dλ = dτ/σ``; ``η = 0``: Karras et al.'s ODE ``dy/dσ = (y − D)/σ``).
    Generic ODE rules are well posed here at any step: Euler is DDIM, Heun is EDM's
    deterministic sampler, and every Runge–Kutta rule is exact for a point mass (the solution is
    linear in σ). ``to_state(t, x)`` / ``from_state(t, y)`` map the unscaled state.
    """
    eta = check_real("eta", eta, low=0.0)
    core = _Denoiser(forward, score)
    gain = 1.0 + eta * eta

    def drift(tau, y):
        sigma = -float(tau)
        return (core.scaled(sigma, y) - y) * (gain / sigma)

    if eta == 0.0:
        problem = sk.ODE(drift)
    else:
        problem = sk.SDE(drift, lambda tau, y: 0.0 * y + eta * math.sqrt(2.0 * max(-float(tau), 0.0)),
                         noise="diagonal", calculus="ito", additive=True)
    problem.to_state, problem.from_state = core.to_scaled, core.from_scaled
    problem.clock = lambda sigmas: -np.asarray(sigmas, dtype=np.float64)
    return _finish(problem, core, eta, gain, "sigma")


def integrating_factor_problem(forward, score, *, eta=1.0):
    r"""The log-SNR problem with its linear part factored out: state ``z = e^{gλ} y``, ``g = 1 + η²``.

    .. math::  dz = g\,e^{gλ} D(λ, e^{-gλ} z)\,dλ + η\sqrt 2\, e^{(g-1)λ}\, dW_λ

    (Lawson's integrating factor). The stiff ``−g y`` of the log-SNR problem is gone, so a
    generic explicit rule (Euler–Maruyama, stochastic Heun) stays stable at any step: for a
    point mass it is exact, and on Gaussian data its amplification per step is at most 1.
    ``to_state(t, x)`` / ``from_state(t, z)`` map the unscaled state.
    """
    eta = check_real("eta", eta, low=0.0)
    core = _Denoiser(forward, score)
    gain = 1.0 + eta * eta

    def drift(lam, z):
        lam = float(lam)
        f = math.exp(gain * lam)
        return core.scaled(math.exp(-lam), z * (1.0 / f)) * (gain * f)

    if eta == 0.0:
        problem = sk.ODE(drift)
    else:
        r2 = math.sqrt(2.0) * eta
        problem = sk.SDE(drift, lambda lam, z: 0.0 * z + r2 * math.exp((gain - 1.0) * float(lam)), noise="diagonal",
                         calculus="ito", additive=True)

    def to_state(t, x):
        return core.to_scaled(t, x) * math.exp(gain * problem.logsnr(t))

    def from_state(t, z):
        return core.from_scaled(t, z * math.exp(-gain * problem.logsnr(t)))

    problem.to_state, problem.from_state = to_state, from_state
    problem.clock = lambda sigmas: -np.log(np.asarray(sigmas, dtype=np.float64))
    return _finish(problem, core, eta, gain, "logsnr")


__all__ = ["logsnr_problem", "sigma_problem", "integrating_factor_problem", "scaled_sigma", "time_at"]
