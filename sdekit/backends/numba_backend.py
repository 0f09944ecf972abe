"""The Numba backend: one compiled, parallel kernel per solve (see :mod:`.numba_kernel`).

``backend="numba"`` compiles the user's ``drift`` and ``diffusion`` with
``numba.njit`` (batched convention: ``(t, x[n, d]) -> [n, d]`` arrays, written
with ``np.*``; ``np.sin`` and ``np.cos`` compile to the vectorisable versions of
:mod:`.numba_math`, within 2 ulp of NumPy's), fuses them with the solver's pure step and the Brownian tree
into one loop over chunks of paths, and runs the chunks on all threads
(``numba.set_num_threads``). It returns the NumPy backend's numbers (to 1e-10
relative in float64; the same tree nodes, the same float64 arithmetic), for
any thread count or chunk size.

When the fused kernel applies: a fixed-step method whose ``fused_rule()`` is a
pure rule (Euler–Maruyama, Heun, Milstein without ``gdg`` on diagonal/scalar
noise, the ODE methods Euler, Heun, RK4, and any rule with
``levy_area="space-time"``) with a NumPy :class:`~sdekit.BrownianPath` (or none,
for an ODE). On a grid aligned with the path's tree (a seed-only solve; a
``brownian=`` path of matching segments) the kernel sweeps the tree block by
block; on any other grid (save times off the grid, other ``brownian=`` paths)
it descends to each time's leaf, as :meth:`BrownianPath.value` does (Lévy areas
off the tree run on the shared loop). Otherwise (predictor–corrector, other
noise sources, ``args=``) the compiled user functions run on the shared loop of
:mod:`sdekit.loop`, with the same numbers.

Adaptive solves keep :mod:`sdekit.adaptive`'s driver; each attempt is one
compiled, parallel call (:mod:`.numba_adaptive`: the method's pure error rule,
the user's functions and the error norm) for float64 states whose functions
take ``(t, x)`` (dopri5, Euler–Maruyama, Heun, SRA; ``fused=None``: from
``FUSE_MIN_VALUES`` state values). Other attempts (float32 states, ``args=``,
a rule Numba cannot compile such as SRI's) run as NumPy operations on the batch.

Compilation: the generator, tree and driver kernels are cached on disk, so only
the first use in a fresh environment compiles them; the step of a problem
(method, drift, diffusion) is compiled once and cached across processes where
the functions allow (:mod:`.numba_cache`); ``sol.stats["compile_time"]`` and
``sol.stats["compile_cache"]`` report it. Importing sdekit compiles nothing. A
function Numba cannot compile raises :class:`~sdekit.errors.BackendError` naming
it and Numba's reason; an exception a function raises while running propagates
as itself. Long solves run in launches of a fraction of a second
(:mod:`.numba_launch`): Ctrl-C lands within about a second.

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

from ..errors import BackendError, InvalidArgumentError
from ..solvers.base import Terms
from ..solution import IntegrateResult
from .numba_math import with_fast_math
from .numpy_backend import NumpyBackend

# Below this many path-steps (times dimension) the fused kernel's compilation costs
# more than it saves, so the default (fused=None) uses the shared loop.
FUSE_MIN_WORK = 1 << 22
# backend="auto" picks Numba from this much work up (its compilation, a few
# seconds, is then repaid; NumPy costs about 11 ns per path-step).
AUTO_MIN_WORK = 1 << 28

_JITTED = weakref.WeakKeyDictionary()  # user function -> numba dispatcher
_RULES = {}  # solver rule -> numba dispatcher
_UNFUSED = set()  # error rules whose fused attempt did not compile (the generic attempt runs them)


class KernelCompileError(BackendError):
    """Numba cannot compile a method's rule with the problem's functions (these compiled on their own)."""


_NOISE_LINES = ("Failed in ", "- Resolution failure", "None", "During:", "File ", "^", "<source elided>")


def _error_text(e):
    """Numba's actual reason for a failure (its messages start with pipeline boilerplate), and where."""
    text = str(e).strip()
    if not text:
        return type(e).__name__
    lines = [ln.strip() for ln in text.splitlines()]
    reason = None
    for i, ln in enumerate(lines):  # an overload that raised a specific error says so
        if ln.startswith("Rejected as the implementation raised a specific error:") and i + 1 < len(lines):
            reason = lines[i + 1]
            break
    if reason is None:
        for i, ln in enumerate(lines):
            if ln and not ln.startswith(_NOISE_LINES):
                reason = ln
                if ln.startswith("No implementation of function"):
                    sig = next((s for s in lines[i + 1:i + 4] if s.startswith(">>>")), None)
                    reason = ln.rstrip(":") + (f" {sig[3:].strip()}" if sig else "")
                break
    reason = (reason or lines[0])[:300]
    where = [ln for ln in lines if ln.startswith("File ") and "site-packages" not in ln and "<numerous>" not in ln]
    if where:
        reason += f" [{where[-1].rstrip(':')}]"
    return reason


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
        # np.sin / np.cos become the vectorisable ones of .numba_math (C's scalar calls block SIMD; see there)
        jitted = numba.njit(error_model="numpy")(with_fast_math(fn))
    except Exception as e:  # not a Python function at all (e.g. a bound method of a C type)
        raise _cannot_compile(name, fn, e) from None
    try:
        _JITTED[fn] = jitted
    except TypeError:
        pass
    return jitted


