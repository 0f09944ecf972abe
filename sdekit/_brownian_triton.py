r"""The Brownian path's normals and grid sweeps on a GPU, as Triton kernels (the numbers of :mod:`sdekit.brownian`).

Two kernels serve a torch :class:`~sdekit.BrownianPath` on a CUDA device:

* :func:`draw_normals` — the normals of one draw id for all paths and components
  (Philox4x32-10 on 32-bit words with ``umulhi``, Acklam's inverse CDF in float64):
  one launch where the int64 torch ops of :mod:`sdekit._philox_torch` take about
  200. Words are bit-identical to :func:`sdekit.philox.philox4x32`.
* :func:`grid_sweep` — the increments (and space-time areas) of an aligned grid,
  a block of steps per launch. Each lane (one path and component) walks its
  segment's dyadic tree depth first, left to right, exactly as the CUDA kernel of
  :mod:`sdekit.backends.cuda_kernel` does: the pending right siblings' ends and
  areas on a stack of one entry per level (kept in device memory between
  launches, ``24 (k + 1)`` bytes per lane for ``2^k`` steps per segment), Foster's
  midpoint split (:func:`sdekit._bridge.midpoint_split`, compiled from its source),
  two splits per Philox call (the right sibling's two words wait on the stack).
  ``W`` is absolute, so a step's increment is the float64 difference of the same
  tree nodes the CPU path computes, rounded once to the path's dtype: the same
  numbers as the CPU block filler (to the rounding of ``log`` in the tails).
  The segments' ends and areas (the skeleton) come from the path itself
  (:meth:`~sdekit.BrownianPath.segment_bounds`), drawn through :func:`draw_normals`.

Nothing here reads a value back to the host: a sweep is a sequence of kernel
launches with Python-int arguments, so a torch loop consuming it can be captured
in a CUDA graph. With ``TRITON_INTERPRET=1`` (set before ``triton`` is imported)
the same kernels run on CPU tensors through Triton's interpreter: that is how the
test suite checks them without a GPU (``tests/test_brownian_triton.py``).

>>> import torch, sdekit as sk                                   # doctest: +SKIP
>>> bm = sk.BrownianPath(10**6, 1, (0.0, 1.0), backend="torch", device="cuda")   # doctest: +SKIP
>>> bm.set_kernel("triton")                                       # doctest: +SKIP
"""

from __future__ import annotations

import types

import torch
import triton
import triton.language as tl

from . import _bridge, philox
from .brownian import BrownianPath, LevyIncrement
from .errors import InvalidArgumentError

BLOCK = 256  # lanes per Triton program
# No fused multiply-adds: the bridge arithmetic then rounds as the CPU path does (increments equal to the rounding
# of log in Acklam's tails, instead of an ulp of every split).
_LAUNCH = {"enable_fp_fusion": False}
MAX_BLOCK_STEPS = 64  # steps per sweep launch (a fresh (steps, n, m) output each)
MAX_LEVELS = 30  # the kernels' level arithmetic is in int32 (2^30 steps per segment)


def _jit_from(fn, **constants):
    """``fn`` compiled by Triton from its own source, its module constants given as ``tl.constexpr``."""
    namespace = {"tl": tl, **{k: tl.constexpr(v) for k, v in constants.items()}}
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__)
    copy.__module__, copy.__qualname__, copy.__doc__ = fn.__module__, fn.__qualname__, fn.__doc__
    return triton.jit(copy)


_midpoint = _jit_from(_bridge.midpoint_split)
_central = _jit_from(philox.normal_central, **{f"_A{i}": c for i, c in enumerate(philox.ACKLAM_A)},
                     **{f"_B{i}": c for i, c in enumerate(philox.ACKLAM_B)})
