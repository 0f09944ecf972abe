"""CPU benchmark suite (issue 3): ``sdekit bench``.

Euler–Maruyama on four problems, each over ``[0, 1]`` with ``n_steps`` uniform steps:

* ``gbm``: scalar geometric Brownian motion ``dX = 0.5 X dt + 0.8 X dW``, ``X0 = 1``,
  float64, 10^6 paths x 1000 steps;
* ``ou``: scalar Ornstein–Uhlenbeck ``dX = 2 (1 - X) dt + 0.7 dW`` (additive noise),
  ``X0 = 0``, float64, 10^6 paths x 1000 steps;
* ``nonlinear32``: a 32-dimensional nonlinear diagonal SDE
  ``dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i``, ``X0_i`` evenly spaced in
  ``[-1, 1]``, float64, 10^5 paths x 500 steps;
* ``gbm32``: the GBM above in float32, 10^6 paths x 1000 steps.

Rows (contenders), all solving the same problem on the same grid:

* ``sdekit numba`` / ``sdekit numpy``: ``sk.solve(..., method="euler_maruyama", seed=0)``
  with ``backend="numba"`` / ``"numpy"`` (plain Python drift and diffusion);
* ``numpy loop``: a hand-written in-place NumPy loop with preallocated buffers and
  ``Generator.standard_normal(out=...)`` — the baseline every ratio refers to;
* ``torch loop``: the same loop in torch on the CPU (``torch.randn(..., generator=, out=)``,
  in-place ops, a seeded ``torch.Generator``);
* ``torchsde`` / ``torchsde (plain increments)``: ``torchsde.sdeint(method="euler")`` with
  its default Brownian object (``BrownianInterval``) and with a Brownian object that
  returns fresh ``torch.randn`` increments; torchsde is slow, so it runs on a fraction
  of the paths and steps (``torchsde_fraction``) and only ns per path-step compare;
* floors: ``sdekit generator`` (``sdekit.backends.numba_kernel.generator_floor``: the
  Brownian increments a seed-only solve draws, nothing else) and ``numpy generator``
  (``standard_normal`` into a preallocated buffer, the same number of normals).

Every row is warmed up once (full paths, a few steps; the Numba compile time of
that first call is reported separately), then timed in ``reps`` interleaved
repetitions (round-robin over the rows, so load changes hit every row); the
table shows medians in ns per path-step (one path advanced one step, all its
components) and the speed relative to the NumPy loop of the same run.

Run ``sdekit bench`` (or ``make bench``, or ``python benchmarks/cpu.py``); see
:func:`main` for the options.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PROBLEMS", "ROWS", "Problem", "problem_sizes", "machine_info", "run_benchmarks", "acceptance",
           "format_table", "render_markdown", "write_outputs", "main"]

#: Row names, in table order. "numpy loop" is the baseline of every ratio.
ROWS = ("sdekit numba", "sdekit numpy", "numpy loop", "torch loop", "torchsde", "torchsde (plain increments)",
        "sdekit generator", "numpy generator")
BASELINE = "numpy loop"
FLOORS = ("sdekit generator", "numpy generator")
TORCHSDE_ROWS = ("torchsde", "torchsde (plain increments)")

DEFAULT_JSON = os.path.join("benchmarks", "results", "cpu.json")
DEFAULT_MARKDOWN = os.path.join("docs", "benchmarks.md")

# Acceptance targets of issue 3 (computed from one run's medians).
TARGET_SPEEDUP = 2.0
TARGET_FLOOR = 1.5

GBM_MU, GBM_SIGMA = 0.5, 0.8
OU_THETA, OU_MEAN, OU_SIGMA = 2.0, 1.0, 0.7
NL_SIGMA = 0.5


# --- the problems' drift and diffusion (module level, plain NumPy: what a user writes) ---

def _gbm_drift(t, x):
    return 0.5 * x


def _gbm_diffusion(t, x):
    return 0.8 * x


def _ou_drift(t, x):
    return 2.0 * (1.0 - x)


def _ou_diffusion(t, x):
    return 0.7 + 0.0 * x


def _nl_drift(t, x):
    return -x ** 3 + np.sin(x)


def _nl_diffusion(t, x):
    return 0.5 * (1.0 + 0.1 * np.cos(x))


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: an SDE, its initial state, full sizes and its hand-written loops.

    ``kind`` selects the hand-written loops (``"gbm"``, ``"ou"`` or ``"nonlinear"``).

    Example
    -------
    >>> from sdekit.bench import PROBLEMS
    >>> p = PROBLEMS["nonlinear32"]
    >>> p.dim, p.dtype, p.paths, p.steps
    (32, 'float64', 100000, 500)
    >>> p.x0().shape
    (32,)
    """

    name: str
    title: str
    equation: str
    kind: str
    dim: int
    dtype: str
    paths: int
    steps: int
    additive: bool = False
    notes: str = ""

    def x0(self):
        """The initial state as a ``(dim,)`` array of the problem's dtype."""
        if self.kind == "gbm":
            return np.ones(self.dim, dtype=self.dtype)
        if self.kind == "ou":
            return np.zeros(self.dim, dtype=self.dtype)
        return np.linspace(-1.0, 1.0, self.dim).astype(self.dtype)

    def sde(self):
        """The problem as an :class:`sdekit.SDE` with plain NumPy drift and diffusion."""
        import sdekit as sk

        f, g = {"gbm": (_gbm_drift, _gbm_diffusion), "ou": (_ou_drift, _ou_diffusion),
                "nonlinear": (_nl_drift, _nl_diffusion)}[self.kind]
        return sk.SDE(f, g, additive=self.additive)


