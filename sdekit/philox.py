"""Counter-based normal generator: Philox4x32-10 and an inverse-CDF transform.

Every normal sdekit draws is a pure function of four integers,

    z = normal(seed, u, i, c)

the seed (64 bits, the Philox key), a node id ``u`` (64 bits: which Brownian
tree node or auxiliary draw), the path index ``i`` and the component ``c``
(32 bits each). There is no state: paths can be generated in any order, on any
number of threads, by any backend, and give the same numbers.

Layout. One Philox call on the counter ``(u >> 2 low, u >> 2 high, i, c)``
returns four 32-bit words; lane ``u & 3`` is the word for node ``u``. So four
consecutive node ids of one path and component share one call (kernels that
fill a tree level exploit that), and a single node costs one call.

Philox4x32-10 is the generator of Salmon, Moraes, Dror and Shaw, "Parallel
random numbers: as easy as 1, 2, 3" (SC 2011); it passes TestU01's BigCrush
and is the default of cuRAND and of JAX. The 32-bit word ``w`` becomes the
uniform ``(w + 1/2) 2^-32`` in (0, 1) and then a normal by the inverse normal
CDF in Acklam's rational approximation (relative error below 1.2e-9; no
rejection, one branch for the 5% of draws in the tails). Normals are therefore
truncated at |z| < 6.3: the mass beyond is 3e-10, invisible to any Monte Carlo
test this library can run.

This module is the NumPy reference; the Numba and torch backends implement the
same arithmetic and are tested against it bit for bit (to rounding of ``log``).

Example
-------
>>> import numpy as np
>>> from sdekit import philox
>>> words = philox.philox4x32(*np.zeros((4, 1), np.uint64), np.uint64(0), np.uint64(0))
>>> [hex(int(w[0])) for w in words]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

import functools
import importlib

import numpy as np

from .errors import InvalidArgumentError

# Philox4x32 multipliers and Weyl key increments (Salmon et al., 2011).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
MASK32 = 0xFFFFFFFF

# Acklam's inverse normal CDF: central rational (a / b) for p_low <= u <= 1 - p_low,
# tail rational (c / d) in q = sqrt(-2 log u) outside.
ACKLAM_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
            1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
ACKLAM_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
            6.680131188771972e01, -1.328068155288572e01)
ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
            -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
            3.754408661907416e00)
ACKLAM_P_LOW = 0.02425
TWO_M32 = 2.0 ** -32

_U64 = np.uint64


def key_words(seed: int):
    """The Philox key of ``seed``: its low and high 32-bit words, as ``np.uint64`` (what the kernels take)."""
    return _U64(seed & MASK32), _U64(seed >> 32)


def check_seed(seed) -> int:
    """Validate a seed: an integer in [0, 2**64)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise InvalidArgumentError(f"seed must be in [0, 2**64); got {seed}")
    return seed


def philox4x32(c0, c1, c2, c3, k0, k1, rounds: int = ROUNDS):
    """Philox4x32 on uint64 arrays holding 32-bit values; returns the four output words."""
    m0, m1, mask = _U64(PHILOX_M0), _U64(PHILOX_M1), _U64(MASK32)
    w0, w1, s32 = _U64(PHILOX_W0), _U64(PHILOX_W1), _U64(32)
    for r in range(rounds):
        if r:
            k0 = (k0 + w0) & mask
            k1 = (k1 + w1) & mask
        p0 = m0 * c0  # < 2**64: exact in uint64
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


def _horner(coeffs, x):
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def normal_from_uniform(u):
    """Inverse standard normal CDF (Acklam) of ``u`` in (0, 1), float64 arrays."""
    u = np.asarray(u, dtype=np.float64)
    q = u - 0.5
    r = q * q
    z = _horner(ACKLAM_A, r) * q / (_horner(ACKLAM_B, r) * r + 1.0)
    tail = (u < ACKLAM_P_LOW) | (u > 1.0 - ACKLAM_P_LOW)
    if np.any(tail):
        ut = u[tail]
        lower = ut < 0.5
        s = np.sqrt(-2.0 * np.log(np.where(lower, ut, 1.0 - ut)))
        zt = _horner(ACKLAM_C, s) / (_horner(ACKLAM_D, s) * s + 1.0)
        z[tail] = np.where(lower, zt, -zt)
    return z


def uniform_from_word(w):
    """The uniform ``(w + 1/2) 2^-32`` in (0, 1) of 32-bit words ``w``."""
    return (np.asarray(w).astype(np.float64) + 0.5) * TWO_M32


@functools.lru_cache(maxsize=None)
def compiled_kernel(module: str, name: str):
    """``sdekit.<module>.<name>``, a Numba kernel imported on first use, or None when Numba is missing.

    Kernels live in modules that import Numba, so importing sdekit compiles nothing.
    """
    try:
        return getattr(importlib.import_module(f"sdekit.{module}"), name)
    except ImportError:  # pragma: no cover - Numba missing: callers fall back to NumPy
        return None


def _numba_normals():
    return compiled_kernel("_philox_numba", "normals_into")


def normals(seed: int, node, paths, n_comp: int, *, compiled: bool = True):
    """Standard normals for one node id and many paths: shape ``(len(paths), n_comp)``.

    ``node`` is a Python int in [0, 2**64); ``paths`` an integer array of path indices.
    With ``compiled`` (default) a Numba-compiled twin does the work when Numba is
    installed (about 10x faster); ``compiled=False`` runs the NumPy reference.
    """
    paths = np.asarray(paths, dtype=np.uint64)
    kernel = _numba_normals() if compiled else False
    if kernel:
        out = np.empty((paths.size, n_comp))
        kernel(out, *key_words(seed), _U64(node), paths)
        return out
    key0, key1 = key_words(seed)
    ctr = node >> 2
    c0 = np.full((paths.size, n_comp), ctr & MASK32, dtype=np.uint64)
    c1 = np.full_like(c0, ctr >> 32)
    c2 = np.broadcast_to(paths[:, None], c0.shape).copy()
    c3 = np.broadcast_to(np.arange(n_comp, dtype=np.uint64)[None, :], c0.shape).copy()
    words = philox4x32(c0, c1, c2, c3, key0, key1)
    return normal_from_uniform(uniform_from_word(words[node & 3]))
