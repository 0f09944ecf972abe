r"""The Brownian path's normals and grid sweeps on a GPU, as Triton kernels (the numbers of :mod:`sdekit.brownian`).

A torch :class:`~sdekit.BrownianPath` on a CUDA device draws its normals with the
Triton kernel of :mod:`sdekit._philox_triton` (one launch per draw) and sweeps an
aligned grid with :func:`grid_sweep`: the increments (and space-time areas) of an aligned grid,
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
  (:meth:`~sdekit.BrownianPath.segment_bounds`), drawn through :func:`sdekit._philox_triton.draw_normals`.

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

import torch
import triton
import triton.language as tl

from ._philox_triton import BLOCK, LAUNCH, grid, midpoint_split, normal, words
from .brownian import BrownianPath, LevyIncrement
from .errors import InvalidArgumentError

MAX_BLOCK_STEPS = 64  # steps per sweep launch (a fresh (steps, n, m) output each)
MAX_LEVELS = 30  # the kernels' level arithmetic is in int32 (2^30 steps per segment)


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
                    w0, w1, w2, w3 = words(heap >> 1, seg, path, comp, k0, k1)
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
                w_mid, h_left, h_right = midpoint_split(w_l, w_r, area, normal(a), normal(b), sqrt_h)
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
    width = float(bm.segment_width)
    steps = 1 << min(k, max(0, int(block_steps).bit_length() - 1))  # a power of two: blocks tile the segment
    launch_grid = grid(lanes)
    for j in range(bm.segments):
        wl, wr, area = bm.segment_bounds(j)
        cur[0].copy_(wl.reshape(lanes))
        cur[1].copy_(wr.reshape(lanes))
        cur[2].copy_(area.reshape(lanes))
        for p0 in range(0, 1 << k, steps):
            dw = torch.empty((steps, n, m), dtype=dtype, device=device)
            h = torch.empty((steps, n, m), dtype=dtype, device=device) if levy_area else dw
            _sweep_kernel[launch_grid](cur, rw, rh, stash, dw, h, width, lanes, m, bm.path_offset, k0, k1, j, k, p0,
                                       steps, WRITE_H=bool(levy_area), BLOCK_SIZE=BLOCK, **LAUNCH)
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
