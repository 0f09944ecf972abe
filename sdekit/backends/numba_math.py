r"""Vectorisable ``sin`` and ``cos`` for user functions compiled by the Numba backend.

Numba evaluates ``np.sin(x)`` on an array by calling the C library's scalar
``sin`` once per element: LLVM cannot vectorise a loop around an opaque call, and
the pip build of llvmlite has no vector math library (SVML). On a drift such as
``-x**3 + np.sin(x)`` in 32 dimensions those calls are most of the step. Here
``sin`` and ``cos`` are written out as straight-line arithmetic that LLVM turns
into SIMD code (4 or 8 lanes), and the Numba backend compiles the user's
functions with them in place of NumPy's (:func:`with_fast_math`); NumPy and torch
are untouched.

The method (fdlibm's, in branch-free form):

.. math::
    k = \operatorname{rint}(2x/π), \qquad r = (((x - k P_1) - k P_2) - k P_3) - k P_4 \in [-π/4, π/4],

with :math:`π/2 = P_1 + P_2 + P_3 + P_4` split so that :math:`k P_1` and :math:`k P_2`
are exact for :math:`|k| < 2^{20}` (Cody & Waite's reduction); then

.. math::
    \sin r ≈ r + r^3 S(r^2), \qquad \cos r ≈ 1 - r^2/2 + r^4 C(r^2)

(degree-13 and degree-14 minimax polynomials on :math:`[-π/4, π/4]`, fdlibm's
``__kernel_sin`` / ``__kernel_cos`` coefficients), and the quadrant ``k mod 4``
selects :math:`±\sin r` or :math:`±\cos r`. Both polynomials are evaluated for
every lane and the choice is a select, so the loop has no branch. Arguments with
:math:`|x| > 10^5` (where the three-part reduction would lose bits) are
recomputed by the C library in a second, scalar pass that runs only when such an
argument occurs; ``inf`` gives NaN, NaN propagates, and ``sin(-0.0) = -0.0``.

Accuracy: within 2 ulp of the C library for every tested argument (at most 1 ulp
on 99.9% of them), tested by ``tests/test_numba_math.py`` on :math:`10^6`
arguments spanning :math:`10^{-300}` to :math:`10^{5}` and the fallback range.
Results depend only on the argument (never on its position in the array, the
chunking or the thread count): the vector and the scalar remainder loops run the
same arithmetic, without fused multiply-adds (LLVM does not contract without
fast-math flags).

References: Cody & Waite, *Software Manual for the Elementary Functions* (1980);
Sun Microsystems' fdlibm (``k_sin.c``, ``k_cos.c``, ``e_rem_pio2.c``), 1993.

>>> import numpy as np, numba
>>> from sdekit.backends.numba_math import with_fast_math
>>> f = with_fast_math(lambda t, x: np.sin(x) + np.cos(x))
>>> x = np.linspace(-3.0, 3.0, 7)
>>> bool(np.allclose(numba.njit(f)(0.0, x), np.sin(x) + np.cos(x), rtol=1e-15, atol=1e-16))
True
"""

from __future__ import annotations

import math
import types as pytypes

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

__all__ = ["fast_sin", "fast_cos", "with_fast_math", "FAST_FUNCTIONS"]

_TWO_OVER_PI = 6.36619772367581382433e-01
# pi/2 = _P1 + _P2 + _P3 (+ 8.5e-32): _P1 and _P2 carry 33 significant bits, so k * _P1 and k * _P2 are exact
# for |k| < 2^20 (fdlibm's pio2_1, pio2_2, pio2_3).
_P1 = 1.57079632673412561417e+00
_P2 = 6.07710050630396597660e-11
_P3 = 2.02226624871116645580e-21
_P3T = 8.47842766036889956997e-32  # what _P3 leaves: needed where x is within an ulp of a multiple of pi/2
_LIMIT = 1e5  # |k| <= 63662 < 2^20: the reduction above is accurate to well below an ulp of r
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@register_jitable(inline="always")
def _sin_cos_reduced(x, shift):
    """``sin(x + shift * pi/2)`` for ``|x| <= _LIMIT`` (``shift`` 0: sin, 1: cos), branch-free."""
    kf = np.rint(x * _TWO_OVER_PI)
    r = (((x - kf * _P1) - kf * _P2) - kf * _P3) - kf * _P3T
    r = x if kf == 0.0 else r
    q = np.int64(kf) + shift
    z = r * r
    # sin r: r + r^3 (S1 + z S(z)); fdlibm k_sin.c with a zero tail
    s = r + (z * r) * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    s = r if abs(r) < 7.450580596923828e-09 else s  # |r| < 2^-27: sin r = r to the ulp (and -0.0 stays -0.0)
    # cos r: w + ((1 - w) - z/2 + z^2 C(z)), w = 1 - z/2 (fdlibm k_cos.c: the rounding of 1 - z/2 recovered)
    hz = 0.5 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + z * (z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))))
    v = c if (q & 1) == 1 else s
    return -v if (q & 2) == 2 else v


