r"""The Numba backend's adaptive attempt: error rule, user functions and error norm in one parallel call.

The adaptive driver (:mod:`sdekit.adaptive`) stays in Python: controller, save
targets, step limits, errors, progress. What it asks per attempt, the step from
``t`` of size ``h`` and its error norm

.. math:: e = \max_{p}\ \Big(\frac1d\sum_i \Big(\frac{err_{p,i}}{atol + rtol\max(|x_{p,i}|, |x_{next,p,i}|)}\Big)^2\Big)^{1/2},

is one compiled call here (:class:`FusedAttempt`). Paths are cut into chunks of
``rows`` paths (about :data:`~sdekit.backends.numba_kernel.CHUNK_VALUES` state
values: the stages and their scratch stay in cache); chunks run in parallel
(``prange``), and each runs

    x_next, err, carry_next <- the method's own pure error rule on the chunk's rows
                               (``Solver.fused_attempt()``: for dopri5 ``dopri5_step``, FSAL carry k1),
                               with the user's compiled drift (and diffusion, dW, H for SDE methods)
    norms[chunk]            <- max over the chunk's paths of their RMS error (:func:`chunk_norm`)

and the batch's ``e`` is the maximum over chunks. A maximum is exact, so ``e``,
like every path's ``x_next``, does not depend on the chunk size or the thread
count; the arithmetic is the NumPy backend's (the same rule, the same float64
operations in the same order), so the driver takes the same steps.

The rule is compiled with the user's functions into the problem's generated
module (:mod:`.numba_cache`: ``attempt``, cached on disk across processes); the
parallel driver takes it as a first-class function, so the driver itself is
compiled once, not per problem.

Failures: a non-finite state gives a non-finite ``e`` (NaN propagates as in
``np.max``): the driver rejects the step, as on NumPy. An exception raised by a
user function cannot leave a parallel region: the chunk records it, and the
attempt is re-run by the generic attempt (:func:`sdekit.adaptive.generic_attempt`),
where it surfaces as itself.

>>> import numpy as np, sdekit as sk
>>> from sdekit.backends.numba_backend import NumbaBackend
>>> decay = sk.ODE(lambda t, x: -x)
>>> a = sk.solve(decay, 1.0, (0.0, 1.0), n_paths=8, method="dopri5", backend=NumbaBackend(fused=True))
>>> b = sk.solve(decay, 1.0, (0.0, 1.0), n_paths=8, method="dopri5", backend="numpy")
>>> a.stats["fused"], a.stats["n_accepted"] == b.stats["n_accepted"], bool(np.allclose(a.ys, b.ys, rtol=1e-12))
(True, True, True)
"""

from __future__ import annotations

import time

import numba
import numpy as np
from numba import types
from numba.core.types.function_type import WrapperAddressProtocol

from .numba_kernel import STATUS_RAISED  # a user function raised inside the kernel

# From this many state values (paths x dimension) an attempt runs in parallel: below, waking the
# threads costs more than the chunks they would take (an attempt of 4096 values is ~50 us serially).
PARALLEL_MIN_VALUES = 1 << 12
# backend="numba" (fused=None) fuses attempts from this many values: there one call beats about
# thirty NumPy operations on the batch; the compilation is paid once (cached on disk).
FUSE_MIN_VALUES = 1 << 12
REPROBE = 16  # attempts between two measurements of the mode not chosen (serial or parallel)
_OPTS = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_OPTS)
def chunk_norm(x, x1, err, x_next, rtol, atol):
    """``x_next[...] = x1``, and the chunk's error norm: the largest per-path RMS (see the module docstring).

    ``x`` and ``x_next`` are (rows, d), C-contiguous; ``x1`` and ``err`` the rule's
    results in any shape of ``x.size`` values. One pass copies and measures. The
    arithmetic is :func:`sdekit.adaptive._norm`'s: ``max`` propagating NaN as
    ``np.maximum`` and ``np.max`` do, the mean as a sum divided by ``d``.
    """
    rows, d = x.shape
    xf = x.reshape(x.size)
    yf = np.ascontiguousarray(x1).reshape(x.size)
    ef = np.ascontiguousarray(err).reshape(x.size)
    out = x_next.reshape(x_next.size)
    worst = 0.0
    for i in range(rows):
        s = 0.0
        for c in range(d):
            j = i * d + c
            y = yf[j]
            out[j] = y
            a = abs(xf[j])
            b = abs(y)
            q = ef[j] / (atol + rtol * (b if (b > a or b != b) else a))
            s += q * q
        r = np.sqrt(s / d)
        if r > worst or r != r:  # once NaN, stays NaN (NaN > r is False)
            worst = r
    return worst


def attempt_type(dtype=np.float64):
    """The type of a problem's compiled attempt (the generated module's ``attempt``).

    ``(t, dt, x, dw, h, carry, x_next, carry_next, rtol, atol) -> e`` on (rows, ·)
    C-contiguous arrays: ``dw``/``h`` the rows' increments and Lévy areas
    (``(rows, 0)`` for an ODE), ``carry``/``carry_next`` the FSAL carry
    (``(rows, 0)`` for rules without one); writes ``x_next`` and ``carry_next``.
    """
    a = types.Array(numba.from_dtype(np.dtype(dtype)), 2, "C")
    f64 = types.float64
    return f64(f64, f64, a, a, a, a, a, a, f64, f64)


