r"""``sdekit demo``, end-to-end section: train a score model on a 2-D mixture, sample, score it.

The section trains a :class:`sdekit_scores.ScoreMLP` with denoising score
matching under the VP SDE on a two-mode Gaussian mixture (CPU, well under a
minute; a few seconds with ``quick``), samples it with two samplers (the
reverse-time SDE by Euler–Maruyama and the probability-flow ODE), and reports
the sliced Wasserstein distance to exact samples and the negative
log-likelihood of held-out data (probability-flow ODE, :func:`log_likelihood`)
next to the mixture's true entropy estimate. Plots: the loss curve and the
samples.

Both samplers are :func:`sdekit_diffusion.sample` (``"euler_maruyama"`` on the
reversed SDE, ``"ode"`` with adaptive ``dopri5``), on the torch backend when it
is installed and on the NumPy backend otherwise.

Helpers used by the tests as well: :func:`two_mode_mixture`,
:func:`mixture_sample`, :func:`mixture_logpdf`, :func:`sliced_wasserstein`,
:func:`sampling_backend`.

>>> a = mixture_sample(3, seed=0); a.shape
(3, 2)
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch

from .likelihood import log_likelihood


def two_mode_mixture():
    """The demo's and the tests' data: weights (0.3, 0.7), means (−1.5, −1) and (1.5, 1).

    >>> sorted(two_mode_mixture())
    ['covs', 'means', 'weights']
    """
    return {
        "weights": np.array([0.3, 0.7]),
        "means": np.array([[-1.5, -1.0], [1.5, 1.0]]),
        "covs": np.array([[[0.25, 0.0], [0.0, 0.25]], [[0.3, 0.1], [0.1, 0.2]]]),
    }


def mixture_sample(n, seed=0):
    """``n`` exact samples of :func:`two_mode_mixture` (float64 NumPy, from ``np.random.default_rng(seed)``).

    >>> mixture_sample(2, seed=1).dtype
    dtype('float64')
    """
    spec = two_mode_mixture()
    rng = np.random.default_rng(seed)
    k = rng.choice(len(spec["weights"]), size=n, p=spec["weights"])
    chol = np.linalg.cholesky(spec["covs"])
    z = rng.standard_normal((n, 2))
    return spec["means"][k] + np.einsum("nij,nj->ni", chol[k], z)


def mixture_logpdf(x):
    r"""``log p(x)`` of :func:`two_mode_mixture` (log-sum-exp of the components).

    >>> round(float(mixture_logpdf(np.array([[1.5, 1.0]]))[0]), 3)
    -0.697
    """
    spec = two_mode_mixture()
    x = np.asarray(x, dtype=np.float64)
    out = []
    for w, m, c in zip(spec["weights"], spec["means"], spec["covs"]):
        diff = x - m
        sol = np.linalg.solve(c, diff.T).T
        out.append(math.log(w) - 0.5 * (diff * sol).sum(1) - 0.5 * np.linalg.slogdet(2 * math.pi * c)[1])
    out = np.stack(out, 1)
    top = out.max(1, keepdims=True)
    return (top + np.log(np.exp(out - top).sum(1, keepdims=True)))[:, 0]


def sliced_wasserstein(a, b, *, n_projections=512, seed=0):
    r"""Sliced 2-Wasserstein distance, :func:`sdekit.testing.sliced_wasserstein` with 512 projections.

    .. math::  SW_2(a, b) = \Big(\frac1L\sum_{l=1}^L W_2^2(θ_l^\top a, θ_l^\top b)\Big)^{1/2}

    (Bonneel et al. 2015), ``θ_l`` uniform on the sphere from ``seed``. The demo's
    and the acceptance test's figures use ``L = 512`` (the core's default is 128).
    Biased upward by sampling noise: two independent exact samples of 4000
    points from the demo mixture are 0.03–0.09 apart, mostly through the
    binomial noise of the mode weights, to which W_2 is sensitive.

    >>> a = mixture_sample(1000, seed=0)
    >>> sliced_wasserstein(a, a)
    0.0
    """
    from sdekit.testing import sliced_wasserstein as sw

    return sw(a, b, n_projections=n_projections, seed=seed)


def sampling_backend():
    """``"torch"`` when sdekit's torch backend is installed, else ``"numpy"``.

    A :class:`sdekit_scores.ScoreMLP` is a score for both: tensors in, tensors out
    on torch; NumPy in, NumPy out (no autograd) on NumPy.

    >>> sampling_backend() in ("torch", "numpy")
    True
    """
    from sdekit.backends import get_backend
    from sdekit.errors import BackendError

    try:
        get_backend("torch")
    except BackendError:
        return "numpy"
    return "torch"


def _to_numpy(x):
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _vp():
    from .sdes import VPSDE

    return VPSDE()


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def learned_section(out_dir, quick=False):
    r"""Train, sample, evaluate; write ``learned_*.png`` into ``out_dir``; return the Markdown section.

    Full: 3000 DSM steps of batch 512 (about 10–25 s on a 2-core CPU), 4000
    samples with 500 reverse-SDE steps and with the probability-flow ODE,
    NLL of 1000 held-out points. ``quick``: 300 steps, 1000 samples, 100 SDE
    steps, 200 NLL points (a few seconds).
    """
    os.makedirs(out_dir, exist_ok=True)
    threads = torch.get_num_threads()
    # A 3x128 MLP gains nothing from intra-op threads, and torch's OpenMP workers contend badly with
    # other CPU-heavy work running beside it (measured 20x slower); restored below.
    torch.set_num_threads(1)
    try:
        return _learned_section(out_dir, quick)
    finally:
        torch.set_num_threads(threads)


def _learned_section(out_dir, quick):
    from sdekit_scores.nets import ScoreMLP
    from sdekit_scores.training import train

    from .samplers import sample

    steps, batch, n, n_sde, n_nll = (300, 256, 1000, 100, 200) if quick else (3000, 512, 4000, 500, 1000)
    vp = _vp()
    data = mixture_sample(20_000, seed=0)
    net = ScoreMLP(2, sde=vp, seed=0)
    started = time.perf_counter()
    history = train(net, data, vp, loss="dsm", steps=steps, batch_size=batch, lr=2e-3, seed=0, progress=False)
    t_train = time.perf_counter() - started
    net.eval()
    exact = mixture_sample(n, seed=2)
    floor = sliced_wasserstein(mixture_sample(n, seed=3), exact)
    rows, samples = [], {}
    backend = sampling_backend()
    samplers = (("reverse SDE, Euler–Maruyama", dict(method="euler_maruyama", n_steps=n_sde)),
                ("probability-flow ODE, Dormand–Prince", dict(method="ode", solver="dopri5", n_steps=100,
                                                              rtol=1e-5, atol=1e-5)))
    for label, kw in samplers:
        t0 = time.perf_counter()
        xs = _to_numpy(sample(vp, net, n, 2, seed=0, backend=backend, **kw))
        el = time.perf_counter() - t0
        samples[label] = xs
        rows.append([label, f"{sliced_wasserstein(xs, exact):.3f}", f"{(xs[:, 0] > 0).mean():.3f}", f"{el:.1f}"])
    rows.append(["two exact samples (sampling floor)", f"{floor:.3f}", f"{(exact[:, 0] > 0).mean():.3f}", ""])
    held = mixture_sample(n_nll, seed=4)
    t0 = time.perf_counter()
    ll = log_likelihood(vp, net, held, eps=1e-3)
    t_nll = time.perf_counter() - t0
    true_ll = mixture_logpdf(held)
    nll, true_nll = float(-ll.mean()), float(-true_ll.mean())
    gap = true_ll - ll  # paired: its mean estimates KL(p_data || p_model), with a small standard error
    se = float(gap.std() / math.sqrt(n_nll))
    plots = _plots(out_dir, history, exact, samples)
    return "\n\n".join([
        "## Learned score: train, sample, likelihood (sdekit_scores + sdekit_diffusion)",
        f"A `ScoreMLP` (3×128 SiLU, sinusoidal time embedding, output divided by the VP marginal std) "
        f"trained with `dsm_loss` for {steps} steps of batch {batch} (Adam, lr 2e-3 with cosine decay, "
        f"EMA 0.999) on a two-mode 2-D Gaussian mixture (weights 0.3/0.7) in {t_train:.1f} s on the CPU; "
        f"sampled with `sdekit_diffusion.sample` (backend {backend!r}, seed 0).",
        _table(["sampler", f"sliced W₂ to {n} exact samples", "mass in the 0.7 mode", "seconds"], rows),
        f"NLL of {n_nll} held-out points by the probability-flow ODE (exact divergence, ε = 1e-3, "
        f"{t_nll:.1f} s): **{nll:.3f} nats** against {true_nll:.3f} under the true mixture; the paired "
        f"excess, an estimate of KL(data ‖ model), is {float(gap.mean()):.3f} ± {se:.3f} nats.",
        plots,
    ])


def _plots(out, history, exact, samples):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(matplotlib not installed: no plots)"
    fig, ax = plt.subplots(figsize=(6, 3.2))
    k = np.arange(len(history))
    w = max(1, len(history) // 50)
    smooth = np.convolve(history, np.ones(w) / w, mode="valid")
    ax.plot(k, history, lw=0.4, alpha=0.4, label="batch loss")
    ax.plot(k[w - 1:], smooth, lw=1.2, label=f"mean of {w}")
    ax.set(xlabel="step", ylabel="DSM loss (λ = s_t²)", title="Training loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "learned_loss.png"), dpi=120)
    plt.close(fig)
    from .quality import scatter_panels

    scatter_panels([("exact samples", exact)] + list(samples.items()), os.path.join(out, "learned_samples.png"),
                   xlim=(-4, 4), ylim=(-3.5, 3.5), panel_size=4, point_size=1, title_size=9)
    return "![training loss](learned_loss.png)\n\n![samples](learned_samples.png)"


demo_sections = (learned_section,)

__all__ = ["learned_section", "two_mode_mixture", "mixture_sample", "mixture_logpdf", "sliced_wasserstein",
           "sampling_backend"]
