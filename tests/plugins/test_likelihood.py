"""log_likelihood via the probability-flow ODE (issue 7): closed forms for Gaussian data.

For data N(mu, Sigma) under VP, p_t = N(m_t mu, m_t^2 Sigma + s_t^2 I) and its score is exact.
Two references:
- the data density log N(x; mu, Sigma) (the acceptance line: error < 0.03 nats). The model's density
  differs from it because the ODE starts from the prior N(0, I) at T = 1 while the true p_T is
  N(m_T mu, ...) with m_T = 0.0066; that costs up to 0.018 nats for these points;
- the model's own closed form: the flow map of Gaussian marginals is affine,
  x_T = m_T mu + Sigma_T^{1/2} Sigma^{-1/2} (x - mu), so log p_model(x) = log N(x_T; 0, I) + log det M.
  The ODE solve must match it to its tolerance (rtol = atol = 1e-5: measured 1e-5).
"""

import math

import numpy as np
import pytest
import torch

from sdekit.errors import InvalidArgumentError
from sdekit_diffusion.likelihood import bits_per_dim, dequantize, log_likelihood





def _vp():
    from sdekit_diffusion import VPSDE

    return VPSDE()


def _marginal(vp, t):
    m, s = vp.marginal(torch.as_tensor(float(t), dtype=torch.float64))
    return float(m), float(s)


def _gaussian_score(vp, mu, sigma):
    eye = torch.eye(len(mu), dtype=torch.float64)

    def score(t, x):
        m, s = _marginal(vp, t)
        cov = m ** 2 * sigma + s ** 2 * eye
        return -torch.linalg.solve(cov, (x - m * mu).T).T

    return score


def _sqrtm(a):
    w, v = torch.linalg.eigh(a)
    return v @ torch.diag(w.sqrt()) @ v.T


def _prior_logp(x):
    return -0.5 * (x ** 2).sum(-1) - x.shape[1] * 0.5 * math.log(2 * math.pi)


def _model_closed_form(vp, mu, sigma, x):
    m, s = _marginal(vp, vp.T)
    sigma_t = m ** 2 * sigma + s ** 2 * torch.eye(len(mu), dtype=torch.float64)
    flow = _sqrtm(sigma_t) @ torch.linalg.inv(_sqrtm(sigma))
    return _prior_logp(m * mu + (x - mu) @ flow.T) + torch.logdet(flow)


MU2 = torch.tensor([1.0, -0.5], dtype=torch.float64)
SIGMA2 = torch.tensor([[1.5, 0.4], [0.4, 0.5]], dtype=torch.float64)


def _points(mu, sigma, n, seed):
    g = torch.Generator().manual_seed(seed)
    return mu + torch.randn(n, len(mu), generator=g, dtype=torch.float64) @ torch.linalg.cholesky(sigma).T


def test_acceptance_log_likelihood_of_a_2d_gaussian_with_its_exact_score():
    vp = _vp()
    x = _points(MU2, SIGMA2, 200, seed=0)
    ll, stats = log_likelihood(vp, _gaussian_score(vp, MU2, SIGMA2), x, return_stats=True)
    data = torch.distributions.MultivariateNormal(MU2, SIGMA2).log_prob(x)
    err = (ll - data).abs().max().item()
    assert err < 0.03, err  # acceptance (measured 0.018, all of it the prior mismatch at T)
    model = _model_closed_form(vp, MU2, SIGMA2, x)
    assert (ll - model).abs().max().item() < 1e-3  # the ODE solve itself (measured 1e-5)
    assert stats["divergence"] == "exact" and stats["n_rejected"] >= 0 and stats["nfe"] < 500


def test_numpy_in_numpy_out_and_tolerance_controls_the_error():
    vp = _vp()
    x = _points(MU2, SIGMA2, 50, seed=1)
    model = _model_closed_form(vp, MU2, SIGMA2, x).numpy()
    score = _gaussian_score(vp, MU2, SIGMA2)
    loose = log_likelihood(vp, score, x.numpy(), rtol=1e-3, atol=1e-3, eps=0.0)
    tight = log_likelihood(vp, score, x.numpy(), rtol=1e-7, atol=1e-7, eps=0.0)
    assert isinstance(tight, np.ndarray) and tight.shape == (50,) and tight.dtype == np.float64
    e_loose, e_tight = np.abs(loose - model).max(), np.abs(tight - model).max()
    assert e_tight < 1e-6 and e_tight < e_loose / 10


