r"""Analytic distributions with exact scores: :class:`Gaussian` and :class:`GaussianMixture`.

Both have ``sample(n, seed)``, ``log_prob(x)``, ``score(x)`` and
``perturbed(sde)``. The last gives the *exact* time-t score under a linear
forward SDE whose transition is

.. math::  x_t \mid x_0 \sim \mathcal N(m_t x_0 + b_t,\; \mathrm{diag}(s_t^2)),

read from ``sde.marginal(t) -> (m_t, s_t)`` (scalars or ``(d,)`` arrays) and,
when the SDE has one, ``sde.marginal_shift(t) -> b_t`` (default 0). A Gaussian
:math:`\mathcal N(μ, Σ)` pushed through it is
:math:`\mathcal N(m_t μ + b_t,\; M_t Σ M_t + S_t^2)` with ``M_t = diag(m_t)``; a mixture
pushes each component and keeps the weights. VE, VP, sub-VP and OU are of this
form (``sdekit_diffusion``).

``score`` and ``log_prob`` accept NumPy arrays or torch tensors and answer in
kind (the parameters are kept in float64 and moved to the input's dtype/device).
Sampling is counter-based (:mod:`sdekit.philox`): row ``i`` of ``sample(n, seed)``
depends only on ``(seed, i)``.

>>> import numpy as np
>>> mix = GaussianMixture([0.3, 0.7], [[-5.0], [5.0]], [[[4.0]], [[4.0]]])
>>> x = mix.sample(20_000, seed=0)
>>> round(float((x > 0).mean()), 1)
0.7
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from sdekit import philox
from sdekit.errors import InvalidArgumentError, ShapeError

from . import _arrays as A

# philox draw ids of analytic samplers: streams of their own, so they never collide with a
# solve's Brownian or corrector draws under the same seed.
_NODE_COMPONENT = philox.stream_draw(philox.STREAM_MIXTURE_COMPONENT, 0)
_NODE_NORMAL = philox.stream_draw(philox.STREAM_GAUSSIAN, 0)


def _normals(seed, node, n, d):
    return philox.normals(philox.check_seed(seed), node, np.arange(n, dtype=np.uint64), d)


def _as_cov(cov, d, name="cov"):
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim == 0:
        c = c * np.eye(d)
    elif c.ndim == 1:
        if c.shape[0] != d:
            raise ShapeError(f"{name} given as a diagonal must have {d} entries; got shape {c.shape}")
        c = np.diag(c)
    if c.shape != (d, d):
        raise ShapeError(f"{name} must be ({d}, {d}); got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
        raise InvalidArgumentError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise InvalidArgumentError(f"{name} must be positive definite; got eigenvalues {np.linalg.eigvalsh(c)}") from None
    return c


def _marginal_parts(sde, t, d):
    """``(m, s, b)`` as float64 ``(d,)`` arrays for a linear forward SDE at time ``t``."""
    if not hasattr(sde, "marginal"):
        raise InvalidArgumentError(
            "perturbed(sde) needs a linear forward SDE with .marginal(t) -> (mean_coef, std) "
            f"(e.g. sdekit_diffusion.VPSDE()); got {type(sde).__name__}"
        )
    m, s = sde.marginal(float(t))[:2]
    b = sde.marginal_shift(float(t)) if hasattr(sde, "marginal_shift") else 0.0
    ones = np.ones(d)
    return (np.asarray(A.to_numpy(m), dtype=np.float64) * ones, np.asarray(A.to_numpy(s), dtype=np.float64) * ones,
            np.asarray(A.to_numpy(b), dtype=np.float64) * ones)


class GaussianMixture:
    r"""A Gaussian mixture :math:`p(x) = \sum_k w_k \mathcal N(x; μ_k, Σ_k)` with full covariances.

    Parameters
    ----------
    weights : (K,) non-negative, normalised to sum 1
    means : (K, d)
    covs : (K, d, d) full, (K, d) diagonal, (K,) isotropic variances, a scalar, or one shared (d, d)
        (a 2-D array of shape (K, d) is read as diagonals)

    Score (the posterior-weighted component scores):

    .. math::  \nabla \log p(x) = -\sum_k r_k(x)\, Σ_k^{-1}(x - μ_k),\qquad
               r_k(x) = \frac{w_k \mathcal N(x; μ_k, Σ_k)}{p(x)}.

    >>> import numpy as np
    >>> mix = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [1.0, 1.0])
    >>> abs(float(mix.score(np.array([[0.0]]))[0, 0]))    # symmetric: zero at the centre
    0.0
    """

    def __init__(self, weights, means, covs):
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        mu = np.asarray(means, dtype=np.float64)
        if mu.ndim == 1:
            mu = mu[:, None] if w.size > 1 or mu.size == 1 else mu[None, :]
        if mu.ndim != 2 or mu.shape[0] != w.size:
            raise ShapeError(f"means must be (K, d) with K = len(weights) = {w.size}; got shape {mu.shape}")
        if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
            raise InvalidArgumentError(f"weights must be non-negative with a positive sum; got {w}")
        K, d = mu.shape
        c = np.asarray(covs, dtype=np.float64)
        if c.ndim == 0:
            c = np.broadcast_to(c, (K,))
        elif c.ndim == 2 and c.shape != (K, d):  # one shared (d, d) matrix
            c = np.broadcast_to(c, (K,) + c.shape)
        if c.shape[0] != K:
            raise ShapeError(f"covs must have one entry per component ({K}); got shape {c.shape}")
        self.weights = w / w.sum()
        self.means = mu
        self.covs = np.stack([_as_cov(ci, d, f"covs[{k}]") for k, ci in enumerate(c)])
        self.d = d
        self._prepare()

    def _prepare(self):
        self.precisions = np.linalg.inv(self.covs)
        self.chols = np.linalg.cholesky(self.covs)
        logdet = np.linalg.slogdet(self.covs)[1]
        self.log_norm = np.log(np.maximum(self.weights, 1e-300)) - 0.5 * (logdet + self.d * math.log(2 * math.pi))
        self._cache = {}

    def _params(self, x):
        if not A.is_torch(x):
            return self.means, self.precisions, self.log_norm
        key = (x.dtype, x.device)
        if key not in self._cache:
            self._cache[key] = tuple(A.like(v, x) for v in (self.means, self.precisions, self.log_norm))
        return self._cache[key]

    def _check(self, x):
        if len(x.shape) != 2 or x.shape[1] != self.d:
            raise ShapeError(f"x must have shape (n, {self.d}); got {tuple(x.shape)}")

    def _component_terms(self, x):
        mu, prec, log_norm = self._params(x)
        diff = x[:, None, :] - mu[None, :, :]  # (n, K, d)
        pd = (prec[None, :, :, :] @ diff[:, :, :, None])[..., 0]  # Σ_k^{-1}(x - μ_k)
        logc = log_norm[None, :] - 0.5 * (diff * pd).sum(-1)  # (n, K)
        return logc, pd

    def log_prob(self, x):
        r""":math:`\log p(x)` by log-sum-exp over components, ``(n,)``.

        >>> import numpy as np
        >>> g = GaussianMixture([1.0], [[0.0]], [1.0])
        >>> round(float(g.log_prob(np.zeros((1, 1)))[0]), 6)    # -log sqrt(2π)
        -0.918939
        """
        x = x if A.is_torch(x) else np.asarray(x, dtype=np.float64)
        self._check(x)
        return A.logsumexp_rows(self._component_terms(x)[0])

    def prob(self, x):
        """:math:`p(x)`, ``(n,)``."""
        return A.exp(self.log_prob(x))

    def score(self, x):
        r""":math:`\nabla \log p(x)`, ``(n, d)`` (see the class docstring)."""
        x = x if A.is_torch(x) else np.asarray(x, dtype=np.float64)
        self._check(x)
        logc, pd = self._component_terms(x)
        r = A.softmax_rows(logc)
        return -(r[:, :, None] * pd).sum(1)

    def responsibilities(self, x):
        """Posterior component probabilities ``r_k(x)``, ``(n, K)``."""
        x = np.asarray(x, dtype=np.float64)
        return A.softmax_rows(self._component_terms(x)[0])

    def sample(self, n, seed=0):
        r"""``n`` exact samples, ``(n, d)`` float64 NumPy; row ``i`` a pure function of ``(seed, i)``.

        The component of row ``i`` is the inverse CDF of the weights at a
        uniform ``Φ(z)``, its value ``μ_k + L_k z'`` with ``L_k L_k^T = Σ_k``;
        ``z, z'`` are Philox normals keyed by ``(seed, i)``.
        """
        u = ndtr(_normals(seed, _NODE_COMPONENT, n, 1)[:, 0])
        k = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), len(self.weights) - 1)
        z = _normals(seed, _NODE_NORMAL, n, self.d)
        return self.means[k] + np.einsum("nij,nj->ni", self.chols[k], z)

    def cdf(self, x):
        r"""CDF of a one-dimensional mixture, :math:`\sum_k w_k Φ((x - μ_k)/σ_k)` (``d = 1`` only).

        >>> round(float(GaussianMixture([0.3, 0.7], [[-5.0], [5.0]], [4.0, 4.0]).cdf(0.0)), 4)
        0.3025
        """
        if self.d != 1:
            raise InvalidArgumentError(f"cdf is defined for one-dimensional mixtures; this one has d={self.d}")
        x = np.asarray(x, dtype=np.float64)
        sd = np.sqrt(self.covs[:, 0, 0])
        return (self.weights * ndtr((x[..., None] - self.means[:, 0]) / sd)).sum(-1)

    @property
    def mean(self):
        """The mixture mean, ``(d,)``."""
        return self.weights @ self.means

    @property
    def cov(self):
        """The mixture covariance, ``(d, d)``."""
        mu = self.mean
        dev = self.means - mu
        return np.einsum("k,kij->ij", self.weights, self.covs) + np.einsum("k,ki,kj->ij", self.weights, dev, dev)

    def pushforward(self, m, s, b=0.0):
        r"""The law of ``m x + b + s z`` (``z`` standard normal, independent): each component
        :math:`\mathcal N(m μ_k + b,\; M Σ_k M + \mathrm{diag}(s^2))`."""
        ones = np.ones(self.d)
        m, s, b = (np.asarray(v, dtype=np.float64) * ones for v in (m, s, b))
        covs = m[None, :, None] * self.covs * m[None, None, :] + np.diag(s * s)[None]
        return type(self)._raw(self.weights, self.means * m + b, covs)

    @classmethod
    def _raw(cls, weights, means, covs):
        obj = cls.__new__(cls)
        obj.weights, obj.means, obj.covs, obj.d = weights, means, covs, means.shape[1]
        obj._prepare()
        return obj

    def perturbed(self, sde):
        r"""The exact marginal score ``(t, x) -> ∇ log p_t(x)`` under the linear forward ``sde``.

        Returns a :class:`PerturbedScore` (callable; ``.at(t)`` gives the time-t law).

        >>> import numpy as np
        >>> class VE:   # x_t = x_0 + sqrt(t) z
        ...     def marginal(self, t): return 1.0, t ** 0.5
        >>> ps = GaussianMixture([1.0], [[0.0]], [1.0]).perturbed(VE())
        >>> np.round(ps(3.0, np.array([[2.0]])), 12).tolist()     # N(0, 1 + 3): -x / 4
        [[-0.5]]
        """
        return PerturbedScore(self, sde)

    def __repr__(self):
        return f"{type(self).__name__}(K={len(self.weights)}, d={self.d})"


class Gaussian(GaussianMixture):
    r"""A Gaussian :math:`\mathcal N(μ, Σ)`: ``score(x) = -Σ^{-1}(x - μ)``.

    ``cov`` is ``(d, d)``, a ``(d,)`` diagonal or a scalar variance.

    >>> import numpy as np
    >>> g = Gaussian([0.0, 1.0], [[2.0, 0.5], [0.5, 1.0]])
    >>> x = g.sample(50_000, seed=3)
    >>> np.round(np.cov(x.T), 1).tolist()
    [[2.0, 0.5], [0.5, 1.0]]
    """

    def __init__(self, mean, cov):
        mu = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        if mu.ndim != 1:
            raise ShapeError(f"mean must be (d,); got shape {mu.shape}")
        super().__init__([1.0], mu[None, :], _as_cov(cov, mu.size)[None])

    @property
    def mean(self):
        return self.means[0]

    @property
    def cov(self):
        return self.covs[0]

    def pushforward(self, m, s, b=0.0):
        mix = GaussianMixture.pushforward(self, m, s, b)
        return Gaussian(mix.means[0], mix.covs[0])

    def __repr__(self):
        return f"Gaussian(d={self.d})"


class PerturbedScore:
    r"""Exact score of :math:`p_t = p_0 \ast` (the linear forward transition), callable as ``(t, x)``.

    ``at(t)`` returns the time-t law (a :class:`Gaussian` / :class:`GaussianMixture`,
    with ``sample``, ``log_prob``, ``cdf``); ``log_prob(t, x)`` its density. The
    last time's law is cached, so a solver's repeated calls at one ``t`` cost one
    small ``d × d`` inversion per component.

    >>> import numpy as np
    >>> class OU:   # x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z
    ...     def marginal(self, t): return np.exp(-t), np.sqrt(1 - np.exp(-2 * t))
    >>> ps = Gaussian([3.0], [[1.0]]).perturbed(OU())
    >>> law = ps.at(1.0)                   # N(3/e, 1): the variance is preserved
    >>> round(float(law.mean[0]), 4), round(float(law.cov[0, 0]), 4)
    (1.1036, 1.0)
    """

    def __init__(self, dist, sde):
        self.dist, self.sde = dist, sde
        self._t, self._law = None, None
        _marginal_parts(sde, 0.5, dist.d)  # fail early on a bad sde

    def at(self, t):
        """The exact law of ``x_t``."""
        t = float(t)
        if t != self._t:
            m, s, b = _marginal_parts(self.sde, t, self.dist.d)
            self._law, self._t = self.dist.pushforward(m, s, b), t
        return self._law

    def __call__(self, t, x):
        return self.at(t).score(x)

    def log_prob(self, t, x):
        return self.at(t).log_prob(x)

    def __repr__(self):
        return f"PerturbedScore({self.dist!r}, {type(self.sde).__name__})"


__all__ = ["Gaussian", "GaussianMixture", "PerturbedScore"]
