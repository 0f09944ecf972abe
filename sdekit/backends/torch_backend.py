"""The torch backend: states are tensors on any device; the fixed-step loop never syncs with the host.

Device and dtype follow ``x0`` (``float32`` or ``float64``; a half-precision
``x0`` gets a ``float32`` state, so a bf16/fp16 model can still be used inside
the drift). Times stay Python floats (float64); torchsde-style objects receive
``t`` as a 0-dim tensor of the state's dtype and device, as torchsde passes it.

Brownian increments come from :class:`TorchNormalSource`, the same
Philox4x32-10 + Acklam generator as :mod:`sdekit.philox`, written with int64
tensor arithmetic (the 32 x 32 -> 64-bit products are split in 16-bit halves so
nothing overflows), so CPU and CUDA produce the NumPy backend's numbers. On the
CPU a vectorising Numba kernel computes the same numbers faster; on CUDA
``torch.compile`` can fuse the torch ops into one kernel.

The fixed-step loop (shared with NumPy, :mod:`.base`) reads no tensor value per
step: finiteness is watched on the device and checked once after the loop, and
torchsde-style times are made by fill kernels, so the loop can be captured or
compiled. ``TorchBackend(compile=True)`` compiles the step (see the class).

>>> import torch, sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> sol = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=16, n_paths=4)
>>> sol.backend, type(sol.ys).__name__, tuple(sol.ys.shape)
('torch', 'Tensor', (2, 4, 1))
"""

from __future__ import annotations

import numpy as np
import torch

from .. import philox
from ..brownian import BrownianPath
from ..errors import InvalidArgumentError, ShapeError
from ..solvers.base import Terms
from .base import Backend

_MASK = 0xFFFFFFFF
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _mulhilo(m: int, c):
    """``(hi, lo)`` 32-bit halves of ``m * c`` for a 32-bit constant ``m`` and int64 tensor ``c < 2^32``."""
    a = c * (m & 0xFFFF)  # < 2^48
    b = c * (m >> 16)  # < 2^48
    low_sum = a + ((b & 0xFFFF) << 16)  # < 2^49: no overflow in int64
    return (b >> 16) + (low_sum >> 32), low_sum & _MASK


