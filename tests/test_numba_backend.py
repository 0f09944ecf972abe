"""backend="numba" (first stage): compiled user functions, the NumPy backend's numbers, clear errors."""

import numpy as np
import pytest

import sdekit as sk

A = np.array([[-1.0, 0.3], [0.2, -0.5]])
B = np.array([[[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]]])
DIAG = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.3 * x + 0.1)
SCALAR = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.2 * x + 0.1, noise="scalar")
GENERAL = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B * (1.0 + 0.1 * x[:, :, None]), noise="general",
                 brownian_dim=3)
ADDITIVE = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B + 0.0 * x[:, :, None], noise="general", brownian_dim=3,
                  additive=True)
CASES = [
    (DIAG, ["euler_maruyama", "milstein", "predictor_corrector"]),
    (DIAG.with_calculus("stratonovich"), ["heun", "milstein"]),
    (SCALAR, ["euler_maruyama", "milstein", "predictor_corrector"]),
    (SCALAR.with_calculus("stratonovich"), ["heun", "milstein"]),
    (GENERAL, ["euler_maruyama", "predictor_corrector"]),
    (GENERAL.with_calculus("stratonovich"), ["heun"]),
    (ADDITIVE, ["euler_maruyama", "heun", "predictor_corrector"]),
]


@pytest.mark.parametrize("sde, methods", CASES)
def test_every_method_and_noise_type_equals_numpy(sde, methods):
    for method in methods:
        kw = dict(n_steps=24, n_paths=16, method=method, seed=5, save_at=[0.3, 1.0])
        ref = sk.solve(sde, np.array([1.0, -0.5]), (0.0, 1.0), backend="numpy", **kw)
        got = sk.solve(sde, np.array([1.0, -0.5]), (0.0, 1.0), backend="numba", **kw)
        assert got.backend == "numba" and "compile_time" in got.stats
        np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)


def test_float32_and_ode():
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    s = sk.solve(gbm, np.ones(1, np.float32), (0.0, 1.0), n_steps=8, n_paths=4, backend="numba")
    assert s.ys.dtype == np.float32
    ode = sk.ODE(lambda t, x: -x * x)
    for method in ("rk4", "dopri5"):
        a = sk.solve(ode, 1.0, (0.0, 1.0), n_steps=10, method=method, backend="numba")
        b = sk.solve(ode, 1.0, (0.0, 1.0), n_steps=10, method=method, backend="numpy")
        np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10)


def test_uncompilable_function_names_it_and_suggests_numpy():
    from scipy.special import erf

    bad = sk.SDE(lambda t, x: erf(x), lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(sk.errors.BackendError, match=r"drift function .*backend=\"numpy\""):
        sk.solve(bad, 1.0, (0.0, 1.0), n_steps=4, backend="numba")


def test_auto_does_not_pick_it_until_the_fused_kernel_exists():
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    assert sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=4).backend == "numpy"
