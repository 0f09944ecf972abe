"""backend="numba": the fused kernel equals NumPy, is independent of threads and chunks, errors are clear.

Each distinct (method, drift, diffusion) compiles a fused step (a few seconds),
so the default run covers every method and noise type once and the full
cross product is marked slow.
"""

import numba
import numpy as np
import pytest

import sdekit as sk
from sdekit.backends import select_backend
from sdekit.backends.numba_backend import NumbaBackend

A = np.array([[-1.0, 0.3], [0.2, -0.5]])
B = np.array([[[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]]])
DIAG = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.3 * x + 0.1)
SCALAR = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.2 * x + 0.1, noise="scalar")
GENERAL = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B * (1.0 + 0.1 * x[:, :, None]), noise="general",
                 brownian_dim=3)
ADDITIVE = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B + 0.0 * x[:, :, None], noise="general", brownian_dim=3,
                  additive=True)
GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
FUSED = NumbaBackend(fused=True)
X0 = np.array([1.0, -0.5])

# (problem, method): the default run covers every fused method and every noise type once.
DEFAULT = [(DIAG, "euler_maruyama"), (SCALAR.with_calculus("stratonovich"), "milstein"),
           (GENERAL.with_calculus("stratonovich"), "heun"), (ADDITIVE, "euler_maruyama"), (SCALAR, "milstein")]
SLOW = [(DIAG, "milstein"), (DIAG.with_calculus("stratonovich"), "heun"),
        (DIAG.with_calculus("stratonovich"), "milstein"), (SCALAR, "euler_maruyama"),
        (SCALAR.with_calculus("stratonovich"), "heun"), (GENERAL, "euler_maruyama"), (ADDITIVE, "heun")]


def _both(sde, method, x0=X0, backend=FUSED, **kw):
    kw = dict(dict(n_steps=24, n_paths=37, method=method, seed=5, save_at="steps"), **kw)
    ref = sk.solve(sde, x0, (0.0, 1.0), backend="numpy", **kw)
    got = sk.solve(sde, x0, (0.0, 1.0), backend=backend, **kw)
    return ref, got


def _check_equal(sde, method):
    ref, got = _both(sde, method)
    assert got.backend == "numba" and got.stats["fused"] is True
    assert got.stats["compile_time"] >= 0.0
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sde, method", DEFAULT)
def test_fused_kernel_equals_numpy(sde, method):
    _check_equal(sde, method)


@pytest.mark.slow
@pytest.mark.parametrize("sde, method", SLOW)
def test_fused_kernel_equals_numpy_every_method_and_noise(sde, method):
    _check_equal(sde, method)


@pytest.mark.parametrize("method", ["rk4", "heun", "euler"])
def test_fused_ode_methods_equal_numpy(method):
    ode = sk.ODE(lambda t, x: -x * x)
    ref, got = _both(ode, method, x0=np.array([1.0, 2.0, 0.5]), n_paths=5, n_steps=10)
    assert got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-12)


def test_shared_loop_methods_and_off_grid_save_at_equal_numpy():
    # predictor-corrector and dopri5 have no fused rule: they run the compiled user functions on the shared
    # loop; save times off the grid leave the aligned tree: the fused kernel descends to their leaves.
    # Both give the NumPy backend's numbers.
    ref, got = _both(DIAG, "predictor_corrector")
    assert got.stats["fused"] is False
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    ref, got = _both(DIAG, "euler_maruyama", save_at=[0.3, 0.71, 1.0])
    assert got.stats["fused"] is True and got.stats["fused_grid"] == "grid"
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    ode = sk.ODE(lambda t, x: -x * x)
    ref, got = _both(ode, "dopri5", x0=1.0, n_paths=1, n_steps=10, save_at=None)
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10)


def test_on_grid_save_times_and_a_shared_brownian_path_use_the_fused_kernel():
    ref, got = _both(DIAG, "euler_maruyama", save_at=[0.25, 0.5, 1.0], n_steps=64)
    assert got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    bm = sk.BrownianPath(37, 2, (0.0, 1.0), seed=11, segments=3)
    a = sk.solve(DIAG, X0, (0.0, 1.0), n_steps=48, n_paths=37, brownian=bm, backend=FUSED)
    b = sk.solve(DIAG, X0, (0.0, 1.0), n_steps=48, n_paths=37, brownian=bm, backend="numpy")
    assert a.stats["fused"] is True
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10, atol=1e-12)


