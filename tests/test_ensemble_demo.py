"""The option-pricing example of docs/ensembles.md: closed forms checked independently, prices within MC error."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from sdekit.ensemble_demo import (bgk_barrier, black_scholes_call, ensemble_section, price_options,
                                  up_and_out_call)


def _killed_density_price(s0, k, h, r, sig, T):
    """E e^{-rT} (S_T - K)^+ 1{max S < H} from the reflection-principle density of drifted BM killed at b."""
    nu, b, sd = r - sig * sig / 2, math.log(h / s0), sig * math.sqrt(T)

    def dens(x):
        return (norm.pdf((x - nu * T) / sd) - math.exp(2 * nu * b / sig ** 2) * norm.pdf((x - 2 * b - nu * T) / sd)) / sd

    v, _ = integrate.quad(lambda x: (s0 * math.exp(x) - k) * dens(x), math.log(k / s0), b, epsabs=1e-13,
                          epsrel=1e-13)
    return math.exp(-r * T) * v


@pytest.mark.parametrize("k, h, sig", [(100.0, 130.0, 0.2), (90.0, 120.0, 0.3), (110.0, 160.0, 0.25)])
def test_up_and_out_formula_against_quadrature(k, h, sig):
    assert math.isclose(up_and_out_call(100.0, k, h, 0.05, sig, 1.0), _killed_density_price(100.0, k, h, 0.05, sig, 1.0),
                        rel_tol=1e-9)


def test_black_scholes_put_call_parity_and_limits():
    c = black_scholes_call(100.0, 95.0, 0.03, 0.25, 2.0)
    # put by quadrature of the lognormal law; C - P = S - K e^{-rT}
    m, sd = math.log(100.0) + (0.03 - 0.25 ** 2 / 2) * 2.0, 0.25 * math.sqrt(2.0)
    p, _ = integrate.quad(lambda x: max(95.0 - math.exp(x), 0) * norm.pdf((x - m) / sd) / sd, m - 12 * sd,
                          math.log(95.0))
    assert math.isclose(c - math.exp(-0.06) * p, 100.0 - 95.0 * math.exp(-0.06), rel_tol=1e-9)
    assert up_and_out_call(100.0, 100.0, 1e6, 0.05, 0.2, 1.0) == pytest.approx(black_scholes_call(100.0, 100.0, 0.05, 0.2, 1.0))
    assert bgk_barrier(130.0, 0.2, 1e-12) == pytest.approx(130.0)


def test_prices_within_monte_carlo_error():
    p = price_options(200_000, n_steps=20, seed=3, backend="numpy")
    rows = p["rows"]
    assert abs(rows["european"]["z"]) < 4 and abs(rows["barrier (bridge)"]["z"]) < 4
    # Discrete monitoring is worth more than continuous (it misses crossings between dates) ...
    assert rows["barrier (discrete)"]["z"] > 10
    # ... and the BGK shift accounts for most of the gap.
    gap = rows["barrier (discrete)"]["price"] - rows["barrier (discrete)"]["exact"]
    assert abs(rows["barrier (discrete)"]["price"] - rows["barrier (discrete)"]["bgk"]) < 0.2 * gap


def test_demo_section(tmp_path):
    md = ensemble_section(str(tmp_path), quick=True)
    assert "## Ensembles" in md and "bit-identical prices: **yes**" in md and "| european |" in md