_C0, _C1, _C2, _C3, _C4, _C5 = (tl.constexpr(c) for c in philox.ACKLAM_C)
_D0, _D1, _D2, _D3 = (tl.constexpr(c) for c in philox.ACKLAM_D)
_P_LOW = tl.constexpr(philox.ACKLAM_P_LOW)
_P_HIGH = tl.constexpr(1.0 - philox.ACKLAM_P_LOW)
_TWO_M32 = tl.constexpr(philox.TWO_M32)
_M0, _M1 = tl.constexpr(philox.PHILOX_M0), tl.constexpr(philox.PHILOX_M1)
_W0, _W1 = tl.constexpr(philox.PHILOX_W0), tl.constexpr(philox.PHILOX_W1)


@triton.jit
def _philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint32 tensors: ``umulhi`` and the wrapping product are the two halves of m * c."""
    for r in tl.static_range(10):
        if r > 0:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0 = tl.umulhi(c0, _M0)
        lo0 = c0 * _M0
        hi1 = tl.umulhi(c2, _M1)
        lo1 = c2 * _M1
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@triton.jit
def _words(node_lo, node_hi, path, comp, k0, k1):
    """The four Philox words of counter ``(node, path, comp)`` (the layout of :func:`sdekit.philox.counter_words`)."""
    c0 = (path * 0 + node_lo).to(tl.uint32)
    c1 = (node_hi | ((comp & 0xFF) << 24)).to(tl.uint32)
    c2 = (path & 0xFFFFFFFF).to(tl.uint32)
    c3 = ((path >> 32) | ((comp >> 8) << 16)).to(tl.uint32)
    return _philox(c0, c1, c2, c3, (k0 + path * 0).to(tl.uint32), (k1 + path * 0).to(tl.uint32))


@triton.jit
def _normal(w):
    """Acklam's inverse normal CDF of ``(w + 1/2) 2^-32`` (float64), as :func:`sdekit.philox.normal_from_uniform`."""
    u = (w.to(tl.float64) + 0.5) * _TWO_M32
    central = _central(u)
    lower = u < 0.5
    s = tl.sqrt(-2.0 * tl.log(tl.where(lower, u, 1.0 - u)))
    tail = (((((_C0 * s + _C1) * s + _C2) * s + _C3) * s + _C4) * s + _C5) / \
        ((((_D0 * s + _D1) * s + _D2) * s + _D3) * s + 1.0)
    in_tail = (u < _P_LOW) | (u > _P_HIGH)
    return tl.where(in_tail, tl.where(lower, tail, -tail), central)


@triton.jit
def _lane_select(w0, w1, w2, w3, lane):
    return tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))


