"""sk.testing.strong_order / weak_order / fit_order / work_precision and the convergence CLI."""

import io
import math

import numpy as np
import pytest

import sdekit as sk
from sdekit.solvers import Solver
from sdekit.testing.cli import main as cli_main

P = sk.testing.problems


def test_fit_order_recovers_exact_power_law():
    dts = 1.0 / np.array([8, 16, 32, 64])
    fit = sk.testing.fit_order(dts, 3.0 * dts**1.5)
    assert fit.order == pytest.approx(1.5, abs=1e-12)
    assert fit.constant == pytest.approx(3.0, rel=1e-10)
    assert fit.ci[1] - fit.ci[0] < 1e-10


def test_fit_order_interval_covers_at_the_nominal_rate():
    """The t-interval is exact for log-normal noise: 95 % coverage over 2000 synthetic studies (±2.5 %)."""
    rng = np.random.default_rng(0)
    dts = 1.0 / np.array([16, 32, 64, 128, 256])
    hits = 0
    for _ in range(2000):
        errs = 0.7 * dts**0.5 * np.exp(0.05 * rng.standard_normal(dts.size))
        lo, hi = sk.testing.fit_order(dts, errs).ci
        hits += lo <= 0.5 <= hi
    # Binomial sd at p = 0.95, n = 2000 is 0.49 %: +-2.5 % is five sd.
    assert abs(hits / 2000 - 0.95) < 0.025


def test_fit_order_rejects_bad_input():
    with pytest.raises(ValueError):
        sk.testing.fit_order([0.1, 0.05], [0.1, 0.0])
    with pytest.raises(ValueError):
        sk.testing.fit_order([0.1], [0.1])
    assert sk.testing.fit_order([0.1, 0.05], [0.1, 0.05]).ci == (-math.inf, math.inf)


def test_strong_order_is_chunk_invariant_and_deterministic():
    p = P.gbm()
    a = sk.testing.strong_order(p, "euler_maruyama", n_steps=[8, 16, 32], n_paths=600, seed=3)
    b = sk.testing.strong_order(p, "euler_maruyama", n_steps=[8, 16, 32], n_paths=600, seed=3, chunk=250)
    np.testing.assert_array_equal(a.errors, b.errors)
    c = sk.testing.strong_order(p, "euler_maruyama", n_steps=[8, 16, 32], n_paths=600, seed=4)
    assert not np.array_equal(a.errors, c.errors)


def test_strong_errors_match_a_hand_computed_study():
    """The errors are E|X_N - X(T)| with X(T) = exact(T, x0, W(T)) on the path that drove the solve."""
    p = P.gbm()
    n_paths, seed = 300, 7
    fit = sk.testing.strong_order(p, "euler_maruyama", n_steps=[8, 32], n_paths=n_paths, seed=seed)
    bm = sk.BrownianPath(n_paths, 1, p.t_span, seed=seed, segments=1)
    ref = p.exact(1.0, p.x0, bm.value(1.0))
    for j, n in enumerate([8, 32]):
        sol = sk.solve(p.sde, p.x0, p.t_span, n_steps=n, n_paths=n_paths, brownian=bm, backend="numpy")
        assert fit.errors[j] == pytest.approx(np.abs(sol.ys[-1] - ref).mean(), rel=1e-12)
    rms = sk.testing.strong_order(p, "euler_maruyama", n_steps=[8, 32], n_paths=n_paths, seed=seed, p=2)
    assert np.all(rms.errors >= fit.errors)  # Jensen: L2 >= L1


def test_fine_reference_mode_agrees_with_exact_mode():
    """Without exact, a fine reference on the same path gives nearly the same errors."""
    p = P.gbm()
    exact = sk.testing.strong_order(p, "milstein", n_steps=[8, 16, 32], n_paths=500, seed=1)
    ref = sk.testing.strong_order(p.sde, "milstein", x0=p.x0, t_span=p.t_span, n_steps=[8, 16, 32], n_paths=500,
                                  seed=1, reference_n_steps=1024)
    # Milstein's error at 1024 steps is 1/32 of that at 32: the errors differ by about 3 % at most.
    np.testing.assert_allclose(ref.errors, exact.errors, rtol=0.05)
    assert ref.extra["reference"] == "milstein with 1024 steps"


def test_strong_order_detects_a_wrong_method():
    """A method with a calculus bug (Itô drift used by a Stratonovich solver) does not converge: order ~ 0."""
    p = P.gbm()  # Itô; reading it as Stratonovich makes Heun solve a different SDE
    wrong = P.gbm_stratonovich(mu=0.5, sigma=0.8)
    ito_as_strat = sk.testing.Problem("wrong", wrong.sde, p.x0, p.t_span, exact=p.exact)
    fit = sk.testing.strong_order(ito_as_strat, "heun", n_steps=[16, 32, 64, 128], n_paths=500, seed=0)
    assert fit.order < 0.1
    with pytest.raises(AssertionError, match="expected strong order 1.0"):
        sk.testing.assert_order(fit, 1.0, 0.15)


def test_user_written_stepping_rule():
    """A Solver subclass passed as method= is verified like a built-in one (here: a hand-written Milstein)."""

    class MyMilstein(Solver):
        name = "my_milstein"
        calculus = "ito"
        noise_types = frozenset({"diagonal"})

        def __init__(self, sigma):
            self.sigma = sigma

        def step(self, terms, t, dt, x, dw, aux):
            g = terms.diffusion(t, x)
            return x + terms.drift(t, x) * dt + g * dw + 0.5 * self.sigma * g * (dw * dw - dt)

    fit = sk.testing.assert_strong_order(P.gbm(), MyMilstein(0.8), 1.0, tol=0.15, n_steps=[16, 32, 64, 128],
                                         n_paths=500)
    assert fit.method == "my_milstein"


