r"""Analytic distributions with exact scores: :class:`Gaussian` and :class:`GaussianMixture`.

The laws themselves (density, score, CDF, sampler, pushforward) are the core's
:class:`sdekit.testing.problems.GaussianMixture` / :class:`~sdekit.testing.problems.Gaussian`;
this module takes the covariances as the mixture's third argument
(``GaussianMixture(weights, means, covs)``) and adds ``perturbed(sde)``: the
*exact* time-t score under a linear forward SDE whose transition is

.. math::  x_t \mid x_0 \sim \mathcal N(m_t x_0 + b_t,\; \mathrm{diag}(s_t^2)),

read from ``sde.marginal(t) -> (m_t, s_t)`` (scalars or ``(d,)`` arrays) and,
when the SDE has one, ``sde.marginal_shift(t) -> b_t`` (default 0), by
:func:`marginal_parts`. A Gaussian :math:`\mathcal N(μ, Σ)` pushed through it is
:math:`\mathcal N(m_t μ + b_t,\; M_t Σ M_t + S_t^2)` with ``M_t = diag(m_t)``; a
mixture pushes each component and keeps the weights. VE, VP, sub-VP and OU are of
this form (``sdekit_diffusion``).

``score`` and ``log_prob`` accept NumPy arrays or torch tensors and answer in
kind. Sampling is counter-based (:mod:`sdekit.philox`): row ``i`` of
``sample(n, seed)`` depends only on ``(seed, i)``.

>>> import numpy as np
>>> mix = GaussianMixture([0.3, 0.7], [[-5.0], [5.0]], [[[4.0]], [[4.0]]])
>>> x = mix.sample(20_000, seed=0)
>>> round(float((x > 0).mean()), 1)
0.7
"""

from __future__ import annotations

import math

import numpy as np

from sdekit.errors import InvalidArgumentError
from sdekit.testing import problems as _laws

from . import _arrays as A


def marginal_parts(sde, t):
    r"""``(m_t, s_t, b_t)`` of a linear forward SDE at the float time ``t``, as float64 NumPy.

    ``x_t | x_0 ~ N(m_t x_0 + b_t, diag(s_t²))``: ``m_t, s_t`` from ``sde.marginal(t)``,
    ``b_t`` from ``sde.marginal_shift(t)`` when the SDE has one, else 0. Each is a
    scalar or a ``(d,)`` array, as the SDE gives it.

    >>> class OU:   # dx = (mu - x) dt + sqrt(2) dW, mu = 3
    ...     def marginal(self, t): return math.exp(-t), math.sqrt(1 - math.exp(-2 * t))
    ...     def marginal_shift(self, t): return 3 * (1 - math.exp(-t))
    >>> [round(float(v), 4) for v in marginal_parts(OU(), 1.0)]
    [0.3679, 0.9299, 1.8964]
    """
    if not hasattr(sde, "marginal"):
        raise InvalidArgumentError(
            "this needs a linear forward SDE with .marginal(t) -> (mean_coef, std) "
            f"(e.g. sdekit_diffusion.VPSDE()); got {type(sde).__name__}"
        )
    t = float(t)
    if not math.isfinite(t):
        raise InvalidArgumentError(f"t must be finite; got {t}")
    m, s = sde.marginal(t)[:2]
    b = sde.marginal_shift(t) if hasattr(sde, "marginal_shift") else 0.0
    return tuple(np.asarray(A.to_numpy(v), dtype=np.float64) for v in (m, s, b))


class GaussianMixture(_laws.GaussianMixture):
    r"""A Gaussian mixture :math:`p(x) = \sum_k w_k \mathcal N(x; μ_k, Σ_k)` with full covariances.

    Parameters
    ----------
    weights : (K,) non-negative, normalised to sum 1
    means : (K, d)
    covs : (K, d, d) full, (K, d) diagonal, (K,) isotropic variances, a scalar, or one shared (d, d)
        (a 2-D array of shape (K, d) is read as diagonals)

    Everything but :meth:`perturbed` is the core law
    (:class:`sdekit.testing.problems.GaussianMixture`): ``sample(n, seed)``,
    ``log_prob``, ``score``, ``responsibilities``, ``cdf``, ``mean``, ``cov``,
    ``pushforward``. Score (the posterior-weighted component scores):

    .. math::  \nabla \log p(x) = -\sum_k r_k(x)\, Σ_k^{-1}(x - μ_k),\qquad
               r_k(x) = \frac{w_k \mathcal N(x; μ_k, Σ_k)}{p(x)}.

    >>> import numpy as np
    >>> mix = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [1.0, 1.0])
    >>> abs(float(mix.score(np.array([[0.0]]))[0, 0]))    # symmetric: zero at the centre
    0.0
    """

    def __init__(self, weights, means, covs):
        super().__init__(weights, means, covs=covs)

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


class Gaussian(_laws.Gaussian, GaussianMixture):
    r"""A Gaussian :math:`\mathcal N(μ, Σ)`: ``score(x) = -Σ^{-1}(x - μ)``.

    ``cov`` is ``(d, d)``, a ``(d,)`` diagonal or a scalar variance. The core law
    (:class:`sdekit.testing.problems.Gaussian`) with :meth:`perturbed`.

    >>> import numpy as np
    >>> g = Gaussian([0.0, 1.0], [[2.0, 0.5], [0.5, 1.0]])
    >>> x = g.sample(50_000, seed=3)
    >>> np.round(np.cov(x.T), 1).tolist()
    [[2.0, 0.5], [0.5, 1.0]]
    """


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
        marginal_parts(sde, 0.5)  # fail early on a bad sde

    def at(self, t):
        """The exact law of ``x_t``."""
        t = float(t)
        if t != self._t:
            self._law, self._t = self.dist.pushforward(*marginal_parts(self.sde, t)), t
        return self._law

    def __call__(self, t, x):
        return self.at(t).score(x)

    def log_prob(self, t, x):
        return self.at(t).log_prob(x)

    def __repr__(self):
        return f"PerturbedScore({self.dist!r}, {type(self.sde).__name__})"


__all__ = ["Gaussian", "GaussianMixture", "PerturbedScore", "marginal_parts"]
