"""Brownian paths that are pure functions of ``(seed, path index, time)``.

Construction (Lévy's, on a fixed tree)
--------------------------------------
The span ``[t0, t1]`` is cut into ``segments`` equal segments of width Δ.
``W`` at the segment ends is a random walk,

    W(a_{j+1}) = W(a_j) + sqrt(Δ) z(j, 0),

and inside each segment a dyadic tree refines it: the midpoint of the level-l
interval ``[l_, r_]`` (width h = Δ 2^-l, index k) is the Brownian bridge value

    W(m) = (W(l_) + W(r_)) / 2 + (sqrt(h) / 2) z(j, 2^l + k),

down to level ``LEVELS`` (32). A time strictly inside a leaf interval
``[l_, r_]`` (width Δ 2^-32) gets the bridge value

    W(t) = W(l_) + (t - l_)/(r_ - l_) (W(r_) - W(l_)) + sqrt((t - l_)(r_ - t)/(r_ - l_)) z(j, 2^32 + k).

Each ``z`` is a standard normal from :mod:`sdekit.philox`, keyed by the seed,
the node id ``u = j 2^33 + heap index``, the path and the component. Hence:

1. path ``i`` depends only on ``(seed, i)`` (and ``segments``), not on how
   many paths there are, the order of queries, threads or backend;
2. W is a single function of t: increments add up exactly, and solves on
   grids of n, 2n or 3n steps see the same W at their shared times;
3. at any finite set of times with at most one per leaf interval the joint law
   is exactly Brownian (times closer than Δ 2^-32 share a bridge draw);
4. on a grid of ``segments * 2^k`` equal steps, evaluating W left to right
   draws one normal per path and step (each tree node once). Other grids
   descend further, about ``32 - log2(steps)`` normals per query.

``solve`` without ``brownian=`` builds its path with ``segments`` equal to the
odd part of ``n_steps``, so that every grid ``n, 2n, 4n, ...`` of a convergence
study is cheap *and* consistent; pass one ``BrownianPath`` as ``brownian=`` to
share a path across arbitrary resolutions.

Example
-------
>>> import numpy as np, sdekit as sk
>>> bm = sk.BrownianPath(4, 2, (0.0, 1.0), seed=7)
>>> a = bm.increment(0.0, 0.3) + bm.increment(0.3, 1.0)
>>> bool(np.allclose(a, bm.value(1.0), rtol=0, atol=1e-14))
True
>>> bool(np.array_equal(sk.BrownianPath(2, 2, (0.0, 1.0), seed=7).value(0.6), bm.value(0.6)[:2]))
True
"""

from __future__ import annotations

import math

import numpy as np

from . import philox
from .errors import BackendError, InvalidArgumentError

LEVELS = 32  # depth of the dyadic tree inside a segment
_SEGMENT_BITS = LEVELS + 1  # heap indices of one segment: [0, 2^33)
_AUX_FLAG = 1 << 63  # node ids of auxiliary normals (correctors, Langevin steps)
_MAX_SEGMENTS = 1 << (63 - _SEGMENT_BITS)


def node_id(segment: int, heap: int) -> int:
    """Global node id of heap index ``heap`` in segment ``segment``."""
    return (segment << _SEGMENT_BITS) | heap


def aux_node_id(step: int, k: int) -> int:
    """Node id of the ``k``-th auxiliary normal at solver step ``step`` (k < 256)."""
    return _AUX_FLAG | (step << 8) | k


def odd_part(n: int) -> int:
    """The largest odd divisor of ``n``."""
    while n % 2 == 0:
        n //= 2
    return n


