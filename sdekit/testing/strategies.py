r"""Hypothesis strategies for property-based tests of solvers and models (needs ``hypothesis``).

* :func:`problems` — :class:`~sdekit.testing.problems.Problem` instances with
  random but *stable* coefficients (drift rates in [-1, 1], noise rates in
  [0.1, 0.8] in magnitude, spans of length ≤ 2, so moments stay O(1) to O(10)),
  dimensions 1–4 and every noise type (diagonal, scalar, general), Itô and
  Stratonovich, each with an exact solution in :math:`W(t)` and exact moments;
  and, with ``exact_only=False``, OU and Gaussian-Langevin problems (moments only);
* :func:`initial_states` — finite ``(d,)`` states;
* :func:`time_spans` — ``(t0, t1)`` with ``t1 - t0`` in a given range;
* :func:`noise_types`, :func:`dimensions`.

Example (in a test module)::

    from hypothesis import given, settings
    import sdekit as sk

    @settings(max_examples=10, deadline=None)
    @given(sk.testing.strategies.problems(noise="scalar"))
    def test_exact_starts_at_x0(p):
        w0 = np.zeros((1, p.m))
        assert np.allclose(p.exact(p.t_span[0], p.x0, w0), p.x0)
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..errors import InvalidArgumentError
from . import problems as P
from .problems import check_count, check_real

NOISE = ("diagonal", "scalar", "general")
CALCULI = ("ito", "stratonovich")


def dimensions(min_dim: int = 1, max_dim: int = 4):
    """State dimensions ``min_dim .. max_dim`` (default 1–4)."""
    min_dim, max_dim = _dims(min_dim, max_dim)
    return st.integers(min_dim, max_dim)


def _dims(min_dim, max_dim):
    min_dim = check_count("min_dim", min_dim)
    max_dim = check_count("max_dim", max_dim, minimum=min_dim)
    return min_dim, max_dim


def _range(lo_name, lo, hi_name, hi, *, low=None):
    lo = check_real(lo_name, lo, low=low)
    hi = check_real(hi_name, hi, low=lo)
    return lo, hi


def noise_types():
    """One of ``"diagonal"``, ``"scalar"``, ``"general"``."""
    return st.sampled_from(NOISE)


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _signed(lo, hi):
    """Magnitude in [lo, hi] with either sign (bounded away from 0, so problems are non-degenerate)."""
    return st.tuples(_floats(lo, hi), st.booleans()).map(lambda v: v[0] if v[1] else -v[0])


def initial_states(d: int, low: float = 0.2, high: float = 2.0, positive: bool = False):
    """Finite ``(d,)`` float arrays with entries of magnitude in ``[low, high]`` (positive if asked)."""
    d = check_count("d", d)
    low, high = _range("low", low, "high", high, low=0.0)
    if not isinstance(positive, bool):
        raise InvalidArgumentError(f"positive must be a bool; got {positive!r}")
    elem = _floats(low, high) if positive else _signed(low, high)
    return st.lists(elem, min_size=d, max_size=d).map(lambda v: np.array(v, dtype=float))


def time_spans(min_length: float = 0.25, max_length: float = 2.0, min_t0: float = 0.0, max_t0: float = 1.0):
    """``(t0, t1)`` with ``t0`` in ``[min_t0, max_t0]`` and ``t1 - t0`` in ``[min_length, max_length]``."""
    min_length, max_length = _range("min_length", min_length, "max_length", max_length)
    if not min_length > 0:
        raise InvalidArgumentError(f"min_length must be positive (t1 > t0); got {min_length}")
    min_t0, max_t0 = _range("min_t0", min_t0, "max_t0", max_t0)
    return st.tuples(_floats(min_t0, max_t0), _floats(min_length, max_length)).map(
        lambda v: (float(v[0]), float(v[0] + v[1])))


@st.composite
def _diagonal(draw, d, calculus):
    mu = np.array(draw(st.lists(_floats(-1.0, 1.0), min_size=d, max_size=d)))
    sigma = np.array(draw(st.lists(_signed(0.1, 0.8), min_size=d, max_size=d)))
    x0 = draw(initial_states(d))
    span = draw(time_spans())
    if calculus == "stratonovich":
        return P.gbm_stratonovich(mu, sigma, x0, span)
    if draw(st.booleans()):
        return P.gbm(mu, sigma, x0, span)
    alpha = np.array(draw(st.lists(_signed(0.1, 1.0), min_size=d, max_size=d)))
    beta = np.array(draw(st.lists(_signed(0.2, 1.5), min_size=d, max_size=d)))
    return P.linear_additive(alpha, beta, x0, span)


@st.composite
def _commuting(draw, d, calculus, noise):
    a = draw(st.lists(_floats(-1.0, 1.0), min_size=d, max_size=d))
    m = 1 if noise == "scalar" else draw(st.integers(1, 4))
    b = [draw(st.lists(_signed(0.1, 0.8), min_size=d, max_size=d)) for _ in range(m)]
    x0 = draw(initial_states(d))
    span = draw(time_spans())
    angle = draw(_floats(0.0, np.pi))
    if noise == "scalar":
        return P.scalar_linear(a, b[0], x0, span, angle, calculus=calculus)
    return P.linear_general(a, b, x0, span, angle, calculus=calculus)


@st.composite
def _moments_only(draw, d):
    span = (0.0, draw(_floats(0.25, 2.0)))
    if draw(st.booleans()):
        theta = draw(st.lists(_floats(0.2, 3.0), min_size=d, max_size=d))
        mu = draw(st.lists(_floats(-1.0, 1.0), min_size=d, max_size=d))
        sigma = draw(st.lists(_floats(0.1, 1.0), min_size=d, max_size=d))
        return P.ou(theta, mu, sigma, draw(initial_states(d)), span)
    # A random SPD covariance: L L^T + 0.2 I with bounded entries.
    L = np.array(draw(st.lists(_floats(-1.0, 1.0), min_size=d * d, max_size=d * d))).reshape(d, d)
    cov = L @ L.T + 0.2 * np.eye(d)
    mean = draw(st.lists(_floats(-1.0, 1.0), min_size=d, max_size=d))
    return P.langevin_gaussian(mean, cov, draw(initial_states(d)), span)


def problems(noise=None, calculus=None, min_dim: int = 1, max_dim: int = 4, exact_only: bool = True):
    r"""Strategy of :class:`~sdekit.testing.problems.Problem` instances.

    Parameters
    ----------
    noise : None, a noise type, or a list of them (default: all three)
    calculus : None, ``"ito"`` or ``"stratonovich"`` (default: both)
    min_dim, max_dim : state dimension range (default 1–4)
    exact_only : only problems with ``exact`` (default); ``False`` adds OU and
        Gaussian-Langevin problems with exact moments but no exact solution (Itô, diagonal noise)

    Families drawn: diagonal noise — :func:`~sdekit.testing.problems.gbm`,
    :func:`~sdekit.testing.problems.gbm_stratonovich`,
    :func:`~sdekit.testing.problems.linear_additive`; scalar noise —
    :func:`~sdekit.testing.problems.scalar_linear` (coupled, d × d rotation);
    general noise — :func:`~sdekit.testing.problems.linear_general` (m in 1–4).
    Drift rates lie in [-1, 1] and noise rates in ±[0.1, 0.8], spans have length
    in [0.25, 2]: solutions are well defined and moments moderate.
    """
    if noise is not None and not isinstance(noise, str) and not isinstance(noise, (list, tuple, set, frozenset)):
        raise InvalidArgumentError(f"noise must be None, a noise type or a list of them; got {noise!r}")
    noises = NOISE if noise is None else ((noise,) if isinstance(noise, str) else tuple(noise))
    calculi = CALCULI if calculus is None else (calculus,)
    if not noises:
        raise InvalidArgumentError("noise must name at least one noise type")
    for n in noises:
        if not isinstance(n, str) or n not in NOISE:
            raise InvalidArgumentError(f"noise must be one of {NOISE}; got {n!r}")
    for c in calculi:
        if not isinstance(c, str) or c not in CALCULI:
            raise InvalidArgumentError(f"calculus must be one of {CALCULI}; got {c!r}")
    min_dim, max_dim = _dims(min_dim, max_dim)
    if not isinstance(exact_only, bool):
        raise InvalidArgumentError(f"exact_only must be a bool; got {exact_only!r}")

    @st.composite
    def build(draw):
        d = draw(dimensions(min_dim, max_dim))
        options = [(n, c) for n in noises for c in calculi]
        if not exact_only and "diagonal" in noises and "ito" in calculi:
            options.append(("moments", "ito"))
        n, c = draw(st.sampled_from(options))
        if n == "moments":
            return draw(_moments_only(d))
        if n == "diagonal":
            return draw(_diagonal(d, c))
        return draw(_commuting(d, c, n))

    return build()


__all__ = ["problems", "initial_states", "time_spans", "noise_types", "dimensions"]