def test_hutchinson_above_dimension_8_is_unbiased_and_seeded():
    vp = _vp()
    d = 10
    g = torch.Generator().manual_seed(0)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    sigma = a @ a.T / d + 0.5 * torch.eye(d, dtype=torch.float64)
    mu = torch.linspace(-1, 1, d, dtype=torch.float64)
    x = _points(mu, sigma, 100, seed=2)
    score = _gaussian_score(vp, mu, sigma)
    exact = log_likelihood(vp, score, x, divergence="exact")
    assert (exact - _model_closed_form(vp, mu, sigma, x)).abs().max().item() < 1e-3
    hutch, stats = log_likelihood(vp, score, x, seed=3, n_probes=4, return_stats=True)
    assert stats["divergence"] == "hutchinson"  # auto: d > 8
    diff = hutch - exact
    # Unbiased: the mean error over 100 points is within 4 standard errors of 0; but per point it is
    # a real estimator (not exact).
    assert abs(diff.mean().item()) < 4 * diff.std().item() / 10
    assert diff.abs().max().item() > 1e-3
    again = log_likelihood(vp, score, x, seed=3, n_probes=4)
    other = log_likelihood(vp, score, x, seed=4, n_probes=4)
    assert torch.equal(again, hutch) and not torch.equal(other, hutch)
    # More probes, less variance (Var ~ 1/K).
    more = log_likelihood(vp, score, x, seed=3, n_probes=16)
    assert (more - exact).std() < 0.75 * diff.std()


def test_bits_per_dim_uses_the_documented_dequantisation():
    vp = _vp()
    mu, sigma = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64) * 0.3
    score = _gaussian_score(vp, mu, sigma)
    x = np.array([[0, 3], [1, 2], [2, 2], [3, 0]])
    bpd = bits_per_dim(vp, score, x, n_bins=4, data_range=(-1.0, 1.0), seed=5)
    y = dequantize(x, 4, seed=5)
    assert np.all((y >= x / 4) & (y < (x + 1) / 4))
    z = torch.as_tensor(-1 + 2 * y)
    logp = log_likelihood(vp, score, z, seed=6).numpy()  # the model's density of z (exact divergence)
    expected = (-logp - 2 * math.log(2.0) + 2 * math.log(4)) / (2 * math.log(2))
    assert np.allclose(bpd, expected, rtol=0, atol=1e-9)
    # And against the closed form of that model (prior mismatch + ODE error: < 0.03 nats -> 0.022 bits).
    closed = _model_closed_form(vp, mu, sigma, z).numpy()
    assert np.abs(bpd - (-closed - 2 * math.log(2.0) + 2 * math.log(4)) / (2 * math.log(2))).max() < 0.022
    with pytest.raises(InvalidArgumentError):
        dequantize(np.array([[4, 0]]), 4)


def test_log_likelihood_rejects_state_dependent_diffusion_and_bad_options():
    vp = _vp()
    x = _points(MU2, SIGMA2, 4, seed=0)
    score = _gaussian_score(vp, MU2, SIGMA2)

    class Multiplicative:
        T = 1.0

        def drift(self, t, x):
            return 0 * x

        def diffusion(self, t, x):
            return 0.5 * x

        def prior_logp(self, x):
            return _prior_logp(x)

    with pytest.raises(InvalidArgumentError, match="does not depend on x"):
        log_likelihood(Multiplicative(), score, x)
    with pytest.raises(InvalidArgumentError):
        log_likelihood(vp, score, x, divergence="trace")
    with pytest.raises(InvalidArgumentError):
        log_likelihood(vp, score, x, eps=2.0)


def test_log_likelihood_with_the_scores_plugins_analytic_gaussian():
    """The same acceptance check through sdekit_scores.Gaussian.perturbed(vp) (issue 6's exact score)."""
    import sdekit_scores as sks

    vp = _vp()
    gauss = sks.Gaussian(MU2.numpy(), SIGMA2.numpy())
    x = _points(MU2, SIGMA2, 100, seed=3)
    ll = log_likelihood(vp, gauss.perturbed(vp), x)
    assert (ll - torch.as_tensor(gauss.log_prob(x.numpy()))).abs().max().item() < 0.03
    mine = log_likelihood(vp, _gaussian_score(vp, MU2, SIGMA2), x)
    assert (ll - mine).abs().max().item() < 1e-6


