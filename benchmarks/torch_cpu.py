"""The torch backend against a hand-written torch loop and torchsde (issue 4), on one device.

Euler–Maruyama in float32 and float64, two problems:

* ``gbm``: scalar geometric Brownian motion, dX = 0.5 X dt + 0.8 X dW (d = 1);
* ``dim32``: a 32-dimensional diagonal SDE, dX = X A^T dt + 0.2 X dW with a fixed
  stable 32 x 32 matrix A (one mat-mul per drift evaluation).

Contenders, each timed over the same grid (``--steps`` steps of [0, 1]):

* ``hand loop``: ``x += f(x) dt + g(x) dW`` with ``dW = torch.randn(...) * sqrt(dt)`` from a
  seeded ``torch.Generator`` — the loop a torch user writes by hand (in place);
* ``sdekit``: ``sk.solve(..., backend="torch")`` (eager; on the CPU the Brownian path
  draws its normals with sdekit's Numba-compiled Philox twin);
* ``sdekit compiled``: ``backend=TorchBackend(compile=True)`` (``torch.compile`` of the
  step; off the CPU also of the normal generator), compilation excluded (warmed up);
* ``sdekit generator``: only the Brownian increments of the grid (the path the solve
  builds, swept as the solve sweeps it), to split sdekit's time into generator and stepping;
* ``torch.randn alone``: the hand loop's draws alone, to split its time likewise;
* ``torchsde``: ``torchsde.sdeint(method="euler")`` with its default Brownian object
  (``BrownianInterval``), the same problem as a torchsde module.

Medians of ``--reps`` interleaved repetitions (the contenders alternate, so load
changes hit all of them); every ratio is taken between medians of the same run.
Times are per path-step (one step of one path, all ``d`` components). Results go to
``benchmarks/results/torch_cpu.json`` and are printed as a table.

Run (one command, about 2-3 minutes on 2 idle cores):
``.venv/bin/python benchmarks/torch_cpu.py [--paths N] [--paths32 N] [--steps K] [--reps R] [--dtypes ...]``
(``benchmarks/gpu.py`` reuses this file on CUDA and adds the memory-bandwidth floor).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics

import torch

import harness

import sdekit as sk
from sdekit.backends.torch_backend import TorchBackend
from sdekit.brownian import odd_part

RESULTS = harness.RESULTS


def _matrix(d, device, dtype):
    g = torch.Generator().manual_seed(1234)
    a = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d) * 0.5 - torch.eye(d, dtype=torch.float64)
    return a.to(device=device, dtype=dtype)


class Problem:
    """One SDE in the three spellings the contenders need (sdekit, hand loop, torchsde module)."""

    def __init__(self, name, d, device, dtype=torch.float32):
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        self.name, self.d = name, d
        self.device, self.dtype = torch.device(device), dtype
        if d == 1:
            def f(t, x):
                return 0.5 * x

            def g(t, x):
                return 0.8 * x
        else:
            a_t = _matrix(d, self.device, dtype).T.contiguous()

            def f(t, x):
                return x @ a_t

            def g(t, x):
                return 0.2 * x
        self.f, self.g = f, g
        self.sde = sk.SDE(f, g)
        self.module = _TorchsdeModule(f, g)

    def x0(self, n):
        return torch.ones(n, self.d, device=self.device, dtype=self.dtype)


class _TorchsdeModule(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self, f, g):
        super().__init__()
        self._f, self._g = f, g

    def f(self, t, y):
        return self._f(t, y)

    def g(self, t, y):
        return self._g(t, y)


def hand_loop(p, n, steps, seed=0):
    gen = torch.Generator(device=p.device).manual_seed(seed)
    x = p.x0(n)
    dt = 1.0 / steps
    sq = math.sqrt(dt)
    for i in range(steps):
        t = i * dt
        dw = torch.randn(x.shape, generator=gen, device=p.device, dtype=p.dtype) * sq
        x += p.f(t, x) * dt + p.g(t, x) * dw
    return x


def randn_only(p, n, steps, seed=0):
    """The hand loop's draws alone: ``steps`` calls of ``torch.randn`` scaled by sqrt(dt)."""
    gen = torch.Generator(device=p.device).manual_seed(seed)
    sq = math.sqrt(1.0 / steps)
    for _ in range(steps):
        dw = torch.randn((n, p.d), generator=gen, device=p.device, dtype=p.dtype) * sq
    return dw


def sdekit_solve(p, n, steps, backend="torch", seed=0):
    return sk.solve(p.sde, p.x0(n), (0.0, 1.0), n_steps=steps, seed=seed, backend=backend).ys[-1]


def sdekit_generator(p, n, steps, seed=0, kernel="auto"):
    """The grid's Brownian increments exactly as the solve draws them (the state's dtype), nothing else."""
    dtype = "float64" if p.dtype == torch.float64 else "float32"
    bm = TorchBackend(kernel=kernel).brownian(n, p.d, (0.0, 1.0), seed=seed, segments=odd_part(steps),
                                              dtype=dtype, like=p.x0(1))
    last = None
    for last in bm.increments([i / steps for i in range(steps + 1)]):
        pass
    return last


def torchsde_solve(p, n, steps):
    import torchsde

    ts = torch.tensor([0.0, 1.0], device=p.device, dtype=p.dtype)
    return torchsde.sdeint(p.module, p.x0(n), ts, method="euler", dt=1.0 / steps)[-1]


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(contenders, reps, device):
    """``{name: [seconds, ...]}``, the contenders alternating within each repetition (:func:`harness.interleaved`)."""
    runs = harness.interleaved(contenders, reps, collect=False, sync=lambda: _sync(device))
    failed = {name: run["missing"] for name, run in runs.items() if "missing" in run}
    if failed:
        raise RuntimeError(f"contenders failed: {failed}")
    return {name: run["times_s"] for name, run in runs.items()}


