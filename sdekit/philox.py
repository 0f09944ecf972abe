"""Counter-based normal generator: Philox4x32-10, its counter layout, and an inverse-CDF transform.

Every normal sdekit draws is a pure function of four integers,

    z = normal(seed, draw, path, component),

the seed (64 bits, the Philox key), a *draw id* (which Brownian-tree split,
leaf split, auxiliary normal or plugin stream), the path index and the
component. There is no state: paths can be generated in any order, on any
number of threads, by any backend, and give the same numbers.

Counter layout
--------------
A draw id has 58 bits: a 56-bit *node* (``draw >> 2``) and a *lane* (``draw & 3``).
One Philox call on the 128-bit counter

====  ==========================================================
word  bits
====  ==========================================================
c0    node bits 0-31
c1    node bits 32-55 | component bits 0-7 (in bits 24-31)
c2    path bits 0-31
c3    path bits 32-47 | component bits 8-23 (in bits 16-31)
====  ==========================================================

returns four 32-bit words; lane ``l`` is word ``l``. Four draws that differ
only in their lane share one call (kernels that fill a tree level exploit
that). Distinct ``(draw, path, component)`` below the limits give distinct
(counter, lane) pairs, hence independent normals:

* paths: ``path < 2**48`` (:data:`MAX_PATHS`), components: ``c < 2**24`` (:data:`MAX_COMPONENTS`);
* draw ids (the top two bits of the node are its *kind*):

  - tree split ``(segment, heap, which)``: ``segment < 2**22``, ``heap < 2**33``, ``which < 2``
    (two normals per split of the Brownian tree; two heap neighbours share a call);
  - leaf split ``(segment, leaf, which)``: ``leaf < 2**32``, ``which < 4``;
  - auxiliary ``(step, k)``: ``step < 2**40``, ``k < 2**16`` (four consecutive ``k`` share a call);
  - stream ``(tag, index)``: ``tag < 2**8``, ``index < 2**48`` (plugins' draws, e.g. priors).

The constructors :func:`tree_draw`, :func:`leaf_draw`, :func:`aux_draw` and
:func:`stream_draw` check these limits and refuse what cannot be addressed.

Philox4x32-10 is the generator of Salmon, Moraes, Dror and Shaw, "Parallel
random numbers: as easy as 1, 2, 3" (SC 2011); it passes TestU01's BigCrush
and is the default of cuRAND and of JAX. The 32-bit word ``w`` becomes the
uniform ``(w + 1/2) 2^-32`` in (0, 1) and then a normal by the inverse normal
CDF in Acklam's rational approximation (relative error below 1.2e-9; no
rejection, one branch for the 5% of draws in the tails). Normals are therefore
truncated at |z| < 6.3: the mass beyond is 3e-10, invisible to any Monte Carlo
test this library can run.

:func:`philox4x32` and :func:`normal_central` are written with arithmetic only:
the same source runs on NumPy arrays and, compiled, inside the Numba kernels
(:mod:`sdekit._philox_numba`); torch has its own int64 form (:mod:`sdekit._philox_torch`)
because it has no unsigned 64-bit multiply. All agree bit for bit on the words.

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

# -- counter layout --------------------------------------------------------------------------
PATH_BITS = 48
COMPONENT_BITS = 24
MAX_PATHS = 1 << PATH_BITS
MAX_COMPONENTS = 1 << COMPONENT_BITS
KIND_TREE, KIND_LEAF, KIND_AUX, KIND_STREAM = 0, 1, 2, 3
_KIND_SHIFT = 56  # in the 58-bit draw id
SEGMENT_BITS = 22
MAX_SEGMENT = (1 << SEGMENT_BITS) - 1  # reserved for the skeleton tree and the global root
HEAP_BITS = 33
LEAF_BITS = 32
AUX_STEP_BITS = 40
AUX_K_BITS = 16
STREAM_TAG_BITS = 8
STREAM_INDEX_BITS = 48

_U64 = np.uint64

# Stream tags (``stream_draw(tag, index)``): one per kind of non-Brownian draw, so none collides with another.
STREAM_PRIOR = 1  # diffusion priors (sdekit_diffusion)
STREAM_MIXTURE_COMPONENT = 2  # Gaussian-mixture samplers: the component choice
STREAM_GAUSSIAN = 3  # Gaussian samplers: the normals
STREAM_INITIAL = 4  # initial laws of test problems
STREAM_USER = 128  # tags from here up are free for users and plugins


def _check_field(name, value, bits):
    v = int(value)
    if not 0 <= v < (1 << bits):
        raise InvalidArgumentError(f"{name} must be in [0, 2**{bits}); got {value!r} (Philox counter layout)")
    return v


def tree_draw(segment: int, heap: int, which: int) -> int:
    """Draw id of normal ``which`` (0 or 1) of the split of tree interval ``heap`` in ``segment``."""
    return ((KIND_TREE << _KIND_SHIFT) | (_check_field("segment", segment, SEGMENT_BITS) << 34)
            | (_check_field("heap index", heap, HEAP_BITS) << 1) | _check_field("which", which, 1))


def leaf_draw(segment: int, leaf: int, which: int) -> int:
    """Draw id of normal ``which`` (0-3) of the split of leaf ``leaf`` of ``segment`` at a query time."""
    return ((KIND_LEAF << _KIND_SHIFT) | (_check_field("segment", segment, SEGMENT_BITS) << 34)
            | (_check_field("leaf index", leaf, LEAF_BITS) << 2) | _check_field("which", which, 2))


def aux_draw(step: int, k: int) -> int:
    """Draw id of the ``k``-th auxiliary normal at solver step ``step`` (correctors, Langevin moves)."""
    return ((KIND_AUX << _KIND_SHIFT) | (_check_field("aux step", step, AUX_STEP_BITS) << AUX_K_BITS)
            | _check_field("aux index k", k, AUX_K_BITS))


def stream_draw(tag: int, index: int) -> int:
    """Draw id ``index`` of the named stream ``tag`` (plugins: prior samples and the like)."""
    return ((KIND_STREAM << _KIND_SHIFT) | (_check_field("stream tag", tag, STREAM_TAG_BITS) << STREAM_INDEX_BITS)
            | _check_field("stream index", index, STREAM_INDEX_BITS))


def counter_words(node, path, comp):
    """The Philox counter ``(c0, c1, c2, c3)`` of ``(node, path, component)`` (see the module docstring).

    Arithmetic only: NumPy ``uint64`` arrays here, ``uint64`` scalars inside Numba kernels.
    """
    mask = _U64(MASK32)
    c0 = node & mask
    c1 = (node >> _U64(32)) | ((comp & _U64(0xFF)) << _U64(24))
    c2 = path & mask
    c3 = (path >> _U64(32)) | ((comp >> _U64(8)) << _U64(16))
    return c0, c1, c2, c3


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


def check_paths(n_paths: int, path_offset: int = 0) -> int:
    """``path_offset`` as an int such that every path index ``path_offset + i < n_paths`` is addressable."""
    if isinstance(path_offset, (bool, np.bool_)) or not isinstance(path_offset, (int, np.integer)):
        raise InvalidArgumentError(f"path_offset must be a non-negative integer; got {path_offset!r}")
    off = int(path_offset)
    if off < 0 or off + int(n_paths) > MAX_PATHS:
        raise InvalidArgumentError(
            f"path indices path_offset + i must lie in [0, 2**{PATH_BITS}); got path_offset={off}, "
            f"n_paths={n_paths}")
    return off


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on ``uint64`` values holding 32-bit words (arrays or, compiled, scalars).

    Returns the four output words. The masks up front let a compiler see that
    every product is 32 x 32 -> 64 bits (one ``vpmuludq`` on AVX2).
    """
    mask, s32 = _U64(MASK32), _U64(32)
    c0, c1, c2, c3 = c0 & mask, c1 & mask, c2 & mask, c3 & mask
    m0, m1 = _U64(PHILOX_M0), _U64(PHILOX_M1)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + _U64(PHILOX_W0)) & mask
            k1 = (k1 + _U64(PHILOX_W1)) & mask
        p0 = m0 * c0  # < 2**64: exact in uint64
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


