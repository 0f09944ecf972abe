"""Running the fused kernel: chunk groups, launches of a fraction of a second, serial or parallel, failures.

A fused solve is cut into *launches*: a range of blocks (aligned tree), or of
steps (other grids, ODEs), for a group of chunks of paths. Between two launches
control is back in Python, so Ctrl-C (``KeyboardInterrupt``) lands within about
``LAUNCH_SECONDS`` seconds; each chunk keeps its cursor (its state, W at the
current time, the tree stacks) in arrays that survive the launch, so the numbers
do not depend on how the solve is cut. Launch sizes adapt to the measured speed
(the first is small, the next aim at ``LAUNCH_SECONDS``).

Small launches run the serial driver: a parallel launch wakes every thread and
waits for the slowest, which costs more than it gains below ``PARALLEL_MIN_WORK``
value-steps, and far more when another process holds a core.

When a step fails the chunk stops there and records why (``bad``): a non-finite
state (:class:`~sdekit.errors.NonFiniteError` at the first step and path, as the
NumPy backend reports it) or an exception raised by a user function (re-raised
as itself: the step is re-run outside the kernel on the chunk's state and
increments).

>>> import numpy as np
>>> from sdekit.backends.numba_launch import Slicer
>>> s = Slicer(total=1000, work_per_unit=1 << 20, target=0.1, first_work=1 << 22)
>>> s.next_size()            # the first launch: 4 units of 2^20 value-steps
4
"""

from __future__ import annotations

import time

import numba
import numpy as np

from .. import philox
from ..brownian import LEVELS
from ..errors import BackendError
from .base import nonfinite_error

STATUS_RAISED = 2  # numba_kernel.STATUS_RAISED (a chunk stopped at an exception of a user function)

LAUNCH_SECONDS = 0.25  # seconds per launch once the speed is known (Ctrl-C latency)
FIRST_LAUNCH_WORK = 1 << 22  # value-steps of the first launch (before any timing)
PARALLEL_MIN_WORK = 1 << 20  # value-steps from which a launch runs in parallel
CURSOR_BYTES = 64 << 20  # memory for the cursors of one chunk group


