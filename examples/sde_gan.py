"""An SDE-GAN (Kidger et al. 2021): a neural SDE generator fitted to Ornstein–Uhlenbeck paths.

Generator: ``V ~ N(0, I)``, ``X0 = ζ(V)``, ``dX = μ(t, X) dt + σ(t, X) ∘ dW`` (Stratonovich,
general noise: a hidden state of ``hidden`` components driven by ``noise`` Brownian
motions), observed through a linear readout ``Y = ℓ(X)``. It is solved by
``sk.solve(..., method="reversible_heun", adjoint=True)``: exact gradients of the
discretised generator, in memory independent of the number of steps.

Discriminator: a neural CDE on the generated (or real) path ``Ŷ = (t, Y)`` interpolated
linearly, ``H0 = ξ(Ŷ_0)``, ``dH = f(t, H) dŶ``, score ``m·H_T``. The CDE is itself an sdekit
solve: general noise whose "Brownian" increments are the path's increments
(:class:`sdekit.noise.GridIncrements` over the observation grid, carrying the generator's
graph), by Heun's method (the trapezoidal rule for a piecewise-linear driver).

Training: Wasserstein loss with the discriminator's weights clipped to ``±1/fan_out``
(Lipschitz control, as Kidger et al.'s example does); the generator that is evaluated
is an exponential moving average of the trained one's weights (GAN iterates
oscillate; their average is the usual estimate, cf. Kidger et al.'s weight averaging). Data: OU paths
``dX = θ(m − X) dt + s dW`` sampled exactly at the observation times.

Run::

    .venv/bin/python examples/sde_gan.py            # ~13 minutes at one thread on 2 shared cores
    .venv/bin/python examples/sde_gan.py --quick    # seconds (what the tests run)

It prints the marginal mean and standard deviation of generated paths against the
data's (the OU law) before and after training.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

import sdekit as sk
from sdekit.noise import GridIncrements

THETA, MEAN, SIGMA, X0_STD = 2.0, 1.0, 0.5, 0.2


def ou_paths(n, ts, *, seed=0):
    """Exact OU samples ``(len(ts), n, 1)``: X0 ~ N(0, 0.2²), dX = 2 (1 - X) dt + 0.5 dW."""
    g = torch.Generator().manual_seed(seed)
    x = X0_STD * torch.randn(n, 1, generator=g, dtype=torch.float64)
    out = [x]
    for h in np.diff(ts):
        decay = math.exp(-THETA * h)
        sd = SIGMA * math.sqrt((1 - decay**2) / (2 * THETA))
        x = MEAN + (x - MEAN) * decay + sd * torch.randn(n, 1, generator=g, dtype=torch.float64)
        out.append(x)
    return torch.stack(out).float()


def ou_moments(ts):
    """Exact mean and standard deviation of the data at ``ts``."""
    decay = np.exp(-THETA * np.asarray(ts))
    mean = MEAN * (1 - decay)
    var = X0_STD**2 * decay**2 + SIGMA**2 * (1 - decay**2) / (2 * THETA)
    return mean, np.sqrt(var)


def mlp(n_in, n_out, width, final=None):
    layers = [nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, n_out)]
    return nn.Sequential(*layers, *( [final] if final is not None else []))


class Generator(nn.Module):
    def __init__(self, data=1, init_noise=4, noise=3, hidden=16, width=32):
        super().__init__()
        self.init_noise, self.noise, self.hidden = init_noise, noise, hidden
        self.initial = mlp(init_noise, hidden, width)
        self.drift_net = mlp(1 + hidden, hidden, width, nn.Tanh())
        self.diff_net = mlp(1 + hidden, hidden * noise, width, nn.Tanh())
        self.readout = nn.Linear(hidden, data)

    def _tx(self, t, x):
        return torch.cat([t.expand(x.shape[0], 1).to(x.dtype), x], dim=1)

    def drift(self, t, x):
        return self.drift_net(self._tx(t, x))

    def diffusion(self, t, x):
        return self.diff_net(self._tx(t, x)).view(x.shape[0], self.hidden, self.noise)

    def forward(self, n, ts, *, seed):
        gen = torch.Generator().manual_seed(seed)
        x0 = self.initial(torch.randn(n, self.init_noise, generator=gen))
        sde = sk.SDE(self.drift, self.diffusion, noise="general", brownian_dim=self.noise, calculus="stratonovich")
        sol = sk.solve(sde, x0, (float(ts[0]), float(ts[-1])), grid=ts, save_at="steps", method="reversible_heun",
                       seed=seed, adjoint=True)
        return self.readout(sol.ys)  # (len(ts), n, data)


class Discriminator(nn.Module):
    def __init__(self, data=1, hidden=16, width=32):
        super().__init__()
        self.channels, self.hidden = 1 + data, hidden
        self.initial = mlp(1 + data, hidden, width)
        self.field = mlp(1 + hidden, hidden * (1 + data), width, nn.Tanh())
        self.score = nn.Linear(hidden, 1)

    def _f(self, t, h):
        th = torch.cat([t.expand(h.shape[0], 1).to(h.dtype), h], dim=1)
        return self.field(th).view(h.shape[0], self.hidden, self.channels)

    def forward(self, ys, ts):
        """Scores ``(n,)`` of paths ``ys`` ``(len(ts), n, data)``."""
        k, n, _ = ys.shape
        tt = torch.as_tensor(ts, dtype=ys.dtype)[:, None, None].expand(k, n, 1)
        path = torch.cat([tt, ys], dim=2)  # Ŷ = (t, Y)
        cde = sk.SDE(lambda t, h: 0.0 * h, self._f, noise="general", brownian_dim=self.channels,
                     calculus="stratonovich")
        drive = GridIncrements(ts, path[1:] - path[:-1])
        sol = sk.solve(cde, self.initial(path[0]), (float(ts[0]), float(ts[-1])), grid=ts, method="heun",
                       brownian=drive)
        return self.score(sol.ys[-1])[:, 0]


def clip(discriminator):
    with torch.no_grad():
        for module in discriminator.modules():
            if isinstance(module, nn.Linear):
                lim = 1.0 / module.out_features
                module.weight.clamp_(-lim, lim)


def marginal_errors(generator, ts, n=2048, seed=10**6):
    with torch.no_grad():
        ys = generator(n, ts, seed=seed)[:, :, 0].double().numpy()
    mean, std = ou_moments(ts)
    return float(np.abs(ys.mean(1) - mean).mean()), float(np.abs(ys.std(1) - std).mean())


def train(*, t_size=16, batch=128, steps=500, lr_g=2e-4, lr_d=1e-3, d_steps=2, ema=0.995, seed=0, log_every=50):
    """Train; return ``(averaged generator, ts, history)`` with rows ``(step, mean error, std error, seconds)``."""
    import copy

    torch.manual_seed(seed)
    ts = np.linspace(0.0, 1.0, t_size)
    data = ou_paths(16 * batch, ts, seed=seed)
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.99))
    clip(D)
    G_avg = copy.deepcopy(G)
    history = [(0, *marginal_errors(G_avg, ts), 0.0)]
    g = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        for _ in range(d_steps):
            real = data[:, torch.randint(0, data.shape[1], (batch,), generator=g)]
            fake = G(batch, ts, seed=2 * (step * d_steps) + 1).detach()
            loss_d = D(fake, ts).mean() - D(real, ts).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            clip(D)
        loss_g = -D(G(batch, ts, seed=2 * step), ts).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for pa, p in zip(G_avg.parameters(), G.parameters()):
                pa.mul_(ema).add_(p, alpha=1.0 - ema)
        if step % log_every == 0 or step == steps:
            em, es = marginal_errors(G_avg, ts)
            history.append((step, em, es, time.perf_counter() - start))
            print(f"step {step:5d}  W-loss {-loss_d.item():8.4f}  |mean error| {em:.4f}  |std error| {es:.4f}  "
                  f"{time.perf_counter() - start:6.1f} s", flush=True)
    return G_avg, ts, history


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, a few steps (seconds)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(t_size=8, batch=32, steps=args.steps or 3, log_every=1) if args.quick else \
        dict(steps=args.steps or 500)
    G, ts, history = train(seed=args.seed, **cfg)
    (_, m0, s0, _), (_, m1, s1, secs) = history[0], history[-1]
    print(f"generated vs OU marginals (mean over {len(ts)} times): |mean error| {m0:.3f} -> {m1:.3f}, "
          f"|std error| {s0:.3f} -> {s1:.3f}; {secs / max(history[-1][0], 1):.3f} s per step")
    return dict(history=history)


if __name__ == "__main__":
    main()
