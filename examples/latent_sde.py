"""A latent SDE fitted to stochastic Lorenz data with sdekit's adjoint and path KL (``logqp``).

The model (Li et al. 2020, §7.2; the architecture of torchsde's ``latent_sde_lorenz``
example): a GRU encoder reads the observed paths backwards in time and gives a
context ``c(t)``; the posterior SDE

    dZ = f_θ(Z, c(t)) dt + g_θ(Z) ∘ dW,     Z(t0) = X(t0),

its prior ``dZ = h_θ(Z) dt + g_θ(Z) ∘ dW`` (same diffusion, diagonal: ``g_i`` depends on
``Z_i`` only) and a Gaussian likelihood of the observations give the ELBO

    log p(X) >= E[ Σ_k log N(X_k; Z(t_k), σ²) ] - E[ ½∫|g⁻¹(f - h)|² dt ].

One ``sk.solve`` call returns both terms: ``sol.ys`` (the latent path at the
observation times) and ``sol.logqp`` (the KL term per path); ``adjoint=True`` with
``method="reversible_heun"`` gives the exact gradient of the discretised ELBO in
memory independent of the number of steps.

Run::

    .venv/bin/python examples/latent_sde.py             # ~8 minutes at one thread on 2 shared cores
    .venv/bin/python examples/latent_sde.py --quick     # seconds (what the tests run)
    .venv/bin/python examples/latent_sde.py --plot out/ # also a figure of data and prior samples

The same module runs under torchsde (``benchmarks/neural_sde.py`` times one training
iteration of each on the same model and steps).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

import sdekit as sk


def lorenz_data(n_paths, ts, *, noise_std=0.01, seed=0, dtype=torch.float32):
    """Observed paths ``(len(ts), n, 3)`` of the stochastic Lorenz attractor (Itô, multiplicative noise).

    dX = (a1 (X2 - X1), a2 X1 - X2 - X1 X3, X1 X2 - a3 X3) dt + diag(b) X dW with
    a = (10, 28, 8/3), b = (0.1, 0.28, 0.3), X0 ~ N(0, I); solved by ``sri`` (strong order
    1.5) with dt = 1e-3, standardised per component, plus N(0, noise_std²) observation noise.
    """
    a1, a2, a3 = 10.0, 28.0, 8.0 / 3.0
    b = torch.tensor([0.1, 0.28, 0.3], dtype=torch.float64)

    def drift(t, x):
        x1, x2, x3 = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        return torch.cat([a1 * (x2 - x1), a2 * x1 - x2 - x1 * x3, x1 * x2 - a3 * x3], dim=1)

    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n_paths, 3, generator=gen, dtype=torch.float64)
    sol = sk.solve(sk.SDE(drift, lambda t, x: b * x), x0, (float(ts[0]), float(ts[-1])), dt=1e-3,
                   save_at=np.asarray(ts, dtype=np.float64), method="sri", seed=seed)
    xs = sol.ys
    xs = (xs - xs.mean(dim=(0, 1))) / xs.std(dim=(0, 1))
    xs = xs + noise_std * torch.randn(xs.shape, generator=gen, dtype=torch.float64)
    return xs.to(dtype)


class LatentSDE(nn.Module):
    """Posterior drift ``f`` (with context), prior drift ``h``, per-component diffusion ``g``; torchsde's protocol."""

    noise_type = "diagonal"
    sde_type = "stratonovich"

    def __init__(self, data_size=3, context_size=64, hidden_size=128):
        super().__init__()
        self.gru = nn.GRU(input_size=data_size, hidden_size=hidden_size)
        self.ctx_out = nn.Linear(hidden_size, context_size)
        self.f_net = nn.Sequential(nn.Linear(data_size + context_size, hidden_size), nn.Softplus(),
                                   nn.Linear(hidden_size, hidden_size), nn.Softplus(),
                                   nn.Linear(hidden_size, data_size))
        self.h_net = nn.Sequential(nn.Linear(data_size, hidden_size), nn.Softplus(),
                                   nn.Linear(hidden_size, hidden_size), nn.Softplus(),
                                   nn.Linear(hidden_size, data_size))
        self.g_nets = nn.ModuleList([nn.Sequential(nn.Linear(1, hidden_size), nn.Softplus(),
                                                   nn.Linear(hidden_size, 1), nn.Sigmoid())
                                     for _ in range(data_size)])
        self._ctx = None

    def encode(self, xs, ts):
        """The context ``(len(ts), n, context_size)``: a GRU over the reversed observations."""
        out, _ = self.gru(torch.flip(xs, dims=(0,)))
        self._ctx = (ts, torch.flip(self.ctx_out(out), dims=(0,)))
        return self._ctx[1]

    def f(self, t, y):
        ts, ctx = self._ctx
        i = min(int(torch.searchsorted(ts, t.to(ts.dtype), right=True)), len(ts) - 1)  # the context at t
        return self.f_net(torch.cat((y, ctx[i]), dim=1))

    def h(self, t, y):
        return self.h_net(y)

    def g(self, t, y):
        return torch.cat([net(y[:, i:i + 1]) for i, net in enumerate(self.g_nets)], dim=1)

    def elbo_terms(self, xs, ts, noise_std, *, dt, seed, library="sdekit"):
        """``(log p(x | z), KL)`` averaged over paths, with gradients by the adjoint (sdekit or torchsde)."""
        ctx = self.encode(xs, ts)
        params = (ctx,) + tuple(self.f_net.parameters()) + tuple(self.g_nets.parameters()) + \
            tuple(self.h_net.parameters())
        if library == "sdekit":
            sol = sk.solve(self, xs[0], (float(ts[0]), float(ts[-1])), dt=dt, save_at=ts.cpu().numpy(),
                           method="reversible_heun", seed=seed, adjoint=True, adjoint_params=params, logqp=self.h)
            zs, kl = sol.ys, sol.logqp.mean()
        else:
            import torchsde

            zs, log_ratio = torchsde.sdeint_adjoint(self, xs[0], ts, adjoint_params=params, dt=dt, logqp=True,
                                                    method="reversible_heun", adjoint_method="adjoint_reversible_heun")
            kl = log_ratio.sum(dim=0).mean()
        log_pxs = torch.distributions.Normal(zs, noise_std).log_prob(xs).sum(dim=(0, 2)).mean()
        return log_pxs, kl

    @torch.no_grad()
    def sample_prior(self, x0, ts, *, seed, dt=1e-2):
        """Paths of the prior ``dZ = h dt + g ∘ dW`` from ``x0`` at ``ts``."""
        prior = sk.SDE(self.h, self.g, calculus="stratonovich")
        return sk.solve(prior, x0, (float(ts[0]), float(ts[-1])), dt=dt, save_at=ts.cpu().numpy(),
                        method="reversible_heun", seed=seed).ys