class _LinearNoiseVP:
    """dx = -x dt + sqrt(2) B dW for a fixed B, d = 2, with the noise type's diffusion layout:
    diagonal (B = diag(v), g = sqrt(2) v), scalar (ONE Brownian motion, B = v as a column, g = sqrt(2) v),
    general (B of shape (2, 3), g = sqrt(2) B per path).

    x_t | x_0 ~ N(m_t x_0, (1 - m_t^2) B B^T) with m_t = e^{-t}, so data N(mu, Sigma) has
    p_t = N(m_t mu, C_t), C_t = m_t^2 Sigma + (1 - m_t^2) B B^T, whose score is exact; prior_logp is the
    exact p_T. The probability flow is then exact and log p_0(x) must be log N(x; mu, Sigma).
    """

    T = 1.0
    v = torch.tensor([1.0, 0.5], dtype=torch.float64)
    B_GENERAL = torch.tensor([[1.0, 0.3, -0.2], [0.5, -0.4, 0.6]], dtype=torch.float64)

    def __init__(self, noise):
        self.noise = noise
        self.B = {"diagonal": torch.diag(self.v), "scalar": self.v[:, None], "general": self.B_GENERAL}[noise]

    def drift(self, t, x):
        return -x

    def diffusion(self, t, x):
        if self.noise == "general":
            return math.sqrt(2.0) * self.B + 0 * x[:, :, None]
        return math.sqrt(2.0) * self.v + 0 * x

    def cov(self, t):
        m = math.exp(-t)
        return m * m * SIGMA2 + (1 - m * m) * self.B @ self.B.T

    def score(self, t, x):
        return -torch.linalg.solve(self.cov(t), (x - math.exp(-t) * MU2).T).T

    def prior_logp(self, x):
        return torch.distributions.MultivariateNormal(math.exp(-self.T) * MU2, self.cov(self.T)).log_prob(x)


@pytest.mark.parametrize("noise", ["scalar", "diagonal", "general"])
def test_g_g_transpose_is_contracted_for_every_noise_type(noise):
    """Issue 11: the likelihood's g^2 s treated scalar noise as diagonal (g_i^2 s_i instead of g (g . s)),
    wrong for d > 1 (scalar case: off by 380 nats on average, 1981 at worst). Through
    sdekit_scores.probability_flow it is G G^T s for every noise type (measured error <= 4e-9)."""
    fwd = _LinearNoiseVP(noise)
    x = _points(MU2, SIGMA2, 50, seed=4)
    ll = log_likelihood(fwd, fwd.score, x, eps=0.0, rtol=1e-8, atol=1e-8)
    data = torch.distributions.MultivariateNormal(MU2, SIGMA2).log_prob(x)
    assert (ll - data).abs().max().item() < 1e-5


def test_first_step_and_max_steps_are_checked():
    """Issue 12: first_step=0 made the old controller take zero-length steps until max_steps (a minute)."""
    vp = _vp()
    x = _points(MU2, SIGMA2, 4, seed=0)
    score = _gaussian_score(vp, MU2, SIGMA2)
    for bad in (0, 0.0, -0.1, float("nan"), float("inf"), "0.1"):
        with pytest.raises(InvalidArgumentError, match="first_step"):
            log_likelihood(vp, score, x, first_step=bad)
    for bad in (0, 2.5, -1):
        with pytest.raises(InvalidArgumentError, match="max_steps"):
            log_likelihood(vp, score, x, max_steps=bad)
    for name in ("rtol", "atol"):
        for bad in (-1e-3, float("nan"), float("inf")):
            with pytest.raises(InvalidArgumentError, match=name):
                log_likelihood(vp, score, x, **{name: bad})
    # a first step larger than the span is one step's worth: the controller then shrinks it
    ll = log_likelihood(vp, score, x, first_step=10.0)
    assert torch.isfinite(ll).all()
