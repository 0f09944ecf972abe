"""Numba kernels that draw Brownian-tree normals and fill blocks of the tree (the numbers of :mod:`sdekit.brownian`).

A *block* is one interval of a segment's tree at level ``L0`` (index ``q`` in
segment ``seg``), cut into ``B = 2^b`` equal steps. Given ``W`` at its two ends
and its space-time area ``H`` for a range of paths, :func:`fill_block` computes
``W`` at the ``B - 1`` interior grid points and the areas of the ``B`` steps,
level by level (level ``L0 + l`` has ``2^l`` splits), with
:func:`sdekit._bridge.midpoint_split` — the arithmetic of
:class:`sdekit.brownian.BrownianPath`, compiled from the same source, so the
values agree with the reference bit for bit (normals to the rounding of ``log``).

Why blocks: the splits of two neighbouring intervals of one level have draw ids
that differ only in the Philox lane, so one Philox4x32 call yields the two
normals of both; and the three passes (Philox words, the central rational of
Acklam's inverse CDF, the rare tails) are loops without branches that LLVM
vectorises across paths (AVX2 ``vpmuludq`` does the 32 x 32 -> 64-bit products).

The area of the interval at level ``l`` starting at grid point ``p`` is kept in
``areas[p]``: splitting it writes the left half's area back to ``areas[p]`` and
the right half's to ``areas[mid]``, so after the last level ``areas[p]`` is the
area of step ``p``.
"""

import numba
import numpy as np

from . import _bridge, _numba_threads
from ._philox_numba import counter_words, normal_central, normal_tail, philox4
from .philox import ACKLAM_P_LOW, MAX_SEGMENT, TWO_M32

_P_HIGH = 1.0 - ACKLAM_P_LOW
_JIT = dict(cache=True, nogil=True, error_model="numpy")

midpoint_split = numba.njit(inline="always", **_JIT)(_bridge.midpoint_split)


@numba.njit(inline="always", **_JIT)
def _uniform(w):
    # (w + 1/2) 2^-32, exactly; through int32 because AVX2 converts int32 (not uint64) to double.
    return (np.float64(np.int32(np.int64(w) - 2147483648)) + 2147483648.5) * TWO_M32


@numba.njit(**_JIT)
def counter_uniforms(u4, seed_lo, seed_hi, node, i0, i1, path0, m):
    """``u4[lane, (i - i0) m + c]`` = uniform of word ``lane`` of counter ``(node, path0 + i, c)``, i0 <= i < i1.

    Two loop shapes so that the innermost loop is long (and vectorised): over
    paths when ``m == 1``, over components otherwise.
    """
    nd = np.uint64(node)
    if m == 1:
        for i in range(i0, i1):
            c0, c1, c2, c3 = counter_words(nd, np.uint64(path0 + i), np.uint64(0))
            w0, w1, w2, w3 = philox4(c0, c1, c2, c3, seed_lo, seed_hi)
            j = i - i0
            u4[0, j] = _uniform(w0)
            u4[1, j] = _uniform(w1)
            u4[2, j] = _uniform(w2)
            u4[3, j] = _uniform(w3)
    else:
        for i in range(i0, i1):
            p = np.uint64(path0 + i)
            base = (i - i0) * m
            for c in range(m):
                c0, c1, c2, c3 = counter_words(nd, p, np.uint64(c))
                w0, w1, w2, w3 = philox4(c0, c1, c2, c3, seed_lo, seed_hi)
                u4[0, base + c] = _uniform(w0)
                u4[1, base + c] = _uniform(w1)
                u4[2, base + c] = _uniform(w2)
                u4[3, base + c] = _uniform(w3)


@numba.njit(**_JIT)
def uniforms_to_normals(z, u, tails, size):
    """``z[j] = Φ^{-1}(u[j])`` (Acklam) for j < size; ``tails`` is int64 scratch.

    The central rational for all draws in a branch-free (vectorised) pass; the
    indices of the 4.85% of draws in the tails are compacted without a branch
    and only those get the logarithm (a branch in the first loop would make the
    compiler evaluate ``log`` for every draw).
    """
    for j in range(size):
        z[j] = normal_central(u[j])
    n_tail = 0
    for j in range(size):  # a separate loop: the running count would keep the first from vectorising
        v = u[j]
        tails[n_tail] = j
        n_tail += (v < ACKLAM_P_LOW) | (v > _P_HIGH)
    for t in range(n_tail):
        j = tails[t]
        z[j] = normal_tail(u[j])


