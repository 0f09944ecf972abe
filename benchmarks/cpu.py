"""CPU benchmark suite of issue 3: sdekit against hand-written loops, torchsde and the generator floors.

Euler–Maruyama on four problems, each over ``[0, 1]`` with ``n_steps`` uniform steps:

* ``gbm``: scalar geometric Brownian motion ``dX = 0.5 X dt + 0.8 X dW``, ``X0 = 1``,
  float64, 10^6 paths x 1000 steps;
* ``ou``: scalar Ornstein–Uhlenbeck ``dX = 2 (1 - X) dt + 0.7 dW`` (additive noise),
  ``X0 = 0``, float64, 10^6 paths x 1000 steps;
* ``nonlinear32``: a 32-dimensional nonlinear diagonal SDE
  ``dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i``, ``X0_i`` evenly spaced in
  ``[-1, 1]``, float64, 10^5 paths x 500 steps;
* ``gbm32``: the GBM above in float32, 10^6 paths x 1000 steps.

Rows (contenders), all solving the same problem on the same grid; drift and
diffusion come from :mod:`problems` (one text for NumPy, Numba and torch):

* ``sdekit numba`` / ``sdekit numpy``: ``sk.solve(..., method="euler_maruyama", seed=0)``
  with ``backend="numba"`` / ``"numpy"`` (plain Python drift and diffusion);
* ``numpy loop``: a hand-written in-place NumPy loop with preallocated buffers and
  ``Generator.standard_normal(out=...)`` — the baseline every ratio refers to;
* ``torch loop``: the same loop in torch on the CPU (``torch.randn(..., generator=, out=)``,
  in-place ops, a seeded ``torch.Generator``);
* ``torchsde`` / ``torchsde (plain increments)``: ``torchsde.sdeint(method="euler")`` with
  its default Brownian object (``BrownianInterval``) and with :class:`PlainIncrements`,
  a Brownian object built on torchsde's public calling convention that returns fresh
  ``torch.randn`` increments; torchsde is slow, so it runs on a fraction of the paths
  and steps (``torchsde_fraction``) and only ns per path-step compare;
* floors: ``sdekit generator`` (``sdekit.backends.numba_launch.generator_floor``: the
  Brownian increments a seed-only solve draws, nothing else) and ``numpy generator``
  (``standard_normal`` into a preallocated buffer, the same number of normals).

Every row is warmed up once (full paths, a few steps; the Numba compile time of
that first call is reported separately), then timed in ``reps`` interleaved
repetitions (:func:`harness.interleaved`); the table shows medians in ns per
path-step (one path advanced one step, all its components) and the speed
relative to the NumPy loop of the same run. The acceptance targets of issue 3
live here (:func:`acceptance`), not in the library.

Run ``python benchmarks/cpu.py`` (or ``sdekit bench cpu``, or ``make bench``); see
:func:`main` for the options.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass

import numpy as np

import harness
from problems import FUNCTIONS, GBM_MU, GBM_SIGMA, NL_SIGMA, OU_MEAN, OU_SIGMA, OU_THETA

__all__ = ["PROBLEMS", "ROWS", "Problem", "PlainIncrements", "TorchsdeModule", "problem_sizes", "machine_info",
           "run_benchmarks", "acceptance", "format_table", "render_section", "main"]

#: Row names, in table order. "numpy loop" is the baseline of every ratio.
ROWS = ("sdekit numba", "sdekit numpy", "numpy loop", "torch loop", "torchsde", "torchsde (plain increments)",
        "sdekit generator", "numpy generator")
BASELINE = "numpy loop"
FLOORS = ("sdekit generator", "numpy generator")
TORCHSDE_ROWS = ("torchsde", "torchsde (plain increments)")

TITLE = "sdekit against hand-written loops and torchsde (issue 3 suite)"
DEFAULT_JSON = os.path.join(harness.RESULTS, "cpu.json")
DEFAULT_MARKDOWN = os.path.join(harness.DOCS, "benchmarks.md")

# Acceptance targets of issue 3 (computed from one run's medians).
TARGET_SPEEDUP = 2.0
TARGET_FLOOR = 1.5

@dataclass(frozen=True)
class Problem:
    """One benchmark problem: an SDE, its initial state, full sizes and its hand-written loops.

    ``kind`` selects the hand-written loops (``"gbm"``, ``"ou"`` or ``"nonlinear"``).

    Example
    -------
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
        """The problem as an :class:`sdekit.SDE` with plain NumPy drift and diffusion (from :mod:`problems`)."""
        import sdekit as sk

        return sk.SDE(*self.functions(np), additive=self.additive)

    def functions(self, m):
        """``(drift, diffusion)`` written with the array namespace ``m`` (numpy, torch)."""
        return FUNCTIONS[self.kind](m)


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