class Slicer:
    """Launch sizes (in units of ``work_per_unit`` value-steps) that aim at ``target`` seconds each."""

    def __init__(self, total, work_per_unit, target=None, first_work=None):
        self.total, self.work = int(total), max(1.0, float(work_per_unit))
        self.target = float(LAUNCH_SECONDS if target is None else target)
        self.size = max(1, int((FIRST_LAUNCH_WORK if first_work is None else first_work) // self.work))
        self.rate = None  # seconds per unit, measured

    def next_size(self):
        if self.rate is not None and self.rate > 0:
            self.size = max(1, min(int(self.target / self.rate), 4 * self.size))
        return min(self.size, self.total)

    def record(self, units, seconds):
        if units > 0 and seconds > 0:
            self.rate = seconds / units


class FusedRun:
    """One fused solve: ``x`` (n, d) stepped over ``times`` by ``step``, states at indices ``save`` kept.

    ``bm``: a NumPy :class:`~sdekit.BrownianPath` (None for an ODE); ``levy``: the
    rule takes space-time Lévy areas; ``rows``: paths per chunk.
    """

    def __init__(self, step, x, times, save, *, bm=None, levy=False, rows=256, dispatcher=None, target=None):
        from .numba_kernel import block_levels, locate_times

        self.step, self.dispatcher = step, dispatcher
        self.x = np.array(x, order="C")  # stepped in place, chunk by chunk
        self.n, self.d = self.x.shape
        self.times = np.ascontiguousarray(times, dtype=np.float64)
        self.n_steps = self.times.size - 1
        self.slots = np.full(self.n_steps + 1, -1, dtype=np.int64)
        self.slots[np.asarray(save)] = np.arange(len(save))
        self.out = np.empty((len(save), self.n, self.d), dtype=self.x.dtype)
        self.rows = int(rows)
        self.n_chunks = (self.n + self.rows - 1) // self.rows
        self.bad = np.full((self.n_chunks, 3), -1, dtype=np.int64)
        self.bad[:, 2] = 0
        self.bm, self.levy, self.target = bm, bool(levy), target
        self.m = bm.dim if bm is not None else 0
        self._drivers = {}  # serial / parallel, loaded when first used (the parallel ones start Numba's pool)
        self._threads = None
        self.faults = {}
        width = max(self.d, self.m)
        if bm is None:
            self.mode, self.units, self.per_unit = "ode", self.n_steps, 1
            per_chunk = 0
        else:
            self.seeds = philox.key_words(bm.seed)
            self.f32 = bm.dtype == "float32" and self.x.dtype != np.float32
            self.span = bm.t1 - bm.t0
            self.skel_depth = (bm.segments - 1).bit_length()
            k = bm.aligned_level(list(self.times))
            size = self.rows * self.m
            if k is not None:
                self.mode = "tree"
                self.b = block_levels(k)
                self.levels = k - self.b
                self.units, self.per_unit = bm.segments << self.levels, 1 << self.b
                per_chunk = 8 * size * (1 + 3 * (self.skel_depth + 1) + 3 * (self.levels + 1))
            else:
                if self.levy:
                    raise BackendError("the fused kernel gives space-time Lévy areas on grids aligned with the "
                                       "Brownian tree only")
                self.mode, self.units, self.per_unit = "grid", self.n_steps, 1
                self.loc, self.fracs, self.coef = locate_times(bm, self.times)
                per_chunk = 8 * size * (1 + 3 * (self.skel_depth + 1) + 3 + 3 * (LEVELS + 1))
        # (numba.config's thread count: asking numba.get_num_threads() would start the pool)
        self.group = self.n_chunks if per_chunk == 0 else \
            max(1, min(self.n_chunks, max(2 * numba.config.NUMBA_NUM_THREADS, CURSOR_BYTES // max(per_chunk, 1))))
        self.work_per_unit = float(self.rows * min(self.group, self.n_chunks) * width * self.per_unit)
        self.launches = 0

    # -- cursors ----------------------------------------------------------------------------------
    def _cursors(self):
        g, size = self.group, self.rows * self.m
        self.fault = np.zeros((g, 2, max(size, 1)))
        if self.mode == "ode":
            return
        self.wcur = np.zeros((g, size))
        self.skel = np.zeros((g, 3, self.skel_depth + 1, size))
        if self.mode == "tree":
            self.coarse = np.zeros((g, 3, self.levels + 1, size))
        else:
            self.seg_lr = np.zeros((g, 3, size))
            self.stack = np.zeros((g, 3, LEVELS + 1, size))
            self.seen = np.full((g, LEVELS + 2), -1, dtype=np.int64)

    def _parallel(self, chunks, work):
        """Whether a launch of ``chunks`` chunks and ``work`` value-steps runs on the parallel driver."""
        if chunks < 2 or work < PARALLEL_MIN_WORK:
            return False
        if self._threads is None:
            from .. import _numba_threads

            _numba_threads.prepare()
            self._threads = numba.get_num_threads()
        return self._threads > 1

    def _launch(self, c0, c1, u0, u1, parallel):
        from .numba_kernel import drivers

        if parallel not in self._drivers:
            self._drivers[parallel] = drivers(self.x.dtype, parallel)
        sde, grid, ode = self._drivers[parallel]
        bm = self.bm
        if self.mode == "tree":
            sde(self.step, self.x, self.out, self.slots, self.times, *self.seeds, bm.segments, self.levels, self.b,
                self.span, bm.segment_width, bm.path_offset, self.m, self.rows, c0, c1, self.wcur, self.skel,
                self.coarse, u0, u1, self.bad, self.fault, self.levy, self.f32)
        elif self.mode == "grid":
            grid(self.step, self.x, self.out, self.slots, self.times, *self.seeds, bm.segments, self.span,
                 bm.segment_width, bm.path_offset, self.m, self.rows, self.loc, self.fracs, self.coef, c0, c1,
                 self.wcur, self.skel, self.seg_lr, self.stack, self.seen, u0, u1, self.bad, self.fault, self.f32)
        else:
            ode(self.step, self.x, self.out, self.slots, self.times, self.rows, c0, c1, u0, u1, self.bad)
        self.launches += 1

    def _unit_of_step(self, step):
        return step // self.per_unit

    # -- the solve --------------------------------------------------------------------------------
    def run(self):
        """Run every launch; return the saved states ``(k, n, d)`` or raise the first failure."""
        self._cursors()
        limit = self.units  # no launch goes past the unit of the first failed step seen so far
        for c0 in range(0, self.n_chunks, self.group):
            c1 = min(c0 + self.group, self.n_chunks)
            if self.mode == "grid":
                self.seen[:] = -1
            slicer = Slicer(limit, self.work_per_unit * (c1 - c0) / min(self.group, self.n_chunks), self.target)
            u = 0
            while u < limit:
                u1 = min(limit, u + slicer.next_size())
                work = slicer.work * (u1 - u)
                parallel = self._parallel(c1 - c0, work)
                started = time.perf_counter()
                self._launch(c0, c1, u, u1, parallel)
                slicer.record(u1 - u, time.perf_counter() - started)
                u = u1
                failed = self.bad[c0:c1, 2] != 0
                if failed.any():
                    first = int(self.bad[c0:c1, 0][failed].min())
                    limit = min(limit, self._unit_of_step(first) + 1)
            self._keep_faults(c0, c1)
        self._raise_first_failure()
        return self.out

    def _keep_faults(self, c0, c1):
        for g, ci in enumerate(range(c0, c1)):
            if self.bad[ci, 2] == STATUS_RAISED:
                self.faults[ci] = self.fault[g].copy()

    def _raise_first_failure(self):
        status = self.bad[:, 2]
        if not np.any(status != 0):
            return
        # The NumPy loop raises at the first step; within a step, an exception comes before the finiteness check.
        first_step = np.where(status != 0, self.bad[:, 0], np.iinfo(np.int64).max)
        order = np.lexsort((np.arange(self.n_chunks), status != STATUS_RAISED, first_step))
        ci = int(order[0])
        step, row = int(self.bad[ci, 0]), int(self.bad[ci, 1])
        if status[ci] == STATUS_RAISED:
            self._reraise(ci, step)
        raise nonfinite_error(step, float(self.times[step]), ci * self.rows + row)

    def _reraise(self, ci, step):
        i0, i1 = ci * self.rows, min((ci + 1) * self.rows, self.n)
        r, m = i1 - i0, max(self.m, 0)
        x = self.x[i0:i1].copy()
        fault = self.faults[ci]
        dw = np.ascontiguousarray(fault[0, :r * m].reshape(r, m).astype(self.x.dtype))
        h = np.ascontiguousarray(fault[1, :r * m].reshape(r, m).astype(self.x.dtype))
        t = float(self.times[step])
        fn = self.dispatcher or self.step
        fn(t, float(self.times[step + 1]) - t, x, dw, h)  # raises the user's exception as itself
        raise BackendError(
            f"a user function raised inside the fused Numba kernel at step {step} (t={t:.6g}), but not when the "
            'step was re-run outside it; run with backend="numpy" to see the error')


__all__ = ["FusedRun", "Slicer", "LAUNCH_SECONDS", "PARALLEL_MIN_WORK"]


def generator_floor(n_paths, n_steps, dim=1, *, seed=0, chunk=None):
    """Draw the Brownian increments of a seed-only solve with the fused kernel, and sum them.

    The floor of a fixed-step solve with the Numba backend: the same driver,
    chunks, blocks, tree nodes and threads as a fused solve (its path has
    ``segments = sdekit.brownian.segments_for(n_steps)``), with the solver's step
    replaced by ``x += dW`` (so it returns ``sum_i W_i(1)``, and nothing is
    optimised away). Used by ``benchmarks/cpu.py``.

    >>> from sdekit.backends.numba_launch import generator_floor
    >>> s = generator_floor(1000, 64, 1, seed=0)      # the sum of 1000 paths' W(1)
    >>> abs(s) < 5 * 1000 ** 0.5
    True
    """
    from ..brownian import BrownianPath, segments_for
    from .numba_kernel import accumulate_step, chunk_rows

    n_paths, n_steps, dim = int(n_paths), int(n_steps), int(dim)
    bm = BrownianPath(n_paths, dim, (0.0, 1.0), seed=seed, segments=segments_for(n_steps))
    times = np.arange(n_steps + 1, dtype=np.float64) / n_steps
    times[-1] = 1.0
    save = np.array([n_steps])  # keep W(1) only
    run = FusedRun(accumulate_step(), np.zeros((n_paths, dim)), times, save, bm=bm, levy=False,
                   rows=chunk_rows(dim, dim, chunk))
    out = run.run()
    return float(out.sum())
