"""solve(): reproducibility, argument forms, save_at, stats, memory (issue 2 items 4 and acceptance)."""

import tracemalloc

import numpy as np
import pytest

import sdekit as sk

GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
GBM_STRAT = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x, calculus="stratonovich")
# A 2-d SDE of each noise type (coefficients chosen commutative where Milstein needs it).
A = np.array([[-1.0, 0.3], [0.2, -0.5]])
DIAG = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.3 * x + 0.1)
SCALAR = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.2 * x + 0.1, noise="scalar")
B = np.array([[[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]]])
GENERAL = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B * (1.0 + 0.1 * x[:, :, None]), noise="general",
                 brownian_dim=3)
ADDITIVE = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B + 0.0 * x[:, :, None], noise="general",
                  brownian_dim=3, additive=True)


def test_same_seed_same_arrays_and_prefix_paths():
    a = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=50, n_paths=1000, seed=3, backend="numpy")
    b = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=50, n_paths=1000, seed=3, backend="numpy")
    c = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=50, n_paths=10, seed=3, backend="numpy")
    assert np.array_equal(a.ys, b.ys)
    assert np.array_equal(a.ys[:, :10], c.ys)
    d = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=50, n_paths=10, seed=4, backend="numpy")
    assert not np.array_equal(c.ys, d.ys)


def test_x0_forms():
    s1 = sk.solve(GBM, 2.0, (0.0, 1.0), n_steps=4, n_paths=3, backend="numpy")
    s2 = sk.solve(GBM, np.array([2.0]), (0.0, 1.0), n_steps=4, n_paths=3, backend="numpy")
    s3 = sk.solve(GBM, np.full((3, 1), 2.0), (0.0, 1.0), n_steps=4, backend="numpy")
    assert s1.ys.shape == s2.ys.shape == s3.ys.shape == (2, 3, 1)
    assert np.array_equal(s1.ys, s2.ys) and np.array_equal(s1.ys, s3.ys)
    assert np.all(s1.ys[0] == 2.0)
    x0 = np.array([[1.0], [2.0]])
    s4 = sk.solve(GBM, x0, (0.0, 1.0), n_steps=4, backend="numpy")
    assert np.array_equal(s4.ys[0], x0)


def test_save_at_semantics():
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)  # X = W
    bm = sk.BrownianPath(5, 1, (0.0, 1.0), seed=1)
    save = np.array([0.1, 0.25, 0.3333, 1.0])
    sol = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=8, n_paths=5, brownian=bm, save_at=save, backend="numpy")
    assert np.array_equal(sol.ts, save)
    for k, t in enumerate(save):  # the solver stepped exactly onto each save time
        assert np.allclose(sol.ys[k], bm.value(t), rtol=0, atol=1e-13)
    # 8 uniform steps plus 2 inserted points (0.1, 0.3333 are off the grid; 0.25 and 1.0 are on it).
    assert sol.stats["n_steps"] == 10
    steps = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=8, n_paths=5, brownian=bm, save_at="steps", backend="numpy")
    assert np.allclose(steps.ts, np.linspace(0, 1, 9)) and steps.ys.shape == (9, 5, 1)
    ends = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=8, n_paths=5, brownian=bm, backend="numpy")
    assert np.array_equal(ends.ts, [0.0, 1.0])


def test_dt_rounds_down_to_divide_the_span():
    sol = sk.solve(GBM, 1.0, (0.0, 1.0), dt=0.03, save_at="steps", backend="numpy")
    assert sol.stats["n_steps"] == 34
    assert np.max(np.diff(sol.ts)) <= 0.03
    assert sk.solve(GBM, 1.0, (0.0, 1.0), dt=0.25, backend="numpy").stats["n_steps"] == 4


@pytest.mark.parametrize("sde, methods", [
    (DIAG, ["euler_maruyama", "milstein", "predictor_corrector"]),
    (DIAG.with_calculus("stratonovich"), ["heun", "milstein"]),
    (SCALAR, ["euler_maruyama", "milstein", "pc"]),
    (SCALAR.with_calculus("stratonovich"), ["heun", "milstein"]),
    (GENERAL, ["euler_maruyama", "pc"]),
    (GENERAL.with_calculus("stratonovich"), ["heun"]),
    (ADDITIVE, ["euler_maruyama", "heun", "pc"]),
])
def test_every_method_runs_on_every_noise_type_with_stats(sde, methods):
    for method in methods:
        sol = sk.solve(sde, np.array([1.0, -0.5]), (0.0, 1.0), n_steps=16, n_paths=7, method=method,
                       backend="numpy")
        assert sol.ys.shape == (2, 7, 2) and np.all(np.isfinite(sol.ys))
        solver = sk.solvers.get_solver(method)
        solver = solver.prepare(sde) if hasattr(solver, "prepare") else solver
        assert sol.stats["nfe"] == 16 * solver.nfe_per_step
        assert sol.stats["wall_time"] > 0