class _NumpySource:
    """Normals of one node for all paths, as float64 NumPy arrays."""

    def __init__(self, seed, n_paths, dim, path_offset=0):
        self.seed, self.dim = seed, dim
        self.paths = np.arange(path_offset, path_offset + n_paths, dtype=np.uint64)

    def node(self, u: int, n_comp=None):
        m = self.dim if n_comp is None else n_comp
        kernel = philox.compiled_kernel("_brownian_numba", "node_normals_parallel")
        if kernel is None:  # pragma: no cover - Numba missing
            return philox.normals(self.seed, u, self.paths, m)
        out = np.empty((self.paths.size, m))
        kernel(out, *philox.key_words(self.seed), u >> 2, u & 3,
               int(self.paths[0]) if self.paths.size else 0)
        return out

    def zeros(self):
        return np.zeros((self.paths.size, self.dim))

    # Grid sweeps fill whole blocks of the tree at once (see BrownianPath._grid_increments).
    def block_filler(self):
        return _block_kernel()

    @staticmethod
    def to_numpy(w):
        return w

    @staticmethod
    def empty_block(shape, dtype_name):
        """A fresh array for a block of increments, and the NumPy view the kernel writes."""
        out = np.empty(shape, dtype=dtype_name)
        return out, out


def _block_kernel():
    """The compiled block filler (:mod:`sdekit._brownian_numba`), or None without Numba."""
    return philox.compiled_kernel("_brownian_numba", "fill_block_parallel")


_BLOCK_BYTES = 64 << 20  # memory of one block of W values (all paths): bounded, never O(n_steps)
_MAX_BLOCK_LEVELS = 4  # at most 16 steps per block: about 33 state-sized arrays (W values and increments)