@numba.njit(**_JIT)
def tree_node(seg, heap):
    """The Philox node of the split of tree interval ``heap`` in segment ``seg`` (lane ``2 (heap & 1) + which``)."""
    return (np.int64(seg) << 32) | (np.int64(heap) >> 1)


@numba.njit(**_JIT)
def fill_block(w, areas, u4, z1, z2, tails, seed_lo, seed_hi, seg, L0, q, b, width, path0, i0, i1, m):
    """Fill the interior of one block for paths ``i0 <= i < i1``.

    ``w`` has shape ``(2^b + 1, n m)`` (paths times components, flattened) with
    ``w[0]`` and ``w[2^b]`` holding W at the block's ends, ``areas`` shape
    ``(2^b, n m)`` with ``areas[0]`` holding the block's area; on return ``w[p]``
    is W at grid point ``p`` and ``areas[p]`` the area of step ``p``. ``u4`` (4, r),
    ``z1``, ``z2`` (r,) and ``tails`` (r,) are scratch with ``r >= (i1 - i0) m``.
    The block is interval ``q`` of level ``L0`` of segment ``seg`` (of width
    ``width``); row ``i`` is global path ``path0 + i``.
    """
    lo, size = i0 * m, (i1 - i0) * m
    for l in range(b):
        level = L0 + l
        count = 1 << l
        h0 = (np.int64(1) << level) + np.int64(q) * count  # first heap index of this level inside the block
        half = 1 << (b - l - 1)  # grid points between a midpoint and its interval's ends
        sqrt_h = np.sqrt(width * 2.0 ** (-level))
        first = tree_node(seg, h0)
        last = tree_node(seg, h0 + count - 1)
        for node in range(first, last + 1):
            counter_uniforms(u4, seed_lo, seed_hi, node, i0, i1, path0, m)
            for parity in range(2):
                heap = ((node - (np.int64(seg) << 32)) << 1) + parity
                r = heap - h0
                if r < 0 or r >= count:
                    continue
                uniforms_to_normals(z1, u4[2 * parity], tails, size)
                uniforms_to_normals(z2, u4[2 * parity + 1], tails, size)
                left_pos = 2 * r * half
                mid_pos = left_pos + half
                left = w[left_pos]
                right = w[left_pos + 2 * half]
                mid = w[mid_pos]
                a_left = areas[left_pos]
                a_right = areas[mid_pos]
                for j in range(size):
                    wm, hl, hr = midpoint_split(left[lo + j], right[lo + j], a_left[lo + j], z1[j], z2[j], sqrt_h)
                    mid[lo + j] = wm
                    a_left[lo + j] = hl
                    a_right[lo + j] = hr


# -- the tree above the blocks, for the fused solver kernel (sdekit.backends.numba_kernel) -----------------
# A chunk of ``rows`` paths walks the tree left to right. Its cursor holds W at the current position
# (``wcur``), the skeleton's stack ``skel[0|1|2, depth]`` (W at the node's right end, its area, and the
# area of its right sibling, pending while the node is a left child) and the same stack for the dyadic
# levels above the blocks of the current segment (``coarse``). Every split is the reference's own
# (general_split on the skeleton, midpoint_split inside a segment), on the same draws, in the same
# float64 arithmetic: the numbers of BrownianPath._segment / _interval bit for bit.
general_split = numba.njit(inline="always", **_JIT)(_bridge.general_split)
split_coefficients = numba.njit(inline="always", **_JIT)(_bridge.split_coefficients)
SKELETON = MAX_SEGMENT  # the segment index of the skeleton's (and the global root's) draws


@numba.njit(**_JIT)
def split_normals(z1, z2, u4, tails, seed_lo, seed_hi, node, lane, path0, rows, m):
    """``z1, z2`` = the two normals (lanes ``lane``, ``lane + 1`` of counter ``node``) for ``rows`` paths."""
    counter_uniforms(u4, seed_lo, seed_hi, node, 0, rows, path0, m)
    size = rows * m
    uniforms_to_normals(z1, u4[lane], tails, size)
    uniforms_to_normals(z2, u4[lane + 1], tails, size)


