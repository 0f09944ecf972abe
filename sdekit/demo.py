"""``sdekit demo``: the main demonstration, printed and written to ``demo_out/``.

Sections: measured strong orders of every method next to theory (each on the
same Brownian path refined), RK4's order on a smooth ODE, Ornstein–Uhlenbeck
moments next to their exact values, timings per backend, and whatever sections
installed plugins contribute (their module-level ``demo_sections``: callables
``(out_dir, quick) -> markdown``). Plots: sample paths and the log-log
convergence figure.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from . import plugins, testing
from .ensemble_demo import ensemble_section
from .sde import ODE, SDE
from .solve import solve

TOLERANCE = 0.15  # acceptance band around the theoretical order


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _demo_cases():
    """One strong-order row per registered method, read from the solvers' declared facts.

    Each SDE method on the catalogue problem of its first multiplicative noise class
    (diagonal, else scalar, commutative, general; additive for additive-only methods),
    each fixed-step ODE method on the smooth Riccati ODE.
    """
    from .solvers import REGISTRY
    from .testing.catalogue import convergence_cases

    preference = ("diagonal", "scalar", "commutative", "general", "additive", "ode")
    rows = []
    for cls in REGISTRY:
        if cls.adaptive_default:
            continue
        cases = [c for c in convergence_cases([cls]) if c.kind == "strong"]
        if cases:
            rows.append(min(cases, key=lambda c: preference.index(c.noise_class)))
    return rows


def _order_rows(quick):
    n_paths = 1000 if quick else 4000
    steps = [16, 32, 64, 128, 256]
    rows, fits = [], []
    for case in _demo_cases():
        problem = case.make()
        if case.noise_class == "ode":
            fit = testing.strong_order(problem, case.method, n_steps=[32, 64, 128, 256], n_paths=2, seed=0)
        else:
            ref = 16 * steps[-1] if problem.exact is None else None
            fit = testing.strong_order(problem, case.method, n_steps=steps, n_paths=n_paths // (2 if ref else 1),
                                       seed=0, reference_n_steps=ref)
        ok = abs(fit.order - case.order) <= TOLERANCE
        label = f"{problem.name} ({case.noise_class}{', ' + problem.sde.calculus if case.noise_class != 'ode' else ''})"
        rows.append([case.method, label, f"{fit.order:.3f}", f"[{fit.ci[0]:.3f}, {fit.ci[1]:.3f}]", case.order,
                     "yes" if ok else "**no**"])
        fits.append((f"{case.method} on {problem.name}", fit))
    return rows, fits


def _ou_moments(quick):
    p = testing.problems.ou(theta=2.0, mu=1.0, sigma=0.7)
    n = 20_000 if quick else 100_000
    sol = solve(p.sde, p.x0, p.t_span, n_steps=200, n_paths=n, seed=1, save_at=[0.25, 0.5, 1.0],
                backend="numpy")
    rows = []
    for k, t in enumerate(sol.ts):
        x = sol.ys[k, :, 0]
        m, v = float(np.ravel(p.mean(t))[0]), float(np.ravel(p.var(t))[0])
        se_m, se_v = math.sqrt(v / n), v * math.sqrt(2.0 / n)
        rows.append([t, f"{x.mean():.4f}", f"{m:.4f}", f"{abs(x.mean() - m) / se_m:.2f}",
                     f"{x.var():.4f}", f"{v:.4f}", f"{abs(x.var() - v) / se_v:.2f}"])
    return rows


def _timings(quick):
    gbm = SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    n_paths, n_steps = (20_000, 100) if quick else (100_000, 200)
    rows = []
    for backend in ("numpy", "numba", "torch"):
        try:
            x0 = 1.0
            if backend == "torch":
                import torch

                x0 = torch.ones(1, dtype=torch.float64)
            # Warm-up with the timed sizes: Numba compiles its fused kernel here (reported by stats).
            solve(gbm, x0, (0.0, 1.0), n_steps=n_steps, n_paths=n_paths, seed=1, backend=backend)
            t = time.perf_counter()
            solve(gbm, x0, (0.0, 1.0), n_steps=n_steps, n_paths=n_paths, seed=0, backend=backend)
            el = time.perf_counter() - t
            rows.append([backend, f"{n_paths:,} x {n_steps}", f"{el:.3f}", f"{el / (n_paths * n_steps) * 1e9:.1f}"])
        except Exception as e:  # a backend missing on this machine is reported, not fatal
            rows.append([backend, "unavailable", str(e).split("\n")[0][:60], ""])
    return rows


def _plots(out, fits):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(matplotlib not installed: no plots)"
    p = testing.problems.gbm()
    sol = solve(p.sde, p.x0, p.t_span, n_steps=256, n_paths=20, seed=3, save_at="steps", backend="numpy")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(sol.ts, sol.ys[:, :, 0], lw=0.8)
    ax.set(xlabel="t", ylabel="X_t", title="GBM sample paths (Euler–Maruyama, 256 steps)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "paths.png"), dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, fit in fits:
        ax.loglog(fit.dts, fit.errors, "o-", label=f"{label}: {fit.order:.2f}")
    ax.set(xlabel="dt", ylabel="strong error", title="Strong convergence (same path refined)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "convergence.png"), dpi=120)
    plt.close(fig)
    return "![sample paths](paths.png)\n\n![convergence](convergence.png)"


def _plugin_sections(out, quick):
    parts = []
    for name in plugins.available():
        try:
            module = plugins.load(name)
        except plugins.PluginError as e:
            parts.append(f"## Plugin {name}\n\n(not loaded: {e})")
            continue
        for section in getattr(module, "demo_sections", ()):
            parts.append(section(out, quick))
    return parts


def run_demo(out: str = "demo_out", quick: bool = False) -> int:
    """Run the demonstration, print the report and write ``out/report.md`` and PNGs.

    Returns 0 when every measured order is within ±0.15 of theory, else 1.

    >>> # sdekit demo --out demo_out            (or: make demo)
    """
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    rows, fits = _order_rows(quick)
    parts = [
        "# sdekit demo",
        "## Strong orders, measured vs theory",
        "Every registered method (the rows come from the solvers' declared facts) on the same Brownian "
        "path refined (n_steps = 16…256; against the exact solution, or a 16x finer solve on the same path); "
        "the order is the least-squares slope of log error against log dt with a 95% confidence interval.",
        _table(["method", "problem", "measured", "95% CI", "theory", "within ±0.15"], rows),
        "## Ornstein–Uhlenbeck moments (Euler–Maruyama, 200 steps)",
        "dX = 2 (1 − X) dt + 0.7 dW, X_0 = 0; |z| is the deviation in Monte Carlo standard errors. "
        "Euler–Maruyama's weak bias (about θ·dt = 1% of the variance here) is part of the deviation.",
        _table(["t", "mean", "exact mean", "|z|", "var", "exact var", "|z|"], _ou_moments(quick)),
        "## Timings (Euler–Maruyama on GBM, float64)",
        "One solve after a warm-up of the same size (Numba compiles its fused kernel there); a quick "
        "look, not a benchmark: `sdekit bench` measures properly (see docs/benchmarks.md).",
        _table(["backend", "paths x steps", "seconds", "ns / path-step"], _timings(quick)),
        ensemble_section(out, quick),
        "## Plots",
        _plots(out, fits),
    ]
    parts += _plugin_sections(out, quick)
    parts.append(f"_Total demo time: {time.perf_counter() - started:.1f} s._")
    report = "\n\n".join(parts) + "\n"
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(report)
    print(report)
    print(f"Report written to {os.path.join(out, 'report.md')}")
    all_ok = all(r[-1] == "yes" for r in rows)
    return 0 if all_ok else 1