PROBLEMS = {
    "gbm": Problem("gbm", "Scalar GBM, float64", "dX = 0.5 X dt + 0.8 X dW, X0 = 1", "gbm", 1, "float64",
                   1_000_000, 1000),
    "ou": Problem("ou", "Ornstein–Uhlenbeck, float64", "dX = 2 (1 - X) dt + 0.7 dW, X0 = 0 (additive noise)", "ou",
                  1, "float64", 1_000_000, 1000, additive=True),
    "nonlinear32": Problem("nonlinear32", "32-dimensional nonlinear diagonal SDE, float64",
                           "dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i, X0_i evenly spaced in [-1, 1]",
                           "nonlinear", 32, "float64", 100_000, 500),
    "gbm32": Problem("gbm32", "Scalar GBM, float32", "dX = 0.5 X dt + 0.8 X dW, X0 = 1 (float32 state)", "gbm", 1,
                     "float32", 1_000_000, 1000),
}

QUICK_SIZES = {"gbm": (4000, 16), "ou": (4000, 16), "nonlinear32": (500, 8), "gbm32": (4000, 16)}


def problem_sizes(problem, *, quick=False, scale=1.0, paths=None, steps=None, torchsde_fraction=0.1):
    """Sizes of one problem's run: ``(paths, steps, torchsde_paths, torchsde_steps)``.

    ``quick`` uses tiny sizes (tests, CI) and runs torchsde at those sizes too;
    ``scale`` multiplies the number of steps (the paths, hence the memory traffic
    of one step, stay as at full size, so ns per path-step stay comparable);
    ``paths`` / ``steps`` override both; torchsde gets ``torchsde_fraction`` of
    the paths and of the steps (at least 20 steps, or all of them if fewer).

    Example
    -------
    >>> from sdekit.bench import PROBLEMS, problem_sizes
    >>> problem_sizes(PROBLEMS["gbm"])
    (1000000, 1000, 100000, 100)
    >>> problem_sizes(PROBLEMS["gbm"], scale=0.1)
    (1000000, 100, 100000, 20)
    >>> problem_sizes(PROBLEMS["nonlinear32"], quick=True)
    (500, 8, 500, 8)
    """
    if quick:
        n, k = QUICK_SIZES.get(problem.name, (1000, 8))
        frac = 1.0
    else:
        n, k = problem.paths, max(4, int(round(problem.steps * scale)))
        frac = torchsde_fraction
    n = int(paths) if paths is not None else n
    k = int(steps) if steps is not None else k
    # torchsde's per-solve setup would dominate a handful of steps: at least min(k, 20) steps
    return n, k, max(1, int(round(n * frac))), max(min(k, 20), int(round(k * frac)))


# --- rows: each returns a callable run(n, steps) -> dict (optionally "stats", "mean") ---

def _mean(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()) if x.size else float("nan")


def _sdekit_row(problem, backend):
    import sdekit as sk

    sde, x0 = problem.sde(), problem.x0()

    def run(n, steps):
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=steps, n_paths=n, seed=0, backend=backend,
                       method="euler_maruyama", dtype=problem.dtype)
        return {"stats": dict(sol.stats), "mean": _mean(sol.ys[-1])}

    return run


def _numpy_loop(problem):
    dtype = np.dtype(problem.dtype)

    def run(n, steps):
        rng = np.random.default_rng(0)
        x = np.empty((n, problem.dim), dtype=dtype)
        x[...] = problem.x0()
        dw = np.empty_like(x)
        dt = 1.0 / steps
        sq = math.sqrt(dt)
        if problem.kind == "gbm":
            a, b = dtype.type(GBM_SIGMA * sq), dtype.type(GBM_MU * dt)
            for _ in range(steps):  # x += mu x dt + sigma x dW
                rng.standard_normal(out=dw, dtype=dtype)
                dw *= a
                dw += b
                dw *= x
                x += dw
        elif problem.kind == "ou":
            a, b, c = dtype.type(OU_SIGMA * sq), dtype.type(OU_THETA * OU_MEAN * dt), dtype.type(1.0 - OU_THETA * dt)
            for _ in range(steps):  # x += theta (m - x) dt + sigma dW
                rng.standard_normal(out=dw, dtype=dtype)
                dw *= a
                dw += b
                x *= c
                x += dw
        else:
            fx, gx = np.empty_like(x), np.empty_like(x)
            a, b = dtype.type(0.1 * NL_SIGMA * sq), dtype.type(NL_SIGMA * sq)
            for _ in range(steps):  # x += (-x^3 + sin x) dt + sigma (1 + 0.1 cos x) dW
                np.sin(x, out=fx)
                np.multiply(x, x, out=gx)
                gx *= x
                fx -= gx
                fx *= dtype.type(dt)
                np.cos(x, out=gx)
                gx *= a
                gx += b
                rng.standard_normal(out=dw, dtype=dtype)
                dw *= gx
                x += fx
                x += dw
        return {"mean": _mean(x)}

    return run


