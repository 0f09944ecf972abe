"""The Numba backend's fused kernel: stepping rule, user functions and Brownian increments in one loop.

One compiled function runs a fixed-step solve. Paths are cut into chunks of
``rows`` paths; chunks run in parallel (``prange``) and each keeps its state,
its block of the Brownian tree and its scratch in cache for the whole solve:

    for each chunk (in parallel):
        for each segment j, for each block of 2^b steps:
            W at the block's ends      <- stack of coarse right ends (coarse_start / coarse_advance)
            W inside the block         <- fill_block (four tree nodes per Philox call)
            for each step in the block:
                x <- rule(terms, t, dt, x, W[p+1] - W[p], ())

The rule is the solver's own pure ``step`` (``Solver.numba_step()``), compiled
with the user's ``drift`` and ``diffusion``: nothing is written twice. The
numbers are the NumPy backend's: the tree nodes are the same Philox draws
combined by the same float64 arithmetic, so a path depends only on
``(seed, path)``, never on chunking or thread count.

>>> import numpy as np, sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> a = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, backend="numba")
>>> b = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, backend="numpy")
>>> bool(np.allclose(a.ys, b.ys, rtol=1e-10, atol=0))
True
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from .. import philox
from .._brownian_numba import coarse_advance, coarse_start, fill_block
from ..solvers.base import Terms

MAX_BLOCK_LEVELS = 6  # up to 64 steps of W per block
CHUNK_VALUES = 1024  # rows * max(d, m) per chunk: state, block and scratch stay in L2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _first_nonfinite(x):
    """Index of the first row of ``x`` (rows, d) with a non-finite value, or -1 (called once, after a step
    reported one: :func:`copy_flat` watches every step)."""
    rows, d = x.shape
    for i in range(rows):
        for c in range(d):
            v = x[i, c]
            if v != v or v - v != 0.0:
                return i
    return -1


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _start(xc, out, slots, bad):
    """A chunk's start: no bad step yet; save the initial state if asked."""
    bad[0] = -1
    bad[1] = -1
    if slots[0] >= 0:
        out[slots[0]] = xc


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _step_and_save(step_fn, times, step, xc, dw, out, slots, bad):
    """Step ``step`` of a chunk, shared by both drivers: advance, record a non-finite state (False), or save."""
    t = times[step]
    if not step_fn(t, times[step + 1] - t, xc, dw):
        bad[0] = step
        bad[1] = _first_nonfinite(xc)
        return False
    if slots[step + 1] >= 0:
        out[slots[step + 1]] = xc
    return True


def _run_sde(step_fn, x, out, slots, times, seed_lo, seed_hi, segments, k, b, width, path0, m, rows, bad):
    """Solve from ``x`` (n, d) on the aligned grid ``times`` (``segments * 2^k`` steps), saving into ``out``.

    ``step_fn(t, dt, x, dw)`` advances a chunk's state in place (the solver's
    rule with the user's functions, compiled per problem by :func:`make_step`).
    ``slots[i]`` is the index in ``out`` where the state after ``i`` steps is
    saved (-1: not saved). ``bad[chunk]`` receives ``(step, row)`` of the
    chunk's first non-finite state, ``(-1, -1)`` if none; a chunk stops there.
    """
    n = x.shape[0]
    n_chunks = (n + rows - 1) // rows
    for ci in numba.prange(n_chunks):
        i0 = ci * rows
        i1 = min(i0 + rows, n)
        _sde_chunk(step_fn, x[i0:i1], out[:, i0:i1], slots, times, seed_lo, seed_hi, segments, k, b, width,
                   path0 + i0, m, bad[ci])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sde_chunk(step_fn, x, out, slots, times, seed_lo, seed_hi, segments, k, b, width, path0, m, bad):
    r = x.shape[0]
    size_b = 1 << b
    coarse = k - b  # blocks are the intervals of this level
    xc = np.ascontiguousarray(x).copy()
    size = r * m
    w = np.empty((size_b + 1, size))
    right = np.empty((coarse + 1, size))
    u4 = np.empty((4, size))
    z = np.empty(size)
    tails = np.empty(size, dtype=np.int64)
    dwf = np.empty(size, dtype=x.dtype)
    dw = dwf.reshape(r, m)
    w_seg = np.zeros(size)
    _start(xc, out, slots, bad)
    step = 0
    have = -1  # the Philox counter whose uniforms u4 holds
    for j in range(segments):
        have = coarse_start(right, w_seg, z, u4, tails, have, seed_lo, seed_hi, j, coarse, width, path0, r, m)
        w[0] = w_seg
        for q in range(1 << coarse):
            if q > 0:
                have = coarse_advance(right, w[0], z, u4, tails, have, seed_lo, seed_hi, j, coarse, q, width,
                                      path0, r, m)
            w[size_b] = right[coarse]
            have = fill_block(w, u4, z, tails, have, seed_lo, seed_hi, j, coarse, q, b, width, path0, 0, r, m)
            for p in range(size_b):
                for e in range(size):
                    dwf[e] = w[p + 1, e] - w[p, e]
                if not _step_and_save(step_fn, times, step, xc, dw, out, slots, bad):
                    return
                step += 1
            w[0] = w[size_b]
        w_seg[:] = right[0]