class TorchsdeModule:
    """A torchsde SDE (``f``, ``g``, ``noise_type``, ``sde_type``) calling the given torch functions.

    A plain object: torchsde asks only for these four names.
    """

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, drift, diffusion):
        self._drift, self._diffusion = drift, diffusion

    def f(self, t, y):
        return self._drift(t, y)

    def g(self, t, y):
        return self._diffusion(t, y)


class PlainIncrements:
    """A Brownian object for ``torchsde.sdeint(bm=...)`` that returns fresh ``torch.randn`` increments.

    No tree and no cache: each call ``bm(ta, tb)`` draws ``sqrt(tb - ta) N(0, I)``
    of ``shape`` from a seeded ``torch.Generator`` (valid for a solver that asks
    for each step's increment once, as fixed-step Euler does). Built on
    torchsde's public calling convention only (``__call__(ta, tb)``, ``shape``,
    ``dtype``, ``device``, ``levy_area_approximation``), no private module.

    Example
    -------
    >>> import torch
    >>> bm = PlainIncrements((4, 2), torch.float64, seed=0)
    >>> tuple(bm(0.0, 0.25).shape), bm.levy_area_approximation
    ((4, 2), 'none')
    """

    levy_area_approximation = "none"

    def __init__(self, shape, dtype, seed=0):
        import torch

        self.shape, self.dtype, self.device = tuple(shape), dtype, torch.device("cpu")
        self._gen = torch.Generator().manual_seed(seed)

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        import torch

        if tb is None or return_U or return_A:
            raise NotImplementedError("plain increments give W(tb) - W(ta) only (no W(t), no Levy area)")
        h = float(tb) - float(ta)
        return torch.randn(self.shape, generator=self._gen, dtype=self.dtype).mul_(math.sqrt(h))

    def __repr__(self):
        return f"PlainIncrements(shape={self.shape})"


def _torchsde_row(problem, plain):
    import torch
    import torchsde

    module = TorchsdeModule(*problem.functions(torch))
    dtype = getattr(torch, problem.dtype)

    def run(n, steps):
        y0 = torch.from_numpy(problem.x0()).to(dtype).expand(n, problem.dim).clone()
        ts = torch.tensor([0.0, 1.0], dtype=dtype)
        bm = PlainIncrements((n, problem.dim), dtype) if plain else None
        with torch.no_grad():
            ys = torchsde.sdeint(module, y0, ts, method="euler", dt=1.0 / steps, bm=bm)
        return {"mean": _mean(ys[-1].numpy())}

    return run


def _sdekit_generator_row(problem):
    # The fused kernel's own draws (float64 tree, as every solve builds it); ImportError without Numba.
    from sdekit.backends.numba_launch import generator_floor

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

def machine_info():
    """:func:`harness.machine_info` plus ``fused_kernel``: whether sdekit's fused Numba kernel is importable.

    Example
    -------
    >>> info = machine_info()
    >>> sorted(k for k in ("cpu", "cores", "numba_threads", "numpy", "date", "fused_kernel") if k in info)
    ['cores', 'cpu', 'date', 'fused_kernel', 'numba_threads', 'numpy']
    """
    info = harness.machine_info()
    try:
        import sdekit.backends.numba_kernel  # noqa: F401

        info["fused_kernel"] = True
    except ImportError:
        info["fused_kernel"] = False
    return info


