"""Learned scores (issue 7): losses recover a Gaussian, training is deterministic, a trained
ScoreMLP samples a two-mode mixture, checkpoints round-trip and refuse code-carrying pickles.

Statistical tolerances (N = 10^4 samples of a 2-D Gaussian, mean (1, -2), covariance
[[2, .6], [.6, 1]]): the sample covariance itself is off by a relative Frobenius error of
1.3% (median), 2.5% (90th percentile), 3.8% (99th), 4.7% (99.9th) over data seeds
(2000 simulated draws), and the sample mean by 0.6% / 1.8% / 2.1%. The acceptance
criterion "within 5% of the true parameters" therefore has a < 0.1% chance to fail from
sampling alone. Each estimator is also checked against the exact minimiser of its own
sample objective where one exists (ESM: sample mean and inverse sample covariance, to 1e-6),
which has no sampling error at all.
"""

import math
import os
import pickle

import numpy as np
import pytest
import torch

from sdekit.errors import InvalidArgumentError, SDEKitError, ShapeError
from sdekit_diffusion.demo_learned import mixture_sample, sampling_backend, sliced_wasserstein, two_mode_mixture
from sdekit_scores.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sdekit_scores.losses import diffusion_squared, dsm_loss, esm_loss, ssm_loss
from sdekit_scores.nets import ScoreMLP
from sdekit_scores.training import train





def _vp():
    from sdekit_diffusion import VPSDE

    return VPSDE()


MU = torch.tensor([1.0, -2.0], dtype=torch.float64)
SIGMA = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
DATA_SEED = 1


def _gaussian_data(n=10_000, seed=DATA_SEED):
    g = torch.Generator().manual_seed(seed)
    return MU + torch.randn(n, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(SIGMA).T


class GaussianScore(torch.nn.Module):
    """s(x) = -P (x - mu), P = A A^T: the parametric model of seed 001's Gaussian example."""

    def __init__(self, d=2):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))
        self.A = torch.nn.Parameter(torch.eye(d, dtype=torch.float64))

    def precision(self):
        return self.A @ self.A.T

    def forward(self, t, x):
        return -(x - self.mu) @ self.precision()


class PerturbedGaussianScore(torch.nn.Module):
    """Score of p_t = N(m_t mu, m_t^2 Sigma + s_t^2 I) with mu, Sigma = B B^T as parameters."""

    def __init__(self, sde, d=2):
        super().__init__()
        self.sde = sde
        self.mu = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))
        self.B = torch.nn.Parameter(torch.eye(d, dtype=torch.float64))

    def cov(self):
        return self.B @ self.B.T

    def forward(self, t, x):
        from sdekit_scores.nets import forward_marginal

        t = torch.as_tensor(t, dtype=torch.float64).expand(x.shape[0])
        m, s = forward_marginal(self.sde, t)
        cov = m[:, None, None] ** 2 * self.cov() + s[:, None, None] ** 2 * torch.eye(x.shape[1], dtype=x.dtype)
        return -torch.linalg.solve(cov, x - m[:, None] * self.mu)


def _fit(model, objective, rounds=4):
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=100, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        value = objective(model)
        value.backward()
        return value

    for _ in range(rounds):
        opt.step(closure)
    return model


