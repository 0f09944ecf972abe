r"""Analytic test problems: SDEs with closed-form solutions and moments.

Every constructor returns a :class:`Problem` with

* ``sde`` (an :class:`sdekit.SDE` or :class:`sdekit.ODE`), ``x0`` of shape ``(d,)``, ``t_span``;
* ``exact(t, x0, w)``: the solution at time ``t`` as a function of the Brownian
  value ``w = W(t) - W(t0)`` (shape ``(n, m)``) and ``x0`` (``(n, d)`` or
  ``(d,)``), returning ``(n, d)``; ``None`` where the solution is *not* a
  function of ``W(t)`` alone (Ornstein–Uhlenbeck, Langevin);
* ``mean(t)`` and ``var(t)``: the exact componentwise mean and variance of
  ``X_t`` started at ``x0``, each an array of shape ``(d,)`` (also for d = 1);
  ``None`` where unknown;
* ``stationary``: the stationary law (:class:`Gaussian` or :class:`GaussianMixture`)
  for the Langevin problems, else ``None``.

Derivations are in each docstring. The tutorial seed's Example 11–12 prints
the mean of the time-varying OU process as ``x0 exp(-∫σ)``; with drift
``-½σ(t) x`` it is ``x0 exp(-½∫σ)`` (the variance ``1 - exp(-∫σ)`` is right);
:func:`ou_time_varying` implements the corrected form and the tests check it
against simulation.

>>> import numpy as np, sdekit as sk
>>> p = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
>>> p.exact(1.0, p.x0, np.zeros((1, 1))).round(4)     # x0 exp(mu - sigma^2/2) at W = 0
array([[1.1972]])
>>> p.mean(1.0).round(4), p.d, p.m
(array([1.6487]), 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy import special, stats

from ..sde import ODE, SDE


# --------------------------------------------------------------------------------------
# Stationary laws
# --------------------------------------------------------------------------------------
class Gaussian:
    r"""A Gaussian law :math:`N(m, Σ)` on :math:`\mathbb{R}^d` (the stationary law of a Langevin problem).

    >>> g = Gaussian([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]])
    >>> g.var, g.sample(3, seed=0).shape
    (array([1., 2.]), (3, 2))
    """

    def __init__(self, mean, cov):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=float))
        d = self.mean.size
        cov = np.asarray(cov, dtype=float)
        if cov.ndim == 0:
            cov = cov * np.eye(d)
        elif cov.ndim == 1:
            cov = np.diag(cov)
        self.cov = cov
        self.var = np.diag(cov).copy()
        self._chol = np.linalg.cholesky(cov)

    def sample(self, n, seed=0):
        """``n`` draws, shape ``(n, d)`` (a local generator keyed by ``seed``)."""
        z = np.random.default_rng(seed).standard_normal((n, self.mean.size))
        return self.mean + z @ self._chol.T

    def cdf(self, x, axis=0):
        """CDF of the marginal of component ``axis`` at ``x``."""
        return stats.norm.cdf(x, loc=self.mean[axis], scale=math.sqrt(self.var[axis]))

    def logpdf(self, x):
        """Log density at ``x`` of shape ``(n, d)``."""
        return stats.multivariate_normal(self.mean, self.cov).logpdf(x)

    def score(self, x):
        r""":math:`∇ \log p(x) = -Σ^{-1}(x - m)`, shape ``(n, d)``."""
        return -np.linalg.solve(self.cov, (np.asarray(x) - self.mean).T).T


class GaussianMixture:
    r"""A mixture :math:`\sum_k w_k N(μ_k, s_k^2 I)` on :math:`\mathbb{R}^d` with isotropic components.

    Mean :math:`\sum_k w_k μ_k`; componentwise variance
    :math:`\sum_k w_k (s_k^2 + μ_{k}^2) - (\sum_k w_k μ_k)^2`.

    >>> gm = GaussianMixture([0.3, 0.7], [-5.0, 5.0], [2.0, 2.0])
    >>> gm.mean, gm.var
    (array([2.]), array([25.]))
    """

    def __init__(self, weights, means, stds):
        w = np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        mu = np.asarray(means, dtype=float)
        self.means = mu.reshape(len(self.weights), -1)
        self.stds = np.broadcast_to(np.asarray(stds, dtype=float), self.weights.shape).copy()
        self.mean = self.weights @ self.means
        second = self.weights @ (self.stds[:, None] ** 2 + self.means**2)
        self.var = second - self.mean**2

    @property
    def d(self):
        return self.means.shape[1]

    def sample(self, n, seed=0):
        """``n`` draws, shape ``(n, d)``."""
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[k] + self.stds[k, None] * rng.standard_normal((n, self.d))

    def cdf(self, x, axis=0):
        """CDF of the marginal of component ``axis`` at ``x``."""
        x = np.asarray(x, dtype=float)[..., None]
        return (self.weights * stats.norm.cdf(x, loc=self.means[:, axis], scale=self.stds)).sum(-1)

    def _log_components(self, x):
        x = np.asarray(x)
        sq = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)  # (n, K)
        s2 = self.stds**2
        return np.log(self.weights) - 0.5 * sq / s2 - 0.5 * self.d * np.log(2 * np.pi * s2)

    def logpdf(self, x):
        """Log density at ``x`` of shape ``(n, d)``."""
        return special.logsumexp(self._log_components(x), axis=1)

    def score(self, x):
        r""":math:`∇ \log p(x) = \sum_k r_k(x)\,(μ_k - x)/s_k^2` with responsibilities :math:`r_k`."""
        x = np.asarray(x)
        lc = self._log_components(x)
        r = np.exp(lc - special.logsumexp(lc, axis=1, keepdims=True))  # (n, K)
        return ((r / self.stds**2)[:, :, None] * (self.means[None] - x[:, None, :])).sum(1)


# --------------------------------------------------------------------------------------
# Problem
# --------------------------------------------------------------------------------------
@dataclass
class Problem:
    r"""An SDE with its initial state, span and, where known, exact solution and moments.

    Attributes
    ----------
    name : str
    sde : SDE or ODE
    x0 : ndarray, shape (d,)
    t_span : (t0, t1)
    exact : callable ``(t, x0, w) -> (n, d)`` or None
        The solution at ``t`` given ``w = W(t) - W(t0)`` of shape ``(n, m)`` and
        ``x0`` of shape ``(n, d)`` or ``(d,)``; vectorised over paths.
    mean, var : callable ``t -> (d,)`` or None
        Exact componentwise mean and variance of ``X_t`` (from ``x0``, or from
        ``x0_law`` when set).
    stationary : Gaussian, GaussianMixture or None
        The stationary law, where the problem has one that is known.
    x0_law : object with ``sample(n, seed)`` or None
        When set, paths start from draws of this law instead of ``x0``
        (see :meth:`initial`); ``x0`` is then its mean, for display only.
    params : dict
        The constructor's parameters.

    >>> import numpy as np, sdekit as sk
    >>> p = sk.testing.problems.ou(theta=2.0, mu=1.0, sigma=0.7)
    >>> p.exact is None, p.mean(1.0).round(4), p.var(1.0).round(4)
    (True, array([0.8647]), array([0.1203]))
    """

    name: str
    sde: SDE
    x0: np.ndarray
    t_span: tuple
    exact: Optional[Callable] = None
    mean: Optional[Callable] = None
    var: Optional[Callable] = None
    stationary: Optional[object] = None
    x0_law: Optional[object] = None
    params: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        """State dimension."""
        return int(np.asarray(self.x0).shape[-1])

    @property
    def m(self) -> int:
        """Brownian dimension (0 for an ODE)."""
        return self.sde.brownian_dim_for(self.d)

    def initial(self, n_paths: int, seed: int = 0, offset: int = 0) -> np.ndarray:
        """Initial states of paths ``offset .. offset + n_paths - 1``, shape ``(n, d)``.

        A broadcast of ``x0``, or draws of ``x0_law`` (path ``i`` a function of
        ``(seed, i)`` only, so chunks agree with a single call).
        """
        if self.x0_law is None:
            return np.broadcast_to(np.asarray(self.x0, dtype=float), (n_paths, self.d)).copy()
        # Draw per fixed block of 4096 paths so a path's start depends on (seed, i) only.
        block = 4096
        first, last = offset // block, (offset + n_paths - 1) // block
        parts = [self.x0_law.sample(block, seed=[int(seed), 0x5EED, b]) for b in range(first, last + 1)]
        allx = np.concatenate(parts)
        start = offset - first * block
        return allx[start:start + n_paths]

    def __repr__(self):
        extra = ", exact" if self.exact is not None else ""
        return f"Problem({self.name!r}, {self.sde!r}, d={self.d}, t_span={self.t_span}{extra})"


def _vec(v, d=None, name="value"):
    a = np.atleast_1d(np.asarray(v, dtype=float))
    if d is not None and a.size == 1:
        a = np.full(d, float(a[0]))
    if d is not None and a.shape != (d,):
        raise ValueError(f"{name} must be a scalar or shape ({d},); got {a.shape}")
    return a


def _dim(*arrays):
    return max(np.atleast_1d(np.asarray(a, dtype=float)).size for a in arrays)


# --------------------------------------------------------------------------------------
# Geometric Brownian motion
# --------------------------------------------------------------------------------------
def gbm(mu=0.5, sigma=0.8, x0=1.0, t_span=(0.0, 1.0)):
    r"""Geometric Brownian motion (Itô), diagonal noise, any dimension.

    .. math:: dX_i = μ_i X_i\,dt + σ_i X_i\,dW_i,\qquad
              X_i(t) = x_{0,i} \exp\big((μ_i - σ_i^2/2)τ + σ_i w_i\big),\ τ = t - t_0

    (Itô's formula on :math:`\log X`). Mean :math:`x_0 e^{μτ}`, variance
    :math:`x_0^2 e^{2μτ}(e^{σ^2τ} - 1)`. ``mu``, ``sigma``, ``x0`` are scalars or ``(d,)``.

    >>> p = gbm(mu=[0.1, 0.2], sigma=0.3, x0=[1.0, 2.0])
    >>> p.d, p.sde.noise, p.mean(0.0)
    (2, 'diagonal', array([1., 2.]))
    """
    d = _dim(mu, sigma, x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = float(t_span[0])
    sde = SDE(lambda t, x: mu * x, lambda t, x: sigma * x)
    return Problem(
        "gbm", sde, x0, tuple(t_span),
        exact=lambda t, x0_, w: np.asarray(x0_) * np.exp((mu - 0.5 * sigma**2) * (t - t0) + sigma * w),
        mean=lambda t: x0 * np.exp(mu * (t - t0)),
        var=lambda t: x0**2 * np.exp(2 * mu * (t - t0)) * np.expm1(sigma**2 * (t - t0)),
        params=dict(mu=mu, sigma=sigma),
    )


def gbm_stratonovich(mu=0.5, sigma=0.8, x0=1.0, t_span=(0.0, 1.0)):
    r"""Geometric Brownian motion in the Stratonovich sense, diagonal noise.

    .. math:: dX_i = μ_i X_i\,dt + σ_i X_i ∘ dW_i,\qquad X_i(t) = x_{0,i}\exp(μ_i τ + σ_i w_i)

    (the chain rule holds for Stratonovich integrals). It is the Itô SDE with
    drift :math:`(μ + σ^2/2)X`, so the mean is :math:`x_0 e^{(μ + σ^2/2)τ}` and the
    variance :math:`x_0^2 e^{(2μ + σ^2)τ}(e^{σ^2 τ} - 1)`.

    >>> gbm_stratonovich().sde.calculus
    'stratonovich'
    """
    d = _dim(mu, sigma, x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = float(t_span[0])
    sde = SDE(lambda t, x: mu * x, lambda t, x: sigma * x, calculus="stratonovich")
    return Problem(
        "gbm_stratonovich", sde, x0, tuple(t_span),
        exact=lambda t, x0_, w: np.asarray(x0_) * np.exp(mu * (t - t0) + sigma * w),
        mean=lambda t: x0 * np.exp((mu + 0.5 * sigma**2) * (t - t0)),
        var=lambda t: x0**2 * np.exp((2 * mu + sigma**2) * (t - t0)) * np.expm1(sigma**2 * (t - t0)),
        params=dict(mu=mu, sigma=sigma),
    )


# --------------------------------------------------------------------------------------
# Ornstein–Uhlenbeck
# --------------------------------------------------------------------------------------
def ou(theta=2.0, mu=1.0, sigma=0.7, x0=0.0, t_span=(0.0, 1.0)):
    r"""Time-invariant Ornstein–Uhlenbeck process (additive diagonal noise).

    .. math:: dX = θ(μ - X)\,dt + σ\,dW

    Itô's formula on :math:`X e^{θt}` gives
    :math:`X_t = μ + (x_0 - μ)e^{-θτ} + σ\int_{t_0}^t e^{-θ(t-s)}dW_s`, a function of
    the whole path, so ``exact`` is ``None``. Mean :math:`μ + (x_0 - μ)e^{-θτ}`,
    variance :math:`\frac{σ^2}{2θ}(1 - e^{-2θτ})`.

    >>> ou().mean(0.0), ou().var(0.0)
    (array([0.]), array([0.]))
    """
    d = _dim(theta, mu, sigma, x0)
    theta, mu, sigma, x0 = (_vec(v, d, n) for v, n in ((theta, "theta"), (mu, "mu"), (sigma, "sigma"), (x0, "x0")))
    t0 = float(t_span[0])
    sde = SDE(lambda t, x: theta * (mu - x), lambda t, x: sigma + 0.0 * x, additive=True)
    return Problem(
        "ou", sde, x0, tuple(t_span), exact=None,
        mean=lambda t: mu + (x0 - mu) * np.exp(-theta * (t - t0)),
        var=lambda t: sigma**2 / (2 * theta) * -np.expm1(-2 * theta * (t - t0)),
        params=dict(theta=theta, mu=mu, sigma=sigma),
    )


def ou_time_varying(beta_min=0.1, beta_max=20.0, mu=0.0, sigma=1.0, x0=1.0, t_span=(0.0, 1.0)):
    r"""Time-varying OU process (the VP diffusion's forward SDE when ``mu = 0``, ``sigma = 1``).

    .. math:: dX = \tfrac12 β(t)(μ - X)\,dt + σ\sqrt{β(t)}\,dW,\qquad
              β(t) = β_{min} + (t - t_0)(β_{max} - β_{min}).

    Derivation (the tutorial's Example 11 with :math:`μ(t) = β/2`, :math:`η = σ\sqrt β`):
    with :math:`B(t) = \int_{t_0}^t β = β_{min}τ + \tfrac12(β_{max} - β_{min})τ^2`,
    Itô's formula on :math:`(X - μ)e^{B/2}` gives
    :math:`d[(X - μ)e^{B/2}] = σ\sqrt{β}\,e^{B/2}dW`, hence

    .. math:: X_t = μ + (x_0 - μ)e^{-B/2} + σ\int_{t_0}^t \sqrt{β(s)}e^{-(B(t) - B(s))/2}dW_s,

    mean :math:`μ + (x_0 - μ)e^{-B(t)/2}` and, by Itô's isometry,
    variance :math:`σ^2 e^{-B(t)}\int β(s)e^{B(s)}ds = σ^2(1 - e^{-B(t)})`.
    (The seed prints the mean as :math:`x_0 e^{-B}`: the exponent lost its ½.)
    ``exact`` is ``None`` (the solution depends on the whole path).

    >>> p = ou_time_varying()
    >>> p.mean(1.0).round(4), p.var(1.0).round(6)
    (array([0.0066]), array([0.999957]))
    """
    d = _dim(mu, sigma, x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = float(t_span[0])
    bmin, bmax = float(beta_min), float(beta_max)

    def beta(t):
        return bmin + (t - t0) * (bmax - bmin)

    def big_b(t):
        tau = t - t0
        return bmin * tau + 0.5 * (bmax - bmin) * tau**2

    sde = SDE(lambda t, x: (0.5 * beta(t)) * (mu - x), lambda t, x: sigma * math.sqrt(beta(t)) + 0.0 * x,
              additive=True)
    return Problem(
        "ou_time_varying", sde, x0, tuple(t_span), exact=None,
        mean=lambda t: mu + (x0 - mu) * np.exp(-0.5 * big_b(t)),
        var=lambda t: sigma**2 * -np.expm1(-big_b(t)),
        params=dict(beta_min=bmin, beta_max=bmax, mu=mu, sigma=sigma),
    )


# --------------------------------------------------------------------------------------
# Linear additive noise with a closed form in W(t)
# --------------------------------------------------------------------------------------
def linear_additive(alpha=0.5, beta=1.0, x0=1.0, t_span=(0.0, 1.0)):
    r"""Additive-noise linear SDE whose solution is a function of :math:`W(t)` (diagonal noise).

    .. math:: dX = \Big(\frac{β}{\sqrt{1+t}} - \frac{X}{2(1+t)}\Big)dt + \frac{αβ}{\sqrt{1+t}}\,dW

    (DiffEqProblemLibrary's ``prob_sde_additive``). With :math:`Y = \sqrt{1+t}\,X`,
    :math:`dY = β\,dt + αβ\,dW` (the drift terms in X cancel), so

    .. math:: X_t = \frac{\sqrt{1+t_0}\,x_0 + β τ + αβ w}{\sqrt{1+t}},

    mean :math:`(\sqrt{1+t_0}x_0 + βτ)/\sqrt{1+t}`, variance :math:`α^2β^2 τ/(1+t)`.
    Needs :math:`t_0 > -1`. ``alpha``, ``beta``, ``x0`` are scalars or ``(d,)``.

    >>> p = linear_additive()
    >>> p.sde.additive, p.exact(0.0, p.x0, [[0.0]])
    (True, array([[1.]]))
    """
    d = _dim(alpha, beta, x0)
    alpha, beta, x0 = _vec(alpha, d, "alpha"), _vec(beta, d, "beta"), _vec(x0, d, "x0")
    t0 = float(t_span[0])
    if t0 <= -1:
        raise ValueError(f"linear_additive needs t0 > -1; got t_span={t_span}")
    s0 = math.sqrt(1.0 + t0)
    sde = SDE(lambda t, x: beta / math.sqrt(1.0 + t) - x / (2.0 * (1.0 + t)),
              lambda t, x: (alpha * beta / math.sqrt(1.0 + t)) + 0.0 * x, additive=True)
    return Problem(
        "linear_additive", sde, x0, tuple(t_span),
        exact=lambda t, x0_, w: (s0 * np.asarray(x0_) + beta * (t - t0) + alpha * beta * np.asarray(w))
        / math.sqrt(1.0 + t),
        mean=lambda t: (s0 * x0 + beta * (t - t0)) / math.sqrt(1.0 + t),
        var=lambda t: (alpha * beta) ** 2 * (t - t0) / (1.0 + t),
        params=dict(alpha=alpha, beta=beta),
    )


# --------------------------------------------------------------------------------------
# Commuting linear systems: scalar and general noise
# --------------------------------------------------------------------------------------
def _rotation(d, angle):
    """A fixed orthogonal matrix mixing all components (product of plane rotations)."""
    q = np.eye(d)
    for i in range(d - 1):
        c, s = math.cos(angle * (i + 1)), math.sin(angle * (i + 1))
        r = np.eye(d)
        r[i, i], r[i, i + 1], r[i + 1, i], r[i + 1, i + 1] = c, -s, s, c
        q = q @ r
    return q


def _commuting_linear(name, a, b, x0, t_span, q, calculus, noise):
    r"""dX = A X dt + Σ_k B_k X (∘)dW_k with A = Q diag(a) Qᵀ, B_k = Q diag(b_k) Qᵀ (all commute)."""
    a = np.asarray(a, dtype=float)
    b = np.atleast_2d(np.asarray(b, dtype=float))  # (m, d)
    d, m = a.size, b.shape[0]
    x0 = _vec(x0, d, "x0")
    A = q @ np.diag(a) @ q.T
    Bs = np.stack([q @ np.diag(bk) @ q.T for bk in b])  # (m, d, d)
    t0 = float(t_span[0])
    strat = calculus == "stratonovich"
    # Exponent rate of eigencomponent j: a_j - ½ Σ_k b_kj² (Itô) or a_j (Stratonovich).
    rate = a if strat else a - 0.5 * (b**2).sum(0)
    AT = A.T.copy()
    if noise == "scalar":
        BT = Bs[0].T.copy()
        diffusion = lambda t, x: x @ BT  # noqa: E731
    else:
        BsT = np.ascontiguousarray(np.transpose(Bs, (2, 1, 0)))  # (d_in, d_out, m)

        def diffusion(t, x):
            return np.einsum("ni,iok->nok", x, BsT)
    sde = SDE(lambda t, x: x @ AT, diffusion, noise=noise, calculus=calculus,
              brownian_dim=m if noise == "general" else None)

    def exact(t, x0_, w):
        c = np.atleast_2d(np.asarray(x0_, dtype=float)) @ q  # coordinates in the eigenbasis, (n, d)
        w = np.atleast_2d(np.asarray(w, dtype=float))  # (n, m)
        return (c * np.exp(rate * (t - t0) + w @ b)) @ q.T

    c0 = q.T @ x0
    # E[e^{j} e^{k}] = exp((rate_j + rate_k) τ + ½ Σ_l (b_lj + b_lk)² τ)
    bb = b.T @ b  # (d, d): Σ_l b_lj b_lk
    bsq = np.diag(bb)
    mean_rate = rate + 0.5 * bsq
    pair_rate = rate[:, None] + rate[None, :] + 0.5 * (bsq[:, None] + bsq[None, :]) + bb

    def mean(t):
        return q @ (c0 * np.exp(mean_rate * (t - t0)))

    def var(t):
        tau = t - t0
        cc = np.outer(c0, c0)
        second = np.einsum("ij,ik,jk->i", q, q, cc * np.exp(pair_rate * tau))
        return second - mean(t) ** 2

    return Problem(name, sde, x0, tuple(t_span), exact=exact, mean=mean, var=var,
                   params=dict(A=A, B=Bs, a=a, b=b, q=q))


def scalar_linear(a=(0.3, -0.5), b=(0.6, 0.4), x0=None, t_span=(0.0, 1.0), angle=0.5, calculus="ito"):
    r"""Linear SDE in d dimensions driven by one Brownian motion (scalar noise).

    .. math:: dX = AX\,dt + BX\,dW,\qquad A = Q\,\mathrm{diag}(a)Q^⊤,\ B = Q\,\mathrm{diag}(b)Q^⊤

    with a fixed rotation Q (coupling every component). A and B commute, so

    .. math:: X_t = Q\,\mathrm{diag}\big(e^{(a - b^2/2)τ + b w}\big)Q^⊤x_0

    (Itô; in Stratonovich form ``calculus="stratonovich"`` the :math:`-b^2/2` is
    absent). With :math:`c = Q^⊤x_0` and :math:`r_j` the exponent's rate,
    :math:`E X = Q(c_j e^{(r_j + b_j^2/2)τ})` and
    :math:`E X_i^2 = \sum_{jk} Q_{ij}Q_{ik}c_jc_k e^{(r_j + r_k + (b_j + b_k)^2/2)τ}`.

    >>> p = scalar_linear()
    >>> p.d, p.m, p.sde.noise
    (2, 1, 'scalar')
    """
    a = np.atleast_1d(np.asarray(a, dtype=float))
    d = a.size
    x0 = np.linspace(1.0, 0.5, d) if x0 is None else x0
    name = "scalar_linear" if calculus == "ito" else "scalar_linear_stratonovich"
    return _commuting_linear(name, a, np.atleast_1d(np.asarray(b, dtype=float))[None, :], x0, t_span,
                             _rotation(d, angle), calculus, "scalar")


def scalar_linear_stratonovich(a=(0.3, -0.5), b=(0.6, 0.4), x0=None, t_span=(0.0, 1.0), angle=0.5):
    r""":func:`scalar_linear` in the Stratonovich sense: :math:`dX = AX\,dt + BX∘dW`,
    :math:`X_t = Q\,\mathrm{diag}(e^{aτ + bw})Q^⊤x_0`.

    >>> scalar_linear_stratonovich().sde.calculus
    'stratonovich'
    """
    return scalar_linear(a, b, x0, t_span, angle, calculus="stratonovich")


def linear_general(a=(0.2, -0.4), b=((0.5, 0.2), (-0.3, 0.4), (0.2, 0.3)), x0=None, t_span=(0.0, 1.0),
                   angle=0.6, calculus="ito"):
    r"""Multidimensional linear SDE with general (d × m) noise and commuting matrices.

    .. math:: dX = AX\,dt + \sum_{k=1}^m B_k X\,dW_k,\qquad
              A = Q\,\mathrm{diag}(a)Q^⊤,\ B_k = Q\,\mathrm{diag}(b_k)Q^⊤.

    ``diffusion`` returns the ``(n, d, m)`` matrix with columns :math:`B_k x`.
    Because all matrices commute,
    :math:`X_t = Q\,\mathrm{diag}\big(e^{(a - \frac12\sum_k b_k^2)τ + \sum_k b_k w_k}\big)Q^⊤x_0`
    (Itô; without the :math:`-\frac12\sum b_k^2` for ``calculus="stratonovich"``),
    and second moments follow as in :func:`scalar_linear` with
    :math:`(b_j + b_k)^2` replaced by :math:`\sum_l (b_{lj} + b_{lk})^2`.
    ``b`` has shape ``(m, d)``. The noise is commutative, so Heun keeps strong order 1.

    >>> p = linear_general()
    >>> p.d, p.m, p.sde.noise
    (2, 3, 'general')
    """
    a = np.atleast_1d(np.asarray(a, dtype=float))
    d = a.size
    x0 = np.linspace(1.0, 0.5, d) if x0 is None else x0
    name = "linear_general" if calculus == "ito" else "linear_general_stratonovich"
    return _commuting_linear(name, a, b, x0, t_span, _rotation(d, angle), calculus, "general")


def linear_general_stratonovich(a=(0.2, -0.4), b=((0.5, 0.2), (-0.3, 0.4), (0.2, 0.3)), x0=None,
                                t_span=(0.0, 1.0), angle=0.6):
    r""":func:`linear_general` in the Stratonovich sense.

    >>> linear_general_stratonovich().sde.calculus
    'stratonovich'
    """
    return linear_general(a, b, x0, t_span, angle, calculus="stratonovich")


# --------------------------------------------------------------------------------------
# Langevin dynamics
# --------------------------------------------------------------------------------------
def langevin_gaussian(mean=0.0, cov=1.0, x0=None, t_span=(0.0, 2.0)):
    r"""Overdamped Langevin dynamics whose stationary law is :math:`N(m, Σ)`.

    .. math:: dX = ∇\log p(X)\,dt + \sqrt2\,dW = -Σ^{-1}(X - m)\,dt + \sqrt2\,dW.

    An OU process: with :math:`Σ = V\mathrm{diag}(λ)V^⊤`,
    :math:`E X_t = m + V\mathrm{diag}(e^{-τ/λ})V^⊤(x_0 - m)` and
    :math:`\mathrm{Cov}\,X_t = V\mathrm{diag}(λ(1 - e^{-2τ/λ}))V^⊤` (the Lyapunov
    equation :math:`\dot C = -Σ^{-1}C - CΣ^{-1} + 2I` solved in the eigenbasis);
    ``var`` is its diagonal. ``cov`` is a scalar, ``(d,)`` or SPD ``(d, d)``.
    Default start: ``x0 = m + 3·sqrt(diag Σ)``.

    >>> p = langevin_gaussian(mean=[0.0, 1.0], cov=[[1.0, 0.5], [0.5, 2.0]])
    >>> bool(abs(p.var(50.0) - [1.0, 2.0]).max() < 1e-9)
    True
    """
    g = Gaussian(mean, cov if np.ndim(cov) else cov * np.eye(np.atleast_1d(mean).size))
    m_, C = g.mean, g.cov
    d = m_.size
    lam, V = np.linalg.eigh(C)
    P = np.linalg.inv(C)
    PT = P.T.copy()
    x0 = m_ + 3.0 * np.sqrt(g.var) if x0 is None else _vec(x0, d, "x0")
    t0 = float(t_span[0])
    sde = SDE(lambda t, x: (m_ - x) @ PT, lambda t, x: math.sqrt(2.0) + 0.0 * x, additive=True)

    def mean_fn(t):
        return m_ + V @ (np.exp(-(t - t0) / lam) * (V.T @ (x0 - m_)))

    def var_fn(t):
        return np.einsum("ij,j,ij->i", V, lam * -np.expm1(-2 * (t - t0) / lam), V)

    return Problem("langevin_gaussian", sde, x0, tuple(t_span), exact=None, mean=mean_fn, var=var_fn,
                   stationary=g, params=dict(mean=m_, cov=C))


def langevin_mixture(weights=(0.3, 0.7), means=(-5.0, 5.0), stds=(2.0, 2.0), x0=0.0, t_span=(0.0, 1.0),
                     start="stationary"):
    r"""Overdamped Langevin dynamics with a Gaussian-mixture stationary law (the tutorial's Example 6).

    .. math:: dX = ∇\log p(X)\,dt + \sqrt2\,dW,\qquad p = \sum_k w_k N(μ_k, s_k^2 I),

    :math:`∇\log p(x) = \sum_k r_k(x)(μ_k - x)/s_k^2` with responsibilities
    :math:`r_k ∝ w_k N(x; μ_k, s_k^2 I)` (computed with log-sum-exp). The
    Fokker–Planck equation :math:`∂_t ρ = ∇·(ρ∇\log(ρ/p))` has ``p`` as its
    stationary solution. Transient moments have no closed form, so by default
    (``start="stationary"``) paths start from draws of ``p`` (:meth:`Problem.initial`)
    and the law stays ``p``: ``mean(t)`` and ``var(t)`` are the mixture's for every t.
    With ``start="point"`` paths start at ``x0`` and ``mean``/``var`` are ``None``
    (``stationary`` still gives the limit law). ``means`` is ``(K,)`` or ``(K, d)``.

    >>> p = langevin_mixture()
    >>> p.mean(0.3), p.var(0.3), p.initial(4, seed=0).shape
    (array([2.]), array([25.]), (4, 1))
    """
    gm = GaussianMixture(weights, means, stds)
    sde = SDE(lambda t, x: gm.score(x), lambda t, x: math.sqrt(2.0) + 0.0 * x, additive=True)
    if start == "stationary":
        return Problem("langevin_mixture", sde, gm.mean.copy(), tuple(t_span), exact=None,
                       mean=lambda t: gm.mean.copy(), var=lambda t: gm.var.copy(), stationary=gm, x0_law=gm,
                       params=dict(weights=gm.weights, means=gm.means, stds=gm.stds, start=start))
    if start != "point":
        raise ValueError(f'start must be "stationary" or "point"; got {start!r}')
    return Problem("langevin_mixture", sde, _vec(x0, gm.d, "x0"), tuple(t_span), exact=None, stationary=gm,
                   params=dict(weights=gm.weights, means=gm.means, stds=gm.stds, start=start))


# --------------------------------------------------------------------------------------
# A smooth ODE (for the ODE methods' orders)
# --------------------------------------------------------------------------------------
def ode_riccati(x0=0.5, t_span=(0.0, 2.0)):
    r"""A nonlinear, non-autonomous smooth ODE with a closed form.

    .. math:: x' = \tfrac12\cos(t)\,(1 + x^2),\qquad x(t) = \tan\big(\arctan x_0 + \tfrac12(\sin t - \sin t_0)\big)

    (separable: :math:`(\arctan x)' = \cos(t)/2`). Nonlinear and time-dependent,
    so it exercises the nonlinear order conditions and the stage times of a
    Runge–Kutta method. ``exact`` ignores ``w``; ``var`` is 0.

    >>> p = ode_riccati()
    >>> round(float(p.exact(0.0, p.x0, None)[0, 0]), 12)
    0.5
    """
    x0 = _vec(x0, None, "x0")
    t0 = float(t_span[0])
    ode = ODE(lambda t, x: (0.5 * math.cos(t)) * (1.0 + x * x))

    def exact(t, x0_, w=None):
        return np.atleast_2d(np.tan(np.arctan(np.asarray(x0_, dtype=float)) + 0.5 * (math.sin(t) - math.sin(t0))))

    return Problem("ode_riccati", ode, x0, tuple(t_span), exact=exact,
                   mean=lambda t: exact(t, x0)[0], var=lambda t: np.zeros_like(x0))


# name -> constructor, for the CLI and for tables
REGISTRY = {
    "gbm": gbm,
    "gbm_stratonovich": gbm_stratonovich,
    "ou": ou,
    "ou_time_varying": ou_time_varying,
    "linear_additive": linear_additive,
    "scalar_linear": scalar_linear,
    "scalar_linear_stratonovich": scalar_linear_stratonovich,
    "linear_general": linear_general,
    "linear_general_stratonovich": linear_general_stratonovich,
    "langevin_gaussian": langevin_gaussian,
    "langevin_mixture": langevin_mixture,
    "ode_riccati": ode_riccati,
}


def by_name(name: str, **params) -> Problem:
    """The problem called ``name`` (a key of ``REGISTRY``) with ``params`` passed on.

    >>> by_name("ou", theta=1.0).name
    'ou'
    """
    try:
        ctor = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return ctor(**params)


def all_problems():
    """Every registered problem with default parameters (a dict name -> Problem)."""
    return {name: ctor() for name, ctor in REGISTRY.items()}


__all__ = ["Problem", "Gaussian", "GaussianMixture", "REGISTRY", "by_name", "all_problems"] + list(REGISTRY)