# --- the run ---

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
    log = harness.logger(progress)
    collect = not quick  # gc.collect costs about 0.2 s with torch and Numba loaded: not at tiny sizes
    result = {
        "schema": 2,
        "suite": "cpu",
        "machine": machine_info(),
        "config": {"quick": bool(quick), "scale": scale, "paths": paths, "steps": steps, "reps": reps,
                   "torchsde_fraction": 1.0 if quick else torchsde_fraction, "full_scale": full},
        "problems": [],
    }
    for pname in names:
        problem = PROBLEMS[pname]
        n, k, nt, kt = problem_sizes(problem, quick=quick, scale=scale, paths=paths, steps=steps,
                                     torchsde_fraction=torchsde_fraction)
        entries, fns = {}, {}
        for rname in row_names:
            size = (nt, kt) if rname in TORCHSDE_ROWS else (n, k)
            entry = entries[rname] = {"name": rname, "paths": size[0], "steps": size[1], "times_s": []}
            try:
                fns[rname] = _MAKERS[rname](problem)
            except (ImportError, AttributeError) as e:
                entry["missing"] = f"{type(e).__name__}: {e}"
                log(f"[{pname}] {rname}: missing ({entry['missing']})")
        # warm-up: every row once, full paths and a few steps (compiles, allocates, fills caches)
        for rname, fn in list(fns.items()):
            entry = entries[rname]
            try:
                wall, out = harness.timed(fn, entry["paths"], min(entry["steps"], 8), collect=collect)
            except Exception as e:  # noqa: BLE001 - one failing contender must not stop the suite
                del fns[rname]
                entry["missing"] = harness.failure(e)
                log(f"[{pname}] {rname}: {entry['missing']}")
                continue
            entry["first_call_s"] = wall
            ct = ((out or {}).get("stats") or {}).get("compile_time")
            if ct is not None:
                entry["compile_time_s"] = float(ct)
            log(f"[{pname}] warm-up {rname}: {wall:.3f} s")
        runs = harness.interleaved({r: (lambda fn=fn, e=entries[r]: fn(e["paths"], e["steps"]) or {})
                                    for r, fn in fns.items()}, reps, collect=collect,
                                   log=lambda msg: log(f"[{pname}] {msg}"))
        for rname, run in runs.items():
            entry = entries[rname]
            entry["times_s"] = run["times_s"]
            if "missing" in run:
                entry["missing"] = run["missing"]
            out = run.get("out") or {}
            if "mean" in out:
                entry["mean_x1"] = out["mean"]
            ct = (out.get("stats") or {}).get("compile_time")
            if ct is not None:
                entry["compile_time_in_timed_s"] = float(ct)
        rows_out = []
        for entry in entries.values():
            if "missing" not in entry and entry["times_s"]:
                entry.update(harness.median_row(entry["times_s"], entry["paths"], entry["steps"]))
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
    harness.finish_machine_info(result["machine"])
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

_ns = harness.fmt_ns
_fmt = harness.fmt


def _verdict(p):
    return "not measured" if p is None else ("PASS" if p else "FAIL")


