"""What every benchmark script shares: interleaved timing, machine facts, tables, JSON.

* Timing: :func:`interleaved` runs each contender once per repetition, round-robin
  (so a load change during the run hits every contender alike), and keeps each
  wall time; :func:`median_row` turns them into a median and ns per path-step.
  Ratios are always taken between medians of the same run.
* Machine facts: :func:`machine_info` (CPU model, cores, threads, library versions,
  git revision of the checkout, date, load average) at the start of a run;
  :func:`finish_machine_info` adds the load average at its end.
* Tables: :func:`markdown_table` and :func:`text_table`; :func:`fmt_ns` and
  :func:`fmt` format numbers the same way everywhere.

This module is imported by the scripts beside it (``python benchmarks/X.py`` puts
this folder on ``sys.path``); it imports nothing heavy itself.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
DOCS = os.path.join(REPO, "docs")

#: Distributions whose versions every result records (missing ones as None).
VERSIONED = ("numpy", "scipy", "numba", "torch", "torchsde", "jax", "jaxlib", "diffrax", "equinox", "sdekit")


# --- machine facts ---

def cpu_model():
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(dist):
    """Installed version of a distribution, read from its metadata (nothing imported), or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision(path=REPO):
    """``git describe --always --dirty`` of the checkout holding ``path``, or None (no git, not a checkout)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=path, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def loadavg():
    """The 1, 5 and 15 minute load averages, rounded, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _threads():
    out = {}
    try:
        import numba

        out["numba_threads"] = numba.get_num_threads()
        out["numba_threading_layer_config"] = numba.config.THREADING_LAYER
    except ImportError:
        out["numba_threads"] = None
    try:
        import torch

        out["torch_threads"] = torch.get_num_threads()
    except ImportError:
        out["torch_threads"] = None
    return out


