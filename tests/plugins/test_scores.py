"""sdekit_scores: analytic laws, the score protocol, adapters, divergence, the Langevin corrector."""

import math

import numpy as np
import pytest
from scipy import stats

import sdekit as sk
import sdekit_scores as sks
from sdekit.errors import InvalidArgumentError, ShapeError

MIX2 = sks.GaussianMixture([0.25, 0.75], [[-1.0, 0.5], [1.5, -0.5]],
                           [[[0.5, 0.2], [0.2, 0.3]], [[0.2, -0.05], [-0.05, 0.4]]])


def test_log_prob_matches_scipy():
    x = np.random.default_rng(0).normal(size=(50, 2))
    ref = np.log(sum(w * stats.multivariate_normal(m, c).pdf(x)
                     for w, m, c in zip(MIX2.weights, MIX2.means, MIX2.covs)))
    np.testing.assert_allclose(MIX2.log_prob(x), ref, rtol=1e-12)


def test_score_is_gradient_of_log_prob():
    x = np.random.default_rng(1).normal(size=(20, 2))
    h = 1e-6
    fd = np.stack([(MIX2.log_prob(x + h * e) - MIX2.log_prob(x - h * e)) / (2 * h) for e in np.eye(2)], 1)
    np.testing.assert_allclose(MIX2.score(x), fd, rtol=1e-6, atol=1e-7)


def test_sample_moments_and_path_determinism():
    x = MIX2.sample(40_000, seed=3)
    se = np.sqrt(np.diag(MIX2.cov) / 40_000)
    assert np.all(np.abs(x.mean(0) - MIX2.mean) < 5 * se)
    np.testing.assert_allclose(np.cov(x.T), MIX2.cov, atol=0.03)
    np.testing.assert_array_equal(MIX2.sample(10, seed=3), x[:10])  # row i depends on (seed, i) only
    assert not np.array_equal(MIX2.sample(10, seed=4), x[:10])


def test_one_dim_cdf_and_gaussian():
    mix = sks.GaussianMixture([0.3, 0.7], [[-5.0], [5.0]], [4.0, 4.0])
    xs = np.linspace(-12, 12, 7)
    ref = 0.3 * stats.norm(-5, 2).cdf(xs) + 0.7 * stats.norm(5, 2).cdf(xs)
    np.testing.assert_allclose(mix.cdf(xs), ref, rtol=1e-12)
    g = sks.Gaussian([1.0, -1.0], [2.0, 0.5])
    np.testing.assert_allclose(g.score(np.array([[3.0, 0.0]])), [[-1.0, -2.0]])
    with pytest.raises(InvalidArgumentError):
        MIX2.cdf(0.0)
    with pytest.raises(InvalidArgumentError):
        sks.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ShapeError):
        MIX2.score(np.zeros((3, 3)))


class _VE:
    def marginal(self, t):
        return 1.0, math.sqrt(t)


class _Scaled:  # x_t = m x_0 + b + s z with per-component m, s
    def marginal(self, t):
        return np.array([0.5, 2.0]), np.array([0.3, 0.1]) * t

    def marginal_shift(self, t):
        return np.array([1.0, -1.0])


def test_perturbed_is_the_exact_marginal():
    ps = MIX2.perturbed(_Scaled())
    law = ps.at(1.0)
    x0 = MIX2.sample(100_000, seed=1)
    z = sks.Gaussian([0.0, 0.0], np.eye(2)).sample(100_000, seed=2)
    xt = x0 * np.array([0.5, 2.0]) + np.array([1.0, -1.0]) + z * np.array([0.3, 0.1])
    np.testing.assert_allclose(xt.mean(0), law.mean, atol=0.01)
    np.testing.assert_allclose(np.cov(xt.T), law.cov, atol=0.02)
    np.testing.assert_allclose(ps(1.0, xt[:5]), law.score(xt[:5]))
    np.testing.assert_allclose(sks.Gaussian([0.0], [[1.0]]).perturbed(_VE())(3.0, np.array([[2.0]])), [[-0.5]])


