"""Work per answer: strong error against steps (and wall time) for sdekit's SDE methods, fixed and adaptive.

Two problems, every error measured against a reference on the same Brownian path:

* ``gbm``: dX = 0.5 X dt + 0.8 X dW on [0, 1], x0 = 1, against the exact solution
  x0 exp((mu - sigma^2/2) + sigma W(1)). Fixed steps n = 2^k for Euler–Maruyama,
  Milstein, SRI (and torchsde's ``milstein`` and ``srk`` when torchsde is importable,
  on its own Brownian object, against the same exact solution), and adaptive SRI over
  a range of tolerances. The steps each method needs for a strong error of 1e-4 are
  read off a log-log interpolation of its curve.
* ``burst``: dX = 0.1 X dt + s(t) X dW with a short volatility burst
  s(t) = 0.2 + 2.5 exp(-((t - 0.5)/0.01)^2), against a 2^16-step SRI solve on the same
  path. Fixed-step SRI at n = 256 ... 8192 vs adaptive SRI: for each fixed-step error,
  the adaptive steps (accepted + rejected) that reach it.

Strong error = mean over paths of |X_N - X(1)|. Medians of ``--reps`` timings per point.
Writes benchmarks/results/work_precision.json and docs/img/work_precision.png, and
prints a Markdown table (for docs/methods.md).

Run: ``.venv/bin/python benchmarks/work_precision.py [--paths 2000] [--smoke]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import numpy as np

import sdekit as sk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _sigma_burst(t):
    return 0.2 + 2.5 * math.exp(-(((t - 0.5) / 0.01) ** 2))


def burst_sde():
    return sk.SDE(lambda t, x: 0.1 * x, lambda t, x: _sigma_burst(t) * x)


def _timed(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def gbm_curves(n_paths, steps, rtols, reps, seed=0):
    p = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
    bm = sk.BrownianPath(n_paths, 1, (0.0, 1.0), seed=seed)
    exact = p.exact(1.0, np.ones((n_paths, 1)), bm.value(1.0))
    rows = {}
    for method in ("euler_maruyama", "milstein", "sri"):
        pts = []
        for n in steps:
            sol, wall = _timed(lambda: sk.solve(p.sde, 1.0, (0.0, 1.0), n_steps=n, method=method, brownian=bm,
                                                backend="numpy"), reps)
            pts.append({"steps": n, "nfe": int(sol.stats["nfe"]), "error": float(np.abs(sol.ys[-1] - exact).mean()),
                        "wall": wall})
        rows[method] = pts
    pts = []
    for rtol in rtols:
        sol, wall = _timed(lambda: sk.solve(p.sde, 1.0, (0.0, 1.0), adaptive=True, rtol=rtol, atol=rtol * 1e-2,
                                            method="sri", brownian=bm, backend="numpy"), reps)
        steps_taken = int(sol.stats["n_accepted"]) + int(sol.stats["n_rejected"])
        pts.append({"rtol": rtol, "steps": steps_taken, "accepted": int(sol.stats["n_accepted"]),
                    "nfe": int(sol.stats["nfe"]), "error": float(np.abs(sol.ys[-1] - exact).mean()), "wall": wall})
    rows["sri adaptive"] = pts
    rows.update(_torchsde_curves(n_paths, steps, reps, seed))
    rows.update(_diffrax_curves(n_paths, steps, reps, seed))
    return rows


def _diffrax_curves(n_paths, steps, reps, seed):
    """diffrax's solvers for non-additive noise on the same GBM, on its VirtualBrownianTree (when importable).

    diffrax's SRK methods are Stratonovich: the Itô GBM is passed as dX = (mu - sigma^2/2) X dt + sigma X o dW.
    ``ItoMilstein`` takes the Itô form. Errors against the exact solution on diffrax's own W(1).
    """
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)
    mu, sig = 0.5, 0.8
    out = {}
    solvers = {"diffrax ItoMilstein": (diffrax.ItoMilstein(), mu),
               "diffrax SlowRK": (diffrax.SlowRK(), mu - 0.5 * sig * sig),
               "diffrax SPaRK": (diffrax.SPaRK(), mu - 0.5 * sig * sig)}
    keys = jax.random.split(jax.random.PRNGKey(seed), n_paths)
    for name, (solver, drift_mu) in solvers.items():
        pts = []
        for n in steps:
            if n > 2048:  # the virtual tree's per-step cost makes longer grids minutes each; the slope is clear
                continue

            def one(key, n=n, solver=solver, drift_mu=drift_mu):
                bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=1.0 / (4 * n), shape=(1,), key=key,
                                                 levy_area=diffrax.SpaceTimeLevyArea)
                terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, a: drift_mu * y),
                                          diffrax.ControlTerm(lambda t, y, a: sig * y[..., None], bm))
                sol = diffrax.diffeqsolve(terms, solver, 0.0, 1.0, 1.0 / n, jnp.ones(1), max_steps=n + 1,
                                          saveat=diffrax.SaveAt(t1=True))
                return sol.ys[-1, 0], bm.evaluate(0.0, 1.0)[0]

            run = jax.jit(jax.vmap(one))
            jax.block_until_ready(run(keys))  # compile outside the timing
            (y1, w1), wall = _timed(lambda: jax.block_until_ready(run(keys)), reps)
            exact = np.exp((mu - 0.5 * sig * sig) + sig * np.asarray(w1))
            pts.append({"steps": n, "error": float(np.abs(np.asarray(y1) - exact).mean()), "wall": wall})
        out[name] = pts
    return out


def _torchsde_curves(n_paths, steps, reps, seed):
    try:
        import torch
        import torchsde
    except ImportError:
        return {}

    class GBM(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return 0.5 * y

        def g(self, t, y):
            return 0.8 * y

    sde = GBM()
    y0 = torch.ones(n_paths, 1, dtype=torch.float64)
    ts = torch.tensor([0.0, 1.0], dtype=torch.float64)
    out = {}
    for method in ("milstein", "srk"):
        pts = []
        for n in steps:
            if n > 1024:  # torchsde's Brownian interval gets slow; the curve is clear by then
                continue
            bm = torchsde.BrownianInterval(0.0, 1.0, size=(n_paths, 1), dtype=torch.float64, entropy=seed,
                                           levy_area_approximation="space-time")
            with torch.no_grad():
                ys, wall = _timed(lambda: torchsde.sdeint(sde, y0, ts, method=method, dt=1.0 / n, bm=bm), reps)
                w1 = bm(0.0, 1.0)
            exact = torch.exp((0.5 - 0.32) + 0.8 * w1)
            pts.append({"steps": n, "error": float((ys[-1] - exact).abs().mean()), "wall": wall})
        out[f"torchsde {method}"] = pts
    return out


def burst_curves(n_paths, steps, rtols, reps, seed=0, ref_steps=1 << 16):
    sde = burst_sde()
    bm = sk.BrownianPath(n_paths, 1, (0.0, 1.0), seed=seed)
    ref = sk.solve(sde, 1.0, (0.0, 1.0), n_steps=ref_steps, method="sri", brownian=bm, backend="numpy").ys[-1]
    fixed = []
    for n in steps:
        sol, wall = _timed(lambda: sk.solve(sde, 1.0, (0.0, 1.0), n_steps=n, method="sri", brownian=bm,
                                            backend="numpy"), reps)
        fixed.append({"steps": n, "error": float(np.abs(sol.ys[-1] - ref).mean()), "wall": wall})
    adaptive = []
    for rtol in rtols:
        sol, wall = _timed(lambda: sk.solve(sde, 1.0, (0.0, 1.0), adaptive=True, rtol=rtol, atol=rtol * 1e-2,
                                            method="sri", brownian=bm, backend="numpy"), reps)
        adaptive.append({"rtol": rtol, "steps": int(sol.stats["n_accepted"]) + int(sol.stats["n_rejected"]),
                         "accepted": int(sol.stats["n_accepted"]), "error": float(np.abs(sol.ys[-1] - ref).mean()),
                         "wall": wall})
    return {"sri fixed": fixed, "sri adaptive": adaptive}


def steps_for(points, target):
    """Steps at which a curve's error reaches ``target`` (log-log interpolation between measured points)."""
    pts = sorted(points, key=lambda p: p["steps"])
    for a, b in zip(pts[:-1], pts[1:]):
        if (a["error"] - target) * (b["error"] - target) <= 0 and a["error"] != b["error"]:
            la, lb = math.log(a["error"]), math.log(b["error"])
            frac = (math.log(target) - la) / (lb - la)
            return math.exp(math.log(a["steps"]) + frac * (math.log(b["steps"]) - math.log(a["steps"])))
    return None


