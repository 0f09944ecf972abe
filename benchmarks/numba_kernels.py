"""The fused Numba kernel's own figures (issues 12 and 18): the 32-dim case, grids off the tree, compile cache.

* ``dim32``: ``dX_i = (-X_i^3 + sin X_i) dt + 0.5 (1 + 0.1 cos X_i) dW_i`` in 32 dimensions
  (Euler–Maruyama, float64, end state only), sdekit numba against a hand-written
  in-place NumPy loop and sdekit's generator floor; ns per path-step.
* ``offgrid``: scalar GBM with ``brownian=sk.BrownianPath(n, 1, (0, 1), seed=1)``
  (one segment) on 1000 steps (off the tree's nodes: every time descends to its
  leaf) against the aligned 1024-step grid and the seed-only 1000-step solve.
* ``compile``: a fresh process solving a problem twice over (``stats["compile_time"]``,
  ``stats["compile_cache"]``), with an empty and with a warm cache directory.

Usage: ``python benchmarks/numba_kernels.py [dim32|offgrid|compile ...] [--paths N] [--steps K]``.
Medians of ``--reps`` repetitions after a warm-up; the load average is printed with
every figure (on a shared machine the figures are indicative).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _load():
    return f"load {os.getloadavg()[0]:.2f}"


CPU = {}  # name -> median CPU seconds (all threads) of the last _median call with that name


def _median(fn, reps, name=None):
    """Median wall seconds of ``reps`` calls after a warm-up (CPU seconds kept in ``CPU[name]``)."""
    fn()
    times, cpu = [], []
    for _ in range(reps):
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if name is not None:
        CPU[name] = statistics.median(cpu)
    return statistics.median(times)


def nl_drift(t, x):
    return -x * x * x + np.sin(x)


def nl_diffusion(t, x):
    return 0.5 * (1.0 + 0.1 * np.cos(x))


def dim32(paths, steps, reps):
    import sdekit as sk
    from sdekit.backends.numba_backend import NumbaBackend

    try:
        from sdekit.backends.numba_launch import generator_floor
    except ImportError:  # a revision whose fused kernel does not import (compared as "before")
        generator_floor = None
    d = 32
    x0 = np.linspace(-1.0, 1.0, d)
    sde = sk.SDE(nl_drift, nl_diffusion)
    backend = NumbaBackend(fused=True)

    def solve():
        return sk.solve(sde, x0, (0.0, 1.0), n_steps=steps, n_paths=paths, seed=0, backend=backend)

    def numpy_loop():
        rng = np.random.default_rng(0)
        x = np.broadcast_to(x0, (paths, d)).copy()
        dw = np.empty_like(x)
        f = np.empty_like(x)
        dt = 1.0 / steps
        sq = dt ** 0.5
        for _ in range(steps):
            rng.standard_normal(out=dw)
            dw *= sq
            np.sin(x, out=f)
            f -= x * x * x
            f *= dt
            g = np.cos(x)
            g *= 0.05
            g += 0.5
            g *= dw
            x += f
            x += g
        return x

    rows = {"sdekit numba": _median(solve, reps, "sdekit numba"),
            "numpy loop": _median(numpy_loop, reps, "numpy loop")}
    if generator_floor is not None:
        rows["sdekit generator"] = _median(lambda: generator_floor(paths, steps, d, seed=0), reps, "sdekit generator")
    ref = rows["numpy loop"]
    print(f"dim32: {paths} paths x {steps} steps x 32, float64 ({_load()})")
    per = paths * steps
    for name, s in rows.items():
        print(f"  {name:18s} wall {s * 1e9 / per:8.1f} ns/path-step ({ref / s:5.2f}x the NumPy loop), "
              f"CPU {CPU[name] * 1e9 / per:8.1f} ns/path-step")
    return {k: {"wall_ns": v * 1e9 / per, "cpu_ns": CPU[k] * 1e9 / per} for k, v in rows.items()}


def offgrid(paths, steps, reps):
    import sdekit as sk
    from sdekit.backends.numba_backend import NumbaBackend

    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    backend = NumbaBackend(fused=True)
    bm = sk.BrownianPath(paths, 1, (0.0, 1.0), seed=1)
    cases = {
        f"brownian=, segments=1, {steps} steps (off the tree)": dict(n_steps=steps, brownian=bm),
        "brownian=, segments=1, 1024 steps (aligned)": dict(n_steps=1024, brownian=bm),
        f"seed only, {steps} steps (aligned: segments={sk.brownian.segments_for(steps)})":
            dict(n_steps=steps, seed=1, n_paths=paths),
    }
    out = {}
    print(f"offgrid: GBM, {paths} paths ({_load()})")
    for name, kw in cases.items():
        s = _median(lambda: sk.solve(gbm, 1.0, (0.0, 1.0), backend=backend, **kw), reps, name)
        per = paths * kw["n_steps"]
        out[name] = {"wall_ns": s * 1e9 / per, "cpu_ns": CPU[name] * 1e9 / per}
        print(f"  {name:55s} wall {out[name]['wall_ns']:8.2f}, CPU {out[name]['cpu_ns']:8.2f} ns/path-step")
    name = "numpy backend, brownian=, off the tree"
    s = _median(lambda: sk.solve(gbm, 1.0, (0.0, 1.0), backend="numpy", n_steps=steps, brownian=bm), 1, name)
    out[name] = {"wall_ns": s * 1e9 / (paths * steps), "cpu_ns": CPU[name] * 1e9 / (paths * steps)}
    print(f"  {name:55s} wall {out[name]['wall_ns']:8.2f}, CPU {out[name]['cpu_ns']:8.2f} ns/path-step")
    return out


_COMPILE_CHILD = r"""
import json, time, numpy as np, sdekit as sk
from sdekit.backends.numba_backend import NumbaBackend
def drift(t, x):
    return -x * x * x + np.sin(x)
def diffusion(t, x):
    return 0.5 * (1.0 + 0.1 * np.cos(x))
t = time.perf_counter()
sol = sk.solve(sk.SDE(drift, diffusion), np.zeros(4), (0.0, 1.0), n_steps=64, n_paths=100,
               backend=NumbaBackend(fused=True))
print(json.dumps(dict(first_solve=time.perf_counter() - t, compile=sol.stats["compile_time"],
                      cache=sol.stats["compile_cache"])))
"""


def compile_cache():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SDEKIT_CACHE_DIR=tmp)
        for label in ("empty cache", "warm cache"):
            r = subprocess.run([sys.executable, "-c", _COMPILE_CHILD], capture_output=True, text=True, env=env)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            out[label] = res
            print(f"compile: {label:12s} first solve {res['first_solve']:.2f} s, compile_time {res['compile']:.2f} s "
                  f"({res['cache']}; {_load()})")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="*", default=["dim32", "offgrid", "compile"])
    ap.add_argument("--paths", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    res = {"load_start": os.getloadavg()}
    if "dim32" in args.what:
        res["dim32"] = dim32(args.paths or 10_000, args.steps or 500, args.reps)
    if "offgrid" in args.what:
        res["offgrid"] = offgrid(args.paths or 100_000, args.steps or 1000, args.reps)
    if "compile" in args.what:
        res["compile"] = compile_cache()
    res["load_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
