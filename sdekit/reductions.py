r"""Streaming reductions of an ensemble: a ``map`` from a block of paths to a partial, and a ``merge`` of two partials.

A :class:`Reduction` is the pair ``map(ys) -> partial`` and ``merge(a, b) ->
partial`` (with an optional ``finalize`` and ``stderr``). :func:`sdekit.ensemble`
calls ``map`` on every block of :data:`sdekit.blocktree.BLOCK_PATHS` paths, ``ys``
of shape ``(k, b, *event)`` (the saved times, the block's paths, the state), and
merges the partials along a binary tree fixed by the path indices
(:mod:`sdekit.blocktree`), so a deterministic ``map``/``merge`` pair gives the
same bits for any chunking, thread count or cluster.

Built-in reductions (``reduce=`` names)
---------------------------------------
``"mean"``, ``"var"``, ``"std"``, ``"moments"``
    One shared accumulator of count, mean and central sums
    :math:`M_p = \sum_i (x_i - \bar x)^p`, p = 2, 3, 4, computed exactly per block
    (two passes) and merged with the pairwise update of Chan, Golub & LeVeque
    (1979) extended to p = 3, 4 by Pébay (2008): with :math:`δ = \bar x_b - \bar x_a`
    and :math:`n = n_a + n_b`,

    .. math::
        \bar x = \bar x_a + δ n_b / n,\quad
        M_2 = M_{2a} + M_{2b} + δ^2 n_a n_b / n,

        M_3 = M_{3a} + M_{3b} + δ^3 n_a n_b (n_a - n_b)/n^2 + 3δ (n_a M_{2b} - n_b M_{2a})/n,

        M_4 = M_{4a} + M_{4b} + δ^4 n_a n_b (n_a^2 - n_a n_b + n_b^2)/n^3
              + 6δ^2 (n_a^2 M_{2b} + n_b^2 M_{2a})/n^2 + 4δ (n_a M_{3b} - n_b M_{3a})/n.

    ``var`` is :math:`s^2 = M_2/(n-1)`. Monte Carlo standard errors:
    :math:`\mathrm{se}(\bar x) = s/\sqrt n`,
    :math:`\mathrm{se}(s^2)^2 = (m_4 - s^4 (n-3)/(n-1))/n` with :math:`m_4 = M_4/n`,
    :math:`\mathrm{se}(s) = \mathrm{se}(s^2)/(2s)` (delta method). ``"moments"``
    gives a dict of ``mean``, ``var``, ``std``, ``skew`` (:math:`\sqrt n M_3/M_2^{3/2}`)
    and ``kurtosis`` (excess, :math:`n M_4/M_2^2 - 3`).
``"min"``, ``"max"``
    Exact; merged by ``minimum``/``maximum`` (order-free).
``("quantiles", probs)`` or ``("quantiles", probs, rel_err)``
    A mergeable sketch with relative error ``rel_err`` (default 1e-3): see
    :class:`QuantileSketch`. Shape ``(len(probs), k, *event)``.
``("histogram", edges)``
    Counts in the bins ``[e_i, e_{i+1})`` (the last closed), NumPy's
    ``histogram`` convention; shape ``(k, *event, len(edges) - 1)``, exact integers.
``"paths"``
    Every saved state, ``(k, n_paths, *event)``: for ensembles that fit in memory.

:func:`mean_of` makes the expectation of a function of the path (a payoff) a
reduction with its standard error.

References: T. F. Chan, G. H. Golub, R. J. LeVeque, *Updating formulae and a
pairwise algorithm for computing sample variances*, Stanford CS-79-773 (1979);
P. Pébay, *Formulas for robust, one-pass parallel computation of covariances
and arbitrary-order statistical moments*, Sandia SAND2008-6212 (2008);
C. Masson, J. Rim, H. K. Lee, *DDSketch: a fast and fully-mergeable quantile
sketch with relative-error guarantees*, VLDB 12(12) (2019).

Example
-------
>>> import numpy as np
>>> from sdekit.reductions import parse_reduce
>>> (var,) = parse_reduce("var")
>>> x = np.arange(10.0).reshape(1, 10, 1)                 # k=1 time, 10 paths, scalar state
>>> a, b = var.map(x[:, :4]), var.map(x[:, 4:])
>>> float(var.finalize(var.merge(a, b))[0, 0]), float(np.var(x, ddof=1))
(9.166666666666666, 9.166666666666666)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidArgumentError, ShapeError


class Reduction:
    """A streaming reduction: ``map(ys) -> partial``, ``merge(a, b) -> partial``.

    Parameters
    ----------
    map : callable
        Called on each block of paths, ``ys`` a NumPy array ``(k, b, *event)`` in
        the solve's dtype (``k`` saved times, ``b <= BLOCK_PATHS`` paths; a fresh
        array the function may modify). Returns any picklable partial.
    merge : callable
        ``merge(a, b)`` for partials of adjacent path ranges, ``a`` before ``b``.
        It is always called in the same tree, so it need not be associative or
        commutative for the result to be reproducible (it must be for the result
        to be *meaningful*).
    finalize : callable, optional
        ``finalize(partial) -> value`` (``res[name]``); default: the partial itself.
    stderr : callable, optional
        ``stderr(partial) -> standard error`` (``res.stderr(name)``).
    name : str, optional
        The key in the result (default: ``map``'s ``__name__``).

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> count_up = sk.Reduction(map=lambda ys: int((ys[-1] > ys[0]).sum()), merge=lambda a, b: a + b,
    ...                         name="ups")
    >>> res = sk.ensemble(sk.testing.problems.gbm().sde, 1.0, (0.0, 1.0), n_paths=10_000, n_steps=8,
    ...                   reduce=("mean", count_up), backend="numpy")
    >>> 0.55 < res["ups"] / 10_000 < 0.63         # P(X_1 > X_0) for GBM(0.5, 0.8): Phi(0.18/0.8) = 0.589
    True
    """

    def __init__(self, map, merge, *, finalize=None, stderr=None, name=None):
        for arg, fn in (("map", map), ("merge", merge), ("finalize", finalize), ("stderr", stderr)):
            if fn is not None and not callable(fn):
                raise InvalidArgumentError(f"Reduction {arg} must be callable; got {type(fn).__name__}")
        if map is None or merge is None:
            raise InvalidArgumentError("Reduction needs both map and merge")
        if name is None:
            name = getattr(map, "__name__", None)
            if not name or name == "<lambda>":
                raise InvalidArgumentError("Reduction needs name= when map is a lambda")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"Reduction name must be a non-empty str; got {name!r}")
        self.map, self.merge, self.name = map, merge, name
        self._finalize, self._stderr = finalize, stderr

    # Reductions with the same ``key`` share one partial (mean, var, std and moments do).
    @property
    def key(self):
        return ("user", id(self))

    def finalize(self, partial):
        return self._finalize(partial) if self._finalize is not None else partial

    @property
    def has_stderr(self) -> bool:
        return self._stderr is not None

    def stderr(self, partial):
        if self._stderr is None:
            raise InvalidArgumentError(f"reduction {self.name!r} has no Monte Carlo standard error")
        return self._stderr(partial)

    def __repr__(self):
        return f"Reduction(name={self.name!r})"


class _Builtin(Reduction):
    """A built-in reduction: the accumulator is shared by ``key``; only the view differs."""

    def __init__(self, name, key, map, merge, finalize, stderr=None):
        self.map, self.merge, self.name = map, merge, name
        self._key, self._finalize, self._stderr = key, finalize, stderr

    @property
    def key(self):
        return self._key


# -- moments (Chan / Pébay) -------------------------------------------------------------------
def moments_map(ys):
    """``(n, mean, M2, M3, M4)`` of a block ``(k, b, *event)`` over its paths, in float64 (two passes)."""
    x = np.asarray(ys, dtype=np.float64)
    n = x.shape[1]
    mean = x.sum(axis=1) / n
    d = x - mean[:, None]
    d2 = d * d
    return (n, mean, d2.sum(axis=1), (d2 * d).sum(axis=1), (d2 * d2).sum(axis=1))


def moments_merge(a, b):
    """Pairwise update of two moment partials (Chan et al. 1979; Pébay 2008), ``a`` the left range."""
    na, ma, m2a, m3a, m4a = a
    nb, mb, m2b, m3b, m4b = b
    n = na + nb
    fa, fb, fn = float(na), float(nb), float(n)
    delta = mb - ma
    d_n = delta / fn
    d_n2 = d_n * d_n
    mean = ma + d_n * fb
    m2 = m2a + m2b + delta * d_n * fa * fb
    m3 = (m3a + m3b + delta * d_n2 * fa * fb * (fa - fb)
          + 3.0 * d_n * (fa * m2b - fb * m2a))
    m4 = (m4a + m4b + delta * d_n2 * d_n * fa * fb * (fa * fa - fa * fb + fb * fb)
          + 6.0 * d_n2 * (fa * fa * m2b + fb * fb * m2a) + 4.0 * d_n * (fa * m3b - fb * m3a))
    return (n, mean, m2, m3, m4)


def _var(p):
    n, _, m2, _, _ = p
    with np.errstate(divide="ignore", invalid="ignore"):
        return m2 / (n - 1) if n > 1 else np.full_like(m2, np.nan)


def _se_mean(p):
    return np.sqrt(_var(p) / p[0])


def _se_var(p):
    n, _, m2, _, m4 = p
    s2 = _var(p)
    if n < 4:
        return np.full_like(m2, np.nan)
    return np.sqrt(np.maximum(m4 / n - s2 * s2 * (n - 3) / (n - 1), 0.0) / n)


def _se_std(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _se_var(p) / (2.0 * np.sqrt(_var(p)))


def _moments_value(p):
    n, mean, m2, m3, m4 = p
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"mean": mean, "var": _var(p), "std": np.sqrt(_var(p)),
                "skew": math.sqrt(n) * m3 / m2 ** 1.5, "kurtosis": n * m4 / (m2 * m2) - 3.0}


def _moments_se(p):
    return {"mean": _se_mean(p), "var": _se_var(p), "std": _se_std(p)}


def _mean(p):
    return p[1]


def _std(p):
    return np.sqrt(_var(p))


# Module-level functions, not lambdas: built-in reductions pickle with the standard library.
_MOMENT_VIEWS = {
    "mean": (_mean, _se_mean),
    "var": (_var, _se_var),
    "std": (_std, _se_std),
    "moments": (_moments_value, _moments_se),
}


def mean_of(fn, name):
    r"""The expectation :math:`E f(X)` of a function of the saved path, with its standard error.

    ``fn(ys)`` maps a block ``(k, b, *event)`` to per-path values with leading axis
    ``b`` (e.g. a discounted payoff); the reduction is their mean over all paths
    (``res[name]``, shape ``fn``'s trailing shape) and :math:`s/\sqrt n`
    (``res.stderr(name)``), merged like ``"mean"``.

    >>> import numpy as np, sdekit as sk
    >>> from sdekit.reductions import mean_of
    >>> up = mean_of(lambda ys: (ys[-1, :, 0] > 1.0).astype(float), "p_up")
    >>> res = sk.ensemble(sk.testing.problems.gbm().sde, 1.0, (0.0, 1.0), n_paths=20_000, n_steps=16,
    ...                   reduce=up, backend="numpy")
    >>> from scipy.stats import norm
    >>> exact = norm.cdf(0.18 / 0.8)                     # log X_1 ~ N(0.5 - 0.8^2/2, 0.8^2)
    >>> bool(abs(res["p_up"] - exact) < 4 * res.stderr("p_up"))
    True
    """
    if not callable(fn):
        raise InvalidArgumentError(f"mean_of needs a callable; got {type(fn).__name__}")

    def map_values(ys):
        v = np.asarray(fn(ys), dtype=np.float64)
        b = ys.shape[1]
        if v.ndim == 0 or v.shape[0] != b:
            raise ShapeError(f"reduction {name!r}: fn(ys) must return per-path values with leading axis "
                             f"{b} (the block's paths); got shape {v.shape}")
        return moments_map(v[None])

    # v[None] made the moments (1, *rest): drop that axis.
    return Reduction(map=map_values, merge=moments_merge, finalize=lambda p: p[1][0],
                     stderr=lambda p: _se_mean(p)[0], name=name)


# -- order statistics and counts ------------------------------------------------------------
def _flat(ys):
    """``(k, b, *event)`` as ``(k, b, F)`` float64, and the event shape."""
    x = np.asarray(ys, dtype=np.float64)
    return x.reshape(x.shape[0], x.shape[1], -1), x.shape[2:]


class QuantileSketch:
    r"""Mergeable quantile sketch with a relative-error guarantee (DDSketch's idea, exact bucket maps).

    Each value :math:`x = \pm m 2^e` (``frexp``, :math:`m \in [1/2, 1)`) falls in
    bucket :math:`(e, j)` with :math:`j = \lfloor (2m - 1) P \rfloor`, ``P`` a
    power of two: the octave :math:`[2^{e-1}, 2^e)` split in ``P`` equal parts.
    The bucket map is exact bit arithmetic (no ``log``), so it is the same on
    every machine. The sketch is the integer count per (saved time, component,
    bucket); merging adds counts, which is exact and order-free, so quantiles
    are bit-identical for any chunking. A quantile is read off the cumulative
    counts at rank :math:`h = p (n - 1)` and interpolated linearly between the
    representatives (bucket midpoints) of order statistics ``floor(h)`` and
    ``floor(h) + 1``, as ``numpy.quantile`` does between the values.

    **Error bound.** A bucket's half-width is at most :math:`1/(2P)` of its lower
    end, so each representative is within relative :math:`α = 1/(2P)` of the
    order statistic it stands for, and the returned quantile is within
    :math:`α \max(|x_{(\lfloor h \rfloor)}|, |x_{(\lfloor h \rfloor + 1)}|)` of
    NumPy's. ``P`` is the smallest power of two with :math:`1/(2P) \le` ``rel_err``
    (1e-3 gives P = 512, α = 9.8e-4). Zero has its own bucket (exact).

    **Memory** is the number of occupied buckets: about
    :math:`P \log_2(\max|x| / \min|x|)` per saved time and component and sign
    (20 octaves at P = 512: 10^4 buckets, 160 kB), growing only with the range of
    the values, not with the number of paths.

    **Standard error** (indicative): the asymptotic
    :math:`\sqrt{p(1-p)/n}\, / f(x_p)` with :math:`1/f(x_p) = dQ/dp` estimated by the
    central difference of the sketch's quantile function over
    :math:`p \pm n^{-1/3}` (clipped to [0, 1]); its own error is a few percent
    for smooth densities, and the sketch's α bounds its resolution.

    Why not exact quantiles: they need every value (memory O(n_paths)); use
    ``"paths"`` for that. Why not t-digest or KLL: their merges depend on the
    order of the data or on randomness, so results would depend on the chunking.
    """

    _E_OFF = 1100  # frexp exponents of float64 lie in [-1073, 1024]
    _KEY_BITS = 27  # signed bucket keys fit in (-2^26, 2^26) for P <= 2^14

    def __init__(self, probs, rel_err=1e-3):
        try:
            p = np.asarray(probs, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"reduce: quantile probabilities must be floats; got {probs!r}") from None
        if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
            raise InvalidArgumentError(f"reduce: quantile probabilities must lie in [0, 1]; got {probs!r}")
        if (isinstance(rel_err, bool) or not isinstance(rel_err, numbers.Real)
                or not 3e-5 <= rel_err < 0.5):
            raise InvalidArgumentError(f"reduce: quantile rel_err must be a float in [3e-5, 0.5); got {rel_err!r}")
        self.probs = p
        self.P = 1 << max(0, math.ceil(math.log2(1.0 / (2.0 * rel_err))))
        self.alpha = 1.0 / (2 * self.P)

    def keys(self, x):
        """Signed, order-preserving integer bucket keys of the values ``x`` (0 for zero)."""
        m, e = np.frexp(x)
        j = np.floor((2.0 * np.abs(m) - 1.0) * self.P).astype(np.int64)
        key = (e.astype(np.int64) + self._E_OFF) * self.P + j + 1
        key = np.where(x < 0, -key, key)
        return np.where(x == 0, 0, key)

    def value(self, key):
        """The representative (bucket midpoint) of integer keys."""
        key = np.asarray(key, dtype=np.int64)
        a = np.abs(key) - 1
        e, j = a // self.P - self._E_OFF, a % self.P
        v = np.ldexp(1.0 + (j + 0.5) / self.P, (e - 1).astype(np.int32))
        return np.where(key == 0, 0.0, np.where(key < 0, -v, v))

    def map(self, ys):
        x, event = _flat(ys)
        k, b, f = x.shape
        keys = self.keys(x).transpose(0, 2, 1).reshape(k * f, b) + (1 << (self._KEY_BITS - 1))
        out_keys, out_counts = [], []
        for loc, row in enumerate(keys):
            # Counting is exact either way; a dense count beats a sort when the keys are close together.
            lo, hi = int(row.min()), int(row.max())
            if hi - lo < 8 * b:
                c = np.bincount(row - lo, minlength=hi - lo + 1)
                nz = np.flatnonzero(c)
                u, cnt = nz + lo, c[nz]
            else:
                u, cnt = np.unique(row, return_counts=True)
            out_keys.append((loc << self._KEY_BITS) | u)
            out_counts.append(cnt)
        return (b, (k, *event), np.concatenate(out_keys), np.concatenate(out_counts).astype(np.int64))

    @staticmethod
    def merge(a, b):
        keys = np.concatenate([a[2], b[2]])
        counts = np.concatenate([a[3], b[3]])
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        return (a[0] + b[0], a[1], keys[starts], np.add.reduceat(counts, starts))

    def _quantile_fn(self, partial):
        """``q(probs) -> (len(probs), k*F)`` from one partial."""
        n, shape, keys, counts = partial
        n_loc = int(np.prod(shape))
        loc = keys >> self._KEY_BITS
        bounds = np.searchsorted(loc, np.arange(n_loc + 1))
        vals = self.value((keys & ((1 << self._KEY_BITS) - 1)) - (1 << (self._KEY_BITS - 1)))

        def q(probs):
            probs = np.asarray(probs, dtype=np.float64)
            h = probs * (n - 1)
            lo = np.floor(h).astype(np.int64)
            hi = np.minimum(lo + 1, n - 1)
            w = h - lo
            out = np.empty((probs.size, n_loc))
            for i in range(n_loc):
                s, t = bounds[i], bounds[i + 1]
                cum = np.cumsum(counts[s:t])
                v = vals[s:t]
                xl = v[np.searchsorted(cum, lo, side="right")]
                xh = v[np.searchsorted(cum, hi, side="right")]
                out[:, i] = xl + w * (xh - xl)
            return out

        return q, shape

    def finalize(self, partial):
        q, shape = self._quantile_fn(partial)
        return q(self.probs).reshape(self.probs.size, *shape)

    def stderr(self, partial):
        n = partial[0]
        q, shape = self._quantile_fn(partial)
        h = n ** (-1.0 / 3.0)
        lo, hi = np.clip(self.probs - h, 0, 1), np.clip(self.probs + h, 0, 1)
        slope = (q(hi) - q(lo)) / np.maximum(hi - lo, 1e-300)[:, None]
        se = np.sqrt(self.probs * (1 - self.probs) / n)[:, None] * slope
        return se.reshape(self.probs.size, *shape)


class Histogram:
    """Counts per bin ``[e_i, e_{i+1})`` (the last bin closed) of each saved time and component."""

    def __init__(self, edges):
        try:
            e = np.asarray(edges, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"reduce: histogram bins must be an array of edges; got {edges!r}") from None
        if e.ndim != 1 or e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
            raise InvalidArgumentError(
                "reduce: histogram bins must be a 1-D, finite, strictly increasing array of at least 2 edges; "
                f"got {edges!r}")
        self.edges = e

    def map(self, ys):
        x, event = _flat(ys)
        k, _, f = x.shape
        nb = self.edges.size - 1
        idx = np.searchsorted(self.edges, x, side="right") - 1
        idx[x == self.edges[-1]] = nb - 1
        ok = (idx >= 0) & (idx < nb)
        loc = np.broadcast_to(np.arange(k * f, dtype=np.int64).reshape(k, 1, f), x.shape)
        counts = np.bincount((loc * nb + idx)[ok], minlength=k * f * nb).reshape(k, *event, nb)
        return (x.shape[1], counts.astype(np.int64))

    @staticmethod
    def merge(a, b):
        return (a[0] + b[0], a[1] + b[1])

    @staticmethod
    def finalize(partial):
        return partial[1]

    @staticmethod
    def stderr(partial):
        n, c = partial
        return np.sqrt(c * (1.0 - c / n))  # binomial


def _min_map(ys):
    return np.asarray(ys).min(axis=1)


def _max_map(ys):
    return np.asarray(ys).max(axis=1)


def _identity(p):
    return p


def _paths_map(ys):
    return [np.array(ys)]


def _paths_merge(a, b):
    return a + b


def _paths_value(blocks):
    return np.concatenate(blocks, axis=1)


NAMES = ("mean", "var", "std", "moments", "min", "max", "quantiles", "histogram", "paths")


def _one(spec):
    if isinstance(spec, Reduction):
        return spec
    if isinstance(spec, str):
        if spec in _MOMENT_VIEWS:
            value, se = _MOMENT_VIEWS[spec]
            return _Builtin(spec, "moments", moments_map, moments_merge, value, se)
        if spec == "min":
            return _Builtin("min", "min", _min_map, np.minimum, _identity)
        if spec == "max":
            return _Builtin("max", "max", _max_map, np.maximum, _identity)
        if spec == "paths":
            return _Builtin("paths", "paths", _paths_map, _paths_merge, _paths_value)
        if spec in ("quantiles", "histogram"):
            raise InvalidArgumentError(f'reduce: {spec!r} needs a parameter: ("{spec}", '
                                       f'{"probs" if spec == "quantiles" else "bin edges"})')
        raise InvalidArgumentError(f"reduce: unknown reduction {spec!r}; built-ins are {', '.join(NAMES)}, "
                                   "or pass an sdekit.Reduction")
    if isinstance(spec, tuple) and spec and spec[0] == "quantiles" and len(spec) in (2, 3):
        sk = QuantileSketch(*spec[1:])
        return _Builtin("quantiles", ("quantiles", sk.P, tuple(sk.probs)), sk.map, sk.merge, sk.finalize,
                        sk.stderr)
    if isinstance(spec, tuple) and spec and spec[0] == "histogram" and len(spec) == 2:
        h = Histogram(spec[1])
        return _Builtin("histogram", ("histogram", tuple(h.edges)), h.map, h.merge, h.finalize, h.stderr)
    raise InvalidArgumentError(f"reduce: cannot read reduction {spec!r}; use a name ({', '.join(NAMES)}), "
                               '("quantiles", probs), ("histogram", edges) or an sdekit.Reduction')


def _is_single(spec):
    return (isinstance(spec, (str, Reduction))
            or (isinstance(spec, tuple) and len(spec) in (2, 3) and spec[0] in ("quantiles", "histogram")
                and not isinstance(spec[1], str)))


def parse_reduce(reduce):
    """The list of reductions named by ``reduce`` (a spec or a list/tuple of specs), names unique."""
    specs = [reduce] if _is_single(reduce) else reduce
    try:
        specs = list(specs)
    except TypeError:
        raise InvalidArgumentError(f"reduce must be a reduction or a sequence of them; got {reduce!r}") from None
    if not specs:
        raise InvalidArgumentError("reduce must name at least one reduction")
    out = [_one(s) for s in specs]
    names = [r.name for r in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidArgumentError(f"reduce: names must be unique; {dup} appear more than once")
    return out
