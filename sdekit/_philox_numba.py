"""Numba-compiled forms of :mod:`sdekit.philox` (the same source, compiled; plus the scalar tail).

Imported lazily by :mod:`sdekit.philox` on the first draw, compiled once and
cached on disk, so importing sdekit compiles nothing. :func:`philox4`,
:func:`counter_words` and :func:`normal_central` *are* the arithmetic-only
functions of :mod:`sdekit.philox`, compiled for scalars: the words are
bit-identical to the NumPy reference; normals agree to the rounding of ``log``
(at most an ulp or two in the 5% of draws that fall in Acklam's tails).
"""

import math

import numba
import numpy as np

from . import philox as _ref
from .philox import ACKLAM_C, ACKLAM_D, ACKLAM_P_LOW, TWO_M32

_C0, _C1, _C2, _C3, _C4, _C5 = ACKLAM_C
_D0, _D1, _D2, _D3 = ACKLAM_D
_JIT = dict(cache=True, nogil=True, error_model="numpy", inline="always")

philox4 = numba.njit(**_JIT)(_ref.philox4x32)
counter_words = numba.njit(**_JIT)(_ref.counter_words)
normal_central = numba.njit(**_JIT)(_ref.normal_central)


@numba.njit(**_JIT)
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
def word(seed_lo, seed_hi, node, lane, path, comp):
    """Word ``lane`` of the Philox call on ``(node, path, comp)`` (the layout of :func:`sdekit.philox.counter_words`)."""
    c0, c1, c2, c3 = counter_words(node, path, comp)
    w = philox4(c0, c1, c2, c3, seed_lo, seed_hi)
    return w[lane]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def normals_into(out, seed_lo, seed_hi, node, lane, paths, comp_offset):
    """``out[i, c]`` = the normal of draw ``(node, lane)`` for path ``paths[i]``, component ``comp_offset + c``."""
    for i in range(out.shape[0]):
        p = np.uint64(paths[i])
        for c in range(out.shape[1]):
            out[i, c] = normal_from_word(word(seed_lo, seed_hi, node, lane, p, np.uint64(comp_offset + c)))