@numba.njit(**_JIT)
def skeleton_segment(skel, wcur, z1, z2, u4, tails, seed_lo, seed_hi, j, segments, span, width, path0, rows, m):
    """Move the skeleton's stack to segment ``j`` (coming from ``j - 1``; ``j = 0`` starts at the root).

    ``wcur`` is W at the segment's start (0 for ``j = 0``). Returns the depth ``d``
    of the segment's node: segment ``j`` has ends ``(wcur, skel[0, d])`` and area ``skel[1, d]``.
    """
    size = rows * m
    lo, hi, heap, d = 0, segments, 1, 0
    if j == 0:  # the global root: W(t1) = sqrt(T) z1, H = sqrt(T / 12) z2
        split_normals(z1, z2, u4, tails, seed_lo, seed_hi, tree_node(SKELETON, 0), 0, path0, rows, m)
        a = np.sqrt(span)
        c = np.sqrt(span / 12.0)
        for e in range(size):
            wcur[e] = 0.0
            skel[0, 0, e] = a * z1[e]
            skel[1, 0, e] = c * z2[e]
    else:  # climb to where j - 1 and j part (the node whose midpoint is j); j is its right child's start
        while True:
            mid = (lo + hi) // 2
            if mid == j:
                break
            if j < mid:
                hi, heap = mid, 2 * heap
            else:
                lo, heap = mid, 2 * heap + 1
            d += 1
        for e in range(size):
            skel[0, d + 1, e] = skel[0, d, e]
            skel[1, d + 1, e] = skel[2, d + 1, e]
        lo, heap, d = mid, 2 * heap + 1, d + 1
    while hi - lo > 1:  # left children down to the segment
        mid = (lo + hi) // 2
        f = (mid - lo) / (hi - lo)
        coeffs = split_coefficients(f, (hi - lo) * width)
        split_normals(z1, z2, u4, tails, seed_lo, seed_hi, tree_node(SKELETON, heap), 2 * (heap & 1), path0,
                      rows, m)
        for e in range(size):
            w1, h1, _, h2 = general_split(skel[0, d, e] - wcur[e], skel[1, d, e], f, coeffs, z1[e], z2[e])
            skel[0, d + 1, e] = wcur[e] + w1
            skel[1, d + 1, e] = h1
            skel[2, d + 1, e] = h2
        hi, heap, d = mid, 2 * heap, d + 1
    return d


@numba.njit(**_JIT)
def _coarse_left(coarse, wcur, z1, z2, u4, tails, seed_lo, seed_hi, seg, level, k, width, path0, rows, m):
    # Split interval (level, k) of segment seg, whose left end is wcur: its left child becomes level + 1.
    heap = (np.int64(1) << level) + k
    split_normals(z1, z2, u4, tails, seed_lo, seed_hi, tree_node(seg, heap), 2 * (heap & 1), path0, rows, m)
    sqrt_h = np.sqrt(width * 2.0 ** (-level))
    for e in range(rows * m):
        wm, hl, hr = midpoint_split(wcur[e], coarse[0, level, e], coarse[1, level, e], z1[e], z2[e], sqrt_h)
        coarse[0, level + 1, e] = wm
        coarse[1, level + 1, e] = hl
        coarse[2, level + 1, e] = hr


@numba.njit(**_JIT)
def coarse_block(coarse, wcur, w_right, area, z1, z2, u4, tails, seed_lo, seed_hi, seg, levels, q, width,
                 path0, rows, m):
    """Move the coarse stack of segment ``seg`` to block ``q`` (the level-``levels`` intervals are blocks).

    ``q = 0`` starts the segment from its right end ``w_right`` and area ``area``;
    a later block keeps its ancestors: the level where the boundary is crossed
    becomes a right child (its area was pending), finer levels start left children.
    Afterwards block ``q`` has ends ``(wcur, coarse[0, levels])`` and area ``coarse[1, levels]``.
    """
    size = rows * m
    if q == 0:
        for e in range(size):
            coarse[0, 0, e] = w_right[e]
            coarse[1, 0, e] = area[e]
        first = 0
    else:
        tz = 0
        while (q >> tz) & 1 == 0:
            tz += 1
        first = levels - tz
        for e in range(size):
            coarse[0, first, e] = coarse[0, first - 1, e]
            coarse[1, first, e] = coarse[2, first, e]
    for level in range(first, levels):
        _coarse_left(coarse, wcur, z1, z2, u4, tails, seed_lo, seed_hi, seg, level, q >> (levels - level), width,
                     path0, rows, m)


# Kernels below exist twice, compiled from one source: serially for small work (a parallel launch costs
# about as much as 10^5 normals, and idle threads spin while other work wants the cores) and in parallel.
PARALLEL_MIN = 1 << 16  # values per call from which the parallel version runs


def renamed(fn, suffix):
    """A copy of ``fn`` under another qualified name, so that Numba caches it apart.

    Numba's on-disk cache is keyed by the function's qualified name, source and
    signature, not by ``parallel=``: compiled twice from one function, the serial
    and the parallel version would load each other's machine code from the cache.
    """
    import types as pytypes

    g = pytypes.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    g.__qualname__, g.__module__, g.__doc__ = fn.__qualname__ + suffix, fn.__module__, fn.__doc__
    return g


