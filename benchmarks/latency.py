"""Latency and sharing the machine (issue 12): measurements only, each in fresh subprocesses.

(a) **Import and first-solve latency.** A fresh interpreter imports ``sdekit`` and
solves a 10-path GBM (100 steps, ``backend="auto"``), then solves it again:
``import_s``, ``first_solve_s`` (what a new user waits for), ``second_solve_s``,
and whether ``torch`` was loaded by the import or the solve although the problem
is NumPy-only. Three cases: a NumPy problem; the same with ``import torch`` done
first (as in a program that uses torch anyway); a torch problem (``x0`` a tensor).
One extra run with ``python -X importtime`` lists the modules that cost most.

(b) **A busy machine.** A helper process keeps one core busy (a pure-Python loop)
while a fresh process times a 300-path x 4096-step GBM solve on the NumPy backend
with 1 and with 2 Numba threads (``numba.set_num_threads``), interleaved; the same
without the busy process (the machine as found; its load average is recorded) as
the baseline. Then a small torch neural SDE
(an MLP drift, 256 paths x 100 steps, ``backend="torch"``) is timed forward and
backward (``loss.backward()``), and ``torchsde.sdeint`` on the same module, in a
fresh process that first ran one sdekit Numba kernel (a fused 65,536-path solve)
against one that did not: Numba's idle worker threads must not starve torch's.

Every figure is a median over repetitions (``--reps``, default 5; the
subprocesses of (a) are repeated and interleaved). Results:
``benchmarks/results/latency.json`` and a section of ``docs/benchmarks.md``.

Run: ``python benchmarks/latency.py`` (about two minutes on 2 cores), ``--quick``
(fewer repetitions, smaller solves; writes files only where --json/--markdown say).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import harness

TITLE = "Latency and sharing the machine (issue 12 measurements)"
DEFAULT_JSON = os.path.join(harness.RESULTS, "latency.json")
DEFAULT_MARKDOWN = os.path.join(harness.DOCS, "benchmarks.md")
HERE = os.path.dirname(os.path.abspath(__file__))

FIRST_SOLVE_CASES = ("numpy problem", "numpy problem, torch imported first", "torch problem")
BUSY_PATHS, BUSY_STEPS = 300, 4096
NEURAL_PATHS, NEURAL_STEPS, NEURAL_HIDDEN = 256, 100, 64
# The machine as the run found it (other work included: see the load average) and with one more core kept busy.
AS_FOUND, BUSY = "machine as found", "plus one core kept busy"


# --- children: each prints one JSON object on its last line of stdout ---

def _child_first_solve(case):
    t0 = time.perf_counter()
    if case == "numpy problem, torch imported first":
        import torch  # noqa: F401
    t1 = time.perf_counter()
    import sdekit as sk

    t2 = time.perf_counter()
    torch_after_import = "torch" in sys.modules
    if case == "torch problem":
        import torch

        x0 = torch.ones(1, dtype=torch.float64)
    else:
        x0 = 1.0
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)

    def solve():
        return sk.solve(gbm, x0, (0.0, 1.0), n_steps=100, n_paths=10, seed=0)

    t3 = time.perf_counter()
    sol = solve()
    t4 = time.perf_counter()
    solve()
    t5 = time.perf_counter()
    return {"case": case, "torch_import_s": t1 - t0, "import_s": t2 - t1, "first_solve_s": t4 - t3,
            "second_solve_s": t5 - t4, "torch_loaded_by_import": torch_after_import and case != FIRST_SOLVE_CASES[1],
            "torch_loaded_after_solve": "torch" in sys.modules, "ys_type": type(sol.ys).__module__,
            "numba_loaded_after_solve": "numba" in sys.modules}


def _child_busy_numpy(reps, paths, steps):
    import numba

    import sdekit as sk

    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    times = {1: [], 2: []}
    available = numba.config.NUMBA_NUM_THREADS
    counts = [k for k in (1, 2) if k <= available]

    def solve():
        return sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=steps, n_paths=paths, seed=0, backend="numpy")

    for k in counts:  # warm-up: Numba's caches, the thread pool
        numba.set_num_threads(k)
        solve()
    for _ in range(reps):
        for k in counts:
            numba.set_num_threads(k)
            t = time.perf_counter()
            solve()
            times[k].append(time.perf_counter() - t)
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel ran
        layer = None
    return {"times_s": {str(k): v for k, v in times.items() if v}, "numba_threading_layer": layer,
            "numba_num_threads": available}


def _child_neural(reps, numba_first, paths, steps):
    import torch

    import sdekit as sk

    info = {"numba_first": numba_first, "torch_threads": torch.get_num_threads()}
    if numba_first:
        import numba

        gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
        t = time.perf_counter()
        sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1 << 16, seed=0, backend="numba")
        info["numba_kernel_s"] = time.perf_counter() - t
        info["numba_kernel_fused"] = sol.stats.get("fused")
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:
            info["numba_threading_layer"] = None
    torch.manual_seed(0)  # the network's initial weights only; the solves are seeded by sdekit / torchsde
    net = torch.nn.Sequential(torch.nn.Linear(2, NEURAL_HIDDEN), torch.nn.Tanh(), torch.nn.Linear(NEURAL_HIDDEN, 2))

    def drift(t, x):
        return net(x)

    def diffusion(t, x):
        return 0.1 + 0.0 * x

    sde = sk.SDE(drift, diffusion)
    x0 = torch.ones(paths, 2)

    class Module(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return net(y)

        def g(self, t, y):
            return 0.1 + 0.0 * y

    module = Module()

    def sdekit_step():
        net.zero_grad()
        ys = sk.solve(sde, x0, (0.0, 1.0), n_steps=steps, seed=0, backend="torch").ys
        loss = (ys[-1] * ys[-1]).mean()
        loss.backward()
        return float(loss)

    def torchsde_step():
        import torchsde

        net.zero_grad()
        bm = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(paths, 2), entropy=0)
        ys = torchsde.sdeint(module, x0, torch.tensor([0.0, 1.0]), method="euler", dt=1.0 / steps, bm=bm)
        loss = (ys[-1] * ys[-1]).mean()
        loss.backward()
        return float(loss)

    contenders = {"sdekit torch": sdekit_step}
    try:
        import torchsde  # noqa: F401

        contenders["torchsde"] = torchsde_step
    except ImportError:
        pass
    for fn in contenders.values():
        fn()
    runs = harness.interleaved(contenders, reps, collect=False)
    info["times_s"] = {name: run["times_s"] for name, run in runs.items()}
    info["missing"] = {name: run["missing"] for name, run in runs.items() if "missing" in run}
    return info


def child_main(argv):
    """Entry point of the subprocesses: ``latency.py --child NAME [JSON args]``."""
    name, kwargs = argv[0], (json.loads(argv[1]) if len(argv) > 1 else {})
    fn = {"first_solve": _child_first_solve, "busy_numpy": _child_busy_numpy, "neural": _child_neural}[name]
    print(json.dumps(fn(**kwargs)))
    return 0


# --- parent ---

def _run_child(name, timeout=600, **kwargs):
    """Run one child in a fresh interpreter; its JSON and the process's wall time."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, json.dumps(kwargs)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"child {name} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def _import_profile(top=12):
    """The modules with the largest cumulative import time for ``import sdekit`` (``python -X importtime``)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sdekit"], capture_output=True, text=True,
                         timeout=300, cwd=HERE)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append({"module": name.strip(), "cumulative_s": int(parts[1]) / 1e6, "depth": depth})
    top_level = sorted((r for r in rows if r["depth"] <= 2), key=lambda r: -r["cumulative_s"])
    return top_level[:top]


class Hog:
    """A helper process keeping one core busy (a pure-Python loop) while in the ``with`` block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
        time.sleep(0.5)  # let it reach the loop
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


