"""Neural SDEs (issue 15): adjoint gradients against backpropagation, memory, and time against torchsde.

Three sections (``--only`` picks some; the others are kept from the JSON):

* ``gradients``: a neural SDE (MLP drift, per-component MLP diffusion: diagonal noise,
  d = 3, 64 paths, float64). Reversible Heun (Stratonovich), ``adjoint=True`` vs direct
  backpropagation at 200 steps (relative difference of the full gradient); Euler–Maruyama
  and Milstein (Itô) the same at 25 ... 400 steps with the fitted slope of the difference
  against dt; each against central finite differences of its own discretised loss on the
  same path (a random direction in parameter space, step 1e-5).
* ``memory``: 1000 steps x 2048 paths x 16 dims, float32, MLP drift (16-64-64-16, tanh) and
  a diagonal diffusion with parameters; reversible Heun; one fresh process per contender:
  sdekit direct backprop, sdekit ``adjoint=True``, ``torchsde.sdeint_adjoint`` (reversible
  Heun with ``adjoint_reversible_heun``, its exact and cheapest pair) and ``torchsde.sdeint``
  (direct). Peak resident memory above the process's memory just before the solve
  (the kernel's peak-RSS mark, reset just before, minus the RSS then), and the seconds of forward plus backward.
* ``latent``: one training iteration (forward, ELBO, backward) of ``examples/latent_sde.py``'s
  model (128 paths, 51 observation times, dt = 0.01: 100 steps, hidden 128, context 64),
  sdekit (``adjoint=True``, ``logqp``) against torchsde (``sdeint_adjoint(logqp=True)``), both
  reversible Heun with their exact adjoint, the same threads; medians of interleaved repetitions.

Run: ``.venv/bin/python benchmarks/neural_sde.py [--only gradients memory latent] [--threads 1]``
(about 25 minutes on 2 shared cores at load 5). Results: ``benchmarks/results/neural_sde.json``, tables printed
(copied into ``docs/neural-sdes.md``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import sdekit as sk

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
OUT = os.path.join(RESULTS, "neural_sde.json")


# -- gradients ---------------------------------------------------------------------

class NeuralSDE(torch.nn.Module):
    def __init__(self, d=3, hidden=32, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.f_net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden),
                                         torch.nn.Tanh(), torch.nn.Linear(hidden, d))
        self.g_net = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1),
                                         torch.nn.Sigmoid())
        self.double()

    def drift(self, t, x):
        return self.f_net(x)

    def diffusion(self, t, x):
        n, d = x.shape
        return 0.2 + 0.3 * self.g_net(x.reshape(n * d, 1)).reshape(n, d)


def _loss_and_grad(model, x0, method, calculus, n_steps, adjoint, want_grad=True, seed=7):
    sde = sk.SDE(model.drift, model.diffusion, calculus=calculus)
    x0 = x0.clone().requires_grad_(want_grad)
    sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=n_steps, method=method, seed=seed, adjoint=adjoint,
                   save_at=[0.5, 1.0])
    loss = (sol.ys[-1] ** 2).mean() + torch.sin(sol.ys[0]).mean()
    if not want_grad:
        return float(loss)
    params = [x0] + list(model.parameters())
    grads = torch.autograd.grad(loss, params)
    return loss.item(), torch.cat([g.reshape(-1) for g in grads])


def _directional_fd(model, x0, method, calculus, n_steps, v, h=1e-5):
    params = [x0] + list(model.parameters())
    sizes = [p.numel() for p in params]
    parts = torch.split(v, sizes)
    vals = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            shifted = x0 + sign * h * parts[0].reshape(x0.shape)
            for p, dv in zip(model.parameters(), parts[1:]):
                p.add_(sign * h * dv.reshape(p.shape))
            vals.append(_loss_and_grad(model, shifted, method, calculus, n_steps, False, want_grad=False))
            for p, dv in zip(model.parameters(), parts[1:]):
                p.sub_(sign * h * dv.reshape(p.shape))
    return (vals[0] - vals[1]) / (2 * h)


def run_gradients():
    model = NeuralSDE()
    x0 = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    n_params = 3 * 64 + sum(p.numel() for p in model.parameters())
    v = torch.randn(n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    v = v / v.norm()
    out = {}
    _, a = _loss_and_grad(model, x0, "reversible_heun", "stratonovich", 200, True)
    _, b = _loss_and_grad(model, x0, "reversible_heun", "stratonovich", 200, False)
    fd = _directional_fd(model, x0, "reversible_heun", "stratonovich", 200, v)
    out["reversible_heun"] = dict(steps=200, rel_diff=float((a - b).norm() / b.norm()),
                                  fd=fd, adjoint_dir=float(a @ v), fd_rel=abs(float(a @ v) - fd) / abs(fd))
    for method in ("euler_maruyama", "milstein"):
        rows = []
        for n in (25, 50, 100, 200, 400):
            _, a = _loss_and_grad(model, x0, method, "ito", n, True)
            _, b = _loss_and_grad(model, x0, method, "ito", n, False)
            fd = _directional_fd(model, x0, method, "ito", n, v)
            rows.append(dict(steps=n, rel_diff=float((a - b).norm() / b.norm()),
                             fd_rel_adjoint=abs(float(a @ v) - fd) / abs(fd),
                             fd_rel_direct=abs(float(b @ v) - fd) / abs(fd)))
        steps = np.array([r["steps"] for r in rows], dtype=float)
        diffs = np.array([r["rel_diff"] for r in rows])
        slope = float(np.polyfit(np.log(1.0 / steps), np.log(diffs), 1)[0])
        out[method] = dict(rows=rows, slope=slope)
        print(f"{method}: slope {slope:.2f}", [f"{r['rel_diff']:.2e}" for r in rows], flush=True)
    print("reversible_heun:", out["reversible_heun"], flush=True)
    return out


# -- memory (one fresh process per contender) ----------------------------------------

MEM_PATHS, MEM_DIM, MEM_STEPS, MEM_HIDDEN = 2048, 16, 1000, 64


class MemSDE(torch.nn.Module):
    noise_type, sde_type = "diagonal", "stratonovich"

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        d, h = MEM_DIM, MEM_HIDDEN
        self.net = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, h), torch.nn.Tanh(),
                                       torch.nn.Linear(h, d))
        self.a = torch.nn.Parameter(0.5 * torch.ones(d))
        self.b = torch.nn.Parameter(torch.zeros(d))

    def f(self, t, y):
        return self.net(y)

    def g(self, t, y):
        return 0.1 + 0.2 * torch.sigmoid(self.a * y + self.b)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0).

    ``ru_maxrss`` is not used: it survives ``execve``, so a child started from a large
    parent would report the parent's size.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(name, steps):
    torch.manual_seed(0)
    sde = MemSDE()
    y0 = 0.1 * torch.randn(MEM_PATHS, MEM_DIM)
    ts = torch.tensor([0.0, 1.0])
    dt = 1.0 / steps
    import torchsde

    def run(n_paths, n_steps):
        y = y0[:n_paths]
        if name.startswith("sdekit"):
            sol = sk.solve(sde, y, (0.0, 1.0), n_steps=n_steps, method="reversible_heun", seed=1,
                           adjoint=(name == "sdekit_adjoint"))
            ys = sol.ys
        elif name == "torchsde_adjoint":
            ys = torchsde.sdeint_adjoint(sde, y, ts, dt=1.0 / n_steps, method="reversible_heun",
                                         adjoint_method="adjoint_reversible_heun")
        else:
            ys = torchsde.sdeint(sde, y, ts, dt=1.0 / n_steps, method="reversible_heun")
        (ys[-1] ** 2).mean().backward()
        sde.zero_grad()

    run(8, 4)  # warm-up: kernels, lazy imports, allocator
    _reset_peak()
    before = _rss_bytes()
    t = time.perf_counter()
    run(MEM_PATHS, steps)
    secs = time.perf_counter() - t
    peak = _peak_bytes()
    print(json.dumps(dict(name=name, steps=steps, peak_above_start_mb=(peak - before) / 2**20, seconds=secs)))


# glibc's default malloc raises its mmap threshold after the first large free, so 128-512 KiB tensors then
# come from the heap, whose fragmentation moves peak RSS by several MB from run to run. Pinning the threshold
# (the same for every contender) makes RSS follow live memory; both settings are reported.
ALLOCATORS = {"default": {}, "mmap128k": {"MALLOC_MMAP_THRESHOLD_": "131072"}}


def run_memory(threads, reps=3):
    out = {}
    plan = [(MEM_STEPS, "default"), (MEM_STEPS, "mmap128k"), (MEM_STEPS // 4, "default")]
    for steps, alloc in plan:
        for name in ("sdekit_direct", "sdekit_adjoint", "torchsde_adjoint", "torchsde_direct"):
            rows = []
            for _ in range(reps if "adjoint" in name else 1):
                cmd = [sys.executable, os.path.abspath(__file__), "--child", name, str(steps), "--threads",
                       str(threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **ALLOCATORS[alloc]))
                if res.returncode != 0:
                    print(res.stderr[-2000:])
                    raise RuntimeError(f"memory child {name} failed")
                rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            row = dict(name=name, steps=steps, allocator=alloc,
                       peak_above_start_mb=[r["peak_above_start_mb"] for r in rows],
                       seconds=[r["seconds"] for r in rows])
            out[f"{name}@{steps}@{alloc}"] = row
            print(f"{name:18s} {steps:5d} steps {alloc:9s}: peak +"
                  f"{', '.join(f'{v:.1f}' for v in row['peak_above_start_mb'])} MB  "
                  f"{', '.join(f'{v:.1f}' for v in row['seconds'])} s", flush=True)
    return out


# -- latent-SDE training iteration -------------------------------------------------

def _example():
    path = os.path.join(os.path.dirname(HERE), "examples", "latent_sde.py")
    spec = importlib.util.spec_from_file_location("latent_sde_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_latent(reps, n_paths=128):
    ex = _example()
    torch.manual_seed(0)
    ts = torch.linspace(0.0, 1.0, 51, dtype=torch.float64)
    xs = ex.lorenz_data(n_paths, ts, noise_std=0.01, seed=0)
    model = ex.LatentSDE(3, 64, 128)
    times = {"sdekit": [], "torchsde": []}

    def iteration(lib, seed):
        model.zero_grad()
        t = time.perf_counter()
        log_pxs, kl = model.elbo_terms(xs, ts, 0.01, dt=1e-2, seed=seed, library=lib)
        (-log_pxs + kl).backward()
        return time.perf_counter() - t

    for lib in times:  # warm-up
        iteration(lib, 0)
    for r in range(reps):
        for lib in (("sdekit", "torchsde") if r % 2 == 0 else ("torchsde", "sdekit")):
            times[lib].append(iteration(lib, r + 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    out = dict(paths=n_paths, steps=100, reps=reps, median_seconds=med, all_seconds=times,
               ratio_torchsde_over_sdekit=med["torchsde"] / med["sdekit"])
    print(f"latent SDE iteration: sdekit {med['sdekit']:.3f} s, torchsde {med['torchsde']:.3f} s, "
          f"torchsde / sdekit = {out['ratio_torchsde_over_sdekit']:.2f}", flush=True)
    return out


def _load():
    try:
        with open(OUT) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="*", default=["gradients", "memory", "latent"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        memory_child(args.child[0], int(args.child[1]))
        return
    res = _load()
    res["machine"] = dict(platform=platform.platform(), cpus=os.cpu_count(), threads=args.threads,
                          torch=torch.__version__, load_before=os.getloadavg())
    if "gradients" in args.only:
        res["gradients"] = run_gradients()
    if "memory" in args.only:
        res["memory"] = run_memory(args.threads)
        res["memory_load_after"] = os.getloadavg()
    if "latent" in args.only:
        res["latent"] = run_latent(args.reps)
        res["latent"]["threads"] = args.threads
        res["latent"]["load_after"] = os.getloadavg()
    os.makedirs(RESULTS, exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(res, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
