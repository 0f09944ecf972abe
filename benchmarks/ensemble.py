"""Ensemble benchmark (issue 16): throughput 1 process vs a Dask LocalCluster, Dask overhead, memory, bit identity.

Scalar GBM dS = 0.05 S dt + 0.2 S dW (``sdekit.ensemble_demo.GBM``), Euler–Maruyama,
Numba's fused kernel, float64. Sections:

1. **Throughput**: path-steps per second of one process on one core, and of a
   ``LocalCluster`` of one single-threaded worker process per core, at about
   10^8 path-steps per task (1000 steps x 102,400 paths) and four tasks per
   worker; parallel efficiency = cluster rate / (workers x one-core rate). Each
   is the best of ``--reps`` runs after a warm-up that compiles the kernel in
   every process.
2. **Dask overhead per task**: many near-empty tasks (one block, one step):
   wall time per task on the cluster minus the compute per task.
3. **Peak memory** of mean/var/5 quantiles of a 10^8-path ensemble vs 10^6 paths,
   each in a fresh process (peak RSS, and the peak of NumPy allocations traced by
   ``tracemalloc``).
4. **Bit identity at 10^7 paths**: terminal mean/var and 5 quantiles from one
   process (one thread), ``chunk_paths`` 10^4 and 10^6, two threads, and
   LocalClusters of 2 and 3 worker processes.

Run from the repository root: ``.venv/bin/python benchmarks/ensemble.py [--scale S] [--reps R]``
(``--scale 0.01`` for a quick look). Writes ``benchmarks/results/ensemble.json``
and prints a markdown summary. The machine's load (``uptime``) is recorded:
on a shared machine the figures are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import sdekit as sk
from sdekit.ensemble_demo import GBM

PROBS = [0.01, 0.1, 0.5, 0.9, 0.99]
REDUCE = ("mean", "var", ("quantiles", PROBS))
T_SPAN = (0.0, 1.0)
TASK_STEPS = 1000
TASK_PATHS = 25 * 4096  # 102,400 paths x 1000 steps = 1.02e8 path-steps per task


def _uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cluster(n_workers):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", silence_logs=50)


def _run(n_paths, n_steps, **kw):
    started = time.perf_counter()
    res = sk.ensemble(GBM, 1.0, T_SPAN, n_paths=n_paths, n_steps=n_steps, reduce=REDUCE, seed=7,
                      backend="numba", **kw)
    return res, time.perf_counter() - started


def _warm(client=None):
    """Compile the fused kernel in this process, or in every worker of ``client``."""
    _run(4096, 8, threads=1, workers=1)
    if client is not None:
        client.run(lambda: _run(4096, 8, threads=1, workers=1) and None)


def throughput(scale, reps, log):
    from distributed import Client

    n_workers = _cores()
    tasks = 4 * n_workers
    chunk = max(4096, int(TASK_PATHS * scale) // 4096 * 4096)
    n_paths = tasks * chunk
    work = n_paths * TASK_STEPS
    _warm()
    walls, cpus = [], []
    for _ in range(reps):
        c0 = _cpu_self()
        walls.append(_run(n_paths, TASK_STEPS, chunk_paths=chunk, threads=1, workers=1)[1])
        cpus.append(_cpu_self() - c0)
    one, one_cpu = min(walls), min(cpus)
    log(f"  1 process, 1 thread: {work / one:.3g} path-steps/s ({one_cpu / one:.0%} of a core)")
    with _cluster(n_workers) as cluster, Client(cluster) as client:
        _warm(client)
        walls, cpus, caller = [], [], []
        for _ in range(reps):
            w0, c0 = sum(client.run(_cpu_self).values()), _cpu_self()
            walls.append(_run(n_paths, TASK_STEPS, chunk_paths=chunk, client=client)[1])
            cpus.append(sum(client.run(_cpu_self).values()) - w0)
            caller.append(_cpu_self() - c0)
        many, many_cpu, caller_cpu = min(walls), min(cpus), min(caller)
    log(f"  LocalCluster of {n_workers}: {work / many:.3g} path-steps/s ({many_cpu / many:.2f} cores busy)")
    eff = (work / many) / (n_workers * work / one)
    # Load-independent: CPU seconds the workers spent for the same work, against the single process's.
    cpu_eff = one_cpu / many_cpu
    return {"n_workers": n_workers, "tasks": tasks, "paths_per_task": chunk, "steps": TASK_STEPS,
            "path_steps_per_task": chunk * TASK_STEPS, "path_steps": work,
            "one_process_s": one, "one_process_cpu_s": one_cpu, "one_process_rate": work / one,
            "cluster_s": many, "cluster_worker_cpu_s": many_cpu, "cluster_caller_cpu_s": caller_cpu,
            "cluster_rate": work / many, "parallel_efficiency": eff, "cpu_efficiency": cpu_eff,
            "target_efficiency": 0.8, "meets_target": eff >= 0.8}


def _cpu_self():
    """CPU seconds (user + system) of this process so far."""
    t = os.times()
    return t.user + t.system


def overhead(n_tasks, log):
    from distributed import Client

    n_workers = _cores()
    n_paths = n_tasks * 4096
    _warm()
    local = min(_run(n_paths, 1, chunk_paths=4096, threads=1, workers=1)[1] for _ in range(2))
    with _cluster(n_workers) as cluster, Client(cluster) as client:
        _warm(client)
        _run(n_paths, 1, chunk_paths=4096, client=client)
        dask = min(_run(n_paths, 1, chunk_paths=4096, client=client)[1] for _ in range(2))
        raw = min(_raw_dask(client, n_tasks) for _ in range(2))
    per_task = dask / n_tasks - local / (n_tasks * n_workers)
    log(f"  Dask overhead: {per_task * 1e3:.2f} ms per task ({n_tasks} tasks, {n_workers} workers); "
        f"empty Dask tasks: {raw / n_tasks * 1e3:.2f} ms each")
    return {"n_tasks": n_tasks, "n_workers": n_workers, "local_sequential_s": local, "cluster_s": dask,
            "compute_per_task_ms": local / n_tasks * 1e3, "cluster_wall_per_task_ms": dask / n_tasks * 1e3,
            "overhead_per_task_ms": per_task * 1e3, "empty_task_ms": raw / n_tasks * 1e3}


def _raw_dask(client, n_tasks):
    """Wall time of ``n_tasks`` empty Dask tasks submitted and gathered the same way (Dask's own floor)."""
    from distributed import as_completed

    started = time.perf_counter()
    for fut in as_completed(client.map(_identity, range(n_tasks), pure=False)):
        fut.result()
    return time.perf_counter() - started


def _identity(x):
    return x


def memory_child(n_paths, n_steps):
    """Run in a fresh process: peak RSS and traced NumPy peak of one ensemble (after a warm-up)."""
    import resource
    import tracemalloc

    _warm()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    res, wall = _run(n_paths, n_steps)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n_paths": n_paths, "n_steps": n_steps, "wall_s": wall, "rss_before_mb": base_rss,
                      "peak_rss_mb": rss, "traced_peak_mb": peak / 2**20, "chunk_paths": res.chunk_paths,
                      "max_pending_nodes": res.stats["max_pending_nodes"],
                      "mean": float(res["mean"][-1, 0]), "var": float(res["var"][-1, 0])}))


