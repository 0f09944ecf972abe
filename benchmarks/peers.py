"""Against the peers (issue 18): sdekit, diffrax, a ``jax.lax.scan`` loop, torchsde and hand-written loops.

Fixed-step Euler–Maruyama (Itô), float64, end state only, on ``[0, 1]``:

* ``gbm``: scalar GBM ``dX = 0.5 X dt + 0.8 X dW``, ``X0 = 1``, 10^5 paths x 1000 steps;
* ``nonlinear32``: the 32-dimensional nonlinear diagonal SDE of the issue 3 suite
  (``-X^3 + sin X`` drift, ``0.5 (1 + 0.1 cos X)`` noise), 10^4 paths x 500 steps;
* ``lorenz``: Lorenz's system (10, 28, 8/3) with multiplicative diagonal noise
  ``0.3 X_i dW_i``, ``X0 = (1, 1, 1)``, 10^4 paths x 2000 steps;

and an adaptive ODE ensemble, ``ode``: Lorenz's system from 10^4 initial conditions
(``(-8, 8, 27)`` plus uniform noise in ``[-1, 1]^3``) over ``[0, 1]`` at rtol 1e-6,
atol 1e-9, sdekit's ``method="dopri5"`` against diffrax's ``Dopri5`` and ``Tsit5``,
each per path (``vmap``, one step size per path) and on the batched state (one step
size for all, with sdekit's error norm: the RMS over a path's components, maximised
over paths). Each is run over a sweep of tolerances; its achieved error (median
over paths of ``|x - ref| / |ref|`` at ``t = 1`` against a DOP853 reference at rtol
1e-13) is reported with its time, and the time each contender needs to reach the
error sdekit reaches at rtol 1e-6 is interpolated (log-log) from its sweep: the
comparison at equal achieved accuracy.

Contenders of the SDE problems (the drift and diffusion of every one come from
:mod:`problems`, one text per problem for NumPy, Numba, torch and JAX):

* ``sdekit numba`` / ``sdekit numpy`` / ``sdekit torch``: ``sk.solve(..., method="euler_maruyama",
  seed=0, backend=...)`` (torch with torch functions and a float64 tensor ``x0``);
* ``numpy loop`` / ``torch loop``: ``x += f(t, x) dt + g(t, x) dW`` with the increments from
  ``Generator.standard_normal(out=)`` / ``torch.randn(out=, generator=)``;
* ``jax.lax.scan loop``: the same loop as a ``lax.scan`` over the steps under ``jax.jit``,
  ``jax.random.normal(fold_in(key, i))`` increments: the JAX floor;
* ``diffrax UnsafeBrownianPath``: ``diffeqsolve(MultiTerm(ODETerm, ControlTerm), Euler(),
  dt0=1/steps, saveat=SaveAt(t1=True))`` per path under ``jax.vmap`` (diffrax's documented
  batching), ``adjoint=ForwardMode()`` (diffrax refuses its default adjoint with this path);
  ``(batched state)``: one solve of the whole ``(paths, d)`` state;
* ``diffrax VirtualBrownianTree``: the same per path with ``VirtualBrownianTree(tol=dt/2)``,
  diffrax's resolution-consistent path (sdekit's ``BrownianPath`` is one too);
* ``torchsde`` / ``torchsde (plain increments)``: ``torchsde.sdeint(method="euler")`` with a
  seeded ``BrownianInterval`` and with the issue 3 suite's ``PlainIncrements``.

The slow contenders (VirtualBrownianTree, torchsde) run on a fraction of the paths
(``--slow-fraction``, default 0.1) over the same steps; only ns per path-step compare.

Answer checks, so that no contender wins by computing less: the end-state mean
of each component against the exact mean of Euler–Maruyama's recursion
(GBM: ``(1 + 0.5 dt)^n``), against zero where the problem is odd-symmetric
(``nonlinear32``: ``X_i + X_{31-i}``), and against sdekit numba's mean (every
problem; sdekit numba itself against the NumPy loop), each as the largest ``|z|`` over components with the Monte Carlo
standard errors of both sides; a check passes below 5. Steps taken are
recorded where a library reports them.

Method: every library imported in one process before anything is timed (as in a
user's program), JAX in float64 (``jax_enable_x64``); every contender warmed up
first (sdekit, loops, torchsde: a short run with the full paths; JAX: ahead-of-time
compilation of the exact call, ``jit(...).lower(...).compile()``), so compilation
and JIT are excluded; then medians of ``--reps`` (3) interleaved repetitions;
machine load recorded at the start and the end (:mod:`harness`).

Run ``python benchmarks/peers.py`` (full sizes, about ten minutes on 2 cores),
``--quick`` (reduced sizes, a few minutes), ``--smoke`` (tiny sizes, every
contender once; compile time dominates), ``--problems gbm,ode``, ``--rows ...``.
JAX and diffrax are optional (``pip install -e '.[bench]'``); without them their
rows are reported missing and everything else runs.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass

import numpy as np

import harness
from problems import FUNCTIONS

TITLE = "Against the peers: diffrax, JAX, torchsde (issue 18 suite)"
DEFAULT_JSON = os.path.join(harness.RESULTS, "peers.json")
DEFAULT_MARKDOWN = os.path.join(harness.DOCS, "benchmarks.md")

REFERENCE = "sdekit numba"
CROSS_CHECK = "numpy loop"  # the reference row's own cross-check: independent code, independent noise
SDE_ROWS = ("sdekit numba", "sdekit numpy", "sdekit torch", "numpy loop", "torch loop", "jax.lax.scan loop",
            "diffrax UnsafeBrownianPath", "diffrax UnsafeBrownianPath (batched state)",
            "diffrax VirtualBrownianTree", "torchsde", "torchsde (plain increments)")
SLOW_ROWS = ("diffrax VirtualBrownianTree", "torchsde", "torchsde (plain increments)")
ODE_ROWS = ("sdekit numba", "sdekit numpy", "diffrax Dopri5 (vmap)", "diffrax Dopri5 (batched state)",
            "diffrax Tsit5 (vmap)", "diffrax Tsit5 (batched state)")
Z_LIMIT = 5.0

# Acceptance targets of issue 18 (computed from one run's medians).
TARGET_VS_UNSAFE = 2.0
TARGET_VS_SCAN = 2.0
TARGET_VS_TREE = 20.0
TARGET_GRID_COST = 1.5

ODE_T = 1.0
ODE_DT0 = 1e-3  # first step, the same for every contender
ODE_RTOL, ODE_ATOL_PER_RTOL = 1e-6, 1e-3  # atol = 1e-3 rtol: 1e-9 at the headline tolerance
ODE_REFERENCE_RTOL = 1e-13


@dataclass(frozen=True)
class SDEProblem:
    """One fixed-step problem: its functions (by :data:`problems.FUNCTIONS` key), sizes and initial state.

    Example
    -------
    >>> p = SDE_PROBLEMS["lorenz"]
    >>> p.dim, p.x0().tolist()
    (3, [1.0, 1.0, 1.0])
    >>> round(float(SDE_PROBLEMS["gbm"].exact_mean(1000)[0]), 6)
    1.648515
    """

    name: str
    title: str
    equation: str
    kind: str
    dim: int
    sizes: dict

    def x0(self):
        """The initial state, ``(dim,)`` float64."""
        if self.kind == "nonlinear":
            return np.linspace(-1.0, 1.0, self.dim)
        return np.ones(self.dim)

    def functions(self, m):
        """``(drift, diffusion)`` in the array namespace ``m``."""
        return FUNCTIONS[self.kind](m)

    def exact_mean(self, steps):
        """Per-component mean of Euler–Maruyama's end state where it is known exactly, else None.

        GBM: ``E X_{k+1} = (1 + mu dt) E X_k``, so ``(1 + mu dt)^steps`` (no time-step bias to allow for).
        """
        if self.kind == "gbm":
            return np.full(self.dim, (1.0 + 0.5 / steps) ** steps)
        return None


SDE_PROBLEMS = {
    "gbm": SDEProblem("gbm", "Scalar GBM", "dX = 0.5 X dt + 0.8 X dW, X0 = 1", "gbm", 1,
                      {"full": (100_000, 1000), "quick": (40_000, 200), "smoke": (400, 16)}),
    "nonlinear32": SDEProblem("nonlinear32", "32-dimensional nonlinear diagonal SDE",
                              "dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i, X0_i evenly spaced in "
                              "[-1, 1]", "nonlinear", 32,
                              {"full": (10_000, 500), "quick": (2_000, 100), "smoke": (100, 8)}),
    "lorenz": SDEProblem("lorenz", "Stochastic Lorenz system",
                         "dX = (10 (Y - X), X (28 - Z) - Y, X Y - 8/3 Z) dt + 0.3 diag(X, Y, Z) dW, X0 = (1, 1, 1)",
                         "lorenz", 3, {"full": (10_000, 2000), "quick": (4_000, 500), "smoke": (100, 16)}),
}
ODE_SIZES = {"full": 10_000, "quick": 2_000, "smoke": 100}
ODE_SWEEPS = {"full": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8), "quick": (1e-5, 1e-6, 1e-7), "smoke": (1e-6,)}
GRID_STEPS = {"full": (1000, 1024), "quick": (200, 256), "smoke": (12, 16)}
PROBLEM_NAMES = tuple(SDE_PROBLEMS) + ("ode", "grids")


# --- libraries: all imported in one process, JAX in float64 ---

def import_libraries():
    """Import every contender's library once; ``{name: version or 'missing: reason'}``.

    JAX is switched to float64 here, before any JAX array exists.
    """
    found = {}
    for name in ("numba", "torch", "torchsde", "jax", "diffrax", "lineax"):
        try:
            module = __import__(name)
        except Exception as e:  # noqa: BLE001 - an optional peer that cannot load is reported missing
            found[name] = f"missing: {type(e).__name__}: {e}"
            continue
        if name == "jax":
            module.config.update("jax_enable_x64", True)
        found[name] = getattr(module, "__version__", "?")
    return found


def _jax():
    import jax
    import jax.numpy as jnp

    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    return jax, jnp


# --- SDE contenders: each maker returns (warm, run); run() -> (end state, info) ---

def _sdekit(problem, n, steps, backend):
    import sdekit as sk

    if backend == "torch":
        import torch

        sde, x0 = sk.SDE(*problem.functions(torch)), torch.from_numpy(problem.x0())
    else:
        sde, x0 = sk.SDE(*problem.functions(np)), problem.x0()

    def solve(k):
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=k, n_paths=n, seed=0, backend=backend, method="euler_maruyama")
        end = sol.ys[-1]
        stats = {key: v for key, v in sol.stats.items() if isinstance(v, (int, float, bool))}
        return (end.numpy() if backend == "torch" else end), stats

    def warm():
        return solve(min(steps, 8))[1].get("compile_time")

    return warm, lambda: solve(steps)


def _numpy_loop(problem, n, steps):
    f, g = problem.functions(np)

    def solve(k):
        rng = np.random.default_rng(0)
        x = np.empty((n, problem.dim))
        x[...] = problem.x0()
        dw = np.empty_like(x)
        dt = 1.0 / k
        sq = math.sqrt(dt)
        for i in range(k):
            t = i * dt
            rng.standard_normal(out=dw)
            dw *= sq
            x += f(t, x) * dt + g(t, x) * dw
        return x, {}

    return (lambda: solve(min(steps, 8)) and None), lambda: solve(steps)


def _torch_loop(problem, n, steps):
    import torch

    f, g = problem.functions(torch)

    def solve(k):
        gen = torch.Generator().manual_seed(0)
        x = torch.from_numpy(problem.x0()).expand(n, problem.dim).clone()
        dw = torch.empty_like(x)
        dt = 1.0 / k
        sq = math.sqrt(dt)
        with torch.no_grad():
            for i in range(k):
                t = i * dt
                torch.randn(x.shape, generator=gen, out=dw)
                dw.mul_(sq)
                x += f(t, x) * dt + g(t, x) * dw
        return x.numpy(), {}

    return (lambda: solve(min(steps, 8)) and None), lambda: solve(steps)


def _torchsde(problem, n, steps, plain):
    import torch
    import torchsde

    from cpu import PlainIncrements, TorchsdeModule

    module = TorchsdeModule(*problem.functions(torch))

    def solve(k):
        y0 = torch.from_numpy(problem.x0()).expand(n, problem.dim).clone()
        ts = torch.tensor([0.0, 1.0], dtype=torch.float64)
        if plain:
            bm = PlainIncrements((n, problem.dim), torch.float64, seed=0)
        else:
            bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(n, problem.dim), dtype=torch.float64, entropy=0)
        with torch.no_grad():
            ys = torchsde.sdeint(module, y0, ts, method="euler", dt=1.0 / k, bm=bm)
        return ys[-1].numpy(), {}

    return (lambda: solve(min(steps, 8)) and None), lambda: solve(steps)


def _aot(fn, *args):
    """``jax.jit(fn)`` compiled ahead of time for exactly ``args``; ``(compiled, seconds)``."""
    import time

    jax, _ = _jax()
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _jax_scan(problem, n, steps):
    jax, jnp = _jax()
    f, g = problem.functions(jnp)
    dt = 1.0 / steps
    sq = math.sqrt(dt)

    def solve(x0, key):
        def body(x, i):
            t = i * dt
            dw = jax.random.normal(jax.random.fold_in(key, i), x.shape, x.dtype) * sq
            return x + f(t, x) * dt + g(t, x) * dw, None

        return jax.lax.scan(body, x0, jnp.arange(steps))[0]

    x0 = jnp.broadcast_to(jnp.asarray(problem.x0()), (n, problem.dim))
    key = jax.random.key(0)
    state = {}

    def warm():
        state["fn"], seconds = _aot(solve, x0, key)
        return seconds

    def run():
        return np.asarray(state["fn"](x0, key).block_until_ready()), {}

    return warm, run


def _diffrax_sde(problem, n, steps, brownian, batched=False):
    jax, jnp = _jax()
    import diffrax as dfx
    import lineax as lx

    f, g = problem.functions(jnp)
    dt = 1.0 / steps

    def solve(y0, key):
        if brownian == "tree":
            bm = dfx.VirtualBrownianTree(0.0, 1.0, tol=dt / 2, shape=y0.shape, key=key)
        else:
            bm = dfx.UnsafeBrownianPath(shape=y0.shape, key=key)
        terms = dfx.MultiTerm(dfx.ODETerm(lambda t, y, args: f(t, y)),
                              dfx.ControlTerm(lambda t, y, args: lx.DiagonalLinearOperator(g(t, y)), bm))
        # max_steps only bounds the loop (nothing is saved per step); ForwardMode: diffrax's default
        # adjoint refuses UnsafeBrownianPath, and the same adjoint is used for both paths.
        sol = dfx.diffeqsolve(terms, dfx.Euler(), 0.0, 1.0, dt0=dt, y0=y0, saveat=dfx.SaveAt(t1=True),
                              max_steps=steps + 16, adjoint=dfx.ForwardMode())
        return sol.ys[0], sol.stats["num_steps"]

    x0 = jnp.broadcast_to(jnp.asarray(problem.x0()), (n, problem.dim))
    if batched:
        fn, keys = solve, jax.random.key(0)
    else:
        fn, keys = jax.vmap(solve), jax.random.split(jax.random.key(0), n)
    state = {}

    def warm():
        state["fn"], seconds = _aot(fn, x0, keys)
        return seconds

    def run():
        y, taken = state["fn"](x0, keys)
        y = np.asarray(y.block_until_ready())
        taken = np.asarray(taken)
        return y, {"steps_taken_min": int(taken.min()), "steps_taken_max": int(taken.max())}

    return warm, run


_SDE_MAKERS = {
    "sdekit numba": lambda p, n, k: _sdekit(p, n, k, "numba"),
    "sdekit numpy": lambda p, n, k: _sdekit(p, n, k, "numpy"),
    "sdekit torch": lambda p, n, k: _sdekit(p, n, k, "torch"),
    "numpy loop": _numpy_loop,
    "torch loop": _torch_loop,
    "jax.lax.scan loop": _jax_scan,
    "diffrax UnsafeBrownianPath": lambda p, n, k: _diffrax_sde(p, n, k, "unsafe"),
    "diffrax UnsafeBrownianPath (batched state)": lambda p, n, k: _diffrax_sde(p, n, k, "unsafe", batched=True),
    "diffrax VirtualBrownianTree": lambda p, n, k: _diffrax_sde(p, n, k, "tree"),
    "torchsde": lambda p, n, k: _torchsde(p, n, k, plain=False),
    "torchsde (plain increments)": lambda p, n, k: _torchsde(p, n, k, plain=True),
}


# --- answer checks ---

def moments(end):
    """Per-component mean, standard deviation and count of an end state ``(n, d)``."""
    end = np.asarray(end, dtype=np.float64).reshape(len(end), -1)
    return {"mean": end.mean(0).tolist(), "std": end.std(0, ddof=1).tolist(), "n": int(len(end))}


def z_against(m, mean, se_other=None):
    """Largest ``|z|`` over components of ``m`` (from :func:`moments`) against ``mean``.

    ``se_other``: the other side's standard errors (two-sample test) or None (exact value).

    Example
    -------
    >>> z_against({"mean": [1.0, 2.0], "std": [1.0, 1.0], "n": 100}, [1.1, 2.0])
    1.0
    """
    se = np.asarray(m["std"]) / math.sqrt(m["n"])
    if se_other is not None:
        se = np.sqrt(se * se + np.asarray(se_other) ** 2)
    diff = np.abs(np.asarray(m["mean"]) - np.asarray(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(diff == 0, 0.0, diff / se)
    return round(float(np.max(z)), 3)


def answer_checks(problem, steps, rows):
    """Fill each row's ``checks``: ``{name: max |z|}`` and ``check_passed`` (all below :data:`Z_LIMIT`)."""
    ref = rows.get(REFERENCE)
    exact = problem.exact_mean(steps)
    for row in rows.values():
        m = row.get("moments")
        if not m:
            continue
        checks = {}
        if exact is not None:
            checks["exact EM mean"] = z_against(m, exact)
        if problem.kind == "nonlinear":  # odd drift, even diffusion, X0 mirrored: X_i + X_{d-1-i} has mean 0
            mean, se = np.asarray(m["mean"]), np.asarray(m["std"]) / math.sqrt(m["n"])
            d = len(mean) // 2
            pair = {"mean": (mean[:d] + mean[::-1][:d]).tolist(), "n": 1,
                    "std": np.sqrt(se[:d] ** 2 + se[::-1][:d] ** 2).tolist()}
            checks["odd symmetry"] = z_against(pair, np.zeros(d))
        # every row against sdekit numba; sdekit numba itself against the independent NumPy loop
        other = CROSS_CHECK if row is ref else REFERENCE
        other_m = (rows.get(other) or {}).get("moments")
        if other_m:
            checks[f"vs {other}"] = z_against(m, other_m["mean"], np.asarray(other_m["std"]) / math.sqrt(other_m["n"]))
        row["checks"] = checks
        row["check_passed"] = all(v < Z_LIMIT for v in checks.values())