def _both(fn):
    serial = numba.njit(**_JIT)(renamed(fn, "_serial"))
    parallel = numba.njit(parallel=True, **_JIT)(fn)

    def dispatch(*args, work):
        if work < PARALLEL_MIN:
            return serial(*args)
        _numba_threads.prepare()  # once, before Numba starts its pool: a thread-safe layer, torch's count kept
        return (serial if numba.get_num_threads() == 1 else parallel)(*args)

    dispatch.serial, dispatch.parallel, dispatch.__doc__ = serial, parallel, fn.__doc__
    dispatch.__name__ = fn.__name__
    return dispatch


def _fill_block_chunks(w, areas, seed_lo, seed_hi, seg, L0, q, b, width, path0):
    """:func:`fill_block` on ``w`` (2^b + 1, n, m) and ``areas`` (2^b, n, m), in parallel chunks of paths."""
    n, m = w.shape[1], w.shape[2]
    flat = w.reshape(w.shape[0], n * m)
    aflat = areas.reshape(areas.shape[0], n * m)
    rows = max(1, 1024 // m)
    n_chunks = (n + rows - 1) // rows
    for k in numba.prange(n_chunks):
        i0 = k * rows
        i1 = min(i0 + rows, n)
        u4 = np.empty((4, rows * m))
        z1 = np.empty(rows * m)
        z2 = np.empty(rows * m)
        tails = np.empty(rows * m, dtype=np.int64)
        fill_block(flat, aflat, u4, z1, z2, tails, seed_lo, seed_hi, seg, L0, q, b, width, path0, i0, i1, m)


_fill_block_both = _both(_fill_block_chunks)


def fill_block_parallel(w, areas, seed_lo, seed_hi, seg, L0, q, b, width, path0):
    """:func:`fill_block` over all paths: chunks in parallel for large blocks, serially for small ones."""
    return _fill_block_both(w, areas, seed_lo, seed_hi, seg, L0, q, b, width, path0, work=w.size)


def _draw_chunks(out, seed_lo, seed_hi, node, lane, path0):
    """The node-by-node sweep's draw, chunk by chunk through the same vectorised passes as :func:`fill_block`."""
    count, n, m = out.shape
    rows = max(1, 1024 // m)
    n_chunks = (n + rows - 1) // rows
    for k in numba.prange(n_chunks):
        i0 = k * rows
        i1 = min(i0 + rows, n)
        size = (i1 - i0) * m
        u4 = np.empty((4, size))
        tails = np.empty(size, dtype=np.int64)
        counter_uniforms(u4, seed_lo, seed_hi, node, i0, i1, path0, m)
        for c in range(count):
            flat = out[c].reshape(n * m)
            uniforms_to_normals(flat[i0 * m:i1 * m], u4[lane + c], tails, size)


_draw_both = _both(_draw_chunks)


def draw_normals_parallel(out, seed_lo, seed_hi, node, lane, path0):
    """``out[c, i, k]`` = normal of draw ``(node, lane + c)`` for path ``path0 + i``, component ``k``.

    ``out`` is ``(count, n, m)`` float64 with ``lane + count <= 4``: lanes of one
    Philox call come from one evaluation; in parallel chunks for large ``out``.
    """
    return _draw_both(out, seed_lo, seed_hi, node, lane, path0, work=out.size)


def _differences(w, out):
    """``out[p] = w[p + 1] - w[p]`` for ``w`` (B + 1, n, m) float64 and ``out`` (B, n, m) float64 or float32.

    The difference is taken in float64 and rounded once to ``out``'s dtype: the
    numbers of ``(w[p + 1] - w[p]).astype(dtype)``, in one parallel pass.
    """
    steps = out.shape[0]
    size = w.shape[1] * w.shape[2]
    wf = w.reshape(w.shape[0], size)
    of = out.reshape(steps, size)
    chunk = 4096
    n_chunks = (size + chunk - 1) // chunk
    for k in numba.prange(n_chunks):
        j0 = k * chunk
        j1 = min(j0 + chunk, size)
        for p in range(steps):
            a = wf[p]
            b = wf[p + 1]
            o = of[p]
            for j in range(j0, j1):
                o[j] = b[j] - a[j]


_differences_both = _both(_differences)


def block_differences(w, out):
    """``out[p] = w[p + 1] - w[p]`` in float64, rounded once to ``out``'s dtype (parallel for large blocks)."""
    return _differences_both(w, out, work=out.size)
