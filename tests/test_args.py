"""Per-path parameters ``args=``: each path sees its own row, on every backend, with checked shapes."""

import numpy as np
import pytest

import sdekit as sk
from sdekit import errors


def _gbm_args():
    return sk.SDE(lambda t, x, a: a["mu"] * x, lambda t, x, a: a["sigma"] * x)


def test_each_path_solves_its_own_parameters():
    # A sweep in one solve equals one solve per parameter, path for path (same seed, same path index).
    mu = np.linspace(-0.5, 1.0, 6)[:, None]
    sigma = np.linspace(0.1, 0.6, 6)[:, None]
    sweep = sk.solve(_gbm_args(), 1.0, (0.0, 1.0), n_steps=64, n_paths=6, seed=3, backend="numpy",
                     args={"mu": mu, "sigma": sigma}).ys[-1]
    for i in range(6):
        one = sk.SDE(lambda t, x, m=mu[i, 0]: m * x, lambda t, x, s=sigma[i, 0]: s * x)
        bm = sk.BrownianPath(1, 1, (0.0, 1.0), seed=3, segments=1, path_offset=i)
        alone = sk.solve(one, 1.0, (0.0, 1.0), n_steps=64, brownian=bm, backend="numpy").ys[-1]
        np.testing.assert_allclose(sweep[i], alone[0], rtol=1e-14)


def test_args_mean_matches_the_exact_mean_per_row():
    mu = np.array([[0.2], [0.5], [0.9]]).repeat(4000, 0)
    sol = sk.solve(_gbm_args(), 1.0, (0.0, 1.0), n_steps=200, n_paths=12000, seed=0, backend="numpy",
                   args={"mu": mu, "sigma": np.full_like(mu, 0.3)})
    x = sol.ys[-1, :, 0].reshape(3, 4000)
    exact = np.exp([0.2, 0.5, 0.9])
    sd = exact * np.sqrt(np.exp(0.09) - 1)  # lognormal sd
    assert np.all(np.abs(x.mean(1) - exact) < 5 * sd / np.sqrt(4000) + 0.01 * exact)  # EM bias ~ mu^2 dt / 2


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_args_on_every_backend_equal_numpy(backend):
    if backend == "torch":
        torch = pytest.importorskip("torch")
        x0 = torch.ones(1, dtype=torch.float64)
    else:
        x0 = 1.0
    mu = np.linspace(0.0, 1.0, 8)[:, None]
    sde = sk.SDE(lambda t, x, a: a * x, lambda t, x, a: 0.2 * x)
    ref = sk.solve(sde, 1.0, (0.0, 1.0), n_steps=32, n_paths=8, seed=1, backend="numpy", args=mu).ys
    got = sk.solve(sde, x0, (0.0, 1.0), n_steps=32, n_paths=8, seed=1, backend=backend, args=mu).ys
    got = got.numpy() if hasattr(got, "numpy") else got
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_args_on_a_large_numba_solve_run_on_the_shared_loop():
    # A solve large enough for the fused kernel (or fused=True) with args= runs the compiled functions on the
    # shared loop (the fused step calls drift(t, x) only) with NumPy's numbers, instead of failing to compile.
    from sdekit.backends.numba_backend import NumbaBackend

    mu = np.linspace(0.0, 1.0, 8)[:, None]
    sde = sk.SDE(lambda t, x, a: -a * x, lambda t, x, a: 0.3 * x)
    ref = sk.solve(sde, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, seed=2, backend="numpy", args=mu)
    got = sk.solve(sde, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, seed=2, backend=NumbaBackend(fused=True), args=mu)
    assert got.stats["fused"] is False
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10)


def test_args_with_adaptive_per_path_steps_slice_alike():
    from sdekit.adaptive import integrate_adaptive  # noqa: F401  (the per-path driver slices args per path)

    mu = np.array([[0.1], [1.5]])
    sde = sk.SDE(lambda t, x, a: a * x, lambda t, x, a: 0.3 * x)
    sol = sk.solve(sde, 1.0, (0.0, 1.0), n_paths=2, seed=2, method="sri", adaptive=True, rtol=1e-4,
                   backend="numpy", args=mu)
    assert sol.ys.shape == (2, 2, 1) and np.all(np.isfinite(sol.ys))


@pytest.mark.parametrize("bad, exc, word", [
    (np.ones((3, 1)), errors.ShapeError, "leading path axis"),
    ({"mu": np.ones((4, 1)), "sigma": np.ones((2, 1))}, errors.ShapeError, "args\\['sigma'\\]"),
    (np.array(["a"] * 4), errors.InvalidArgumentError, "numeric"),
    (np.float64(2.0), errors.ShapeError, "leading path axis"),
])
def test_bad_args(bad, exc, word):
    with pytest.raises(exc, match=word):
        sk.solve(_gbm_args(), 1.0, (0.0, 1.0), n_steps=4, n_paths=4, args=bad, backend="numpy")
