"""Sharing the machine (issue 12): small Numba kernels with a busy core, torch after an sdekit kernel.

Three measurements, each in a fresh subprocess so that no thread pool or cache
carries over between them:

* ``busy``: a 300-path x 4096-step GBM solve (Euler–Maruyama, float64, seed 0) on
  ``backend="numpy"`` (whose Brownian blocks come from small Numba kernels) and on
  ``backend="numba"``, with 1 and with 2 Numba threads, while another process keeps
  one core busy (a Python busy loop). Median of 5 solves after a warm-up.
* ``torch``: a small MLP forward+backward (batch 512, 2 x 128 hidden, 50
  iterations) in a process that first ran an sdekit Numba kernel, against one that
  did not; and ``torch.get_num_threads()`` before and after the first torch solve.
* ``layer``: which Numba threading layer sdekit's kernels run on.

Usage: ``python benchmarks/numba_sharing.py [--json PATH]``. Figures depend on the
machine's load, which is recorded (``os.getloadavg``) with every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_BUSY_CHILD = "while True: pass"

_SOLVE_CHILD = r"""
import os, time, json, statistics
import numba, numpy as np, sdekit as sk
numba.set_num_threads({threads})
gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
kw = dict(n_steps=4096, n_paths=300, seed=0, method="euler_maruyama", backend={backend!r})
sk.solve(gbm, 1.0, (0.0, 1.0), **kw)   # warm-up: compiles (or loads) every kernel
times = []
for _ in range(5):
    t = time.perf_counter(); sk.solve(gbm, 1.0, (0.0, 1.0), **kw); times.append(time.perf_counter() - t)
print(json.dumps(dict(median=statistics.median(times), layer=str(numba.threading_layer()))))
"""

_TORCH_CHILD = r"""
import time, json, statistics
first = {first!r}
if first:
    import numpy as np, sdekit as sk
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=4096, n_paths=300, seed=0, backend={backend!r})
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(16, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128), torch.nn.Tanh(),
                          torch.nn.Linear(128, 16))
x = torch.randn(512, 16)
def once():
    for _ in range(50):
        net.zero_grad(); net(x).pow(2).sum().backward()
once()
times = []
for _ in range(5):
    t = time.perf_counter(); once(); times.append(time.perf_counter() - t)
before = torch.get_num_threads()
import sdekit as sk
sde = sk.SDE(lambda t, x: -x, lambda t, x: 0.1 + 0.0 * x)
sk.solve(sde, torch.zeros(4, 2), (0.0, 1.0), n_steps=8)
print(json.dumps(dict(median=statistics.median(times), threads_before=before, threads_after=torch.get_num_threads())))
"""


def _run(code, env=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def busy_core(backends=("numpy", "numba"), threads=(1, 2)):
    """Median solve times with one core kept busy by another process."""
    hog = subprocess.Popen([sys.executable, "-c", _BUSY_CHILD])
    try:
        time.sleep(0.5)
        rows = []
        for backend in backends:
            for k in threads:
                r = _run(_SOLVE_CHILD.format(threads=k, backend=backend))
                rows.append(dict(backend=backend, threads=k, seconds=r["median"], layer=r["layer"],
                                 load=os.getloadavg()[0]))
                print(f"busy core  backend={backend:5s} threads={k}  {r['median']:.4f} s  (layer {r['layer']}, "
                      f"load {rows[-1]['load']:.2f})", flush=True)
    finally:
        hog.kill()
        hog.wait()
    return rows


def torch_after_numba(backends=("numpy", "numba")):
    """Torch forward+backward times in a fresh process, with and without a prior sdekit Numba kernel."""
    rows = []
    for first in [None, *backends]:
        r = _run(_TORCH_CHILD.format(first=first is not None, backend=first or "numpy"))
        rows.append(dict(prior=first or "none", seconds=r["median"], threads_before=r["threads_before"],
                         threads_after=r["threads_after"], load=os.getloadavg()[0]))
        print(f"torch fwd+bwd after sdekit {first or 'nothing':5s}: {r['median']:.4f} s  "
              f"(torch threads {r['threads_before']} -> {r['threads_after']} after a torch solve, "
              f"load {rows[-1]['load']:.2f})", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    print(f"load at start: {os.getloadavg()}", flush=True)
    res = {"load_start": os.getloadavg(), "busy": busy_core(), "torch": torch_after_numba(),
           "load_end": os.getloadavg()}
    print(f"load at end: {res['load_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
