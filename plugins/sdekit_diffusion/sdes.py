r"""Forward noising SDEs with exact marginals: VE, VP, sub-VP (Song et al., ICLR 2021) and OU.

Each is an :class:`sdekit.SDE` (diagonal noise, ``additive=True``: ``g`` depends on t
only) on ``t ∈ [0, T]`` with ``marginal(t) -> (m_t, s_t)`` such that
``x_t | x_0 ~ N(m_t x_0, s_t² I)``. Derivation: for :math:`dx = -\tfrac12 β(t) x\,dt + g(t)\,dW`
the mean solves :math:`\dot m = -\tfrac12 β m` and the variance :math:`\dot v = -β v + g^2`, so
with :math:`B(t) = \int_0^t β`

* **VE** (:math:`f = 0`, :math:`g^2 = \tfrac{d}{dt}σ^2(t)`, :math:`σ(t) = σ_{min}(σ_{max}/σ_{min})^t`):
  :math:`m_t = 1`, :math:`s_t^2 = σ(t)^2 - σ(0)^2` (exact; Song et al.'s code uses
  :math:`σ(t)` itself, which is off by :math:`σ_{min}^2`).
* **VP** (:math:`g^2 = β`, :math:`β(t) = β_{min} + t(β_{max} - β_{min})`):
  :math:`m_t = e^{-B/2}`, :math:`s_t^2 = 1 - e^{-B}`. The tutorial seed prints
  :math:`m_t = e^{-B}` (its (4.2.54)/(5.3.32)), which Monte Carlo rejects: the
  variance equation gives :math:`e^{-B}` for :math:`m_t^2`, not for :math:`m_t`.
* **sub-VP** (:math:`g^2 = β(1 - e^{-2B})`): :math:`m_t = e^{-B/2}`,
  :math:`v = e^{-B}\int_0^t β(e^{B} - e^{-B}) = (1 - e^{-B})^2`, so :math:`s_t = 1 - e^{-B}`.
* **OU** (:math:`dx = θ(μ - x)\,dt + σ\,dW`): :math:`m_t = e^{-θt}`,
  :math:`s_t^2 = σ^2(1 - e^{-2θt})/(2θ)` and a shift ``marginal_shift(t) = μ(1 - m_t)``.

``drift``/``diffusion`` use arithmetic operators only (t is a float), so they
run on every backend; ``marginal`` accepts floats, NumPy arrays and torch tensors.
``prior_sample(n, d, seed)`` draws the prior :math:`\mathcal N(0, s_T^2 I)` (VE) or
:math:`\mathcal N(0, I)` (VP, sub-VP) from :mod:`sdekit.philox` (a node id of its own,
so a solve with the same seed draws independent increments).

>>> import sdekit_diffusion as skd
>>> vp = skd.VPSDE()
>>> m, s = vp.marginal(1.0)
>>> round(float(m), 4), round(float(s), 4)
(0.0066, 1.0)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import sdekit as sk
from sdekit import philox
from sdekit.errors import InvalidArgumentError
from sdekit.testing.problems import MAX_SAMPLE_ROWS, MAX_SAMPLE_VALUES, check_real
from sdekit.validation import check_positive_int

from sdekit_scores import _arrays as Ar
from sdekit_scores.analytic import marginal_parts

_NODE_PRIOR = philox.stream_draw(philox.STREAM_PRIOR, 0)


def _check_positive(name, v):
    return check_real(name, v, low=0.0, low_open=True)


class Transition(NamedTuple):
    r"""The Gaussian transition ``x_to | x_from ~ N(a x_from + b, v I)`` of a linear forward SDE,
    with the marginals ``(m, s, c)`` at both ends (``x_t | x_0 ~ N(m_t x_0 + c_t, s_t² I)``)."""

    a: float
    b: float
    v: float
    m_from: float
    s_from: float
    c_from: float
    m_to: float
    s_to: float
    c_to: float


def scalar_marginal(forward, t):
    """``(m_t, s_t, shift_t)`` of ``forward`` at ``t`` as floats; a typed error when they are arrays."""
    parts = marginal_parts(forward, t)
    if any(p.ndim for p in parts):
        raise InvalidArgumentError(f"this sampler needs scalar marginals (m_t, s_t, shift); {type(forward).__name__}"
                                   f".marginal({t}) gave arrays of shapes {[p.shape for p in parts]}")
    return tuple(float(p) for p in parts)


def gaussian_transition(forward, t_from, t_to) -> Transition:
    r"""The exact transition of a linear forward SDE between two times, mean shift included.

    With marginals :math:`x_t \mid x_0 \sim \mathcal N(m_t x_0 + c_t,\, s_t^2 I)` (``forward.marginal``
    and, when present, ``forward.marginal_shift``; :func:`sdekit_scores.marginal_parts`) of a
    linear SDE, the process is Gauss–Markov and matching the conditional mean and variance gives

    .. math::  x_{t_1} \mid x_{t_0} \sim \mathcal N(a\,x_{t_0} + b,\; v I),\qquad
               a = m_{t_1}/m_{t_0},\quad b = c_{t_1} - a\,c_{t_0},\quad v = s_{t_1}^2 - a^2 s_{t_0}^2

    (``v`` clipped at 0 against round-off). The shift ``b`` is zero for VE, VP and sub-VP
    and ``μ(1 − a)`` for an OU process with mean ``μ``.

    >>> from sdekit_diffusion import OUSDE
    >>> tr = gaussian_transition(OUSDE(theta=1.0, mu=3.0), 0.5, 0.6)
    >>> round(tr.a, 4), round(tr.b, 4), round(tr.v, 4)     # a = e^{-0.1}, b = 3 (1 - a)
    (0.9048, 0.2855, 0.0906)
    """
    m0, s0, c0 = scalar_marginal(forward, t_from)
    m1, s1, c1 = scalar_marginal(forward, t_to)
    a = m1 / m0
    return Transition(a, c1 - a * c0, max(s1 * s1 - a * a * s0 * s0, 0.0), m0, s0, c0, m1, s1, c1)


class LinearSDE(sk.SDE):
    r"""Base class: a forward SDE ``dx = a(t) x dt + c(t) dt + g(t) dW`` with exact Gaussian transitions.

    Subclasses define ``drift_coef(t)`` (``a``), ``diffusion_coef(t)`` (``g``),
    ``marginal(t)`` and ``prior_std``; optionally ``drift_shift(t)`` (``c``) and
    ``marginal_shift(t)``.

    >>> from sdekit_diffusion import VPSDE
    >>> a, v = VPSDE().transition(0.5, 0.6)       # x_0.6 | x_0.5 ~ N(a x_0.5, v)
    >>> round(a, 4), round(v, 4)
    (0.5757, 0.6686)
    """

    T = 1.0
    prior_std = 1.0
    prior_mean = 0.0

    def __init__(self):
        super().__init__(self._drift, self._diffusion, noise="diagonal", calculus="ito", additive=True)

    def drift_shift(self, t):
        return 0.0

    def _drift(self, t, x):
        c = self.drift_shift(t)
        return self.drift_coef(t) * x + c if c else self.drift_coef(t) * x

    def _diffusion(self, t, x):
        return 0.0 * x + self.diffusion_coef(t)

    # --- the scaled noise level (EDM's sigma) and its inverse -------------------------------------------------
    def scaled_sigma(self, t):
        r"""EDM's noise level :math:`\tilde σ_t = s_t / m_t` of the scaled state ``(x_t - c_t)/m_t = x_0 + \tilde σ_t ε``.

        Every linear forward process is, in the scaled state, the same process ``x_0 + σ ε``
        run on its own clock ``σ = \tilde σ_t`` (Karras et al. 2022, Sec. 4); the log-SNR is
        ``λ_t = -log \tilde σ_t``. Subclasses give closed forms; this default divides the marginals.
        """
        m, s = (float(v) for v in self.marginal(float(t))[:2])
        return s / m

    def time_at(self, sigma):
        r"""The forward time ``t`` with ``scaled_sigma(t) = sigma`` (``\tilde σ`` increases with t).

        Default: Brent's method on ``[0, T]`` (the bracket doubled past ``T`` for a level beyond
        ``\tilde σ_T``, e.g. EDM's churn); subclasses give closed forms.
        """
        from scipy.optimize import brentq

        sigma = float(sigma)
        if not sigma > 0:
            return 0.0
        hi = float(self.T)
        while self.scaled_sigma(hi) < sigma:
            hi *= 2.0
            if hi > 1e12:
                raise InvalidArgumentError(f"no time t has scaled_sigma(t) = {sigma} for {self!r}")
        return brentq(lambda t: self.scaled_sigma(t) - sigma, 0.0, hi, xtol=1e-300, rtol=1e-15, maxiter=200)

    def transition(self, t_from, t_to):
        r"""``(a, v)`` with ``x_{t_to} | x_{t_from} ~ N(a x_{t_from} + b, v I)`` (``t_from < t_to``):
        ``a = m(t_to)/m(t_from)``, ``v = s(t_to)² − a² s(t_from)²``; the shift ``b`` and the
        marginals come with :func:`gaussian_transition`."""
        tr = gaussian_transition(self, t_from, t_to)
        return tr.a, tr.v

    def prior_sample(self, n, d, seed=0):
        """``n`` draws from the prior ``N(prior_mean, prior_std² I)``, ``(n, d)`` float64 NumPy.

        Row ``i`` is a pure function of ``(seed, i)``; at most ``2**32`` rows (the Philox
        counter's reach) and ``2**31`` values.
        """
        n, d = check_positive_int("n", n), check_positive_int("d", d)
        if n > MAX_SAMPLE_ROWS:
            raise InvalidArgumentError(f"n must be at most {MAX_SAMPLE_ROWS} (rows are Philox counter words); got {n}")
        if n * d > MAX_SAMPLE_VALUES:
            raise InvalidArgumentError(f"n * d = {n * d} values exceed {MAX_SAMPLE_VALUES} (16 GiB); draw fewer")
        z = philox.normals(philox.check_seed(seed), _NODE_PRIOR, np.arange(n, dtype=np.uint64), d)
        return self.prior_mean + self.prior_std * z

    def prior_logp(self, x):
        r""":math:`\log \mathcal N(x; \text{prior\_mean}, \text{prior\_std}^2 I)` per row, ``(n,)`` (NumPy or torch)."""
        d = x.shape[-1]
        z = (x - self.prior_mean) * (1.0 / self.prior_std)
        return -0.5 * (z * z).sum(-1) - d * (math.log(self.prior_std) + 0.5 * math.log(2 * math.pi))

    def __repr__(self):
        return f"{type(self).__name__}()"


class VESDE(LinearSDE):
    r"""Variance exploding: :math:`dx = \sqrt{\tfrac{d}{dt}σ^2(t)}\,dW`, :math:`σ(t) = σ_{min}(σ_{max}/σ_{min})^t`.

    :math:`g(t) = σ(t)\sqrt{2\ln(σ_{max}/σ_{min})}`; ``marginal(t) = (1, sqrt(σ(t)² − σ_min²))``;
    prior :math:`\mathcal N(0, (σ_{max}^2 - σ_{min}^2) I)`.

    >>> ve = VESDE(sigma_min=0.01, sigma_max=50.0)
    >>> m, s = ve.marginal(1.0)
    >>> float(m), round(float(s), 4)
    (1.0, 50.0)
    """

    def __init__(self, sigma_min=0.01, sigma_max=50.0):
        self.sigma_min = _check_positive("sigma_min", sigma_min)
        self.sigma_max = _check_positive("sigma_max", sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise InvalidArgumentError(f"sigma_max must exceed sigma_min; got {sigma_min}, {sigma_max}")
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)
        self.prior_std = math.sqrt(self.sigma_max**2 - self.sigma_min**2)
        super().__init__()

    def sigma(self, t):
        """σ(t) = σ_min (σ_max/σ_min)^t."""
        return self.sigma_min * Ar.exp(self._log_ratio * t) if not isinstance(t, float) else \
            self.sigma_min * math.exp(self._log_ratio * t)

    def drift_coef(self, t):
        return 0.0

    def diffusion_coef(self, t):
        return self.sigma(float(t)) * math.sqrt(2.0 * self._log_ratio)

    def _drift(self, t, x):
        return 0.0 * x

    def scaled_sigma(self, t):
        """``sqrt(σ(t)² − σ_min²) = σ_min sqrt(expm1(2 t ln(σ_max/σ_min)))`` (``m_t = 1``)."""
        return self.sigma_min * math.sqrt(math.expm1(2.0 * self._log_ratio * float(t)))

    def time_at(self, sigma):
        """``t = log1p((σ/σ_min)²) / (2 ln(σ_max/σ_min))``."""
        return math.log1p((float(sigma) / self.sigma_min) ** 2) / (2.0 * self._log_ratio)

    def marginal(self, t):
        s = self.sigma(t)
        return 1.0 + 0.0 * s, Ar.sqrt(s * s - self.sigma_min**2) if not isinstance(s, float) else \
            math.sqrt(max(s * s - self.sigma_min**2, 0.0))

    def __repr__(self):
        return f"VESDE(sigma_min={self.sigma_min}, sigma_max={self.sigma_max})"


class VPSDE(LinearSDE):
    r"""Variance preserving: :math:`dx = -\tfrac12β(t)x\,dt + \sqrt{β(t)}\,dW`, :math:`β(t) = β_{min} + t(β_{max}-β_{min})`.

    ``marginal(t) = (e^{-B/2}, sqrt(1 − e^{-B}))`` with :math:`B(t) = β_{min}t + \tfrac12(β_{max}-β_{min})t^2`;
    prior :math:`\mathcal N(0, I)`.

    >>> vp = VPSDE()
    >>> round(float(vp.marginal(0.5)[0]), 4)      # exp(-B(0.5)/2), B(0.5) = 2.5375
    0.2812
    """

    def __init__(self, beta_min=0.1, beta_max=20.0):
        self.beta_min = _check_positive("beta_min", beta_min)
        self.beta_max = _check_positive("beta_max", beta_max)
        super().__init__()

    def beta(self, t):
        """β(t) = β_min + t (β_max − β_min)."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def B(self, t):
        """∫_0^t β = β_min t + (β_max − β_min) t² / 2."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def drift_coef(self, t):
        return -0.5 * self.beta(t)

    def diffusion_coef(self, t):
        return math.sqrt(self.beta(float(t)))

    def t_of_B(self, B):
        """The time with ``B(t) = B`` (the positive root of ``β_min t + ½(β_max − β_min) t² = B``, cancellation-free)."""
        return 2.0 * B / (self.beta_min + math.sqrt(self.beta_min ** 2 + 2.0 * (self.beta_max - self.beta_min) * B))

    def scaled_sigma(self, t):
        """``s_t/m_t = sqrt(expm1(B(t)))``."""
        return math.sqrt(math.expm1(self.B(float(t))))

    def time_at(self, sigma):
        """``B = log1p(σ²)``, then :meth:`t_of_B`."""
        return self.t_of_B(math.log1p(float(sigma) ** 2))

    def marginal(self, t):
        B = self.B(t)
        if isinstance(B, float):
            return math.exp(-0.5 * B), math.sqrt(-math.expm1(-B))
        return Ar.exp(-0.5 * B), Ar.sqrt(1.0 - Ar.exp(-B))

    def __repr__(self):
        return f"VPSDE(beta_min={self.beta_min}, beta_max={self.beta_max})"


class SubVPSDE(VPSDE):
    r"""Sub-VP: :math:`dx = -\tfrac12β(t)x\,dt + \sqrt{β(t)(1 - e^{-2B(t)})}\,dW`.

    ``marginal(t) = (e^{-B/2}, 1 − e^{-B})`` (the variance is the square of VP's); prior
    :math:`\mathcal N(0, I)`.

    >>> sub = SubVPSDE()
    >>> round(float(sub.marginal(0.5)[1]), 4)     # 1 − exp(−2.5375)
    0.9209
    """

    def diffusion_coef(self, t):
        t = float(t)
        return math.sqrt(self.beta(t) * -math.expm1(-2.0 * self.B(t)))

    def scaled_sigma(self, t):
        """``(1 − e^{−B}) e^{B/2} = 2 sinh(B/2)``."""
        return 2.0 * math.sinh(0.5 * self.B(float(t)))

    def time_at(self, sigma):
        """``B = 2 asinh(σ/2)``, then :meth:`VPSDE.t_of_B`."""
        return self.t_of_B(2.0 * math.asinh(0.5 * float(sigma)))

    def marginal(self, t):
        B = self.B(t)
        if isinstance(B, float):
            return math.exp(-0.5 * B), -math.expm1(-B)
        return Ar.exp(-0.5 * B), 1.0 - Ar.exp(-B)

    def __repr__(self):
        return f"SubVPSDE(beta_min={self.beta_min}, beta_max={self.beta_max})"


class OUSDE(LinearSDE):
    r"""Ornstein–Uhlenbeck :math:`dx = θ(μ - x)\,dt + σ\,dW` on ``[0, T]``.

    ``marginal(t) = (e^{-θt}, σ sqrt((1 − e^{-2θt})/(2θ)))``, ``marginal_shift(t) = μ(1 − e^{-θt})``;
    prior: the stationary law :math:`\mathcal N(μ, σ^2/(2θ))`.

    >>> ou = OUSDE(theta=2.0, sigma=0.7, mu=1.0)
    >>> round(float(ou.marginal_shift(10.0)), 6), round(ou.prior_std, 4)
    (1.0, 0.35)
    """

    def __init__(self, theta=1.0, sigma=1.0, mu=0.0, T=1.0):
        self.theta = _check_positive("theta", theta)
        self.sigma_ = _check_positive("sigma", sigma)
        self.mu = check_real("mu", mu)
        self.T = _check_positive("T", T)
        self.prior_std = self.sigma_ / math.sqrt(2 * self.theta)
        self.prior_mean = self.mu
        super().__init__()

    def drift_coef(self, t):
        return -self.theta

    def drift_shift(self, t):
        return self.theta * self.mu

    def diffusion_coef(self, t):
        return self.sigma_

    def marginal(self, t):
        if isinstance(t, (int, float)):
            t = float(t)
            return math.exp(-self.theta * t), self.prior_std * math.sqrt(-math.expm1(-2 * self.theta * t))
        return Ar.exp(-self.theta * t), self.prior_std * Ar.sqrt(1.0 - Ar.exp(-2 * self.theta * t))

    def marginal_shift(self, t):
        m = self.marginal(t)[0]
        return self.mu * (1.0 - m)

    def scaled_sigma(self, t):
        """``s_t/m_t = p sqrt(expm1(2θt))`` with ``p = σ/sqrt(2θ)``."""
        return self.prior_std * math.sqrt(math.expm1(2.0 * self.theta * float(t)))

    def time_at(self, sigma):
        """``t = log1p((σ/p)²) / (2θ)``."""
        return math.log1p((float(sigma) / self.prior_std) ** 2) / (2.0 * self.theta)

    def __repr__(self):
        return f"OUSDE(theta={self.theta}, sigma={self.sigma_}, mu={self.mu}, T={self.T})"


class EDMSDE(LinearSDE):
    r"""Karras et al.'s (2022) process: :math:`x_σ = x_0 + σ ε` with :math:`σ(t) = t` on ``[0, σ_max]``.

    :math:`dx = \sqrt{2t}\,dW` (``g² = dσ²/dt``), ``marginal(t) = (1, t)``, ``T = sigma_max``,
    prior :math:`\mathcal N(0, σ_{max}^2 I)`. ``sigma_min`` is where sampling stops by default
    (``t_min``: :func:`~sdekit_diffusion.sample` uses it when ``eps`` is not given). The time is
    the noise level itself, so EDM's σ-grids are grids in t.

    >>> edm = EDMSDE()
    >>> edm.T, edm.t_min, float(edm.marginal(3.0)[1])
    (80.0, 0.002, 3.0)
    """

    def __init__(self, sigma_min=0.002, sigma_max=80.0):
        self.sigma_min = _check_positive("sigma_min", sigma_min)
        self.sigma_max = _check_positive("sigma_max", sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise InvalidArgumentError(f"sigma_max must exceed sigma_min; got {sigma_min}, {sigma_max}")
        self.T = self.prior_std = self.sigma_max
        self.t_min = self.sigma_min
        super().__init__()

    def drift_coef(self, t):
        return 0.0

    def _drift(self, t, x):
        return 0.0 * x

    def diffusion_coef(self, t):
        return math.sqrt(2.0 * max(float(t), 0.0))

    def marginal(self, t):
        if isinstance(t, (int, float)):
            return 1.0, float(t)
        return 1.0 + 0.0 * t, t + 0.0

    def scaled_sigma(self, t):
        return float(t)

    def time_at(self, sigma):
        return float(sigma)

    def __repr__(self):
        return f"EDMSDE(sigma_min={self.sigma_min}, sigma_max={self.sigma_max})"


class DiscreteVPSDE(LinearSDE):
    r"""The continuous-time VP process of a discrete DDPM schedule :math:`\bar α_0, …, \bar α_{N-1}`.

    Step ``k`` sits at ``t_k = (k + 1)/N``; :math:`\log m_t = \tfrac12\log\bar α(t)` is
    interpolated linearly in ``t`` between the steps (and from ``m_0 = 1`` at ``t = 0``), as in
    the discrete-time wrapper of DPM-Solver (Lu et al. 2022, App. of v2); ``s_t = sqrt(1 − m_t²)``,
    ``β(t) = −2 d log m/dt`` (piecewise constant), ``g = sqrt(β)``. The model of step ``k`` is
    fed the (fractional) timestep ``t N − 1`` (:meth:`timestep`); sampling stops at
    ``t_min = 1/N`` (timestep 0) by default. Build it from a diffusers scheduler with
    :meth:`from_scheduler` (see :func:`sdekit_scores.from_diffusers`, which uses the same map).

    >>> import numpy as np
    >>> betas = np.linspace(1e-4, 0.02, 1000)
    >>> fwd = DiscreteVPSDE(np.cumprod(1 - betas))
    >>> round(float(fwd.marginal(1.0)[0] ** 2), 8) == round(float(np.prod(1 - betas)), 8), fwd.timestep(0.5)
    (True, 499.0)
    """

    def __init__(self, alphas_cumprod):
        from sdekit_scores.discrete import DiscreteSchedule

        self.schedule = alphas_cumprod if isinstance(alphas_cumprod, DiscreteSchedule) else \
            DiscreteSchedule(alphas_cumprod)
        self.t_min = 1.0 / self.schedule.N
        super().__init__()

    @classmethod
    def from_scheduler(cls, scheduler):
        """From a diffusers scheduler (its ``alphas_cumprod``, or its config's betas)."""
        from sdekit_scores.discrete import DiscreteSchedule

        return cls(DiscreteSchedule.from_scheduler(scheduler))

    def beta(self, t):
        return self.schedule.beta(float(t))

    def drift_coef(self, t):
        return -0.5 * self.beta(t)

    def diffusion_coef(self, t):
        return math.sqrt(self.beta(t))

    def marginal(self, t):
        return self.schedule.marginal(t)

    def scaled_sigma(self, t):
        return self.schedule.scaled_sigma(float(t))

    def time_at(self, sigma):
        return self.schedule.time_at(float(sigma))

    def timestep(self, t):
        """The model's (fractional) timestep at forward time ``t``: ``t N − 1``."""
        return self.schedule.timestep(t)

    def __repr__(self):
        return f"DiscreteVPSDE(N={self.schedule.N})"


__all__ = ["LinearSDE", "VESDE", "VPSDE", "SubVPSDE", "OUSDE", "EDMSDE", "DiscreteVPSDE", "Transition",
           "gaussian_transition"]