class _Compiled:
    """A user function compiled by Numba on its first call; a failure becomes a BackendError naming it.

    :meth:`bind` routes the compilation through another dispatcher (a cached
    problem module's ``call_drift``: see :mod:`.numba_cache`).
    """

    __slots__ = ("fn", "name", "jitted", "compile_time", "dispatcher")

    def __init__(self, fn, name):
        self.fn, self.name, self.jitted, self.compile_time, self.dispatcher = fn, name, None, 0.0, None

    def bind(self, dispatcher):
        if self.jitted is None:
            self.dispatcher = dispatcher

    def __call__(self, t, x, *args):
        if self.jitted is None:
            started = time.perf_counter()
            jitted = self.dispatcher or jit_user_function(self.fn, self.name)
            try:  # compile first: a compile failure is a BackendError, the function's own errors stay its own
                jitted.compile(tuple(numba.typeof(v) for v in (t, x) + args))
            except (NumbaError, TypeError, ValueError, NotImplementedError) as e:
                raise _cannot_compile(self.name, self.fn, e) from e
            self.jitted = jitted
            self.compile_time = time.perf_counter() - started
        return _like(self.jitted(t, x, *args), x)


def _like(out, x):
    # Numba promotes float32 arrays times Python floats to float64 (NumPy keeps float32): keep the state's dtype.
    return out.astype(x.dtype, copy=False) if getattr(out, "dtype", x.dtype) != x.dtype else out


def _rule(fn):
    """A solver's pure rule compiled by Numba, with the module-level helpers it calls compiled alike.

    A rule may call a helper (``dopri5_attempt`` calls ``dopri5_step``); Numba types
    a global Python function only when it is a dispatcher, so the rule is compiled
    from a copy whose globals hold compiled copies of its helpers (recursively);
    the Python functions themselves are left as they are.
    """
    jitted = _RULES.get(fn)
    if jitted is None:
        jitted = _RULES[fn] = numba.njit(error_model="numpy")(_with_compiled_helpers(fn))
    return jitted


def _with_compiled_helpers(fn):
    import types as pytypes

    from .numba_cache import code_names, with_scope

    helpers = {name: fn.__globals__[name] for name in code_names(fn.__code__)
               if isinstance(fn.__globals__.get(name), pytypes.FunctionType)}
    if not helpers:
        return fn
    return with_scope(fn, {**fn.__globals__, **{name: _rule(helper) for name, helper in helpers.items()}})


def _user_functions(terms, bm):
    return (terms.drift,) if bm is None else (terms.drift, terms.diffusion)