# --- the SDE problems ---

def run_sde_problem(problem, size, rows, reps, slow_fraction, log):
    """One SDE problem: warm-up, interleaved repetitions, medians, ratios and answer checks."""
    n, k = problem.sizes[size]
    n_slow = max(1, min(n, int(round(n * slow_fraction)))) if size == "full" else n
    entries, fns = {}, {}
    for name in rows:
        paths = n_slow if name in SLOW_ROWS else n
        entry = entries[name] = {"name": name, "paths": paths, "steps": k, "times_s": []}
        try:
            warm, run = _SDE_MAKERS[name](problem, paths, k)
            wall, compile_s = harness.timed(warm, collect=False)
        except Exception as e:  # noqa: BLE001 - a missing or failing peer is reported, the suite goes on
            entry["missing"] = (f"{type(e).__name__}: {e}".splitlines()[0] if isinstance(e, ImportError)
                                else harness.failure(e))
            log(f"[{problem.name}] {name}: {entry['missing']}")
            continue
        entry["warmup_s"] = wall
        if compile_s is not None:
            entry["compile_s"] = float(compile_s)
        fns[name] = run
        log(f"[{problem.name}] warm-up {name}: {wall:.2f} s")
    # gc.collect between runs (outside the clock) costs about 0.2 s with torch and Numba loaded: not at tiny sizes
    runs = harness.interleaved(fns, reps, collect=size != "smoke", log=lambda msg: log(f"[{problem.name}] {msg}"))
    for name, run in runs.items():
        entry = entries[name]
        entry["times_s"] = run["times_s"]
        if "missing" in run:
            entry["missing"] = run["missing"]
            continue
        end, info = run["out"]
        entry["moments"] = moments(end)
        entry["info"] = info
        entry.update(harness.median_row(entry["times_s"], entry["paths"], entry["steps"]))
    ref_ns = entries.get(REFERENCE, {}).get("ns_per_path_step")
    for entry in entries.values():
        ns = entry.get("ns_per_path_step")
        entry["vs_sdekit_numba"] = (ns / ref_ns) if (ns and ref_ns) else None
    answer_checks(problem, k, entries)
    exact = problem.exact_mean(k)
    return {"name": problem.name, "title": problem.title, "equation": problem.equation, "dim": problem.dim,
            "paths": n, "steps": k, "slow_paths": n_slow,
            "exact_mean": None if exact is None else exact.tolist(), "rows": list(entries.values())}