def philox4x32_torch(c0, c1, c2, c3, k0: int, k1: int, rounds: int = philox.ROUNDS):
    """Philox4x32 on int64 tensors holding 32-bit values (bit-identical to :func:`sdekit.philox.philox4x32`)."""
    for r in range(rounds):
        if r:
            k0 = (k0 + philox.PHILOX_W0) & _MASK
            k1 = (k1 + philox.PHILOX_W1) & _MASK
        hi0, lo0 = _mulhilo(philox.PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(philox.PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _horner(coeffs, x):
    acc = torch.full_like(x, coeffs[0])
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def normal_from_word_torch(w):
    """Acklam's inverse normal CDF of ``(w + 1/2) 2^-32`` (float64), as in :mod:`sdekit.philox`."""
    u = (w.to(torch.float64) + 0.5) * philox.TWO_M32
    q = u - 0.5
    r = q * q
    central = _horner(philox.ACKLAM_A, r) * q / (_horner(philox.ACKLAM_B, r) * r + 1.0)
    lower = u < 0.5
    s = torch.sqrt(-2.0 * torch.log(torch.where(lower, u, 1.0 - u)))
    tail = _horner(philox.ACKLAM_C, s) / (_horner(philox.ACKLAM_D, s) * s + 1.0)
    in_tail = (u < philox.ACKLAM_P_LOW) | (u > 1.0 - philox.ACKLAM_P_LOW)
    return torch.where(in_tail, torch.where(lower, tail, -tail), central)


def _select_lane(words, lane):
    """Word ``lane`` (0-3) of a Philox output; ``lane`` an int or a 0-dim tensor (compiled graphs)."""
    if isinstance(lane, int):
        return words[lane]
    w0, w1, w2, w3 = words
    return torch.where(lane == 0, w0, torch.where(lane == 1, w1, torch.where(lane == 2, w2, w3)))


def node_normals_torch(paths, comps, ctr_lo, ctr_hi, lane, k0, k1):
    """Normals ``(len(paths), len(comps))`` of one tree node, in torch ops only.

    Counter ``(ctr_lo, ctr_hi, path, component)``, key ``(k0, k1)``, word ``lane``:
    the layout of :func:`sdekit.philox.normals`. Scalars may be Python ints
    (eager) or 0-dim int64 tensors (so a compiled graph never specialises on them).
    """
    shape = (paths.numel(), comps.numel())
    c2 = paths[:, None].expand(shape)
    c3 = comps[None, :].expand(shape)
    if isinstance(ctr_lo, int):
        c0, c1 = torch.full_like(c2, ctr_lo), torch.full_like(c2, ctr_hi)
    else:
        c0, c1 = ctr_lo.expand(shape), ctr_hi.expand(shape)
    return normal_from_word_torch(_select_lane(philox4x32_torch(c0, c1, c2, c3, k0, k1), lane))


_COMPILED_NODE = None


def _compiled_node_normals():
    """``node_normals_torch`` compiled once: Philox rounds and Acklam fused into one kernel."""
    global _COMPILED_NODE
    if _COMPILED_NODE is None:
        _COMPILED_NODE = torch.compile(node_normals_torch, dynamic=False, fullgraph=True)
    return _COMPILED_NODE


def _numba_kernel():
    """The parallel Numba node kernel of :mod:`sdekit._brownian_numba`, or None without Numba."""
    return philox.compiled_kernel("_brownian_numba", "node_normals_parallel")


KERNELS = ("auto", "torch", "numba", "compiled")


class TorchNormalSource:
    """Normals of one Brownian-tree node for all paths, as float64 tensors on ``device``.

    ``kernel`` chooses how the Philox words and Acklam normals are computed; all
    give the NumPy reference's numbers (words bit for bit, normals to the rounding
    of ``log``):

    - ``"torch"``: int64 tensor ops, on any device (about 200 small ops per node);
    - ``"numba"``: a vectorising, multi-threaded Numba kernel (:mod:`sdekit._brownian_numba`)
      writing into the tensor's memory (CPU only; about 3x faster than ``philox.normals``'s twin);
    - ``"compiled"``: the torch ops fused by ``torch.compile`` into one kernel
      (the fast path on CUDA; the first call compiles, which takes seconds to a minute);
    - ``"auto"`` (default): ``"numba"`` on the CPU when Numba is installed, else ``"torch"``.
    """

    def __init__(self, seed, n_paths, dim, path_offset=0, device=None, *, kernel="auto"):
        self.seed, self.dim = seed, dim
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.paths = torch.arange(path_offset, path_offset + n_paths, dtype=torch.int64, device=self.device)
        self.path_offset = int(path_offset)
        self._comps = {}
        self.set_kernel(kernel)

    def set_kernel(self, kernel):
        if kernel not in KERNELS:
            raise InvalidArgumentError(f"kernel must be one of {', '.join(map(repr, KERNELS))}; got {kernel!r}")
        if kernel == "auto":
            kernel = "numba" if self.device.type == "cpu" and _numba_kernel() else "torch"
        if kernel == "numba" and self.device.type != "cpu":
            raise InvalidArgumentError(f'kernel="numba" runs on the CPU only; the device is {self.device}')
        if kernel == "numba" and not _numba_kernel():
            raise InvalidArgumentError('kernel="numba" needs Numba installed')
        self.kernel = kernel

    def _components(self, m):
        comps = self._comps.get(m)
        if comps is None:
            comps = self._comps[m] = torch.arange(m, dtype=torch.int64, device=self.device)
        return comps

    def node(self, u: int, n_comp=None):
        m = self.dim if n_comp is None else n_comp
        if self.kernel == "numba":
            out = torch.empty((self.paths.numel(), m), dtype=torch.float64)
            _numba_kernel()(out.numpy(), *philox.key_words(self.seed), u >> 2, u & 3,
                            self.path_offset)
            return out
        ctr, lane = u >> 2, u & 3
        k0, k1 = self.seed & _MASK, self.seed >> 32
        if self.kernel == "compiled":
            # 0-dim tensors made by fill kernels: no host-to-device copy, no recompilation per node.
            def scalar(v):
                return torch.full((), v, dtype=torch.int64, device=self.device)

            return _compiled_node_normals()(self.paths, self._components(m), scalar(ctr & _MASK),
                                            scalar(ctr >> 32), scalar(lane), scalar(k0), scalar(k1))
        return node_normals_torch(self.paths, self._components(m), ctr & _MASK, ctr >> 32, lane, k0, k1)

    def zeros(self):
        return torch.zeros((self.paths.numel(), self.dim), dtype=torch.float64, device=self.device)

    # Grid sweeps on the CPU fill whole blocks of the tree with the compiled filler
    # (see BrownianPath._grid_increments); other devices go node by node.
    def block_filler(self):
        if self.kernel != "numba":
            return None
        from ..brownian import _block_kernel

        return _block_kernel()

    @staticmethod
    def to_numpy(w):
        return w.numpy()

    @staticmethod
    def empty_block(shape, dtype_name):
        """A fresh CPU tensor for a block of increments and its NumPy view (same memory)."""
        out = torch.empty(shape, dtype=_DTYPES[dtype_name])
        return out, out.numpy()

    def cast(self, w, dtype_name):
        return w.to(_DTYPES[dtype_name])


def _step_call(solver, terms, t, dt, x, dw, aux):
    return solver.step(terms, t, dt, x, dw, aux)


_COMPILED_STEPS = {}


def _compiled_step(mode):
    """``_step_call`` compiled for ``mode``; torch caches graphs per solver and user functions (guards)."""
    fn = _COMPILED_STEPS.get(mode)
    if fn is None:
        fn = _COMPILED_STEPS[mode] = torch.compile(_step_call, mode=None if mode == "default" else mode)
    return fn


def _tensor_time(fn):
    """Call ``fn`` with ``t`` as a 0-dim tensor of the state's dtype and device (torchsde's convention)."""

    def wrapped(t, x):
        if torch.compiler.is_compiling():
            # Under torch.compile a product keeps t a graph input; torch.full would specialise the
            # graph on t's value and recompile every step. Same number: t rounded once to x's dtype.
            return fn(torch.ones((), dtype=x.dtype, device=x.device) * t, x)
        # A fill kernel, not a host-to-device copy: no synchronisation, capturable in a CUDA graph.
        return fn(torch.full((), t, dtype=x.dtype, device=x.device), x)

    return wrapped


_COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class TorchBackend(Backend):
    """States are tensors; pass ``backend=TorchBackend(compile=True)`` to ``sk.solve`` to compile the loop.

    Parameters
    ----------
    compile : bool or str
        ``False`` (default): eager torch. ``True`` or a ``torch.compile`` mode
        (``"default"``, ``"reduce-overhead"`` = CUDA graphs, ``"max-autotune"``, ...):
        the solver step (with the user's drift and diffusion) and the Philox +
        Acklam normal generator are each compiled with ``torch.compile``. The
        first step runs eagerly (so shape errors read as usual); the first
        compiled step pays the compilation (seconds on CUDA, up to a minute
        on the CPU), later solves of the same problem reuse it. Numbers equal
        the eager backend's to floating-point rounding (fused operations).
    kernel : "auto", "torch", "numba" or "compiled"
        The normal generator of the Brownian paths this backend builds (see
        :class:`TorchNormalSource`); ``compile`` implies ``"compiled"`` off the CPU.
    """

    name = "torch"

    def __init__(self, compile=False, kernel="auto"):
        if compile is True:
            compile = "default"
        if compile is False:
            compile = None
        if compile not in _COMPILE_MODES:
            raise InvalidArgumentError(
                f"compile must be True, False or a torch.compile mode "
                f"({', '.join(repr(m) for m in _COMPILE_MODES[1:])}); got {compile!r}"
            )
        if kernel not in KERNELS:
            raise InvalidArgumentError(f"kernel must be one of {', '.join(map(repr, KERNELS))}; got {kernel!r}")
        self.compile, self.kernel = compile, kernel

    def _kernel_for(self, device):
        if self.kernel != "auto":
            return self.kernel
        if self.compile is not None and torch.device(device).type != "cpu":
            return "compiled"
        return "auto"

    def stepper(self, solver, terms):
        eager = super().stepper(solver, terms)
        if self.compile is None:
            return eager
        compiled = _compiled_step(self.compile)
        graphs = self.compile == "reduce-overhead"
        first = [True]

        def step(t, dt, x, dw, aux):
            if first[0]:  # eager: the first call checks the shapes of drift and diffusion
                first[0] = False
                return eager(t, dt, x, dw, aux)
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
                return compiled(solver, terms, t, dt, x, dw, aux).clone()  # the graph reuses its output buffer
            return compiled(solver, terms, t, dt, x, dw, aux)

        return step

    def initial_state(self, x0, n, d, dtype, device):
        if isinstance(x0, torch.Tensor):
            arr = x0.detach() if not x0.requires_grad else x0
            dev = torch.device(device) if device is not None else arr.device
            if dtype is None:
                dtype = "float64" if arr.dtype == torch.float64 else "float32"
        else:
            arr = torch.as_tensor(np.asarray(x0, dtype=np.float64))
            dev = torch.device(device) if device is not None else torch.device("cpu")
        from ..validation import resolve_dtype_name

        dtype = resolve_dtype_name(dtype)
        if not arr.dtype.is_floating_point and not isinstance(x0, torch.Tensor):
            raise InvalidArgumentError(f"x0 must be numeric; got {arr.dtype}")
        arr = arr.to(device=dev, dtype=_DTYPES[dtype])
        if not bool(torch.isfinite(arr).all()):
            raise InvalidArgumentError("x0 must be finite; got non-finite values in x0")
        shape = (1, d) if arr.dim() < 2 else tuple(arr.shape)
        try:
            state = arr.reshape(shape).expand(n, d).clone()
        except RuntimeError:
            raise ShapeError(f"x0 of shape {tuple(arr.shape)} cannot be broadcast to ({n}, {d})") from None
        return state, dtype

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        bm = BrownianPath(n, m, t_span, seed=seed, dtype=dtype, backend="torch", device=like.device,
                          segments=segments)
        bm._source.set_kernel(self._kernel_for(like.device))
        return bm

    def make_terms(self, sde, n, d, m):
        terms = super().make_terms(sde, n, d, m)
        if getattr(sde, "torchsde_style", False):
            for checked in (terms.drift, terms.diffusion):
                checked.fn = _tensor_time(checked.fn)
        return Terms(*terms)

    def all_finite(self, x):
        return bool(torch.isfinite(x).all())

    def first_nonfinite_path(self, x):
        bad = ~torch.isfinite(x).all(dim=1)
        return int(torch.argmax(bad.to(torch.int8)))

    def stack(self, xs):
        return torch.stack(xs)

    maximum = staticmethod(torch.maximum)

    def reduce_max(self, x):
        return float(x.detach().max())

    def finite_watch(self, x):
        """The per-step minima and maxima of the state, kept on the device (see :class:`_FiniteWatch`)."""
        return _FiniteWatch(x)

    def watch_step(self, watch, x, step, t):
        watch.record(x, step)
        return watch

    def watch_end(self, watch, x, times):
        step = watch.first_bad_step()  # the one synchronisation, after the loop
        if step >= 0:
            raise self.nonfinite_error(x, step, float(times[step]))


class _FiniteWatch:
    """Per-step ``min`` and ``max`` of the state, written on the device by one ``aminmax`` per step.

    ``min`` and ``max`` propagate NaN and show +-inf, so a step's state is finite
    exactly when both are: one reduction pass and one dispatched op per step (no
    comparison or ``where`` on 0-dim tensors, no host read). The values go into
    preallocated chunks of ``_CHUNK`` steps; :meth:`first_bad_step` reads them
    once, after the loop.
    """

    _CHUNK = 256

    def __init__(self, x):
        self.dtype, self.device = x.dtype, x.device
        self.chunks = []
        self.n = 0

    def record(self, x, step):
        c, k = divmod(step, self._CHUNK)
        while len(self.chunks) <= c:
            self.chunks.append(torch.empty((2, self._CHUNK), dtype=self.dtype, device=self.device))
        buf = self.chunks[c]
        self.n = max(self.n, step + 1)
        x = x.detach() if x.requires_grad else x
        if x.dtype == self.dtype and x.device == self.device:
            torch.aminmax(x, out=(buf[0, k], buf[1, k]))
        else:  # a step changed the state's dtype: reduce, then copy (cast) into the buffer
            lo, hi = torch.aminmax(x)
            buf[0, k].copy_(lo)
            buf[1, k].copy_(hi)

    def first_bad_step(self):
        """The first step whose state was not finite, or -1."""
        if not self.n:
            return -1
        mm = torch.cat(self.chunks, dim=1)[:, :self.n]
        bad = ~torch.isfinite(mm).all(dim=0)
        first = torch.argmax(bad.to(torch.int8))
        return int(torch.where(bad.any(), first, torch.full_like(first, -1)))
