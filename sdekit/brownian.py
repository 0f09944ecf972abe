r"""Brownian paths with space-time Lévy area that are pure functions of ``(seed, path index, time)``.

Construction
------------
A path on ``[t0, t1]`` (length T) carries, for every interval, its increment
``w`` and its space-time Lévy area ``H`` (:mod:`sdekit._bridge`). Everything
starts from the **global root**: ``W(t1) = sqrt(T) z`` and ``H_{t0,t1} = sqrt(T/12) z'``.

* ``segments = o`` cuts the span into ``o`` equal segments. For ``o > 1`` their
  ends and areas come from a *skeleton*: the index range ``[0, o)`` is bisected
  (``mid = (lo + hi) // 2``) and each cut is a conditional split of ``(w, H)`` at
  fraction ``(mid - lo)/(hi - lo)``. Hence ``W(t1)`` and the whole-span area are
  the same for every ``o``; grids sharing ``o`` share the whole path.
* Inside each segment a dyadic tree refines ``(W, H)`` by midpoint splits
  (Foster's), down to level ``LEVELS`` (32).
* A time strictly inside a leaf (width ``T / (o 2^32)``) splits the leaf at its
  fraction with a draw keyed by the leaf.

Each split uses two standard normals from :mod:`sdekit.philox`, keyed by the
seed, a draw id (segment and heap index), the path and the component. Hence:

1. path ``i`` depends only on ``(seed, i)`` (and ``segments``): not on how many
   paths there are, the order of queries, threads or backend;
2. ``W`` and ``I(t) = \int_{t0}^t W`` are single functions of t: increments add up
   exactly, areas obey Chen's relation, and solves on grids of n, 2n or 3n
   steps see the same path at their shared times;
3. at any finite set of times with at most one per leaf the joint law of
   ``W`` (and of the areas between them) is exactly Brownian; times closer than
   a leaf share the leaf's draw;
4. on a grid of ``segments * 2^k`` equal steps a left-to-right sweep draws two
   normals per path, component and step (each split once); other grids descend
   to the leaves, about ``2 (32 - log2(steps))`` normals per query.

``solve`` without ``brownian=`` builds its path with ``segments`` equal to the
odd part of ``n_steps``, so that every grid ``n, 2n, 4n, ...`` of a convergence
study is cheap *and* consistent, and ``W(t1)`` is the same for every grid.
Pass one ``BrownianPath`` as ``brownian=`` to share a path across arbitrary resolutions.

Example
-------
>>> import numpy as np, sdekit as sk
>>> bm = sk.BrownianPath(4, 2, (0.0, 1.0), seed=7)
>>> a = bm.increment(0.0, 0.3) + bm.increment(0.3, 1.0)
>>> bool(np.allclose(a, bm.value(1.0), rtol=0, atol=1e-14))
True
>>> bool(np.array_equal(sk.BrownianPath(2, 2, (0.0, 1.0), seed=7).value(0.6), bm.value(0.6)[:2]))
True
>>> bool(np.allclose(sk.BrownianPath(4, 2, (0.0, 1.0), seed=7, segments=5).value(1.0), bm.value(1.0)))
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import philox
from ._bridge import chen, general_split, midpoint_split, split_coefficients
from .errors import BackendError, InvalidArgumentError

LEVELS = 32  # depth of the dyadic tree inside a segment
SKELETON = philox.MAX_SEGMENT  # the segment index of the skeleton tree's (and the global root's) draws
MAX_SEGMENTS = philox.MAX_SEGMENT  # segment indices 0 .. MAX_SEGMENTS - 1


class LevyIncrement(NamedTuple):
    """An increment ``dW`` over a step together with its space-time Lévy area ``H`` (both ``(n, m)``)."""

    dW: object
    H: object


def odd_part(n: int) -> int:
    """The largest odd divisor of ``n``."""
    n = int(n)
    while n % 2 == 0 and n > 0:
        n //= 2
    return n


def segments_for(n_steps: int) -> int:
    """The ``segments`` of the path a seed-only solve with ``n_steps`` uniform steps builds (its odd part).

    Odd parts beyond the addressable segment count fall back to 1 (same path law;
    the grid is then swept by descending the tree).
    """
    o = odd_part(n_steps)
    return o if o < MAX_SEGMENTS else 1


class NumpySource:
    """Normals of one draw id for all paths, as float64 NumPy arrays (the Numba kernels do the work)."""

    name = "numpy"
    device = None

    def __init__(self, seed, n_paths, dim, path_offset=0, device=None):
        self.seed, self.dim = seed, dim
        self.n_paths, self.path_offset = int(n_paths), int(path_offset)

    def draw(self, draw, n_comp=None, count=1):
        """``count`` consecutive lanes from draw id ``draw``: ``(n, m)``, or ``(count, n, m)`` if ``count > 1``."""
        m = self.dim if n_comp is None else n_comp
        kernel = philox.compiled_kernel("_brownian_numba", "draw_normals_parallel")
        if kernel is None:  # pragma: no cover - Numba missing
            paths = np.arange(self.path_offset, self.path_offset + self.n_paths, dtype=np.uint64)
            out = np.stack([philox.normals(self.seed, draw + c, paths, m, compiled=False) for c in range(count)])
        else:
            out = np.empty((count, self.n_paths, m))
            kernel(out, *philox.key_words(self.seed), np.uint64(draw >> 2), draw & 3, self.path_offset)
        return out[0] if count == 1 else out

    def zeros(self):
        return np.zeros((self.n_paths, self.dim))

    def block_filler(self):
        return philox.compiled_kernel("_brownian_numba", "fill_block_parallel")

    @staticmethod
    def to_numpy(w):
        return w

    @staticmethod
    def from_numpy(a):
        return a

    @staticmethod
    def empty_block(shape, dtype_name):
        """A fresh array for a block of increments, and the NumPy view the kernel writes."""
        out = np.empty(shape, dtype=dtype_name)
        return out, out

    @staticmethod
    def cast(w, dtype_name):
        return w.astype(dtype_name, copy=False)


def _source_class(backend):
    if backend == "numpy":
        return NumpySource
    if backend == "torch":
        try:
            from ._philox_torch import TorchNormalSource
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise BackendError(f'backend="torch" needs torch installed ({e})') from e
        return TorchNormalSource
    raise BackendError(f'backend must be "numpy" or "torch" for BrownianPath; got {backend!r}')


_BLOCK_BYTES = 64 << 20  # memory of one block of W values (all paths): bounded, never O(n_steps)
_MAX_BLOCK_LEVELS = 3  # at most 8 steps per block: about 25 state-sized arrays (W, areas, increments)


class BrownianPath:
    """An ``m``-dimensional Brownian motion with space-time Lévy area, for ``n_paths`` paths on ``t_span``.

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
        ``W(t1)`` does not depend on it.
    path_offset : int
        Index of the first path (so a block of paths of a larger ensemble can be
        generated on its own); path indices must stay below 2**48.

    Methods ``value(t)``, ``increment(s, t)`` and ``space_time_levy_area(s, t)``
    return arrays ``(n_paths, dim)``. Evaluation memoises the tree nodes along
    the last query, so left-to-right sweeps cost one split per grid step; the
    values never depend on the order of queries.

    Read-only facts for kernels: ``seed``, ``segments``, ``path_offset``,
    ``t0``, ``t1``, ``segment_width``, ``backend``, ``device``, ``dtype``, and
    :meth:`aligned_level`.

    Example
    -------
    >>> import sdekit as sk
    >>> bm = sk.BrownianPath(100_000, 1, (0.0, 2.0), seed=1)
    >>> w, h = bm.value(2.0), bm.space_time_levy_area(0.5, 1.5)
    >>> w.shape, abs(float(w.var()) - 2.0) < 0.05, abs(float(h.var()) - 1 / 12) < 0.005   # Var H = h/12
    ((100000, 1), True, True)
    """

    levy_area = "space-time"

    def __init__(self, n_paths, dim, t_span, *, seed=0, dtype="float64", backend="numpy", device=None,
                 segments=1, path_offset=0):
        from .validation import check_positive_int, check_t_span, resolve_dtype_name

        self.n_paths = check_positive_int("n_paths", n_paths)
        self.dim = check_positive_int("dim", dim)
        if self.dim > philox.MAX_COMPONENTS:
            raise InvalidArgumentError(f"dim must be at most 2**{philox.COMPONENT_BITS}; got {dim}")
        self.t0, self.t1 = check_t_span(t_span)
        self.seed = philox.check_seed(seed)
        self.segments = check_positive_int("segments", segments)
        if self.segments >= MAX_SEGMENTS:
            raise InvalidArgumentError(f"segments must be below {MAX_SEGMENTS}; got {segments}")
        self.path_offset = philox.check_paths(self.n_paths, path_offset)
        from .memory import check_allocation

        # the memoised tree holds a few dozen (n_paths, dim) float64 arrays along the last query
        check_allocation(8 * self.n_paths * self.dim * 2 * (LEVELS + 4), f"a BrownianPath of {self.n_paths} paths x "
                         f"{self.dim} components (its memoised tree)")
        self.dtype = resolve_dtype_name(dtype)
        self.backend = backend
        self._source = _source_class(backend)(self.seed, self.n_paths, self.dim, self.path_offset, device)
        self.device = self._source.device
        span = self.t1 - self.t0
        self.segment_width = span / self.segments
        if not (self.segment_width * 2.0**-LEVELS > 0.0 and math.isfinite(span)):
            raise InvalidArgumentError(f"t_span {t_span} is too short or too long to build a Brownian tree on")
        span_scale = 1.0 + max(abs(self.t0), abs(self.t1)) / span
        # Snap a query to a tree node when it is within float64 rounding of it.
        self._snap = min(0.49, 64 * np.finfo(np.float64).eps * 2.0**LEVELS * self.segments * span_scale)
        self._root = None
        self._skel = {}  # depth -> [heap, lo, hi, W_left, W_right, H, split or None]
        self._levels = {}  # level -> [segment, k, W_left, W_right, H, split or None]

    # -- public -------------------------------------------------------------
    def value(self, t):
        """``W(t) - W(t0)``, shape ``(n_paths, dim)``."""
        return self._cast(self._value64(self._check_time("t", t)))

    def increment(self, s, t):
        """``W(t) - W(s)``, shape ``(n_paths, dim)``."""
        s = self._check_time("s", s)
        t = self._check_time("t", t)
        return self._cast(self._value64(t) - self._value64(s))

    def space_time_levy_area(self, s, t):
        r"""The space-time Lévy area ``H_{s,t}``, shape ``(n_paths, dim)``.

        .. math:: H_{s,t} = \frac1h\int_s^t \Big(W_u - W_s - \frac{u - s}{h} W_{s,t}\Big)\,du,\qquad h = t - s,

        ``H ~ N(0, h/12)``, independent of ``W_{s,t}``; for adjacent intervals Chen's
        relation holds exactly (to rounding). ``s < t`` inside the span.
        """
        s = self._check_time("s", s)
        t = self._check_time("t", t)
        if not t > s:
            raise InvalidArgumentError(f"space_time_levy_area needs s < t; got s={s}, t={t}")
        return self._cast(self._area64(s, t)[1])

    def aux_normals(self, step: int, k: int = 0, dim=None):
        """Standard normals ``(n_paths, dim)`` independent of W, keyed by ``(step, k)``.

        For samplers that need fresh noise besides the Brownian increments (Langevin
        correctors); ``dim`` defaults to the path's dimension. Not
        resolution-consistent, by nature. ``step < 2**40``, ``k < 2**16``.
        """
        m = self.dim if dim is None else int(dim)
        if not 1 <= m <= philox.MAX_COMPONENTS:
            raise InvalidArgumentError(f"dim must be in [1, 2**{philox.COMPONENT_BITS}]; got {dim!r}")
        return self._cast(self._source.draw(philox.aux_draw(int(step), int(k)), m))

    def increments(self, times, levy_area=False):
        """Yield ``W(times[i+1]) - W(times[i])`` for consecutive times (a sorted sweep).

        With ``levy_area=True`` yield :class:`LevyIncrement` ``(dW, H)`` pairs. Differences
        are taken in float64 before the cast to ``dtype``; a sweep over a grid of
        ``segments * 2^k`` steps draws two normals per path and step.
        """
        times = [self._check_time("times", t) for t in times]
        k = self.aligned_level(times)
        if k is not None and self._source.block_filler() is not None:
            yield from self._grid_increments(k, levy_area)
            return
        prev = self._value64(times[0])
        for a, b in zip(times[:-1], times[1:]):
            cur = self._value64(b)
            dw = self._cast(cur - prev)
            yield LevyIncrement(dw, self._cast(self._area64(a, b)[1])) if levy_area else dw
            prev = cur

    def aligned_level(self, times):
        """``k`` if ``times`` is the uniform grid of ``segments * 2^k`` steps on the whole span, else None.

        Times within rounding of the grid (``np.linspace``, ``t0 + i * dt``) count: they
        snap to the same tree nodes (see :meth:`locate`).
        """
        n = len(times) - 1
        if n < 1 or n % self.segments:
            return None
        per = n // self.segments
        if per & (per - 1) or per > 1 << LEVELS:
            return None
        span = self.t1 - self.t0
        grid = self.t0 + span * (np.arange(n + 1, dtype=np.float64) / n)
        grid[-1] = self.t1
        leaves = np.abs(np.asarray(times, dtype=np.float64) - grid) * (self.segments * 2.0**LEVELS / span)
        return per.bit_length() - 1 if float(leaves.max()) <= 0.5 * self._snap else None

    def path(self, i):
        """Path ``i`` of this one as a one-path ``BrownianPath`` (the same numbers as row ``i``)."""
        i = int(i)
        if not 0 <= i < self.n_paths:
            raise InvalidArgumentError(f"path index must be in [0, {self.n_paths}); got {i}")
        return self._with(1, self.path_offset + i)

    def fresh_copy(self):
        """A new path with this one's parameters and normal kernel: the same numbers, its own (empty) memo.

        >>> bm = BrownianPath(3, 1, (0.0, 1.0), seed=5)
        >>> bool((bm.fresh_copy().value(0.3) == bm.value(0.3)).all())
        True
        """
        copy = self._with(self.n_paths, self.path_offset)
        kernel = getattr(self._source, "kernel", None)  # torch kernels agree only to rounding in the tails
        if kernel is not None and self.backend == "torch":
            copy.set_kernel(kernel)
        return copy

    def _with(self, n_paths, path_offset):
        return BrownianPath(n_paths, self.dim, (self.t0, self.t1), seed=self.seed, dtype=self.dtype,
                            backend=self.backend, device=self.device, segments=self.segments, path_offset=path_offset)

    def node_before(self, t, end, bits=3):
        """A tree node in ``(t, end]`` within ``(end - t) 2^-bits`` of ``end`` (adaptive steps end on nodes).

        Queries at nodes of a shallow level cost a few splits; arbitrary times descend to the leaves.
        """
        h = end - t
        if not h > 0:
            return end
        width = self.segment_width
        level = min(LEVELS, max(0, math.ceil(math.log2(width * 2.0**bits / h))))
        x = (end - self.t0) / width
        j = min(int(math.floor(x)), self.segments - 1)
        scale = 2.0**level
        k = math.floor((x - j) * scale)
        node = self.t0 + (j + k / scale) * width
        if node <= t:
            k = math.floor(((t - self.t0) / width - j) * scale) + 1
            node = self.t0 + (j + k / scale) * width
        return min(node, end) if node > t else end

    def set_kernel(self, kernel):
        """Choose how a torch path computes its normals (see :class:`sdekit._philox_torch.TorchNormalSource`)."""
        if not hasattr(self._source, "set_kernel"):
            raise InvalidArgumentError(f"a {self.backend!r} BrownianPath has no kernel choice")
        self._source.set_kernel(kernel)

    def segment_bounds(self, j):
        """``(W(a_j), W(a_{j+1}), H)`` of segment ``j`` as float64 arrays (the skeleton's output)."""
        return self._segment(int(j))

    def __repr__(self):
        return (f"BrownianPath(n_paths={self.n_paths}, dim={self.dim}, t_span=({self.t0}, {self.t1}), "
                f"seed={self.seed}, segments={self.segments}, backend={self.backend!r})")

    # -- internals: the skeleton ---------------------------------------------
    def _cast(self, w):
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

    def _pair(self, draw):
        z = self._source.draw(draw, count=2)
        return z[0], z[1]

    def _global_root(self):
        if self._root is None:
            span = self.t1 - self.t0
            z1, z2 = self._pair(philox.tree_draw(SKELETON, 0, 0))
            self._root = (math.sqrt(span) * z1, math.sqrt(span / 12.0) * z2)
        return self._root

    def _segment(self, j):
        """``[W_left, W_right, H]`` of segment ``j``: the skeleton's leaf ``[j, j + 1)``."""
        if self.segments == 1:
            w, area = self._global_root()
            return self._source.zeros(), w, area
        depth, node = 0, self._skel.get(0)
        if node is None:
            w, area = self._global_root()
            node = self._skel[0] = [1, 0, self.segments, self._source.zeros(), w, area, None]
        while node[2] - node[1] > 1:
            heap, lo, hi = node[0], node[1], node[2]
            mid = (lo + hi) // 2
            if node[6] is None:
                f = (mid - lo) / (hi - lo)
                coeffs = split_coefficients(f, (hi - lo) * self.segment_width)
                z1, z2 = self._pair(philox.tree_draw(SKELETON, heap, 0))
                w1, h1, _, h2 = general_split(node[4] - node[3], node[5], f, coeffs, z1, z2)
                node[6] = (node[3] + w1, h1, h2)
            w_mid, h1, h2 = node[6]
            child = [2 * heap, lo, mid, node[3], w_mid, h1, None] if j < mid else \
                [2 * heap + 1, mid, hi, w_mid, node[4], h2, None]
            depth += 1
            cached = self._skel.get(depth)
            if cached is not None and cached[0] == child[0]:
                child = cached
            else:
                self._skel[depth] = child
            node = child
        return node[3], node[4], node[5]

    # -- internals: the tree inside a segment ---------------------------------
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
            if pi == 1 << LEVELS and j < self.segments - 1:  # a segment's end is the next one's start
                return j + 1, 0, True
            return j, int(pi), True
        return j, p, False

    def _interval(self, j, level, k):
        """Cached ``[segment, k, W_left, W_right, H, split]`` of interval ``(level, k)`` of segment ``j``."""
        entry = self._levels.get(level)
        if entry is not None and entry[0] == j and entry[1] == k:
            return entry
        if level == 0:
            wl, wr, area = self._segment(j)
            entry = [j, 0, wl, wr, area, None]
        else:
            parent = self._interval(j, level - 1, k >> 1)
            w_mid, h_left, h_right = self._split(parent, level - 1)
            entry = [j, k, w_mid, parent[3], h_right, None] if k & 1 else [j, k, parent[2], w_mid, h_left, None]
        self._levels[level] = entry
        return entry

    def _split(self, entry, level):
        """``(W_mid, H_left, H_right)`` of a level-``level`` interval (computed once per entry)."""
        if entry[5] is None:
            heap = (1 << level) + entry[1]
            z1, z2 = self._pair(philox.tree_draw(entry[0], heap, 0))
            sqrt_h = math.sqrt(self.segment_width * 2.0**-level)
            entry[5] = midpoint_split(entry[2], entry[3], entry[4], z1, z2, sqrt_h)
        return entry[5]

    def _leaf_split(self, j, k, frac):
        """``(W_left, w1, H1, w2, H2)`` of leaf ``k`` of segment ``j`` cut at fraction ``frac``."""
        leaf = self._interval(j, LEVELS, k)
        width = self.segment_width * 2.0**-LEVELS
        z1, z2 = self._pair(philox.leaf_draw(j, k, 0))
        w1, h1, w2, h2 = general_split(leaf[3] - leaf[2], leaf[4], frac, split_coefficients(frac, width), z1, z2)
        return leaf[2], w1, h1, w2, h2

    def _value64(self, t):
        j, pos, exact = self.locate(t)
        if exact:
            if pos == 0:
                return self._segment(j)[0]
            if pos == 1 << LEVELS:
                return self._segment(j)[1]
            tz = (pos & -pos).bit_length() - 1  # trailing zeros: node is a level-(LEVELS-tz-1) midpoint
            level = LEVELS - tz - 1
            return self._split(self._interval(j, level, pos >> (tz + 1)), level)[0]
        k = int(pos)
        frac = min(max(pos - k, 0.0), 1.0)
        wl, w1 = self._leaf_split(j, k, frac)[:2]
        return wl + w1

    # -- internals: areas of arbitrary intervals ------------------------------
    def _area64(self, s, t):
        """``(w, H)`` of ``[s, t]`` (float64): whole segments, tree intervals and leaf pieces joined by Chen."""
        js, ps, _ = self.locate(s)
        jt, pt, et = self.locate(t)
        if jt > js and et and pt == 0:  # t at a segment's start: the end of the segment before
            jt, pt = jt - 1, 1 << LEVELS
        full = float(1 << LEVELS)
        if js == jt:
            return self._area_in_segment(js, ps, pt)
        acc = self._area_in_segment(js, ps, full)
        length = (full - ps) / full
        for j in range(js + 1, jt):
            wl, wr, area = self._segment(j)
            acc = chen(acc[0], acc[1], wr - wl, area, length, 1.0)
            length += 1.0
        last = self._area_in_segment(jt, 0, pt)
        return chen(acc[0], acc[1], last[0], last[1], length, pt / full)

    def _area_in_segment(self, j, a, b):
        """``(w, H)`` of positions ``[a, b]`` (leaf units) inside segment ``j``."""
        return self._piece(j, 0, 0, a, b, {})

    def _node(self, j, level, k, memo):
        """Interval ``(level, k)`` of segment ``j`` for one query: from the sweep's memo when it has it."""
        key = (level, k)
        entry = memo.get(key)
        if entry is None:
            cached = self._levels.get(level)
            if cached is not None and cached[0] == j and cached[1] == k:
                entry = cached
            elif level == 0:
                wl, wr, area = self._segment(j)
                entry = [j, 0, wl, wr, area, None]
            else:
                parent = self._node(j, level - 1, k >> 1, memo)
                w_mid, h_left, h_right = self._split(parent, level - 1)
                entry = [j, k, w_mid, parent[3], h_right, None] if k & 1 else [j, k, parent[2], w_mid, h_left, None]
            memo[key] = entry
        return entry

    def _piece(self, j, level, k, a, b, memo):
        span = 1 << (LEVELS - level)
        lo, hi = k * span, (k + 1) * span
        node = self._node(j, level, k, memo)
        if a <= lo and b >= hi:
            return node[3] - node[2], node[4]
        if level == LEVELS:  # a partial leaf: the leaf's own split at the query fraction(s)
            return self._leaf_piece(j, k, node, a - lo if a > lo else 0.0, b - lo if b < hi else 1.0)
        mid = lo + span // 2
        if b <= mid:
            return self._piece(j, level + 1, 2 * k, a, b, memo)
        if a >= mid:
            return self._piece(j, level + 1, 2 * k + 1, a, b, memo)
        left = self._piece(j, level + 1, 2 * k, a, mid, memo)
        right = self._piece(j, level + 1, 2 * k + 1, mid, b, memo)
        return chen(left[0], left[1], right[0], right[1], mid - max(a, lo), min(b, hi) - mid)

    def _leaf_piece(self, j, k, leaf, fa, fb):
        """``(w, H)`` of the fractions ``[fa, fb]`` of leaf ``k`` (one split draw per leaf: see the module docstring)."""
        def point(f):  # (W - W_left, I - W_left * f) at fraction f, in leaf units
            if f <= 0.0:
                return 0.0 * leaf[4], 0.0 * leaf[4]
            if f >= 1.0:
                w = leaf[3] - leaf[2]
                return w, leaf[4] + 0.5 * w
            _, w1, h1, _, _ = self._leaf_split(j, k, f)
            return w1, f * (h1 + 0.5 * w1)

        wa, ia = point(fa)
        wb, ib = point(fb)
        length = fb - fa
        return wb - wa, (ib - ia) / length - 0.5 * (wa + wb)

    # -- internals: grid sweeps ----------------------------------------------
    def _grid_increments(self, k, levy_area):
        """Increments (and areas) on an aligned grid, a block of the tree at a time.

        Block ends and areas come from the memoised tree (:meth:`_interval`, about
        one split per block); the interior, level by level with two splits per
        Philox call, from the compiled filler; then one pass writes the block's
        increments (float64 differences rounded once to ``dtype``) into a fresh
        array whose rows are handed out. A block holds at most ``_BLOCK_BYTES``.
        """
        from ._brownian_numba import block_differences

        if k == 0:  # one step per segment: the skeleton's leaves are the steps
            for j in range(self.segments):
                wl, wr, area = self._segment(j)
                dw = self._cast(wr - wl)
                yield LevyIncrement(dw, self._cast(area)) if levy_area else dw
            return
        fits = max(1, _BLOCK_BYTES // (16 * self.n_paths * self.dim))
        b = min(k, _MAX_BLOCK_LEVELS, fits.bit_length() - 1)
        size, level = 1 << b, k - b
        fill = self._source.block_filler()
        key = philox.key_words(self.seed)
        src = self._source
        w = np.empty((size + 1, self.n_paths, self.dim))
        areas = np.empty((size, self.n_paths, self.dim))
        for j in range(self.segments):
            for q in range(1 << level):
                block = self._interval(j, level, q)
                w[0], w[size], areas[0] = src.to_numpy(block[2]), src.to_numpy(block[3]), src.to_numpy(block[4])
                fill(w, areas, key[0], key[1], j, level, q, b, self.segment_width, self.path_offset)
                out, view = src.empty_block((size, self.n_paths, self.dim), self.dtype)
                block_differences(w, view)
                if levy_area:
                    for p in range(size):
                        yield LevyIncrement(out[p], self._cast(src.from_numpy(areas[p].copy())))
                else:
                    yield from out
