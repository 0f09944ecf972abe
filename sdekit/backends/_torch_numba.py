"""A vectorising Numba kernel for the torch backend's CPU normals (same numbers as :mod:`sdekit.philox`).

:func:`sdekit.philox.normals`'s Numba twin computes one normal at a time with a
branch per draw (Acklam's tails), which keeps LLVM from vectorising it. This
kernel works in blocks of paths, each in three branch-free or rare-branch
passes that the compiler vectorises:

1. Philox4x32-10 for every (path, component) of the block, keeping word ``lane``
   (the 32 x 32 -> 64-bit products of values below 2^32 map to ``vpmuludq``);
2. Acklam's central rational for every draw;
3. the tail formula, only for the ~5% of draws whose uniform falls in a tail.

Blocks run in parallel (``prange``). Words are bit-identical to the reference;
normals equal it up to the rounding of ``log`` (no ``fastmath``).
"""

import math

import numba
import numpy as np

from ..philox import (ACKLAM_A, ACKLAM_B, ACKLAM_C, ACKLAM_D, ACKLAM_P_LOW, MASK32, PHILOX_M0, PHILOX_M1,
                      PHILOX_W0, PHILOX_W1, ROUNDS, TWO_M32)

_A0, _A1, _A2, _A3, _A4, _A5 = ACKLAM_A
_B0, _B1, _B2, _B3, _B4 = ACKLAM_B
_C0, _C1, _C2, _C3, _C4, _C5 = ACKLAM_C
_D0, _D1, _D2, _D3 = ACKLAM_D
_BLOCK = 512  # draws per block: the words of a block stay in L1


@numba.njit(cache=True, nogil=True, inline="always")
def _lane_word(c0, c1, c2, c3, k0, k1, lane):
    mask, s32 = np.uint64(MASK32), np.uint64(32)
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(PHILOX_W0)) & mask
            k1 = (k1 + np.uint64(PHILOX_W1)) & mask
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
    # Branch-free choice of the word (lane is the same for the whole call).
    return (c0 * np.uint64(lane == 0) + c1 * np.uint64(lane == 1) + c2 * np.uint64(lane == 2)
            + c3 * np.uint64(lane == 3))


@numba.njit(cache=True, nogil=True, inline="always")
def _central(u):
    q = u - 0.5
    r = q * q
    num = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * q
    den = ((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0
    return num / den


@numba.njit(cache=True, nogil=True, inline="always")
def _tail(u):
    lower = u < 0.5
    s = math.sqrt(-2.0 * math.log(u if lower else 1.0 - u))
    num = ((((_C0 * s + _C1) * s + _C2) * s + _C3) * s + _C4) * s + _C5
    z = num / ((((_D0 * s + _D1) * s + _D2) * s + _D3) * s + 1.0)
    return z if lower else -z


@numba.njit(cache=True, nogil=True, parallel=True)
def node_normals_into(out, seed_lo, seed_hi, node, path0):
    """``out[i, c]`` = normal(seed, node, path0 + i, c) for a C-contiguous float64 ``out`` (n, m)."""
    n, m = out.shape
    ctr = node >> np.uint64(2)
    c0 = ctr & np.uint64(MASK32)
    c1 = ctr >> np.uint64(32)
    lane = np.int64(node & np.uint64(3))
    rows = max(1, _BLOCK // m)  # paths per block
    n_blocks = (n + rows - 1) // rows
    for b in numba.prange(n_blocks):
        i0 = b * rows
        i1 = min(i0 + rows, n)
        blk = out[i0:i1]
        if m == 1:  # a flat loop over paths (vectorised across paths)
            for i in range(i1 - i0):
                w = _lane_word(c0, c1, np.uint64(path0 + i0 + i), np.uint64(0), seed_lo, seed_hi, lane)
                blk[i, 0] = (np.float64(w) + 0.5) * TWO_M32
        else:  # vectorised across components
            for i in range(i1 - i0):
                c2 = np.uint64(path0 + i0 + i)
                for c in range(m):
                    w = _lane_word(c0, c1, c2, np.uint64(c), seed_lo, seed_hi, lane)
                    blk[i, c] = (np.float64(w) + 0.5) * TWO_M32
        # The block now holds uniforms: the central rational for all (vectorised), then the tails.
        flat = blk.reshape(blk.size)
        central = np.empty(flat.size)
        for j in range(flat.size):
            central[j] = _central(flat[j])
        for j in range(flat.size):
            uj = flat[j]
            flat[j] = _tail(uj) if (uj < ACKLAM_P_LOW or uj > 1.0 - ACKLAM_P_LOW) else central[j]


@numba.njit(cache=True, nogil=True, parallel=True)
def block_differences_into(w, out):
    """``out[p] = w[p + 1] - w[p]`` for ``w`` of shape ``(B + 1, n, m)`` (float64) and ``out`` ``(B, n, m)``.

    The difference is taken in float64 and rounded once to ``out``'s dtype (float32
    or float64): the numbers of ``(w[p + 1] - w[p]).astype(dtype)``, in one pass
    over the block instead of a subtraction and a cast per step.
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