def _torch_loop(problem):
    import torch

    dtype = getattr(torch, problem.dtype)

    def run(n, steps):
        gen = torch.Generator().manual_seed(0)
        x = torch.empty((n, problem.dim), dtype=dtype)
        x.copy_(torch.from_numpy(problem.x0()))
        dw = torch.empty_like(x)
        dt = 1.0 / steps
        sq = math.sqrt(dt)
        shape = tuple(x.shape)
        with torch.no_grad():
            if problem.kind == "gbm":
                for _ in range(steps):
                    torch.randn(shape, generator=gen, out=dw)
                    dw.mul_(GBM_SIGMA * sq).add_(GBM_MU * dt).mul_(x)
                    x.add_(dw)
            elif problem.kind == "ou":
                for _ in range(steps):
                    torch.randn(shape, generator=gen, out=dw)
                    dw.mul_(OU_SIGMA * sq).add_(OU_THETA * OU_MEAN * dt)
                    x.mul_(1.0 - OU_THETA * dt).add_(dw)
            else:
                fx, gx = torch.empty_like(x), torch.empty_like(x)
                for _ in range(steps):
                    torch.sin(x, out=fx)
                    torch.mul(x, x, out=gx)
                    gx.mul_(x)
                    fx.sub_(gx).mul_(dt)
                    torch.cos(x, out=gx)
                    gx.mul_(0.1 * NL_SIGMA * sq).add_(NL_SIGMA * sq)
                    torch.randn(shape, generator=gen, out=dw)
                    dw.mul_(gx)
                    x.add_(fx).add_(dw)
        return {"mean": _mean(x.numpy())}

    return run