def run_problem(p, n, steps, reps, *, compiled=True, torchsde_steps=None, extra=None):
    """Time every contender on ``p``; returns the result rows (ns per path-step, ratios)."""
    be_compiled = TorchBackend(compile=True)
    contenders = {
        "hand loop": lambda: hand_loop(p, n, steps),
        "torch.randn alone": lambda: randn_only(p, n, steps),
        "sdekit": lambda: sdekit_solve(p, n, steps),
        "sdekit generator": lambda: sdekit_generator(p, n, steps),
    }
    if compiled:
        contenders["sdekit compiled"] = lambda: sdekit_solve(p, n, steps, backend=be_compiled)
    ts_steps = torchsde_steps or steps
    contenders["torchsde"] = lambda: torchsde_solve(p, n, ts_steps)
    contenders.update(extra or {})
    def warm_up():  # Numba/inductor compilation, allocator, caches
        for fn in contenders.values():
            fn()
        _sync(p.device)

    warmup, _ = harness.timed(warm_up, collect=False)
    times = time_interleaved(contenders, reps, p.device)
    steps_of = {name: (ts_steps if name == "torchsde" else steps) for name in contenders}
    med = {name: statistics.median(v) for name, v in times.items()}
    per = {name: med[name] / (n * steps_of[name]) * 1e9 for name in med}  # ns per path-step
    rows = {}
    for name in contenders:
        rows[name] = {
            "median_s": med[name],
            "runs_s": times[name],
            "steps": steps_of[name],
            "ns_per_path_step": per[name],
            "vs_hand_loop": per[name] / per["hand loop"],
        }
    rows["torchsde"]["sdekit_speedup"] = per["torchsde"] / per["sdekit"]
    if compiled:
        rows["torchsde"]["sdekit_compiled_speedup"] = per["torchsde"] / per["sdekit compiled"]
        rows["sdekit compiled"]["gain_vs_eager"] = per["sdekit"] / per["sdekit compiled"]
    # sdekit's time outside the generator, against the hand loop's time outside torch.randn.
    rows["sdekit"]["stepping_ns_per_path_step"] = per["sdekit"] - per["sdekit generator"]
    rows["hand loop"]["stepping_ns_per_path_step"] = per["hand loop"] - per["torch.randn alone"]
    rows["sdekit generator"]["vs_randn"] = per["sdekit generator"] / per["torch.randn alone"]
    return {"problem": p.name, "d": p.d, "dtype": str(p.dtype).replace("torch.", ""), "paths": n,
            "warmup_s": warmup, "rows": rows}


def machine(device):
    """:func:`harness.machine_info` (the shared machine facts) plus the device and, on CUDA, the GPU's name."""
    info = harness.machine_info()
    info["device"] = str(device)
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_table(result):
    print(f"\n{result['problem']} (d={result['d']}), {result.get('dtype', '')}, {result['paths']:,} paths")
    print(f"{'contender':26s} {'steps':>6s} {'median s':>9s} {'ns/path-step':>13s} {'x hand loop':>12s}")
    for name, r in result["rows"].items():
        print(f"{name:26s} {r['steps']:6d} {r['median_s']:9.3f} {r['ns_per_path_step']:13.2f} "
              f"{r['vs_hand_loop']:12.2f}")


def markdown(out):
    """The docs table: ns per path-step and ratio to the hand loop, one column per (problem, dtype)."""
    results = out["results"]
    head = [f"{r['problem']} {r['dtype']}, {r['paths']:,} paths" for r in results]
    lines = ["| ns per path-step (× hand loop) | " + " | ".join(head) + " |",
             "|---|" + "---:|" * len(results)]
    for name in results[0]["rows"]:
        cells = []
        for r in results:
            row = r["rows"].get(name)
            cells.append("" if row is None else f"{row['ns_per_path_step']:.1f} ({row['vs_hand_loop']:.2f}×)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| sdekit speed-up over torchsde | "
                 + " | ".join(f"{r['rows']['torchsde']['sdekit_speedup']:.1f}×" for r in results) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paths", type=int, default=100_000, help="paths for GBM")
    ap.add_argument("--paths32", type=int, default=10_000, help="paths for the 32-dim SDE")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (medians; at least 3)")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--no-compiled", action="store_true", help="skip the torch.compile contender")
    ap.add_argument("--out", default=os.path.join(RESULTS, "torch_cpu.json"))
    args = ap.parse_args(argv)
    if args.reps < 3:
        ap.error("--reps must be at least 3 (medians)")
    if args.threads:
        torch.set_num_threads(args.threads)
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    device = "cpu"
    out = {"machine": machine(device), "steps": args.steps, "reps": args.reps, "results": []}
    for dtype in args.dtypes:
        for p, n in ((Problem("gbm", 1, device, dtype), args.paths),
                     (Problem("dim32", 32, device, dtype), args.paths32)):
            res = run_problem(p, n, args.steps, args.reps, compiled=not args.no_compiled)
            print_table(res)
            out["results"].append(res)
    harness.finish_machine_info(out["machine"])
    print("\nsdekit / hand loop (target <= 1.2):")
    for res in out["results"]:
        r = res["rows"]
        line = f"  {res['problem']:6s} {res['dtype']:8s} sdekit {r['sdekit']['vs_hand_loop']:.2f}"
        if "sdekit compiled" in r:
            line += f", compiled {r['sdekit compiled']['vs_hand_loop']:.2f}"
        print(line + f"; sdekit {r['torchsde']['sdekit_speedup']:.1f}x faster than torchsde")
    harness.write_json(out, args.out)
    print("\n" + markdown(out))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