@register_jitable
def _fill(src, dst, shift):
    # One straight-line pass that LLVM vectorises; a second, scalar pass (rare) for |x| > _LIMIT and inf.
    n = src.size
    big = 0
    for i in range(n):
        v = np.float64(src[i])
        dst[i] = _sin_cos_reduced(v, shift)
        big += not abs(v) <= _LIMIT  # (NaN counts: its quadrant would be undefined)
    if big:
        for i in range(n):
            v = np.float64(src[i])
            if not abs(v) <= _LIMIT:
                dst[i] = math.sin(v) if shift == 0 else math.cos(v)


@register_jitable(inline="always")
def _scalar(v, shift):
    if not abs(v) <= _LIMIT:
        return math.sin(v) if shift == 0 else math.cos(v)
    return _sin_cos_reduced(v, shift)


def fast_sin(x, out=None):
    """``np.sin`` outside Numba; inside, the vectorisable sine of :mod:`sdekit.backends.numba_math`."""
    return np.sin(x) if out is None else np.sin(x, out)


def fast_cos(x, out=None):
    """``np.cos`` outside Numba; inside, the vectorisable cosine of :mod:`sdekit.backends.numba_math`."""
    return np.cos(x) if out is None else np.cos(x, out)


def _overload_for(shift, numpy_fn):
    def typer(x, out=None):
        if not (out is None or isinstance(out, types.NoneType)):
            return lambda x, out=None: numpy_fn(x, out)
        if isinstance(x, types.Float) and x.bitwidth in (32, 64):
            dt = x

            def scalar(x, out=None):
                return dt(_scalar(np.float64(x), shift))
            return scalar
        if isinstance(x, types.Integer):
            return lambda x, out=None: _scalar(np.float64(x), shift)
        if isinstance(x, types.Array) and x.ndim > 0 and isinstance(x.dtype, (types.Float, types.Integer)) and \
                (not isinstance(x.dtype, types.Float) or x.dtype.bitwidth in (32, 64)):
            out_dtype = np.float32 if x.dtype == types.float32 else np.float64

            def array(x, out=None):
                res = np.empty(x.shape, dtype=out_dtype)
                _fill(np.ascontiguousarray(x).reshape(x.size), res.reshape(x.size), shift)
                return res
            return array
        return lambda x, out=None: numpy_fn(x)  # complex, 0-d, ...: NumPy's own
    return typer


overload(fast_sin, jit_options={"error_model": "numpy"})(_overload_for(0, np.sin))
overload(fast_cos, jit_options={"error_model": "numpy"})(_overload_for(1, np.cos))

FAST_FUNCTIONS = {np.sin: fast_sin, np.cos: fast_cos}

_NUMPY_SHIM = None


def _numpy_shim():
    """A module that is NumPy except for ``sin`` and ``cos`` (what ``np`` means inside a rewritten function)."""
    global _NUMPY_SHIM
    if _NUMPY_SHIM is None:
        shim = pytypes.ModuleType("numpy")  # the same name: messages and fingerprints read "numpy"
        shim.__dict__.update({k: v for k, v in np.__dict__.items() if not k.startswith("__")})
        shim.sin, shim.cos = fast_sin, fast_cos
        _NUMPY_SHIM = shim
    return _NUMPY_SHIM


def _replacement(value):
    if value is np:
        return _numpy_shim()
    try:
        return FAST_FUNCTIONS.get(value)
    except TypeError:  # unhashable
        return None


def with_fast_math(fn):
    """``fn`` with NumPy's ``sin``/``cos`` replaced by the vectorisable ones, or ``fn`` itself.

    Rewrites what the function's code reads: a global or closure variable holding
    the ``numpy`` module becomes a module that is NumPy except for ``sin`` and
    ``cos``; one holding ``np.sin`` / ``np.cos`` itself becomes :func:`fast_sin` /
    :func:`fast_cos`. Other functions ``fn`` calls are not rewritten (Numba
    compiles them as they are). A function that reads neither is returned as is.

    >>> import numpy as np
    >>> g = with_fast_math(lambda t, x: np.exp(x))
    >>> g.__code__.co_name
    '<lambda>'
    """
    if isinstance(fn, numba.core.dispatcher.Dispatcher) or not isinstance(fn, pytypes.FunctionType):
        return fn
    from .numba_cache import code_names, with_scope

    new_globals = None
    for name in code_names(fn.__code__):  # (nested code too: a lambda inside fn reads fn's globals)
        if name in fn.__globals__:
            rep = _replacement(fn.__globals__[name])
            if rep is not None:
                if new_globals is None:
                    new_globals = dict(fn.__globals__)
                new_globals[name] = rep
    cells, changed = [], False
    for cell in fn.__closure__ or ():
        try:
            rep = _replacement(cell.cell_contents)
        except ValueError:  # an empty cell
            rep = None
        if rep is not None:
            cells.append(pytypes.CellType(rep))
            changed = True
        else:
            cells.append(cell)
    if new_globals is None and not changed:
        return fn
    return with_scope(fn, new_globals, tuple(cells) if changed else None)