def _torchsde_module(problem):
    import torch

    kind = problem.kind

    class Module(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            if kind == "gbm":
                return GBM_MU * y
            if kind == "ou":
                return OU_THETA * (OU_MEAN - y)
            return -y ** 3 + torch.sin(y)

        def g(self, t, y):
            if kind == "gbm":
                return GBM_SIGMA * y
            if kind == "ou":
                return torch.full_like(y, OU_SIGMA)
            return NL_SIGMA * (1.0 + 0.1 * torch.cos(y))

    return Module()


def _plain_brownian(shape, dtype, seed=0):
    """A torchsde Brownian object returning fresh ``torch.randn`` increments (no tree, no cache)."""
    import torch
    from torchsde._brownian import BaseBrownian

    class PlainIncrements(BaseBrownian):
        def __init__(self):
            super().__init__()
            self._gen = torch.Generator().manual_seed(seed)

        def __call__(self, ta, tb=None, return_U=False, return_A=False):
            if tb is None:
                raise NotImplementedError("plain increments have no W(t)")
            h = float(tb) - float(ta)
            return torch.randn(shape, generator=self._gen, dtype=dtype).mul_(math.sqrt(h))

        def __repr__(self):
            return "PlainIncrements"

        shape = property(lambda self: shape)
        dtype = property(lambda self: dtype)
        device = property(lambda self: torch.device("cpu"))
        levy_area_approximation = property(lambda self: "none")

    return PlainIncrements()


def _torchsde_row(problem, plain):
    import torch
    import torchsde

    module = _torchsde_module(problem)
    dtype = getattr(torch, problem.dtype)

    def run(n, steps):
        y0 = torch.from_numpy(problem.x0()).to(dtype).expand(n, problem.dim).clone()
        ts = torch.tensor([0.0, 1.0], dtype=dtype)
        bm = _plain_brownian((n, problem.dim), dtype) if plain else None
        with torch.no_grad():
            ys = torchsde.sdeint(module, y0, ts, method="euler", dt=1.0 / steps, bm=bm)
        return {"mean": _mean(ys[-1].numpy())}

    return run


def _sdekit_generator_row(problem):
    # The fused kernel's own draws (float64 tree, as every solve builds it); ImportError without Numba.
    from sdekit.backends.numba_kernel import generator_floor

    def run(n, steps):
        generator_floor(n, steps, problem.dim, seed=0)
        return {}

    return run


def _numpy_generator(problem):
    dtype = np.dtype(problem.dtype)

    def run(n, steps):
        rng = np.random.default_rng(0)
        buf = np.empty((n, problem.dim), dtype=dtype)
        for _ in range(steps):
            rng.standard_normal(out=buf, dtype=dtype)
        return {}

    return run


_MAKERS = {
    "sdekit numba": lambda p: _sdekit_row(p, "numba"),
    "sdekit numpy": lambda p: _sdekit_row(p, "numpy"),
    "numpy loop": _numpy_loop,
    "torch loop": _torch_loop,
    "torchsde": lambda p: _torchsde_row(p, plain=False),
    "torchsde (plain increments)": lambda p: _torchsde_row(p, plain=True),
    "sdekit generator": _sdekit_generator_row,
    "numpy generator": _numpy_generator,
}


# --- machine ---

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - a missing or broken optional package is reported, not raised
        return None


def _git_revision():
    """``git describe --always --dirty`` of the sdekit checkout, or None (installed package, no git)."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=here, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info():
    """Describe the machine and software: CPU model, cores, threads, versions, date.

    Example
    -------
    >>> from sdekit.bench import machine_info
    >>> info = machine_info()
    >>> sorted(k for k in ("cpu", "cores", "numba_threads", "numpy", "date") if k in info)
    ['cores', 'cpu', 'date', 'numba_threads', 'numpy']
    """
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "torch": _version("torch"),
        "torchsde": _version("torchsde"),
        "sdekit": _version("sdekit"),
        "sdekit_git": _git_revision(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_start": _loadavg(),
    }
    try:
        import numba

        info["numba_threads"] = numba.get_num_threads()
    except ImportError:
        info["numba_threads"] = None
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch_threads"] = None
    try:
        import sdekit.backends.numba_kernel  # noqa: F401

        info["fused_kernel"] = True
    except ImportError:
        info["fused_kernel"] = False
    return info


# --- the run ---

def _log(progress, msg):
    if progress:
        print(msg, file=sys.stderr, flush=True)


def _time(fn, n, steps, collect=True):
    if collect:  # outside the timed window; about 0.2 s with torch and Numba loaded, so not in quick mode
        gc.collect()
    t = time.perf_counter()
    out = fn(n, steps) or {}
    return time.perf_counter() - t, out


def run_benchmarks(*, quick=False, scale=1.0, paths=None, steps=None, reps=3, problems=None, rows=None,
                   torchsde_fraction=0.1, progress=False):
    """Run the benchmark suite and return the results as a JSON-ready dict.

    Parameters
    ----------
    quick : bool
        Tiny sizes (seconds in all; for tests and CI), torchsde at the same sizes.
    scale : float
        Multiplies every problem's number of steps (see :func:`problem_sizes`).
    paths, steps : int, optional
        Override every problem's paths / steps.
    reps : int
        Interleaved timed repetitions (at least 3 for the medians issue 3 asks for).
    problems, rows : sequence of str, optional
        Subsets of :data:`PROBLEMS` and :data:`ROWS` (default: all).
    torchsde_fraction : float
        Fraction of the paths and of the steps torchsde runs on (not in quick mode).
    progress : bool
        Log each timing to stderr.

    Returns
    -------
    dict with ``machine``, ``config``, ``problems`` (each with its ``rows``: median
    seconds, ns per path-step, speed relative to the NumPy loop, or ``missing``
    with the reason) and ``acceptance`` (see :func:`acceptance`).

    Example
    -------
    >>> from sdekit.bench import run_benchmarks
    >>> res = run_benchmarks(quick=True, problems=["gbm"], rows=["numpy loop", "numpy generator"])
    >>> [r["name"] for r in res["problems"][0]["rows"]]
    ['numpy loop', 'numpy generator']
    >>> res["problems"][0]["rows"][0]["speed_vs_numpy_loop"]
    1.0
    """
    if reps < 1:
        raise ValueError("reps must be at least 1")
    names = list(problems) if problems else list(PROBLEMS)
    unknown = [p for p in names if p not in PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; choose from {list(PROBLEMS)}")
    row_names = list(rows) if rows else list(ROWS)
    unknown = [r for r in row_names if r not in _MAKERS]
    if unknown:
        raise ValueError(f"unknown row(s) {unknown}; choose from {list(ROWS)}")
    row_names = [r for r in ROWS if r in row_names]  # table order
    full = not quick and scale == 1.0 and paths is None and steps is None
    result = {
        "schema": 1,
        "machine": machine_info(),
        "config": {"quick": bool(quick), "scale": scale, "paths": paths, "steps": steps, "reps": reps,
                   "torchsde_fraction": 1.0 if quick else torchsde_fraction, "full_scale": full},
        "problems": [],
    }
    for pname in names:
        problem = PROBLEMS[pname]
        n, k, nt, kt = problem_sizes(problem, quick=quick, scale=scale, paths=paths, steps=steps,
                                     torchsde_fraction=torchsde_fraction)
        entries = {}
        for rname in row_names:
            size = (nt, kt) if rname in TORCHSDE_ROWS else (n, k)
            entry = {"name": rname, "paths": size[0], "steps": size[1], "times_s": []}
            try:
                entry["_fn"] = _MAKERS[rname](problem)
            except (ImportError, AttributeError) as e:
                entry["missing"] = f"{type(e).__name__}: {e}"
                _log(progress, f"[{pname}] {rname}: missing ({entry['missing']})")
            entries[rname] = entry
        # warm-up: every row once, full paths and a few steps (compiles, allocates, fills caches)
        for rname, entry in entries.items():
            if "_fn" not in entry:
                continue
            try:
                wall, out = _time(entry["_fn"], entry["paths"], min(entry["steps"], 8), not quick)
            except Exception as e:  # noqa: BLE001 - one failing contender must not stop the suite
                entry.pop("_fn")
                entry["missing"] = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                _log(progress, f"[{pname}] {rname}: {entry['missing']}")
                continue
            entry["first_call_s"] = wall
            ct = (out.get("stats") or {}).get("compile_time")
            if ct is not None:
                entry["compile_time_s"] = float(ct)
            _log(progress, f"[{pname}] warm-up {rname}: {wall:.3f} s")
        # interleaved repetitions: round-robin over the rows
        for rep in range(reps):
            for rname, entry in entries.items():
                if "_fn" not in entry:
                    continue
                try:
                    wall, out = _time(entry["_fn"], entry["paths"], entry["steps"], not quick)
                except Exception as e:  # noqa: BLE001
                    entry.pop("_fn")
                    entry["missing"] = f"failed: {type(e).__name__}: {e}"
                    continue
                entry["times_s"].append(wall)
                if "mean" in out:
                    entry["mean_x1"] = out["mean"]
                ct = (out.get("stats") or {}).get("compile_time")
                if ct is not None:
                    entry.setdefault("compile_time_in_timed_s", []).append(float(ct))
                _log(progress, f"[{pname}] rep {rep + 1}/{reps} {rname}: {wall:.3f} s")
        rows_out = []
        for rname, entry in entries.items():
            entry.pop("_fn", None)
            if "missing" not in entry and entry["times_s"]:
                med = statistics.median(entry["times_s"])
                entry["median_s"] = med
                entry["ns_per_path_step"] = med / (entry["paths"] * entry["steps"]) * 1e9
            else:
                entry.setdefault("missing", "not run")
                entry["times_s"] = []
            rows_out.append(entry)
        base = entries.get(BASELINE, {}).get("ns_per_path_step")
        gen = entries.get("sdekit generator", {}).get("ns_per_path_step")
        for entry in rows_out:
            ns = entry.get("ns_per_path_step")
            entry["speed_vs_numpy_loop"] = (base / ns) if (ns and base) else None
            entry["time_vs_sdekit_generator"] = (ns / gen) if (ns and gen) else None
        result["problems"].append({
            "name": problem.name, "title": problem.title, "equation": problem.equation, "dim": problem.dim,
            "dtype": problem.dtype, "paths": n, "steps": k, "torchsde_paths": nt, "torchsde_steps": kt,
            "rows": rows_out,
        })
    result["machine"]["loadavg_end"] = _loadavg()
    result["acceptance"] = acceptance(result)
    return result


def _row(problem_result, name):
    for r in problem_result["rows"]:
        if r["name"] == name:
            return r
    return None


def acceptance(results):
    """The acceptance targets of issue 3, computed from one run's medians.

    * ``sdekit numba`` at least 2x faster than the NumPy loop on scalar GBM float64;
    * the same on the 32-dimensional problem;
    * ``sdekit numba`` within 1.5x of the ``sdekit generator`` floor on scalar GBM float64.

    Each entry has ``target``, ``problem``, ``value``, ``threshold`` and ``passed``
    (``None`` when a row or problem was not measured).

    Example
    -------
    >>> from sdekit.bench import acceptance
    >>> res = {"problems": [{"name": "gbm", "rows": [
    ...     {"name": "sdekit numba", "ns_per_path_step": 4.0, "speed_vs_numpy_loop": 2.5,
    ...      "time_vs_sdekit_generator": 1.2}]}]}
    >>> [(a["problem"], a["passed"]) for a in acceptance(res)]
    [('gbm', True), ('nonlinear32', None), ('gbm', True)]
    """
    by_name = {p["name"]: p for p in results.get("problems", [])}
    specs = [
        ("sdekit numba >= 2x the hand-written NumPy loop (scalar GBM, float64)", "gbm", "speed_vs_numpy_loop",
         TARGET_SPEEDUP, "ge"),
        ("sdekit numba >= 2x the hand-written NumPy loop (32-dim nonlinear, float64)", "nonlinear32",
         "speed_vs_numpy_loop", TARGET_SPEEDUP, "ge"),
        ("sdekit numba within 1.5x of sdekit's generator floor (scalar GBM, float64)", "gbm",
         "time_vs_sdekit_generator", TARGET_FLOOR, "le"),
    ]
    out = []
    for target, pname, key, threshold, op in specs:
        row = _row(by_name[pname], "sdekit numba") if pname in by_name else None
        value = row.get(key) if row else None
        passed = None if value is None else (value >= threshold if op == "ge" else value <= threshold)
        out.append({"target": target, "problem": pname, "metric": key, "value": value, "threshold": threshold,
                    "passed": passed})
    return out


# --- output ---

def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def _ns(v):
    return f"{v:.0f}" if v >= 100 else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def _verdict(p):
    return "not measured" if p is None else ("PASS" if p else "FAIL")


def format_table(results):
    """The results as plain-text tables, one per problem, plus the acceptance lines.

    Example
    -------
    >>> from sdekit.bench import format_table
    >>> res = {"machine": {}, "config": {"reps": 3}, "acceptance": [], "problems": [{
    ...     "name": "gbm", "title": "Scalar GBM, float64", "equation": "dX = ...", "paths": 10, "steps": 4,
    ...     "rows": [{"name": "numpy loop", "paths": 10, "steps": 4, "median_s": 4e-7,
    ...               "ns_per_path_step": 10.0, "speed_vs_numpy_loop": 1.0}]}]}
    >>> print(format_table(res))  # doctest: +NORMALIZE_WHITESPACE
    gbm: Scalar GBM, float64 -- dX = ...; 10 paths x 4 steps, median of 3
      row                              ns/path-step  speed vs numpy loop  vs sdekit generator  median s
      numpy loop                              10.00                1.00x                    —  4e-07
    """
    lines = []
    reps = results.get("config", {}).get("reps")
    for p in results["problems"]:
        lines.append(f"{p['name']}: {p['title']} -- {p['equation']}; {p['paths']:,} paths x {p['steps']:,} steps, "
                     f"median of {reps}")
        lines.append(f"  {'row':30s} {'ns/path-step':>14s} {'speed vs numpy loop':>20s} "
                     f"{'vs sdekit generator':>20s}  median s")
        for r in p["rows"]:
            name = r["name"]
            if r.get("missing"):
                lines.append(f"  {name:30s} {'missing':>14s}  ({r['missing']})")
                continue
            speed = r.get("speed_vs_numpy_loop")
            gen = r.get("time_vs_sdekit_generator")
            extra = ""
            if (r["paths"], r["steps"]) != (p["paths"], p["steps"]):
                extra += f"  [{r['paths']:,} paths x {r['steps']:,} steps]"
            if r.get("compile_time_s") is not None:
                extra += f"  [first-call compile {r['compile_time_s']:.2f} s]"
            speed_s = "—" if speed is None else f"{speed:.2f}x"
            gen_s = "—" if gen is None else f"{gen:.2f}x"
            lines.append(f"  {name:30s} {r['ns_per_path_step']:14.2f} {speed_s:>20s} {gen_s:>20s}  "
                         f"{r['median_s']:.3g}{extra}")
        lines.append("")
    for a in results.get("acceptance", []):
        lines.append(f"{_verdict(a['passed']):12s} {a['target']}: {_fmt(a['value'], '.2f')} "
                     f"(threshold {a['threshold']})")
    return "\n".join(lines).rstrip()


def _command_line(results):
    c = results.get("config", {})
    if c.get("quick"):
        return "sdekit bench --quick"
    parts = ["sdekit bench"]
    if c.get("scale", 1.0) != 1.0:
        parts.append(f"--scale {c['scale']}")
    if c.get("paths") is not None:
        parts.append(f"--paths {c['paths']}")
    if c.get("steps") is not None:
        parts.append(f"--steps {c['steps']}")
    if c.get("reps", 3) != 3:
        parts.append(f"--reps {c['reps']}")
    if c.get("torchsde_fraction", 0.1) != 0.1:
        parts.append(f"--torchsde-fraction {c['torchsde_fraction']}")
    return " ".join(parts)


def render_markdown(results, *, json_path=None):
    """``docs/benchmarks.md`` written from the results: machine, acceptance, one table per problem.

    Example
    -------
    >>> from sdekit.bench import render_markdown
    >>> res = {"machine": {"cpu": "Some CPU", "cores": 2}, "config": {"reps": 3, "full_scale": True},
    ...        "acceptance": [], "problems": [{
    ...     "name": "gbm", "title": "Scalar GBM, float64", "equation": "dX = ...", "paths": 10, "steps": 4,
    ...     "rows": [{"name": "numpy loop", "paths": 10, "steps": 4, "median_s": 4e-7,
    ...               "ns_per_path_step": 10.0, "speed_vs_numpy_loop": 1.0}]}]}
    >>> md = render_markdown(res)
    >>> "| numpy loop | 10.0 | 1.00× |" in md
    True
    """
    m, c = results.get("machine", {}), results.get("config", {})
    out = ["# Benchmarks", "",
           "<!-- Generated by `sdekit bench` (sdekit/bench.py) from its JSON results; edit the generator, not this "
           "page. -->", "",
           "CPU benchmarks of issue 3: Euler–Maruyama, `sdekit` against a hand-written in-place NumPy loop, "
           "a hand-written torch loop, torchsde, and the cost of the random numbers alone. "
           "The torch backend (float32, CPU and GPU) is benchmarked in [Benchmarks: torch backend]"
           "(benchmarks-torch.md); diffusion samplers (quality against score evaluations) in "
           "[diffusion models](diffusion.md).", ""]
    if not c.get("full_scale", False):
        out += ["> **Reduced scale.** These numbers come from a run smaller than the full sizes of issue 3 "
                f"(`{_command_line(results)}`); the acceptance verdicts below are indicative only. "
                "Re-run `make bench` for the full sizes.", ""]
    if not m.get("fused_kernel", True):
        out += ["> **Numba backend: first stage.** This run predates the fused Numba kernel "
                "(`sdekit.backends.numba_kernel` was not importable): `backend=\"numba\"` ran the shared "
                "NumPy loop with compiled user functions, and the `sdekit generator` floor was not available.", ""]
    out += ["## Acceptance (issue 3)", "",
            "| target | value | threshold | result |", "|---|---:|---:|---|"]
    for a in results.get("acceptance", []):
        unit = "× faster" if a["metric"] == "speed_vs_numpy_loop" else "× the floor's time"
        val = "—" if a["value"] is None else f"{a['value']:.2f}{unit}"
        op = "≥" if a["metric"] == "speed_vs_numpy_loop" else "≤"
        out.append(f"| {a['target']} | {val} | {op} {a['threshold']} | **{_verdict(a['passed'])}** |")
    out += ["", "## Machine", ""]
    load = ", ".join(str(x) for x in (m.get("loadavg_start") or [])) or "?"
    load_end = ", ".join(str(x) for x in (m.get("loadavg_end") or [])) or "?"
    out += [f"- CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores "
            f"({m.get('cores_available', m.get('cores', '?'))} available to the run); "
            f"load average {load} at the start, {load_end} at the end",
            f"- threads: Numba {m.get('numba_threads', '?')}, torch {m.get('torch_threads', '?')}",
            f"- Python {m.get('python', '?')}, NumPy {m.get('numpy', '?')}, Numba {m.get('numba', '?')}, "
            f"torch {m.get('torch', '?')}, torchsde {m.get('torchsde', '?')}, sdekit {m.get('sdekit', '?')}"
            + (f" (git {m['sdekit_git']})" if m.get("sdekit_git") else ""),
            f"- {m.get('platform', '?')}; run on {m.get('date', '?')}",
            f"- medians of {c.get('reps', '?')} interleaved repetitions (round-robin over the rows); every ratio is "
            "between medians of the same run", ""]
    out += ["## Results", "",
            "ns per path-step = median wall time / (paths × steps): one path advanced one step, all its components. "
            "*Speed vs NumPy loop* = the NumPy loop's ns per path-step / the row's (above 1 is faster). "
            "*vs sdekit generator* = the row's time / the time sdekit's generator takes to draw the same "
            "Brownian increments (the floor of a fused solve).", ""]
    for p in results["problems"]:
        out += [f"### {p['title']}", "", f"`{p['equation']}` on [0, 1], {p['paths']:,} paths × {p['steps']:,} steps.",
                "", "| row | ns per path-step | speed vs NumPy loop | vs sdekit generator | median s | note |",
                "|---|---:|---:|---:|---:|---|"]
        for r in p["rows"]:
            if r.get("missing"):
                out.append(f"| {r['name']} | missing | — | — | — | {r['missing']} |")
                continue
            notes = []
            if (r["paths"], r["steps"]) != (p["paths"], p["steps"]):
                notes.append(f"run on {r['paths']:,} paths × {r['steps']:,} steps (slow); per path-step only")
            if r.get("compile_time_s") is not None:
                notes.append(f"first-call compile {r['compile_time_s']:.2f} s, excluded")
            if r["name"] in FLOORS:
                notes.append("floor: normals only")
            gen = r.get("time_vs_sdekit_generator")
            speed = r.get("speed_vs_numpy_loop")
            name = f"**{r['name']}**" if r["name"] == "sdekit numba" else r["name"]
            ns = r["ns_per_path_step"]
            out.append(f"| {name} | {_ns(ns)} | {_fmt(speed, '.2f')}× | "
                       f"{'—' if gen is None else format(gen, '.2f') + '×'} | {r['median_s']:.3g} | "
                       f"{'; '.join(notes)} |")
        out.append("")
    out += ["## Rows", "",
            "- **sdekit numba** / **sdekit numpy**: `sk.solve(sde, x0, (0, 1), n_steps=..., n_paths=..., seed=0, "
            "backend=..., method=\"euler_maruyama\")` with plain NumPy drift and diffusion.",
            "- **numpy loop**: hand-written, in place, preallocated buffers: "
            "`rng.standard_normal(out=dw); dw *= sigma*sqrt(dt); dw += mu*dt; dw *= x; x += dw` (GBM; likewise "
            "for the others). The baseline of every ratio.",
            "- **torch loop**: the same loop in torch on the CPU, `torch.randn(shape, generator=gen, out=dw)` "
            "from a seeded `torch.Generator`, in-place ops.",
            "- **torchsde**: `torchsde.sdeint(module, y0, [0, 1], method=\"euler\", dt=...)` with its default "
            "Brownian object (`BrownianInterval`); **torchsde (plain increments)**: the same with a Brownian "
            "object that returns fresh `torch.randn` increments. Run on "
            f"{c.get('torchsde_fraction', 0.1):g} of the paths and of the steps.",
            "- **sdekit generator**: `sdekit.backends.numba_kernel.generator_floor(n_paths, n_steps, dim, seed=0)`, "
            "the Brownian increments a seed-only solve draws (same chunking and threads), nothing else "
            "(in the generator's own precision, also for the float32 problem).",
            "- **numpy generator**: `rng.standard_normal(out=buf)` into a preallocated buffer, the same number "
            "of normals.",
            "- Every row is warmed up once (full paths, 8 steps) before timing; Numba's compile time of that first "
            "call is shown in the notes and excluded from the medians.", ""]
    out += ["## Re-running", "",
            "```sh",
            "make bench                  # = .venv/bin/sdekit bench: full sizes, several minutes",
            "sdekit bench --scale 0.1    # a tenth of the steps (same paths, same memory traffic per step)",
            "sdekit bench --quick        # tiny sizes, seconds (writes files only with --json/--markdown)",
            "python benchmarks/cpu.py    # the same, as a script",
            "```", "",
            "Options: `--problems gbm,nonlinear32`, `--rows \"sdekit numba,numpy loop\"`, `--paths N`, `--steps K`, "
            "`--reps R`, `--torchsde-fraction F`, `--json PATH`, `--markdown PATH`; "
            "`--from-json PATH --markdown docs/benchmarks.md` re-renders this page from saved results. "
            "On a shared machine, check the load average above: NumPy's loop is single-threaded, the Numba "
            "and torch rows use every core and suffer most from other work. "
            f"Raw numbers: `{json_path or DEFAULT_JSON}`.", ""]
    return "\n".join(out)


def write_outputs(results, *, json_path=None, markdown_path=None):
    """Write the JSON results and/or the Markdown page; return the paths written.

    Example
    -------
    >>> import os, tempfile
    >>> from sdekit.bench import write_outputs
    >>> res = {"machine": {}, "config": {"reps": 3, "full_scale": True}, "acceptance": [], "problems": []}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     written = write_outputs(res, json_path=os.path.join(d, "r", "cpu.json"))
    ...     [os.path.basename(p) for p in written]
    ['cpu.json']
    """
    written = []
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")
        written.append(json_path)
    if markdown_path:
        os.makedirs(os.path.dirname(os.path.abspath(markdown_path)), exist_ok=True)
        shown = os.path.relpath(json_path) if json_path else None
        if shown and shown.startswith(".."):
            shown = json_path
        with open(markdown_path, "w") as fh:
            fh.write(render_markdown(results, json_path=shown))
        written.append(markdown_path)
    return written


def build_parser(parser=None):
    """The ``sdekit bench`` options, added to ``parser`` (a new one if None)."""
    p = parser or argparse.ArgumentParser(prog="sdekit bench", description="CPU benchmark suite (issue 3).")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (seconds; for tests/CI); writes files only where --json/--markdown say")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every problem's number of steps (default 1)")
    p.add_argument("--paths", type=int, default=None, help="override every problem's number of paths")
    p.add_argument("--steps", type=int, default=None, help="override every problem's number of steps")
    p.add_argument("--reps", type=int, default=3, help="interleaved timed repetitions (default 3)")
    p.add_argument("--problems", default=None, help=f"comma-separated subset of {','.join(PROBLEMS)}")
    p.add_argument("--rows", default=None, help="comma-separated subset of the rows: " + ", ".join(ROWS))
    p.add_argument("--torchsde-fraction", type=float, default=0.1,
                   help="fraction of the paths and steps torchsde runs on (default 0.1)")
    p.add_argument("--json", default=None, help=f"JSON output path (default {DEFAULT_JSON}; '' for none)")
    p.add_argument("--markdown", default=None, help=f"Markdown output path (default {DEFAULT_MARKDOWN}; '' for none)")
    p.add_argument("--from-json", default=None, metavar="PATH",
                   help="run nothing: print and render the results of an earlier run (writes --markdown if given)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None, args=None):
    """``sdekit bench``: run the suite, print the table, write JSON and Markdown.

    Without ``--json`` / ``--markdown`` a full or scaled run writes
    ``benchmarks/results/cpu.json`` and ``docs/benchmarks.md`` under the current
    directory (the repository root for ``make bench``); ``--quick`` writes only
    the paths given. Returns 0.

    Example
    -------
    >>> from sdekit.bench import main
    >>> main(["--quick", "--problems", "gbm", "--rows", "numpy loop,numpy generator", "--quiet"])  # doctest: +ELLIPSIS
    gbm: Scalar GBM, float64 -- dX = 0.5 X dt + 0.8 X dW, X0 = 1; 4,000 paths x 16 steps, median of 3
    ...
    0
    """
    if args is None:
        args = build_parser().parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            results = json.load(fh)
        print(format_table(results))
        if args.markdown:
            os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
            with open(args.markdown, "w") as fh:
                fh.write(render_markdown(results, json_path=args.from_json))
            print(f"wrote {args.markdown}")
        return 0
    split = (lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None)
    results = run_benchmarks(quick=args.quick, scale=args.scale, paths=args.paths, steps=args.steps, reps=args.reps,
                             problems=split(args.problems), rows=split(args.rows),
                             torchsde_fraction=args.torchsde_fraction, progress=not args.quiet)
    print(format_table(results))
    json_path = args.json if args.json is not None else (None if args.quick else DEFAULT_JSON)
    md_path = args.markdown if args.markdown is not None else (None if args.quick else DEFAULT_MARKDOWN)
    for path in write_outputs(results, json_path=json_path or None, markdown_path=md_path or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
