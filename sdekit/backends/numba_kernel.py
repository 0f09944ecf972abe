"""The Numba backend's fused kernel: stepping rule, user functions and Brownian increments in one loop.

One compiled function runs a fixed-step solve. Paths are cut into chunks of
``rows`` paths; chunks run in parallel (``prange``) and each keeps its state,
its place in the Brownian tree and its scratch in cache:

    for each chunk (in parallel):
        for each block of 2^b steps (blocks: level L0 of a segment's tree):
            segment ends and area      <- the skeleton's stack (skeleton_segment), at a segment's start
            block ends and area        <- the coarse stack of right ends and areas (coarse_block)
            W and H inside the block   <- fill_block (two splits per Philox call)
            for each step in the block:
                x <- rule(terms, t, dt, x, W[p+1] - W[p], ())     (or LevyIncrement(dW, H) for Lévy-area rules)

The rule is the solver's own pure ``rule`` (``Solver.fused_rule()``), compiled
with the user's ``drift`` and ``diffusion``: nothing is written twice. The
Brownian numbers are :class:`sdekit.BrownianPath`'s: the same Philox draws
combined by the same float64 arithmetic (:mod:`sdekit._bridge`, compiled), so a
path depends only on ``(seed, path)``, never on chunking, thread count or on how
the solve is cut into launches.

A grid that is not aligned with the tree (a ``brownian=`` path with other
segments, save times off the grid) runs :func:`_grid_chunk`: every grid time is
located once (:meth:`BrownianPath.locate`), the chunk keeps the path from the
segment down to the current leaf (one stack entry per level), and a time strictly
inside a leaf gets the leaf's own split, as :meth:`BrownianPath.value` does.

Launches: the driver runs a range of blocks (or steps) for a group of chunks and
returns; the caller slices a long solve into launches of a fraction of a second
(Ctrl-C lands between two), and keeps each chunk's cursor (state, W at the
current time, the stacks) between them. Results do not depend on the slicing.

>>> import numpy as np, sdekit as sk
>>> from sdekit.backends.numba_backend import NumbaBackend
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> a = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, backend=NumbaBackend(fused=True))
>>> b = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, backend="numpy")
>>> bool(np.allclose(a.ys, b.ys, rtol=1e-10, atol=0)), a.stats["fused"]
(True, True)
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from .. import philox
from .._brownian_numba import (coarse_block, fill_block, general_split, midpoint_split, renamed, skeleton_segment,
                               split_coefficients, split_normals, tree_node)
from ..brownian import LEVELS, LevyIncrement

MAX_BLOCK_LEVELS = 6  # up to 64 steps of W per block
CHUNK_VALUES = 1024  # rows * max(d, m) per chunk: state, block and scratch stay in L2
GRID_CHUNK_VALUES = 256  # off-tree grids keep ~33 tree levels per chunk: smaller chunks stay in L2
STATUS_NONFINITE, STATUS_RAISED = 1, 2
_OPTS = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_OPTS)
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


@numba.njit(**_OPTS)
def _advance(step_fn, times, step, x, dw, h, out, slots, bad):
    """Step ``step`` of a chunk: advance ``x`` in place, then save it; 0, or why the chunk stops.

    A user function that raises inside the kernel cannot carry its exception out of a
    parallel region (Numba would report a SystemError): the chunk records the step
    and stops, and the caller re-runs that one step outside the kernel, where the
    exception surfaces as itself.
    """
    t = times[step]
    try:
        ok = step_fn(t, times[step + 1] - t, x, dw, h)
    except Exception:  # noqa: BLE001 - re-raised by the caller (see NumbaBackend._raise_fault)
        bad[0] = step
        bad[1] = -1
        bad[2] = STATUS_RAISED
        return STATUS_RAISED
    if not ok:
        bad[0] = step
        bad[1] = _first_nonfinite(x)
        bad[2] = STATUS_NONFINITE
        return STATUS_NONFINITE
    if slots[step + 1] >= 0:
        out[slots[step + 1]] = x
    return 0


@numba.njit(**_OPTS)
def _keep_fault(fault, dw, h, size):
    # The increments of the step that raised, for the caller's re-run.
    for e in range(size):
        fault[0, e] = dw[e]
        fault[1, e] = h[e]


@numba.njit(**_OPTS)
def _increments(w, areas, p, dw, h, size, levy, f32):
    """``dw = W[p+1] - W[p]`` (and ``h = H_p``) in float64, rounded once to the state's dtype.

    ``f32``: the path is float32 while the state is not: round through float32
    first, as the reference's path does before the solve casts its increments.
    """
    a = w[p]
    b = w[p + 1]
    for e in range(size):
        v = b[e] - a[e]
        if f32:
            v = np.float64(np.float32(v))
        dw[e] = v
    if levy:
        ar = areas[p]
        for e in range(size):
            v = ar[e]
            if f32:
                v = np.float64(np.float32(v))
            h[e] = v


@numba.njit(**_OPTS)
def _sde_chunk(step_fn, x, out, slots, times, seed_lo, seed_hi, segments, levels, b, span, width, path0, m,
               wcur, skel, coarse, b0, b1, bad, fault, levy, f32):
    """Blocks ``b0 <= B < b1`` of one chunk on an aligned grid (``segments * 2^(levels + b)`` steps).

    ``x`` (rows, d) is the chunk's state, stepped in place; ``wcur``, ``skel`` and
    ``coarse`` its cursor in the tree, valid after block ``b0 - 1`` (see
    :mod:`sdekit._brownian_numba`). Block ``B`` is block ``q = B mod 2^levels`` of
    segment ``B >> levels``; step ``i`` of the solve is step ``i mod 2^b`` of block ``i >> b``.
    """
    r = x.shape[0]
    size = r * m
    nb = 1 << b
    w = np.empty((nb + 1, size))
    areas = np.empty((nb, size))
    u4 = np.empty((4, size))
    z1 = np.empty(size)
    z2 = np.empty(size)
    tails = np.empty(size, dtype=np.int64)
    dwf = np.empty(size, dtype=x.dtype)
    hf = np.zeros(size, dtype=x.dtype)
    dw = dwf.reshape(r, m)
    h = hf.reshape(r, m)
    mask = (1 << levels) - 1
    if b0 == 0:
        bad[0] = -1
        bad[1] = -1
        bad[2] = 0
        if slots[0] >= 0:
            out[slots[0]] = x
    for blk in range(b0, b1):
        j = blk >> levels
        q = blk & mask
        if q == 0:
            d = skeleton_segment(skel, wcur, z1, z2, u4, tails, seed_lo, seed_hi, j, segments, span, width,
                                 path0, r, m)
            coarse_block(coarse, wcur, skel[0, d], skel[1, d], z1, z2, u4, tails, seed_lo, seed_hi, j, levels, 0,
                         width, path0, r, m)
        else:
            coarse_block(coarse, wcur, coarse[0, 0], coarse[1, 0], z1, z2, u4, tails, seed_lo, seed_hi, j, levels,
                         q, width, path0, r, m)
        for e in range(size):
            w[0, e] = wcur[e]
            w[nb, e] = coarse[0, levels, e]
            areas[0, e] = coarse[1, levels, e]
        fill_block(w, areas, u4, z1, z2, tails, seed_lo, seed_hi, j, levels, q, b, width, path0, 0, r, m)
        for p in range(nb):
            _increments(w, areas, p, dwf, hf, size, levy, f32)
            status = _advance(step_fn, times, blk * nb + p, x, dw, h, out, slots, bad)
            if status == STATUS_RAISED:
                _keep_fault(fault, dwf, hf, size)
            if status:
                return
        for e in range(size):
            wcur[e] = w[nb, e]


def _run_sde(step_fn, xs, out, slots, times, seed_lo, seed_hi, segments, levels, b, span, width, path0, m, rows,
             c0, c1, wcur, skel, coarse, b0, b1, bad, fault, levy, f32):
    """Blocks ``[b0, b1)`` of chunks ``[c0, c1)`` (cursors ``wcur[c - c0]``, ...), chunks in parallel.

    ``step_fn(t, dt, x, dw, h)`` advances a chunk's state in place (the solver's
    rule with the user's functions, compiled per problem by :func:`make_step`).
    ``slots[i]`` is the index in ``out`` where the state after ``i`` steps is
    saved (-1: not saved). ``bad[chunk]`` holds ``(step, row, status)`` of the
    chunk's first failed step (``status`` 0: none); a chunk stops there.
    """
    n = xs.shape[0]
    for g in numba.prange(c1 - c0):
        ci = c0 + g
        if b0 > 0 and bad[ci, 2] != 0:
            continue
        i0 = ci * rows
        i1 = min(i0 + rows, n)
        _sde_chunk(step_fn, xs[i0:i1], out[:, i0:i1], slots, times, seed_lo, seed_hi, segments, levels, b, span,
                   width, path0 + i0, m, wcur[g], skel[g], coarse[g], b0, b1, bad[ci], fault[g], levy, f32)


# -- grids off the tree: every time located once, the chunk descends to its leaf ---------------------------
@numba.njit(**_OPTS)
def _descend(stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, level, k, width, path0, rows, m):
    """Bring the chunk's stack to interval ``(level, k)`` of segment ``j``; its entry is ``stack[:, level]``.

    ``stack[0|1|2, l]`` = (W left, W right, H) of the level-``l`` interval on the path,
    ``seen[l]`` its index (-1: none); ``seg_lr`` (3, size) the segment's own ends and
    area. Entries shared with the previous query are kept (their values never change).
    """
    size = rows * m
    if seen[0] != 0:
        for e in range(size):
            stack[0, 0, e] = seg_lr[0, e]
            stack[1, 0, e] = seg_lr[1, e]
            stack[2, 0, e] = seg_lr[2, e]
        seen[0] = 0
        for lv in range(1, LEVELS + 1):
            seen[lv] = -1
    fresh = False  # below a recomputed level every entry is new
    for lv in range(1, level + 1):
        kk = k >> (level - lv)
        if not fresh and seen[lv] == kk:
            continue
        fresh = True
        parent = lv - 1
        heap = (np.int64(1) << parent) + (kk >> 1)
        split_normals(z1, z2, u4, tails, seed_lo, seed_hi, tree_node(j, heap), 2 * (heap & 1), path0, rows, m)
        sqrt_h = np.sqrt(width * 2.0 ** (-parent))
        right = kk & 1
        for e in range(size):
            wm, hl, hr = midpoint_split(stack[0, parent, e], stack[1, parent, e], stack[2, parent, e], z1[e], z2[e],
                                        sqrt_h)
            if right:
                stack[0, lv, e] = wm
                stack[1, lv, e] = stack[1, parent, e]
                stack[2, lv, e] = hr
            else:
                stack[0, lv, e] = stack[0, parent, e]
                stack[1, lv, e] = wm
                stack[2, lv, e] = hl
        seen[lv] = kk
    if fresh:
        for deeper in range(level + 1, LEVELS + 1):
            seen[deeper] = -1


@numba.njit(**_OPTS)
def _value_at(wt, stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, kind, pos, frac, coeffs, width,
              path0, rows, m):
    """``wt = W(t)`` at a located time (as :meth:`BrownianPath._value64`).

    ``kind`` 0: the segment's start; 1: its end; 2: a tree node at position ``pos``
    (leaf units); 3: inside leaf ``pos`` at fraction ``frac`` (``coeffs`` its split).
    """
    size = rows * m
    if kind == 0 or kind == 1:
        for e in range(size):
            wt[e] = seg_lr[kind, e]
        return
    if kind == 2:
        tz = 0
        while (pos >> tz) & 1 == 0:
            tz += 1
        level = LEVELS - tz - 1
        k = pos >> (tz + 1)
        _descend(stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, level, k, width, path0, rows, m)
        heap = (np.int64(1) << level) + k
        split_normals(z1, z2, u4, tails, seed_lo, seed_hi, tree_node(j, heap), 2 * (heap & 1), path0, rows, m)
        sqrt_h = np.sqrt(width * 2.0 ** (-level))
        for e in range(size):
            wm, _, _ = midpoint_split(stack[0, level, e], stack[1, level, e], stack[2, level, e], z1[e], z2[e], sqrt_h)
            wt[e] = wm
        return
    _descend(stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, LEVELS, pos, width, path0, rows, m)
    node = (np.int64(1) << 54) | (np.int64(j) << 32) | np.int64(pos)  # philox.leaf_draw(j, pos, 0) >> 2
    split_normals(z1, z2, u4, tails, seed_lo, seed_hi, node, 0, path0, rows, m)
    for e in range(size):
        wl = stack[0, LEVELS, e]
        w1, _, _, _ = general_split(stack[1, LEVELS, e] - wl, stack[2, LEVELS, e], frac, coeffs, z1[e], z2[e])
        wt[e] = wl + w1


@numba.njit(**_OPTS)
def _grid_chunk(step_fn, x, out, slots, times, seed_lo, seed_hi, segments, span, width, path0, m, loc, fracs,
                coef, wcur, skel, seg_lr, stack, seen, s0, s1, bad, fault, f32):
    """Steps ``s0 <= i < s1`` of one chunk on any grid, W at each time from the tree (no areas).

    ``loc[i] = (segment, kind, pos)`` and ``fracs[i]``, ``coef[i]`` locate time ``i``
    (:func:`locate_times`); ``wcur`` holds W at the current time, ``skel`` the
    skeleton's stack, ``seg_lr`` the current segment's (W left, W right, H) and
    ``seen[LEVELS + 1]`` the segment whose stack is loaded (``seen[:LEVELS + 1]``: per level).
    """
    r = x.shape[0]
    size = r * m
    u4 = np.empty((4, size))
    z1 = np.empty(size)
    z2 = np.empty(size)
    tails = np.empty(size, dtype=np.int64)
    wnext = np.empty(size)
    dwf = np.empty(size, dtype=x.dtype)
    hf = np.zeros(size, dtype=x.dtype)
    dw = dwf.reshape(r, m)
    h = hf.reshape(r, m)
    if s0 == 0:
        bad[0] = -1
        bad[1] = -1
        bad[2] = 0
        seen[LEVELS + 1] = -1
        if slots[0] >= 0:
            out[slots[0]] = x
    for i in range(s0, s1 + 1):
        j = loc[i, 0]
        while seen[LEVELS + 1] < j:  # the skeleton, left to right up to segment j
            nxt = seen[LEVELS + 1] + 1
            for e in range(size):  # the skeleton's wcur is W at the segment's start
                wnext[e] = seg_lr[1, e] if nxt > 0 else 0.0
            d = skeleton_segment(skel, wnext, z1, z2, u4, tails, seed_lo, seed_hi, nxt, segments, span, width,
                                 path0, r, m)
            for e in range(size):
                seg_lr[0, e] = wnext[e]
                seg_lr[1, e] = skel[0, d, e]
                seg_lr[2, e] = skel[1, d, e]
            seen[LEVELS + 1] = nxt
            seen[0] = -1
        if i == 0:
            _value_at(wcur, stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, loc[i, 1], loc[i, 2],
                      fracs[i], (coef[i, 0], coef[i, 1], coef[i, 2], coef[i, 3], coef[i, 4]), width, path0, r, m)
            continue
        if i <= s0:
            continue
        _value_at(wnext, stack, seen, seg_lr, z1, z2, u4, tails, seed_lo, seed_hi, j, loc[i, 1], loc[i, 2],
                  fracs[i], (coef[i, 0], coef[i, 1], coef[i, 2], coef[i, 3], coef[i, 4]), width, path0, r, m)
        for e in range(size):
            v = wnext[e] - wcur[e]
            if f32:
                v = np.float64(np.float32(v))
            dwf[e] = v
            wcur[e] = wnext[e]
        status = _advance(step_fn, times, i - 1, x, dw, h, out, slots, bad)
        if status == STATUS_RAISED:
            _keep_fault(fault, dwf, hf, size)
        if status:
            return


def _run_grid(step_fn, xs, out, slots, times, seed_lo, seed_hi, segments, span, width, path0, m, rows, loc, fracs,
              coef, c0, c1, wcur, skel, seg_lr, stack, seen, s0, s1, bad, fault, f32):
    """Steps ``[s0, s1)`` of chunks ``[c0, c1)`` on an off-tree grid, chunks in parallel (see :func:`_run_sde`)."""
    n = xs.shape[0]
    for g in numba.prange(c1 - c0):
        ci = c0 + g
        if s0 > 0 and bad[ci, 2] != 0:
            continue
        i0 = ci * rows
        i1 = min(i0 + rows, n)
        _grid_chunk(step_fn, xs[i0:i1], out[:, i0:i1], slots, times, seed_lo, seed_hi, segments, span, width,
                    path0 + i0, m, loc, fracs, coef, wcur[g], skel[g], seg_lr[g], stack[g], seen[g], s0, s1, bad[ci],
                    fault[g], f32)


def locate_times(bm, times):
    """``(loc, fracs, coef)``: where each grid time sits in ``bm``'s tree, for :func:`_grid_chunk`.

    ``loc[i] = (segment, kind, pos)`` with ``kind`` as in :func:`_value_at`; a time
    inside a leaf gets its fraction and the coefficients of the leaf's split
    (:func:`sdekit._bridge.split_coefficients`), as :meth:`BrownianPath.value` computes them.
    """
    from .._bridge import split_coefficients as coefficients

    n = len(times)
    loc = np.zeros((n, 3), dtype=np.int64)
    fracs = np.zeros(n)
    coef = np.zeros((n, 5))
    full = 1 << LEVELS
    leaf = bm.segment_width * 2.0**-LEVELS
    for i, t in enumerate(times):
        j, pos, exact = bm.locate(min(max(float(t), bm.t0), bm.t1))
        if exact:
            kind = 0 if pos == 0 else (1 if pos == full else 2)
            loc[i] = (j, kind, pos)
        else:
            k = int(pos)
            frac = min(max(pos - k, 0.0), 1.0)
            loc[i] = (j, 3, k)
            fracs[i] = frac
            coef[i] = coefficients(frac, leaf)
    return loc, fracs, coef


# -- ODEs -----------------------------------------------------------------------------------------------
@numba.njit(**_OPTS)
def _ode_chunk(step_fn, x, out, slots, times, s0, s1, bad):
    none = np.empty((x.shape[0], 0), dtype=x.dtype)
    if s0 == 0:
        bad[0] = -1
        bad[1] = -1
        bad[2] = 0
        if slots[0] >= 0:
            out[slots[0]] = x
    for step in range(s0, s1):
        if _advance(step_fn, times, step, x, none, none, out, slots, bad):
            return


def _run_ode(step_fn, xs, out, slots, times, rows, c0, c1, s0, s1, bad):
    """Steps ``[s0, s1)`` of an ODE solve on any grid ``times`` for chunks ``[c0, c1)``: no Brownian increments."""
    n = xs.shape[0]
    for g in numba.prange(c1 - c0):
        ci = c0 + g
        if s0 > 0 and bad[ci, 2] != 0:
            continue
        i0 = ci * rows
        i1 = min(i0 + rows, n)
        _ode_chunk(step_fn, xs[i0:i1], out[:, i0:i1], slots, times, s0, s1, bad[ci])


@numba.njit(**_OPTS)
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


@numba.njit(**_OPTS)
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


@numba.njit(**_OPTS)
def diagonal_noise(g, dw):
    """``g * dw`` (diagonal noise; scalar noise broadcasts ``dw`` of shape (n, 1)).

    Not inlined on purpose: Numba fuses an inlined product into the rule's
    arithmetic, and a fused loop over four different arrays runs about twice
    as slow as this two-array loop plus a three-array one (broadcasting checks
    per operand keep it from vectorising).
    """
    return g * dw


@numba.njit(**_OPTS)
def zero_diffusion(t, x):
    return 0.0


@numba.njit(**_OPTS)
def zero_noise(g, dw):
    return 0.0


def _array(dtype, ndim):
    return types.Array(dtype, ndim, "C")


def step_type(dtype):
    """The type of a compiled step: ``(t, dt, x[rows, d], dw[rows, m], h[rows, m]) -> all finite``, in place.

    ``h`` holds the steps' space-time Lévy areas for rules that ask for them (zeros otherwise).
    """
    a = _array(numba.from_dtype(np.dtype(dtype)), 2)
    return types.boolean(types.float64, types.float64, a, a, a)


_DRIVERS = {}


def drivers(dtype, parallel=True):
    """The drivers ``(sde, grid, ode)`` for states of ``dtype``, compiled on first use and cached on disk.

    They take the step as a first-class function (a function pointer of
    :func:`step_type`), so they are compiled once, not per problem. Each exists
    serially and in parallel (small launches run serially: a parallel launch
    costs about as much as 10^5 normals, and waits for every thread).
    """
    key = (np.dtype(dtype).name, bool(parallel))
    if key not in _DRIVERS:
        if parallel:
            from .. import _numba_threads

            _numba_threads.prepare()  # before Numba loads a parallel kernel: the layer is chosen then
        sig = step_type(dtype)
        fn = types.FunctionType(sig)
        f64, i64, b1 = types.float64, types.int64, types.boolean
        state = sig.args[2]
        out = _array(state.dtype, 3)
        seeds = (types.uint64, types.uint64)
        ints1, ints2, f1, f2 = _array(i64, 1), _array(i64, 2), _array(f64, 1), _array(f64, 2)
        opts = dict(_OPTS, parallel=bool(parallel))
        head = (fn, state, out, ints1, f1)
        # the serial drivers under their own names: Numba's cache would hand each the other's code
        run_sde, run_grid, run_ode = (f if parallel else renamed(f, "_serial") for f in (_run_sde, _run_grid,
                                                                                          _run_ode))
        sde = numba.njit(types.void(*head, *seeds, i64, i64, i64, f64, f64, i64, i64, i64, i64, i64, f2,
                                    _array(f64, 4), _array(f64, 4), i64, i64, ints2, _array(f64, 3), b1, b1),
                         **opts)(run_sde)
        grid = numba.njit(types.void(*head, *seeds, i64, f64, f64, i64, i64, i64, ints2, f1, f2, i64, i64, f2,
                                     _array(f64, 4), _array(f64, 3), _array(f64, 4), ints2, i64, i64, ints2,
                                     _array(f64, 3), b1), **opts)(run_grid)
        ode = numba.njit(types.void(*head, i64, i64, i64, i64, i64, ints2), **opts)(run_ode)
        _DRIVERS[key] = (sde, grid, ode)
    return _DRIVERS[key]


def chunk_rows(d, m, chunk=None, values=CHUNK_VALUES):
    """Paths per chunk: ``chunk`` if given, else about ``values`` state values."""
    if chunk is not None:
        return int(chunk)
    return max(1, values // max(d, m, 1))


def block_levels(k):
    """Levels of the tree filled per block: ``min(k, MAX_BLOCK_LEVELS)``."""
    return min(k, MAX_BLOCK_LEVELS)


_ACCUMULATE = []


def accumulate_step():
    """The step ``x += dw`` (compiled once, cached on disk)."""
    if not _ACCUMULATE:
        def accumulate(t, dt, x, dw, h):
            xf = x.reshape(x.size)
            wf = dw.reshape(dw.size)
            for j in range(xf.size):
                xf[j] += wf[j]
            return True

        _ACCUMULATE.append(numba.njit(step_type(np.float64), **_OPTS)(accumulate))
    return _ACCUMULATE[0]
