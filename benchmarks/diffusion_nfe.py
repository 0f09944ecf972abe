"""Diffusion samplers: quality against score evaluations (NFE) with exact scores, sdekit and k-diffusion side by side.

Problems (exact data laws, exact perturbed scores, so every error is the sampler's own):

* ``gauss16``: a 16-D Gaussian, covariance ``Q diag(10^linspace(-2, 0.5)) Qᵀ`` (std 0.1 to 1.8), random
  mean; Gaussian W2 between the sampled and the exact law from moments of ``--n-gauss`` (10^5) samples.
  Deterministic samplers are affine maps of the prior draw here, so their exact output law is fitted
  from the (prior, output) pairs (``sdekit_diffusion.quality.affine_w2``: regression on the prior draw as
  a control variate, no Monte Carlo floor); stochastic ones use sample moments (floor measured).
* ``mix2``: a ring of 8 Gaussians (radius 2, std 0.17) in 2-D; ``mix16``: 5 anisotropic Gaussians
  (std 0.1 to 0.56) in 16-D at distance ~4; ``--n-mix`` (2·10^4) samples. Per-mode Gaussian W2 against
  the exact components (``per_mode_w2``, weighted by the mode weights; the mode weights' TV error beside
  it), sliced W2 (128 projections) and MMD² (Gaussian kernel, median bandwidth of exact samples, 2000
  points) to exact samples; each metric's noise floor is its value between exact samples of the same
  size (mean and sd over 5 seeds).

Every sdekit sampler (``skd.sample``) on the VP process (β 0.1 → 20, eps 1e-3) with every schedule
(uniform, karras, logsnr) at budgets of 10, 20, 35, 50, 100 NFE (1000 on each sampler's default
schedule); every deterministic one also on the grid ``skd.fit_times`` fits for it at 10, 20 and 35 NFE
(schedule "fitted": 512 pilot draws of seed 1000, evaluated on the draws of seed 1; the fit's time and
pilot evaluations are in the JSON rows), and, when k-diffusion is importable
(``pip install --no-deps k-diffusion torchdiffeq``; only its ``sampling.py`` is loaded, see
``diffusion_kdiffusion.py``), its samplers in the same run on the same σ grids, both with the usual
final ``σ = 0`` (denoising) step and without it. Budgets a sampler cannot spend exactly get the
largest it can below. A divergence check runs every sdekit sampler at 10 NFE with
the karras and logsnr schedules on VE (σ 0.01 → 50) and EDM (σ 0.002 → 80).

    .venv/bin/python benchmarks/diffusion_nfe.py            # full run (~1 h on 2 shared cores)
    .venv/bin/python benchmarks/diffusion_nfe.py --smoke    # seconds: tiny sizes, for the test suite
    .venv/bin/python benchmarks/diffusion_nfe.py --acceptance-only   # re-evaluate the saved JSON
    .venv/bin/python benchmarks/diffusion_nfe.py --only mix16 --nfe 10,20
    .venv/bin/python benchmarks/diffusion_nfe.py --only mix16 --n-mix 5000 --samplers "dpm_solver (2M);unipc (2)" \
        --kd-samplers "kd lms" --big-samplers "unipc (2)"     # subsets: labels ';'-separated

Writes ``benchmarks/results/diffusion_nfe.json``, plots ``docs/img/diffusion_nfe_<problem>.png`` and prints
Markdown tables and the acceptance checks of issue 14. The load average is recorded per section.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

import sdekit_diffusion as skd
import sdekit_scores as sks
from sdekit.errors import InvalidArgumentError
from sdekit.testing import mmd, sliced_wasserstein
from sdekit_diffusion.quality import affine_w2, ddim_gaussian_bound, moment_w2, per_mode_w2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from diffusion_kdiffusion import load as load_kdiffusion  # noqa: E402

NFES = (10, 20, 35, 50, 100, 1000)
SCHEDULES = ("uniform", "karras", "logsnr")
FIT_NFES = (10, 20, 35)  # budgets at which the deterministic samplers also run on a grid from skd.fit_times
FIT_PILOT, PILOT_SEED = 512, 1000  # the fit's pilot batch: 512 prior draws of seed 1000 (evaluation uses seed 1)
# label -> (method, options, deterministic)
SAMPLERS = {
    "euler_maruyama": ("euler_maruyama", {}, False),
    "heun": ("heun", {}, False),
    "pc": ("pc", {}, False),
    "ode (rk4)": ("ode", {"solver": "rk4"}, True),
    "ode (heun)": ("ode", {"solver": "heun"}, True),
    "ancestral": ("ancestral", {}, False),
    "annealed_langevin": ("annealed_langevin", {}, False),
    "ddim": ("ddim", {}, True),
    "ddim (eta=1)": ("ddim", {"eta": 1.0}, False),
    "dpm_solver (2M)": ("dpm_solver", {"order": 2}, True),
    "dpm_solver (3M)": ("dpm_solver", {"order": 3}, True),
    "dpm_solver (2M, no final denoise)": ("dpm_solver", {"order": 2, "final_denoise": False}, True),
    "dpm_solver_sde": ("dpm_solver_sde", {}, False),
    "edm": ("edm", {}, True),
    "edm (churn 10)": ("edm", {"s_churn": 10.0}, False),
    "unipc (2)": ("unipc", {"order": 2}, True),
    "unipc (3)": ("unipc", {"order": 3}, True),
    "unipc (2, UniC-1)": ("unipc", {"order": 2, "corrector_order": 1}, True),
    "unipc (2, UniC-1, no final denoise)": ("unipc", {"order": 2, "corrector_order": 1, "final_denoise": False}, True),
}
# k-diffusion samplers: name -> (function, kwargs, evaluations per step (the last step to σ = 0 costs 1), deterministic)
KDIFF = {
    "kd euler": ("sample_euler", {}, 1, True),
    "kd heun": ("sample_heun", {}, 2, True),
    "kd dpm_2": ("sample_dpm_2", {}, 2, True),
    "kd lms": ("sample_lms", {}, 1, True),
    "kd dpmpp_2m": ("sample_dpmpp_2m", {}, 1, True),
    "kd dpmpp_3m (eta=0)": ("sample_dpmpp_3m_sde", {"eta": 0.0}, 1, True),
    "kd euler_ancestral": ("sample_euler_ancestral", {}, 1, False),
    "kd dpmpp_2s_ancestral": ("sample_dpmpp_2s_ancestral", {}, 2, False),
    "kd dpmpp_sde": ("sample_dpmpp_sde", {}, 2, False),
    "kd dpmpp_2m_sde": ("sample_dpmpp_2m_sde", {}, 1, False),
    "kd dpmpp_3m_sde": ("sample_dpmpp_3m_sde", {}, 1, False),
}


# --- problems ------------------------------------------------------------------------------------------------
def gauss16():
    rng = np.random.default_rng(3)
    d = 16
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = (q * np.logspace(-2, 0.5, d)) @ q.T
    return sks.Gaussian(rng.standard_normal(d), cov)


def mix2():
    ang = 2 * np.pi * np.arange(8) / 8
    return sks.GaussianMixture(np.ones(8) / 8, np.c_[2 * np.cos(ang), 2 * np.sin(ang)], 0.03 * np.ones(8))


def mix16():
    rng = np.random.default_rng(16)
    d, K = 16, 5
    means = rng.standard_normal((K, d))
    means = 3.0 * means / np.linalg.norm(means, axis=1, keepdims=True)
    covs = []
    for _ in range(K):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        covs.append((q * np.logspace(-2, -0.5, d)) @ q.T)
    return sks.GaussianMixture([0.1, 0.15, 0.2, 0.25, 0.3], means, np.array(covs))


PROBLEMS = {"gauss16": gauss16, "mix2": mix2, "mix16": mix16}


class Metrics:
    """The metrics of one problem, with the exact reference samples and the noise floors."""

    def __init__(self, name, law, n, seeds=5, mmd_points=2000):
        seeds = seeds if n > 2000 else 2
        self.name, self.law, self.n, self.mmd_points = name, law, n, mmd_points
        self.gaussian = name == "gauss16"
        self.exact = law.sample(n, seed=100)
        sub = self.exact[:mmd_points]
        d2 = ((sub[:500, None, :] - sub[None, :500, :]) ** 2).sum(-1)
        self.bandwidth = float(np.sqrt(np.median(d2[d2 > 0])))
        floors = [self.sample_metrics(law.sample(n, seed=200 + s)) for s in range(seeds)]
        self.floor = {k: (float(np.mean([f[k] for f in floors])), float(np.std([f[k] for f in floors])))
                      for k in floors[0]}

    def sample_metrics(self, x):
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            return {k: math.inf for k in (("w2",) if self.gaussian else ("per_mode_w2", "mode_tv", "sliced_w2", "mmd"))}
        if self.gaussian:
            return {"w2": moment_w2(x, self.law.mean, self.law.cov)}
        pm, tv = per_mode_w2(x, self.law)
        return {"per_mode_w2": pm, "mode_tv": tv,
                "sliced_w2": float(sliced_wasserstein(x, self.exact, n_projections=128, seed=0)),
                "mmd": float(mmd(x[:self.mmd_points], self.exact[:self.mmd_points], bandwidth=self.bandwidth))}

    def primary(self):
        return "w2" if self.gaussian else "per_mode_w2"

    def of(self, x, x_T=None, prior_std=1.0, deterministic=False):
        if self.gaussian and deterministic and x_T is not None and np.all(np.isfinite(np.asarray(x))):
            d = self.law.d
            w, resid = affine_w2(np.asarray(x), x_T, 0.0, prior_std ** 2 * np.eye(d), self.law.mean, self.law.cov)
            return {"w2": w, "affine_residual": resid}
        return self.sample_metrics(x)


# --- runners -------------------------------------------------------------------------------------------------
class Counted:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def spendable(method, budget, opts):
    """The largest budget <= ``budget`` the sampler spends exactly (its plan), or None."""
    fd = opts.get("final_denoise")
    cost = {k: v for k, v in opts.items() if k in ("n_corrector", "n_inner", "solver")}
    for b in range(budget, 0, -1):
        try:
            return skd.sampling_plan(skd.VPSDE(), method, nfe=b, final_denoise=fd, **cost).nfe
        except InvalidArgumentError:
            continue
    return None


def fit_grid(forward, law, label, budget, pilot_seed=PILOT_SEED):
    """``skd.fit_times`` for a deterministic sampler at the largest budget <= ``budget`` a grid can spend exactly."""
    method, opts, _ = SAMPLERS[label]
    b = spendable(method, budget, opts)
    fd = opts.get("final_denoise")
    # edm's budgets that end with an Euler step cannot be said as a grid of times: the next budget down
    while b is not None and method == "edm" and skd.sampling_plan(forward, method, nfe=b, final_denoise=fd).edm_last \
            != "heun":
        b = spendable(method, b - 1, opts)
    if b is None:
        return None, 0.0
    t0 = time.perf_counter()
    fit = skd.fit_times(forward, law.perturbed(forward), law.d, method=method, nfe=b, seed=pilot_seed,
                        pilot=FIT_PILOT, backend="numpy", **opts)
    return fit, time.perf_counter() - t0


def run_sdekit(forward, law, metrics, label, schedule, budget, n, seed=1):
    method, opts, det = SAMPLERS[label]
    grid = {"nfe": spendable(method, budget, opts), "schedule": schedule}
    extra = {}
    if schedule == "fitted":
        fit, fit_seconds = fit_grid(forward, law, label, budget)
        grid = {"times": fit} if fit is not None else {"nfe": None}
        if fit is not None:
            extra = {"fit_seconds": fit_seconds, "pilot_nfe": fit.pilot_nfe, "pilot": FIT_PILOT,
                     "fit_error": fit.error, "fit_start_error": fit.start_error,
                     "fit_logsnr": [float(v) for v in -np.log(fit.sigmas)]}
    if grid.get("nfe", 0) is None:
        return None
    x_T = forward.prior_sample(n, law.d, seed=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sol = skd.sample(forward, law.perturbed(forward), n, law.d, method=method, **grid,
                             seed=seed, x_T=x_T, backend="numpy", return_solution=True, **opts)
            x = sol.samples
            nfe = sol.stats["nfe"]
        except (FloatingPointError, ArithmeticError) as e:  # a NonFiniteError from the solve: diverged
            x, nfe = np.full((n, law.d), np.nan), budget
            print(f"  {label} {schedule} {budget}: {type(e).__name__}", flush=True)
    seconds = time.perf_counter() - t0
    row = {"sampler": label, "library": "sdekit", "schedule": schedule, "budget": budget, "nfe": nfe,
           "seconds": seconds, **extra, **metrics.of(x, x_T, forward.prior_std, det)}
    return row


def kd_sigmas(forward, schedule, levels, zero):
    import torch

    g = skd.time_grid(forward, levels - 1, schedule, t_end=getattr(forward, "t_min", 1e-3))
    sig = torch.as_tensor(g.sigmas, dtype=torch.float64)
    return torch.cat([sig, sig.new_zeros(1)]) if zero else sig


def run_kdiff(kd, forward, law, metrics, label, schedule, budget, zero, n, seed=1):
    import torch

    fname, kw, per, det = KDIFF[label]
    # levels L (+ 0): steps L (zero) or L-1; a 2-evaluation sampler's step to 0 costs one
    if per == 1:
        levels = budget if zero else budget + 1
    else:
        levels = (budget + 1) // 2 if zero else budget // 2 + 1
    if levels < 2:
        return None
    eps = getattr(forward, "t_min", 1e-3)
    ps = law.perturbed(forward)
    prob = skd.logsnr_problem(forward, ps)

    def denoiser(x, sigma):  # the exact denoiser of the scaled state x0 + σ ε (k-diffusion's convention)
        t = forward.time_at(float(sigma[0]))
        out = prob.denoise(t, prob.from_scaled(t, x.numpy()))
        return torch.from_numpy(np.ascontiguousarray(out))

    model = Counted(denoiser)
    x_T = forward.prior_sample(n, law.d, seed=seed)
    y0 = torch.from_numpy(prob.to_scaled(forward.T, x_T))
    sig = kd_sigmas(forward, schedule, levels, zero)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = getattr(kd, fname)(model, y0, sig, disable=True, **kw).numpy()
    x = y if zero else prob.from_scaled(eps, y)
    return {"sampler": label, "library": "k-diffusion", "schedule": schedule + ("+0" if zero else ""),
            "budget": budget, "nfe": model.calls, "seconds": time.perf_counter() - t0,
            **metrics.of(x, x_T, forward.prior_std, det)}


def default_schedule(label):
    return skd.DEFAULT_SCHEDULE[SAMPLERS[label][0]]


def load_avg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def quality_section(name, n, nfes, samplers, kd, kd_samplers, big=1000, big_samplers=None, fit=True):
    law = PROBLEMS[name]()
    forward = skd.VPSDE()
    started, load0 = time.perf_counter(), load_avg()
    metrics = Metrics(name, law, n)
    print(f"## {name} (n = {n}; floor {metrics.floor})", flush=True)
    rows = []
    for label in samplers:
        for schedule in SCHEDULES:
            for b in nfes:
                if b >= big and (schedule != default_schedule(label) or
                                 (big_samplers is not None and label not in big_samplers)):
                    continue  # the long runs on each sampler's default schedule only (and on big_samplers)
                r = run_sdekit(forward, law, metrics, label, schedule, b, n)
                if r is not None:
                    rows.append(r)
        if fit and SAMPLERS[label][2]:
            for b in nfes:
                if b in FIT_NFES:
                    r = run_sdekit(forward, law, metrics, label, "fitted", b, n)
                    if r is not None:
                        rows.append(r)
        print(f"  {label}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    if kd is not None:
        for label in kd_samplers:
            for schedule in SCHEDULES:
                for zero in (True, False):
                    for b in nfes:
                        if b >= big:
                            continue
                        r = run_kdiff(kd, forward, law, metrics, label, schedule, b, zero, n)
                        if r is not None:
                            rows.append(r)
            print(f"  {label}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    return {"problem": name, "n": n, "nfes": list(nfes), "floor": metrics.floor, "primary": metrics.primary(),
            "rows": rows,
            "seconds": time.perf_counter() - started, "load_before": load0, "load_after": load_avg()}


def divergence_section(samplers, n, budget=10):
    """Every sdekit sampler at ``budget`` NFE with the karras and logsnr schedules on VE and EDM (mix16)."""
    law = mix16()
    metrics = Metrics("mix16", law, n, seeds=2)
    started, load0 = time.perf_counter(), load_avg()
    rows = []
    for fname, forward in (("VE", skd.VESDE()), ("EDM", skd.EDMSDE())):
        for label in samplers:
            for schedule in ("karras", "logsnr"):
                method, opts, det = SAMPLERS[label]
                b = spendable(method, budget, opts)
                x_T = forward.prior_sample(n, law.d, seed=1)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        x = skd.sample(forward, law.perturbed(forward), n, law.d, method=method, nfe=b,
                                       schedule=schedule, seed=1, x_T=x_T, backend="numpy", **opts)
                    except (FloatingPointError, ArithmeticError):
                        x = np.full((n, law.d), np.nan)
                x = np.asarray(x)
                finite = bool(np.all(np.isfinite(x)))
                rows.append({"process": fname, "sampler": label, "schedule": schedule, "nfe": b, "finite": finite,
                             "max_abs": float(np.abs(x).max()) if finite else math.inf,
                             "start_max_abs": float(np.abs(x_T).max()),
                             **metrics.sample_metrics(x)})
    return {"rows": rows, "data_max_abs": float(np.abs(metrics.exact).max()), "seconds": time.perf_counter() - started,
            "load_before": load0, "load_after": load_avg()}


# --- reporting -----------------------------------------------------------------------------------------------
def best(rows, budget_max, library, key, schedule=None, label=None, stochastic=None):
    cand = [r for r in rows if r["library"] == library and r["nfe"] <= budget_max and r["budget"] == budget_max
            and (schedule is None or r["schedule"] == schedule) and (label is None or r["sampler"] == label)]
    if stochastic is not None:
        table = SAMPLERS if library == "sdekit" else KDIFF
        cand = [r for r in cand if (not table[r["sampler"]][-1]) == stochastic]
    cand = [r for r in cand if math.isfinite(r[key])]
    return min(cand, key=lambda r: r[key]) if cand else None


def table(section, nfes):
    key = section["primary"]
    out = [f"| sampler | schedule | " + " | ".join(f"{b}" for b in nfes) + " |",
           "|---|---|" + "---|" * len(nfes)]
    seen = {}
    for r in section["rows"]:
        seen.setdefault((r["sampler"], r["schedule"]), {})[r["budget"]] = r
    for (label, schedule), cells in seen.items():
        vals = []
        for b in nfes:
            r = cells.get(b)
            vals.append("" if r is None else (f"{r[key]:.3f}" if math.isfinite(r[key]) else "∞")
                        + ("" if r is None or r["nfe"] == b else f" ({r['nfe']})"))
        out.append(f"| {label} | {schedule} | " + " | ".join(vals) + " |")
    return "\n".join(out)


def plot(section, path, nfes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = section["primary"]
    panels = SCHEDULES + (("fitted",) if any(r["schedule"] == "fitted" for r in section["rows"]) else ())
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 5.2), sharey=True)
    floor, sd = section["floor"][key]
    labels = list(dict.fromkeys(r["sampler"] for r in section["rows"]))
    cmap = plt.get_cmap("tab20")
    for ax, schedule in zip(axes, panels):
        for i, label in enumerate(labels):
            for sch, ls in ((schedule, "-"), (schedule + "+0", "--"), (schedule + "", "-")):
                rs = sorted([r for r in section["rows"] if r["sampler"] == label and r["schedule"] == sch
                             and math.isfinite(r[key])], key=lambda r: r["nfe"])
                if not rs:
                    continue
                kd = label.startswith("kd ")
                ax.loglog([r["nfe"] for r in rs], [max(r[key], 1e-4) for r in rs], ls if not kd else ":",
                          marker="o" if not kd else "x", ms=3, lw=1.2 if not kd else 0.9, color=cmap(i % 20),
                          label=label + (" (σ→0 step)" if sch.endswith("+0") else ""))
                break
        if floor > 0:
            ax.axhspan(max(floor - 2 * sd, 1e-4), floor + 2 * sd, color="0.85", zorder=0)
            ax.axhline(floor, color="k", ls=":", lw=0.8)
        ax.set(title=f"{section['problem']}: {schedule}", xlabel="score evaluations (NFE)")
        ax.set_ylim(bottom=max(min(floor / 3, 0.01), 1e-3) if floor > 0 else 1e-4, top=10)
    axes[0].set_ylabel({"w2": "Gaussian W2 (moments)", "per_mode_w2": "per-mode Gaussian W2"}[key])
    handles, lbls = axes[-1].get_legend_handles_labels()
    fig.legend(handles, lbls, loc="center left", bbox_to_anchor=(0.995, 0.5), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def acceptance(results):
    """The issue-14 acceptance lines, evaluated on the results (a list of (claim, value, ok) rows)."""
    out = []
    mix = results.get("mix16")
    if mix:
        key, rows = "per_mode_w2", mix["rows"]
        s = best(rows, 10, "sdekit", key)
        k = best(rows, 10, "k-diffusion", key)
        if s and k:
            out.append((f"mix16 @10 NFE: sdekit best {s['sampler']} [{s['schedule']}] {s[key]:.4f} <= 0.75 x "
                        f"k-diffusion best {k['sampler']} [{k['schedule']}] {k[key]:.4f} (= {0.75 * k[key]:.4f})",
                        s[key] / k[key], s[key] <= 0.75 * k[key]))
    for name in ("mix16", "mix2"):
        sec = results.get(name)
        if not sec:
            continue
        key, rows = sec["primary"], sec["rows"]
        floor, sd = sec["floor"][key]
        for stochastic, limit in ((True, 50), (None, 20)):
            hits = []
            for label in SAMPLERS:
                if stochastic and SAMPLERS[label][2]:
                    continue
                ref = [r for r in rows if r["library"] == "sdekit" and r["sampler"] == label and r["budget"] == 1000]
                if not ref:
                    continue
                ref = ref[0]
                for r in rows:
                    if r["library"] == "sdekit" and r["sampler"] == label and r["budget"] <= limit and \
                            r[key] <= ref[key] + 2 * sd:
                        hits.append((r["budget"], label, r["schedule"], r[key], ref[key]))
            hits.sort()
            what = "some stochastic sampler" if stochastic else "some sampler"
            out.append((f"{name}: {what} within 2 sd of the floor ({2 * sd:.4f}) of its 1000-NFE quality at <= {limit}"
                        f" NFE: " + (f"{hits[0][1]} [{hits[0][2]}] at {hits[0][0]}: {hits[0][3]:.4f} vs {hits[0][4]:.4f}"
                                     if hits else "none"), hits[0][0] if hits else None, bool(hits)))
    g = results.get("gauss16")
    if g:
        rows = g["rows"]
        base = best(rows, 10, "k-diffusion", "w2", schedule="logsnr+0", label="kd dpmpp_2m")
        if base is None:
            base = best(rows, 10, "sdekit", "w2", schedule="logsnr", label="dpm_solver (2M)")
        em = [r for r in rows if r["sampler"] == "euler_maruyama" and r["budget"] == 100]
        em = min(em, key=lambda r: r["w2"]) if em else None
        for label_prefix, budget, ref, what in (("dpm_solver", 10, base, "plain 2M logSNR"),
                                                ("unipc", 10, base, "plain 2M logSNR"),
                                                ("ddim", 10, base, "plain 2M logSNR"),
                                                ("dpm_solver", 20, em, "EM@100"), ("unipc", 20, em, "EM@100")):
            if ref is None:
                continue
            cand = [r for r in rows if r["library"] == "sdekit" and r["sampler"].startswith(label_prefix)
                    and r["budget"] == budget and not r["sampler"].startswith("ddim (eta")]
            if not cand:
                continue
            b = min(cand, key=lambda r: r["w2"])
            note = ""
            if label_prefix == "ddim":
                for fd in (True, False):  # sdekit_diffusion.quality.ddim_gaussian_bound: the proof is there
                    lb = ddim_gaussian_bound(gauss16().cov, skd.VPSDE(), budget, final_denoise=fd)
                    note += (f"; no grid can do better than {lb:.4f} "
                             f"({'with' if fd else 'without'} the final denoise)")
            out.append((f"gauss16: {label_prefix} @{budget}: {b['sampler']} [{b['schedule']}] {b['w2']:.4f} <= {what} "
                        f"{ref['sampler']} [{ref['schedule']}] {ref['w2']:.4f}" + note, b["w2"],
                        b["w2"] <= ref["w2"] * (1 + 1e-9)))
    dv = results.get("divergence")
    if dv:
        # diverged: non-finite, or grown past its start (the prior draw, |x_T| ~ 4 sigma_max); off: finite and
        # not grown, but beyond 10x the data's extent (a sampler that has not reached the data at this budget)
        grown = [r for r in dv["rows"] if not r["finite"] or r["max_abs"] > r.get("start_max_abs", math.inf)]
        off = [r for r in dv["rows"] if r not in grown and r["max_abs"] > 10 * dv["data_max_abs"]]
        name = lambda rs: ", ".join(f"{r['process']} {r['sampler']} {r['schedule']} (|x| {r['max_abs']:.3g})"
                                    for r in rs)
        out.append(("no sampler with karras/logsnr diverges at 10 NFE on VE or EDM (non-finite or |x| beyond its "
                    "start): " + ("none diverged" if not grown else name(grown)), len(grown), not grown))
        out.append((f"every sampler with karras/logsnr at 10 NFE on VE/EDM within 10 x the data's extent "
                    f"({dv['data_max_abs']:.2f}): " + ("all" if not off else "not " + name(off)), len(off), not off))
    return out


def reevaluate(path, out_dir):
    """The acceptance lines, tables and plots of a saved run, recomputed from its rows (no sampler runs)."""
    with open(path) as fh:
        results = json.load(fh)
    for name in ("gauss16", "mix2", "mix16"):
        if name in results:
            print(table(results[name], results[name]["nfes"]), "\n")
            plot(results[name], os.path.join(out_dir, f"diffusion_nfe_{name}.png"), results[name]["nfes"])
    checks = acceptance(results)
    results["acceptance"] = [{"claim": c, "value": v, "ok": ok} for c, v, ok in checks]
    print("## Acceptance (issue 14)\n")
    for c, _, ok in checks:
        print(f"- [{'x' if ok else ' '}] {c}")
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    return results


def _known(label, table):
    if label not in table:
        raise SystemExit(f"unknown sampler {label!r}; known: {'; '.join(table)}")
    return label


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, two budgets, a few samplers (seconds)")
    ap.add_argument("--only", default="gauss16,mix2,mix16,divergence")
    ap.add_argument("--nfe", default=None, help="comma-separated budgets (default 10,20,35,50,100,1000)")
    ap.add_argument("--n-gauss", type=int, default=100_000)
    ap.add_argument("--n-mix", type=int, default=20_000)
    ap.add_argument("--no-kdiffusion", action="store_true")
    ap.add_argument("--no-fit", action="store_true", help="skip the grids fitted by skd.fit_times")
    ap.add_argument("--acceptance-only", action="store_true",
                    help="re-evaluate the acceptance lines (and tables, plots) on the saved JSON; runs no sampler")
    ap.add_argument("--samplers", default=None, help="';'-separated sdekit sampler labels (default: all)")
    ap.add_argument("--kd-samplers", default=None, help="';'-separated k-diffusion sampler labels (default: all)")
    ap.add_argument("--big-samplers", default=None,
                    help="';'-separated labels that also run at 1000 NFE (default: all sdekit samplers)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "docs", "img"))
    ap.add_argument("--json", default=os.path.join(HERE, "results", "diffusion_nfe.json"))
    args = ap.parse_args(argv)
    only = args.only.split(",")
    nfes = tuple(int(v) for v in args.nfe.split(",")) if args.nfe else NFES
    samplers, kd_samplers = list(SAMPLERS), list(KDIFF)
    n_gauss, n_mix, n_div = args.n_gauss, args.n_mix, min(args.n_mix, 4000)
    pick = lambda arg, table: None if arg is None else [_known(v.strip(), table) for v in arg.split(";") if v.strip()]
    samplers = pick(args.samplers, SAMPLERS) or samplers
    kd_samplers = pick(args.kd_samplers, KDIFF) or kd_samplers
    big_samplers = pick(args.big_samplers, SAMPLERS)
    if args.smoke:
        nfes = (10, 20) if args.nfe is None else nfes
        samplers = ["dpm_solver (2M)", "unipc (2, UniC-1, no final denoise)", "dpm_solver_sde"]
        kd_samplers = ["kd dpmpp_2m"]
        n_gauss, n_mix, n_div = 1000, 500, 200
        if args.only == ap.get_default("only"):
            only = ["gauss16", "mix2", "divergence"]
    if args.acceptance_only:
        return reevaluate(args.json, args.out)
    kd = None if args.no_kdiffusion else load_kdiffusion()
    print(f"# Diffusion samplers vs NFE ({platform.machine()}, {os.cpu_count()} cores, load {load_avg()}; "
          f"k-diffusion {'loaded' if kd is not None else 'not importable'})\n", flush=True)
    results = {"nfes": nfes, "kdiffusion": kd is not None, "started_load": load_avg()}
    if os.path.exists(args.json) and not args.smoke:
        with open(args.json) as fh:  # sections not rerun keep their last results
            old = json.load(fh)
        results.update({k: v for k, v in old.items() if k not in results})
    for name in ("gauss16", "mix2", "mix16"):
        if name in only:
            # the Gaussian's acceptance lines need <= 100 NFE; 1000 NFE of 10^5 16-D states is an hour here
            budgets = tuple(b for b in nfes if b < 1000) if name == "gauss16" else nfes
            results[name] = quality_section(name, n_gauss if name == "gauss16" else n_mix, budgets, samplers, kd,
                                            kd_samplers, big_samplers=big_samplers, fit=not args.no_fit)
            print(table(results[name], budgets), "\n", flush=True)
            if not args.smoke:
                os.makedirs(args.out, exist_ok=True)
                plot(results[name], os.path.join(args.out, f"diffusion_nfe_{name}.png"), budgets)
    if "divergence" in only:
        results["divergence"] = divergence_section(samplers, n_div)
    checks = acceptance(results)
    results["acceptance"] = [{"claim": c, "value": v, "ok": ok} for c, v, ok in checks]
    print("## Acceptance (issue 14)\n")
    for c, _, ok in checks:
        print(f"- [{'x' if ok else ' '}] {c}")
    if not args.smoke:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