def _run_ode(step_fn, x, out, slots, times, rows, bad):
    """An ODE solve on any grid ``times``: the same loop without Brownian increments."""
    n = x.shape[0]
    n_chunks = (n + rows - 1) // rows
    for ci in numba.prange(n_chunks):
        i0 = ci * rows
        i1 = min(i0 + rows, n)
        _ode_chunk(step_fn, x[i0:i1], out[:, i0:i1], slots, times, bad[ci])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _ode_chunk(step_fn, x, out, slots, times, bad):
    xc = np.ascontiguousarray(x).copy()
    none = np.empty((x.shape[0], 0), dtype=x.dtype)
    _start(xc, out, slots, bad)
    for step in range(times.size - 1):
        if not _step_and_save(step_fn, times, step, xc, none, out, slots, bad):
            return


@numba.njit(cache=True, nogil=True, error_model="numpy")
def copy_flat(dst, src):
    """``dst[...] = src`` for a C-contiguous ``dst`` as one flat loop; True when every value is finite.

    One pass does both (``x[:] = y`` on an (n, 1) array would run a nested loop
    whose inner length is 1, several times slower; a separate finiteness pass
    would read the state again).
    """
    d = dst.reshape(dst.size)
    s = np.ascontiguousarray(src).reshape(src.size)
    bad = False
    for j in range(d.size):
        v = s[j]
        d[j] = v
        bad |= (v != v) | (v - v != 0.0)  # NaN, or +-inf (inf - inf is NaN)
    return not bad


@numba.njit(cache=True, nogil=True, error_model="numpy")
def general_noise(g, dw):
    """``sum_k g[:, :, k] dw[:, k]`` for general noise (Numba has no batched ``@``)."""
    n, d, m = g.shape
    out = np.empty((n, d), dtype=g.dtype)
    for i in range(n):
        for a in range(d):
            acc = g[i, a, 0] * dw[i, 0]
            for c in range(1, m):
                acc += g[i, a, c] * dw[i, c]
            out[i, a] = acc
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def diagonal_noise(g, dw):
    """``g * dw`` (diagonal noise; scalar noise broadcasts ``dw`` of shape (n, 1)).

    Not inlined on purpose: Numba fuses an inlined product into the rule's
    arithmetic, and a fused loop over four different arrays runs about twice
    as slow as this two-array loop plus a three-array one (broadcasting checks
    per operand keep it from vectorising).
    """
    return g * dw


@numba.njit(cache=True, nogil=True, error_model="numpy")
def zero_diffusion(t, x):
    return 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def zero_noise(g, dw):
    return 0.0


def _array(dtype, ndim):
    return types.Array(dtype, ndim, "C")


def step_type(dtype):
    """The type of a compiled step: ``(t, dt, x[rows, d], dw[rows, m]) -> all finite``, updating ``x`` in place."""
    a = _array(numba.from_dtype(np.dtype(dtype)), 2)
    return types.boolean(types.float64, types.float64, a, a)


_DRIVERS = {}


def drivers(dtype):
    """The parallel drivers ``(sde, ode)`` for states of ``dtype``, compiled on first use and cached on disk.

    They take the step as a first-class function (a function pointer of
    :func:`step_type`), so they are compiled once, not per problem.
    """
    key = np.dtype(dtype).name
    if key not in _DRIVERS:
        sig = step_type(dtype)
        fn = types.FunctionType(sig)
        f64, i64 = types.float64, types.int64
        state = sig.args[2]
        out = _array(state.dtype, 3)
        seeds = (types.uint64, types.uint64)
        opts = dict(cache=True, nogil=True, error_model="numpy", parallel=True)
        sde = numba.njit(types.void(fn, state, out, _array(i64, 1), _array(f64, 1), *seeds, i64, i64, i64, f64,
                                    i64, i64, i64, _array(i64, 2)), **opts)(_run_sde)
        ode = numba.njit(types.void(fn, state, out, _array(i64, 1), _array(f64, 1), i64, _array(i64, 2)),
                         **opts)(_run_ode)
        _DRIVERS[key] = (sde, ode)
    return _DRIVERS[key]


_STEPS = {}
_NJIT = dict(nogil=True, error_model="numpy")


