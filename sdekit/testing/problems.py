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

import inspect
import math
import numbers
import reprlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy.special import ndtr

from .. import philox
from ..errors import InvalidArgumentError, ShapeError
from ..sde import ODE, SDE
from ..validation import check_t_span


# --------------------------------------------------------------------------------------
# Argument checks shared by the laws and the problem constructors
# --------------------------------------------------------------------------------------
def _is_torch(x) -> bool:
    return (type(x).__module__ or "").startswith("torch")


def check_array(name, value):
    """``value`` as a finite float64 array, else :class:`InvalidArgumentError` naming ``name``.

    Refuses what ``np.asarray(v, dtype=float)`` would silently mangle or crash on:
    strings, booleans, ``None``, ragged nesting, complex values (NumPy would drop
    the imaginary part), NaN and infinities.

    >>> check_array("mu", [0.5, 1.0])
    array([0.5, 1. ])
    >>> check_array("mu", float("nan"))
    Traceback (most recent call last):
    sdekit.errors.InvalidArgumentError: mu must be finite; got nan
    """
    if _is_torch(value):
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):  # ragged nesting
        raise InvalidArgumentError(f"{name} must be a real number or an array of them; got {reprlib.repr(value)}") \
            from None
    if a.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"{name} must hold real numbers; got {reprlib.repr(value)} (dtype {a.dtype})")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{name} must be finite; got {reprlib.repr(value)}")
    return a