# --- the adaptive ODE ensemble ---

def ode_initial_states(n):
    """``n`` initial conditions: ``(-8, 8, 27)`` plus uniform noise in ``[-1, 1]^3`` (seeded)."""
    return np.array([-8.0, 8.0, 27.0]) + np.random.default_rng(2026).uniform(-1.0, 1.0, (n, 3))


def ode_reference(x0, rtol=ODE_REFERENCE_RTOL):
    """Lorenz's state at ``ODE_T`` from every row of ``x0`` with SciPy's DOP853 on the stacked system.

    An independent method (8th order, another code) at a tolerance far below any
    contender's; its own error is estimated by re-solving at 100x the tolerance.
    """
    from scipy.integrate import solve_ivp

    f = FUNCTIONS["lorenz"](np)[0]
    shape = x0.shape

    def rhs(t, y):
        return f(t, y.reshape(shape)).reshape(-1)

    def solve(r):
        sol = solve_ivp(rhs, (0.0, ODE_T), x0.reshape(-1), method="DOP853", rtol=r, atol=r, t_eval=[ODE_T])
        if not sol.success:
            raise RuntimeError(f"reference solve failed: {sol.message}")
        return sol.y[:, -1].reshape(shape)

    ref = solve(rtol)
    coarse = solve(rtol * 100)
    return ref, float(np.max(relative_errors(coarse, ref)))


