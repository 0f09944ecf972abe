r"""Quality against cost for every sampler on analytic mixtures (shared by the demo and the benchmark).

Quality is measured against the *exact* data law: the Kolmogorov–Smirnov statistic
against the mixture CDF in 1-D, the sliced 2-Wasserstein distance (512 projections)
to exact samples in 2-D. Cost is the number of score evaluations per sample path
(counted, not assumed), which is what dominates with a learned score.

>>> rows = quality_table("1d", methods=["euler_maruyama"], steps=[10], n=500)
>>> rows[0]["method"], rows[0]["nfe"]
('euler_maruyama', 10)
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from sdekit_scores import GaussianMixture

from .samplers import sample
from .sdes import VPSDE

MIX1D = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.16, 0.36])
MIX2D = GaussianMixture([0.2, 0.5, 0.3], [[-1.5, 0.0], [1.0, 1.0], [0.5, -1.2]],
                        [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.08], [-0.08, 0.15]], [[0.1, 0.0], [0.0, 0.25]]])

# label -> (method, options)
SAMPLERS = {
    "euler_maruyama": ("euler_maruyama", {}),
    "heun": ("heun", {}),
    "pc": ("pc", {}),
    "ode (rk4)": ("ode", {"solver": "rk4"}),
    "ode (heun)": ("ode", {"solver": "heun"}),
    "ode (dopri5)": ("ode", {"solver": "dopri5"}),
    "ancestral": ("ancestral", {}),
    "annealed_langevin": ("annealed_langevin", {}),
}


class _Counter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, t, x):
        self.calls += 1
        return self.fn(t, x)


def _metric(problem, x, exact):
    if problem == "1d":
        return float(stats.kstest(np.asarray(x)[:, 0], MIX1D.cdf).statistic)
    from sdekit.testing import sliced_wasserstein

    return float(sliced_wasserstein(np.asarray(x), exact, n_projections=512, seed=0))


def floor(problem, n, seed=100):
    """The metric between two independent exact samples of size n (the sampling-noise floor)."""
    if problem == "1d":
        return _metric(problem, MIX1D.sample(n, seed=seed + 1), None)
    return _metric(problem, MIX2D.sample(n, seed=seed + 1), MIX2D.sample(n, seed=seed))


def quality_table(problem="1d", *, methods=None, steps=(10, 30, 100, 300, 1000), n=5000, forward=None, seed=1):
    r"""Rows ``{method, n_steps, nfe, metric, seconds}`` for each sampler and step count.

    ``problem``: ``"1d"`` (KS against :data:`MIX1D`) or ``"2d"`` (sliced W₂ to exact samples of
    :data:`MIX2D`); ``forward``: default :class:`VPSDE`. For ``ode (dopri5)`` the step count
    is replaced by tolerances ``rtol = atol = 10^{-2}, …`` (one per entry of ``steps``).
    """
    forward = forward or VPSDE()
    mix = MIX1D if problem == "1d" else MIX2D
    exact = None if problem == "1d" else mix.sample(n, seed=100)
    rows = []
    for label in methods or SAMPLERS:
        method, opts = SAMPLERS.get(label, (label, {}))
        for i, k in enumerate(steps):
            score = _Counter(mix.perturbed(forward))
            kw = dict(opts)
            if kw.get("solver") == "dopri5":
                tol = 10.0 ** -(2 + i)
                kw.update(rtol=tol, atol=tol)
                k_run = 10
            else:
                k_run = k
            t0 = time.perf_counter()
            x = sample(forward, score, n, mix.d, method=method, n_steps=k_run, seed=seed, backend="numpy", **kw)
            rows.append({"method": label, "n_steps": k_run if "rtol" not in kw else f"tol 1e-{2 + i}",
                         "nfe": score.calls, "metric": _metric(problem, x, exact),
                         "seconds": time.perf_counter() - t0})
    return rows


def scatter_panels(panels, path, *, xlim, ylim, panel_size=2.6, point_size=0.5, title_size=8):
    """One scatter panel per ``(label, (n, 2) samples)`` pair, sharing axes, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size * len(panels), panel_size * 1.08),
                             sharex=True, sharey=True)
    for ax, (label, xs) in zip(axes, panels):
        ax.scatter(xs[:, 0], xs[:, 1], s=point_size, alpha=0.4)
        ax.set_title(label, fontsize=title_size)
        ax.set_aspect("equal")
    axes[0].set_xlim(*xlim)
    axes[0].set_ylim(*ylim)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_quality(rows, path, *, title, ylabel, floor_value=None):
    """Log–log plot of metric against score evaluations, one line per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == label]
        ax.loglog([r["nfe"] for r in rs], [r["metric"] for r in rs], "o-", ms=3, label=label)
    if floor_value is not None:
        ax.axhline(floor_value, color="k", ls=":", lw=1, label="two exact samples")
    ax.set(xlabel="score evaluations per sample", ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_table(rows, metric_name):
    lines = [f"| sampler | steps | score evals | {metric_name} | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['n_steps']} | {r['nfe']} | {r['metric']:.4f} | {r['seconds']:.2f} |"
              for r in rows]
    return "\n".join(lines)


__all__ = ["MIX1D", "MIX2D", "SAMPLERS", "quality_table", "floor", "plot_quality", "markdown_table"]