def test_weak_order_with_given_expectation():
    """expectation= compares the sample mean with E f(X_T): here E X_T = mean(T); the errors equal
    |x0 (1 + mu dt)^N - x0 e^mu| up to Monte Carlo error."""
    p = P.gbm()
    fit = sk.testing.weak_order(p, "euler_maruyama", n_steps=[2, 4, 8], n_paths=50_000, seed=2,
                                expectation=p.mean(1.0))
    exact_err = np.abs(np.exp(0.5) - (1 + 0.5 / fit.n_steps) ** fit.n_steps)
    assert np.all(np.abs(fit.errors - exact_err) < 4 * fit.error_se)
    assert fit.extra["reference"] == "expectation given"


def test_weak_order_vector_valued_f_and_pairing_reduces_noise():
    p = P.scalar_linear()
    fit = sk.testing.weak_order(p, "euler_maruyama", f=lambda x: x, n_steps=[2, 4, 8], n_paths=20_000, seed=0)
    sd = np.sqrt(p.var(1.0)).max() / math.sqrt(20_000)
    # Paired errors have standard errors well below the unpaired sd(f)/sqrt(n).
    assert np.all(fit.error_se < 0.5 * sd)
    assert fit.errors.shape == (3,)


def test_strong_order_on_an_ode_problem():
    fit = sk.testing.strong_order(P.ode_riccati(), "heun", n_steps=[32, 64, 128], n_paths=2)
    assert abs(fit.order - 2) < 0.15 and fit.ci_bootstrap is None


def test_argument_errors():
    p = P.gbm()
    with pytest.raises(ValueError, match="n_steps"):
        sk.testing.strong_order(p, "em", n_steps=[16])
    with pytest.raises(ValueError, match="x0= and t_span="):
        sk.testing.strong_order(p.sde, "em", n_steps=[8, 16])
    with pytest.raises(ValueError, match="reference_n_steps"):
        sk.testing.strong_order(p.sde, "em", x0=1.0, t_span=(0, 1), n_steps=[8, 16], reference_n_steps=16)
    with pytest.raises(sk.errors.IncompatibleMethodError):
        sk.testing.strong_order(p, "heun", n_steps=[8, 16], n_paths=10)


def test_work_precision_rows_and_plot(tmp_path):
    wp = sk.testing.work_precision(P.gbm(), ["euler_maruyama", ("milstein (KP)", "milstein")], n_steps=[8, 16, 32],
                                   n_paths=300)
    rows = wp.rows()
    assert len(rows) == 6 and {r[0] for r in rows} == {"euler_maruyama", "milstein (KP)"}
    assert all(r[3] > 0 and r[4] > 0 for r in rows)
    # At equal n_steps Milstein is more accurate than EM on the same paths.
    em, mil = wp.fits["euler_maruyama"], wp.fits["milstein (KP)"]
    assert np.all(mil.errors < em.errors)
    assert "milstein (KP)" in wp.table()
    pytest.importorskip("matplotlib")
    out = tmp_path / "wp.png"
    wp.plot(path=str(out))
    assert out.stat().st_size > 1000


def test_cli_prints_table_and_interval():
    buf = io.StringIO()
    rc = cli_main(["--method", "heun", "--problem", "gbm", "--n-paths", "300", "--n-steps", "16", "32", "64"],
                  out=buf)
    text = buf.getvalue()
    assert rc == 0
    assert "gbm_stratonovich" in text and "fitted order" in text and "CI [" in text
    order = float(text.split("fitted order ")[1].split(",")[0])
    assert abs(order - 1.0) < 0.2


def test_cli_weak_and_errors(capsys):
    buf = io.StringIO()
    assert cli_main(["--method", "em", "--problem", "ou", "--kind", "weak", "--n-paths", "20000"], out=buf) == 0
    assert "weak convergence" in buf.getvalue()
    assert cli_main(["--method", "nope", "--problem", "gbm"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_top_level_cli_routes_convergence(capsys):
    from sdekit.cli import main

    assert main(["convergence", "--method", "milstein", "--problem", "gbm", "--n-paths", "200",
                 "--n-steps", "8", "16", "32"]) == 0
    assert "method=milstein" in capsys.readouterr().out


def test_overriding_span_and_start_of_a_problem():
    """A new x0 or end time keeps exact (it takes x0 and t); a new t0 falls back to a fine reference."""
    p = P.gbm()
    a = sk.testing.strong_order(p, "milstein", n_steps=[16, 32], n_paths=200, x0=2.0, t_span=(0.0, 0.5))
    assert a.extra["reference"] == "exact"
    # Linear in x0: errors from x0 = 2 are twice those from x0 = 1 on the same paths.
    b = sk.testing.strong_order(p, "milstein", n_steps=[16, 32], n_paths=200, t_span=(0.0, 0.5))
    np.testing.assert_allclose(a.errors, 2 * b.errors, rtol=1e-12)
    c = sk.testing.strong_order(p, "milstein", n_steps=[16, 32], n_paths=200, t_span=(0.5, 1.0))
    assert c.extra["reference"] == "milstein with 512 steps"