class BrownianPath:
    """An ``m``-dimensional Brownian motion for ``n_paths`` paths on ``t_span``.

    Parameters
    ----------
    n_paths, dim : int
        Number of paths and Brownian dimension ``m``.
    t_span : (float, float)
        ``(t0, t1)`` with ``t1 > t0``; ``W(t0) = 0``.
    seed : int
        Philox key, in [0, 2**64).
    dtype : "float64" or "float32"
        Dtype of returned values (computation is float64).
    backend : "numpy" or "torch"
    device : torch device, for ``backend="torch"``.
    segments : int
        Number of equal top-level segments (see the module docstring). Default 1.
    path_offset : int
        Index of the first path (so a block of paths of a larger ensemble can be
        generated on its own).

    Methods ``value(t)`` and ``increment(s, t)`` return arrays ``(n_paths, dim)``.
    Evaluation memoises the tree nodes along the last query, so left-to-right
    sweeps cost one node per grid step; the values never depend on the order
    of queries.

    Example
    -------
    >>> import sdekit as sk
    >>> bm = sk.BrownianPath(100_000, 1, (0.0, 2.0), seed=1)
    >>> w = bm.value(2.0)
    >>> w.shape, abs(float(w.var()) - 2.0) < 0.05      # Var W(2) = 2
    ((100000, 1), True)
    """

    def __init__(self, n_paths, dim, t_span, *, seed=0, dtype="float64", backend="numpy", device=None,
                 segments=1, path_offset=0):
        from .validation import check_positive_int, check_t_span, resolve_dtype_name

        self.n_paths = check_positive_int("n_paths", n_paths)
        self.dim = check_positive_int("dim", dim)
        self.t0, self.t1 = check_t_span(t_span)
        self.seed = philox.check_seed(seed)
        self.segments = check_positive_int("segments", segments)
        if self.segments >= _MAX_SEGMENTS:
            raise InvalidArgumentError(f"segments must be below {_MAX_SEGMENTS}; got {segments}")
        self.path_offset = int(path_offset)
        self.dtype = resolve_dtype_name(dtype)
        self.backend = backend
        self.device = device
        if backend == "numpy":
            self._source = _NumpySource(self.seed, self.n_paths, self.dim, self.path_offset)
        elif backend == "torch":
            try:
                from .backends.torch_backend import TorchNormalSource
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise BackendError(f'backend="torch" needs torch installed ({e})') from e
            self._source = TorchNormalSource(self.seed, self.n_paths, self.dim, self.path_offset, device)
        else:
            raise BackendError(f'backend must be "numpy" or "torch" for BrownianPath; got {backend!r}')
        self._width = (self.t1 - self.t0) / self.segments
        span_scale = 1.0 + max(abs(self.t0), abs(self.t1)) / (self.t1 - self.t0)
        # Snap a query to a tree node when it is within float64 rounding of it.
        self._snap = min(0.49, 64 * np.finfo(np.float64).eps * 2.0**LEVELS * self.segments * span_scale)
        self._seg_cache = (0, self._source.zeros())  # (j, W(a_j))
        self._levels = {}  # level -> [segment, k, W_left, W_right, W_mid or None]

    # -- public -------------------------------------------------------------
    def value(self, t):
        """``W(t) - W(t0)``, shape ``(n_paths, dim)``."""
        return self._cast(self._value64(self._check_time("t", t)))

    def increment(self, s, t):
        """``W(t) - W(s)``, shape ``(n_paths, dim)``."""
        s = self._check_time("s", s)
        t = self._check_time("t", t)
        return self._cast(self._value64(t) - self._value64(s))

    def aux_normals(self, step: int, k: int = 0, dim=None):
        """Standard normals ``(n_paths, dim)`` independent of W, keyed by ``(step, k)``.

        For samplers that need fresh noise besides the Brownian increments (Langevin
        correctors); ``dim`` defaults to the path's dimension. Not
        resolution-consistent, by nature.
        """
        return self._cast(self._source.node(aux_node_id(int(step), int(k)), dim))

    def increments(self, times):
        """Yield ``W(times[i+1]) - W(times[i])`` for consecutive times (a sorted sweep).

        Differences are taken in float64 before the cast to ``dtype``; a sweep
        over a grid of ``segments * 2^k`` steps draws one normal per path and step.
        """
        times = [self._check_time("times", t) for t in times]
        steps_per_segment = self._aligned(times)
        if steps_per_segment and self._source.block_filler() is not None:
            yield from self._grid_increments(times, steps_per_segment)
            return
        prev = self._value64(times[0])
        for t in times[1:]:
            cur = self._value64(t)
            yield self._cast(cur - prev)
            prev = cur

    def _aligned(self, times):
        """``2^k`` if ``times`` is the uniform grid of ``segments * 2^k`` steps on the whole span, else 0.

        Times within rounding of the grid (``np.linspace``, ``t0 + i * dt``) count: they
        snap to the same tree nodes (see :meth:`locate`), so the block sweep returns
        exactly what the node-by-node sweep would.
        """
        n = len(times) - 1
        if n < 1 or n % self.segments:
            return 0
        per = n // self.segments
        if per & (per - 1) or per > 1 << LEVELS:
            return 0
        span = self.t1 - self.t0
        grid = self.t0 + span * (np.arange(n + 1, dtype=np.float64) / n)
        grid[-1] = self.t1
        leaves = np.abs(np.asarray(times, dtype=np.float64) - grid) * (self.segments * 2.0**LEVELS / span)
        return per if float(leaves.max()) <= 0.5 * self._snap else 0

    def _grid_increments(self, times, per):
        """Increments on an aligned grid, a block of the tree at a time (same numbers as the node sweep).

        Block ends come from the memoised tree (:meth:`_value64`, about one node per
        block); the interior, level by level with four nodes per Philox call, from
        the compiled filler; then one pass writes the block's increments (float64
        differences rounded once to ``dtype``) into a fresh array whose rows are
        handed out. A block holds at most ``_BLOCK_BYTES`` of W values.
        """
        from ._brownian_numba import block_differences

        k = per.bit_length() - 1
        fits = max(1, _BLOCK_BYTES // (8 * self.n_paths * self.dim))
        b = min(k, _MAX_BLOCK_LEVELS, fits.bit_length() - 1)
        size, level = 1 << b, k - b
        fill = self._source.block_filler()
        key = philox.key_words(self.seed)
        src = self._source
        w = np.empty((size + 1, self.n_paths, self.dim))
        w[0] = src.to_numpy(self._value64(times[0]))
        for j in range(self.segments):
            for q in range(1 << level):
                end = j * per + (q + 1) * size
                w[size] = src.to_numpy(self._value64(times[end]))
                fill(w, key[0], key[1], j, level, q, b, self._width, self.path_offset)
                out, view = src.empty_block((size, self.n_paths, self.dim), self.dtype)
                block_differences(w, view)
                yield from out
                w[0] = w[size]

    def __repr__(self):
        return (f"BrownianPath(n_paths={self.n_paths}, dim={self.dim}, t_span=({self.t0}, {self.t1}), "
                f"seed={self.seed}, segments={self.segments}, backend={self.backend!r})")

    # -- internals ----------------------------------------------------------
    def _cast(self, w):
        if self.backend == "numpy":
            return w.astype(self.dtype, copy=False)
        return self._source.cast(w, self.dtype)

    def _check_time(self, name, t):
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{name} must be a float time; got {type(t).__name__}") from None
        tol = 1e-12 * (self.t1 - self.t0)
        if not (self.t0 - tol <= t <= self.t1 + tol):
            raise InvalidArgumentError(f"{name}={t} is outside the path's span [{self.t0}, {self.t1}]")
        return min(max(t, self.t0), self.t1)

    def locate(self, t):
        """Where ``t`` sits in the tree: ``(segment, position, exact)``.

        ``position`` is an integer in ``[0, 2^LEVELS]`` (node position) when ``exact``,
        else the float position inside the leaf grid.
        """
        x = (t - self.t0) / (self.t1 - self.t0) * self.segments
        j = min(int(math.floor(x)), self.segments - 1)
        p = (x - j) * 2.0**LEVELS
        pi = round(p)
        if abs(p - pi) <= self._snap:
            return j, int(pi), True
        return j, p, False

    def _segment_start(self, j):
        top = self._levels.get(0)
        if top is not None and top[0] == j:
            return top[2]
        if top is not None and top[0] == j - 1:  # the previous segment's right end
            return top[3]
        j0, w = self._seg_cache
        if j < j0:
            j0, w = 0, self._source.zeros()
        while j0 < j:
            w = w + math.sqrt(self._width) * self._source.node(node_id(j0, 0))
            j0 += 1
        self._seg_cache = (j0, w)
        return w

    def _interval(self, j, level, k):
        """Cached ``[segment, k, W_left, W_right, W_mid]`` of interval ``(level, k)`` of segment ``j``."""
        entry = self._levels.get(level)
        if entry is not None and entry[0] == j and entry[1] == k:
            return entry
        if level == 0:
            wl = self._segment_start(j)
            wr = wl + math.sqrt(self._width) * self._source.node(node_id(j, 0))
            entry = [j, 0, wl, wr, None]
        else:
            parent = self._interval(j, level - 1, k >> 1)
            mid = self._midpoint(parent, level - 1)
            entry = [j, k, mid, parent[3], None] if k & 1 else [j, k, parent[2], mid, None]
        self._levels[level] = entry
        return entry

    def _midpoint(self, entry, level):
        if entry[4] is None:
            h = self._width * 2.0**-level
            z = self._source.node(node_id(entry[0], (1 << level) + entry[1]))
            entry[4] = 0.5 * (entry[2] + entry[3]) + (0.5 * math.sqrt(h)) * z
        return entry[4]

    def _value64(self, t):
        j, pos, exact = self.locate(t)
        if exact:
            if pos == 0:
                return self._segment_start(j) if j else self._source.zeros()
            if pos == 1 << LEVELS:
                return self._interval(j, 0, 0)[3]
            tz = (pos & -pos).bit_length() - 1  # trailing zeros: node is a level-(LEVELS-tz-1) midpoint
            level = LEVELS - tz - 1
            return self._midpoint(self._interval(j, level, pos >> (tz + 1)), level)
        k = int(pos)
        leaf = self._interval(j, LEVELS, k)
        lw = self._width * 2.0**-LEVELS
        # The fraction from the position rather than from t - l_ (no cancellation).
        frac = min(max(pos - k, 0.0), 1.0)
        z = self._source.node(node_id(j, (1 << LEVELS) + k))
        return leaf[2] + frac * (leaf[3] - leaf[2]) + math.sqrt(lw * frac * (1.0 - frac)) * z
