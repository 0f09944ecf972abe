r"""``ensemble``: many paths in chunks, reduced as they go, on one machine or a Dask cluster.

``sk.ensemble(sde, x0, t_span, n_paths=N, reduce=(...))`` solves the paths
``[0, N)`` chunk by chunk and keeps only what the reductions need
(:mod:`sdekit.reductions`): memory is one chunk's saved states plus a few
partials per level of the merge tree, whatever ``N``.

**The same seed gives the same bits for any chunking, thread count or
cluster.** Two facts make it so:

1. Path ``i`` is a pure function of ``(seed, i)``: a chunk ``[a, b)`` is solved
   with ``sk.BrownianPath(b - a, m, t_span, seed=seed, segments=..., path_offset=a)``
   (the segments a seed-only solve of the same grid would use), which is paths
   ``a..b-1`` of the one big solve, bit for bit on the same backend.
2. The reductions' merge structure is fixed by path index, not by chunks or
   arrival order (:mod:`sdekit.blocktree`): canonical blocks of ``BLOCK_PATHS``
   paths, one binary tree over the blocks. Chunks are whole blocks
   (``chunk_paths`` is rounded up to a multiple of ``BLOCK_PATHS``).

"Same bits" presumes the same backend, library versions and instruction set
on every worker (``exp`` or ``log`` may round differently on another CPU);
``backend="auto"`` is resolved once, on the caller, from the whole ensemble's
size, and pinned (Numba's fused kernel whatever the chunk size).

Where it runs
-------------
``client=None``: on this machine. NumPy solves run chunks on a thread pool of
one thread per core (NumPy releases the GIL in its loops); Numba and torch
solves run chunks one after another, each on all cores (their kernels are
parallel). ``workers=`` and ``pool="processes"`` override that (processes need
the problem picklable, by ``cloudpickle`` when installed).

``client=`` a ``dask.distributed.Client``: each chunk is a Dask task. The
problem (SDE, ``x0`` when shared, options, reductions) is scattered to the
workers once; a task carries only its path range (and its rows of a per-path
``x0``), and returns a few tree nodes. A worker that dies mid-run loses its
tasks, which the scheduler reruns elsewhere (``distributed.scheduler.allowed-failures``);
since a chunk's result is a pure function of its path range, the answer is
unchanged. ``retries=`` adds Dask's retries for exceptions raised in a task.
Each task limits Numba and torch to ``threads`` threads (default 1: Dask runs
one task per worker thread).

Per-path parameters
-------------------
``args=`` (an array, or a dict of arrays, whose leading axis is the path) is
sliced to each chunk's rows and handed to ``sk.solve(..., args=...)``, so
``drift(t, x, args)`` and ``diffusion(t, x, args)`` see the rows of the paths being
solved: parameter sweeps without Python loops, bit-identical for any chunking.

Example
-------
>>> import numpy as np, sdekit as sk
>>> gbm = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
>>> res = sk.ensemble(gbm.sde, 1.0, (0.0, 1.0), n_paths=50_000, n_steps=32, backend="numpy",
...                   reduce=("mean", "var", ("quantiles", [0.5])))
>>> res.ts, res["mean"].shape
(array([0., 1.]), (2, 1))
>>> abs(res["mean"][-1, 0] - np.exp(0.5)) < 4 * res.stderr("mean")[-1, 0]
np.True_
>>> again = sk.ensemble(gbm.sde, 1.0, (0.0, 1.0), n_paths=50_000, n_steps=32, backend="numpy",
...                     reduce=("mean", "var", ("quantiles", [0.5])), chunk_paths=4096)
>>> all(np.array_equal(res[k], again[k]) for k in ("mean", "var", "quantiles"))
True
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

from . import philox
from .blocktree import BLOCK_PATHS, TreeMerger, block_range, chunk_nodes, n_blocks
from .brownian import BrownianPath
from .errors import InvalidArgumentError, NonFiniteError, ShapeError
from .memory import check_allocation
from .progress import Progress
from .reductions import parse_reduce
from .sde import as_sde
from .solve import solve
from .terms import slice_args
from .validation import check_positive_int

CHUNK_BYTES = 32 << 20  # default chunk: about this much of saved states
MAX_CHUNK_PATHS = 1 << 20  # ... and at most this many paths (the solve's own arrays scale with it)
_POOLS = ("threads", "processes")


def _n_rows(a):
    return int(getattr(a, "shape", np.shape(a))[0]) if np.ndim(a) >= 1 else None


def _check_args(args, n_paths):
    """``args`` checked: every array has leading axis ``n_paths``."""
    if args is None:
        return None
    items = args.items() if isinstance(args, dict) else [("args", args)]
    for key, a in items:
        rows = _n_rows(a)
        if rows != n_paths:
            where = "args" if key == "args" else f"args[{key!r}]"
            raise ShapeError(f"{where} must have a leading path axis of length n_paths={n_paths}; "
                             f"got shape {tuple(np.shape(a))}")
    return args


_slice_rows = slice_args  # rows [lo, hi) of per-path parameters: the solve's own slicing


def _per_path_x0(x0, n_paths):
    """Whether ``x0`` carries one row per path (leading axis ``n_paths``, at least 2-D)."""
    shape = tuple(getattr(x0, "shape", np.shape(x0)))
    return len(shape) >= 2 and shape[0] == n_paths


def _to_numpy(ys):
    if isinstance(ys, np.ndarray):
        return ys
    return ys.detach().cpu().numpy()  # a torch tensor


class _Threads:
    """Limit Numba's and torch's threads in the calling thread for a block of work (None: leave them)."""

    def __init__(self, n):
        self.n, self.saved = n, []

    def __enter__(self):
        if self.n is None:
            return self
        try:
            import numba

            self.saved.append((numba.set_num_threads, numba.get_num_threads()))
            numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        except ImportError:  # pragma: no cover - numba is a dependency
            pass
        import sys

        torch = sys.modules.get("torch")  # only if already in use: importing torch costs seconds
        if torch is not None:
            self.saved.append((torch.set_num_threads, torch.get_num_threads()))
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        for setter, value in reversed(self.saved):
            setter(value)
        return False


class _Problem:
    """Everything a chunk needs, built once on the caller and shipped once to each worker."""

    def __init__(self, sde, x0, t_span, seed, n_paths, reductions, backend, solve_options, brownian_spec):
        self.sde, self.x0, self.t_span, self.seed, self.n_paths = sde, x0, t_span, seed, n_paths
        self.accumulators = {}
        for r in reductions:
            self.accumulators.setdefault(r.key, r)
        self.backend = backend
        self.solve_options = solve_options
        self.brownian_spec = brownian_spec  # None (no noise) or (dim, segments, dtype, backend, device)

    def merge(self, a, b):
        return {key: acc.merge(a[key], b[key]) for key, acc in self.accumulators.items()}

    def solve_chunk(self, a, b, x0, args):
        """The saved states ``(k, b - a, *event)`` of paths ``[a, b)`` as a NumPy array."""
        options = dict(self.solve_options)
        if args is not None:
            options["args"] = args
        bm = None
        if self.brownian_spec is not None:
            dim, segments, dtype, bm_backend, device = self.brownian_spec
            bm = BrownianPath(b - a, dim, self.t_span, seed=self.seed, dtype=dtype, backend=bm_backend,
                              device=device, segments=segments, path_offset=a)
        try:
            sol = solve(self.sde, x0, self.t_span, n_paths=b - a, seed=self.seed, brownian=bm,
                        backend=_fresh_backend(self.backend), **options)
        except NonFiniteError as e:
            raise NonFiniteError(f"in paths [{a}, {b}) of the ensemble (path numbers counted from {a}): {e}",
                                 step=e.step, time=e.time) from e
        return _to_numpy(sol.ys)

    def run(self, b0, b1, x0=None, args=None, threads=None):
        """Tree nodes ``[(level, index, partials)]`` of blocks ``[b0, b1)``."""
        a, _ = block_range(b0, self.n_paths)
        _, b = block_range(b1 - 1, self.n_paths)
        if x0 is None:
            x0 = self.x0
        with _Threads(threads):
            ys = self.solve_chunk(a, b, x0, args)
        tree = TreeMerger(self.merge, lo=b0, hi=b1)
        for j in range(b0, b1):
            lo, hi = block_range(j, self.n_paths)
            # A fresh C-contiguous copy: the same rows in the same layout whatever the chunk.
            block = np.array(ys[:, lo - a:hi - a], order="C")
            tree.add(0, j, {key: acc.map(block) for key, acc in self.accumulators.items()})
        return tree.nodes()


def _fresh_backend(template):
    """A backend for one solve: names stay names; instances are copied (a solve keeps state on them)."""
    return template if isinstance(template, str) else copy.copy(template)


def _pin_backend(backend, sde, x0, work, device=None):
    """Resolve ``backend`` once for the whole ensemble, to something that does not change with chunk size."""
    from .backends import select_backend
    from .backends.numba_backend import NumbaBackend

    be = select_backend(backend, sde, x0, work=work, device=device)
    if isinstance(be, NumbaBackend):
        # fused=None would pick the kernel by chunk size; the fused kernel where it applies, always.
        return NumbaBackend(fused=True if be.fused is None else be.fused, chunk=be.chunk)
    return be if not isinstance(backend, str) else be.name


# -- executors ------------------------------------------------------------------------------------
def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _local_workers(workers, backend_name):
    if workers is not None:
        return check_positive_int("workers", workers)
    if backend_name != "numpy":
        return 1  # Numba and torch kernels use every core already
    return _cores()


_WORKER_PROBLEM = None


def _process_init(payload):
    global _WORKER_PROBLEM
    import pickle

    _WORKER_PROBLEM = pickle.loads(payload)


def _process_run(b0, b1, x0, args, threads):
    return _WORKER_PROBLEM.run(b0, b1, x0, args, threads)


def _dask_run(problem, b0, b1, x0, args, threads):
    return problem.run(b0, b1, x0, args, threads)


def _run_local(problem, chunks, x0_rows, args, workers, pool, threads, on_done):
    if workers == 1:
        for b0, b1 in chunks:
            on_done(b0, b1, problem.run(b0, b1, x0_rows(b0, b1), _chunk_args(problem, args, b0, b1), threads))
        return
    if pool == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        payload = _dumps(problem, "pool='processes'")
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_process_init, initargs=(payload,))
        submit = lambda b0, b1: executor.submit(  # noqa: E731
            _process_run, b0, b1, x0_rows(b0, b1), _chunk_args(problem, args, b0, b1), threads)
    else:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="sdekit-ensemble")
        submit = lambda b0, b1: executor.submit(  # noqa: E731
            problem.run, b0, b1, x0_rows(b0, b1), _chunk_args(problem, args, b0, b1), threads)
    # At most two chunks in flight per worker: memory stays a few chunks, whatever n_paths.
    with executor:
        todo, running = list(chunks)[::-1], {}
        try:
            while todo or running:
                while todo and len(running) < 2 * workers:
                    b0, b1 = todo.pop()
                    running[submit(b0, b1)] = (b0, b1)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    b0, b1 = running.pop(fut)
                    on_done(b0, b1, fut.result())
        except BaseException:
            for fut in running:
                fut.cancel()
            raise


def _dumps(obj, what):
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler
    try:
        return pickler.dumps(obj)
    except Exception as e:
        raise InvalidArgumentError(f"{what} needs the problem picklable (install cloudpickle for lambdas); "
                                   f"pickling failed: {e}") from None


def _chunk_args(problem, args, b0, b1):
    if args is None:
        return None
    a, _ = block_range(b0, problem.n_paths)
    _, b = block_range(b1 - 1, problem.n_paths)
    return _slice_rows(args, a, b)


def _check_client(client):
    try:
        from distributed import Client
    except ImportError:
        raise InvalidArgumentError('client= needs dask.distributed installed: pip install "sdekit[distributed]"') \
            from None
    if not isinstance(client, Client):
        raise InvalidArgumentError(f"client must be a dask.distributed.Client; got {type(client).__name__}")
    return client


def _run_dask(client, problem, chunks, x0_rows, args, threads, retries, on_done):
    from distributed import as_completed

    shared = client.scatter(problem, broadcast=True, hash=False)
    run_id = uuid.uuid4().hex[:12]
    futures = []
    for c, (b0, b1) in enumerate(chunks):
        futures.append(client.submit(_dask_run, shared, b0, b1, x0_rows(b0, b1),
                                     _chunk_args(problem, args, b0, b1), threads,
                                     key=f"sdekit-ensemble-{run_id}-{c}", retries=retries, pure=False))
    ranges = {fut.key: chunk for fut, chunk in zip(futures, chunks)}
    pending = as_completed(futures)
    del futures  # as_completed holds them; each is released once merged
    try:
        for fut in pending:
            b0, b1 = ranges[fut.key]
            on_done(b0, b1, fut.result())
            fut.release()
    except BaseException:
        client.cancel(list(pending.futures))
        raise
    finally:
        client.cancel([shared])


# -- the result -----------------------------------------------------------------------------------
class EnsembleResult:
    """What :func:`ensemble` returns: ``res.ts``, ``res[name]``, ``res.stderr(name)``.

    Attributes
    ----------
    ts : numpy.ndarray (k,)
        The saved times.
    n_paths, chunk_paths, block_paths : int
        Paths solved; paths per chunk (a multiple of ``block_paths``); paths per
        canonical block of the merge tree.
    backend : str
        The backend every chunk ran on.
    stats : dict
        ``wall_time`` (s), ``n_chunks``, ``n_steps``, ``path_steps``,
        ``path_steps_per_s``, ``max_pending_nodes`` (the merge tree's memory, in partials).
    """

    def __init__(self, ts, n_paths, reductions, partial, chunk_paths, backend, stats):
        self.ts = ts
        self.n_paths, self.chunk_paths, self.block_paths = n_paths, chunk_paths, BLOCK_PATHS
        self.backend, self.stats = backend, stats
        self._reductions = {r.name: r for r in reductions}
        self._values = {r.name: r.finalize(partial[r.key]) for r in reductions}
        self._partial = {r.name: partial[r.key] for r in reductions if r.has_stderr}

    def _get(self, name):
        if name not in self._reductions:
            raise KeyError(f"no reduction named {name!r} in this result; it has {', '.join(self._reductions)}")
        return self._reductions[name]

    def __getitem__(self, name):
        self._get(name)
        return self._values[name]

    def stderr(self, name):
        """Monte Carlo standard error of ``res[name]`` (same shape), where the reduction defines one."""
        red = self._get(name)
        if name not in self._partial:
            raise InvalidArgumentError(f"reduction {name!r} has no Monte Carlo standard error")
        return red.stderr(self._partial[name])

    def keys(self):
        return list(self._reductions)

    def __contains__(self, name):
        return name in self._reductions

    def __repr__(self):
        return (f"EnsembleResult(n_paths={self.n_paths}, ts={self.ts.shape[0]} times, "
                f"reductions={self.keys()}, backend={self.backend!r}, "
                f"wall_time={self.stats.get('wall_time', 0):.3g}s)")


# -- the entry point ------------------------------------------------------------------------------
def _default_chunk_blocks(n_blk, bytes_per_path, parallel):
    cap = max(1, min(CHUNK_BYTES // max(bytes_per_path, 1), MAX_CHUNK_PATHS) // BLOCK_PATHS)
    spread = max(1, math.ceil(n_blk / (4 * parallel)))  # a few chunks per worker, for balance
    return min(cap, spread) if parallel > 1 else cap


def ensemble(sde, x0, t_span, *, n_paths, reduce=("mean", "var"), chunk_paths=None, client=None, seed=0,
             args=None, workers=None, pool="threads", threads=None, retries=0, progress=False,
             **solve_options):
    r"""Solve ``n_paths`` paths in chunks and reduce them as they go; the same bits for any chunking or cluster.

    Parameters
    ----------
    sde, x0, t_span : as for :func:`sdekit.solve`
        ``x0`` is a float, an event-shaped array shared by all paths, or an array with
        one row per path (leading axis ``n_paths``), sliced per chunk.
    n_paths : int
    reduce : reduction or sequence of them
        Names ``"mean"``, ``"var"``, ``"std"``, ``"moments"``, ``"min"``, ``"max"``,
        ``"paths"``; ``("quantiles", probs[, rel_err])``; ``("histogram", edges)``;
        :class:`sdekit.Reduction` objects (see :mod:`sdekit.reductions`). Each is
        over the paths at every saved time: ``res["mean"]`` has shape ``(k, *event)``.
    chunk_paths : int, optional
        Paths per chunk, rounded up to a multiple of ``BLOCK_PATHS`` (4096). Default:
        about 32 MiB of saved states (at most 2^20 paths), and a few chunks per worker.
        Results do not depend on it.
    client : dask.distributed.Client, optional
        Run chunks as Dask tasks on its cluster.
    seed : int
        Path ``i`` is a pure function of ``(seed, i)``.
    args : array or dict of arrays, optional
        Per-path parameters (leading axis ``n_paths``), sliced per chunk and passed to
        ``solve(..., args=)``; see the module docstring.
    workers : int, optional
        Local runs: chunks in flight at once (default: one per core for NumPy, 1 for
        Numba and torch, whose kernels use every core).
    pool : "threads" or "processes"
        Local pool kind when ``workers > 1``.
    threads : int, optional
        Numba/torch threads per chunk solve (default: all cores for one local worker,
        the cores shared out for several, 1 on Dask).
    retries : int
        Dask retries of a task that raised (dead workers are rerun regardless).
    progress : bool
        A progress bar of paths done (on the caller, also with ``client=``).
    **solve_options
        Passed to every chunk's :func:`sdekit.solve`: ``n_steps`` or ``dt``, ``method``,
        ``save_at``, ``backend``, ``dtype``, ``device``, method options.

    Returns
    -------
    EnsembleResult
        ``res.ts``, ``res[name]``, ``res.stderr(name)``, ``res.stats``.

    Math: the merge formulas and error bounds are in :mod:`sdekit.reductions`, the
    fixed merge tree in :mod:`sdekit.blocktree`. Reference for the moments merge:
    Chan, Golub & LeVeque (1979).

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> ou = sk.testing.problems.ou(theta=2.0, mu=1.0, sigma=0.7)
    >>> res = sk.ensemble(ou.sde, ou.x0, ou.t_span, n_paths=20_000, n_steps=50, save_at=[0.5, 1.0],
    ...                   reduce=("mean", "std", "max"), backend="numpy")
    >>> res["mean"].shape, res.stderr("std").shape, bool(np.all(res["max"] > res["mean"]))
    ((2, 1), (2, 1), True)
    """
    started = time.perf_counter()
    n_paths = check_positive_int("n_paths", n_paths)
    seed = philox.check_seed(seed)
    reductions = parse_reduce(reduce)
    if chunk_paths is not None:
        chunk_paths = check_positive_int("chunk_paths", chunk_paths)
    if pool not in _POOLS:
        raise InvalidArgumentError(f"pool must be one of {_POOLS}; got {pool!r}")
    if threads is not None:
        threads = check_positive_int("threads", threads)
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise InvalidArgumentError(f"retries must be a non-negative int; got {retries!r}")
    if client is not None:
        client = _check_client(client)
    for bad in ("brownian", "n_paths"):
        if bad in solve_options:
            raise InvalidArgumentError(f"ensemble builds each chunk's {bad} itself; do not pass {bad}=")
    args = _check_args(args, n_paths)
    sde = as_sde(sde)
    backend = solve_options.pop("backend", "auto")
    per_path = _per_path_x0(x0, n_paths)

    # A one-path probe solve: checks the problem and options here (before any task is shipped) and tells the
    # saved times, the state's shape and dtype, and the Brownian dimension and tree segments solve would use.
    # One thread: parallel kernels on one path only lose to thread start-up (and to busy neighbours).
    probe_x0 = x0[:1] if per_path else x0
    probe_args = slice_args(args, 0, 1)
    with _Threads(1):
        probe = solve(sde, probe_x0, t_span, n_paths=1, seed=seed, backend=_probe_backend(backend),
                      args=probe_args, **solve_options)
    ys = probe.ys
    event = tuple(ys.shape[2:])
    n_steps = int(probe.stats["n_steps"])
    pinned = _pin_backend(backend, sde, probe_x0, work=n_paths * n_steps * max(1, int(np.prod(event))),
                          device=solve_options.get("device"))
    backend_name = pinned if isinstance(pinned, str) else pinned.name
    brownian_spec = None
    if probe.brownian is not None:
        bm = probe.brownian
        on_torch = not isinstance(ys, np.ndarray)
        brownian_spec = (bm.dim, _segments(bm, t_span, solve_options), str(ys.dtype).replace("torch.", ""),
                         "torch" if on_torch else "numpy", str(ys.device) if on_torch else None)
    problem = _Problem(sde, None if per_path else x0, t_span, seed, n_paths, reductions, pinned,
                       solve_options, brownian_spec)

    n_blk = n_blocks(n_paths)
    if client is not None:
        parallel = max(1, sum(client.nthreads().values()))
        threads = 1 if threads is None else threads
    else:
        parallel = _local_workers(workers, backend_name)
        if threads is None and parallel > 1:
            threads = max(1, _cores() // parallel)  # the cores shared out: no oversubscription
    itemsize = 8 if "64" in str(ys.dtype) else 4
    bytes_per_path = len(probe.ts) * max(1, int(np.prod(event))) * itemsize
    if any(r.name == "paths" for r in reductions):  # the one reduction whose result grows with n_paths
        check_allocation(n_paths * bytes_per_path, f'reduce="paths" ({n_paths} paths x {len(probe.ts)} saved times '
                         f'x {max(1, int(np.prod(event)))} components)')
    cb = (-(-chunk_paths // BLOCK_PATHS) if chunk_paths is not None
          else _default_chunk_blocks(n_blk, bytes_per_path, parallel))
    chunks = [(b0, min(b0 + cb, n_blk)) for b0 in range(0, n_blk, cb)]

    def x0_rows(b0, b1):
        if not per_path:
            return None
        a, _ = block_range(b0, n_paths)
        _, b = block_range(b1 - 1, n_paths)
        return x0[a:b]

    merger = TreeMerger(problem.merge, n_blk)
    most = [0]
    with Progress(n_paths, "ensemble", enabled=progress) as bar:
        def on_done(b0, b1, nodes):
            for level, index, partial in nodes:
                merger.add(level, index, partial)
            most[0] = max(most[0], merger.pending())
            bar.update(block_range(b1 - 1, n_paths)[1] - block_range(b0, n_paths)[0])

        if client is not None:
            _run_dask(client, problem, chunks, x0_rows, args, threads, int(retries), on_done)
        else:
            _run_local(problem, chunks, x0_rows, args, parallel, pool, threads, on_done)
    partial = merger.result()
    wall = time.perf_counter() - started
    stats = {"wall_time": wall, "n_chunks": len(chunks), "n_steps": n_steps,
             "path_steps": n_paths * n_steps, "path_steps_per_s": n_paths * n_steps / wall,
             "max_pending_nodes": most[0]}
    return EnsembleResult(np.asarray(probe.ts), n_paths, reductions, partial, cb * BLOCK_PATHS, backend_name,
                          stats)


def _segments(bm, t_span, options):
    """The tree segments of a seed-only solve: the probe's path's own (it came from ``solve``), else (a
    BrownianPath without the attribute) the odd part of the uniform step count, as ``solve`` picks it."""
    segments = getattr(bm, "segments", None)
    if segments is not None:
        return segments
    from .brownian import odd_part

    n = options.get("n_steps")
    if n is None:
        span = t_span[1] - t_span[0]
        n = max(1, math.ceil(span / options["dt"] * (1 - 1e-12)))
    return odd_part(int(n))


def _probe_backend(backend):
    """The probe's backend: the chosen one, except that Numba runs its compiled functions unfused (no kernel).

    ``"auto"`` on one path picks torch for torch problems, else NumPy.
    """
    from .backends.numba_backend import NumbaBackend

    if isinstance(backend, str):
        return NumbaBackend(fused=False) if backend == "numba" else backend
    return NumbaBackend(fused=False) if isinstance(backend, NumbaBackend) else copy.copy(backend)
