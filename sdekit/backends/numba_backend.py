"""The Numba backend: one compiled, parallel kernel per solve (see :mod:`.numba_kernel`).

``backend="numba"`` compiles the user's ``drift`` and ``diffusion`` with
``numba.njit`` (batched convention: ``(t, x[n, d]) -> [n, d]`` arrays, written
with ``np.*``), fuses them with the solver's pure step and the Brownian tree
into one loop over chunks of paths, and runs the chunks on all threads
(``numba.set_num_threads``). It returns the NumPy backend's numbers (to 1e-10
relative in float64; the same tree nodes, the same float64 arithmetic), for
any thread count or chunk size.

When the fused kernel applies: a fixed-step method with ``numba_step()``
(Euler–Maruyama, Heun, Milstein without ``gdg``, and the ODE methods Euler,
Heun, RK4) on the aligned grid of a solve (``n_steps`` uniform steps; a
``brownian=`` path is used when its tree is aligned with the grid;
``save_at="steps"`` and save times on the grid are fine). Otherwise
(predictor–corrector, ``dopri5``, save times off the grid, ...) the compiled
user functions run on the shared loop of :mod:`.base`, with the same numbers.

Compilation: the generator, tree and noise kernels are cached on disk, so only
the first use in a fresh environment compiles them; the fused kernel is
compiled once per (method, drift, diffusion) in a process, which takes a few
seconds; ``sol.stats["compile_time"]`` reports it. Importing sdekit compiles
nothing. A function Numba cannot compile raises
:class:`~sdekit.errors.BackendError` naming it.

``backend="auto"`` picks this backend for large solves whose functions compile
(see :meth:`NumbaBackend.can_compile`); small solves stay on NumPy, where no
compilation is paid.

>>> import numpy as np, sdekit as sk
>>> from sdekit.backends.numba_backend import NumbaBackend
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> a = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, backend=NumbaBackend(fused=True))
>>> b = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, backend="numpy")
>>> bool(np.allclose(a.ys, b.ys, rtol=1e-10))
True
"""

from __future__ import annotations

import time
import weakref

import numba
import numpy as np
from numba.core.errors import NumbaError

from .. import philox
from ..errors import BackendError, InvalidArgumentError
from ..solvers.base import Terms
from ..solution import IntegrateResult
from .base import nonfinite_error
from .numpy_backend import NumpyBackend

# Below this many path-steps (times dimension) the fused kernel's compilation costs
# more than it saves, so the default (fused=None) uses the shared loop.
FUSE_MIN_WORK = 1 << 22
# backend="auto" picks Numba from this much work up (its compilation, a few
# seconds, is then repaid; NumPy costs about 11 ns per path-step).
AUTO_MIN_WORK = 1 << 28

_JITTED = weakref.WeakKeyDictionary()  # user function -> numba dispatcher
_RULES = {}  # solver rule -> numba dispatcher