def _median_dict(times):
    return {k: statistics.median(v) for k, v in times.items() if v}


def run_benchmarks(*, quick=False, reps=None, progress=False):
    """Run (a) and (b); return the JSON-ready results.

    Example
    -------
    >>> res = run_benchmarks(quick=True, reps=1)  # doctest: +SKIP
    """
    log = harness.logger(progress)
    reps = reps or (2 if quick else 5)
    solve_reps = 2 if quick else 3
    busy_paths, busy_steps = (BUSY_PATHS, 512) if quick else (BUSY_PATHS, BUSY_STEPS)
    neural_steps = 20 if quick else NEURAL_STEPS
    result = {"schema": 1, "suite": "latency", "machine": harness.machine_info(),
              "config": {"quick": bool(quick), "reps": reps, "first_solve_processes": solve_reps,
                         "busy": {"paths": busy_paths, "steps": busy_steps},
                         "neural": {"paths": NEURAL_PATHS, "steps": neural_steps, "hidden": NEURAL_HIDDEN}}}
    # (a) first solve: fresh processes, the cases interleaved
    runs = {case: [] for case in FIRST_SOLVE_CASES}
    for rep in range(solve_reps):
        for case in FIRST_SOLVE_CASES:
            r = _run_child("first_solve", case=case)
            runs[case].append(r)
            log(f"[first solve] {case}: import {r['import_s']:.2f} s, first solve {r['first_solve_s']:.2f} s")
    first = []
    for case, rs in runs.items():
        row = {"case": case, "processes": len(rs)}
        for key in ("torch_import_s", "import_s", "first_solve_s", "second_solve_s", "process_wall_s"):
            row[key] = statistics.median(r[key] for r in rs)
        for key in ("torch_loaded_by_import", "torch_loaded_after_solve", "numba_loaded_after_solve", "ys_type"):
            row[key] = rs[-1][key]
        row["runs"] = rs
        first.append(row)
    result["first_solve"] = first
    result["import_profile"] = _import_profile()
    # (b1) NumPy backend with 1 and 2 Numba threads, quiet and with one core busy
    busy = {}
    for label in (AS_FOUND, BUSY):
        if label == AS_FOUND:
            r = _run_child("busy_numpy", reps=reps, paths=busy_paths, steps=busy_steps)
        else:
            with Hog():
                r = _run_child("busy_numpy", reps=reps, paths=busy_paths, steps=busy_steps)
        r["median_s"] = _median_dict(r["times_s"])
        busy[label] = r
        log(f"[busy] {label}: " + ", ".join(f"{k} thread(s) {v:.3f} s" for k, v in r["median_s"].items()))
    result["busy_numpy"] = busy
    # (b2) torch after a Numba kernel, quiet and with one core busy
    neural = {}
    for label in (AS_FOUND, BUSY):
        for numba_first in (False, True):
            key = f"{label}, {'after a Numba kernel' if numba_first else 'no Numba kernel'}"
            if label == AS_FOUND:
                r = _run_child("neural", reps=reps, numba_first=numba_first, paths=NEURAL_PATHS, steps=neural_steps)
            else:
                with Hog():
                    r = _run_child("neural", reps=reps, numba_first=numba_first, paths=NEURAL_PATHS,
                                   steps=neural_steps)
            r["median_s"] = _median_dict(r["times_s"])
            neural[key] = r
            log(f"[neural] {key}: " + ", ".join(f"{k} {v:.3f} s" for k, v in r["median_s"].items()))
    result["neural"] = neural
    harness.finish_machine_info(result["machine"])
    return result


