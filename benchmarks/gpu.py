"""GPU benchmark of the torch backend (issue 4): sdekit vs torchsde vs a hand-written loop, and the floor.

Euler–Maruyama in float32 on one CUDA device, the problems of
``benchmarks/torch_cpu.py`` (scalar GBM; a 32-dimensional diagonal SDE with a
mat-mul drift), 10^6 and 10^7 paths. Contenders:

* ``hand loop``: ``x = x + f dt + g sqrt(dt) torch.randn`` (seeded ``torch.Generator``);
* ``sdekit``: ``sk.solve(backend="torch")``, eager, Philox in int64 torch ops;
* ``sdekit compiled``: ``backend=TorchBackend(compile=True)``: the step and the
  Philox + Acklam generator each fused by ``torch.compile`` (compilation excluded);
* ``sdekit graphs``: ``TorchBackend(compile="reduce-overhead")`` (the step replayed
  as a CUDA graph);
* ``sdekit generator``: the grid's Brownian increments alone (compiled generator);
* ``torchsde``: ``torchsde.sdeint(method="euler")`` with its default ``BrownianInterval``;
  ``torchsde default``: ``torchsde.sdeint`` with every default (method ``srk``).
  torchsde runs ``--torchsde-steps`` steps (it is slow); all rows are per path-step.

The **memory-bandwidth floor** of EM on GBM: each step must read and write the
float32 state once (8 bytes per path-step); the device's bandwidth is measured
here with a 1 GiB device-to-device copy. ``floor_ratio`` = measured time / floor.

Also checks that the fixed-step loop issues no host synchronisation per step
(``torch.cuda.set_sync_debug_mode("warn")``: the count must not grow with the
number of steps).

Run on a machine with CUDA: ``.venv/bin/python benchmarks/gpu.py`` (about 5-10 minutes,
most of it torch.compile and torchsde). Results: ``benchmarks/results/torch_gpu.json``
and a table on stdout; ``docs/benchmarks-torch.md`` records them with the device name.
Without CUDA the script says so and exits 0; ``--device cpu --smoke`` runs the whole
pipeline at toy sizes on the CPU to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sdekit.backends.torch_backend import TorchBackend  # noqa: E402
from torch_cpu import (RESULTS, Problem, machine, print_table, run_problem, sdekit_generator,  # noqa: E402
                       sdekit_solve)


def copy_bandwidth(device, nbytes=1 << 30, reps=10):
    """Device memory bandwidth in bytes/s from a device-to-device copy (read + write)."""
    x = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    times = []
    for _ in range(reps):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        y.copy_(x)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * nbytes / sorted(times)[len(times) // 2]


def count_syncs(p, n, steps):
    """Host synchronisations during a whole solve (CUDA's sync debug mode), for two step counts."""
    counts = {}
    for k in steps:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                sdekit_solve(p, n, k)
                torch.cuda.synchronize()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts[k] = sum("synchroniz" in str(w.message) for w in caught)
    return counts


def torchsde_default(p, n, steps):
    import torchsde

    ts = torch.tensor([0.0, 1.0], device=p.device, dtype=p.dtype)
    return torchsde.sdeint(p.module, p.x0(n), ts, dt=1.0 / steps)[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--torchsde-steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--gbm-paths", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--dim32-paths", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--smoke", action="store_true", help="toy sizes (to check the script, e.g. on the CPU)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "torch_gpu.json"))
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.torchsde_steps, args.reps = 8, 4, 1
        args.gbm_paths, args.dim32_paths = [2000], [200]
        args.out = args.out.replace(".json", "_smoke.json")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No CUDA device available: nothing measured. Run this script on a machine with a GPU.")
        return 0
    bandwidth = copy_bandwidth(device, nbytes=(1 << 30) if not args.smoke else (1 << 24))
    out = {"machine": machine(device), "steps": args.steps, "torchsde_steps": args.torchsde_steps,
           "reps": args.reps, "copy_bandwidth_GBps": bandwidth / 1e9, "results": []}
    print(f"device {out['machine'].get('gpu', device)}; copy bandwidth {bandwidth / 1e9:.0f} GB/s")
    graphs = TorchBackend(compile="reduce-overhead") if device.type == "cuda" else None
    cases = [("gbm", 1, n) for n in args.gbm_paths] + [("dim32", 32, n) for n in args.dim32_paths]
    for name, d, n in cases:
        p = Problem(name, d, device)
        extra = {"torchsde default": (lambda p=p, n=n: torchsde_default(p, n, args.torchsde_steps)),
                 "sdekit generator compiled": (lambda p=p, n=n: sdekit_generator(p, n, args.steps,
                                                                                 kernel="compiled"))}
        if graphs is not None:
            extra["sdekit graphs"] = lambda p=p, n=n: sdekit_solve(p, n, args.steps, backend=graphs)
        res = run_problem(p, n, args.steps, args.reps, torchsde_steps=args.torchsde_steps, extra=extra)
        rows = res["rows"]
        rows["torchsde default"]["steps"] = args.torchsde_steps
        per_ts = rows["torchsde default"]["median_s"] / (n * args.torchsde_steps) * 1e9
        rows["torchsde default"]["ns_per_path_step"] = per_ts
        rows["torchsde default"]["vs_hand_loop"] = per_ts / rows["hand loop"]["ns_per_path_step"]
        floor_ns = 2 * 4 * d / bandwidth * 1e9  # read + write the float32 state, ns per path-step
        res["floor_ns_per_path_step"] = floor_ns
        for r in rows.values():
            r["floor_ratio"] = r["ns_per_path_step"] / floor_ns
        best = min(rows[k]["ns_per_path_step"] for k in rows if k.startswith("sdekit") and "generator" not in k)
        res["best_sdekit_vs_torchsde_euler"] = rows["torchsde"]["ns_per_path_step"] / best
        res["best_sdekit_vs_torchsde_default"] = per_ts / best
        print_table(res)
        print(f"floor {floor_ns:.3f} ns/path-step; best sdekit: {best / floor_ns:.1f}x the floor, "
              f"{res['best_sdekit_vs_torchsde_euler']:.1f}x faster than torchsde euler, "
              f"{res['best_sdekit_vs_torchsde_default']:.1f}x than torchsde's defaults")
        out["results"].append(res)
    if device.type == "cuda":
        out["host_syncs_per_solve"] = count_syncs(Problem("gbm", 1, device), 10_000, (8, 64))
        print("host syncs per solve (8 steps, 64 steps):", out["host_syncs_per_solve"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