def memory(sizes, n_steps, log):
    out = []
    for n in sizes:
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", str(n), str(n_steps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"  {n:.0e} paths: peak RSS {row['peak_rss_mb']:.0f} MB (before: {row['rss_before_mb']:.0f} MB), "
            f"traced NumPy peak {row['traced_peak_mb']:.1f} MB, {row['wall_s']:.1f} s")
        out.append(row)
    return {"rows": out, "growth_mb": out[-1]["peak_rss_mb"] - out[0]["peak_rss_mb"]}


def identity(n_paths, n_steps, log):
    from distributed import Client

    runs = {}
    runs["one process, 1 thread"] = _run(n_paths, n_steps, threads=1, workers=1)
    runs["chunk_paths=1e4"] = _run(n_paths, n_steps, chunk_paths=10_000)
    runs["chunk_paths=1e6"] = _run(n_paths, n_steps, chunk_paths=1_000_000)
    runs["2 threads"] = _run(n_paths, n_steps, threads=2)
    for w in (2, 3):
        with _cluster(w) as cluster, Client(cluster) as client:
            runs[f"LocalCluster of {w}"] = _run(n_paths, n_steps, client=client)
    ref = runs["one process, 1 thread"][0]
    rows = []
    for name, (res, wall) in runs.items():
        same = all(np.array_equal(ref[k], res[k]) for k in ("mean", "var", "quantiles"))
        rows.append({"run": name, "wall_s": wall, "chunk_paths": res.chunk_paths, "n_chunks": res.stats["n_chunks"],
                     "bit_identical": same})
        log(f"  {name}: {wall:.1f} s, {res.stats['n_chunks']} chunks, identical: {same}")
    q = ref["quantiles"][:, -1, 0]
    return {"n_paths": n_paths, "n_steps": n_steps, "rows": rows, "all_identical": all(r["bit_identical"] for r in rows),
            "mean": float(ref["mean"][-1, 0]), "mean_stderr": float(ref.stderr("mean")[-1, 0]),
            "exact_em_mean": (1 + 0.05 / n_steps) ** n_steps, "var": float(ref["var"][-1, 0]),
            "quantiles": dict(zip(map(str, PROBS), map(float, q)))}