def format_table(results):
    """Plain-text summary of a run."""
    lines = ["first solve (fresh process, 10 paths x 100 steps):"]
    lines += ["  " + x for x in harness.text_table(
        ["case", "import s", "first solve s", "second solve s", "torch loaded"],
        [[r["case"], f"{r['import_s']:.2f}", f"{r['first_solve_s']:.2f}", f"{r['second_solve_s']:.4f}",
          str(r["torch_loaded_after_solve"])] for r in results["first_solve"]]).splitlines()]
    b = results["config"]["busy"]
    lines.append(f"NumPy backend, {b['paths']} paths x {b['steps']} steps:")
    for label, r in results["busy_numpy"].items():
        lines.append(f"  {label:24s} " + ", ".join(f"{k} thread(s) {v:.3f} s" for k, v in r["median_s"].items()))
    lines.append("torch neural SDE forward+backward:")
    for label, r in results["neural"].items():
        lines.append(f"  {label:50s} " + ", ".join(f"{k} {v:.3f} s" for k, v in r["median_s"].items()))
    return "\n".join(lines)


def render_section(results, *, json_path=None):
    """This suite's section of ``docs/benchmarks.md``.

    Example
    -------
    >>> res = {"machine": {}, "config": {"reps": 5, "busy": {"paths": 300, "steps": 4096},
    ...        "neural": {"paths": 256, "steps": 100, "hidden": 64}}, "first_solve": [], "import_profile": [],
    ...        "busy_numpy": {}, "neural": {}}
    >>> render_section(res).splitlines()[0]
    '## Latency and sharing the machine (issue 12 measurements)'
    """
    m, c = results.get("machine", {}), results.get("config", {})
    out = [f"## {TITLE}", "",
           "Measurements for issue 12 (`benchmarks/latency.py`), each in fresh subprocesses; medians.", ""]
    if c.get("quick"):
        out += ["> **Reduced sizes** (`--quick`): indicative only.", ""]
    if harness.busy(m):
        out += ["> **Busy machine.** The load average exceeded 0.5 during this run: the figures are indicative.",
                ""]
    out += ["### Import and first solve", "",
            f"A fresh interpreter: `import sdekit`, then `sk.solve(gbm, x0, (0, 1), n_steps=100, n_paths=10, seed=0)` "
            "twice (`backend=\"auto\"`); medians over "
            f"{results['first_solve'][0]['processes'] if results.get('first_solve') else '?'} processes.", ""]
    rows = [[r["case"], f"{r['import_s']:.2f}", f"{r['first_solve_s']:.2f}", f"{r['second_solve_s'] * 1e3:.1f}",
             f"{r['process_wall_s']:.2f}", "yes" if r["torch_loaded_after_solve"] else "no"]
            for r in results.get("first_solve", [])]
    out += [harness.markdown_table(["case", "import sdekit, s", "first solve, s", "second solve, ms",
                                    "whole process, s", "torch loaded"], rows), ""]
    prof = results.get("import_profile") or []
    if prof:
        out += ["Largest cumulative import times under `import sdekit` (`python -X importtime`): "
                + ", ".join(f"`{p['module']}` {p['cumulative_s']:.2f} s" for p in prof[:8]) + ".", ""]
    b = c.get("busy", {})
    out += ["### A busy machine", "",
            f"GBM, {b.get('paths', '?')} paths × {b.get('steps', '?')} steps, `backend=\"numpy\"`, with 1 and 2 Numba "
            "threads, on the machine as the run found it (its load average is below) and while one more process "
            "keeps a core busy (median s):", ""]
    rows = []
    for label, r in results.get("busy_numpy", {}).items():
        med = r["median_s"]
        ratio = (med["2"] / med["1"]) if ("1" in med and "2" in med) else None
        rows.append([label, harness.fmt(med.get("1"), ".3f"), harness.fmt(med.get("2"), ".3f"),
                     harness.fmt(ratio, ".2f") + ("×" if ratio else ""), r.get("numba_threading_layer") or "?"])
    out += [harness.markdown_table(["machine", "1 thread", "2 threads", "2 threads ÷ 1 thread",
                                    "Numba threading layer"], rows, ["l", "r", "r", "r", "l"]), ""]
    n = c.get("neural", {})
    out += [f"A torch neural SDE (MLP drift 2→{n.get('hidden', '?')}→2, {n.get('paths', '?')} paths × "
            f"{n.get('steps', '?')} steps, float32) forward and `loss.backward()`, with sdekit's torch backend and "
            "with torchsde, in a process that first ran one sdekit Numba kernel and in one that did not (median s):",
            ""]
    rows = []
    for label, r in results.get("neural", {}).items():
        med = r["median_s"]
        rows.append([label, harness.fmt(med.get("sdekit torch"), ".3f"), harness.fmt(med.get("torchsde"), ".3f")])
    out += [harness.markdown_table(["process", "sdekit torch", "torchsde"], rows), ""]
    out += ["### Machine", ""] + harness.machine_lines(m, c.get("reps", "?")) + [""]
    out += [f"Raw numbers: `{json_path or os.path.relpath(DEFAULT_JSON, harness.REPO)}`; re-run with "
            "`python benchmarks/latency.py`.", ""]
    return "\n".join(out)


def main(argv=None):
    """Run the measurements, print a summary, write ``benchmarks/results/latency.json`` and regenerate the page."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "--child":
        return child_main(argv[1:])

    ap = argparse.ArgumentParser(prog="python benchmarks/latency.py", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller solves")
    ap.add_argument("--reps", type=int, default=None, help="repetitions inside each process (default 5; quick 2)")
    ap.add_argument("--json", default=None, help=f"JSON output path (default {DEFAULT_JSON}; '' for none)")
    ap.add_argument("--markdown", default=None,
                    help=f"Markdown page to regenerate (default {DEFAULT_MARKDOWN}; '' for none)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    results = run_benchmarks(quick=args.quick, reps=args.reps, progress=not args.quiet)
    print(format_table(results))
    json_path = args.json if args.json is not None else (None if args.quick else DEFAULT_JSON)
    md_path = args.markdown if args.markdown is not None else (None if args.quick else DEFAULT_MARKDOWN)
    harness.write_outputs("latency", results, json_path, md_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
