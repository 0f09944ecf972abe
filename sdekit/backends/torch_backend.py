"""The torch backend: states are tensors on any device; the fixed-step loop never syncs with the host.

Device and dtype follow ``x0`` (``float32`` or ``float64``; a half-precision
``x0`` gets a ``float32`` state, so a bf16/fp16 model can still be used inside
the drift; an integer tensor gets ``float64``, as NumPy would). User functions
receive ``t`` as a 0-dim tensor of the state's dtype and device (torchsde's
convention), for every problem type; times are kept as float64 on the host.

Brownian increments come from :class:`sdekit._philox_torch.TorchNormalSource`, the
same Philox4x32-10 + Acklam generator as :mod:`sdekit.philox`, so CPU and CUDA
produce the NumPy backend's numbers. On the CPU a vectorising Numba kernel
computes them; on CUDA ``torch.compile`` can fuse the torch ops into one kernel.

The fixed-step loop (:mod:`sdekit.loop`) reads no tensor value per step:
finiteness is watched on the device and checked once after the loop, and times
are made by fill kernels, so the loop can be captured or compiled.
``TorchBackend(compile=True)`` compiles the step (see the class).

>>> import torch, sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> sol = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=16, n_paths=4)
>>> sol.backend, type(sol.ys).__name__, tuple(sol.ys.shape)
('torch', 'Tensor', (2, 4, 1))
"""

from __future__ import annotations

import numpy as np
import torch

from .._philox_torch import DTYPES, KERNELS, triton_usable
from ..brownian import BrownianPath
from ..errors import BackendError, InvalidArgumentError, ShapeError
from ..validation import resolve_dtype_name
from .base import Backend


def _step_call(solver, terms, t, dt, x, dw, aux):
    return solver.step(terms, t, dt, x, dw, aux)


_COMPILED_STEPS = {}


def _compiled_step(mode):
    """``_step_call`` compiled for ``mode``; torch caches graphs per solver and user functions (guards)."""
    fn = _COMPILED_STEPS.get(mode)
    if fn is None:
        fn = _COMPILED_STEPS[mode] = torch.compile(_step_call, mode=None if mode == "default" else mode)
    return fn


class _TensorTime:
    """Calls ``fn`` with ``t`` as a 0-dim tensor of the state's dtype and device."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, t, x, *args):
        if isinstance(t, torch.Tensor):
            return self.fn(t, x, *args)
        if torch.compiler.is_compiling():
            # Under torch.compile a product keeps t a graph input; torch.full would specialise the
            # graph on t's value and recompile every step. Same number: t rounded once to x's dtype.
            return self.fn(torch.ones((), dtype=x.dtype, device=x.device) * t, x, *args)
        # A fill kernel, not a host-to-device copy: no synchronisation, capturable in a CUDA graph.
        return self.fn(torch.full((), t, dtype=x.dtype, device=x.device), x, *args)


class TorchOps:
    """The array operations implicit rules need (``Terms.ops``), for torch states."""

    @staticmethod
    def unit(d, j, like):
        e = torch.zeros(d, dtype=like.dtype, device=like.device)
        e[j] = 1.0
        return e

    @staticmethod
    def stack_columns(cols):
        return torch.stack(cols, dim=-1)

    @staticmethod
    def eye_like(x):
        return torch.eye(x.shape[1], dtype=x.dtype, device=x.device)

    @staticmethod
    def solve(a, b):
        return torch.linalg.solve(a, b)

    @staticmethod
    def max_abs(x):
        return float(x.detach().abs().max())


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
    kernel : "auto", "torch", "numba", "compiled" or "triton"
        The normal generator of the Brownian paths this backend builds (see
        :class:`sdekit._philox_torch.TorchNormalSource`). ``"auto"`` on CUDA is
        ``"triton"`` when Triton is installed (the GPU block generator of
        :mod:`sdekit._brownian_triton`: a block of steps per kernel), else
        ``"compiled"`` with ``compile``, else ``"torch"``.
    """

    name = "torch"
    brownian_backend = "torch"
    ops = TorchOps

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
        device = torch.device(device)
        if device.type != "cpu" and triton_usable(device):
            return "triton"
        if self.compile is not None and device.type != "cpu":
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

    def initial_state(self, x0, n, event, dtype, device):
        if x0 is None:
            raise InvalidArgumentError("x0 must be a number or an array; got None")
        try:
            dev = torch.device(device) if device is not None else None
        except (RuntimeError, TypeError) as e:
            raise InvalidArgumentError(f"device must be a torch device; got {device!r} ({e})") from None
        if isinstance(x0, torch.Tensor):
            if x0.is_complex():
                raise InvalidArgumentError("x0 must be real; got a complex tensor")
            if x0.dtype == torch.bool:
                raise InvalidArgumentError("x0 must be real numbers, not booleans")
            arr = x0.detach() if not x0.requires_grad else x0
            dev = dev or arr.device
            if dtype is None:
                dtype = "float32" if arr.dtype in (torch.float32, torch.float16, torch.bfloat16) else "float64"
        else:
            try:
                a = np.asarray(x0)
            except Exception as e:  # noqa: BLE001
                raise InvalidArgumentError(f"x0 must be a number or an array; got {type(x0).__name__} ({e})") from None
            if a.dtype.kind not in "iuf":
                raise InvalidArgumentError(f"x0 must be real numbers; got dtype {a.dtype}")
            if dtype is None:
                dtype = "float32" if a.dtype == np.float32 else "float64"
            arr = torch.as_tensor(a.astype(np.float64))
            dev = dev or torch.device("cpu")
        dtype = resolve_dtype_name(dtype)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device={str(dev)!r} is not available: torch sees no CUDA device")
        arr = arr.to(device=dev, dtype=DTYPES[dtype])
        if not bool(torch.isfinite(arr).all()):
            raise InvalidArgumentError("x0 must be finite; got non-finite values in x0")
        D = int(np.prod(event))
        try:
            if arr.dim() == 0 or tuple(arr.shape) == tuple(event):
                state = arr.reshape(1, D).expand(n, D).clone()
            else:
                state = arr.reshape(n, D).clone()
        except RuntimeError:
            raise ShapeError(f"x0 of shape {tuple(arr.shape)} cannot be broadcast to ({n}, *{tuple(event)})") from None
        return state, dtype

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        kernel = self._kernel_for(like.device)
        cls = BrownianPath
        if kernel == "triton":  # the GPU block generator: aligned grids swept a block of steps per Triton kernel
            from .._brownian_triton import TritonBrownianPath as cls
        bm = cls(n, m, t_span, seed=seed, dtype=dtype, backend="torch", device=like.device, segments=segments)
        bm.set_kernel(kernel)
        return bm

    def wrap_time(self, fn):
        return _TensorTime(fn)

    def as_args_array(self, value, x, where):
        if isinstance(value, torch.Tensor):
            return value.to(device=x.device)
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{where} must be a numeric array or tensor; got dtype {arr.dtype}")
        t = torch.as_tensor(arr, device=x.device)
        return t.to(x.dtype) if t.is_floating_point() else t

    def check_noise_backend(self, noise, x):
        super().check_noise_backend(noise, x)
        dev = getattr(noise, "device", None)
        if dev is not None and torch.device(dev) != x.device:
            raise BackendError(f"brownian lives on {dev} but the state on {x.device}; build the path on the "
                               "state's device")

    @staticmethod
    def cast_array(w, dtype):
        return w.to(dtype)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def from_numpy(self, a, like):
        return torch.as_tensor(a, dtype=like.dtype, device=like.device)

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
