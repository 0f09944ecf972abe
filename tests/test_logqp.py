"""sk.solve(..., logqp=prior_drift): the path KL term ½∫|u|² dt, u = g⁻¹(f − h), against exact values."""

import math

import numpy as np
import pytest

import sdekit as sk
from sdekit.errors import IncompatibleMethodError, InvalidArgumentError, ShapeError


def test_constant_drifts_give_the_exact_integral():
    post = sk.SDE(lambda t, x: 1.0 + 0.0 * x, lambda t, x: 0.5 + 0.0 * x)
    sol = sk.solve(post, np.zeros(2), (0.0, 2.0), n_steps=7, n_paths=5, backend="numpy",
                   logqp=lambda t, x: -1.0 + 0.0 * x, save_at=[0.5, 2.0])
    # u = (1 - (-1)) / 0.5 = 4 per component, two components: ½ · 2 · 16 · T
    assert sol.logqp.shape == (5,) and sol.logqp_saved.shape == (2, 5)
    np.testing.assert_allclose(sol.logqp, 16.0 * 2.0, rtol=1e-12)
    np.testing.assert_allclose(sol.logqp_saved[0], 16.0 * 0.5, rtol=1e-12)
    assert sol.ys.shape == (2, 5, 2)


def test_ou_kl_matches_the_closed_form():
    # posterior dX = -a X dt + s dW, prior drift -b X: E ½∫ ((b - a) X / s)^2 dt in closed form.
    a, b, s, x0, T = 1.0, 2.0, 0.5, 1.0, 1.0
    ex2 = x0**2 * (1 - math.exp(-2 * a * T)) / (2 * a) + s**2 / (2 * a) * (T - (1 - math.exp(-2 * a * T)) / (2 * a))
    exact = (b - a) ** 2 / (2 * s**2) * ex2
    post = sk.SDE(lambda t, x: -a * x, lambda t, x: s + 0.0 * x, additive=True)
    sol = sk.solve(post, x0, (0.0, T), n_steps=400, n_paths=20_000, seed=11, method="heun", backend="numpy",
                   logqp=lambda t, x: -b * x)
    se = sol.logqp.std() / math.sqrt(sol.logqp.size)
    assert abs(sol.logqp.mean() - exact) < 4 * se + 1e-3 * exact  # MC error + the trapezoid's O(dt^2)


def test_logqp_leaves_the_path_unchanged():
    sde = sk.SDE(lambda t, x: -x + np.sin(x), lambda t, x: 0.3 + 0.1 * np.cos(x))
    plain = sk.solve(sde, np.ones(3), (0.0, 1.0), n_steps=32, n_paths=4, seed=2, backend="numpy", method="milstein")
    kl = sk.solve(sde, np.ones(3), (0.0, 1.0), n_steps=32, n_paths=4, seed=2, backend="numpy", method="milstein",
                  logqp=lambda t, x: -x)
    assert np.array_equal(plain.ys, kl.ys)
    assert kl.brownian.dim == 3  # the user's path, not the padded one the augmented solve saw


def test_scalar_and_general_noise_least_squares():
    gcol = np.array([0.5, -0.25])
    # Scalar noise, drift difference along g: u = c exactly.
    c = 1.5
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: gcol + 0.0 * x, noise="scalar")
    sol = sk.solve(sde, np.zeros(2), (0.0, 1.0), n_steps=5, n_paths=3, backend="numpy",
                   logqp=lambda t, x: -c * gcol + 0.0 * x)
    np.testing.assert_allclose(sol.logqp, 0.5 * c**2, rtol=1e-12)
    # General noise with a diagonal matrix equals diagonal noise (same components of the same path).
    diag = sk.SDE(lambda t, x: -x, lambda t, x: 0.4 + 0.1 * np.tanh(x))
    gen = sk.SDE(lambda t, x: -x, lambda t, x: (0.4 + 0.1 * np.tanh(x))[:, :, None] * np.eye(2), noise="general",
                 brownian_dim=2)
    kw = dict(n_steps=20, n_paths=6, seed=4, backend="numpy", logqp=lambda t, x: -2.0 * x + 0.3)
    a = sk.solve(diag, np.ones(2), (0.0, 1.0), **kw)
    b = sk.solve(gen, np.ones(2), (0.0, 1.0), **kw)
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(a.logqp, b.logqp, rtol=1e-10)


def test_errors():
    sde = sk.SDE(lambda t, x: -x, lambda t, x: 0.3 + 0.0 * x)
    with pytest.raises(InvalidArgumentError, match="logqp"):
        sk.solve(sde, 1.0, (0.0, 1.0), n_steps=4, logqp=3.0)
    with pytest.raises(InvalidArgumentError, match="method h"):
        sk.solve(sde, 1.0, (0.0, 1.0), n_steps=4, logqp=True)
    with pytest.raises(IncompatibleMethodError, match="ODE"):
        sk.solve(sk.ODE(lambda t, x: -x), 1.0, (0.0, 1.0), n_steps=4, logqp=lambda t, x: x)
    with pytest.raises(ShapeError, match="prior drift"):
        sk.solve(sde, np.ones(2), (0.0, 1.0), n_steps=4, logqp=lambda t, x: x[:, :1])


def test_torch_logqp_with_the_adjoint_and_a_torchsde_prior():
    torch = pytest.importorskip("torch")

    class Latent(torch.nn.Module):
        noise_type, sde_type = "diagonal", "stratonovich"

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.f_net = torch.nn.Linear(2, 2).double()
            self.h_net = torch.nn.Linear(2, 2).double()

        def f(self, t, y):
            return self.f_net(y)

        def h(self, t, y):
            return self.h_net(y)

        def g(self, t, y):
            return 0.3 + 0.1 * torch.sigmoid(y)

    mod = Latent()
    x0 = torch.randn(8, 2, dtype=torch.float64)
    grads = []
    for adjoint in (True, False):
        sol = sk.solve(mod, x0, (0.0, 1.0), n_steps=50, method="reversible_heun", logqp=True, adjoint=adjoint,
                       save_at=[0.25, 0.5, 1.0])
        loss = sol.ys.pow(2).sum() + sol.logqp.sum()
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(mod.parameters()))]))
    assert float((grads[0] - grads[1]).norm() / grads[1].norm()) < 1e-10
    assert all(float(g.abs().sum()) > 0 for g in torch.autograd.grad(
        sk.solve(mod, x0, (0.0, 1.0), n_steps=10, logqp=True, method="reversible_heun").logqp.sum(),
        list(mod.h_net.parameters())))