def machine():
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None,) * 3
    return {"python": platform.python_version(), "numpy": np.__version__, "sdekit": sk.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load": load,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def plot(result, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, pts in result["gbm"].items():
        axes[0].loglog([p["steps"] for p in pts], [p["error"] for p in pts], "o-" if "adaptive" not in name else "s--",
                       label=name, ms=3)
    axes[0].axhline(1e-4, color="grey", lw=0.5)
    axes[0].set(xlabel="steps", ylabel="strong error at t = 1", title="GBM (mu 0.5, sigma 0.8)")
    axes[0].legend(fontsize=7)
    for name, pts in result["burst"].items():
        axes[1].loglog([p["steps"] for p in pts], [p["error"] for p in pts], "o-" if "fixed" in name else "s--",
                       label=name, ms=3)
    axes[1].set(xlabel="steps (adaptive: accepted + rejected)", ylabel="strong error at t = 1",
                title="volatility burst at t = 0.5")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (checks the pipeline)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "work_precision.json"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "img", "work_precision.png"))
    args = ap.parse_args(argv)
    if args.smoke:
        n, reps = 50, 1
        g_steps, g_rtols = [8, 16, 32], [1e-1, 1e-2]
        b_steps, b_rtols, ref = [64, 128], [1e-1, 1e-2], 1 << 10
    else:
        n, reps = args.paths, args.reps
        g_steps, g_rtols = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192], [3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4]
        b_steps, b_rtols, ref = [256, 512, 1024, 2048, 4096, 8192], [3e-2, 1e-2, 3e-3, 1e-3, 3e-4], 1 << 16
    started = time.perf_counter()
    load0 = machine()["load"]
    result = {"machine": machine(), "config": {"paths": n, "reps": reps, "smoke": args.smoke},
              "gbm": gbm_curves(n, g_steps, g_rtols, reps), "burst": burst_curves(n, b_steps, b_rtols, reps, ref_steps=ref)}
    result["machine"]["load_start"], result["machine"]["load_end"] = load0, machine()["load"]
    target = 1e-4
    need = {k: steps_for(v, target) for k, v in result["gbm"].items()}
    result["steps_for_1e-4"] = need
    ratios = []
    for fp in result["burst"]["sri fixed"]:
        s = steps_for(result["burst"]["sri adaptive"], fp["error"])
        ratios.append({"fixed_steps": fp["steps"], "error": fp["error"], "adaptive_steps": s,
                       "ratio": None if s is None else fp["steps"] / s})
    result["burst_ratios"] = ratios
    result["seconds"] = time.perf_counter() - started
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if not args.smoke:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
        plot(result, args.plot)
    print(f"steps for a strong error of 1e-4 on GBM ({n} paths):")
    print("| method | steps |\n|---|---:|")
    for k, v in need.items():
        print(f"| {k} | {'—' if v is None else f'{v:.0f}'} |")
    if need.get("milstein") and need.get("sri"):
        print(f"milstein / sri: {need['milstein'] / need['sri']:.1f}x;"
              f" milstein / adaptive sri: {need['milstein'] / need['sri adaptive']:.1f}x"
              if need.get("sri adaptive") else "")
    print("\nvolatility burst: fixed-step SRI vs adaptive SRI at the same error")
    print("| fixed steps | error | adaptive steps | fixed / adaptive |\n|---:|---:|---:|---:|")
    for r in ratios:
        a = "—" if r["adaptive_steps"] is None else f"{r['adaptive_steps']:.0f}"
        q = "—" if r["ratio"] is None else f"{r['ratio']:.1f}"
        print(f"| {r['fixed_steps']} | {r['error']:.2e} | {a} | {q} |")
    print(f"\n({result['seconds']:.0f} s; load {load0} -> {result['machine']['load_end']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
