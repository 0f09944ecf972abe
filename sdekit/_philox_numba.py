"""A Numba-compiled twin of :func:`sdekit.philox.normals` (same words, same transform).

Imported lazily by :mod:`sdekit.philox` on the first draw, compiled once and
cached on disk, so importing sdekit compiles nothing. Philox words are
bit-identical to the NumPy reference; normals agree to the rounding of ``log``
(at most an ulp or two in the 5% of draws that fall in Acklam's tails).
"""

import math

import numba
import numpy as np

from .philox import (ACKLAM_A, ACKLAM_B, ACKLAM_C, ACKLAM_D, ACKLAM_P_LOW, MASK32, PHILOX_M0, PHILOX_M1,
                     PHILOX_W0, PHILOX_W1, ROUNDS, TWO_M32)

_A0, _A1, _A2, _A3, _A4, _A5 = ACKLAM_A
_B0, _B1, _B2, _B3, _B4 = ACKLAM_B
_C0, _C1, _C2, _C3, _C4, _C5 = ACKLAM_C
_D0, _D1, _D2, _D3 = ACKLAM_D


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def philox4(c0, c1, c2, c3, k0, k1):
    """The four output words of Philox4x32-10 (uint64 holding 32-bit values)."""
    mask, s32 = np.uint64(MASK32), np.uint64(32)
    # Masks the compiler can see: every product is then 32 x 32 -> 64 bits (one vpmuludq).
    c0, c1, c2, c3 = c0 & mask, c1 & mask, c2 & mask, c3 & mask
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(PHILOX_W0)) & mask
            k1 = (k1 + np.uint64(PHILOX_W1)) & mask
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


@numba.njit(cache=True, nogil=True, error_model="numpy")
def philox_lane(c0, c1, c2, c3, k0, k1, lane):
    """Word ``lane`` of Philox4x32-10 on the counter (c0, c1, c2, c3) with key (k0, k1)."""
    return philox4(c0, c1, c2, c3, k0, k1)[lane]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def normal_central(u):
    """Acklam's central rational, valid for ``ACKLAM_P_LOW <= u <= 1 - ACKLAM_P_LOW`` (no branch)."""
    q = u - 0.5
    r = q * q
    num = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * q
    den = ((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0
    return num / den


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def normal_tail(u):
    """Acklam's tail formula in ``s = sqrt(-2 log min(u, 1 - u))``, for the 4.85% of ``u`` outside the centre."""
    lower = u < 0.5
    s = math.sqrt(-2.0 * math.log(u if lower else 1.0 - u))
    z = (((((_C0 * s + _C1) * s + _C2) * s + _C3) * s + _C4) * s + _C5) / ((((_D0 * s + _D1) * s + _D2) * s + _D3) * s + 1.0)
    return z if lower else -z


@numba.njit(cache=True, nogil=True, error_model="numpy")
def normal_from_word(w):
    """Acklam's inverse normal CDF of ``(w + 1/2) 2^-32``."""
    u = (np.float64(w) + 0.5) * TWO_M32
    if ACKLAM_P_LOW <= u <= 1.0 - ACKLAM_P_LOW:
        return normal_central(u)
    return normal_tail(u)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def normals_into(out, seed_lo, seed_hi, node, paths):
    """``out[i, c]`` = the normal of node ``node`` for path ``paths[i]``, component ``c``."""
    ctr = node >> np.uint64(2)
    c0 = ctr & np.uint64(MASK32)
    c1 = ctr >> np.uint64(32)
    lane = int(node & np.uint64(3))
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[i, c] = normal_from_word(philox_lane(c0, c1, paths[i], np.uint64(c), seed_lo, seed_hi, lane))
