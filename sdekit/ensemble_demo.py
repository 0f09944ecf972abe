r"""Option pricing with :func:`sdekit.ensemble`: a European and an up-and-out barrier call against closed forms.

Model (risk-neutral Black–Scholes): :math:`dS = r S\,dt + σ S\,dW`. The
ensemble solves the log-price :math:`X = \log S`,

.. math:: dX = (r - σ^2/2)\,dt + σ\,dW,

whose coefficients are constant, so Euler–Maruyama is *exact* in law on any
grid: the only error left is Monte Carlo error, and the comparison with the
closed forms tests the ensemble machinery, not a discretisation.

Payoffs (discounted by :math:`e^{-rT}`), each a :func:`sdekit.reductions.mean_of`:

* European call :math:`(S_T - K)^+`; closed form: Black & Scholes (1973).
* Up-and-out call :math:`(S_T - K)^+ 1\{\max_{t \le T} S_t < H\}` (continuous
  monitoring); closed form: Merton (1973), Reiner & Rubinstein (1991), as in
  Hull, *Options, Futures and Other Derivatives*, §26.9 (:func:`up_and_out_call`).
  Two estimators on the grid ``t_i = i T/n``:

  - **discrete**: knocked out when some :math:`S_{t_i} \ge H`. It prices the
    *discretely* monitored option, worth more than the continuous one (the path
    can cross H between dates unseen). Broadie, Glasserman & Kou (1997): the
    discrete price is the continuous formula with the barrier shifted to
    :math:`H e^{β σ \sqrt{Δt}}`, :math:`β = -ζ(1/2)/\sqrt{2π} ≈ 0.5826`, up to
    :math:`o(1/\sqrt n)` (:func:`bgk_barrier`).
  - **bridge**: the payoff times the probability that the Brownian bridge
    between consecutive grid values stays below :math:`b = \log H`,
    :math:`\prod_i (1 - e^{-2 (b - X_i)(b - X_{i+1}) / (σ^2 Δt)})`. Given the grid
    values this is the exact conditional survival probability (the drift does not
    change the bridge), so the estimator is unbiased for the continuously
    monitored price (Glasserman, *Monte Carlo Methods in Financial Engineering*, §6.4).

>>> p = price_options(20_000, n_steps=16, seed=1)
>>> sorted(p["rows"])
['barrier (bridge)', 'barrier (discrete)', 'european']
>>> all(abs(r["z"]) < 4 for k, r in p["rows"].items() if k != "barrier (discrete)")
True
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.stats import norm

from .ensembles import ensemble
from .reductions import mean_of
from .sde import SDE

BGK_BETA = 0.5825971579390106  # -zeta(1/2) / sqrt(2 pi)
DEFAULT = dict(s0=100.0, strike=100.0, barrier=130.0, rate=0.05, sigma=0.2, maturity=1.0)


def black_scholes_call(s0, strike, rate, sigma, maturity):
    r"""Black–Scholes call :math:`S N(d_1) - K e^{-rT} N(d_2)`, :math:`d_{1,2} = (\ln(S/K) + (r \pm σ^2/2)T)/(σ\sqrt T)`.

    >>> round(float(black_scholes_call(100.0, 100.0, 0.05, 0.2, 1.0)), 4)
    10.4506
    """
    v = sigma * math.sqrt(maturity)
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma * sigma) * maturity) / v
    return s0 * norm.cdf(d1) - strike * math.exp(-rate * maturity) * norm.cdf(d1 - v)


def up_and_out_call(s0, strike, barrier, rate, sigma, maturity):
    r"""Continuously monitored up-and-out call, barrier ``H > max(S, K)``, no dividend (Hull §26.9).

    :math:`c_{uo} = c - c_{ui}` with :math:`λ = (r + σ^2/2)/σ^2`, :math:`v = σ\sqrt T`,
    :math:`x_1 = \ln(S/H)/v + λv`, :math:`y_1 = \ln(H/S)/v + λv`, :math:`y = \ln(H^2/(SK))/v + λv`,

    .. math::
        c_{ui} = S N(x_1) - K e^{-rT} N(x_1 - v) - S (H/S)^{2λ} [N(-y) - N(-y_1)]
                 + K e^{-rT} (H/S)^{2λ-2} [N(-y + v) - N(-y_1 + v)].

    >>> round(float(up_and_out_call(100.0, 100.0, 130.0, 0.05, 0.2, 1.0)), 4)
    3.3329
    """
    if not barrier > max(s0, strike):
        raise ValueError("up_and_out_call needs barrier > max(s0, strike)")
    v = sigma * math.sqrt(maturity)
    lam = (rate + 0.5 * sigma * sigma) / (sigma * sigma)
    disc = strike * math.exp(-rate * maturity)
    x1 = math.log(s0 / barrier) / v + lam * v
    y1 = math.log(barrier / s0) / v + lam * v
    y = math.log(barrier * barrier / (s0 * strike)) / v + lam * v
    hs = barrier / s0
    c_ui = (s0 * norm.cdf(x1) - disc * norm.cdf(x1 - v) - s0 * hs ** (2 * lam) * (norm.cdf(-y) - norm.cdf(-y1))
            + disc * hs ** (2 * lam - 2) * (norm.cdf(-y + v) - norm.cdf(-y1 + v)))
    return black_scholes_call(s0, strike, rate, sigma, maturity) - c_ui


def bgk_barrier(barrier, sigma, dt):
    r"""Broadie–Glasserman–Kou shift of an up barrier for monitoring every ``dt``: :math:`H e^{β σ \sqrt{Δt}}`.

    >>> round(bgk_barrier(130.0, 0.2, 1 / 50), 3)
    132.16
    """
    return barrier * math.exp(BGK_BETA * sigma * math.sqrt(dt))


def gbm_drift(t, x):
    """``r x`` with r = 0.05: the benchmark GBM (module-level, so Dask ships it by reference and workers reuse
    its compiled kernel across calls)."""
    return 0.05 * x


def gbm_diffusion(t, x):
    """``sigma x`` with sigma = 0.2."""
    return 0.2 * x


GBM = SDE(gbm_drift, gbm_diffusion)  # dS = 0.05 S dt + 0.2 S dW


def log_price_sde(rate, sigma):
    """``dX = (r - sigma^2/2) dt + sigma dW`` (additive, constant): Euler–Maruyama is exact in law."""
    drift, vol = rate - 0.5 * sigma * sigma, sigma
    return SDE(lambda t, x: drift + 0.0 * x, lambda t, x: vol + 0.0 * x, additive=True)


def option_reductions(s0, strike, barrier, rate, sigma, maturity, n_steps):
    """The three discounted payoffs as :func:`~sdekit.reductions.mean_of` reductions over ``X = log S`` paths."""
    disc = math.exp(-rate * maturity)
    b, k_log = math.log(barrier), math.log(strike)
    two_over = 2.0 / (sigma * sigma * maturity / n_steps)

    def european(ys):
        x = ys[-1, :, 0]
        return disc * np.maximum(np.exp(x) - strike, 0.0)

    def discrete(ys):
        x = ys[:, :, 0]
        alive = x.max(axis=0) < b
        return np.where(alive, european(ys), 0.0)

    def bridge(ys):
        x = ys[:, :, 0]
        gap = np.maximum(b - x, 0.0)  # 0 once at or above the barrier: survival 0 for that step
        survive = -np.expm1(-two_over * gap[:-1] * gap[1:])
        pay = np.where(x[-1] > k_log, european(ys), 0.0)
        return pay * np.prod(survive, axis=0)

    return [mean_of(european, "european"), mean_of(discrete, "barrier (discrete)"),
            mean_of(bridge, "barrier (bridge)")]


def price_options(n_paths, *, n_steps=50, seed=0, client=None, chunk_paths=None, backend="auto",
                  progress=False, **params):
    """Price the three payoffs with one ensemble; rows with price, stderr, closed form and z-score."""
    p = {**DEFAULT, **params}
    s0, k, h, r, sig, T = (p[n] for n in ("s0", "strike", "barrier", "rate", "sigma", "maturity"))
    reds = option_reductions(s0, k, h, r, sig, T, n_steps)
    started = time.perf_counter()
    res = ensemble(log_price_sde(r, sig), math.log(s0), (0.0, T), n_paths=n_paths, n_steps=n_steps,
                   save_at="steps", reduce=reds, seed=seed, client=client, chunk_paths=chunk_paths,
                   backend=backend, progress=progress)
    wall = time.perf_counter() - started
    exact = {"european": black_scholes_call(s0, k, r, sig, T),
             "barrier (bridge)": up_and_out_call(s0, k, h, r, sig, T),
             "barrier (discrete)": up_and_out_call(s0, k, h, r, sig, T)}
    rows = {}
    for name in exact:
        price, se = float(res[name]), float(res.stderr(name))
        rows[name] = {"price": price, "stderr": se, "exact": exact[name], "z": (price - exact[name]) / se}
    bgk = up_and_out_call(s0, k, bgk_barrier(h, sig, T / n_steps), r, sig, T)
    d = rows["barrier (discrete)"]
    d["bgk"], d["z_bgk"] = bgk, (d["price"] - bgk) / d["stderr"]
    return {"rows": rows, "params": p, "n_paths": n_paths, "n_steps": n_steps, "wall_time": wall,
            "backend": res.backend, "result": res}


def markdown_table(priced):
    """The pricing table of :func:`price_options` as markdown."""
    lines = ["| payoff | Monte Carlo | std. error | closed form | z | BGK-corrected form | z |",
             "|---|---|---|---|---|---|---|"]
    for name, r in priced["rows"].items():
        form = "continuous up-and-out" if name.startswith("barrier") else "Black–Scholes"
        extra = (f"{r['bgk']:.5f} | {r['z_bgk']:+.2f}" if "bgk" in r else " | ")
        lines.append(f"| {name} | {r['price']:.5f} | {r['stderr']:.5f} | {r['exact']:.5f} ({form}) | "
                     f"{r['z']:+.2f} | {extra} |")
    return "\n".join(lines)


def ensemble_section(out_dir, quick) -> str:
    """``sdekit demo`` section: option prices from one ensemble, their z-scores, and the bit-identity check."""
    n_paths = 100_000 if quick else 1_000_000
    priced = price_options(n_paths, n_steps=50, seed=0)
    again = price_options(n_paths, n_steps=50, seed=0, chunk_paths=4096)
    same = all(priced["result"][k] == again["result"][k] for k in priced["rows"])
    p = priced["params"]
    return "\n\n".join([
        "## Ensembles: option prices with standard errors",
        f"`sk.ensemble` on the log-price dX = (r − σ²/2) dt + σ dW (exact under Euler–Maruyama), "
        f"S0 = {p['s0']:g}, K = {p['strike']:g}, H = {p['barrier']:g}, r = {p['rate']:g}, σ = {p['sigma']:g}, "
        f"T = {p['maturity']:g}; {n_paths:,} paths, {priced['n_steps']} monitoring dates, "
        f"{priced['wall_time']:.2f} s on backend {priced['backend']}. z = (MC − closed form) / std. error: "
        "the European and the bridge-corrected barrier estimators are unbiased for their closed forms; the "
        "discretely monitored barrier is not (worth more than the continuous one), and matches the "
        "Broadie–Glasserman–Kou corrected formula instead. See docs/ensembles.md for 10^8 paths.",
        markdown_table(priced),
        f"Same seed, `chunk_paths=4096` instead of the default: bit-identical prices: **{'yes' if same else 'NO'}**.",
    ])


def main(argv=None):
    """``python -m sdekit.ensemble_demo --paths 1e8 [--scheduler ADDRESS]``: print the pricing table."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--paths", type=float, default=1e6)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler address (tcp://host:8786)")
    args = ap.parse_args(argv)
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    priced = price_options(int(args.paths), n_steps=args.steps, seed=args.seed, client=client, progress=True)
    print(f"{priced['n_paths']:,} paths x {priced['n_steps']} steps, backend {priced['backend']}, "
          f"{priced['wall_time']:.1f} s")
    print(markdown_table(priced))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