_A0, _A1, _A2, _A3, _A4, _A5 = ACKLAM_A
_B0, _B1, _B2, _B3, _B4 = ACKLAM_B


def normal_central(u):
    """Acklam's central rational, valid for ``ACKLAM_P_LOW <= u <= 1 - ACKLAM_P_LOW`` (no branch).

    Arithmetic only: NumPy arrays, torch tensors and (compiled) Numba scalars alike.
    """
    q = u - 0.5
    r = q * q
    num = (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5) * q
    den = ((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0
    return num / den


def _horner(coeffs, x):
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def normal_from_uniform(u):
    """Inverse standard normal CDF (Acklam) of ``u`` in (0, 1), float64 arrays."""
    u = np.asarray(u, dtype=np.float64)
    z = np.asarray(normal_central(u), dtype=np.float64)
    tail = (u < ACKLAM_P_LOW) | (u > 1.0 - ACKLAM_P_LOW)
    if np.any(tail):
        ut = u[tail]
        lower = ut < 0.5
        s = np.sqrt(-2.0 * np.log(np.where(lower, ut, 1.0 - ut)))
        zt = _horner(ACKLAM_C, s) / (_horner(ACKLAM_D, s) * s + 1.0)
        z = z.copy() if z.ndim == 0 else z
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


def _check_draw(draw):
    d = int(draw)
    if not 0 <= d < (1 << 58):
        raise InvalidArgumentError(f"draw id must be in [0, 2**58); got {draw!r}")
    return d


def normals(seed: int, draw: int, paths, n_comp: int, *, comp_offset: int = 0, compiled: bool = True):
    """Standard normals of one draw id for many paths: shape ``(len(paths), n_comp)``.

    ``draw`` is a draw id (:func:`tree_draw`, :func:`aux_draw`, ...); ``paths`` an
    integer array of path indices (< 2**48); components ``comp_offset + c`` for
    ``c < n_comp`` (< 2**24). With ``compiled`` (default) a Numba kernel does the
    work; ``compiled=False`` runs this module's NumPy reference (same words,
    normals equal to an ulp of ``log`` in the tails).

    >>> import numpy as np
    >>> z = normals(1, stream_draw(0, 5), np.arange(4), 3)
    >>> z.shape, bool(np.array_equal(z, normals(1, stream_draw(0, 5), np.arange(4), 3, compiled=False)))
    ((4, 3), True)
    """
    draw = _check_draw(draw)
    paths = np.asarray(paths, dtype=np.uint64).reshape(-1)
    n_comp = int(n_comp)
    if paths.size and int(paths.max()) >= MAX_PATHS:
        raise InvalidArgumentError(f"path indices must be below 2**{PATH_BITS}; got {int(paths.max())}")
    if not (0 <= comp_offset and comp_offset + n_comp <= MAX_COMPONENTS):
        raise InvalidArgumentError(f"components must lie in [0, 2**{COMPONENT_BITS}); got {comp_offset}+{n_comp}")
    kernel = compiled_kernel("_philox_numba", "normals_into") if compiled else None
    if kernel is not None:
        out = np.empty((paths.size, n_comp))
        kernel(out, *key_words(seed), _U64(draw >> 2), draw & 3, paths, comp_offset)
        return out
    key0, key1 = key_words(seed)
    node = np.full((paths.size, n_comp), draw >> 2, dtype=np.uint64)
    path = np.broadcast_to(paths[:, None], node.shape).astype(np.uint64)
    comp = np.broadcast_to(np.arange(comp_offset, comp_offset + n_comp, dtype=np.uint64)[None, :], node.shape)
    words = philox4x32(*counter_words(node, path, comp.astype(np.uint64)), key0, key1)
    return normal_from_uniform(uniform_from_word(words[draw & 3]))