def relative_errors(x, ref):
    """Per path ``|x - ref|_2 / |ref|_2``."""
    return np.linalg.norm(np.asarray(x) - ref, axis=-1) / np.linalg.norm(ref, axis=-1)


def _ode_sdekit(x0, backend):
    import sdekit as sk

    ode = sk.ODE(FUNCTIONS["lorenz"](np)[0])

    def solve(rtol):
        sol = sk.solve(ode, x0, (0.0, ODE_T), dt=ODE_DT0, method="dopri5", rtol=rtol,
                       atol=rtol * ODE_ATOL_PER_RTOL, backend=backend)
        return sol.ys[-1], {"n_accepted": int(np.max(sol.stats.get("n_accepted", -1))),
                            "n_rejected": int(np.max(sol.stats.get("n_rejected", -1)))}

    def warm():
        solve(ODE_RTOL)

    return warm, solve


def _ode_diffrax(x0, solver_name, batched):
    jax, jnp = _jax()
    import diffrax as dfx

    f = FUNCTIONS["lorenz"](jnp)[0]
    solver = getattr(dfx, solver_name)()

    def norm(e):  # sdekit's: RMS over a path's components, the largest over paths
        return jnp.max(jnp.sqrt(jnp.mean(e * e, axis=-1)))

    def solve(y0, rtol, atol):
        ctrl = (dfx.PIDController(rtol=rtol, atol=atol, norm=norm) if batched
                else dfx.PIDController(rtol=rtol, atol=atol))
        sol = dfx.diffeqsolve(dfx.ODETerm(lambda t, y, args: f(t, y)), solver, 0.0, ODE_T, dt0=ODE_DT0, y0=y0,
                              saveat=dfx.SaveAt(t1=True), stepsize_controller=ctrl, max_steps=100_000)
        return sol.ys[0], sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"]

    fn = solve if batched else jax.vmap(solve, in_axes=(0, None, None))
    y0 = jnp.asarray(x0)
    state = {}

    def warm():  # rtol and atol are traced arguments: one compilation serves the whole sweep
        state["fn"], seconds = _aot(fn, y0, ODE_RTOL, ODE_RTOL * ODE_ATOL_PER_RTOL)
        return seconds

    def run(rtol):
        y, acc, rej = state["fn"](y0, rtol, rtol * ODE_ATOL_PER_RTOL)
        y = np.asarray(y.block_until_ready())
        acc, rej = np.asarray(acc), np.asarray(rej)
        info = {"n_accepted": int(acc.max()), "n_rejected": int(rej.max())}
        if not batched:
            info.update({"n_accepted_median": float(np.median(acc)), "n_rejected_median": float(np.median(rej))})
        return y, info

    return warm, run


_ODE_MAKERS = {
    "sdekit numba": lambda x0: _ode_sdekit(x0, "numba"),
    "sdekit numpy": lambda x0: _ode_sdekit(x0, "numpy"),
    "diffrax Dopri5 (vmap)": lambda x0: _ode_diffrax(x0, "Dopri5", batched=False),
    "diffrax Dopri5 (batched state)": lambda x0: _ode_diffrax(x0, "Dopri5", batched=True),
    "diffrax Tsit5 (vmap)": lambda x0: _ode_diffrax(x0, "Tsit5", batched=False),
    "diffrax Tsit5 (batched state)": lambda x0: _ode_diffrax(x0, "Tsit5", batched=True),
}


def time_at_error(sweep, target):
    """Seconds a contender needs to reach median error ``target``, interpolated log-log from its sweep.

    ``sweep``: points with ``median_s`` and ``err_median``. None when ``target``
    lies outside the errors the sweep reached (no extrapolation).

    Example
    -------
    >>> time_at_error([{"median_s": 1.0, "err_median": 1e-6}, {"median_s": 2.0, "err_median": 1e-8}], 1e-7)
    1.414...
    """
    pts = sorted((p["err_median"], p["median_s"]) for p in sweep
                 if p.get("err_median") and p.get("median_s") and p["err_median"] > 0)
    for (e0, t0), (e1, t1) in zip(pts, pts[1:]):
        if e0 <= target <= e1:
            if e1 == e0:
                return min(t0, t1)
            w = (math.log(target) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0)))
    for e, t in pts:  # a single point that hits the target (to 1%)
        if abs(e - target) <= 0.01 * target:
            return t
    return None