def markdown(r):
    t, o, m, i = r["throughput"], r["overhead"], r["memory"], r["identity"]
    lines = [f"Machine: {t['machine']}. Load (`uptime`) around each section: "
             + "; ".join(f"{k}: `{r[k]['uptime_before'].split('load average: ')[-1]}` -> "
                         f"`{r[k]['uptime_after'].split('load average: ')[-1]}`" for k in ("throughput", "overhead",
                                                                                        "memory", "identity")) + ".",
             "",
             "| throughput | path-steps/s |", "|---|---|",
             f"| 1 process, 1 thread | {t['one_process_rate']:.3g} |",
             f"| LocalCluster, {t['n_workers']} workers x 1 thread | {t['cluster_rate']:.3g} |",
             f"| parallel efficiency | {t['parallel_efficiency']:.0%} (target 80%; "
             f"{t['path_steps_per_task']:.3g} path-steps per task, {t['tasks']} tasks) |",
             f"| CPU-time efficiency (1-process CPU s / workers' CPU s) | {t['cpu_efficiency']:.0%} |",
             f"| cores the process / the workers got | {t['one_process_cpu_s'] / t['one_process_s']:.2f} / "
             f"{t['cluster_worker_cpu_s'] / t['cluster_s']:.2f} |", "",
             f"Dask overhead: {o['overhead_per_task_ms']:.2f} ms per task ({o['n_tasks']} one-block tasks: "
             f"{o['cluster_wall_per_task_ms']:.2f} ms wall per task on {o['n_workers']} workers, "
             f"{o['compute_per_task_ms']:.2f} ms compute; empty Dask tasks: {o['empty_task_ms']:.2f} ms each).", "",
             "| paths | peak RSS (MB) | RSS before the ensemble (MB) | traced NumPy peak (MB) | seconds |",
             "|---|---|---|---|---|"]
    lines += [f"| {x['n_paths']:.0e} | {x['peak_rss_mb']:.0f} | {x['rss_before_mb']:.0f} | {x['traced_peak_mb']:.1f} | "
              f"{x['wall_s']:.1f} |" for x in m["rows"]]
    lines += ["", f"Bit identity, {i['n_paths']:.0e} paths x {i['n_steps']} steps (mean, var, 5 quantiles):", "",
              "| run | chunks | seconds | bit-identical |", "|---|---|---|---|"]
    lines += [f"| {x['run']} | {x['n_chunks']} | {x['wall_s']:.1f} | {'yes' if x['bit_identical'] else '**no**'} |"
              for x in i["rows"]]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every size by this factor")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", default=os.path.join("benchmarks", "results", "ensemble.json"))
    ap.add_argument("--only", default="throughput,overhead,memory,identity",
                    help="comma-separated sections to run (the JSON keeps earlier results of the others)")
    ap.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.memory_child:
        memory_child(*a.memory_child)
        return 0
    import platform

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    s = a.scale
    only = set(a.only.split(","))
    r = {}
    if only != {"throughput", "overhead", "memory", "identity"} and os.path.exists(a.json):
        with open(a.json) as fh:
            r = json.load(fh)
    machine = (f"{platform.processor() or platform.machine()}, {_cores()} cores, Python "
               f"{platform.python_version()}, numpy {np.__version__}, sdekit {sk.__version__}")
    sections = {
        "throughput": lambda: throughput(s, a.reps, log),
        "overhead": lambda: overhead(max(20, int(200 * s)), log),
        "memory": lambda: memory([max(4096, int(1e6 * s)), max(4096, int(1e8 * s))], 10, log),
        "identity": lambda: identity(max(4096, int(1e7 * s)), 100, log),
    }
    for name, run in sections.items():
        if name in only:
            log(name)
            before = _uptime()
            r[name] = run()
            r[name]["machine"], r[name]["uptime_before"], r[name]["uptime_after"] = machine, before, _uptime()
            r[name]["scale"] = s
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    with open(a.json, "w") as fh:
        json.dump(r, fh, indent=1)
    print(markdown(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
