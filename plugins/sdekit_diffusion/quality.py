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

import math
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


# --- Gaussian distances (issue 14's benchmark) --------------------------------------------------------------------
def _sqrtm_psd(a):
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_w2(mean1, cov1, mean2, cov2):
    r"""The 2-Wasserstein distance between two Gaussians (Dowson & Landau 1982; Givens & Shortt 1984).

    .. math::  W_2^2 = \lVert μ_1 - μ_2\rVert^2 + \operatorname{tr}\big(Σ_1 + Σ_2 - 2 (Σ_2^{1/2} Σ_1 Σ_2^{1/2})^{1/2}\big)

    >>> import numpy as np
    >>> round(gaussian_w2(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 6)   # sqrt(2 + 2·(2 − 1)²)
    2.0
    """
    m1, m2 = np.atleast_1d(np.asarray(mean1, float)), np.atleast_1d(np.asarray(mean2, float))
    c1, c2 = np.atleast_2d(np.asarray(cov1, float)), np.atleast_2d(np.asarray(cov2, float))
    r2 = _sqrtm_psd(c2)
    cross = _sqrtm_psd(r2 @ c1 @ r2)
    w2 = float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * np.trace(cross))
    return math.sqrt(max(w2, 0.0))


def moment_w2(x, mean, cov):
    """Gaussian W2 between ``N(sample mean, sample cov)`` of ``x`` (n, d) and ``N(mean, cov)``."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return gaussian_w2(x.mean(0), np.cov(x.T, bias=False).reshape(x.shape[1], x.shape[1]), mean, cov)


def affine_w2(x_out, x_in, in_mean, in_cov, mean, cov):
    r"""Gaussian W2 of a deterministic *affine* sampler's exact output law, fitted from its runs (a control variate).

    A deterministic sampler with a Gaussian data law's (affine) denoiser maps its prior draw affinely,
    ``x_out = A x_in + b``; least squares on the ``(x_in, x_out)`` pairs recovers ``A, b`` to round-off,
    and the output law for the exact prior ``N(in_mean, in_cov)`` is ``N(A in_mean + b, A in_cov Aᵀ)``:
    no Monte Carlo floor. The fit's residual is returned too (it must be round-off).
    """
    xi = np.asarray(x_in, dtype=np.float64).reshape(len(x_in), -1)
    xo = np.asarray(x_out, dtype=np.float64).reshape(len(x_out), -1)
    design = np.hstack([xi, np.ones((len(xi), 1))])
    coef, *_ = np.linalg.lstsq(design, xo, rcond=None)
    A, b = coef[:-1].T, coef[-1]
    resid = float(np.abs(design @ coef - xo).max())
    out_mean = A @ np.broadcast_to(np.asarray(in_mean, float), (xi.shape[1],)) + b
    out_cov = A @ np.atleast_2d(in_cov) @ A.T
    return gaussian_w2(out_mean, out_cov, mean, cov), resid


def ddim_gaussian_bound(cov, forward, nfe, *, final_denoise=True, eps=1e-3):
    r"""The least Gaussian W2 that DDIM (η = 0) can reach on data ``N(μ, cov)`` with ``nfe`` evaluations, on any grid.

    Along an eigenvalue ``c`` of ``cov`` DDIM multiplies the centred scaled state ``y − μ`` per step
    from σ to σ' by :math:`(c + σσ')/(c + σ^2) = \cos(θ - θ')\sqrt{(c + σ'^2)/(c + σ^2)}`,
    :math:`θ = \arctan(σ/\sqrt c)` (:class:`~sdekit_diffusion.DDIM`); the final denoise,
    :math:`c/(c + σ_N^2)`, is one more such step, to θ = 0. The roots telescope, and since
    :math:`\log\cos` is concave, ``k`` steps spanning Θ give :math:`\prod \cos Δθ_i \le \cos(Θ/k)^k`
    (Jensen; equal angles attain it). For a grid from ``forward.T`` (σ₀) to ``eps`` (σ_N) the output's
    std along ``c`` is therefore at most :math:`f\sqrt c` with, in the scaled prior's ratio
    :math:`a = \text{prior\_std}/(m_T\sqrt{c + σ_0^2})`,

    .. math::  f = a \cos θ_N \cos\!\big(\tfrac{θ_0 - θ_N}{B - 1}\big)^{B-1} \ \text{(final denoise)},\qquad
               f = a\, m_{eps} \sqrt{1 + σ_N^2/c}\,\cos\!\big(\tfrac{θ_0 - θ_N}{B}\big)^{B} \ \text{(without)},

    and :math:`W_2 \ge \big(\sum_c c\,\max(1 - f_c, 0)^2\big)^{1/2}` (the output covariance commutes
    with ``cov``; the mean error only adds). Both are attained along one eigenvalue by equal angles.

    >>> import numpy as np, sdekit_diffusion as skd
    >>> round(ddim_gaussian_bound(np.diag(np.logspace(-2, 0.5, 16)), skd.VPSDE(), 10), 3)
    0.396
    """
    from .logsnr import scalar_marginal

    c = np.linalg.eigvalsh(np.atleast_2d(np.asarray(cov, dtype=np.float64)))
    m_T, s_T, _ = scalar_marginal(forward, float(forward.T))
    m_e, s_e, _ = scalar_marginal(forward, float(eps))
    s0, sN = s_T / m_T, s_e / m_e
    a = forward.prior_std / (m_T * np.sqrt(c + s0 ** 2))
    th0, thN = np.arctan(s0 / np.sqrt(c)), np.arctan(sN / np.sqrt(c))
    if final_denoise:
        f = a * np.cos(thN) * np.cos((th0 - thN) / (nfe - 1)) ** (nfe - 1)
    else:
        f = a * m_e * np.sqrt(1 + sN ** 2 / c) * np.cos((th0 - thN) / nfe) ** nfe
    return float(np.sqrt(np.sum(c * np.clip(1 - f, 0, None) ** 2)))


def per_mode_w2(x, mixture):
    r"""Per-mode Gaussian W2 of samples against a mixture's exact components, and the mode weights' error.

    Each sample goes to the component of largest posterior responsibility (exact for well separated
    modes); per component ``k`` the Gaussian W2 of the assigned samples' moments against
    ``N(μ_k, Σ_k)``. Returns ``(Σ_k w_k W2_k, Σ_k |ŵ_k − w_k| / 2)`` (the weighted mean distance and
    the total-variation error of the mode weights). A component with fewer than ``d + 2`` samples
    counts with its mean's distance plus its covariance's trace.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not np.all(np.isfinite(x)):
        return math.inf, 1.0
    k = np.argmax(mixture.responsibilities(x), axis=1)
    total, tv = 0.0, 0.0
    for j, w in enumerate(mixture.weights):
        sel = x[k == j]
        tv += abs(len(sel) / len(x) - w) / 2
        if len(sel) < x.shape[1] + 2:
            total += w * (math.sqrt(np.trace(mixture.covs[j])) + (np.linalg.norm(sel.mean(0) - mixture.means[j])
                                                                   if len(sel) else 0.0))
            continue
        total += w * gaussian_w2(sel.mean(0), np.cov(sel.T), mixture.means[j], mixture.covs[j])
    return float(total), float(tv)


__all__ = ["MIX1D", "MIX2D", "SAMPLERS", "quality_table", "floor", "plot_quality", "markdown_table", "gaussian_w2",
           "ddim_gaussian_bound",
           "moment_w2", "affine_w2", "per_mode_w2"]