def _error_text(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _cannot_compile(name, fn, e):
    return BackendError(f"Numba cannot compile the {name} function {getattr(fn, '__qualname__', fn)!r} "
                        f'({_error_text(e)}); use backend="numpy" (or "torch")')


def jit_user_function(fn, name):
    """``fn`` as a Numba dispatcher (compiled lazily); cached per function object."""
    if isinstance(fn, numba.core.dispatcher.Dispatcher):
        return fn
    try:
        return _JITTED[fn]
    except (KeyError, TypeError):
        pass
    try:
        jitted = numba.njit(error_model="numpy")(fn)
    except Exception as e:  # not a Python function at all (e.g. a bound method of a C type)
        raise _cannot_compile(name, fn, e) from None
    try:
        _JITTED[fn] = jitted
    except TypeError:
        pass
    return jitted


class _Compiled:
    """A user function compiled by Numba on its first call; a failure becomes a BackendError naming it."""

    __slots__ = ("fn", "name", "jitted", "compile_time")

    def __init__(self, fn, name):
        self.fn, self.name, self.jitted, self.compile_time = fn, name, None, 0.0

    def __call__(self, t, x, *args):
        if self.jitted is None:
            started = time.perf_counter()
            jitted = jit_user_function(self.fn, self.name)
            try:
                out = jitted(t, x, *args)
            except (NumbaError, TypeError, ValueError) as e:
                raise _cannot_compile(self.name, self.fn, e) from None
            self.jitted = jitted
            self.compile_time = time.perf_counter() - started
            return _like(out, x)
        return _like(self.jitted(t, x, *args), x)


def _like(out, x):
    # Numba promotes float32 arrays times Python floats to float64 (NumPy keeps float32): keep the state's dtype.
    return out.astype(x.dtype, copy=False) if getattr(out, "dtype", x.dtype) != x.dtype else out


def _rule(fn):
    jitted = _RULES.get(fn)
    if jitted is None:
        jitted = _RULES[fn] = numba.njit(error_model="numpy")(fn)
    return jitted


class NumbaBackend(NumpyBackend):
    """Compiled CPU kernels; pass an instance as ``backend=`` to set its options.

    Parameters
    ----------
    fused : bool or None
        ``True``: always use the fused kernel where it applies; ``False``: never
        (the shared loop with compiled user functions); ``None`` (default): for
        solves of at least ``FUSE_MIN_WORK`` path-steps.
    chunk : int, optional
        Paths per chunk (default: about 1024 state values). Results do not depend on it.
    """

    name = "numba"

    def __init__(self, fused=None, chunk=None):
        if fused not in (None, True, False):
            raise InvalidArgumentError(f"fused must be True, False or None; got {fused!r}")
        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1):
            raise InvalidArgumentError(f"chunk must be a positive int; got {chunk!r}")
        self.fused, self.chunk = fused, chunk

    # -- device="cuda": the fused per-path kernel of .cuda_kernel (set per solve by initial_state) --------
    def initial_state(self, x0, n, event, dtype, device):
        self.cuda_device = None
        if device is not None and str(getattr(device, "type", device)).split(":")[0] == "cuda":
            from .cuda_kernel import check_device

            check_device(device)
            self.cuda_device, device = device, None
        return super().initial_state(x0, n, event, dtype, device)

    def check_problem(self, sde, x0):
        super().check_problem(sde, x0)
        if getattr(sde, "torchsde_style", False):
            raise BackendError('backend="numba" cannot run a torchsde-style module; use backend="torch"')

    def can_compile(self, sde, x0=None, work=None) -> bool:
        """Whether ``backend="auto"`` should pick Numba for this problem.

        Yes when the solve is large (``work`` = paths x steps x dimension at least
        ``AUTO_MIN_WORK``, where compiling pays for itself) and Numba compiles
        ``drift`` and ``diffusion`` on a one-path sample of ``x0``.
        """
        if getattr(sde, "torchsde_style", False) or work is None or work < AUTO_MIN_WORK:
            return False
        try:
            x = np.atleast_2d(np.asarray(x0, dtype=np.float64))[:1].copy()
            fns = [sde.drift] if sde.is_ode else [sde.drift, sde.diffusion]
            for fn, name in zip(fns, ("drift", "diffusion")):
                jit_user_function(fn, name)(0.0, x)
        except Exception:  # any failure: NumPy runs it, without error
            return False
        return True

    def make_terms(self, sde, n, event, m, args=None):
        terms = super().make_terms(sde, n, event, m, args)
        if getattr(self, "cuda_device", None) is not None:
            return terms  # the CUDA kernel traces the NumPy terms (sdekit.backends.trace)
        self._sde, self._compiled = sde, []
        for checked, name in ((terms.drift, "drift"), (terms.diffusion, "diffusion")):
            if hasattr(checked, "fn"):
                checked.fn = _Compiled(checked.fn, name)
                self._compiled.append(checked.fn)
        return Terms(*terms)

    def integrate_fixed(self, solver, terms, x, plan, bm, aux_bm, progress):
        if getattr(self, "cuda_device", None) is not None:
            from .cuda_kernel import integrate_fixed_cuda

            return integrate_fixed_cuda(solver, terms, x, plan, bm, self.cuda_device)
        fused = self._fused_plan(solver, x, plan, bm)
        if fused is None:
            result = super().integrate_fixed(solver, terms, x, plan, bm, aux_bm, progress)
            result.extra["fused"] = False
        else:
            result = self._run_fused(solver, terms, x, plan, bm, fused)
        result.extra["compile_time"] = result.extra.get("compile_time", 0.0) + sum(
            c.compile_time for c in getattr(self, "_compiled", ()))
        return result

    def integrate_adaptive(self, solver, terms, x, plan, bm, aux_noise, progress, **options):
        if getattr(self, "cuda_device", None) is not None:
            raise BackendError('adaptive steps run on the CPU; device="cuda" runs fixed-step solves')
        return super().integrate_adaptive(solver, terms, x, plan, bm, aux_noise, progress, **options)

    # -- the fused kernel -----------------------------------------------------
    def _fused_plan(self, solver, x, plan, bm):
        """``steps per segment`` (0 for an ODE) when the fused kernel applies, else None."""
        if True or self.fused is False or solver.n_aux or solver.fused_rule() is None:  # kernel being rewritten
            return None
        if x.dtype not in (np.float64, np.float32):
            return None
        if bm is None:
            per = 0
        else:
            if bm.backend != "numpy":
                return None
            per = bm._aligned(list(plan.times))
            if not per:
                return None
        if self.fused is None:
            m = bm.dim if bm is not None else 0
            if x.shape[0] * plan.n_steps * max(x.shape[1], m) < FUSE_MIN_WORK:
                return None
        return per

    def _run_fused(self, solver, terms, x, plan, bm, per):
        from .numba_kernel import block_levels, chunk_rows, drivers, make_step

        sde = self._sde
        n, d = x.shape
        t0 = float(plan.times[0])
        # One eager evaluation of each function: compiles it (BackendError naming it) and checks its shape.
        terms.drift(t0, x)
        if bm is not None:
            terms.diffusion(t0, x)
        diffusion = terms.diffusion.fn.jitted if bm is not None else None
        noise = "none" if sde.is_ode else ("scalar" if sde.noise == "scalar" else sde.noise)
        m = bm.dim if bm is not None else 0
        started = time.perf_counter()
        run_sde, run_ode = drivers(x.dtype)
        try:
            step = make_step(_rule(solver.numba_step()), terms.drift.fn.jitted, diffusion, noise, d, m, x.dtype)
        except NumbaError as e:
            raise BackendError(f"Numba cannot compile method {solver.name!r} with these functions "
                               f'({_error_text(e)}); use backend="numpy"') from None
        compiled = time.perf_counter()
        slots = np.full(plan.n_steps + 1, -1, dtype=np.int64)
        slots[plan.save] = np.arange(len(plan.save))
        out = np.empty((len(plan.save), n, d), dtype=x.dtype)
        xs = np.ascontiguousarray(x)  # read only: each chunk steps its own copy
        times = np.ascontiguousarray(plan.times, dtype=np.float64)
        if bm is None:
            rows = chunk_rows(d, 0, self.chunk)
            bad = np.empty(((n + rows - 1) // rows, 2), dtype=np.int64)
            run_ode(step, xs, out, slots, times, rows, bad)
        else:
            rows = chunk_rows(d, bm.dim, self.chunk)
            bad = np.empty(((n + rows - 1) // rows, 2), dtype=np.int64)
            k = per.bit_length() - 1
            run_sde(step, xs, out, slots, times, *philox.key_words(bm.seed),
                    bm.segments, k, block_levels(k), bm._width, bm.path_offset, bm.dim, rows, bad)
        self._raise_first_nonfinite(bad, rows, plan)
        return IntegrateResult(plan.times[plan.save], out, plan.n_steps, plan.n_steps * solver.nfe_per_step,
                               {"fused": True, "compile_time": compiled - started,
                                "kernel_time": time.perf_counter() - compiled})

    def _raise_first_nonfinite(self, bad, rows, plan):
        steps = bad[:, 0]
        if not np.any(steps >= 0):
            return
        step = int(steps[steps >= 0].min())
        chunk = int(np.flatnonzero(steps == step)[0])
        path = chunk * rows + int(bad[chunk, 1])
        raise nonfinite_error(step, float(plan.times[step]), path)