def format_table(results):
    """The results as plain-text tables, one per problem, plus the acceptance lines.

    Example
    -------
    >>> res = {"machine": {}, "config": {"reps": 3}, "acceptance": [], "problems": [{
    ...     "name": "gbm", "title": "Scalar GBM, float64", "equation": "dX = ...", "paths": 10, "steps": 4,
    ...     "rows": [{"name": "numpy loop", "paths": 10, "steps": 4, "median_s": 4e-7,
    ...               "ns_per_path_step": 10.0, "speed_vs_numpy_loop": 1.0}]}]}
    >>> print(format_table(res))  # doctest: +NORMALIZE_WHITESPACE
    gbm: Scalar GBM, float64 -- dX = ...; 10 paths x 4 steps, median of 3
      row         ns/path-step  speed vs numpy loop  vs sdekit generator  median s  note
      numpy loop         10.00                1.00x                    —     4e-07
    """
    lines = []
    reps = results.get("config", {}).get("reps")
    for p in results["problems"]:
        lines.append(f"{p['name']}: {p['title']} -- {p['equation']}; {p['paths']:,} paths x {p['steps']:,} steps, "
                     f"median of {reps}")
        rows = []
        for r in p["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "", "", "", r["missing"]])
                continue
            notes = []
            if (r["paths"], r["steps"]) != (p["paths"], p["steps"]):
                notes.append(f"[{r['paths']:,} paths x {r['steps']:,} steps]")
            if r.get("compile_time_s") is not None:
                notes.append(f"[first-call compile {r['compile_time_s']:.2f} s]")
            speed, gen = r.get("speed_vs_numpy_loop"), r.get("time_vs_sdekit_generator")
            rows.append([r["name"], f"{r['ns_per_path_step']:.2f}", _fmt(speed, ".2f") + ("x" if speed else ""),
                         _fmt(gen, ".2f") + ("x" if gen else ""), f"{r['median_s']:.3g}", " ".join(notes)])
        table = harness.text_table(["row", "ns/path-step", "speed vs numpy loop", "vs sdekit generator", "median s",
                                    "note"], rows, left=(0, 5))
        lines += ["  " + line for line in table.splitlines()] + [""]
    for a in results.get("acceptance", []):
        lines.append(f"{_verdict(a['passed']):12s} {a['target']}: {_fmt(a['value'], '.2f')} "
                     f"(threshold {a['threshold']})")
    return "\n".join(lines).rstrip()


def _command_line(results):
    c = results.get("config", {})
    if c.get("quick"):
        return "python benchmarks/cpu.py --quick"
    parts = ["python benchmarks/cpu.py"]
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


def render_section(results, *, json_path=None):
    """This suite's section of ``docs/benchmarks.md``: acceptance, machine, one table per problem, rows.

    Example
    -------
    >>> res = {"machine": {"cpu": "Some CPU", "cores": 2}, "config": {"reps": 3, "full_scale": True},
    ...        "acceptance": [], "problems": [{
    ...     "name": "gbm", "title": "Scalar GBM, float64", "equation": "dX = ...", "paths": 10, "steps": 4,
    ...     "rows": [{"name": "numpy loop", "paths": 10, "steps": 4, "median_s": 4e-7,
    ...               "ns_per_path_step": 10.0, "speed_vs_numpy_loop": 1.0}]}]}
    >>> md = render_section(res)
    >>> "| numpy loop | 10.0 | 1.00× |" in md
    True
    """
    m, c = results.get("machine", {}), results.get("config", {})
    out = [f"## {TITLE}", "",
           "Euler–Maruyama at 10⁶ paths: `sdekit` against a hand-written in-place NumPy loop, "
           "a hand-written torch loop, torchsde, and the cost of the random numbers alone "
           "(`benchmarks/cpu.py`).", ""]
    if not c.get("full_scale", False):
        out += ["> **Reduced scale.** These numbers come from a run smaller than the full sizes "
                f"(`{_command_line(results)}`); the acceptance verdicts below are indicative only. "
                "Re-run `python benchmarks/cpu.py` for the full sizes.", ""]
    if not m.get("fused_kernel", True):
        out += ["> **Numba backend: first stage.** This run predates the fused Numba kernel "
                "(`sdekit.backends.numba_kernel` was not importable): `backend=\"numba\"` ran the shared "
                "NumPy loop with compiled user functions, and the `sdekit generator` floor was not available.", ""]
    if harness.busy(m):
        out += ["> **Busy machine.** The load average exceeded 0.5 during this run: the figures are indicative.",
                ""]
    acc = []
    for a in results.get("acceptance", []):
        unit = "× faster" if a["metric"] == "speed_vs_numpy_loop" else "× the floor's time"
        val = "—" if a["value"] is None else f"{a['value']:.2f}{unit}"
        op = "≥" if a["metric"] == "speed_vs_numpy_loop" else "≤"
        acc.append([a["target"], val, f"{op} {a['threshold']}", f"**{_verdict(a['passed'])}**"])
    out += ["### Acceptance (issue 3)", "",
            harness.markdown_table(["target", "value", "threshold", "result"], acc, ["l", "r", "r", "l"]), ""]
    out += ["### Machine", ""] + harness.machine_lines(m, c.get("reps", "?")) + [""]
    out += ["### Results", "",
            "ns per path-step = median wall time / (paths × steps): one path advanced one step, all its components. "
            "*Speed vs NumPy loop* = the NumPy loop's ns per path-step / the row's (above 1 is faster). "
            "*vs sdekit generator* = the row's time / the time sdekit's generator takes to draw the same "
            "Brownian increments (the floor of a fused solve).", ""]
    for p in results["problems"]:
        rows = []
        for r in p["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "—", "—", "—", r["missing"]])
                continue
            notes = []
            if (r["paths"], r["steps"]) != (p["paths"], p["steps"]):
                notes.append(f"run on {r['paths']:,} paths × {r['steps']:,} steps (slow); per path-step only")
            if r.get("compile_time_s") is not None:
                notes.append(f"first-call compile {r['compile_time_s']:.2f} s, excluded")
            if r["name"] in FLOORS:
                notes.append("floor: normals only")
            gen, speed = r.get("time_vs_sdekit_generator"), r.get("speed_vs_numpy_loop")
            name = f"**{r['name']}**" if r["name"] == "sdekit numba" else r["name"]
            rows.append([name, _ns(r["ns_per_path_step"]), f"{_fmt(speed, '.2f')}×",
                         "—" if gen is None else format(gen, ".2f") + "×", f"{r['median_s']:.3g}", "; ".join(notes)])
        out += [f"#### {p['title']}", "", f"`{p['equation']}` on [0, 1], {p['paths']:,} paths × {p['steps']:,} steps.",
                "", harness.markdown_table(["row", "ns per path-step", "speed vs NumPy loop", "vs sdekit generator",
                                            "median s", "note"], rows, ["l", "r", "r", "r", "r", "l"]), ""]
    out += ["### Rows", "",
            "- **sdekit numba** / **sdekit numpy**: `sk.solve(sde, x0, (0, 1), n_steps=..., n_paths=..., seed=0, "
            "backend=..., method=\"euler_maruyama\")` with plain NumPy drift and diffusion "
            "(`benchmarks/problems.py`, the same text for every row).",
            "- **numpy loop**: hand-written, in place, preallocated buffers: "
            "`rng.standard_normal(out=dw); dw *= sigma*sqrt(dt); dw += mu*dt; dw *= x; x += dw` (GBM; likewise "
            "for the others). The baseline of every ratio.",
            "- **torch loop**: the same loop in torch on the CPU, `torch.randn(shape, generator=gen, out=dw)` "
            "from a seeded `torch.Generator`, in-place ops.",
            "- **torchsde**: `torchsde.sdeint(sde, y0, [0, 1], method=\"euler\", dt=...)` with its default "
            "Brownian object (`BrownianInterval`); **torchsde (plain increments)**: the same with a Brownian "
            "object (`PlainIncrements`, torchsde's public `bm(ta, tb)` convention) that returns fresh "
            f"`torch.randn` increments. Run on {c.get('torchsde_fraction', 0.1):g} of the paths and of the steps.",
            "- **sdekit generator**: `sdekit.backends.numba_launch.generator_floor(n_paths, n_steps, dim, seed=0)`, "
            "the Brownian increments a seed-only solve draws (same chunking and threads), nothing else "
            "(in the generator's own precision, also for the float32 problem).",
            "- **numpy generator**: `rng.standard_normal(out=buf)` into a preallocated buffer, the same number "
            "of normals.",
            "- Every row is warmed up once (full paths, 8 steps) before timing; Numba's compile time of that first "
            "call is shown in the notes and excluded from the medians.",
            f"- Raw numbers: `{json_path or os.path.relpath(DEFAULT_JSON, harness.REPO)}`.", ""]
    return "\n".join(out)


def build_parser(parser=None):
    """The suite's options, added to ``parser`` (a new one if None)."""
    p = parser or argparse.ArgumentParser(prog="python benchmarks/cpu.py",
                                          description="CPU benchmark suite (issue 3): sdekit against hand-written "
                                                      "loops, torchsde and the generator floors.")
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
    p.add_argument("--markdown", default=None,
                   help=f"Markdown page to regenerate (default {DEFAULT_MARKDOWN}; '' for none)")
    p.add_argument("--from-json", default=None, metavar="PATH",
                   help="run nothing: print and render the results of an earlier run (writes --markdown if given)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None):
    """Run the suite, print the table, write the JSON and regenerate ``docs/benchmarks.md``.

    Without ``--json`` / ``--markdown`` a full or scaled run writes
    ``benchmarks/results/cpu.json`` and regenerates ``docs/benchmarks.md`` (every
    suite's section, from the JSON files beside this one: :mod:`report`);
    ``--quick`` writes only the paths given. Returns 0.

    Example
    -------
    >>> main(["--quick", "--problems", "gbm", "--rows", "numpy loop,numpy generator", "--quiet"])  # doctest: +ELLIPSIS
    gbm: Scalar GBM, float64 -- dX = 0.5 X dt + 0.8 X dW, X0 = 1; 4,000 paths x 16 steps, median of 3
    ...
    0
    """
    import report

    args = build_parser().parse_args(argv)
    if args.from_json:
        results = harness.read_json(args.from_json)
        print(format_table(results))
        if args.markdown:
            print(f"wrote {report.write_page(args.markdown, {'cpu': results}, {'cpu': args.from_json})}")
        return 0
    split = harness.split_list
    results = run_benchmarks(quick=args.quick, scale=args.scale, paths=args.paths, steps=args.steps, reps=args.reps,
                             problems=split(args.problems), rows=split(args.rows),
                             torchsde_fraction=args.torchsde_fraction, progress=not args.quiet)
    print(format_table(results))
    json_path = args.json if args.json is not None else (None if args.quick else DEFAULT_JSON)
    md_path = args.markdown if args.markdown is not None else (None if args.quick else DEFAULT_MARKDOWN)
    harness.write_outputs('cpu', results, json_path, md_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
