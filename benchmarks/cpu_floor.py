"""Floors for the Numba backend (issue 3): what the normals cost, before any solver.

Rows, each in ns per normal (= per path-step for scalar Euler–Maruyama), medians of
interleaved repetitions, ratios from the same run:

* ``numpy loop``: a hand-written in-place NumPy Euler–Maruyama loop on scalar GBM
  (NumPy's own generator), the baseline the Numba backend must beat by 2x;
* ``numpy normals``: ``Generator.standard_normal`` alone (NumPy's floor);
* ``sdekit twin (one lane)``: :func:`sdekit.philox.normals`'s compiled twin as the
  NumPy backend uses it today, one Philox call per normal;
* ``sdekit all lanes, 1 thread`` / ``N threads``: a kernel that uses all four words
  of each Philox call (the layout the fused kernel will use), serial and with
  ``prange`` — the generator floor the fused kernel must stay within 1.5x of.

Run: ``.venv/bin/python benchmarks/cpu_floor.py [--paths N] [--steps K] [--reps R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numba
import numpy as np

from sdekit import philox
from sdekit._philox_numba import normal_from_word, philox_lane


@numba.njit(cache=True, nogil=True)
def _philox4(c0, c1, c2, c3, k0, k1):
    m0, m1, mask, s32 = np.uint64(philox.PHILOX_M0), np.uint64(philox.PHILOX_M1), np.uint64(0xFFFFFFFF), np.uint64(32)
    for r in range(philox.ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(philox.PHILOX_W0)) & mask
            k1 = (k1 + np.uint64(philox.PHILOX_W1)) & mask
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


def _make_all_lanes(parallel):
    @numba.njit(cache=True, parallel=parallel)
    def fill(out, seed_lo, seed_hi):
        n_paths, n_nodes = out.shape
        for i in numba.prange(n_paths):
            for q in range(n_nodes // 4):
                w0, w1, w2, w3 = _philox4(np.uint64(q), np.uint64(0), np.uint64(i), np.uint64(0), seed_lo, seed_hi)
                out[i, 4 * q] = normal_from_word(w0)
                out[i, 4 * q + 1] = normal_from_word(w1)
                out[i, 4 * q + 2] = normal_from_word(w2)
                out[i, 4 * q + 3] = normal_from_word(w3)

    return fill


_ALL_SERIAL = _make_all_lanes(False)
_ALL_PARALLEL = _make_all_lanes(True)


def numpy_loop(n, steps):
    rng = np.random.default_rng(0)
    x = np.ones(n)
    dw = np.empty(n)
    dt = 1.0 / steps
    sq = dt**0.5
    for _ in range(steps):
        rng.standard_normal(out=dw)
        dw *= sq
        dw *= 0.8
        dw += 0.5 * dt
        dw *= x
        x += dw
    return x


def numpy_normals(n, steps):
    rng = np.random.default_rng(0)
    buf = np.empty(n)
    for _ in range(steps):
        rng.standard_normal(out=buf)


def sdekit_twin(n, steps):
    paths = np.arange(n, dtype=np.uint64)
    for k in range(steps):
        philox.normals(1, k, paths, 1)


def all_lanes(fill):
    def run(n, steps):
        out = np.empty((n, steps - steps % 4))
        fill(out, np.uint64(1), np.uint64(0))
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cpu_floor.json"))
    args = ap.parse_args(argv)
    rows = {"numpy loop": numpy_loop, "numpy normals": numpy_normals, "sdekit twin (one lane)": sdekit_twin,
            "sdekit all lanes, 1 thread": all_lanes(_ALL_SERIAL),
            f"sdekit all lanes, {numba.get_num_threads()} threads": all_lanes(_ALL_PARALLEL)}
    for fn in rows.values():  # compile and warm up
        fn(1000, 8)
    times = {k: [] for k in rows}
    for _ in range(args.reps):  # interleaved repetitions
        for name, fn in rows.items():
            t = time.perf_counter()
            fn(args.paths, args.steps)
            times[name].append(time.perf_counter() - t)
    work = args.paths * args.steps
    base = statistics.median(times["numpy loop"])
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"numba {numba.__version__}; {args.paths:,} paths x {args.steps} steps, median of {args.reps}")
    result = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        result[name] = {"ns_per_normal": med / work * 1e9, "speed_vs_numpy_loop": base / med}
        print(f"{name:34s} {med / work * 1e9:8.2f} ns   {base / med:6.2f}x the numpy loop")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"paths": args.paths, "steps": args.steps, "reps": args.reps, "rows": result}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