def train(*, n_paths=128, t_size=51, context_size=64, hidden_size=128, iters=200, lr=1e-2, kl_anneal=100,
          noise_std=0.01, dt=1e-2, seed=0, log_every=25, library="sdekit"):
    """Train and return ``(model, xs, ts, history)``; history rows are ``(iteration, log p(x|z), KL, seconds)``."""
    torch.manual_seed(seed)
    ts = torch.linspace(0.0, 1.0, t_size, dtype=torch.float64)  # float64 times land exactly on the dt grid
    xs = lorenz_data(n_paths, ts, noise_std=noise_std, seed=seed)
    model = LatentSDE(3, context_size, hidden_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.999)
    history = []
    start = time.perf_counter()
    for it in range(1, iters + 1):
        opt.zero_grad()
        log_pxs, kl = model.elbo_terms(xs, ts, noise_std, dt=dt, seed=seed * 1_000_003 + it, library=library)
        weight = min(1.0, it / kl_anneal)
        loss = -log_pxs + weight * kl
        loss.backward()
        opt.step()
        sched.step()
        if it % log_every == 0 or it == iters:
            history.append((it, log_pxs.item(), kl.item(), time.perf_counter() - start))
            print(f"iter {it:5d}  log p(x|z) {log_pxs.item():10.2f}  KL {kl.item():8.3f}  "
                  f"{time.perf_counter() - start:7.1f} s", flush=True)
    return model, xs, ts, history


def prior_fit(model, xs, ts, seed=1):
    """How close the learned prior is to the data: per-time mean and std of prior samples vs the data's."""
    zs = model.sample_prior(xs[0], ts, seed=seed)
    err_mean = float((zs.mean(1) - xs.mean(1)).abs().mean())
    err_std = float((zs.std(1) - xs.std(1)).abs().mean())
    return err_mean, err_std


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few iterations (seconds)")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--paths", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--plot", default=None, help="directory for a figure of data and prior samples")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        cfg = dict(n_paths=16, t_size=11, context_size=8, hidden_size=16, iters=args.iters or 4, log_every=2)
    else:
        cfg = dict(iters=args.iters or 200)
    if args.paths:
        cfg["n_paths"] = args.paths
    model, xs, ts, history = train(**cfg)
    err_mean, err_std = prior_fit(model, xs, ts)
    first, last = history[0], history[-1]
    print(f"log p(x|z): {first[1]:.1f} -> {last[1]:.1f};  prior samples vs data: mean error {err_mean:.3f}, "
          f"std error {err_std:.3f} (standardised units); {last[3] / last[0]:.3f} s per iteration")
    if args.plot:
        import os

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(args.plot, exist_ok=True)
        zs = model.sample_prior(xs[0], ts, seed=2).numpy()
        fig = plt.figure(figsize=(10, 4.5))
        for k, (arr, title) in enumerate(((xs.numpy(), "data"), (zs, "learned prior"))):
            ax = fig.add_subplot(1, 2, k + 1, projection="3d")
            for i in range(min(10, arr.shape[1])):
                ax.plot(arr[:, i, 0], arr[:, i, 1], arr[:, i, 2], lw=0.8)
            ax.set_title(title)
        path = os.path.join(args.plot, "latent_sde.png")
        fig.savefig(path, dpi=110)
        print("figure:", path)
    return dict(history=history, prior_mean_error=err_mean, prior_std_error=err_std)


if __name__ == "__main__":
    main()