def test_torch_inputs_answer_in_kind():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(6, 2))
    xt = torch.tensor(x, dtype=torch.float32)
    out = MIX2.score(xt)
    assert torch.is_tensor(out) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), MIX2.score(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(MIX2.log_prob(torch.tensor(x)).numpy(), MIX2.log_prob(x), rtol=1e-12)
    # a NumPy-only score called on a tensor, and a torch module called on a NumPy state
    s = sks.as_score(lambda t, y: -np.asarray(y))
    assert torch.is_tensor(s(0.0, torch.tensor(x)))

    class Net(torch.nn.Module):
        def forward(self, t, y):
            return -y * (1.0 + t)

    s2 = sks.as_score(Net())
    out = s2(1.0, x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, -2 * x)


def test_adapters():
    x = np.array([[1.0, 2.0]])
    np.testing.assert_allclose(sks.from_epsilon(lambda t, y: y, std=2.0)(0.1, x), -x / 2)

    class Fwd:
        def marginal(self, t):
            return 0.5, 0.5

    # Tweedie: D = x0 guess 0 -> score = -x / s^2
    np.testing.assert_allclose(sks.from_denoiser(lambda t, y: 0 * y, std=Fwd())(0.2, x), -x / 0.25)
    # from_epsilon of the exact epsilon predictor equals the exact score (VP marginal of a Gaussian)
    import sdekit_diffusion as skd

    vp = skd.VPSDE()
    g = sks.Gaussian([0.5, -0.5], [0.3, 0.2])
    ps = g.perturbed(vp)
    t = 0.4
    _, s = vp.marginal(t)
    eps_model = lambda tt, y: -vp.marginal(tt)[1] * ps(tt, y)  # noqa: E731
    np.testing.assert_allclose(sks.from_epsilon(eps_model, vp)(t, x), ps(t, x), rtol=1e-12)
    with pytest.raises(InvalidArgumentError):
        sks.as_score(42)


def test_score_shape_is_checked():
    with pytest.raises(ShapeError):
        sks.as_score(lambda t, x: x[:, :1])(0.0, np.zeros((3, 2)))


def _gbm_general():
    def g(t, x):
        n = x.shape[0]
        G = np.zeros((n, 2, 2))
        G[:, 0, 0] = 0.5 * x[:, 0]
        G[:, 0, 1] = 0.2 * x[:, 1]
        G[:, 1, 1] = 0.3 * x[:, 0] * x[:, 1]
        return G

    return sk.SDE(lambda t, x: 0 * x, g, noise="general", brownian_dim=2)


def test_divergence_fd_against_analytic():
    x = np.array([[1.0, 2.0], [-0.5, 0.7]])
    # diagonal: A = diag(0.25 x1^2, sin(x2)^2) -> div = (0.5 x1, 2 sin x2 cos x2)
    diag = sk.SDE(lambda t, x: 0 * x, lambda t, x: np.stack([0.5 * x[:, 0], np.sin(x[:, 1])], 1))
    ref = np.stack([0.5 * x[:, 0], np.sin(2 * x[:, 1])], 1)
    np.testing.assert_allclose(sks.divergence_fd(diag, 0.0, x), ref, rtol=1e-8)
    # scalar: A = g g^T with g = (x1, x1 x2): div_i = sum_j d_j(g_i g_j)
    scal = sk.SDE(lambda t, x: 0 * x, lambda t, x: np.stack([x[:, 0], x[:, 0] * x[:, 1]], 1), noise="scalar")
    x1, x2 = x[:, 0], x[:, 1]
    ref = np.stack([2 * x1 + x1**2,  # d1(x1^2) + d2(x1^2 x2)
                    2 * x1 * x2 + 2 * x1**2 * x2], 1)  # d1(x1^2 x2) + d2(x1^2 x2^2)
    np.testing.assert_allclose(sks.divergence_fd(scal, 0.0, x), ref, rtol=1e-7)
    # general: A = G G^T, compare with FD of an explicitly assembled A
    gen = _gbm_general()

    def A(y):
        G = gen.diffusion(0.0, y)
        return G @ np.transpose(G, (0, 2, 1))

    h = 1e-6
    ref = sum((A(x + h * e)[:, :, j] - A(x - h * e)[:, :, j]) / (2 * h) for j, e in enumerate(np.eye(2)))
    np.testing.assert_allclose(sks.divergence_fd(gen, 0.0, x), ref, rtol=1e-6)


def test_divergence_autograd_matches_fd():
    torch = pytest.importorskip("torch")
    gen = sk.SDE(lambda t, x: 0 * x, lambda t, x: torch.stack([0.5 * x[:, 0], x[:, 0] * x[:, 1]], 1)[:, :, None]
                 * torch.ones(1, 1, 2, dtype=x.dtype), noise="general", brownian_dim=2)
    x = torch.tensor([[1.0, 2.0], [-0.5, 0.7]], dtype=torch.float64)
    auto = sks.divergence_autograd(gen, 0.0, x)
    fd = sks.divergence_fd(gen, 0.0, x)
    np.testing.assert_allclose(auto.numpy(), fd.numpy(), rtol=1e-7, atol=1e-9)


def test_langevin_corrector_targets_its_law():
    still = sk.SDE(lambda t, x: 0 * x, lambda t, x: 0 * x, additive=True)  # the predictor does nothing
    # batch norms (Song et al.); per-path norms are noisier (the step correlates with the state,
    # which inflates the variance: documented), so only their mean is checked
    # Unadjusted Langevin's stationary variance is s2 / (1 - eps / (2 s2)): at snr 0.1 (eps ~ 0.01 in 1-D)
    # that bias is 1%, well inside the 10% band next to the 3.2% standard error of a variance of 2000 draws.
    # (The small steps near x0 = 0, far from the mode, need 600 solver steps to reach the law at snr 0.1.)
    for norm, d, snr, steps in (("batch", 1, 0.1, 600), ("batch", 16, 0.2, 150), ("path", 16, 0.2, 150)):
        target = sks.Gaussian(np.full(d, 2.0), 0.5)
        pc = sk.solvers.PredictorCorrector(corrector=sks.LangevinCorrector(target, snr=snr, n_steps=2, norm=norm))
        x = sk.solve(still, np.zeros(d), (0.0, 1.0), n_steps=steps, n_paths=2000, method=pc, seed=0,
                     backend="numpy").ys[-1]
        assert abs(x.mean() - 2.0) < 0.05, (norm, d, x.mean())
        if norm == "batch":
            assert abs(x.var() / 0.5 - 1) < 0.1, (norm, d, x.var())
    target = sks.Gaussian([2.0], 0.5)
    c = sks.LangevinCorrector(target, snr=0.1)
    assert c.n_aux == 1 and c.nfe == 1
    with pytest.raises(InvalidArgumentError):
        sks.LangevinCorrector(target, snr=0.0)


def test_plugins_are_discoverable():
    assert {"scores", "diffusion"} <= set(sk.plugins.available())
    assert sk.plugins.load("scores") is sks
    import sdekit_diffusion

    assert sk.plugins.load("diffusion") is sdekit_diffusion


@pytest.mark.parametrize("module", ["sdekit_scores", "sdekit_scores.analytic", "sdekit_scores.protocol",
                                    "sdekit_scores.reverse", "sdekit_scores.corrector", "sdekit_scores.optional"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