def test_methods_agree_as_dt_shrinks_on_one_path():
    # Itô methods converge to one solution: at fine dt EM, Milstein and PC agree closely path by path.
    bm = sk.BrownianPath(200, 2, (0.0, 1.0), seed=5)
    finals = [sk.solve(DIAG, np.array([1.0, -0.5]), (0.0, 1.0), n_steps=1024, brownian=bm, n_paths=200,
                       method=m, backend="numpy").ys[-1] for m in ("em", "milstein", "pc")]
    assert np.mean(np.abs(finals[0] - finals[1])) < 0.02  # EM strong error ~ C sqrt(dt) ~ 0.03 * C
    assert np.mean(np.abs(finals[1] - finals[2])) < 0.02


def test_heun_and_milstein_agree_on_stratonovich():
    bm = sk.BrownianPath(200, 1, (0.0, 1.0), seed=6)
    a = sk.solve(GBM_STRAT, 1.0, (0.0, 1.0), n_steps=256, brownian=bm, n_paths=200, method="heun", backend="numpy")
    b = sk.solve(GBM_STRAT, 1.0, (0.0, 1.0), n_steps=256, brownian=bm, n_paths=200, method="milstein",
                 backend="numpy")
    exact = np.exp(0.5 + 0.8 * bm.value(1.0))  # Stratonovich GBM: X = exp(mu t + sigma W)
    assert np.mean(np.abs(a.ys[-1] - exact)) < 0.02
    assert np.mean(np.abs(b.ys[-1] - exact)) < 0.02


def test_float32_state():
    sol = sk.solve(GBM, np.float32(1.0) * np.ones(1, np.float32), (0.0, 1.0), n_steps=8, n_paths=4,
                   backend="numpy")
    assert sol.ys.dtype == np.float32
    sol64 = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=8, n_paths=4, dtype="float32", backend="numpy")
    assert sol64.ys.dtype == np.float32
    assert np.allclose(sol.ys, sol64.ys)


def test_ode_methods_and_dopri5_stats():
    ode = sk.ODE(lambda t, x: -x)
    for method, tol in (("euler", 0.02), ("heun", 1e-3), ("rk4", 1e-6)):
        sol = sk.solve(ode, 1.0, (0.0, 1.0), n_steps=20, method=method)
        assert abs(sol.ys[-1, 0, 0] - np.exp(-1)) < tol
    sol = sk.solve(ode, 1.0, (0.0, 1.0), n_steps=4, method="dopri5", rtol=1e-9, atol=1e-12,
                   save_at=[0.25, 0.5, 1.0])
    assert np.allclose(sol.ys[:, 0, 0], np.exp(-sol.ts), rtol=1e-8)
    assert sol.stats["n_accepted"] > 0 and "n_rejected" in sol.stats


def test_torchsde_style_object_is_accepted():
    class Tsde:
        noise_type, sde_type = "scalar", "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return (0.1 + 0.0 * y)[:, :, None]  # torchsde's scalar-noise shape (n, d, 1)

    sol = sk.solve(Tsde(), np.ones(2), (0.0, 1.0), n_steps=8, n_paths=3, backend="numpy")
    ref = sk.solve(sk.SDE(lambda t, y: -y, lambda t, y: 0.1 + 0.0 * y, noise="scalar"), np.ones(2),
                   (0.0, 1.0), n_steps=8, n_paths=3, backend="numpy")
    assert np.array_equal(sol.ys, ref.ys)


def test_gbm_moments_match_exact_values():
    # E X_1 = e^{0.5}, Var X_1 = e^{1}(e^{0.64} - 1); EM's weak bias at 64 steps is O(dt) ~ 1e-2 relative,
    # far inside 5 standard errors of 40k paths (about 2% of the mean).
    n = 40_000
    sol = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=64, n_paths=n, seed=12, backend="numpy")
    x = sol.ys[-1, :, 0]
    mean, var = np.exp(0.5), np.exp(1.0) * (np.exp(0.64) - 1)
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / n) + 0.02 * mean
    assert abs(x.var() - var) / var < 0.15


def _peak_bytes(n_paths, n_steps):
    tracemalloc.start()
    sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=n_steps, n_paths=n_paths, seed=0, backend="numpy")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_is_o_n_paths_when_saving_only_the_end():
    n = 20_000
    short, long = _peak_bytes(n, 16), _peak_bytes(n, 256)
    state = n * 8
    # 16x more steps must not grow the peak: it stays a small multiple of one state array.
    assert long < 1.5 * short
    assert long < 60 * state


def test_dopri5_progress_bar_moves_with_time(monkeypatch):
    # The adaptive driver reports progress as the fraction of the span covered (it used to stay at 0).
    import sdekit.adaptive as ad

    updates = []

    class Recorder(ad.Progress):
        def update(self, k=1):
            updates.append(k)
            super().update(k)

    monkeypatch.setattr(ad, "Progress", Recorder)
    sk.solve(sk.ODE(lambda t, x: -x), 1.0, (0.0, 1.0), method="dopri5", rtol=1e-9, progress=True, backend="numpy")
    assert len(updates) > 5 and sum(updates) == 1000 and all(u >= 0 for u in updates)


def test_a_brownian_path_of_another_backend_is_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(sk.errors.BackendError, match="backend='torch'"):
        sk.solve(GBM, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=4,
                 brownian=sk.BrownianPath(1, 1, (0.0, 1.0)))
    with pytest.raises(sk.errors.BackendError, match="backend='numpy'"):
        sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=4, backend="numpy",
                 brownian=sk.BrownianPath(1, 1, (0.0, 1.0), backend="torch"))