def run_ode(size, rows, reps, log):
    """The adaptive Lorenz ensemble: reference, warm-up, a tolerance sweep with interleaved repetitions."""
    n = ODE_SIZES[size]
    x0 = ode_initial_states(n)
    ref, ref_err = ode_reference(x0)
    log(f"[ode] reference: DOP853 rtol {ODE_REFERENCE_RTOL:g}, its estimated error {ref_err:.1e}")
    entries, fns = {}, {}
    for name in rows:
        entry = entries[name] = {"name": name, "sweep": []}
        try:
            warm, run = _ODE_MAKERS[name](x0)
            wall, compile_s = harness.timed(warm, collect=False)
        except Exception as e:  # noqa: BLE001
            entry["missing"] = (f"{type(e).__name__}: {e}".splitlines()[0] if isinstance(e, ImportError)
                                else harness.failure(e))
            log(f"[ode] {name}: {entry['missing']}")
            continue
        entry["warmup_s"] = wall
        if compile_s is not None:
            entry["compile_s"] = float(compile_s)
        fns[name] = run
        log(f"[ode] warm-up {name}: {wall:.2f} s")
    for rtol in ODE_SWEEPS[size]:
        runs = harness.interleaved({name: (lambda run=run, r=rtol: run(r)) for name, run in fns.items()}, reps,
                                   collect=size != "smoke", log=lambda msg, r=rtol: log(f"[ode rtol {r:g}] {msg}"))
        for name, run in runs.items():
            entry = entries[name]
            if "missing" in run:
                entry["missing"] = run["missing"]
                fns.pop(name, None)
                continue
            end, info = run["out"]
            err = relative_errors(end, ref)
            point = {"rtol": rtol, "atol": rtol * ODE_ATOL_PER_RTOL, "times_s": run["times_s"],
                     "median_s": float(np.median(run["times_s"])), "err_median": float(np.median(err)),
                     "err_max": float(np.max(err)), **info}
            entry["sweep"].append(point)
    target = None
    ref_entry = entries.get(REFERENCE, {})
    for entry in entries.values():
        head = next((p for p in entry["sweep"] if p["rtol"] == ODE_RTOL), None)
        if head:
            entry.update({k: head[k] for k in head if k not in ("rtol", "atol")})
        if entry is ref_entry and head:
            target = head["err_median"]
    for entry in entries.values():
        if not entry.get("sweep"):
            entry.setdefault("missing", "not run")
            continue
        entry["time_at_target_s"] = time_at_error(entry["sweep"], target) if target else None
    base = ref_entry.get("time_at_target_s")
    for entry in entries.values():
        t = entry.get("time_at_target_s")
        entry["vs_sdekit_numba_at_equal_error"] = (t / base) if (t and base) else None
    return {"name": "ode", "title": "Adaptive Lorenz ODE ensemble", "n": n, "t_span": [0.0, ODE_T],
            "rtol": ODE_RTOL, "atol": ODE_RTOL * ODE_ATOL_PER_RTOL, "dt0": ODE_DT0, "sweep": list(ODE_SWEEPS[size]),
            "reference": {"method": "scipy DOP853 on the stacked system", "rtol": ODE_REFERENCE_RTOL,
                          "estimated_error": ref_err},
            "target_error": target, "rows": list(entries.values())}


# --- one Brownian path on other grids (sdekit only) ---

def run_grids(size, reps, log):
    """sdekit numba on GBM: seed-only and with a reused ``brownian=`` path, on a dyadic and a non-dyadic grid.

    What issue 18 asks of the core (a non-dyadic grid at most 1.5x the dyadic one's
    cost, a reused path at full speed), measured with the public API only.
    """
    import sdekit as sk

    problem = SDE_PROBLEMS["gbm"]
    n = problem.sizes[size][0]
    odd, dyadic = GRID_STEPS[size]
    sde = sk.SDE(*problem.functions(np))

    def seed_only(k):
        return lambda: sk.solve(sde, 1.0, (0.0, 1.0), n_steps=k, n_paths=n, seed=0, backend="numba",
                                method="euler_maruyama").ys[-1]

    def reused(k):
        bm = sk.BrownianPath(n, 1, (0.0, 1.0), seed=0)
        return lambda: sk.solve(sde, 1.0, (0.0, 1.0), n_steps=k, brownian=bm, n_paths=n, backend="numba",
                                method="euler_maruyama").ys[-1]

    variants = {f"seed, {odd} steps": (seed_only, odd), f"seed, {dyadic} steps": (seed_only, dyadic),
                f"brownian= path, {odd} steps": (reused, odd), f"brownian= path, {dyadic} steps": (reused, dyadic)}
    fns, entries = {}, {}
    for name, (make, k) in variants.items():
        entries[name] = {"name": name, "paths": n, "steps": k}
        try:
            fn = make(k)
            fn()  # warm-up: compilation, caches
            fns[name] = fn
        except Exception as e:  # noqa: BLE001
            entries[name]["missing"] = harness.failure(e)
            log(f"[grids] {name}: {entries[name]['missing']}")
    runs = harness.interleaved(fns, reps, collect=size != "smoke", log=lambda msg: log(f"[grids] {msg}"))
    for name, run in runs.items():
        entry = entries[name]
        if "missing" in run:
            entry["missing"] = run["missing"]
            continue
        entry["times_s"] = run["times_s"]
        entry["moments"] = moments(run["out"])
        entry.update(harness.median_row(run["times_s"], n, entry["steps"]))
    base = entries[f"seed, {dyadic} steps"].get("ns_per_path_step")
    for entry in entries.values():
        ns = entry.get("ns_per_path_step")
        entry["vs_seed_dyadic"] = (ns / base) if (ns and base) else None
        if entry.get("moments"):
            entry["z_exact_em_mean"] = z_against(entry["moments"], problem.exact_mean(entry["steps"]))
    return {"name": "grids", "title": "One Brownian path on other grids (sdekit numba, GBM)", "paths": n,
            "steps": [odd, dyadic], "rows": list(entries.values())}


# --- the suite ---