def machine_info():
    """The machine and software of a run, with the load average at its start.

    Keys: ``cpu``, ``cores``, ``cores_available``, ``platform``, ``python``, one
    key per :data:`VERSIONED` distribution, ``sdekit_git``, ``date``,
    ``loadavg_start``, ``numba_threads``, ``torch_threads``. Imports Numba and
    torch (when installed) to read their thread counts; versions come from
    package metadata, so JAX is not imported here.

    Example
    -------
    >>> info = machine_info()
    >>> sorted(k for k in ("cpu", "cores", "numba_threads", "numpy", "date", "loadavg_start") if k in info)
    ['cores', 'cpu', 'date', 'loadavg_start', 'numba_threads', 'numpy']
    """
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    info.update({name: version(name) for name in VERSIONED})
    info["sdekit_git"] = git_revision()
    info["date"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    info["loadavg_start"] = loadavg()
    info.update(_threads())
    return info


def finish_machine_info(info):
    """Add the load average at the end of the run (``loadavg_end``) to ``info``; return it."""
    info["loadavg_end"] = loadavg()
    return info


def machine_lines(m, reps=None):
    """Markdown bullet lines describing the machine of one run (``m`` from :func:`machine_info`).

    Example
    -------
    >>> lines = machine_lines({"cpu": "Some CPU", "cores": 2, "loadavg_start": [0.1, 0.2, 0.3]}, reps=3)
    >>> lines[0]
    '- CPU: Some CPU, 2 cores (2 available to the run); load average 0.1, 0.2, 0.3 at the start, ? at the end'
    """
    load = ", ".join(str(x) for x in (m.get("loadavg_start") or [])) or "?"
    load_end = ", ".join(str(x) for x in (m.get("loadavg_end") or [])) or "?"
    versions = ", ".join(f"{label} {m[key]}" for key, label in (
        ("numpy", "NumPy"), ("scipy", "SciPy"), ("numba", "Numba"), ("torch", "torch"), ("torchsde", "torchsde"),
        ("jax", "JAX"), ("diffrax", "diffrax"), ("sdekit", "sdekit")) if m.get(key))
    lines = [f"- CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores "
             f"({m.get('cores_available', m.get('cores', '?'))} available to the run); "
             f"load average {load} at the start, {load_end} at the end",
             f"- threads: Numba {m.get('numba_threads', '?')}, torch {m.get('torch_threads', '?')}",
             f"- Python {m.get('python', '?')}" + (f", {versions}" if versions else "")
             + (f" (git {m['sdekit_git']})" if m.get("sdekit_git") else ""),
             f"- {m.get('platform', '?')}; run on {m.get('date', '?')}"]
    if reps is not None:
        lines.append(f"- medians of {reps} interleaved repetitions (round-robin over the contenders); every ratio "
                     "is between medians of the same run")
    return lines


def busy(m, threshold=0.5):
    """Whether the run's load average (1 minute, start or end) exceeded ``threshold``: figures then indicative."""
    loads = [v[0] for v in (m.get("loadavg_start"), m.get("loadavg_end")) if v]
    return bool(loads) and max(loads) > threshold


# --- timing ---

def timed(fn, *args, collect=True):
    """``(seconds, result)`` of one call; a garbage collection first (outside the timed window) if ``collect``."""
    if collect:
        gc.collect()
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def interleaved(contenders, reps, *, collect=True, sync=None, log=None):
    """Time ``contenders`` (``{name: fn()}``) in ``reps`` round-robin repetitions.

    Returns ``{name: {"times_s": [...], "out": last result}}``; a contender
    that raises is dropped from the later repetitions and gets ``"missing"``
    with the reason (one failing contender must not stop a suite). ``sync``
    (e.g. a CUDA synchronise) runs before the clock starts and before it stops.

    Example
    -------
    >>> runs = interleaved({"a": lambda: 1, "b": lambda: 1 / 0}, 3, collect=False)
    >>> len(runs["a"]["times_s"]), runs["a"]["out"], runs["b"]["missing"]
    (3, 1, 'failed: ZeroDivisionError: division by zero')
    """
    runs = {name: {"times_s": []} for name in contenders}
    for rep in range(reps):
        for name, fn in contenders.items():
            run = runs[name]
            if "missing" in run:
                continue
            if collect:
                gc.collect()
            try:
                if sync:
                    sync()
                start = time.perf_counter()
                out = fn()
                if sync:
                    sync()
                wall = time.perf_counter() - start
            except Exception as e:  # noqa: BLE001 - reported in the results, never raised
                run["missing"] = failure(e)
                if log:
                    log(f"{name}: {run['missing']}")
                continue
            run["times_s"].append(wall)
            run["out"] = out
            if log:
                log(f"rep {rep + 1}/{reps} {name}: {wall:.3f} s")
    return runs


def failure(e):
    """A one-line reason for a contender that failed: ``failed: Type: first line``."""
    text = str(e).strip()
    return f"failed: {type(e).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def median_row(times_s, paths, steps):
    """``{"median_s", "ns_per_path_step"}`` of one contender's repetitions.

    Example
    -------
    >>> median_row([3.0, 1.0, 2.0], paths=1000, steps=1000)
    {'median_s': 2.0, 'ns_per_path_step': 2000.0}
    """
    med = statistics.median(times_s)
    return {"median_s": med, "ns_per_path_step": med / (paths * steps) * 1e9}


def logger(enabled):
    """A ``log(msg)`` writing to stderr when ``enabled``, else doing nothing."""
    def log(msg):
        if enabled:
            print(msg, file=sys.stderr, flush=True)
    return log


# --- output ---

def fmt(v, spec):
    """``format(v, spec)``, or an em dash for None."""
    return "—" if v is None else format(v, spec)


def fmt_ns(v):
    """ns per path-step with three significant figures at most: 2.35, 10.5, 396."""
    if v is None:
        return "—"
    return f"{v:.0f}" if v >= 100 else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def fmt_sci(v):
    """A small positive number such as an error: ``1.1e-08``; an em dash for None."""
    return "—" if v is None else f"{v:.2g}" if 1e-3 <= abs(v) < 1e3 else f"{v:.1e}"


def markdown_table(header, rows, align=None):
    """A Markdown table; ``align`` is one of ``"l"`` / ``"r"`` per column (default: first left, others right).

    Example
    -------
    >>> print(markdown_table(["row", "ns"], [["a", "1.0"], ["b", "2.0"]]))
    | row | ns |
    |---|---:|
    | a | 1.0 |
    | b | 2.0 |
    """
    align = align or ["l"] + ["r"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header, rows, left=(0,)):
    """A plain-text table for the terminal: the columns in ``left`` left-aligned, the others right-aligned.

    Example
    -------
    >>> print(text_table(["row", "ns"], [["a", "1.0"], ["bb", "20.0"]]))
    row    ns
    a     1.0
    bb   20.0
    """
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for r in cells:
        out.append("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                   .rstrip())
    return "\n".join(out)


def write_json(obj, path):
    """Write ``obj`` as indented JSON to ``path`` (folders created); return ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")
    return path


def read_json(path):
    """The JSON object stored at ``path``, or None when there is no such file."""
    if not path or not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def split_list(text):
    """``"a, b,c"`` -> ``["a", "b", "c"]``; empty or None -> None (a command line's comma-separated subset)."""
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def write_outputs(suite, results, json_path, md_path):
    """Write a suite's results to ``json_path`` and re-render the page at ``md_path`` (either may be None/'')."""
    import report  # the page renderer reads every suite's JSON; imported here because it imports this module

    if json_path:
        print(f"wrote {write_json(results, json_path)}")
    if md_path:
        print(f"wrote {report.write_page(md_path, {suite: results}, {suite: json_path} if json_path else None)}")
