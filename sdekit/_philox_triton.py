"""Philox4x32-10 and Acklam's normals as Triton kernels: the generator of :mod:`sdekit.philox` on a GPU.

:func:`draw_normals` computes the normals of one draw id for all paths and
components in one kernel (where the int64 torch ops of :mod:`sdekit._philox_torch`
take about 200): Philox on 32-bit words with ``umulhi`` — words bit-identical to
:func:`sdekit.philox.philox4x32` — and Acklam's inverse CDF in float64, its central
rational compiled from :func:`sdekit.philox.normal_central`'s own source. The
device functions :func:`words`, :func:`normal` and :func:`midpoint_split` (Foster's
split, from :func:`sdekit._bridge.midpoint_split`'s source) serve the grid sweep of
:mod:`sdekit._brownian_triton`.

Under ``TRITON_INTERPRET=1`` (set before ``triton`` is imported) the kernels run on
CPU tensors through Triton's interpreter: the tests' way of checking them without a GPU.
"""

from __future__ import annotations

import types

import torch
import triton
import triton.language as tl

from . import _bridge, philox

BLOCK = 256  # lanes per Triton program
# No fused multiply-adds: the bridge arithmetic then rounds as the CPU path does (increments equal to the rounding
# of log in Acklam's tails, instead of an ulp of every split).
LAUNCH = {"enable_fp_fusion": False}


def _jit_from(fn, **constants):
    """``fn`` compiled by Triton from its own source, its module constants given as ``tl.constexpr``."""
    namespace = {"tl": tl, **{k: tl.constexpr(v) for k, v in constants.items()}}
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__)
    copy.__module__, copy.__qualname__, copy.__doc__ = fn.__module__, fn.__qualname__, fn.__doc__
    return triton.jit(copy)


midpoint_split = _jit_from(_bridge.midpoint_split)
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
def words(node_lo, node_hi, path, comp, k0, k1):
    """The four Philox words of counter ``(node, path, comp)`` (the layout of :func:`sdekit.philox.counter_words`)."""
    c0 = (path * 0 + node_lo).to(tl.uint32)
    c1 = (node_hi | ((comp & 0xFF) << 24)).to(tl.uint32)
    c2 = (path & 0xFFFFFFFF).to(tl.uint32)
    c3 = ((path >> 32) | ((comp >> 8) << 16)).to(tl.uint32)
    return _philox(c0, c1, c2, c3, (k0 + path * 0).to(tl.uint32), (k1 + path * 0).to(tl.uint32))


@triton.jit
def normal(w):
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
    w0, w1, w2, w3 = words(node_lo, node_hi, path, comp, k0, k1)
    for c in tl.static_range(COUNT):
        z = normal(_lane_select(w0, w1, w2, w3, lane + c))
        tl.store(out_ptr + c * n_lanes + offs, z, mask=mask)


@triton.jit
def _words_kernel(out_ptr, n_lanes, m, path0, node_lo, node_hi, k0, k1, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_lanes
    w0, w1, w2, w3 = words(node_lo, node_hi, path0 + offs // m, offs % m, k0, k1)
    tl.store(out_ptr + offs, w0.to(tl.int64), mask=mask)
    tl.store(out_ptr + n_lanes + offs, w1.to(tl.int64), mask=mask)
    tl.store(out_ptr + 2 * n_lanes + offs, w2.to(tl.int64), mask=mask)
    tl.store(out_ptr + 3 * n_lanes + offs, w3.to(tl.int64), mask=mask)


def grid(n_lanes):
    return (triton.cdiv(n_lanes, BLOCK),)


def draw_normals(out, seed, node, lane, path0):
    """``out[c, i, j]`` = normal of draw ``(node, lane + c)`` for path ``path0 + i``, component ``j``.

    ``out`` is a contiguous float64 tensor ``(count, n, m)`` with ``lane + count <= 4``
    (lanes of one Philox call share one evaluation).
    """
    count, n, m = out.shape
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    _draw_kernel[grid(n * m)](out, n * m, m, path0, node & 0xFFFFFFFF, node >> 32, lane, k0, k1, COUNT=count,
                               BLOCK_SIZE=BLOCK, **LAUNCH)
    return out


def philox_words(seed, node, n, m, path0=0, device="cpu"):
    """The four Philox words of ``(node, path0 + i, j)`` as an int64 tensor ``(4, n, m)`` (for tests)."""
    out = torch.empty((4, n, m), dtype=torch.int64, device=device)
    _words_kernel[grid(n * m)](out, n * m, m, path0, node & 0xFFFFFFFF, node >> 32, seed & 0xFFFFFFFF,
                                seed >> 32, BLOCK_SIZE=BLOCK)
    return out


