"""Numba kernels that fill blocks of a Brownian path's dyadic tree (same numbers as :mod:`sdekit.brownian`).

A *block* is one interval of the tree at level ``L0`` (index ``q`` in segment
``seg``), cut into ``B = 2^b`` equal steps. Given ``W`` at its two ends for a
range of paths, :func:`fill_block` computes ``W`` at the ``B - 1`` interior
grid points level by level (level ``L0 + l`` has ``2^l`` midpoints),

    W(mid) = (W(left) + W(right)) / 2 + (sqrt(h) / 2) z(seg, 2^L + k),   h = Δ 2^-L,

exactly the arithmetic of :class:`sdekit.brownian.BrownianPath`, so the values
agree with the reference bit for bit (normals to the rounding of ``log``).

Why blocks: the midpoints of one level have consecutive heap indices, so one
Philox4x32 call (counter ``node >> 2``) yields the normals of four nodes
(lanes ``node & 3``) instead of one; and the three passes (Philox words, the
central rational of Acklam's inverse CDF, the rare tails) are loops without
branches that LLVM vectorises across paths (AVX2 ``vpmuludq`` does the
32 x 32 -> 64-bit products). Together about 4-8x fewer cycles per normal
than :func:`sdekit.philox.normals`'s one-node-at-a-time twin.

The block ends come from coarser levels: :class:`~sdekit.brownian.BrownianPath`
takes them from its memoised tree; the Numba backend's fused kernel keeps a
stack of right ends per level (:func:`coarse_start`, :func:`coarse_advance`),
about one node per block.
"""

import math

import numba
import numpy as np

from ._philox_numba import normal_central, normal_tail, philox4
from .philox import ACKLAM_P_LOW, MASK32, TWO_M32

SEGMENT_BITS = 33  # heap indices of one segment: [0, 2^33), as in sdekit.brownian
_P_HIGH = 1.0 - ACKLAM_P_LOW


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _uniform(w):
    # (w + 1/2) 2^-32, exactly; through int32 because AVX2 converts int32 (not uint64) to double.
    return (np.float64(np.int32(np.int64(w) - 2147483648)) + 2147483648.5) * TWO_M32


@numba.njit(cache=True, nogil=True, error_model="numpy")
def counter_uniforms(u4, seed_lo, seed_hi, ctr, i0, i1, path0, m):
    """``u4[lane, (i - i0) m + c]`` = uniform of word ``lane`` of counter ``(ctr, path0 + i, c)``, i0 <= i < i1.

    Two loop shapes so that the innermost loop is long (and vectorised): over
    paths when ``m == 1``, over components otherwise.
    """
    c0 = np.uint64(ctr & MASK32)
    c1 = np.uint64(ctr >> 32)
    if m == 1:
        for i in range(i0, i1):
            w0, w1, w2, w3 = philox4(c0, c1, np.uint64(path0 + i), np.uint64(0), seed_lo, seed_hi)
            j = i - i0
            u4[0, j] = _uniform(w0)
            u4[1, j] = _uniform(w1)
            u4[2, j] = _uniform(w2)
            u4[3, j] = _uniform(w3)
    else:
        for i in range(i0, i1):
            c2 = np.uint64(path0 + i)
            base = (i - i0) * m
            for c in range(m):
                w0, w1, w2, w3 = philox4(c0, c1, c2, np.uint64(c), seed_lo, seed_hi)
                u4[0, base + c] = _uniform(w0)
                u4[1, base + c] = _uniform(w1)
                u4[2, base + c] = _uniform(w2)
                u4[3, base + c] = _uniform(w3)