def run_benchmarks(*, size="full", problems=None, rows=None, reps=3, slow_fraction=0.1, progress=False):
    """Run the peers suite; return the results as a JSON-ready dict.

    ``size``: ``"full"``, ``"quick"`` or ``"smoke"``; ``problems`` a subset of
    :data:`PROBLEM_NAMES`; ``rows`` a subset of the SDE and ODE contenders.

    Example
    -------
    >>> res = run_benchmarks(size="smoke", problems=["gbm"], rows=["sdekit numpy", "numpy loop"])
    >>> [r["name"] for r in res["problems"][0]["rows"]], res["problems"][0]["rows"][1]["check_passed"]
    (['sdekit numpy', 'numpy loop'], True)
    """
    if size not in ODE_SIZES:
        raise ValueError(f"size must be one of {list(ODE_SIZES)}; got {size!r}")
    if reps < 1:
        raise ValueError("reps must be at least 1")
    names = list(problems) if problems else list(PROBLEM_NAMES)
    unknown = [p for p in names if p not in PROBLEM_NAMES]
    if unknown:
        raise ValueError(f"unknown problem(s) {unknown}; choose from {list(PROBLEM_NAMES)}")
    wanted = list(rows) if rows else list(SDE_ROWS) + [r for r in ODE_ROWS if r not in SDE_ROWS]
    unknown = [r for r in wanted if r not in _SDE_MAKERS and r not in _ODE_MAKERS]
    if unknown:
        raise ValueError(f"unknown row(s) {unknown}; choose from {list(_SDE_MAKERS) + list(_ODE_MAKERS)}")
    log = harness.logger(progress)
    libraries = import_libraries()  # before anything is timed: every library in this one process
    result = {"schema": 1, "suite": "peers", "machine": harness.machine_info(),
              "config": {"size": size, "reps": reps, "slow_fraction": slow_fraction if size == "full" else 1.0,
                         "problems": names, "z_limit": Z_LIMIT},
              "libraries": libraries, "problems": [], "ode": None, "grids": None}
    for name in names:
        if name == "grids":
            result["grids"] = run_grids(size, reps, log) if "sdekit numba" in wanted else None
        elif name == "ode":
            result["ode"] = run_ode(size, [r for r in ODE_ROWS if r in wanted], reps, log)
        else:
            result["problems"].append(run_sde_problem(SDE_PROBLEMS[name], size, [r for r in SDE_ROWS if r in wanted],
                                                      reps, slow_fraction, log))
    harness.finish_machine_info(result["machine"])
    result["acceptance"] = acceptance(result)
    return result


def _best(rows, names, key):
    vals = [(r[key], r["name"]) for r in rows if r["name"] in names and r.get(key)]
    return min(vals) if vals else (None, None)


def acceptance(results):
    """Issue 18's targets from one run: per SDE problem sdekit numba's speed-up over the peers, and the ODE.

    * ``>= 2x`` diffrax with UnsafeBrownianPath (its faster layout), ``>= 2x`` the
      ``lax.scan`` loop and ``>= 20x`` diffrax with VirtualBrownianTree, on every SDE problem;
    * the ODE ensemble at least as fast as diffrax's fastest configuration at equal achieved error;
    * a seed-only solve on a non-dyadic grid at most 1.5x the dyadic one's time per path-step
      (``op: "le"``: the value is that cost ratio).

    Each entry: ``target``, ``problem``, ``value`` (a speed-up unless ``op`` is ``"le"``; None
    when not measured), ``threshold``, ``passed``, ``against``.

    Example
    -------
    >>> res = {"problems": [{"name": "gbm", "rows": [
    ...     {"name": "sdekit numba", "ns_per_path_step": 2.0},
    ...     {"name": "jax.lax.scan loop", "ns_per_path_step": 9.0}]}], "ode": None}
    >>> [(a["against"], a["value"], a["passed"]) for a in acceptance(res)]
    [('diffrax UnsafeBrownianPath', None, None), ('jax.lax.scan loop', 4.5, True), \
('diffrax VirtualBrownianTree', None, None)]
    """
    out = []
    specs = ((("diffrax UnsafeBrownianPath", "diffrax UnsafeBrownianPath (batched state)"), TARGET_VS_UNSAFE),
             (("jax.lax.scan loop",), TARGET_VS_SCAN), (("diffrax VirtualBrownianTree",), TARGET_VS_TREE))
    for p in results.get("problems", []):
        own = next((r.get("ns_per_path_step") for r in p["rows"] if r["name"] == REFERENCE), None)
        for names, threshold in specs:
            peer, peer_name = _best(p["rows"], names, "ns_per_path_step")
            value = (peer / own) if (peer and own) else None
            out.append({"target": f"sdekit numba >= {threshold:g}x {names[0]} ({p['name']})", "problem": p["name"],
                        "against": peer_name or names[0], "value": value, "threshold": threshold,
                        "passed": None if value is None else value >= threshold})
    ode = results.get("ode")
    if ode:
        diffrax_rows = [r["name"] for r in ode["rows"] if r["name"].startswith("diffrax")]
        peer, peer_name = _best(ode["rows"], diffrax_rows, "time_at_target_s")
        own = next((r.get("time_at_target_s") for r in ode["rows"] if r["name"] == REFERENCE), None)
        value = (peer / own) if (peer and own) else None
        out.append({"target": "adaptive ODE: sdekit numba at least as fast as diffrax's fastest, equal error",
                    "problem": "ode", "against": peer_name or "diffrax", "value": value, "threshold": 1.0,
                    "passed": None if value is None else value >= 1.0})
    grids = results.get("grids")
    if grids:
        odd = next((r for r in grids["rows"] if r["name"].startswith("seed,") and r["steps"] == grids["steps"][0]), {})
        cost = odd.get("vs_seed_dyadic")
        out.append({"target": "a non-dyadic grid costs at most 1.5x the dyadic one (sdekit numba, GBM)",
                    "problem": "grids", "against": "seed-only dyadic grid", "value": cost, "op": "le",
                    "threshold": TARGET_GRID_COST, "passed": None if cost is None else cost <= TARGET_GRID_COST})
    return out


# --- output ---

def _verdict(p):
    return "not measured" if p is None else ("PASS" if p else "FAIL")


def _ratio(v):
    return "—" if v is None else f"{v:.2f}×" if v < 10 else f"{v:.0f}×"


def _check_text(row, markdown=False):
    if not row.get("checks"):
        return "—"
    text = ", ".join(f"{k} {v:.1f}" for k, v in row["checks"].items())
    z = "\\|z\\|" if markdown else "|z|"  # a bare | would end the Markdown table cell
    return ("ok" if row.get("check_passed") else ("**FAIL**" if markdown else "FAIL")) + f" ({z} {text})"


def _sde_notes(p, r):
    notes = []
    if r["paths"] != p["paths"]:
        notes.append(f"on {r['paths']:,} paths (slow); per path-step only")
    if r.get("compile_s") is not None:
        notes.append(f"compile {r['compile_s']:.2f} s, excluded")
    info = r.get("info") or {}
    if info.get("fused") is False:
        notes.append("not fused (below the fusing threshold)")
    if "steps_taken_max" in info and (info["steps_taken_min"], info["steps_taken_max"]) != (r["steps"], r["steps"]):
        notes.append(f"took {info['steps_taken_min']}–{info['steps_taken_max']} steps")
    return "; ".join(notes)


