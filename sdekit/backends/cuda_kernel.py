r"""The fused per-path CUDA kernel: one GPU thread runs a whole fixed-step solve of one path.

``sk.solve(..., backend="numba", device="cuda")`` (or ``backend=NumbaCudaBackend()`` of :mod:`.numba_cuda`)
runs a fixed-step solve as one ``numba-cuda`` kernel. Thread ``i`` owns path
``path_offset + i`` and, for the whole solve, keeps in registers and a small
per-thread stack:

* the **Philox counters** of its path (:func:`sdekit.philox.philox4x32` and
  :func:`~sdekit.philox.counter_words`, compiled as device functions from their
  arithmetic-only source; Acklam's normal likewise);
* the **Brownian path**, exactly as :mod:`sdekit.brownian` builds it: the global
  root, the skeleton's bisection over ``segments`` (general splits,
  :func:`sdekit._bridge.general_split`), and inside each segment a left-to-right
  depth-first walk of the dyadic tree with Foster's midpoint split
  (:func:`sdekit._bridge.midpoint_split`) — each pending right sibling's end and
  area on a stack of one entry per level, and the two normals a Philox call gives
  beyond a left split kept for its right sibling (two splits per call, as the CPU
  block filler). ``W`` is absolute, so each step's ``dW`` is the float64
  difference of the same tree nodes the NumPy backend computes, rounded once to
  the state's dtype; the area ``H`` likewise;
* the **step**: the solver's own ``step`` with the user's ``drift`` and
  ``diffusion``, traced on one symbolic path (:mod:`sdekit.backends.trace`) into
  straight-line scalar code and compiled as a device function. The user's
  functions stay the batched NumPy functions of every other backend: tracing
  hands them a ``(1, d)`` row (see that module for what cannot be traced).

Only the saved states are written to device memory (``save_at`` indices), plus one
integer per path (the first non-finite step, -1 if none). Numbers are the NumPy
backend's: the same Philox words, the same float64 tree arithmetic and the same
sequence of step operations (to 1e-10 in float64: ``log`` in Acklam's tails,
fused multiply-adds and NumPy's matmul summation order differ by ulps).

What runs here: fixed-step methods without auxiliary normals or multistep carry
(Euler–Maruyama, Heun, Milstein, SRA/SRI with the space-time area, the ODE
methods, ...), on a grid aligned with the path's tree (a seed-only solve with
``n_steps`` uniform steps, save times on the grid; or ``brownian=`` a NumPy
:class:`~sdekit.BrownianPath` whose tree is aligned with the grid). Anything else
raises :class:`~sdekit.errors.BackendError` saying why (nothing falls back to the
CPU silently). Per-path parameters (``args=``) are not supported yet.

Without a GPU, Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before
``numba`` is imported) runs the same kernel source as Python threads: the test
suite checks it against the NumPy backend that way (``tests/test_cuda_kernel.py``).

Example (on a machine with a CUDA device and ``numba-cuda``)::

    sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=1000, n_paths=10**7, backend="numba", device="cuda",
                   dtype="float32")
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import _bridge, _philox_numba, philox
from ..brownian import SKELETON, BrownianPath, LevyIncrement, segments_for
from ..errors import BackendError, InvalidArgumentError
from ..solution import IntegrateResult
from .base import nonfinite_error
from .trace import compile_source, step_source, trace_step

THREADS_PER_BLOCK = 128
cuda = None  # numba.cuda, imported on first use; kernels name it as a module global (the simulator swaps it)


def is_cuda_device(device) -> bool:
    """Whether ``device`` (None, a string such as ``"cuda"``/``"cuda:0"``, or a torch device) names a CUDA device."""
    if device is None:
        return False
    return str(getattr(device, "type", device)).split(":")[0] == "cuda"


def cuda_module():
    """``numba.cuda``, or a :class:`~sdekit.errors.BackendError` saying how to install it."""
    global cuda
    if cuda is None:
        try:
            from numba import cuda as module
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise BackendError(f'device="cuda" needs numba-cuda: pip install "sdekit[cuda]" ({e})') from None
        cuda = module
    return cuda


def check_device(device):
    """Refuse a CUDA device that is not there, before any work."""
    cuda_module()
    if not cuda.is_available():
        raise BackendError(f"device={str(device)!r} is not available: numba-cuda sees no CUDA device "
                           "(solve on the CPU with device=None)")
    index = str(getattr(device, "index", None) if hasattr(device, "type") else "").strip()
    if ":" in str(device):
        index = str(device).split(":", 1)[1]
    if index not in ("", "None"):
        try:
            cuda.select_device(int(index))
        except Exception as e:  # noqa: BLE001 - a bad index or a busy device
            raise BackendError(f"device={str(device)!r}: cannot select that CUDA device ({e})") from None


# -- device functions compiled from the reference sources ------------------------------------------------
_DEVICE = {}


def device_functions():
    """The Philox, normal and bridge device functions (compiled from :mod:`sdekit.philox` and :mod:`sdekit._bridge`)."""
    if _DEVICE:
        return _DEVICE
    cuda_module()
    dev = cuda.jit(device=True)
    philox4 = dev(philox.philox4x32)
    counter = dev(philox.counter_words)
    central = dev(philox.normal_central)
    tail = dev(_philox_numba.normal_tail.py_func)
    low, high, scale = philox.ACKLAM_P_LOW, 1.0 - philox.ACKLAM_P_LOW, philox.TWO_M32

    @cuda.jit(device=True)
    def normal(w):
        # Acklam's inverse CDF of (w + 1/2) 2^-32, as sdekit._philox_numba.normal_from_word.
        u = (np.float64(w) + 0.5) * scale
        if low <= u <= high:
            return central(u)
        return tail(u)

    @cuda.jit(device=True)
    def words(key_lo, key_hi, node, path, comp):
        c0, c1, c2, c3 = counter(node, path, comp)
        return philox4(c0, c1, c2, c3, key_lo, key_hi)

    @cuda.jit(device=True)
    def pair(key_lo, key_hi, node, path, comp, odd):
        # The two normals of a split: lanes (0, 1) for an even heap index, (2, 3) for an odd one.
        w0, w1, w2, w3 = words(key_lo, key_hi, node, path, comp)
        if odd:
            return normal(w2), normal(w3)
        return normal(w0), normal(w1)

    _DEVICE.update(normal=normal, words=words, pair=pair, midpoint=dev(_bridge.midpoint_split),
                   general=dev(_bridge.general_split), coefficients=dev(_bridge.split_coefficients))
    return _DEVICE


def commit_function(D):
    """A device function ``commit(x, xn, out, slot, i)``: x <- xn, saved in row ``slot`` (when >= 0) if finite.

    Returns whether every component of ``xn`` is finite (NaN fails ``v == v``, an infinity
    fails ``v - v == 0``); a non-finite state is copied but not saved, and the kernel stops
    that path. Shared by the SDE and ODE kernels, for the initial state as for every step.
    """
    cuda_module()

    @cuda.jit(device=True)
    def commit(x, xn, out, slot, i):
        finite = True
        for c in range(D):
            v = xn[c]
            finite = finite and v == v and v - v == 0.0
            x[c] = v
        if finite and slot >= 0:
            for c in range(D):
                out[slot, i, c] = x[c]
        return finite

    return commit


def _bucket(n, size=4):
    return max(size, -(-int(n) // size) * size)


_KERNELS = {}


def sde_kernel(step, d, m, dtype, levels, skeleton_depth):
    """The SDE kernel for a compiled ``step`` (``traced_step`` of :mod:`.trace`), ``d`` states, ``m`` noises.

    ``levels`` bounds the tree's depth below a segment, ``skeleton_depth`` the
    skeleton's (per-thread stacks have these many entries). Compiled for the
    current device on creation.
    """
    kernel, sig = sde_kernel_function(step, d, m, dtype, levels, skeleton_depth)
    return cuda.jit(sig)(kernel)


def sde_kernel_function(step, d, m, dtype, levels, skeleton_depth):
    """The Python function of :func:`sde_kernel` and its signature (``cuda.compile_ptx`` takes them)."""
    import numba

    fns = device_functions()
    normal, words, pair = fns["normal"], fns["words"], fns["pair"]
    midpoint, general, coefficients = fns["midpoint"], fns["general"], fns["coefficients"]
    S = numba.float32 if np.dtype(dtype) == np.float32 else numba.float64
    cast = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    f64, i64 = numba.float64, numba.int64
    D, M, KL, SKD = d, m, levels + 1, skeleton_depth
    commit = commit_function(D)
    SKM, KLM = SKD * M, KL * M  # local array sizes must be constants, not products typed at run time
    skeleton_node = np.uint64(SKELETON << 32)
    u1, u32 = np.uint64(1), np.uint64(32)

    def kernel(x0, out, slots, times, key_lo, key_hi, segments, k, span, width, sqrt_hs, path0, bad):
        i = cuda.grid(1)
        if i >= x0.shape[0]:
            return
        path = np.uint64(path0 + i)
        x = cuda.local.array(D, S)
        xn = cuda.local.array(D, S)
        dw = cuda.local.array(M, S)
        hh = cuda.local.array(M, S)
        cl = cuda.local.array(M, f64)  # the current skeleton node (then segment): W at its ends, its area
        cr = cuda.local.array(M, f64)
        ch = cuda.local.array(M, f64)
        s_heap = cuda.local.array(SKD, i64)  # skeleton stack: pending right children
        s_lo = cuda.local.array(SKD, i64)
        s_hi = cuda.local.array(SKD, i64)
        s_wl = cuda.local.array(SKM, f64)
        s_wr = cuda.local.array(SKM, f64)
        s_h = cuda.local.array(SKM, f64)
        tl = cuda.local.array(M, f64)  # the current tree interval inside the segment
        tr = cuda.local.array(M, f64)
        th = cuda.local.array(M, f64)
        rw = cuda.local.array(KLM, f64)  # per level: the pending right sibling's right end and area
        rh = cuda.local.array(KLM, f64)
        z1s = cuda.local.array(KLM, f64)  # per level: the right sibling's normals (lanes 2, 3)
        z2s = cuda.local.array(KLM, f64)
        bad[i] = -1
        commit(x, x0[i], out, slots[0], i)  # x0 was checked finite on the host
        sq_span = math.sqrt(span)
        sq_span12 = math.sqrt(span / 12.0)
        for c in range(M):  # the global root: W(t1) and the whole span's area
            z1, z2 = pair(key_lo, key_hi, skeleton_node, path, np.uint64(c), False)
            cl[c] = 0.0
            cr[c] = sq_span * z1
            ch[c] = sq_span12 * z2
        top = 0
        heap = 1
        lo = 0
        hi = segments
        n_leaves = 1 << k
        step_i = 0
        for j in range(segments):
            while hi - lo > 1:  # descend the skeleton to segment j, pushing right children
                mid = (lo + hi) // 2
                f = (mid - lo) / (hi - lo)
                coeffs = coefficients(f, (hi - lo) * width)
                node = skeleton_node | (np.uint64(heap) >> u1)
                for c in range(M):
                    z1, z2 = pair(key_lo, key_hi, node, path, np.uint64(c), (heap & 1) == 1)
                    w1, h1, w2, h2 = general(cr[c] - cl[c], ch[c], f, coeffs, z1, z2)
                    wm = cl[c] + w1
                    s_wl[top * M + c] = wm
                    s_wr[top * M + c] = cr[c]
                    s_h[top * M + c] = h2
                    cr[c] = wm
                    ch[c] = h1
                s_heap[top] = 2 * heap + 1
                s_lo[top] = mid
                s_hi[top] = hi
                top += 1
                heap = 2 * heap
                hi = mid
            for c in range(M):
                tl[c] = cl[c]
                tr[c] = cr[c]
                th[c] = ch[c]
            seg = np.uint64(j) << u32
            for p in range(n_leaves):
                start = 0
                if p > 0:  # leaf p starts the right subtree of level k - tz: take it from the stack
                    tz = 0
                    q = p
                    while (q & 1) == 0:
                        q >>= 1
                        tz += 1
                    start = k - tz
                    for c in range(M):
                        tl[c] = tr[c]
                        tr[c] = rw[start * M + c]
                        th[c] = rh[start * M + c]
                for lev in range(start, k):  # split down to the leaf
                    hp = (1 << lev) + (p >> (k - lev))
                    node = seg | np.uint64(hp >> 1)
                    odd = (hp & 1) == 1
                    sq = sqrt_hs[lev]
                    for c in range(M):
                        e = lev * M + c
                        if odd and lev > 0:  # the left sibling's Philox call gave these
                            z1 = z1s[e]
                            z2 = z2s[e]
                        else:
                            w0, w1, w2, w3 = words(key_lo, key_hi, node, path, np.uint64(c))
                            if odd:
                                z1 = normal(w2)
                                z2 = normal(w3)
                            else:
                                z1 = normal(w0)
                                z2 = normal(w1)
                                z1s[e] = normal(w2)
                                z2s[e] = normal(w3)
                        wm, hl, hr = midpoint(tl[c], tr[c], th[c], z1, z2, sq)
                        rw[e + M] = tr[c]
                        rh[e + M] = hr
                        tr[c] = wm
                        th[c] = hl
                for c in range(M):
                    dw[c] = cast(tr[c] - tl[c])  # the float64 difference, rounded once (as the NumPy path)
                    hh[c] = cast(th[c])
                t = times[step_i]
                step(t, times[step_i + 1] - t, x, dw, hh, xn)
                if not commit(x, xn, out, slots[step_i + 1], i):
                    bad[i] = step_i
                    return
                step_i += 1
            if top > 0:  # the next segment: pop the skeleton's pending right child
                top -= 1
                heap = s_heap[top]
                lo = s_lo[top]
                hi = s_hi[top]
                for c in range(M):
                    cl[c] = s_wl[top * M + c]
                    cr[c] = s_wr[top * M + c]
                    ch[c] = s_h[top * M + c]

    sig = (S[:, ::1], S[:, :, ::1], i64[::1], f64[::1], numba.uint64, numba.uint64, i64, i64, f64, f64,
           f64[::1], i64, i64[::1])
    return kernel, sig


def ode_kernel(step, d, dtype):
    """The ODE kernel: the same loop without Brownian increments (compiled for the current device)."""
    kernel, sig = ode_kernel_function(step, d, dtype)
    return cuda.jit(sig)(kernel)


def ode_kernel_function(step, d, dtype):
    """The Python function of :func:`ode_kernel` and its signature."""
    import numba

    cuda_module()
    S = numba.float32 if np.dtype(dtype) == np.float32 else numba.float64
    i64, f64 = numba.int64, numba.float64
    D = d
    commit = commit_function(D)

    def kernel(x0, out, slots, times, bad):
        i = cuda.grid(1)
        if i >= x0.shape[0]:
            return
        x = cuda.local.array(D, S)
        xn = cuda.local.array(D, S)
        none = cuda.local.array(1, S)
        bad[i] = -1
        commit(x, x0[i], out, slots[0], i)  # x0 was checked finite on the host
        for step_i in range(times.shape[0] - 1):
            t = times[step_i]
            step(t, times[step_i + 1] - t, x, none, none, xn)
            if not commit(x, xn, out, slots[step_i + 1], i):
                bad[i] = step_i
                return

    return kernel, (S[:, ::1], S[:, :, ::1], i64[::1], f64[::1], i64[::1])


# -- the host side ---------------------------------------------------------------------------------------
def _refuse(why):
    raise BackendError(f'the CUDA kernel (backend="numba", device="cuda") {why}')


def aligned_path(bm, times):
    """``(seed, segments, k, path_offset, span, segment_width)`` of a NumPy BrownianPath aligned with ``times``."""
    if not isinstance(bm, BrownianPath) or bm.backend != "numpy":
        _refuse("draws its own Brownian path: brownian= must be a NumPy sk.BrownianPath (or none)")
    k = bm.aligned_level(list(times))
    if k is None:
        _refuse(f"needs a grid of segments * 2^k uniform steps aligned with the path's tree (segments="
                f"{bm.segments}); save times off the grid or a non-uniform grid are not supported: "
                "put save times on the grid, or solve on the CPU")
    return bm.seed, bm.segments, k, bm.path_offset, bm.t1 - bm.t0, bm.segment_width


def _check_solver(solver):
    if solver.n_aux:
        _refuse(f"does not draw auxiliary normals (method {solver.name!r} needs {solver.n_aux} per step)")
    if solver.step_carry is not None:
        _refuse(f"runs one-step rules; method {solver.name!r} keeps a multistep carry")


def _validate(fn, solver, terms, x, m, levy, dtype):
    """Run the traced step in Python on a few paths and compare with the NumPy step (a wrong trace fails here)."""
    k = min(4, x.shape[0])
    xs = np.ascontiguousarray(x[:k])
    rng = np.random.default_rng(0)
    dw = (0.1 * rng.standard_normal((k, m))).astype(dtype) if m else None
    h = (0.03 * rng.standard_normal((k, m))).astype(dtype) if m else None
    noise = LevyIncrement(dw, h) if levy else dw
    t, dt = 0.1, 0.01
    with np.errstate(all="ignore"):
        ref = np.asarray(solver.step(terms, t, dt, xs, noise, ()))
        got = np.empty_like(xs)
        for r in range(k):
            o = np.empty(xs.shape[1], dtype=dtype)
            fn(t, dt, xs[r].copy(), dw[r].copy() if m else np.zeros(1, dtype),
               h[r].copy() if m else np.zeros(1, dtype), o)
            got[r] = o
    tol = 1e-9 if np.dtype(dtype) == np.float64 else 1e-4
    ok = np.isclose(got, ref, rtol=tol, atol=tol * (1.0 + float(np.nanmax(np.abs(ref))) if ref.size else 1.0),
                    equal_nan=True)
    if not np.all(ok):
        _refuse("traced a step that differs from the NumPy step on a sample of paths (a function that depends "
                "on the number of paths, or on values in a way tracing does not see); solve on the CPU")


def integrate_fixed_cuda(solver, terms, x, plan, bm, device="cuda"):
    """Run ``solver`` over ``plan`` for the NumPy state ``x`` (n, d) on the CUDA device; an IntegrateResult.

    ``terms`` are the NumPy backend's (the functions are traced, not called per path).
    """
    cuda_module()
    check_device(device)
    _check_solver(solver)
    if any(getattr(f, "args", None) is not None for f in (terms.drift, terms.diffusion)):
        _refuse("does not take per-path parameters (args=) yet")
    if x.dtype not in (np.float32, np.float64):
        raise InvalidArgumentError(f"the CUDA kernel runs float32 or float64 states; got {x.dtype}")
    n, d = x.shape
    m = bm.dim if bm is not None else 0
    levy = solver.levy_area is not None and m > 0
    dtype = x.dtype
    started = time.perf_counter()
    tape = trace_step(solver.step, terms, d, m, levy_area=levy)
    source = step_source(tape, dtype)
    py_step = compile_source(source)
    _validate(py_step, solver, terms, x, m, levy, dtype)
    slots = np.full(plan.n_steps + 1, -1, dtype=np.int64)
    slots[plan.save] = np.arange(len(plan.save))
    times = np.ascontiguousarray(plan.times, dtype=np.float64)
    if bm is not None:
        seed, segments, k, path0, span, width = aligned_path(bm, plan.times)
        key = (source, d, m, dtype.name, _bucket(k), _bucket(int(segments).bit_length()))
    else:
        key = (source, d, 0, dtype.name)
    kernel = _KERNELS.get(key)
    if kernel is None:
        step = cuda.jit(device=True)(py_step)
        kernel = sde_kernel(step, d, m, dtype, key[4], key[5]) if bm is not None else ode_kernel(step, d, dtype)
        if len(_KERNELS) > 64:
            _KERNELS.clear()
        _KERNELS[key] = kernel
    compiled = time.perf_counter()
    d_x = cuda.to_device(np.ascontiguousarray(x))
    d_out = cuda.device_array((len(plan.save), n, d), dtype=dtype)
    d_bad = cuda.device_array(n, dtype=np.int64)
    blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    if bm is not None:
        sqrt_hs = np.array([math.sqrt(width * 2.0**-lev) for lev in range(max(k, 1))])
        key_lo, key_hi = philox.key_words(seed)
        kernel[blocks, THREADS_PER_BLOCK](d_x, d_out, cuda.to_device(slots), cuda.to_device(times), key_lo, key_hi,
                                          segments, k, span, width, cuda.to_device(sqrt_hs), path0, d_bad)
    else:
        kernel[blocks, THREADS_PER_BLOCK](d_x, d_out, cuda.to_device(slots), cuda.to_device(times), d_bad)
    bad = d_bad.copy_to_host()
    ran = time.perf_counter()
    if np.any(bad >= 0):
        step_bad = int(bad[bad >= 0].min())
        raise nonfinite_error(step_bad, float(plan.times[step_bad]), int(np.flatnonzero(bad == step_bad)[0]))
    ys = d_out.copy_to_host()
    return IntegrateResult(plan.times[plan.save], ys, plan.n_steps, plan.n_steps * solver.nfe_per_step,
                           {"fused": True, "device": "cuda", "compile_time": compiled - started,
                            "kernel_time": ran - compiled, "transfer_time": time.perf_counter() - ran})


def _accumulate_step(terms, t, dt, x, dw, aux):
    return x + dw


def generator_floor(n_paths, n_steps, dim=1, *, seed=0, dtype="float32", device="cuda"):
    """Run the fused kernel with the step ``x <- x + dW``: the kernel's own RNG floor. Returns the IntegrateResult.

    The same Philox counters, skeleton, tree walk and saved states as a solve of
    ``n_steps`` uniform steps on ``[0, 1]`` with ``dim`` components, without drift
    or diffusion (``result.ys[-1]`` is ``W(1)``, so nothing is optimised away);
    ``result.extra["kernel_time"]`` is the floor a solve's kernel time is measured
    against (``benchmarks/gpu.py``).
    """
    from ..grid import make_plan
    from ..solvers.base import Solver, Terms

    class Accumulate(Solver):
        name, nfe_per_step = "accumulate", 0
        rule = staticmethod(_accumulate_step)

    n_paths, n_steps, dim = int(n_paths), int(n_steps), int(dim)
    bm = BrownianPath(n_paths, dim, (0.0, 1.0), seed=seed, segments=segments_for(n_steps))
    x = np.zeros((n_paths, dim), dtype=dtype)
    return integrate_fixed_cuda(Accumulate(), Terms(None, None, None), x, make_plan(0.0, 1.0, None, n_steps, None),
                                bm, device)