def _run(fn, t, dt, x, dw, h, carry, x_next, carry_next, rtol, atol, rows, norms, status):
    """Chunks of ``rows`` paths in parallel: ``norms[c]`` their error norms, ``status[c]`` 0 or a fault.

    ``fn`` returns -1 when a user function raised (an exception cannot leave a
    parallel region, nor ``fn``'s C wrapper): the chunk's status records it.
    """
    n = x.shape[0]
    for c in numba.prange(norms.size):
        i0 = c * rows
        i1 = min(i0 + rows, n)
        e = fn(t, dt, x[i0:i1], dw[i0:i1], h[i0:i1], carry[i0:i1], x_next[i0:i1], carry_next[i0:i1], rtol, atol)
        norms[c] = e
        status[c] = STATUS_RAISED if e < 0.0 else 0


_DRIVERS = {}


def driver(parallel):
    """The attempt driver (serial or parallel), compiled once for every problem and cached on disk."""
    if parallel not in _DRIVERS:
        from .._brownian_numba import renamed

        if parallel:
            from .. import _numba_threads

            _numba_threads.prepare()  # before Numba loads a parallel kernel: the layer is chosen then
        sig = attempt_type()
        a = sig.args[2]
        f64, i64 = types.float64, types.int64
        signature = types.void(types.FunctionType(sig), f64, f64, a, a, a, a, a, a, f64, f64, i64,
                               types.Array(f64, 1, "C"), types.Array(i64, 1, "C"))
        # the serial driver under its own name: Numba's cache would hand each the other's code
        fn = _run if parallel else renamed(_run, "_serial")
        _DRIVERS[parallel] = numba.njit(signature, parallel=bool(parallel), **_OPTS)(fn)
    return _DRIVERS[parallel]


class CompiledAddress(WrapperAddressProtocol):
    """A compiled function as a first-class function value whose address is looked up once.

    Passing the dispatcher itself makes Numba look its compiled version up on
    every call (about 20 us of type hashing per attempt); this hands the driver the
    address of its C wrapper directly.
    """

    def __init__(self, dispatcher, sig):
        cres = dispatcher.get_compile_result(sig)
        self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
        self._sig, self.dispatcher = sig, dispatcher  # (the dispatcher keeps the machine code alive)

    def __wrapper_address__(self):
        return self._address

    def signature(self):
        return self._sig


class FusedAttempt:
    """One problem's compiled attempt: ``(t, h, x, dw, carry, rtol, atol) -> (x_next, e, carry_next)``.

    ``fn`` is the generated module's ``attempt``, compiled to :func:`attempt_type`;
    ``generic`` the reference attempt, which re-runs an attempt a user function
    raised in; ``carries``: the rule threads a carry; ``levy``: ``dw`` is a
    :class:`~sdekit.brownian.LevyIncrement`; ``rows``: paths per chunk.
    """

    def __init__(self, fn, generic, *, carries, levy, rows):
        self.fn = CompiledAddress(fn, attempt_type()) if isinstance(fn, numba.core.dispatcher.Dispatcher) else fn
        self.generic = generic
        self.carries, self.levy, self.rows = bool(carries), bool(levy), int(rows)
        self._threads = None
        self._cost = {False: None, True: None}  # seconds per attempt, serial / parallel (smoothed)
        self._calls = 0

    def _can_parallel(self, n, d):
        if n <= self.rows or n * d < PARALLEL_MIN_VALUES:
            return False
        if self._threads is None:
            from .. import _numba_threads

            _numba_threads.prepare()
            self._threads = numba.get_num_threads()
        return self._threads > 1

    def _mode(self, n, d):
        """Parallel or serial, whichever the last attempts measured cheaper.

        A parallel call waits for its slowest thread: with another process on a
        core it can cost more than a serial one. Both are measured first, and the
        other mode again every ``REPROBE`` attempts (the load changes). The
        numbers do not depend on the choice.
        """
        if not self._can_parallel(n, d):
            return False
        self._calls += 1
        serial, parallel = self._cost[False], self._cost[True]
        if parallel is None or serial is None:
            return parallel is None
        best = parallel <= serial
        return (not best) if self._calls % REPROBE == 0 else best

    def _record(self, mode, seconds):
        old = self._cost[mode]
        self._cost[mode] = seconds if old is None else 0.5 * (old + seconds)

    def __call__(self, t, h, x, dw, carry, rtol, atol):
        n, d = x.shape
        x_c = np.ascontiguousarray(x, dtype=np.float64)
        none = np.empty((n, 0))
        if dw is None:
            w, area = none, none
        elif self.levy:
            w, area = (np.ascontiguousarray(v, dtype=np.float64) for v in dw)
        else:
            w, area = np.ascontiguousarray(dw, dtype=np.float64), none
        if self.carries:
            c_in, c_out = np.ascontiguousarray(carry, dtype=np.float64), np.empty((n, d))
        else:
            c_in, c_out = none, none
        x_next = np.empty((n, d))
        chunks = (n + self.rows - 1) // self.rows
        norms = np.empty(chunks)
        status = np.zeros(chunks, dtype=np.int64)
        mode = self._mode(n, d)
        run = driver(mode)
        started = time.perf_counter()
        run(self.fn, float(t), float(h), x_c, w, area, c_in, x_next, c_out, float(rtol), float(atol), self.rows, norms,
            status)
        self._record(mode, time.perf_counter() - started)
        if status.any():  # a user function raised: the generic attempt raises it as itself
            return self.generic(t, h, x, dw, carry, rtol, atol)
        return x_next, float(norms.max()), (c_out if self.carries else None)


__all__ = ["FusedAttempt", "CompiledAddress", "chunk_norm", "attempt_type", "driver", "FUSE_MIN_VALUES",
           "PARALLEL_MIN_VALUES"]