def check_real(name, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real scalar (never a bool or a string), optionally in ``[low, high]`` (ends open if asked).

    >>> check_real("alpha", 0.05, low=0.0, high=1.0, low_open=True, high_open=True)
    0.05
    >>> check_real("tol", -1.0, low=0.0)
    Traceback (most recent call last):
    sdekit.errors.InvalidArgumentError: tol must be a finite float >= 0.0; got -1.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{name} must be a finite float; got {reprlib.repr(value)}")
    v = float(value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or bad_low or bad_high:
        if low is not None and high is not None:
            want = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            want = f"{'>' if low_open else '>='} {low}"
        elif high is not None:
            want = f"{'<' if high_open else '<='} {high}"
        else:
            want = ""
        raise InvalidArgumentError(f"{name} must be a finite float{' ' + want if want else ''}; got {value!r}")
    return v


def check_count(name, value, *, minimum=1, maximum=None) -> int:
    """An integer count ``minimum <= value <= maximum`` (never a float truncated to one, never a bool).

    >>> check_count("n_paths", 2.5)
    Traceback (most recent call last):
    sdekit.errors.InvalidArgumentError: n_paths must be an integer >= 1; got 2.5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}; got {value!r}")
    value = int(value)
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(f"{name} must be at most {maximum}; got {value}")
    return value


_count = check_count


def check_span(t_span):
    """``(t0, t1)`` as finite floats with ``t1 > t0`` (:func:`sdekit.validation.check_t_span`), never a string."""
    # A string is iterable and each character may parse as a float: "01" is not (0.0, 1.0).
    if isinstance(t_span, (str, bytes)):
        raise InvalidArgumentError(f"t_span must be a pair (t0, t1) of floats; got {t_span!r}")
    return check_t_span(t_span)


# --------------------------------------------------------------------------------------
# Exact Gaussian laws (stationary laws here; the scores plugin builds its analytic scores on them)
# --------------------------------------------------------------------------------------
# philox draw ids of the laws' samplers: streams of their own (sdekit.philox's counter layout), so they
# never collide with a solve's Brownian or corrector draws under the same seed.
_NODE_COMPONENT = philox.stream_draw(philox.STREAM_MIXTURE_COMPONENT, 0)
_NODE_NORMAL = philox.stream_draw(philox.STREAM_GAUSSIAN, 0)
# Row i of a sample is path index i of the counter: 2**48 rows are addressable without repeating.
MAX_SAMPLE_ROWS = philox.MAX_PATHS
# Refuse samples above 2**31 values (16 GiB of float64) before drawing anything.
MAX_SAMPLE_VALUES = 2**31


def _as_cov(cov, d, name="cov"):
    """A ``(d, d)`` symmetric positive-definite matrix from a scalar variance, a ``(d,)`` diagonal or ``(d, d)``."""
    c = check_array(name, cov)
    if c.ndim == 0:
        c = c * np.eye(d)
    elif c.ndim == 1:
        if c.shape[0] != d:
            raise ShapeError(f"{name} given as a diagonal must have {d} entries; got shape {c.shape}")
        c = np.diag(c)
    if c.shape != (d, d):
        raise ShapeError(f"{name} must be a scalar, ({d},) or ({d}, {d}); got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
        raise InvalidArgumentError(f"{name} must be symmetric; got {c.tolist()}")
    try:
        np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise InvalidArgumentError(
            f"{name} must be positive definite; got eigenvalues {np.linalg.eigvalsh(c).tolist()}") from None
    return c


def _logsumexp_rows(a):
    """``log Σ_k exp(a[:, k])`` of an ``(n, K)`` array or tensor, ``(n,)``."""
    if _is_torch(a):
        import torch

        return torch.logsumexp(a, dim=1)
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _softmax_rows(a):
    if _is_torch(a):
        return a.softmax(dim=1)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class GaussianMixture:
    r"""A Gaussian mixture :math:`p(x) = \sum_k w_k\,\mathcal N(x; μ_k, Σ_k)` on :math:`\mathbb{R}^d`.

    Parameters
    ----------
    weights : (K,) non-negative, with a positive sum (normalised to 1)
    means : (K, d); a 1-D array holds K scalar means (d = 1) when K > 1, one ``(d,)`` mean when K = 1
    stds : isotropic component standard deviations :math:`s_k` (:math:`Σ_k = s_k^2 I`), a scalar or ``(K,)``
    covs : keyword alternative to ``stds``: ``(K, d, d)`` full, ``(K, d)`` diagonals, ``(K,)``
        isotropic variances, a scalar, or one shared ``(d, d)`` matrix (a 2-D array of shape
        ``(K, d)`` is read as diagonals). Exactly one of ``stds`` and ``covs``.

    Mean :math:`\bar μ = \sum_k w_k μ_k`, covariance
    :math:`\sum_k w_k\,(Σ_k + (μ_k - \bar μ)(μ_k - \bar μ)^⊤)` (``var`` is its diagonal). Score
    (posterior-weighted component scores, responsibilities by log-sum-exp):

    .. math::  \nabla \log p(x) = -\sum_k r_k(x)\, Σ_k^{-1}(x - μ_k),\qquad
               r_k(x) = \frac{w_k \mathcal N(x; μ_k, Σ_k)}{p(x)}.

    ``log_prob`` (alias ``logpdf``) and ``score`` take ``(n, d)`` NumPy arrays or torch
    tensors and answer in kind (the parameters are kept in float64 and moved to the
    input's dtype and device). Sampling is counter-based (:mod:`sdekit.philox`): row
    ``i`` of ``sample(n, seed)`` is a pure function of ``(seed, i)``.

    >>> gm = GaussianMixture([0.3, 0.7], [-5.0, 5.0], [2.0, 2.0])
    >>> gm.mean, gm.var
    (array([2.]), array([25.]))
    >>> round(float((gm.sample(20_000, seed=0) > 0).mean()), 1)
    0.7
    """

    def __init__(self, weights, means, stds=None, *, covs=None):
        w = check_array("weights", weights).reshape(-1)
        if w.size == 0:
            raise ShapeError("weights must have at least one entry")
        if np.any(w < 0) or w.sum() <= 0:
            raise InvalidArgumentError(f"weights must be non-negative with a positive sum; got {w.tolist()}")
        mu = check_array("means", means)
        if mu.ndim == 0:
            mu = mu.reshape(1, 1)
        elif mu.ndim == 1:
            mu = mu[:, None] if w.size > 1 or mu.size == 1 else mu[None, :]
        if mu.ndim != 2 or mu.shape[0] != w.size or mu.shape[1] < 1:
            raise ShapeError(f"means must be (K, d) with K = len(weights) = {w.size}; got shape {mu.shape}")
        K, d = mu.shape
        if (stds is None) == (covs is None):
            raise InvalidArgumentError("give exactly one of stds (isotropic standard deviations) and covs")
        if stds is not None:
            s = check_array("stds", stds).reshape(-1)
            if s.size not in (1, K):
                raise ShapeError(f"stds must be a scalar or have one entry per component ({K}); got shape {s.shape}")
            if np.any(s <= 0):
                raise InvalidArgumentError(f"stds must be positive; got {s.tolist()}")
            c = np.broadcast_to(s * s, (K,))
        else:
            c = check_array("covs", covs)
            if c.ndim == 0:
                c = np.broadcast_to(c, (K,))
            elif c.ndim == 2 and c.shape != (K, d):  # one shared (d, d) matrix
                c = np.broadcast_to(c, (K,) + c.shape)
            if c.ndim > 3 or c.shape[0] != K:
                raise ShapeError(f"covs must have one entry per component ({K}); got shape {c.shape}")
        name = "stds" if stds is not None else "covs"
        covs_ = np.stack([_as_cov(ci, d, f"{name}[{k}]") for k, ci in enumerate(c)])
        self._set(w / w.sum(), mu, covs_)

    def _set(self, weights, means, covs):
        self.weights, self.means, self.covs = weights, means, covs
        self.d = means.shape[1]
        try:
            self.chols = np.linalg.cholesky(covs)
        except np.linalg.LinAlgError:
            raise InvalidArgumentError("a component covariance is singular (e.g. a pushforward with m = 0 and "
                                       "s = 0)") from None
        self.precisions = np.linalg.inv(covs)
        logdet = np.linalg.slogdet(covs)[1]
        self.log_norm = np.log(np.maximum(weights, 1e-300)) - 0.5 * (logdet + self.d * math.log(2 * math.pi))
        self._cache = {}

    @classmethod
    def _from_parts(cls, weights, means, covs):
        obj = cls.__new__(cls)
        GaussianMixture._set(obj, weights, means, covs)
        return obj

    # --- density and score ---------------------------------------------------------------
    def _params(self, x):
        if not _is_torch(x):
            return self.means, self.precisions, self.log_norm
        key = (x.dtype, x.device)
        if key not in self._cache:
            import torch

            self._cache[key] = tuple(torch.as_tensor(v, dtype=x.dtype, device=x.device)
                                     for v in (self.means, self.precisions, self.log_norm))
        return self._cache[key]

    def _points(self, x):
        if not _is_torch(x):
            try:
                x = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"x must be an (n, {self.d}) array of floats; got {reprlib.repr(x)}") \
                    from None
        if len(x.shape) != 2 or x.shape[1] != self.d:
            raise ShapeError(f"x must have shape (n, {self.d}); got {tuple(x.shape)}")
        return x

    def _component_terms(self, x):
        mu, prec, log_norm = self._params(x)
        diff = x[:, None, :] - mu[None, :, :]  # (n, K, d)
        pd = (prec[None, :, :, :] @ diff[:, :, :, None])[..., 0]  # Σ_k^{-1}(x - μ_k)
        logc = log_norm[None, :] - 0.5 * (diff * pd).sum(-1)  # (n, K)
        return logc, pd

    def log_prob(self, x):
        r""":math:`\log p(x)` by log-sum-exp over components, ``(n,)``.

        >>> import numpy as np
        >>> round(float(Gaussian([0.0], 1.0).log_prob(np.zeros((1, 1)))[0]), 6)    # -log sqrt(2π)
        -0.918939
        """
        return _logsumexp_rows(self._component_terms(self._points(x))[0])

    def logpdf(self, x):
        """Alias of :meth:`log_prob` (SciPy's name), ``(n,)``."""
        return self.log_prob(x)

    def prob(self, x):
        """:math:`p(x)`, ``(n,)``."""
        lp = self.log_prob(x)
        return lp.exp() if _is_torch(lp) else np.exp(lp)

    def score(self, x):
        r""":math:`\nabla \log p(x)`, ``(n, d)`` (see the class docstring).

        >>> import numpy as np
        >>> mix = GaussianMixture([0.5, 0.5], [-1.0, 1.0], 1.0)
        >>> abs(float(mix.score(np.array([[0.0]]))[0, 0]))    # symmetric: zero at the centre
        0.0
        """
        logc, pd = self._component_terms(self._points(x))
        r = _softmax_rows(logc)
        return -(r[:, :, None] * pd).sum(1)

    def responsibilities(self, x):
        """Posterior component probabilities :math:`r_k(x)`, ``(n, K)``."""
        return _softmax_rows(self._component_terms(self._points(x))[0])

    def cdf(self, x, axis=None):
        r"""CDF of the marginal of component ``axis``: :math:`\sum_k w_k Φ((x - μ_{k,a})/\sqrt{Σ_{k,aa}})`.

        ``axis`` may be omitted for a one-dimensional law (it is required when ``d > 1``).

        >>> round(float(GaussianMixture([0.3, 0.7], [-5.0, 5.0], 2.0).cdf(0.0)), 4)
        0.3025
        """
        if axis is None:
            if self.d != 1:
                raise InvalidArgumentError(f"cdf of a {self.d}-dimensional law needs axis= (the component "
                                           "whose marginal CDF to evaluate)")
            axis = 0
        axis = _count("axis", axis, minimum=0, maximum=self.d - 1)
        x = check_array("x", x)
        sd = np.sqrt(self.covs[:, axis, axis])
        return (self.weights * ndtr((x[..., None] - self.means[:, axis]) / sd)).sum(-1)

    # --- moments ---------------------------------------------------------------------------
    @property
    def mean(self):
        """The law's mean, ``(d,)``."""
        return self.weights @ self.means

    @property
    def cov(self):
        """The law's covariance, ``(d, d)``."""
        dev = self.means - self.mean
        return np.einsum("k,kij->ij", self.weights, self.covs) + np.einsum("k,ki,kj->ij", self.weights, dev, dev)

    @property
    def var(self):
        """The componentwise variance (the diagonal of ``cov``), ``(d,)``."""
        return np.diagonal(self.cov).copy()

    @property
    def stds(self):
        """Component standard deviations ``(K,)`` when every :math:`Σ_k = s_k^2 I`, else ``None``."""
        s2 = self.covs[:, 0, 0]
        if not np.allclose(self.covs, s2[:, None, None] * np.eye(self.d), rtol=1e-12, atol=0.0):
            return None
        return np.sqrt(s2)

    # --- sampling and transformations ------------------------------------------------------
    def sample(self, n, seed=0):
        r"""``n`` exact draws, ``(n, d)`` float64 NumPy; row ``i`` a pure function of ``(seed, i)``.

        The component of row ``i`` is the inverse CDF of the weights at a uniform
        :math:`Φ(z)`, its value :math:`μ_k + L_k z'` with :math:`L_k L_k^⊤ = Σ_k`; ``z, z'`` are
        Philox normals keyed by ``(seed, i)``. At most ``2**32`` rows (the counter's reach)
        and ``2**31`` values.

        >>> Gaussian([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]]).sample(3, seed=0).shape
        (3, 2)
        """
        n = _count("n", n, minimum=0, maximum=MAX_SAMPLE_ROWS)
        seed = philox.check_seed(seed)
        if n * self.d > MAX_SAMPLE_VALUES:
            raise InvalidArgumentError(f"n={n} rows of dimension {self.d} exceed {MAX_SAMPLE_VALUES} values "
                                       "(16 GiB); draw fewer")
        rows = np.arange(n, dtype=np.uint64)
        u = ndtr(philox.normals(seed, _NODE_COMPONENT, rows, 1)[:, 0])
        k = np.minimum(np.searchsorted(np.cumsum(self.weights), u, side="right"), len(self.weights) - 1)
        z = philox.normals(seed, _NODE_NORMAL, rows, self.d)
        out = np.empty((n, self.d))
        for j in range(len(self.weights)):  # one component at a time: O(n d) memory, not O(n d²)
            sel = k == j
            out[sel] = self.means[j] + z[sel] @ self.chols[j].T
        return out

    def pushforward(self, m, s, b=0.0):
        r"""The law of :math:`m x + b + s z` (``z`` standard normal, independent of ``x``).

        ``m``, ``s``, ``b`` are scalars or ``(d,)`` (componentwise); each component becomes
        :math:`\mathcal N(m μ_k + b,\; M Σ_k M + \mathrm{diag}(s^2))`, ``M = diag(m)``, with the
        weights kept. The result has this law's type.

        >>> g = Gaussian([1.0], 4.0).pushforward(0.5, 1.0, b=2.0)    # N(0.5 + 2, 0.25·4 + 1)
        >>> g.mean.tolist(), g.cov.tolist()
        ([2.5], [[2.0]])
        """
        ones = np.ones(self.d)
        parts = []
        for name, v in (("m", m), ("s", s), ("b", b)):
            a = check_array(name, v)
            if a.ndim > 1 or a.size not in (1, self.d):
                raise ShapeError(f"{name} must be a scalar or ({self.d},); got shape {a.shape}")
            parts.append(a * ones)
        m, s, b = parts
        covs = m[None, :, None] * self.covs * m[None, None, :] + np.diag(s * s)[None]
        return type(self)._from_parts(self.weights, self.means * m + b, covs)

    def __repr__(self):
        return f"{type(self).__name__}(K={len(self.weights)}, d={self.d})"


class Gaussian(GaussianMixture):
    r"""A Gaussian law :math:`\mathcal N(m, Σ)` on :math:`\mathbb{R}^d`: ``score(x) = -Σ^{-1}(x - m)``.

    ``cov`` is ``(d, d)`` symmetric positive definite, a ``(d,)`` diagonal or a scalar
    variance. A one-component :class:`GaussianMixture` (same methods).

    >>> import numpy as np
    >>> g = Gaussian([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]])
    >>> g.var, np.round(np.cov(g.sample(50_000, seed=3).T), 1).tolist()
    (array([1., 2.]), [[1.0, 0.5], [0.5, 2.0]])
    """

    def __init__(self, mean, cov):
        mu = np.atleast_1d(check_array("mean", mean))
        if mu.ndim != 1:
            raise ShapeError(f"mean must be (d,); got shape {mu.shape}")
        self._set(np.ones(1), mu[None, :], _as_cov(cov, mu.size, "cov")[None])

    @property
    def mean(self):
        """The mean, ``(d,)``."""
        return self.means[0].copy()

    @property
    def cov(self):
        """The covariance, ``(d, d)``."""
        return self.covs[0].copy()

    def __repr__(self):
        return f"{type(self).__name__}(d={self.d})"


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
        n_paths = _count("n_paths", n_paths)
        seed = philox.check_seed(seed)
        offset = _count("offset", offset, minimum=0)
        if self.x0_law is None:
            return np.broadcast_to(np.asarray(self.x0, dtype=float), (n_paths, self.d)).copy()
        # Draw per fixed block of 4096 paths, each block from its own seed derived from
        # (seed, block), so a path's start depends on (seed, i) only, for any law with sample(n, seed).
        block = 4096
        first, last = offset // block, (offset + n_paths - 1) // block
        parts = [self.x0_law.sample(block, seed=_block_seed(seed, b)) for b in range(first, last + 1)]
        allx = np.concatenate(parts)
        start = offset - first * block
        return allx[start:start + n_paths]

    def __repr__(self):
        extra = ", exact" if self.exact is not None else ""
        return f"Problem({self.name!r}, {self.sde!r}, d={self.d}, t_span={self.t_span}{extra})"


def _block_seed(seed, block):
    """An independent 64-bit seed for block ``block`` of the initial draws under ``seed``."""
    return int(np.random.SeedSequence((seed, 0x5EED, block)).generate_state(1, np.uint64)[0])


def _vec(v, d=None, name="value"):
    """A finite ``(d,)`` float array from a scalar or a ``(d,)`` array (typed errors naming ``name``)."""
    a = np.atleast_1d(check_array(name, v))
    if a.ndim != 1:
        raise ShapeError(f"{name} must be a scalar or a 1-D array; got shape {a.shape}")
    if d is not None and a.size == 1:
        a = np.full(d, float(a[0]))
    if d is not None and a.shape != (d,):
        raise ShapeError(f"{name} must be a scalar or shape ({d},); got {a.shape}")
    return a


def _dim(**arrays):
    """The common dimension of scalar-or-vector parameters (checked finite, 1-D)."""
    sizes = {name: _vec(v, None, name).size for name, v in arrays.items()}
    d = max(sizes.values())
    for name, k in sizes.items():
        if k not in (1, d):
            others = ", ".join(f"{n}: {s}" for n, s in sizes.items())
            raise ShapeError(f"{name} has {k} entries but another parameter has {d} (sizes {others}); "
                             "give scalars or arrays of one length")
    return d


def _scalar(v, name):
    a = check_array(name, v)
    if a.ndim != 0:
        raise ShapeError(f"{name} must be a scalar; got shape {a.shape}")
    return float(a)


def _nonzero(name, a):
    if np.any(a == 0):
        raise InvalidArgumentError(f"{name} must be non-zero; got {a.tolist()}")
    return a


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


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
    t_span = check_span(t_span)
    d = _dim(mu=mu, sigma=sigma, x0=x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = t_span[0]
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
    t_span = check_span(t_span)
    d = _dim(mu=mu, sigma=sigma, x0=x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = t_span[0]
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
    t_span = check_span(t_span)
    d = _dim(theta=theta, mu=mu, sigma=sigma, x0=x0)
    theta, mu, sigma, x0 = (_vec(v, d, n) for v, n in ((theta, "theta"), (mu, "mu"), (sigma, "sigma"), (x0, "x0")))
    _nonzero("theta", theta)  # the variance sigma^2 (1 - e^{-2 theta tau}) / (2 theta) divides by it
    t0 = t_span[0]
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
    t_span = check_span(t_span)
    d = _dim(mu=mu, sigma=sigma, x0=x0)
    mu, sigma, x0 = _vec(mu, d, "mu"), _vec(sigma, d, "sigma"), _vec(x0, d, "x0")
    t0 = t_span[0]
    bmin, bmax = _scalar(beta_min, "beta_min"), _scalar(beta_max, "beta_max")
    if bmin < 0 or bmin + (t_span[1] - t0) * (bmax - bmin) < 0:
        raise InvalidArgumentError(f"beta(t) = beta_min + (t - t0)(beta_max - beta_min) must stay >= 0 on t_span "
                                   f"(its square root is the noise); got beta_min={bmin}, beta_max={bmax}, "
                                   f"t_span={t_span}")

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
    t_span = check_span(t_span)
    d = _dim(alpha=alpha, beta=beta, x0=x0)
    alpha, beta, x0 = _vec(alpha, d, "alpha"), _vec(beta, d, "beta"), _vec(x0, d, "x0")
    t0 = t_span[0]
    if t0 <= -1:
        raise InvalidArgumentError(f"linear_additive needs t_span with t0 > -1 (sqrt(1 + t)); got t_span={t_span}")
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
    t_span = check_span(t_span)
    _choice("calculus", calculus, ("ito", "stratonovich"))
    a = _vec(a, None, "a")
    b = np.atleast_2d(check_array("b", b))  # (m, d)
    d, m = a.size, b.shape[0]
    if b.ndim != 2 or b.shape[1] != d:
        want = f"({d},)" if noise == "scalar" else f"(m, {d})"
        raise ShapeError(f"b must have shape {want} (one rate per component of a); got {np.shape(b)}")
    x0 = _vec(x0, d, "x0")
    A = q @ np.diag(a) @ q.T
    Bs = np.stack([q @ np.diag(bk) @ q.T for bk in b])  # (m, d, d)
    t0 = t_span[0]
    strat = calculus == "stratonovich"
    # Exponent rate of eigencomponent j: a_j - ½ Σ_k b_kj² (Itô) or a_j (Stratonovich).
    rate = a if strat else a - 0.5 * (b**2).sum(0)
    AT = A.T.copy()
    if noise == "scalar":
        BT = Bs[0].T.copy()
        diffusion = lambda t, x: x @ BT  # noqa: E731
    else:
        BsT = np.ascontiguousarray(np.transpose(Bs, (2, 1, 0)))  # (d_in, d_out, m)
        BsT_flat = BsT.reshape(BsT.shape[0], -1).copy()

        def diffusion(t, x):
            # (x @ B^T) for every k at once, written with @ and reshape so that Numba compiles it too
            return (x @ BsT_flat).reshape(x.shape[0], BsT.shape[1], BsT.shape[2])
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
    a = _vec(a, None, "a")
    d = a.size
    x0 = np.linspace(1.0, 0.5, d) if x0 is None else x0
    b = np.atleast_1d(check_array("b", b))
    if b.ndim != 1:
        raise ShapeError(f"b must have shape ({d},) for scalar noise; got {b.shape}")
    name = "scalar_linear" if calculus == "ito" else "scalar_linear_stratonovich"
    return _commuting_linear(name, a, b[None, :], x0, t_span, _rotation(d, _scalar(angle, "angle")), calculus,
                             "scalar")


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
    a = _vec(a, None, "a")
    d = a.size
    x0 = np.linspace(1.0, 0.5, d) if x0 is None else x0
    name = "linear_general" if calculus == "ito" else "linear_general_stratonovich"
    return _commuting_linear(name, a, b, x0, t_span, _rotation(d, _scalar(angle, "angle")), calculus, "general")


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
    t_span = check_span(t_span)
    g = Gaussian(mean, cov)
    m_, C = g.mean, g.cov
    d = m_.size
    lam, V = np.linalg.eigh(C)
    P = np.linalg.inv(C)
    PT = P.T.copy()
    x0 = m_ + 3.0 * np.sqrt(g.var) if x0 is None else _vec(x0, d, "x0")
    t0 = t_span[0]
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
    t_span = check_span(t_span)
    _choice("start", start, ("stationary", "point"))
    gm = GaussianMixture(weights, means, stds)
    x0 = _vec(x0, gm.d, "x0")  # checked even where start="stationary" ignores it
    sde = SDE(lambda t, x: gm.score(x), lambda t, x: math.sqrt(2.0) + 0.0 * x, additive=True)
    if start == "stationary":
        return Problem("langevin_mixture", sde, gm.mean.copy(), tuple(t_span), exact=None,
                       mean=lambda t: gm.mean.copy(), var=lambda t: gm.var.copy(), stationary=gm, x0_law=gm,
                       params=dict(weights=gm.weights, means=gm.means, stds=gm.stds, start=start))
    return Problem("langevin_mixture", sde, x0, tuple(t_span), exact=None, stationary=gm,
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
    t_span = check_span(t_span)
    x0 = _vec(x0, None, "x0")
    t0 = t_span[0]
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
    if not isinstance(name, str) or name not in REGISTRY:
        raise InvalidArgumentError(f"unknown problem {name!r}; known: {', '.join(sorted(REGISTRY))}")
    ctor = REGISTRY[name]
    try:
        inspect.signature(ctor).bind(**params)
    except TypeError:
        valid = ", ".join(inspect.signature(ctor).parameters)
        raise InvalidArgumentError(f"unknown parameters {sorted(params)} for problem {name!r}; valid: {valid}") \
            from None
    return ctor(**params)


def all_problems():
    """Every registered problem with default parameters (a dict name -> Problem)."""
    return {name: ctor() for name, ctor in REGISTRY.items()}


__all__ = ["Problem", "Gaussian", "GaussianMixture", "REGISTRY", "by_name", "all_problems"] + list(REGISTRY)