def make_step(rule, drift, diffusion, noise, d, m, dtype):
    """Compile one step ``x <- rule(terms, t, dt, x, dw, ())`` in place, for states of ``dtype`` (once per problem).

    ``rule`` is a solver's Numba-compiled pure step; ``drift`` and ``diffusion``
    the user's compiled functions; ``noise`` one of ``"diagonal"``, ``"scalar"``,
    ``"general"``, ``"none"`` (an ODE). The result has :func:`step_type`.

    Why a *flat* layout: Numba runs an element-wise operation of two ``(n, 1)``
    arrays as a nested loop whose inner length is 1, about 20x slower than on
    ``(n,)`` arrays. So unless the noise needs the 2-d broadcast (scalar noise
    in ``d > 1`` dimensions), the rule's own arithmetic runs on flat views and
    the user's functions still receive ``(n, d)`` arrays.
    """
    key = (rule, drift, diffusion, noise, d, m, np.dtype(dtype).name)
    step = _STEPS.get(key)
    if step is not None:
        return step
    flat = noise in ("none", "general") or d == m
    if noise == "none":
        terms = Terms(_flat_fn(drift, d), zero_diffusion, zero_noise)
    elif not flat:  # scalar noise, d > 1: g (n, d) times dw (n, 1)
        terms = Terms(drift, diffusion, diagonal_noise)
    elif noise == "general":
        terms = Terms(_flat_fn(drift, d), _shaped_fn(diffusion, d), _flat_general_noise(m))
    else:
        terms = Terms(_flat_fn(drift, d), _flat_fn(diffusion, d), diagonal_noise)
    if flat:
        def advance(t, dt, x, dw):
            return copy_flat(x, rule(terms, t, dt, x.reshape(x.size), dw.reshape(dw.size), ()))
    else:
        def advance(t, dt, x, dw):
            return copy_flat(x, rule(terms, t, dt, x, dw, ()))
    if len(_STEPS) > 256:  # compiled steps hold their functions: keep the cache bounded
        _STEPS.clear()
    step = _STEPS[key] = numba.njit(step_type(dtype), **_NJIT)(advance)
    return step


def _flat_fn(fn, d):
    """``(t, x_flat) -> fn(t, x as (n, d)) flattened``."""
    def flat(t, x):
        return np.ascontiguousarray(fn(t, x.reshape(x.size // d, d))).reshape(x.size)

    return numba.njit(**_NJIT)(flat)


def _shaped_fn(fn, d):
    """``(t, x_flat) -> fn(t, x as (n, d))`` (general noise: the diffusion stays (n, d, m))."""
    def shaped(t, x):
        return fn(t, x.reshape(x.size // d, d))

    return numba.njit(**_NJIT)(shaped)


def _flat_general_noise(m):
    def noise(g, dw):
        return general_noise(g, dw.reshape(dw.size // m, m)).reshape(g.shape[0] * g.shape[1])

    return numba.njit(**_NJIT)(noise)


def chunk_rows(d, m, chunk=None):
    """Paths per chunk: ``chunk`` if given, else about ``CHUNK_VALUES`` state values."""
    if chunk is not None:
        return int(chunk)
    return max(1, CHUNK_VALUES // max(d, m, 1))


def block_levels(k):
    """Levels of the tree filled per block: ``min(k, MAX_BLOCK_LEVELS)``."""
    return min(k, MAX_BLOCK_LEVELS)


def generator_floor(n_paths, n_steps, dim=1, *, seed=0, chunk=None):
    """Draw the Brownian increments of a seed-only solve with the fused kernel, and sum them.

    The floor of a fixed-step solve with the Numba backend: the same driver,
    chunks, blocks, tree nodes and threads as a fused solve, with the solver's
    step replaced by ``x += dW`` (so it returns ``sum_i W_i(1)``, and nothing is
    optimised away). Used by ``benchmarks/cpu.py``.

    >>> from sdekit.backends.numba_kernel import generator_floor
    >>> s = generator_floor(1000, 64, 1, seed=0)      # the sum of 1000 paths' W(1)
    >>> abs(s) < 5 * 1000 ** 0.5
    True
    """
    from ..brownian import odd_part

    n_paths, n_steps, dim = int(n_paths), int(n_steps), int(dim)
    segments = odd_part(n_steps)
    k = (n_steps // segments).bit_length() - 1
    rows = chunk_rows(dim, dim, chunk)
    x = np.zeros((n_paths, dim))
    out = np.empty((1, n_paths, dim))
    slots = np.full(n_steps + 1, -1, dtype=np.int64)
    slots[n_steps] = 0  # keep W(1) only
    bad = np.empty(((n_paths + rows - 1) // rows, 2), dtype=np.int64)
    times = np.arange(n_steps + 1, dtype=np.float64) / n_steps
    drivers(np.float64)[0](_accumulate(), x, out, slots, times, *philox.key_words(seed), segments, k,
                           block_levels(k), 1.0 / segments, 0, dim, rows, bad)
    return float(out.sum())


_ACCUMULATE = []


def _accumulate():
    """The step ``x += dw`` (compiled once, cached on disk)."""
    if not _ACCUMULATE:
        def accumulate(t, dt, x, dw):
            xf = x.reshape(x.size)
            wf = dw.reshape(dw.size)
            for j in range(xf.size):
                xf[j] += wf[j]
            return True

        _ACCUMULATE.append(numba.njit(step_type(np.float64), cache=True, **_NJIT)(accumulate))
    return _ACCUMULATE[0]