def _takes_args(terms, bm):
    """Whether the user's functions receive ``args=`` (the generated problem module calls them as ``(t, x)``)."""
    return any(getattr(f, "args", None) is not None for f in _user_functions(terms, bm))


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
        self._attempt_stats = []

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
        fused = self._fused_plan(solver, terms, x, plan, bm)
        if not fused:
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
        self._attempt_stats = []  # (compile seconds, cache state) of each fused attempt built (per path: many)
        result = super().integrate_adaptive(solver, terms, x, plan, bm, aux_noise, progress, **options)
        built = self._attempt_stats
        result.extra["fused"] = bool(built)
        result.extra["compile_time"] = sum(b[0] for b in built) + sum(
            c.compile_time for c in getattr(self, "_compiled", ()))
        if built:
            states = {b[1] for b in built}
            result.extra["compile_cache"] = "off" if "off" in states else ("hit" if states == {"hit"} else "miss")
        return result

    # -- the fused kernel -----------------------------------------------------
    def _fused_plan(self, solver, terms, x, plan, bm):
        """True when the fused kernel runs this solve (else the shared loop does, with the same numbers)."""
        if self.fused is False or solver.n_aux or solver.fused_rule() is None:
            return False
        if _takes_args(terms, bm):  # the generated module calls drift(t, x): args= runs on the shared loop
            return False
        if x.dtype not in (np.float64, np.float32):
            return False
        if bm is not None:
            from ..brownian import BrownianPath

            if not isinstance(bm, BrownianPath) or bm.backend != "numpy":
                return False  # another noise source: the shared loop asks it step by step
            if solver.levy_area is not None and bm.aligned_level(list(plan.times)) is None:
                return False  # areas off the tree's grid: BrownianPath's decomposition, on the shared loop
        if self.fused is None:
            m = bm.dim if bm is not None else 0
            if x.shape[0] * plan.n_steps * max(x.shape[1], m) < FUSE_MIN_WORK:
                return False
        return True

    def _load_problem(self, terms, x, t0, bm, levy, kernel, signature, method, rule=None, attempt_rule=None,
                      carries=False):
        """The problem's generated module (:mod:`.numba_cache`) with ``kernel`` compiled to ``signature``.

        Binds the user functions to the module's dispatchers and evaluates each once
        on ``x`` (compiles it: a BackendError naming it; checks its shape). Returns
        ``(module, compile_cache, compile_seconds)``; the functions' own compile
        times are added by the caller (``_Compiled.compile_time``).
        """
        from .numba_cache import cache_state, problem_module

        sde = self._sde
        n, d = x.shape
        noise = "none" if sde.is_ode else ("scalar" if sde.noise == "scalar" else sde.noise)
        m = bm.dim if bm is not None else 0
        started = time.perf_counter()
        drift = jit_user_function(sde.drift, "drift")
        diffusion = jit_user_function(sde.diffusion, "diffusion") if bm is not None else None
        py_functions = (sde.drift, sde.diffusion if bm is not None else None)
        for cache in (True, False):
            module, state = problem_module(rule, drift, diffusion, noise, d, m, levy, py_functions=py_functions,
                                           cache=cache, attempt_rule=attempt_rule, carries=carries)
            terms.drift.fn.bind(module.call_drift)
            if bm is not None:
                terms.diffusion.fn.bind(module.call_diffusion)
            prepared = time.perf_counter()
            try:
                # One eager evaluation of each function: compiles it (BackendError naming it), checks its shape.
                terms.drift(t0, x)
                if bm is not None:
                    terms.diffusion(t0, x)
                evaluated = time.perf_counter()
                try:
                    getattr(module, kernel).compile(signature)
                except NumbaError as e:
                    raise KernelCompileError(f"Numba cannot compile method {method!r} with these functions "
                                             f'({_error_text(e)}); use backend="numpy"') from e
                break
            except ImportError:  # cached code whose functions' module this process cannot import: compile anew
                if not cache:
                    raise
                for c in (terms.drift.fn, getattr(terms.diffusion, "fn", None)):
                    if isinstance(c, _Compiled):
                        c.jitted = None
        used = [module.call_drift, getattr(module, kernel)] + ([module.call_diffusion] if bm is not None else [])
        compile_cache = "off" if state == "off" else cache_state(used)
        return module, compile_cache, (prepared - started) + (time.perf_counter() - evaluated)

    def _run_fused(self, solver, terms, x, plan, bm, _):
        from .numba_kernel import CHUNK_VALUES, GRID_CHUNK_VALUES, chunk_rows, step_type
        from .numba_launch import FusedRun

        d = x.shape[1]
        m = bm.dim if bm is not None else 0
        levy = solver.levy_area is not None
        module, compile_cache, compile_time = self._load_problem(
            terms, x, float(plan.times[0]), bm, levy, "advance", step_type(x.dtype), solver.name,
            rule=_rule(solver.fused_rule()))
        compiled = time.perf_counter()
        aligned = bm is None or bm.aligned_level(list(plan.times)) is not None
        rows = chunk_rows(d, m, self.chunk, CHUNK_VALUES if aligned else GRID_CHUNK_VALUES)
        run = FusedRun(module.advance, x, plan.times, plan.save, bm=bm, levy=levy, rows=rows)
        out = run.run()
        return IntegrateResult(plan.times[plan.save], out, plan.n_steps, plan.n_steps * solver.nfe_per_step,
                               {"fused": True, "fused_grid": run.mode, "launches": run.launches,
                                "compile_time": compile_time, "compile_cache": compile_cache,
                                "kernel_time": time.perf_counter() - compiled})

    # -- the fused adaptive attempt (sdekit.backends.numba_adaptive) -----------
    def _fuses_attempt(self, solver, terms, x, bm):
        """The method's pure error rule ``(rule, carries)`` when the fused attempt runs this solve, else None."""
        from ..terms import ShapeChecked
        from .numba_adaptive import FUSE_MIN_VALUES

        if self.fused is False or getattr(self, "cuda_device", None) is not None or solver.n_aux:
            return None
        fused = solver.fused_attempt()
        if fused is None or fused[0] is None or fused[0] in _UNFUSED:
            return None
        # float32: Numba computes float32 arrays times Python floats in float64, NumPy in float32; the
        # generic attempt keeps NumPy's float32 numbers (and step sequence).
        if x.dtype != np.float64:
            return None
        # per-path parameters and event shapes other than (d,) reach the user functions through ShapeChecked only
        if _takes_args(terms, bm) or not all(isinstance(f, ShapeChecked) and f.flat and isinstance(f.fn, _Compiled)
                                             for f in _user_functions(terms, bm)):
            return None
        if self.fused is None and x.shape[0] * x.shape[1] < FUSE_MIN_VALUES:
            return None
        return fused

    def adaptive_attempt(self, solver, terms, t0, x, bm):
        generic = super().adaptive_attempt(solver, terms, t0, x, bm)
        fused = self._fuses_attempt(solver, terms, x, bm)
        if fused is None:
            return generic
        from .numba_adaptive import FusedAttempt, attempt_type
        from .numba_kernel import CHUNK_VALUES, chunk_rows

        rule, carries = fused
        levy = solver.levy_area is not None
        try:
            module, compile_cache, compile_time = self._load_problem(
                terms, x, float(t0), bm, levy, "attempt", attempt_type(), solver.name, attempt_rule=_rule(rule),
                carries=carries)
        except KernelCompileError:
            # A rule Numba cannot compile (SRI's tableau loops): the generic attempt runs it, with the same
            # numbers; not tried again in this process.
            _UNFUSED.add(rule)
            return generic
        self._attempt_stats.append((compile_time, compile_cache))
        rows = chunk_rows(x.shape[1], bm.dim if bm is not None else 0, self.chunk, CHUNK_VALUES)
        return FusedAttempt(module.attempt, generic, carries=carries, levy=levy, rows=rows)