def format_table(results):
    """Plain-text tables of a run, for the terminal."""
    lines = []
    for p in results.get("problems", []):
        lines.append(f"{p['name']}: {p['title']} -- {p['paths']:,} paths x {p['steps']:,} steps")
        rows = []
        for r in p["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "", "", r["missing"][:70]])
                continue
            rows.append([r["name"], harness.fmt_ns(r["ns_per_path_step"]), _ratio(r.get("vs_sdekit_numba")),
                         f"{r['median_s']:.3g}", _check_text(r)])
        lines += ["  " + x for x in harness.text_table(["contender", "ns/path-step", "x sdekit numba", "median s",
                                                        "answer check"], rows, left=(0, 4)).splitlines()] + [""]
    ode = results.get("ode")
    if ode:
        lines.append(f"ode: {ode['title']} -- {ode['n']:,} initial conditions, rtol {ode['rtol']:g}, "
                     f"atol {ode['atol']:g}; target error {harness.fmt_sci(ode.get('target_error'))}")
        rows = []
        for r in ode["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "", "", "", r["missing"][:70]])
                continue
            rows.append([r["name"], f"{r.get('median_s', float('nan')):.3g}",
                         f"{r.get('n_accepted', '?')}+{r.get('n_rejected', '?')}", harness.fmt_sci(r.get("err_median")),
                         harness.fmt(r.get("time_at_target_s"), ".3g"),
                         _ratio(r.get("vs_sdekit_numba_at_equal_error"))])
        lines += ["  " + x for x in harness.text_table(["contender", "s at rtol", "acc+rej", "median error",
                                                        "s at equal error", "x sdekit numba"], rows).splitlines()]
        lines.append("")
    grids = results.get("grids")
    if grids:
        lines.append(f"grids: {grids['title']} -- {grids['paths']:,} paths")
        lines += ["  " + x for x in harness.text_table(["variant", "ns/path-step", "x dyadic", "median s"], [
            [r["name"], harness.fmt_ns(r.get("ns_per_path_step")), _ratio(r.get("vs_seed_dyadic")),
             harness.fmt(r.get("median_s"), ".3g")] for r in grids["rows"]]).splitlines()] + [""]
    for a in results.get("acceptance", []):
        lines.append(f"{_verdict(a['passed']):12s} {a['target']}: {harness.fmt(a['value'], '.2f')}")
    return "\n".join(lines).rstrip()


def render_section(results, *, json_path=None):
    """This suite's section of ``docs/benchmarks.md``.

    Example
    -------
    >>> md = render_section({"machine": {"cpu": "X"}, "config": {"reps": 3, "size": "smoke"}, "problems": [],
    ...                      "ode": None, "acceptance": []})
    >>> md.splitlines()[0]
    '## Against the peers: diffrax, JAX, torchsde (issue 18 suite)'
    """
    m, c = results.get("machine", {}), results.get("config", {})
    out = [f"## {TITLE}", "",
           "Euler–Maruyama (Itô), float64, end state only, on [0, 1]: sdekit (Numba, NumPy and torch backends) "
           "against diffrax with both of its Brownian objects, a plain `jax.lax.scan` loop (JAX's floor), "
           "torchsde and hand-written NumPy and torch loops, every library imported in one process; then an "
           "adaptive ODE ensemble compared at equal achieved accuracy (`benchmarks/peers.py`). *× sdekit numba* "
           "is the contender's time ÷ sdekit numba's (above 1: sdekit is faster).", ""]
    if c.get("size", "full") != "full":
        out += [f"> **Reduced sizes** (`--{c.get('size')}`): indicative only; "
                "`python benchmarks/peers.py` runs the full sizes.", ""]
    if harness.busy(m):
        out += ["> **Busy machine.** The load average exceeded 0.5 during this run: the figures are indicative.",
                ""]
    acc = [[a["target"], _ratio(a["value"]), f"{'≤' if a.get('op') == 'le' else '≥'} {a['threshold']:g}×",
            f"**{_verdict(a['passed'])}**"] for a in results.get("acceptance", [])]
    if acc:
        out += ["### Acceptance (issue 18)", "", "Value: the speed-up of sdekit numba over the peer (the peer's time "
                "÷ sdekit's); for the grid, the non-dyadic solve's time ÷ the dyadic one's.",
                "", harness.markdown_table(["target", "value", "threshold", "result"], acc, ["l", "r", "r", "l"]),
                ""]
    out += ["### Machine", ""] + harness.machine_lines(m, c.get("reps", "?"))
    missing = {k: v for k, v in (results.get("libraries") or {}).items() if str(v).startswith("missing")}
    if missing:
        out.append("- not installed here: " + "; ".join(f"{k} ({v[len('missing: '):]})" for k, v in missing.items()))
    out.append("")
    for p in results.get("problems", []):
        rows = []
        for r in p["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "—", "—", "—", r["missing"]])
                continue
            name = f"**{r['name']}**" if r["name"] == REFERENCE else r["name"]
            rows.append([name, harness.fmt_ns(r["ns_per_path_step"]), _ratio(r.get("vs_sdekit_numba")),
                         f"{r['median_s']:.3g}", _check_text(r, markdown=True), _sde_notes(p, r)])
        exact = p.get("exact_mean")
        out += [f"### {p['title']}, {p['paths']:,} paths × {p['steps']:,} steps", "", f"`{p['equation']}`."
                + (f" Exact mean of the Euler–Maruyama end state: {exact[0]:.6f}." if exact else ""), "",
                harness.markdown_table(["contender", "ns per path-step", "× sdekit numba", "median s",
                                        f"answer check (max \\|z\\| < {c.get('z_limit', Z_LIMIT):g})", "note"], rows,
                                       ["l", "r", "r", "r", "l", "l"]), ""]
    ode = results.get("ode")
    if ode:
        ref = ode["reference"]
        out += [f"### {ode['title']}, {ode['n']:,} initial conditions", "",
                f"Lorenz's system from `(-8, 8, 27) + U[-1, 1]³` over [0, {ode['t_span'][1]:g}], first step "
                f"{ode['dt0']:g}. Headline tolerance rtol {ode['rtol']:g}, atol {ode['atol']:g}; error = median over "
                f"paths of ‖x − ref‖ / ‖ref‖ at t = {ode['t_span'][1]:g} against {ref['method']} at rtol "
                f"{ref['rtol']:g} (its own error about {harness.fmt_sci(ref['estimated_error'])}). Each contender "
                f"also ran at rtol {', '.join(format(r, 'g') for r in ode['sweep'])} (atol = 1e-3 rtol); *s at "
                f"equal error* is the time it needs for sdekit numba's error at the headline tolerance "
                f"({harness.fmt_sci(ode.get('target_error'))}), interpolated log-log from its sweep (— where the "
                "sweep does not reach it). Steps: accepted + rejected (the largest over paths for per-path "
                "step sizes).", ""]
        rows = []
        for r in ode["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "—", "—", "—", "—", "—", r["missing"]])
                continue
            name = f"**{r['name']}**" if r["name"] == REFERENCE else r["name"]
            note = f"compile {r['compile_s']:.2f} s, excluded" if r.get("compile_s") is not None else ""
            rows.append([name, f"{r['median_s']:.3g}", f"{r.get('n_accepted', '?')} + {r.get('n_rejected', '?')}",
                         harness.fmt_sci(r.get("err_median")), harness.fmt_sci(r.get("err_max")),
                         harness.fmt(r.get("time_at_target_s"), ".3g"), _ratio(r.get("vs_sdekit_numba_at_equal_error")),
                         note])
        out += [harness.markdown_table(["contender", f"s at rtol {ode['rtol']:g}", "steps", "median error",
                                        "max error", "s at equal error", "× sdekit numba", "note"], rows,
                                       ["l", "r", "r", "r", "r", "r", "r", "l"]), ""]
        sweep_rows = []
        for r in ode["rows"]:
            for pt in r.get("sweep", []):
                sweep_rows.append([r["name"], f"{pt['rtol']:g}", f"{pt['median_s']:.3g}",
                                   f"{pt.get('n_accepted', '?')} + {pt.get('n_rejected', '?')}",
                                   harness.fmt_sci(pt["err_median"]), f"{pt['err_median'] / pt['rtol']:.2g}"])
        if sweep_rows:
            out += ["<details><summary>Tolerance sweep</summary>", "",
                    harness.markdown_table(["contender", "rtol", "median s", "steps", "median error",
                                            "error ÷ rtol"], sweep_rows), "", "</details>", ""]
    grids = results.get("grids")
    if grids:
        rows = []
        for r in grids["rows"]:
            if r.get("missing"):
                rows.append([r["name"], "missing", "—", "—", r["missing"]])
                continue
            rows.append([r["name"], harness.fmt_ns(r["ns_per_path_step"]), _ratio(r.get("vs_seed_dyadic")),
                         f"{r['median_s']:.3g}", f"{r['z_exact_em_mean']:.1f}"])
        out += [f"### {grids['title']}, {grids['paths']:,} paths", "",
                "The same GBM solve seed-only and with a reused `brownian=sk.BrownianPath(n, 1, (0, 1), seed=0)`, "
                f"on a non-dyadic ({grids['steps'][0]}) and a dyadic ({grids['steps'][1]}) grid; *× dyadic* is the "
                "time per path-step ÷ the seed-only dyadic solve's. Issue 18 asks for at most 1.5×.", "",
                harness.markdown_table(["variant", "ns per path-step", "× dyadic", "median s",
                                        "\\|z\\| vs exact EM mean"], rows), ""]
    out += ["### Contenders", "",
            "- **sdekit numba / numpy / torch**: `sk.solve(sde, x0, (0, 1), n_steps=..., n_paths=..., seed=0, "
            "backend=..., method=\"euler_maruyama\")`; ODE: `sk.solve(sk.ODE(f), x0, (0, 1), dt=1e-3, "
            "method=\"dopri5\", rtol=..., atol=...)` (one step size for the batch).",
            "- **numpy loop / torch loop**: `x += f(t, x) dt + g(t, x) dW`, increments from "
            "`Generator.standard_normal(out=)` / `torch.randn(out=, generator=)`.",
            "- **jax.lax.scan loop**: the same loop as `lax.scan` over the steps under `jax.jit`, increments "
            "`jax.random.normal(fold_in(key, i), shape)`.",
            "- **diffrax**: `diffeqsolve(MultiTerm(ODETerm(f), ControlTerm(g as DiagonalLinearOperator, bm)), "
            "Euler(), dt0=1/steps, saveat=SaveAt(t1=True), adjoint=ForwardMode())` per path under `jax.vmap` "
            "(`UnsafeBrownianPath`, `VirtualBrownianTree(tol=dt/2)`), or once on the batched state; ODE: "
            "`Dopri5()` / `Tsit5()` with `PIDController(rtol, atol)` per path under `vmap`, or on the batched "
            "state with sdekit's error norm (RMS over a path's components, largest over paths).",
            "- **torchsde**: `torchsde.sdeint(sde, y0, [0, 1], method=\"euler\", dt=...)` with a seeded "
            "`BrownianInterval`, or with `PlainIncrements` (fresh `torch.randn` increments, torchsde's public "
            "`bm(ta, tb)` convention).",
            "- The same drift and diffusion text for all (`benchmarks/problems.py`: `x * x * x`, `m.sin`, "
            "`m.stack`). Warm-up before timing: a short run at full paths, or JAX's ahead-of-time compilation "
            "of the exact call; compile times are in the notes, excluded from the medians.",
            "- Answer checks: |z| of each component's end-state mean against the exact Euler–Maruyama mean "
            "(GBM), against zero by odd symmetry (32-dim), and against sdekit numba's mean with both Monte Carlo "
            "errors (every problem); the largest over components is shown.",
            f"- Raw numbers: `{json_path or os.path.relpath(DEFAULT_JSON, harness.REPO)}`.", ""]
    return "\n".join(out)


def build_parser():
    """The suite's command-line options."""
    ap = argparse.ArgumentParser(prog="python benchmarks/peers.py", description=__doc__.splitlines()[0])
    sizes = ap.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_const", const="quick", dest="size",
                       help="reduced sizes (a few minutes); writes files only where --json/--markdown say")
    sizes.add_argument("--smoke", action="store_const", const="smoke", dest="size",
                       help="tiny sizes, every contender once (compile time dominates); for tests")
    ap.set_defaults(size="full")
    ap.add_argument("--problems", default=None, help="comma-separated subset of " + ",".join(PROBLEM_NAMES))
    ap.add_argument("--rows", default=None, help="comma-separated subset of the contenders: "
                    + ", ".join(dict.fromkeys(SDE_ROWS + ODE_ROWS)))
    ap.add_argument("--reps", type=int, default=3, help="interleaved timed repetitions (default 3)")
    ap.add_argument("--slow-fraction", type=float, default=0.1,
                    help="fraction of the paths the slow contenders run on at full size (default 0.1)")
    ap.add_argument("--json", default=None, help=f"JSON output path (default {DEFAULT_JSON}; '' for none)")
    ap.add_argument("--markdown", default=None,
                    help=f"Markdown page to regenerate (default {DEFAULT_MARKDOWN}; '' for none)")
    ap.add_argument("--from-json", default=None, metavar="PATH", help="run nothing: print and render saved results")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def main(argv=None):
    """Run the suite, print its tables, write ``benchmarks/results/peers.json`` and regenerate the page.

    Full-size runs write both by default; ``--quick`` / ``--smoke`` only the paths given.
    """
    import report

    args = build_parser().parse_args(argv)
    if args.from_json:
        results = harness.read_json(args.from_json)
        print(format_table(results))
        if args.markdown:
            print(f"wrote {report.write_page(args.markdown, {'peers': results}, {'peers': args.from_json})}")
        return 0
    split = harness.split_list
    results = run_benchmarks(size=args.size, problems=split(args.problems), rows=split(args.rows), reps=args.reps,
                             slow_fraction=args.slow_fraction, progress=not args.quiet)
    print(format_table(results))
    full = args.size == "full"
    json_path = args.json if args.json is not None else (DEFAULT_JSON if full else None)
    md_path = args.markdown if args.markdown is not None else (DEFAULT_MARKDOWN if full else None)
    harness.write_outputs('peers', results, json_path, md_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
