"""sol.evaluate(t): linear interpolation plus the Brownian bridge of the solve's own path, scaled by g."""

import numpy as np
import pytest

import sdekit as sk
from sdekit.errors import InvalidArgumentError


def _sde():
    return sk.SDE(lambda t, x: -x + np.sin(3 * t), lambda t, x: 0.4 + 0.2 * np.cos(x))


def test_saved_times_give_saved_states_and_shapes():
    sol = sk.solve(_sde(), np.ones(2), (0.0, 1.0), n_steps=16, n_paths=5, seed=1, save_at=[0.0, 0.25, 0.5, 1.0],
                   backend="numpy")
    for i, t in enumerate(sol.ts):
        assert np.array_equal(sol.evaluate(t), sol.ys[i])
    assert sol.evaluate(0.3).shape == (5, 2)
    assert sol.evaluate(np.array([0.1, 0.6, 0.9])).shape == (3, 5, 2)
    # continuous at a saved time
    eps = 1e-9
    assert np.allclose(sol.evaluate(0.25 - eps), sol.ys[1], atol=1e-4)
    assert np.allclose(sol.evaluate(0.25 + eps), sol.ys[1], atol=1e-4)


def test_euler_maruyama_interpolant_is_the_step_to_t_on_the_same_path():
    n_steps = 8
    sol = sk.solve(_sde(), np.ones(2), (0.0, 1.0), n_steps=n_steps, n_paths=4, seed=3, save_at="steps",
                   method="euler_maruyama", backend="numpy")
    for t in (0.05, 0.3, 0.77):
        grid = np.union1d(np.linspace(0.0, 1.0, n_steps + 1), [t])
        ref = sk.solve(_sde(), np.ones(2), (0.0, 1.0), grid=grid, n_paths=4, save_at=[t],
                       method="euler_maruyama", backend="numpy", brownian=sol.brownian)
        np.testing.assert_allclose(sol.evaluate(t), ref.ys[0], rtol=1e-12, atol=1e-13)


def test_brownian_motion_is_reproduced_exactly_between_sparse_saves():
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.5 + 0.0 * x, additive=True)
    sol = sk.solve(sde, 0.0, (0.0, 2.0), n_steps=4, n_paths=6, seed=9, backend="numpy")  # saves t0 and t1 only
    for t in (0.013, 0.7, 1.999):
        np.testing.assert_allclose(sol.evaluate(t), 1.5 * sol.brownian.value(t), rtol=1e-12, atol=1e-13)


def test_interpolated_ou_has_the_right_variance():
    # OU from 0 with every step kept: the interpolant at mid-step points has Var X_t = s^2 (1 - e^{-2 a t}) / (2 a).
    a, s = 1.0, 0.8
    sde = sk.SDE(lambda t, x: -a * x, lambda t, x: s + 0.0 * x, additive=True)
    sol = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=64, n_paths=40_000, seed=2, save_at="steps", backend="numpy")
    t = 0.5 + 0.5 / 64
    x = sol.evaluate(t)[:, 0]
    var = s**2 * (1 - np.exp(-2 * a * t)) / (2 * a)
    assert abs(x.var() - var) < 4 * var * np.sqrt(2.0 / x.size) + 0.01 * var


def test_ode_interpolates_linearly_and_event_shapes():
    sol = sk.solve(sk.ODE(lambda t, x: 2.0 + 0.0 * x), np.zeros((3, 2, 2)), (0.0, 1.0), n_steps=4, save_at="steps")
    assert sol.brownian is None
    np.testing.assert_allclose(sol.evaluate(0.3), 0.6 * np.ones((3, 2, 2)), rtol=1e-12)
    assert sol.evaluate([0.1, 0.2]).shape == (2, 3, 2, 2)


def test_general_noise_and_numba_backend():
    sde = sk.SDE(lambda t, x: -x, lambda t, x: 0.3 + 0.0 * x[:, :, None] * np.ones((1, 1, 3)), noise="general",
                 brownian_dim=3, additive=True)
    sol = sk.solve(sde, np.zeros(2), (0.0, 1.0), n_steps=8, n_paths=5, seed=1, backend="numpy")
    y = sol.evaluate(0.4)
    bridge = sol.brownian.increment(0.0, 0.4) - 0.4 * sol.brownian.increment(0.0, 1.0)
    np.testing.assert_allclose(y, 0.6 * sol.ys[0] + 0.4 * sol.ys[1] + 0.3 * bridge.sum(1, keepdims=True), rtol=1e-12)
    nb = sk.solve(_sde(), np.ones(2), (0.0, 1.0), n_steps=8, n_paths=3, seed=1, backend="numba", save_at="steps")
    npy = sk.solve(_sde(), np.ones(2), (0.0, 1.0), n_steps=8, n_paths=3, seed=1, backend="numpy", save_at="steps")
    np.testing.assert_allclose(nb.evaluate(0.33), npy.evaluate(0.33), rtol=1e-10)


def test_out_of_range_is_refused():
    sol = sk.solve(_sde(), np.ones(2), (0.0, 1.0), n_steps=8, save_at=[0.25, 0.75], backend="numpy")
    with pytest.raises(InvalidArgumentError, match="between the first and last saved times"):
        sol.evaluate(0.1)
    with pytest.raises(InvalidArgumentError):
        sol.evaluate([[0.3]])


def test_torch_evaluate_is_differentiable():
    torch = pytest.importorskip("torch")
    theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    sde = sk.SDE(lambda t, x: -theta * x, lambda t, x: 0.2 * theta + 0.0 * x)
    sol = sk.solve(sde, torch.ones(4, 1, dtype=torch.float64), (0.0, 1.0), n_steps=10, save_at="steps")
    y = sol.evaluate(torch.tensor([0.33, 0.5]))
    assert y.shape == (2, 4, 1)
    (g,) = torch.autograd.grad(y.sum(), [theta])
    assert torch.isfinite(g)