@triton.jit
def _draw_kernel(out_ptr, n_lanes, m, path0, node_lo, node_hi, lane, k0, k1, COUNT: tl.constexpr,
                 BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_lanes
    path = path0 + offs // m
    comp = offs % m
    w0, w1, w2, w3 = _words(node_lo, node_hi, path, comp, k0, k1)
    for c in tl.static_range(COUNT):
        z = _normal(_lane_select(w0, w1, w2, w3, lane + c))
        tl.store(out_ptr + c * n_lanes + offs, z, mask=mask)


@triton.jit
def _words_kernel(out_ptr, n_lanes, m, path0, node_lo, node_hi, k0, k1, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_lanes
    w0, w1, w2, w3 = _words(node_lo, node_hi, path0 + offs // m, offs % m, k0, k1)
    tl.store(out_ptr + offs, w0.to(tl.int64), mask=mask)
    tl.store(out_ptr + n_lanes + offs, w1.to(tl.int64), mask=mask)
    tl.store(out_ptr + 2 * n_lanes + offs, w2.to(tl.int64), mask=mask)
    tl.store(out_ptr + 3 * n_lanes + offs, w3.to(tl.int64), mask=mask)


@triton.jit
def _sweep_kernel(cur_ptr, rw_ptr, rh_ptr, stash_ptr, dw_ptr, h_ptr, width, n_lanes, m, path0, k0, k1, seg, k,
                  p0, steps, WRITE_H: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """Advance every lane's depth-first walk of segment ``seg`` over leaves ``p0 .. p0 + steps - 1``.

    ``cur`` (3, lanes) holds the current leaf interval (left W, right W, area);
    ``rw``/``rh`` (k + 1, lanes) the pending right siblings per level; ``stash``
    (2, k + 1, lanes) their Philox words 2 and 3. ``dw``/``h`` (steps, lanes)
    receive the increments and areas in the output dtype.
    """
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_lanes
    path = path0 + offs // m
    comp = offs % m
    w_l = tl.load(cur_ptr + offs, mask=mask, other=0.0)
    w_r = tl.load(cur_ptr + n_lanes + offs, mask=mask, other=0.0)
    area = tl.load(cur_ptr + 2 * n_lanes + offs, mask=mask, other=0.0)
    for p in range(p0, p0 + steps):
        if p > 0:  # leaf p starts the right subtree of level k - (trailing zeros of p): take it from the stack
            w_l = w_r
            for lev in range(1, k + 1):
                span = 1 << (k - lev)
                if (p % span == 0) & (p % (2 * span) != 0):
                    w_r = tl.load(rw_ptr + lev * n_lanes + offs, mask=mask, other=0.0)
                    area = tl.load(rh_ptr + lev * n_lanes + offs, mask=mask, other=0.0)
        for lev in range(0, k):
            if p % (1 << (k - lev)) == 0:  # leaf p descends through this level's node: split it
                heap = (1 << lev) + (p >> (k - lev))
                if (heap % 2 == 1) & (lev > 0):  # the left sibling's Philox call gave these words
                    a = tl.load(stash_ptr + lev * n_lanes + offs, mask=mask, other=0).to(tl.uint32)
                    b = tl.load(stash_ptr + (k + 1 + lev) * n_lanes + offs, mask=mask, other=0).to(tl.uint32)
                else:
                    w0, w1, w2, w3 = _words(heap >> 1, seg, path, comp, k0, k1)
                    if heap % 2 == 1:
                        a = w2
                        b = w3
                    else:
                        a = w0
                        b = w1
                        tl.store(stash_ptr + lev * n_lanes + offs, w2.to(tl.int64), mask=mask)
                        tl.store(stash_ptr + (k + 1 + lev) * n_lanes + offs, w3.to(tl.int64), mask=mask)
                # sqrt(width 2^-lev) as the CPU path computes it: 2^-lev built from its exponent bits (exact),
                # a correctly rounded sqrt (no table to copy from the host: the sweep stays capturable)
                scale = ((tl.zeros((), tl.int64) + (1023 - lev)) << 52).to(tl.float64, bitcast=True)
                sqrt_h = tl.sqrt(width * scale)
                w_mid, h_left, h_right = _midpoint(w_l, w_r, area, _normal(a), _normal(b), sqrt_h)
                tl.store(rw_ptr + (lev + 1) * n_lanes + offs, w_r, mask=mask)
                tl.store(rh_ptr + (lev + 1) * n_lanes + offs, h_right, mask=mask)
                w_r = w_mid
                area = h_left
        row = (p - p0) * n_lanes + offs
        tl.store(dw_ptr + row, (w_r - w_l).to(dw_ptr.dtype.element_ty), mask=mask)
        if WRITE_H:
            tl.store(h_ptr + row, area.to(h_ptr.dtype.element_ty), mask=mask)
    tl.store(cur_ptr + offs, w_l, mask=mask)
    tl.store(cur_ptr + n_lanes + offs, w_r, mask=mask)
    tl.store(cur_ptr + 2 * n_lanes + offs, area, mask=mask)


def _grid(n_lanes):
    return (triton.cdiv(n_lanes, BLOCK),)


def draw_normals(out, seed, node, lane, path0):
    """``out[c, i, j]`` = normal of draw ``(node, lane + c)`` for path ``path0 + i``, component ``j``.

    ``out`` is a contiguous float64 tensor ``(count, n, m)`` with ``lane + count <= 4``
    (lanes of one Philox call share one evaluation).
    """
    count, n, m = out.shape
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    _draw_kernel[_grid(n * m)](out, n * m, m, path0, node & 0xFFFFFFFF, node >> 32, lane, k0, k1, COUNT=count,
                               BLOCK_SIZE=BLOCK, **_LAUNCH)
    return out


def philox_words(seed, node, n, m, path0=0, device="cpu"):
    """The four Philox words of ``(node, path0 + i, j)`` as an int64 tensor ``(4, n, m)`` (for tests)."""
    out = torch.empty((4, n, m), dtype=torch.int64, device=device)
    _words_kernel[_grid(n * m)](out, n * m, m, path0, node & 0xFFFFFFFF, node >> 32, seed & 0xFFFFFFFF,
                                seed >> 32, BLOCK_SIZE=BLOCK)
    return out


DTYPES = {"float64": torch.float64, "float32": torch.float32}


def grid_sweep(bm, k, levy_area=False, block_steps=MAX_BLOCK_STEPS):
    """Yield the increments (or ``(dW, H)`` pairs) of ``bm`` on its aligned grid of ``segments * 2^k`` steps.

    ``bm`` is a torch :class:`~sdekit.BrownianPath` (any device Triton runs on);
    only its public facts are read. Each launch writes ``block_steps`` steps into
    fresh tensors, whose rows are handed out.
    """
    if not 0 <= k <= MAX_LEVELS:
        raise InvalidArgumentError(f"grid_sweep runs grids of up to 2**{MAX_LEVELS} steps per segment; got 2**{k}")
    n, m = bm.n_paths, bm.dim
    lanes = n * m
    dtype = DTYPES[bm.dtype]
    device = bm.device
    if k == 0:  # one step per segment: the skeleton's leaves are the steps
        for j in range(bm.segments):
            wl, wr, area = bm.segment_bounds(j)
            dw = (wr - wl).to(dtype)
            yield LevyIncrement(dw, area.to(dtype)) if levy_area else dw
        return
    f64 = torch.float64
    cur = torch.empty((3, lanes), dtype=f64, device=device)
    rw = torch.empty((k + 1, lanes), dtype=f64, device=device)
    rh = torch.empty((k + 1, lanes), dtype=f64, device=device)
    stash = torch.empty((2, k + 1, lanes), dtype=torch.int64, device=device)
    k0, k1 = bm.seed & 0xFFFFFFFF, bm.seed >> 32
    steps = 1 << min(k, max(0, int(block_steps).bit_length() - 1))  # a power of two: blocks tile the segment
    grid = _grid(lanes)
    for j in range(bm.segments):
        wl, wr, area = bm.segment_bounds(j)
        cur[0].copy_(wl.reshape(lanes))
        cur[1].copy_(wr.reshape(lanes))
        cur[2].copy_(area.reshape(lanes))
        for p0 in range(0, 1 << k, steps):
            dw = torch.empty((steps, n, m), dtype=dtype, device=device)
            h = torch.empty((steps, n, m), dtype=dtype, device=device) if levy_area else dw
            _sweep_kernel[grid](cur, rw, rh, stash, dw, h, float(bm.segment_width), lanes, m, bm.path_offset, k0, k1, j, k, p0,
                                steps, WRITE_H=bool(levy_area), BLOCK_SIZE=BLOCK, **_LAUNCH)
            if levy_area:
                for p in range(steps):
                    yield LevyIncrement(dw[p], h[p])
            else:
                yield from dw



class TritonBrownianPath(BrownianPath):
    """A torch :class:`~sdekit.BrownianPath` whose aligned-grid sweeps run as :func:`grid_sweep` kernels.

    The same path (the same numbers, the same public API); only :meth:`increments`
    on an aligned grid changes how the work is done, when the path's normals come
    from Triton (``kernel="triton"``, the default on CUDA when Triton is installed).
    """

    def increments(self, times, levy_area=False):
        times = [self._check_time("times", t) for t in times]
        k = self.aligned_level(times)
        if k is not None and k <= MAX_LEVELS and self._source.kernel == "triton":
            return grid_sweep(self, k, levy_area)
        return super().increments(times, levy_area)