def test_results_do_not_depend_on_threads_or_chunks():
    kw = dict(n_steps=96, n_paths=301, seed=3, save_at="steps", method="euler_maruyama")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **kw).ys
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **kw).ys
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    for chunk in (1, 7, 64, 1000):
        got = sk.solve(DIAG, X0, (0.0, 1.0), backend=NumbaBackend(fused=True, chunk=chunk), **kw).ys
        # Every path draws the same numbers in any chunk; only the drift's matrix product
        # (BLAS on a chunk of 1 row or of many) may round differently.
        np.testing.assert_allclose(got, one, rtol=1e-13, atol=1e-15, err_msg=f"chunk={chunk}")


def test_float32_state_follows_numpy():
    x0 = np.ones(1, np.float32)
    ref, got = _both(GBM, "euler_maruyama", x0=x0, n_steps=64, n_paths=50)
    assert got.ys.dtype == np.float32 and got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=2e-5)


def test_gbm_moments_with_200k_paths():
    # E-M on dX = 0.5 X dt + 0.8 X dW, 1000 steps: its bias in the mean (about mu^2 / (2 N) = 1.3e-4 relative)
    # is 15x below one standard error, so the exact moments of X(1) must hold within 4 standard errors.
    n, mu, sigma = 200_000, 0.5, 0.8
    x = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=1000, n_paths=n, seed=2024, backend=FUSED).ys[-1, :, 0]
    mean, var = np.exp(mu), np.exp(2 * mu) * (np.exp(sigma**2) - 1)
    assert abs(x.mean() - mean) < 4 * np.sqrt(var / n)
    dev2 = (x - x.mean()) ** 2
    assert abs(dev2.mean() - var) < 4 * dev2.std() / np.sqrt(n)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy's reference overflows, on purpose
def test_nonfinite_state_raises_at_the_numpy_step():
    blow = sk.SDE(lambda t, x: x**3, lambda t, x: 0.1 * x)
    errors = []
    for backend in ("numpy", FUSED):
        with pytest.raises(sk.errors.NonFiniteError) as info:
            sk.solve(blow, 3.0, (0.0, 1.0), n_steps=64, n_paths=40, backend=backend)
        errors.append((info.value.step, str(info.value)))
    assert errors[0] == errors[1]


def test_uncompilable_function_names_it_and_suggests_numpy():
    from scipy.special import erf

    bad = sk.SDE(lambda t, x: erf(x), lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(sk.errors.BackendError, match=r"drift function .*backend=\"numpy\""):
        sk.solve(bad, 1.0, (0.0, 1.0), n_steps=4, backend="numba")
    with pytest.raises(sk.errors.BackendError, match=r"drift function"):
        sk.solve(bad, 1.0, (0.0, 1.0), n_steps=4, backend=FUSED)


def test_wrong_shape_is_a_shape_error():
    bad = sk.SDE(lambda t, x: x[:, :1] * 0.0, lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(sk.errors.ShapeError, match="drift"):
        sk.solve(bad, X0, (0.0, 1.0), n_steps=4, n_paths=3, backend=FUSED)


def test_auto_picks_numba_for_large_compilable_problems_only():
    from scipy.special import erf

    from sdekit.backends.numba_backend import AUTO_MIN_WORK

    assert select_backend("auto", GBM, 1.0, work=AUTO_MIN_WORK).name == "numba"
    assert select_backend("auto", GBM, 1.0, work=1000).name == "numpy"
    bad = sk.SDE(lambda t, x: erf(x), lambda t, x: 0.1 + 0.0 * x)
    assert select_backend("auto", bad, 1.0, work=AUTO_MIN_WORK).name == "numpy"
    assert sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=4).backend == "numpy"


def test_invalid_options():
    with pytest.raises(sk.errors.InvalidArgumentError, match="chunk"):
        NumbaBackend(chunk=0)
    with pytest.raises(sk.errors.InvalidArgumentError, match="fused"):
        NumbaBackend(fused="yes")


@pytest.mark.slow
def test_the_docs_example_runs(capsys):
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "numba.md"
    block = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)[0]
    exec(compile(block, str(doc), "exec"), {})
    assert capsys.readouterr().out.startswith("True")


def test_importing_sdekit_compiles_nothing():
    import subprocess
    import sys

    code = ("import sys, sdekit, sdekit.backends, sdekit.solve; "
            "print(any(m.startswith(('numba', 'sdekit._brownian_numba', 'sdekit.backends.numba')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_generator_floor_draws_the_solve_increments():
    # The benchmark floor runs the fused driver with x += dW: it must return sum_i W_i(1) of the same path.
    from sdekit.backends.numba_kernel import generator_floor

    w1 = sk.BrownianPath(1000, 3, (0.0, 1.0), seed=5, segments=3).value(1.0)
    assert abs(generator_floor(1000, 48, 3, seed=5) - w1.sum()) < 1e-10 * np.abs(w1).sum()
