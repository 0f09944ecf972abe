"""GPU benchmark (issue 17): the fused per-path CUDA kernel and the torch path against torchsde, a hand loop and floors.

Euler–Maruyama on one CUDA device, ``--steps`` uniform steps of [0, 1] (default 1000),
float32 and float64, two problems (the text of ``benchmarks/torch_cpu.py``):

* ``gbm``: scalar geometric Brownian motion, dX = 0.5 X dt + 0.8 X dW;
* ``dim32``: a 32-dimensional diagonal SDE with a mat-mul drift, dX = X A^T dt + 0.2 X dW.

Contenders (all per path-step: one step of one path, all d components):

* ``per-path kernel``: ``sk.solve(..., backend="numba", device="cuda")`` from a NumPy
  ``x0`` — one thread per path runs the whole solve (:mod:`sdekit.backends.cuda_kernel`);
  wall time of the call, copies of ``x0`` in and of the saved states out included;
* ``per-path kernel, kernel only``: the same solve's kernel time (``stats["kernel_time"]``);
* ``kernel RNG floor``: the same kernel with the step ``x <- x + dW``
  (:func:`sdekit.backends.cuda_kernel.generator_floor`): Philox, skeleton and tree walk only;
* ``torch path``: ``sk.solve(..., backend="torch")`` on a CUDA ``x0``: the step in torch,
  the Brownian increments from the Triton block generator (:mod:`sdekit._brownian_triton`);
* ``torch path generator``: that generator's sweep alone;
* ``hand loop``: ``x += f dt + g sqrt(dt) torch.randn(...)`` (seeded ``torch.Generator``, in place);
* ``torch.randn alone``: the hand loop's draws alone (its RNG floor);
* ``torchsde``: ``torchsde.sdeint(method="euler")`` with its default ``BrownianInterval``,
  ``--torchsde-steps`` steps (it is slow), at up to ``--torchsde-max-paths`` paths.

Floors: the device's copy bandwidth (a 1 GiB device-to-device copy) gives the
**memory-bandwidth floor** of a loop that keeps the state in memory, ``2 b d`` bytes
per path-step (read and write the state once, ``b`` bytes per value); the per-path
kernel keeps its state in registers, so its floor is its own RNG floor.

Acceptance figures (issue 17, GBM, 10^7 paths, 1000 steps, float32), printed at the end:
per-path kernel >= 10x torchsde, >= 3x the hand loop, <= 2x its RNG floor; torch path
<= 1.5x the hand loop.

Correctness checks on the device run right after the acceptance case (GBM, 10^7
paths, float32: measured first, so its figures are saved even if the run is cut
short): the per-path kernel against the NumPy backend (EM and Heun, four noise
types, float64, 1e-10), the Triton generator against the CPU path (1e-13), and the
host synchronisations of a torch solve for 8 and 512 steps (they must be equal).
Then GBM float32 10^6, GBM float64 10^6 and 10^7, the 32-dim SDE at 10^6 in float32
and float64, and GBM float32 10^8 last. Results go to ``--out`` (JSON, rewritten
after every case: the machine, GPU, driver and versions, every repetition) and a
Markdown table to ``--markdown``.

Run on a CUDA machine, one command (an estimated 4-7 minutes; ``--budget-s``, default
420, starts no case after it is spent nor one predicted, from the same problem's
smaller case, to end after it)::

    python benchmarks/gpu.py --markdown benchmarks/results/gpu.md

Without a CUDA device the script refuses (a message on stderr, exit status 2,
nothing written) unless ``--smoke``, which runs the whole pipeline at toy sizes on
the CPU: the per-path kernel in Numba's CUDA simulator, the Triton generator in
Triton's interpreter (both switched on by this script before Numba and Triton are
imported). ``tests/test_gpu_bench.py`` runs it that way.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and "--smoke" in sys.argv:  # before numba or triton is imported anywhere
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    os.environ.setdefault("TRITON_INTERPRET", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import sdekit as sk  # noqa: E402
from torch_cpu import RESULTS, Problem, hand_loop, randn_only, torchsde_solve  # noqa: E402

ACCEPT = {"problem": "gbm", "dtype": "float32", "paths": 10_000_000, "steps": 1000}


def copy_bandwidth(device, nbytes=1 << 30, reps=10):
    """Device memory bandwidth in bytes/s from a device-to-device copy (bytes read + written)."""
    x = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    times = []
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        y.copy_(x)
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * nbytes / sorted(times)[len(times) // 2]


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def machine(device, smoke):
    import importlib.metadata as md

    info = {"device": str(device), "python": sys.version.split()[0], "smoke": smoke}
    for dist in ("torch", "triton", "numba", "numba-cuda", "numpy", "torchsde"):
        try:
            info[dist] = md.version(dist)
        except md.PackageNotFoundError:
            info[dist] = None
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, sms=props.multi_processor_count, memory_GiB=props.total_memory / 2**30,
                    cuda=torch.version.cuda)
        try:
            from numba import cuda as ncuda

            info["numba_cuda_device"] = ncuda.get_current_device().name.decode() \
                if isinstance(ncuda.get_current_device().name, bytes) else str(ncuda.get_current_device().name)
            info["numba_cuda_runtime"] = ".".join(map(str, ncuda.runtime.get_version()))
        except Exception as e:  # noqa: BLE001
            info["numba_cuda_device"] = f"unavailable ({type(e).__name__}: {e})"
        try:
            import subprocess

            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception as e:  # noqa: BLE001
            info["driver"] = f"unknown ({e})"
    return info


# -- correctness on the device ---------------------------------------------------------------------------
def check_kernel(n_paths, n_steps):
    """Max relative difference per-path kernel vs NumPy backend (float64), EM and Heun on four noise types."""
    b = np.array([[0.3, 0.1, -0.2], [0.0, 0.25, 0.15]])
    out = {}
    for method, calculus in (("euler_maruyama", "ito"), ("heun", "stratonovich")):
        problems = {
            "diagonal": sk.SDE(lambda t, x: -x * x * x + np.sin(x), lambda t, x: 0.5 * (1.0 + 0.1 * np.cos(x)),
                               calculus=calculus),
            "scalar": sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.4 * x, noise="scalar", calculus=calculus),
            "general": sk.SDE(lambda t, x: -x, lambda t, x: x[:, :, None] * b[None] + 0.05, noise="general",
                              brownian_dim=3, calculus=calculus),
            "additive": sk.SDE(lambda t, x: 2.0 * (1.0 - x), lambda t, x: 0.7 + 0.0 * x, additive=True,
                               calculus=calculus),
        }
        for noise, sde in problems.items():
            kw = dict(n_steps=n_steps, n_paths=n_paths, seed=5, method=method, save_at="steps")
            a = sk.solve(sde, np.array([0.8, -0.3]), (0.0, 1.0), backend="numba", device="cuda", **kw).ys
            r = sk.solve(sde, np.array([0.8, -0.3]), (0.0, 1.0), backend="numpy", **kw).ys
            out[f"{method}/{noise}"] = float(np.max(np.abs(a - r)) / np.max(np.abs(r)))
    return out


def check_generator(device, n_paths, n_steps):
    """Max difference of the Triton sweep on ``device`` against the CPU path (increments and areas)."""
    from sdekit._brownian_triton import TritonBrownianPath
    from sdekit.brownian import segments_for

    seg = segments_for(n_steps)
    gpu = TritonBrownianPath(n_paths, 2, (0.0, 1.0), seed=4, backend="torch", device=device, segments=seg)
    gpu.set_kernel("triton")
    cpu = sk.BrownianPath(n_paths, 2, (0.0, 1.0), seed=4, backend="torch", segments=seg)
    times = np.linspace(0.0, 1.0, n_steps + 1)
    err = 0.0
    for g, c in zip(gpu.increments(times, levy_area=True), cpu.increments(times, levy_area=True)):
        err = max(err, float((g.dW.cpu() - c.dW).abs().max()), float((g.H.cpu() - c.H).abs().max()))
    return err


def count_syncs(device, n, steps=(8, 512)):
    """Host synchronisations of a whole torch solve (CUDA's sync debug mode), for two step counts."""
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    counts = {}
    for k in steps:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                sk.solve(gbm, torch.ones(1, device=device), (0.0, 1.0), n_steps=k, n_paths=n)
                torch.cuda.synchronize()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts[k] = sum("synchroniz" in str(w.message) for w in caught)
    return counts


# -- contenders ------------------------------------------------------------------------------------------
def _numpy_functions(p):
    if p.d == 1:
        return sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    from torch_cpu import _matrix

    a_t = _matrix(p.d, "cpu", p.dtype).T.contiguous().numpy()
    return sk.SDE(lambda t, x: x @ a_t, lambda t, x: 0.2 * x)


def contenders(p, n, steps, torchsde_steps, with_torchsde):
    np_dtype = "float32" if p.dtype == torch.float32 else "float64"
    np_sde = _numpy_functions(p)
    x0 = np.ones(p.d, dtype=np_dtype)
    kernel_times = []

    def per_path():
        sol = sk.solve(np_sde, x0, (0.0, 1.0), n_steps=steps, n_paths=n, backend="numba", device="cuda",
                       dtype=np_dtype)
        kernel_times.append(sol.stats["kernel_time"])
        return sol.ys[-1]

    def floor():
        from sdekit.backends.cuda_kernel import generator_floor

        res = generator_floor(n, steps, p.d, seed=0, dtype=np_dtype)
        return res.extra["kernel_time"]

    def torch_path():
        return sk.solve(p.sde, p.x0(n), (0.0, 1.0), n_steps=steps, seed=0, backend="torch").ys[-1]

    def torch_generator():
        from sdekit.backends.torch_backend import TorchBackend
        from sdekit.brownian import segments_for

        bm = TorchBackend().brownian(n, p.d, (0.0, 1.0), seed=0, segments=segments_for(steps), dtype=np_dtype,
                                     like=p.x0(1))
        last = None
        for last in bm.increments(np.linspace(0.0, 1.0, steps + 1)):
            pass
        return last

    out = {"per-path kernel": per_path, "kernel RNG floor": floor, "torch path": torch_path,
           "torch path generator": torch_generator, "hand loop": lambda: hand_loop(p, n, steps),
           "torch.randn alone": lambda: randn_only(p, n, steps)}
    if with_torchsde:
        out["torchsde"] = lambda: torchsde_solve(p, n, torchsde_steps)
    return out, kernel_times


def run_case(p, n, steps, reps, torchsde_steps, with_torchsde, bandwidth, log):
    fns, kernel_times = contenders(p, n, steps, torchsde_steps, with_torchsde)
    started = time.perf_counter()
    warm = {}
    for name, fn in fns.items():  # compilation (numba-cuda, Triton), allocator, caches
        t = time.perf_counter()
        try:
            fn()
            _sync(p.device)
            warm[name] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001 - one failing contender must not stop the run
            warm[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"  {name}: {warm[name]}")
    live = {k: v for k, v in fns.items() if not isinstance(warm[k], str)}
    kernel_times.clear()
    floor_times = []
    times = {name: [] for name in live}
    for _ in range(reps):  # interleaved: load changes hit every contender alike
        for name, fn in live.items():
            _sync(p.device)
            t = time.perf_counter()
            r = fn()
            _sync(p.device)
            times[name].append(time.perf_counter() - t)
            if name == "kernel RNG floor":
                floor_times.append(r)
    steps_of = {name: (torchsde_steps if name == "torchsde" else steps) for name in live}
    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {"median_s": med, "runs_s": ts, "steps": steps_of[name],
                      "ns_per_path_step": med / (n * steps_of[name]) * 1e9}
    if kernel_times:
        med = statistics.median(kernel_times)
        rows["per-path kernel, kernel only"] = {"median_s": med, "runs_s": kernel_times, "steps": steps,
                                                "ns_per_path_step": med / (n * steps) * 1e9}
    if floor_times:  # the floor's kernel time alone (its transfers are not part of the floor)
        med = statistics.median(floor_times)
        rows["kernel RNG floor"].update(median_s=med, runs_s=floor_times, ns_per_path_step=med / (n * steps) * 1e9)
    bytes_per = 4 if p.dtype == torch.float32 else 8
    mem_floor = 2 * bytes_per * p.d / bandwidth * 1e9
    hand = rows.get("hand loop", {}).get("ns_per_path_step")
    for r in rows.values():
        r["vs_hand_loop"] = r["ns_per_path_step"] / hand if hand else None
        r["vs_memory_floor"] = r["ns_per_path_step"] / mem_floor
    return {"problem": p.name, "d": p.d, "dtype": str(p.dtype).replace("torch.", ""), "paths": n, "steps": steps,
            "memory_floor_ns_per_path_step": mem_floor, "warmup_s": warm, "wall_s": time.perf_counter() - started,
            "rows": rows}


def acceptance(results):
    """The issue's figures for GBM, 10^7 paths, 1000 steps, float32 (None where that case did not run)."""
    case = next((r for r in results if all(r[k] == v for k, v in ACCEPT.items())), None)
    if case is None:
        return None
    per = {k: v["ns_per_path_step"] for k, v in case["rows"].items()}

    def ratio(a, b):
        return per[a] / per[b] if a in per and b in per else None

    figs = {"torchsde / per-path kernel (>= 10)": ratio("torchsde", "per-path kernel"),
            "hand loop / per-path kernel (>= 3)": ratio("hand loop", "per-path kernel"),
            "per-path kernel, kernel only / kernel RNG floor (<= 2)": ratio("per-path kernel, kernel only",
                                                                          "kernel RNG floor"),
            "per-path kernel / kernel RNG floor (<= 2)": ratio("per-path kernel", "kernel RNG floor"),
            "torch path / hand loop (<= 1.5)": ratio("torch path", "hand loop")}
    return {k: v for k, v in figs.items()}


ORDER = ("per-path kernel", "per-path kernel, kernel only", "kernel RNG floor", "torch path", "torch path generator",
         "hand loop", "torch.randn alone", "torchsde")


def _paths(n):
    """``10⁷`` for a power of ten, else ``1,234``."""
    k = len(str(n)) - 1
    if n >= 10 and n == 10**k:
        return "10" + str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{n:,}"


def markdown(out):
    results = out["results"]
    names = {"gbm": "GBM", "dim32": "32-dim"}
    head = [f"{names.get(r['problem'], r['problem'])} {r['dtype']}, {_paths(r['paths'])} paths" for r in results]
    lines = ["| ns per path-step (× hand loop) | " + " | ".join(head) + " |", "|---|" + "---:|" * len(results)]
    for name in ORDER:
        cells = []
        for r in results:
            row = r["rows"].get(name)
            if row is None:
                cells.append("—")
            else:
                ratio = f" ({row['vs_hand_loop']:.2f}×)" if row.get("vs_hand_loop") else ""
                cells.append(f"{row['ns_per_path_step']:.3g}{ratio}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| memory-bandwidth floor | " + " | ".join(f"{r['memory_floor_ns_per_path_step']:.3g}"
                                                          for r in results) + " |")
    if out.get("acceptance"):
        lines += ["", "| acceptance (GBM, 10^7 paths, 1000 steps, float32) | ratio |", "|---|---:|"]
        lines += [f"| {k} | {'n/a' if v is None else f'{v:.2f}'} |" for k, v in out["acceptance"].items()]
    return "\n".join(lines)


def print_case(res):
    print(f"\n{res['problem']} (d={res['d']}) {res['dtype']}, {res['paths']:,} paths, {res['steps']} steps "
          f"(memory floor {res['memory_floor_ns_per_path_step']:.3g} ns/path-step)")
    print(f"{'contender':30s} {'steps':>6s} {'median s':>10s} {'ns/path-step':>13s} {'x hand':>8s} {'x mem':>8s}")
    for name in ORDER:
        r = res["rows"].get(name)
        if r is not None:
            hand = f"{r['vs_hand_loop']:8.2f}" if r.get("vs_hand_loop") else f"{'-':>8s}"
            print(f"{name:30s} {r['steps']:6d} {r['median_s']:10.4f} {r['ns_per_path_step']:13.4g} {hand} "
                  f"{r['vs_memory_floor']:8.1f}")
    sys.stdout.flush()


def plan(args):
    """The cases, in the order they run: the acceptance case first, the largest (10^8 paths) last."""
    s = args.steps
    cases = [("gbm", "float32", 10_000_000, s)]
    cases += [("gbm", "float32", n, s) for n in args.gbm_paths if n != 10_000_000 and n < 100_000_000]
    cases += [("gbm", "float64", n, s) for n in args.gbm_paths_f64]
    cases += [("dim32", "float32", n, s) for n in args.dim32_paths]
    cases += [("dim32", "float64", n, s) for n in args.dim32_paths_f64]
    cases += [("gbm", "float32", n, s) for n in args.gbm_paths if n >= 100_000_000]
    return cases


def predicted_s(results, name, dtype, n, reps):
    """Seconds a case should take (its timed runs and a warm-up), from the last case of the same problem and dtype.

    Time is taken as proportional to the number of paths; None where no such case ran.
    """
    prev = next((r for r in reversed(results) if r["problem"] == name and r["dtype"] == dtype), None)
    if prev is None:
        return None
    per_run = sum(row["median_s"] for key, row in prev["rows"].items() if key != "per-path kernel, kernel only")
    return per_run * n / prev["paths"] * (reps + 1)


def run_checks(out, device, smoke, log):
    """Correctness on the device: the per-path kernel vs NumPy, the Triton generator vs the CPU path, host syncs."""
    import importlib.util

    small = 4 if smoke else 2000
    out["checks"]["kernel_vs_numpy_rel_err"] = check_kernel(small, 12 if smoke else 64)
    log(f"per-path kernel vs NumPy (max rel. err.): {max(out['checks']['kernel_vs_numpy_rel_err'].values()):.2e}")
    if importlib.util.find_spec("triton") and (device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"):
        out["checks"]["triton_vs_cpu_abs_err"] = check_generator(device, small, 24 if smoke else 1000)
        log(f"Triton generator vs CPU path (max abs. err.): {out['checks']['triton_vs_cpu_abs_err']:.2e}")
    if device.type == "cuda":
        out["checks"]["host_syncs_per_solve"] = count_syncs(device, 10_000)
        log(f"host syncs per torch solve (8 steps, 512 steps): {out['checks']['host_syncs_per_solve']}")


NO_GPU = ("benchmarks/gpu.py measures a CUDA device, and torch sees none here: nothing was measured and no results "
          "were written. Run it on a machine with an NVIDIA GPU, numba-cuda (with libNVVM) and Triton installed "
          "(pip install -e '.[torch,cuda,triton]'), or pass --smoke to check the script itself at toy sizes on the "
          "CPU (CUDA simulator, Triton interpreter).")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--torchsde-steps", type=int, default=100)
    ap.add_argument("--torchsde-max-paths", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--gbm-paths", type=int, nargs="*", default=[1_000_000, 10_000_000, 100_000_000])
    ap.add_argument("--gbm-paths-f64", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--dim32-paths", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--dim32-paths-f64", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="start no case after this many seconds, nor one predicted to end after it")
    ap.add_argument("--smoke", action="store_true",
                    help="toy sizes on the CPU (CUDA simulator, Triton interpreter): checks the script itself")
    ap.add_argument("--out", "--json", dest="out", default=None,
                    help="results JSON (default benchmarks/results/gpu.json; with --smoke, none unless given)")
    ap.add_argument("--markdown", default=None, help="also write the results table (Markdown) here")
    args = ap.parse_args(argv)
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:7.1f} s] {msg}", flush=True)

    if args.smoke:
        args.device, args.steps, args.torchsde_steps, args.reps = "cpu", 8, 4, 1
    elif not torch.cuda.is_available() or torch.device(args.device).type != "cuda":
        print(NO_GPU, file=sys.stderr)
        return 2
    if args.out is None:  # a reduced run writes only what it is told to
        args.out = "" if args.smoke else os.path.join(RESULTS, "gpu.json")
    device = torch.device(args.device)
    out = {"machine": machine(device, args.smoke), "args": vars(args), "checks": {}, "results": []}

    def save():
        if not args.out:
            return
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1)

    log(f"device {out['machine'].get('gpu', device)}; versions "
        + ", ".join(f"{k} {out['machine'][k]}" for k in ("torch", "triton", "numba", "numba-cuda", "torchsde")))
    out["copy_bandwidth_GBps"] = copy_bandwidth(device, nbytes=(1 << 30) if not args.smoke else (1 << 22)) / 1e9
    log(f"copy bandwidth {out['copy_bandwidth_GBps']:.0f} GB/s")
    save()
    cases = [("gbm", "float32", 6, args.steps), ("dim32", "float64", 3, args.steps)] if args.smoke else plan(args)
    for i, (name, dtype, n, steps) in enumerate(cases):
        reps = 1 if n >= 100_000_000 else args.reps
        elapsed = time.perf_counter() - started
        guess = predicted_s(out["results"], name, dtype, n, reps)
        if i > 0 and (elapsed > args.budget_s or (guess is not None and elapsed + guess > args.budget_s)):
            log(f"budget: skipping {name} {dtype} {n:,} paths (predicted {guess or 0:.0f} s)")
            out.setdefault("skipped", []).append([name, dtype, n, steps])
            continue
        log(f"case {name} {dtype}, {n:,} paths, {steps} steps")
        p = Problem(name, 1 if name == "gbm" else 32, device, dtype)
        with_ts = n <= args.torchsde_max_paths
        res = run_case(p, n, steps, reps, args.torchsde_steps, with_ts, out["copy_bandwidth_GBps"] * 1e9, log)
        out["results"].append(res)
        print_case(res)
        del p
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if i == 0:  # the acceptance case is measured first, then the correctness checks run
            out["acceptance"] = acceptance(out["results"])
            save()
            run_checks(out, device, args.smoke, log)
        save()
    out["acceptance"] = acceptance(out["results"])
    out["total_s"] = time.perf_counter() - started
    save()
    table = markdown(out)
    print("\n" + table)
    if out["acceptance"]:
        print("\nacceptance (GBM, 1e7 paths, 1000 steps, float32):")
        for k, v in out["acceptance"].items():
            print(f"  {k}: {'n/a' if v is None else f'{v:.2f}'}")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")
    log(f"written {args.out or 'nothing (--smoke without --out)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