@numba.njit(cache=True, nogil=True, error_model="numpy")
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fill_block(w, u4, z, tails, have, seed_lo, seed_hi, seg, L0, q, b, width, path0, i0, i1, m):
    """Fill the interior of one block for paths ``i0 <= i < i1``; returns the counter left in ``u4``.

    ``w`` has shape ``(2^b + 1, n m)`` (paths times components, flattened) with
    ``w[0]`` and ``w[2^b]`` holding W at the block's ends; on return ``w[p]``
    is W at the block's grid point ``p``. ``u4`` (4, r), ``z`` (r,) and
    ``tails`` (r,) are scratch with ``r >= (i1 - i0) m``. The block is
    interval ``q`` of level ``L0`` of segment ``seg`` (of width ``width``);
    row ``i`` is global path ``path0 + i``. ``have`` is the counter whose
    uniforms ``u4`` already holds (-1: none): the first levels of a small block
    share a counter with each other and with the coarse nodes, and each counter
    is computed once.
    """
    seg_base = np.int64(seg) << SEGMENT_BITS
    lo, size = i0 * m, (i1 - i0) * m
    for l in range(b):
        level = L0 + l
        count = 1 << l
        h0 = (1 << level) + q * count  # first heap index of this level inside the block
        half = 1 << (b - l - 1)  # grid points between a midpoint and its interval's ends
        scale = 0.5 * math.sqrt(width * 2.0 ** (-level))
        ctr_first = (seg_base | h0) >> 2
        ctr_last = (seg_base | (h0 + count - 1)) >> 2
        for ctr in range(ctr_first, ctr_last + 1):
            if ctr != have:
                counter_uniforms(u4, seed_lo, seed_hi, ctr, i0, i1, path0, m)
                have = ctr
            for lane in range(4):
                r = (ctr << 2) - seg_base + lane - h0
                if r < 0 or r >= count:
                    continue
                uniforms_to_normals(z, u4[lane], tails, size)
                pos = (2 * r + 1) * half
                left = w[pos - half]
                right = w[pos + half]
                mid = w[pos]
                for j in range(size):
                    mid[lo + j] = 0.5 * (left[lo + j] + right[lo + j]) + scale * z[j]
    return have


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def fill_block_parallel(w, seed_lo, seed_hi, seg, L0, q, b, width, path0):
    """:func:`fill_block` on ``w`` of shape ``(2^b + 1, n, m)``, in parallel chunks of paths."""
    n, m = w.shape[1], w.shape[2]
    flat = w.reshape(w.shape[0], n * m)
    rows = max(1, 1024 // m)
    n_chunks = (n + rows - 1) // rows
    for k in numba.prange(n_chunks):
        i0 = k * rows
        i1 = min(i0 + rows, n)
        u4 = np.empty((4, rows * m))
        z = np.empty(rows * m)
        tails = np.empty(rows * m, dtype=np.int64)
        fill_block(flat, u4, z, tails, -1, seed_lo, seed_hi, seg, L0, q, b, width, path0, i0, i1, m)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def node_normals(z, u4, tails, have, seed_lo, seed_hi, node, path0, rows, m):
    """``z[i m + c]`` = normal of tree node ``node`` (< 2^63) for path ``path0 + i``; returns the counter in ``u4``.

    Through the vectorised passes, and reusing ``u4`` when it already holds the
    node's counter ``have``.
    """
    ctr = node >> 2
    if ctr != have:
        counter_uniforms(u4, seed_lo, seed_hi, ctr, 0, rows, path0, m)
    uniforms_to_normals(z, u4[node & 3], tails, rows * m)
    return ctr


@numba.njit(cache=True, nogil=True, error_model="numpy")
def coarse_start(right, w_start, z, u4, tails, have, seed_lo, seed_hi, seg, levels, width, path0, rows, m):
    """Right ends of the first block's ancestors in segment ``seg``; returns the counter in ``u4``.

    ``right[L]`` (L = 0..levels) becomes W at the right end of the level-L
    interval containing block 0, where blocks are the level-``levels``
    intervals; ``right[0]`` is W at the segment's end and ``right[levels]`` at
    block 0's end. ``w_start`` is W at the segment's start.
    """
    size = rows * m
    seg_base = np.int64(seg) << SEGMENT_BITS
    have = node_normals(z, u4, tails, have, seed_lo, seed_hi, seg_base, path0, rows, m)
    top = math.sqrt(width)
    for j in range(size):
        right[0, j] = w_start[j] + top * z[j]
    for level in range(1, levels + 1):
        have = _left_child(right, w_start, z, u4, tails, have, seed_lo, seed_hi, seg_base, level, 0, width,
                           path0, rows, m)
    return have


@numba.njit(cache=True, nogil=True, error_model="numpy")
def coarse_advance(right, w_cur, z, u4, tails, have, seed_lo, seed_hi, seg, levels, block, width, path0, rows, m):
    """Move the stack of right ends from block ``block - 1`` to ``block`` (0 < block < 2^levels).

    ``w_cur`` is W at the new block's start. The level whose interval boundary
    is crossed keeps its parent's right end (a right child); every finer level
    starts a left child, whose right end is its parent's midpoint (one node
    each). Returns the counter left in ``u4``.
    """
    tz = 0
    while (block >> tz) & 1 == 0:
        tz += 1
    first = levels - tz
    right[first] = right[first - 1]
    seg_base = np.int64(seg) << SEGMENT_BITS
    for level in range(first + 1, levels + 1):
        have = _left_child(right, w_cur, z, u4, tails, have, seed_lo, seed_hi, seg_base, level,
                           block >> (levels - level + 1), width, path0, rows, m)
    return have


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _left_child(right, w_left, z, u4, tails, have, seed_lo, seed_hi, seg_base, level, k, width, path0, rows, m):
    # The midpoint of the level-(level-1) interval k: node (seg, 2^(level-1) + k).
    parent = level - 1
    have = node_normals(z, u4, tails, have, seed_lo, seed_hi, seg_base | ((1 << parent) + k), path0, rows, m)
    scale = 0.5 * math.sqrt(width * 2.0 ** (-parent))
    for j in range(rows * m):
        right[level, j] = 0.5 * (w_left[j] + right[parent, j]) + scale * z[j]
    return have


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def node_normals_parallel(out, seed_lo, seed_hi, ctr, lane, path0):
    """``out[i, c]`` = normal of node ``4 ctr + lane`` for path ``path0 + i``, component ``c`` (out: (n, m) float64).

    (The node id is passed split, as it may exceed int64: auxiliary ids set bit 63.)

    The node-by-node sweep's draw, in parallel chunks and the same vectorised
    passes as :func:`fill_block` (all four Philox words are computed anyway; one is kept).
    """
    n, m = out.shape
    flat = out.reshape(n * m)
    rows = max(1, 1024 // m)
    n_chunks = (n + rows - 1) // rows
    for k in numba.prange(n_chunks):
        i0 = k * rows
        i1 = min(i0 + rows, n)
        size = (i1 - i0) * m
        u4 = np.empty((4, size))
        tails = np.empty(size, dtype=np.int64)
        counter_uniforms(u4, seed_lo, seed_hi, ctr, i0, i1, path0, m)
        uniforms_to_normals(flat[i0 * m:i1 * m], u4[lane], tails, size)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def block_differences(w, out):
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