def _rel(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


# --- the losses --------------------------------------------------------------------------


def test_esm_recovers_gaussian_and_its_exact_minimiser():
    x = _gaussian_data()
    model = _fit(GaussianScore(), lambda m: esm_loss(m, x))
    sigma_hat = torch.linalg.inv(model.precision().detach())
    # Seed 001's example prints "Sigma = sample covariance" for the matrix in s = -Sigma (x - mu); that
    # matrix is the precision: the minimiser is P = C^{-1}, i.e. the fitted covariance equals C.
    c = torch.cov(x.T, correction=0)
    assert _rel(sigma_hat, c) < 1e-6
    assert _rel(model.mu.detach(), x.mean(0)) < 1e-6
    assert _rel(model.mu.detach(), MU) < 0.05
    assert _rel(sigma_hat, SIGMA) < 0.05


@pytest.mark.parametrize("projection", ["rademacher", "gaussian"])
def test_ssm_recovers_gaussian(projection):
    x = _gaussian_data()
    model = _fit(GaussianScore(), lambda m: ssm_loss(m, x, projection=projection,
                                                     generator=torch.Generator().manual_seed(3)))
    sigma_hat = torch.linalg.inv(model.precision().detach())
    assert _rel(model.mu.detach(), MU) < 0.05
    assert _rel(sigma_hat, SIGMA) < 0.05
    # Fixed probes make the objective the ESM one up to the probes' empirical E[v v^T] - I = O(N^-1/2):
    # within 3% of ESM's exact minimiser (measured 0.1-2.6% over probe seeds).
    assert _rel(sigma_hat, torch.cov(x.T, correction=0)) < 0.03


def test_ssm_without_variance_reduction_needs_more_projections_but_recovers():
    x = _gaussian_data()
    model = _fit(GaussianScore(), lambda m: ssm_loss(m, x, projection="gaussian", variance_reduction=False,
                                                     n_projections=8, generator=torch.Generator().manual_seed(3)))
    sigma_hat = torch.linalg.inv(model.precision().detach())
    assert _rel(model.mu.detach(), MU) < 0.05
    assert _rel(sigma_hat, SIGMA) < 0.05


def test_dsm_recovers_gaussian_through_its_perturbed_score():
    vp = _vp()
    x = _gaussian_data()
    g = torch.Generator().manual_seed(2)
    n = x.shape[0] * 2  # two (time, noise) draws per data point, antithetic in the noise
    t = 1e-3 + (1 - 1e-3) * torch.rand(n // 2, generator=g, dtype=torch.float64)
    z = torch.randn(n // 2, 2, generator=g, dtype=torch.float64)
    t, z, xs = torch.cat([t, t]), torch.cat([z, -z]), torch.cat([x, x])
    model = _fit(PerturbedGaussianScore(vp), lambda m: dsm_loss(m, xs, vp, t=t, noise=z), rounds=3)
    assert _rel(model.mu.detach(), MU) < 0.05
    assert _rel(model.cov().detach(), SIGMA) < 0.05


def test_loss_values_at_the_true_score():
    # ESM per sample: 1/2 |P(x - mu)|^2 - tr P exactly; SSM has the same expectation.
    x = _gaussian_data(4000)
    prec = torch.linalg.inv(SIGMA)
    score = lambda t, y: -(y - MU) @ prec  # noqa: E731
    per = esm_loss(score, x, reduction="none")
    expected = 0.5 * (((x - MU) @ prec) ** 2).sum(-1) - torch.trace(prec)
    per = per.detach()
    assert torch.allclose(per, expected, rtol=0, atol=1e-12)
    # E = -1/2 E|grad log p|^2 = -1/2 tr P; Monte Carlo standard error of the mean is sd/sqrt(n).
    se = float(expected.std()) / math.sqrt(len(x))
    assert abs(per.mean().item() + 0.5 * torch.trace(prec).item()) < 4 * se
    ssm = ssm_loss(score, x, n_projections=4, generator=torch.Generator().manual_seed(0), reduction="none")
    assert abs((ssm - per).mean().item()) < 4 * (ssm - per).std().item() / math.sqrt(len(x))


def test_dsm_is_minimised_by_the_true_perturbed_score():
    vp = _vp()
    x = _gaussian_data(20_000)
    true = PerturbedGaussianScore(vp)
    with torch.no_grad():
        true.mu.copy_(MU)
        true.B.copy_(torch.linalg.cholesky(SIGMA))
    g = torch.Generator().manual_seed(0)
    base = dsm_loss(true, x, vp, generator=g).item()
    for scale in (0.9, 1.1):  # the wrong covariance scale costs a clearly positive amount
        other = PerturbedGaussianScore(vp)
        with torch.no_grad():
            other.mu.copy_(MU)
            other.B.copy_(torch.linalg.cholesky(SIGMA) * scale)
        assert dsm_loss(other, x, vp, generator=torch.Generator().manual_seed(0)).item() > base


def test_dsm_likelihood_weighting_uses_g_squared():
    vp = _vp()
    t = torch.tensor([1e-3, 0.25, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(diffusion_squared(vp, t), 0.1 + 19.9 * t, rtol=1e-6)
    x = _gaussian_data(64)
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    score = lambda t, y: -y  # noqa: E731
    tt = torch.full((64,), 0.5, dtype=torch.float64)
    a = dsm_loss(score, x, vp, t=tt, noise=z, weighting="likelihood", reduction="none")
    b = dsm_loss(score, x, vp, t=tt, noise=z, weighting="std2", reduction="none")
    _, s = vp.marginal(torch.tensor(0.5, dtype=torch.float64))
    assert torch.allclose(a, b * 10.05 / float(s) ** 2, rtol=1e-6)


def test_losses_reject_non_torch_scores_and_bad_arguments():
    x = _gaussian_data(8)
    with pytest.raises(ShapeError):
        esm_loss(lambda t, y: y.detach().numpy(), x)
    with pytest.raises(ShapeError):
        ssm_loss(lambda t, y: y[:, :1], x)
    with pytest.raises(InvalidArgumentError):
        ssm_loss(lambda t, y: -y, x, projection="sphere")
    with pytest.raises(InvalidArgumentError):
        dsm_loss(lambda t, y: -y, x, _vp(), weighting="snr")
    with pytest.raises(InvalidArgumentError):
        dsm_loss(lambda t, y: -y, x, object())


# --- the network and training -----------------------------------------------------------------


def test_score_mlp_is_a_score_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    net = ScoreMLP(3, hidden=16, depth=2, sde=_vp(), embedding="fourier", seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = net(0.3, x)
    assert out.shape == (5, 3) and out.dtype == torch.float64
    assert torch.allclose(net(torch.full((5,), 0.3), x), out)
    assert torch.allclose(net(torch.full((5, 1), 0.3), x), out)
    # The raw network output is divided by the marginal std (about 0.01 at t = 1e-3, 1 at t = 1).
    assert net(1e-3, x).abs().mean() > 10 * net(1.0, x).abs().mean()
    with pytest.raises(ShapeError):
        net(0.3, torch.zeros(5, 2))
    # NumPy in, NumPy out: the same numbers, so the net is a score for the NumPy backend too.
    assert np.allclose(net(0.3, x.numpy()), out.detach().numpy(), rtol=0, atol=1e-12)


def test_score_mlp_drives_a_numpy_backend_solve():
    import sdekit as sk

    vp = _vp()
    net = ScoreMLP(2, hidden=16, depth=1, sde=vp, seed=0)

    def beta(s):  # reversed time s = 1 - t
        return 0.1 + 19.9 * (1.0 - s)

    rev = sk.SDE(lambda s, x: 0.5 * beta(s) * x + beta(s) * net(1.0 - s, x),
                 lambda s, x: beta(s) ** 0.5 + 0.0 * x, additive=True)
    sol = sk.solve(rev, np.zeros(2), (0.0, 0.999), n_steps=20, n_paths=50, seed=0, backend="numpy")
    assert isinstance(sol.ys, np.ndarray) and sol.ys.shape == (2, 50, 2) and np.all(np.isfinite(sol.ys))


def test_train_is_deterministic_for_a_seed_and_uses_no_global_rng():
    vp = _vp()
    data = mixture_sample(2000, seed=0)

    def run(seed):
        net = ScoreMLP(2, hidden=32, depth=2, sde=vp, seed=0)
        hist = train(net, data, vp, steps=40, batch_size=64, lr=2e-3, seed=seed, progress=False)
        return hist, torch.cat([p.detach().flatten() for p in net.parameters()])

    state = torch.random.get_rng_state()
    h1, w1 = run(7)
    h2, w2 = run(7)
    h3, _ = run(8)
    assert torch.equal(state, torch.random.get_rng_state())
    assert np.array_equal(h1, h2) and torch.equal(w1, w2)
    assert not np.array_equal(h1, h3)
    assert h1.shape == (40,) and np.all(np.isfinite(h1))


@pytest.mark.parametrize("loss", ["ssm", "esm"])
def test_train_with_ssm_and_esm_losses_reduces_the_loss(loss):
    vp = _vp()
    net = ScoreMLP(2, hidden=32, depth=2, sde=vp, seed=0)
    hist = train(net, mixture_sample(4000, seed=0), vp, loss=loss, steps=150, batch_size=128, lr=3e-3, seed=0,
                 progress=False)
    # Both are the Fisher divergence minus a positive constant (times s_t^2): decreasing is learning.
    assert hist[-30:].mean() < hist[:10].mean() - 0.1


def test_train_rejects_bad_arguments():
    net = ScoreMLP(2, hidden=8, depth=1)
    data = np.zeros((10, 2))
    with pytest.raises(InvalidArgumentError):
        train(net, data, None, steps=1, batch_size=2, lr=1e-3, seed=0, progress=False)  # dsm needs the sde
    with pytest.raises(InvalidArgumentError):
        train(net, data, _vp(), loss="mle", steps=1, batch_size=2, lr=1e-3, seed=0, progress=False)
    with pytest.raises(InvalidArgumentError):
        train(net, data, _vp(), steps=0, batch_size=2, lr=1e-3, seed=0, progress=False)


def _sample(vp, net, n, n_steps, seed):
    """``sdekit_diffusion.sample`` (reverse SDE, Euler–Maruyama) on torch if installed, else NumPy."""
    import sdekit_diffusion as skd

    x = skd.sample(vp, net, n, 2, method="euler_maruyama", n_steps=n_steps, seed=seed, backend=sampling_backend())
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def test_trained_mlp_samples_the_mixture_smoke():
    """Default-run version of the acceptance test: 1000 steps of batch 256, 2000 samples, 200 steps.

    Threshold 0.25 (sliced W_2, see ``sliced_wasserstein``), set from measurements at this sample
    size and step count: two independent exact samples are 0.03-0.09 apart (the floor, mostly the
    binomial noise of the mode weights); putting 50% instead of 30% of the mass in the small mode
    scores 0.75, spreading the data 1.3x about its mean 0.37, prior samples N(0, I) 0.82, all mass in
    one mode 1.15, the untrained net > 100. This trained net measured 0.124-0.146 over sampler seeds
    0-3 (NumPy backend).
    """
    vp = _vp()
    net = ScoreMLP(2, hidden=128, depth=3, sde=vp, seed=0)
    train(net, mixture_sample(20_000, seed=0), vp, steps=1000, batch_size=256, lr=2e-3, seed=0, progress=False)
    sw = sliced_wasserstein(_sample(vp, net, 2000, 200, seed=0), mixture_sample(2000, seed=2))
    assert sw < 0.25, sw


@pytest.mark.slow
def test_acceptance_trained_mlp_samples_the_mixture_within_sliced_w_015():
    """Issue 7 acceptance: dsm_loss, 3000 steps, batch 512; 500 VP steps, 4000 samples; SW <= 0.15.

    Checked for three sampler seeds: at 4000 samples the distance is dominated by sampling noise
    (the exact mixture score with the same sampler scores 0.02-0.13 over seeds 0-5), so one seed
    alone says little.
    """
    vp = _vp()
    net = ScoreMLP(2, sde=vp, seed=0)
    train(net, mixture_sample(20_000, seed=0), vp, loss="dsm", steps=3000, batch_size=512, lr=2e-3, seed=0,
          progress=False)
    exact = mixture_sample(4000, seed=2)
    sws = [sliced_wasserstein(_sample(vp, net, 4000, 500, seed=s), exact) for s in (0, 1, 2)]
    print("sliced W =", [round(v, 4) for v in sws])
    assert max(sws) <= 0.15, sws


# --- checkpoints -----------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    vp = _vp()
    net = ScoreMLP(2, hidden=16, depth=2, sde=vp, embedding="fourier", seed=5)
    train(net, mixture_sample(500, seed=0), vp, steps=5, batch_size=32, lr=1e-3, seed=0, progress=False)
    path = tmp_path / "net.pt"
    save_checkpoint(net, path, extra={"steps": 5, "note": "test"})
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rebuilt = load_checkpoint(ScoreMLP, path, sde=vp)
    assert torch.equal(rebuilt(0.4, x), net(0.4, x))
    assert rebuilt.checkpoint_extra == {"steps": 5, "note": "test"}
    fresh = ScoreMLP(2, hidden=16, depth=2, sde=vp, embedding="fourier", seed=99)
    assert not torch.equal(fresh(0.4, x), net(0.4, x))
    load_checkpoint(fresh, path)
    assert torch.equal(fresh(0.4, x), net(0.4, x))
    # torch's own weights-only loader reads it too (plain data only).
    assert set(torch.load(path, weights_only=True)) >= {"state_dict", "config"}


def test_checkpoint_errors(tmp_path):
    vp = _vp()
    net = ScoreMLP(2, hidden=16, depth=1, sde=vp)
    path = tmp_path / "net.pt"
    save_checkpoint(net, path)
    with pytest.raises(CheckpointError, match="sde="):
        load_checkpoint(ScoreMLP, path)  # scaled by the SDE's std: the sde is needed to rebuild
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(ScoreMLP(2, hidden=8, depth=1, sde=vp), path)
    with pytest.raises(CheckpointError, match="extra"):
        save_checkpoint(net, tmp_path / "bad.pt", extra={"sde": vp})
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(ScoreMLP, tmp_path / "list.pt", sde=vp)


class _Malicious:
    marker = None

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["torch.save", "pickle-2", "pickle-4"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, kind):
    marker = str(tmp_path / "side_effect")
    evil = _Malicious()
    evil.marker = marker
    path = tmp_path / "evil.pt"
    if kind == "torch.save":
        torch.save({"state_dict": {"w": evil}}, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(evil, fh, protocol=int(kind[-1]))
    # The payload really is live: ordinary unpickling would run it (checked on a copy).
    probe = tmp_path / "probe"
    evil.marker = str(probe)
    with open(tmp_path / "probe.pkl", "wb") as fh:
        pickle.dump(evil, fh)
    with open(tmp_path / "probe.pkl", "rb") as fh:
        pickle.load(fh)
    assert probe.exists()
    with pytest.raises(CheckpointError, match="refusing") as info:
        load_checkpoint(ScoreMLP, path)
    assert isinstance(info.value, SDEKitError)
    assert not os.path.exists(marker)


def test_mixture_helpers_are_consistent():
    from scipy.stats import multivariate_normal

    from sdekit_diffusion.demo_learned import mixture_logpdf

    spec = two_mode_mixture()
    a = mixture_sample(20_000, seed=3)
    # Modes are 3.6 apart with stds <= 0.55: the sign of x_0 identifies the component (misassignment < 1e-3).
    assert abs(float((a[:, 0] > 0).mean()) - spec["weights"][1]) < 4 * math.sqrt(0.21 / 20_000) + 1e-3
    assert sliced_wasserstein(a[:10_000], a[10_000:]) < 0.1  # sampling floor, mostly the mode weights
    assert abs(sliced_wasserstein(a[:10_000], a[10_000:] + np.array([0.5, 0.0])) - 0.5 / math.sqrt(2)) < 0.06
    ref = sum(w * multivariate_normal(m, c).pdf(a[:100]) for w, m, c in
              zip(spec["weights"], spec["means"], spec["covs"]))
    assert np.allclose(mixture_logpdf(a[:100]), np.log(ref), rtol=0, atol=1e-10)


def test_train_draws_a_progress_bar(capsys):
    vp = _vp()
    net = ScoreMLP(2, hidden=8, depth=1, sde=vp)
    train(net, mixture_sample(100, seed=0), vp, steps=3, batch_size=8, lr=1e-3, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "train loss" in err and "3/3" in err


@pytest.mark.parametrize("name", ["sdekit_scores.nets", "sdekit_scores.losses", "sdekit_scores.training",
                                  "sdekit_scores.checkpoint", "sdekit_diffusion.likelihood",
                                  "sdekit_diffusion.demo_learned"])
def test_docstring_examples(name):
    import doctest
    import importlib
    import warnings

    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_dsm_uses_the_marginal_shift_of_an_ou_forward_process():
    import sdekit_diffusion as skd

    ou = skd.OUSDE(theta=2.0, sigma=1.0, mu=1.0)
    x = _gaussian_data(20_000)
    true = PerturbedGaussianScore(ou)
    with torch.no_grad():
        true.B.copy_(torch.linalg.cholesky(SIGMA))
        true.mu.copy_(MU)

    def shifted(t, y):  # p_t = N(m_t mu + c_t, m_t^2 Sigma + s_t^2 I)
        tt = torch.as_tensor(t, dtype=torch.float64).expand(y.shape[0])
        return true(t, y - torch.as_tensor(ou.marginal_shift(tt.numpy()))[:, None])

    g = torch.Generator().manual_seed(0)
    t = 0.05 + 0.95 * torch.rand(x.shape[0], generator=g, dtype=torch.float64)
    z = torch.randn(x.shape, generator=g, dtype=torch.float64)
    good = dsm_loss(shifted, x, ou, t=t, noise=z).item()
    unshifted = dsm_loss(true, x, ou, t=t, noise=z).item()
    assert good < unshifted - 0.1
