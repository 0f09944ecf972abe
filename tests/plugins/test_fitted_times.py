"""Grids fitted on a pilot batch (sdekit_diffusion.fitted), and DDIM's exact map on a Gaussian, which bounds it.

DDIM (η = 0) on data N(μ, c) moves the centred scaled state by (c + σσ')/(c + σ²) per step and the
final denoise by c/(c + σ_N²): the whole map is known in closed form on any grid, so the sampler is
checked against it to rounding, and the fit against the best grid that closed form allows.
"""

import math

import numpy as np
import pytest

import sdekit_diffusion as skd
import sdekit_scores as sks
from sdekit.errors import IncompatibleMethodError, InvalidArgumentError
from sdekit_diffusion import quality
from sdekit_diffusion.logsnr import scalar_marginal


def ddim_map(forward, c, mu, times, x_T):
    """DDIM's output for prior draws ``x_T`` on ``times`` (with the final denoise), from the closed form."""
    sig = np.array([skd.logsnr.scaled_sigma(forward, t) for t in times])
    m_T = scalar_marginal(forward, times[0])[0]
    y = x_T / m_T - mu
    for s, s_next in zip(sig[:-1], sig[1:]):
        y = y * (c + s * s_next) / (c + s * s)
    return mu + y * c / (c + sig[-1] ** 2)


@pytest.mark.parametrize("forward", [skd.VPSDE(), skd.EDMSDE()], ids=["vp", "edm"])
def test_ddim_is_the_closed_form_map_on_any_grid(forward):
    c, mu = 0.04, 0.3
    data = sks.Gaussian([mu], [[c]])
    rng = np.random.default_rng(0)
    t_end = getattr(forward, "t_min", 1e-3)
    inner = np.sort(rng.uniform(t_end, forward.T, 6))[::-1]
    times = np.concatenate([[forward.T], inner, [t_end]])
    x_T = np.linspace(-3, 3, 7)[:, None] * forward.prior_std
    x = skd.sample(forward, data.perturbed(forward), 7, 1, method="ddim", times=times, x_T=x_T, backend="numpy")
    np.testing.assert_allclose(x, ddim_map(forward, c, mu, times, x_T), rtol=1e-10, atol=1e-12)


def ddim_output_law(forward, times, d, final_denoise, law):
    """DDIM's exact output law on ``times``: the affine map read off the sampler at 0 and the unit vectors."""
    x_T = np.vstack([np.zeros(d), np.eye(d)]) * forward.prior_std
    x = skd.sample(forward, law.perturbed(forward), d + 1, d, method="ddim", times=times, x_T=x_T,
                   final_denoise=final_denoise, backend="numpy")
    b, A = x[0], (x[1:] - x[0]).T / forward.prior_std
    return b, forward.prior_std ** 2 * A @ A.T


@pytest.mark.parametrize("final_denoise", [True, False])
@pytest.mark.parametrize("forward", [skd.VPSDE(), skd.EDMSDE()], ids=["vp", "edm"])
def test_no_ddim_grid_beats_the_bound_and_equal_angles_attain_it(forward, final_denoise):
    """quality.ddim_gaussian_bound against the sampler: every random grid of the budget is at least the bound
    (3-D data, spread 0.01 to 4), and on 1-D centred data the equal-angle grid attains it to rounding."""
    eps = getattr(forward, "t_min", 1e-3)
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    law = sks.Gaussian([0.5, -1.0, 0.2], (q * np.array([0.01, 0.3, 4.0])) @ q.T)
    nfe = 6
    steps = nfe - int(final_denoise)
    bound = quality.ddim_gaussian_bound(law.cov, forward, nfe, final_denoise=final_denoise, eps=eps)
    for _ in range(15):
        times = np.concatenate([[forward.T], np.sort(rng.uniform(eps, forward.T, steps - 1))[::-1], [eps]])
        b, cov = ddim_output_law(forward, times, 3, final_denoise, law)
        assert quality.gaussian_w2(b, cov, law.mean, law.cov) >= bound * (1 - 1e-12)
    c = 0.04
    one = sks.Gaussian([0.0], [[c]])
    th0, thN = (math.atan(skd.logsnr.scaled_sigma(forward, t) / math.sqrt(c)) for t in (forward.T, eps))
    th = np.linspace(th0, thN, steps + 1)
    times = [forward.T] + [skd.logsnr.time_at(forward, math.sqrt(c) * math.tan(v)) for v in th[1:-1]] + [eps]
    b, cov = ddim_output_law(forward, np.array(times), 1, final_denoise, one)
    w2 = quality.gaussian_w2(b, cov, [0.0], [[c]])
    np.testing.assert_allclose(w2, quality.ddim_gaussian_bound([[c]], forward, nfe, final_denoise=final_denoise,
                                                                eps=eps), rtol=1e-8)


def fresh_errors(forward, score, method, times, n, seed, **opts):
    """|sampler on ``times`` - teacher| per draw, and whether the two ended in different modes, on fresh draws."""
    x_T = forward.prior_sample(n, 1, seed=seed)
    ref = skd.sample(forward, score, n, 1, method="unipc", order=3, n_steps=500, x_T=x_T, backend="numpy")
    x = skd.sample(forward, score, n, 1, method=method, times=times, x_T=x_T, backend="numpy", **opts)
    return np.abs(x - ref).ravel(), (np.sign(x - 0.25) != np.sign(ref - 0.25)).ravel()


@pytest.fixture(scope="module")
def two_modes():
    vp = skd.VPSDE()
    mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.09, 0.04])
    return vp, mix.perturbed(vp)


def test_a_fitted_grid_follows_the_teacher_on_draws_it_never_saw(two_modes):
    vp, score = two_modes
    fit = skd.fit_times(vp, score, 1, method="dpm_solver", nfe=8, maxiter=25, seed=0)
    assert fit.times.shape == (8,) and fit.times[0] == 1.0 and fit.times[-1] == 1e-3
    assert np.all(np.diff(fit.times) < 0) and fit.error < 0.5 * fit.start_error and fit.runs > 1
    default = skd.sampling_plan(vp, "dpm_solver", nfe=8).times
    err, flips = fresh_errors(vp, score, "dpm_solver", fit.times, 4000, seed=7)
    err0, flips0 = fresh_errors(vp, score, "dpm_solver", default, 4000, seed=7)
    # on 4000 draws the fit never saw: the typical draw follows the teacher far closer (measured median
    # 0.109 -> 0.014), and the draws that end in the other mode are no more than on log-SNR steps (0.70% ->
    # 0.57%) up to 3 binomial sd (0.4%)
    assert np.median(err) < 0.25 * np.median(err0) and np.sqrt(np.mean(err ** 2)) < np.sqrt(np.mean(err0 ** 2))
    assert flips.mean() <= flips0.mean() + 3 * math.sqrt(flips0.mean() / flips.size)
    sol = skd.sample(vp, score, 50, 1, method="dpm_solver", times=fit, seed=3, return_solution=True)
    assert sol.stats["nfe"] == 8 == sol.stats["nfe_planned"]


def test_the_fit_finds_ddims_best_grid_on_a_gaussian():
    """With both ends fixed (σ_min, then the denoise) the best DDIM grid has equal angles in between."""
    vp, c = skd.VPSDE(), 0.01
    data = sks.Gaussian([0.0], [[c]])
    fit = skd.fit_times(vp, data.perturbed(vp), 1, method="ddim", nfe=6, pilot=16, maxiter=60)
    th = np.arctan(fit.sigmas / math.sqrt(c))
    np.testing.assert_allclose(np.diff(th), np.diff(th).mean(), rtol=0.02)
    m_T = scalar_marginal(vp, 1.0)[0]
    a = vp.prior_std / (m_T * math.sqrt(c + fit.sigmas[0] ** 2))
    optimum = a * math.cos(th[-1]) * math.cos((th[0] - th[-1]) / 5) ** 5
    gain = ddim_map(vp, c, 0.0, fit.times, np.array([1.0]))[0] / math.sqrt(c)
    assert abs(gain - optimum) < 1e-4 * optimum


def test_torch_scores_fit_the_same_grid():
    torch = pytest.importorskip("torch")
    vp = skd.VPSDE()
    mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.09, 0.04])
    ps = mix.perturbed(vp)

    def score_t(t, x):
        return torch.from_numpy(ps(t, x.numpy()))

    a = skd.fit_times(vp, ps, 1, method="unipc", nfe=6, pilot=32, maxiter=8, backend="numpy")
    b = skd.fit_times(vp, score_t, 1, method="unipc", nfe=6, pilot=32, maxiter=8, backend="torch")
    np.testing.assert_allclose(b.times, a.times, rtol=1e-6)
    assert b.runs == a.runs and b.pilot_nfe == a.pilot_nfe


@pytest.mark.parametrize("method, opts, match", [
    ("euler_maruyama", {}, "deterministic"),
    ("dpm_solver_sde", {}, "deterministic"),
    ("ddim", {"eta": 0.5}, "eta=0"),
    ("edm", {"s_churn": 5.0}, "s_churn=0"),
    ("ode", {"solver": "dopri5"}, "fixed-step"),
])
def test_stochastic_or_adaptive_samplers_are_refused(two_modes, method, opts, match):
    vp, score = two_modes
    with pytest.raises(IncompatibleMethodError, match=match):
        skd.fit_times(vp, score, 1, method=method, nfe=10, **opts)


@pytest.mark.parametrize("kw, match", [
    ({"pilot": 0}, "pilot"),
    ({"maxiter": 1.5}, "maxiter"),
    ({"teacher_steps": 5}, "teacher_steps"),
    ({"times": [1.0, 0.5, 1e-3]}, "times"),
    ({"x_T": np.zeros((4, 1))}, "x_T"),
    ({"eps": 0.0, "final_denoise": False}, "positive noise level"),
    ({"nfe": None}, "nfe= or n_steps="),
    ({"t_start": 0.5}, "t_start"),
    ({"progress": "yes"}, "progress"),
    ({"orderr": 2}, "orderr"),
    ({"order": 5}, "order"),
])
def test_bad_arguments_name_themselves(two_modes, kw, match):
    vp, score = two_modes
    kw = {"pilot": 16, "nfe": 6, **kw}
    with pytest.raises(InvalidArgumentError, match=match):
        skd.fit_times(vp, score, 1, method="unipc", **kw)


def test_unknown_options_are_refused_before_the_teacher_runs(two_modes):
    vp, score = two_modes
    calls = []
    counted = lambda t, x: calls.append(1) or score(t, x)  # noqa: E731
    with pytest.raises(InvalidArgumentError, match="orderr"):
        skd.fit_times(vp, counted, 1, method="unipc", nfe=6, pilot=4, orderr=2)
    assert len(calls) == 0


def test_a_forward_process_without_marginals_is_refused(two_modes):
    _, score = two_modes

    class Bare:
        T = 1.0

        def prior_sample(self, n, d, seed=0):
            return np.zeros((n, d))

    with pytest.raises(IncompatibleMethodError, match="marginals"):
        skd.fit_times(Bare(), score, 1, method="unipc", nfe=6)


def test_a_probe_grid_that_blows_up_is_a_penalty_not_an_abort(two_modes):
    """A score that is non-finite on one call (the solve raises NonFiniteError there) costs that probe, not the fit."""
    vp, score = two_modes
    state = {"calls": 0}

    def flaky(t, x):
        state["calls"] += 1
        out = score(t, x)
        return out * np.inf if state["calls"] == 700 else out  # a call inside the optimisation's probes

    fit = skd.fit_times(vp, flaky, 1, method="dpm_solver", nfe=6, pilot=32, maxiter=10)
    assert state["calls"] > 700 and np.all(np.diff(fit.times) < 0) and fit.error < fit.start_error


def test_a_fit_without_the_final_denoise_is_sampled_without_it(two_modes):
    vp, score = two_modes
    fit = skd.fit_times(vp, score, 1, method="unipc", nfe=6, final_denoise=False, pilot=16, maxiter=3)
    assert fit.method == "unipc" and fit.final_denoise is False and fit.times.size == 7
    sol = skd.sample(vp, score, 8, 1, method="unipc", times=fit, return_solution=True)
    assert sol.stats["nfe"] == 6


def test_edms_euler_ended_budgets_say_which_budget_to_use(two_modes):
    vp, score = two_modes
    with pytest.raises(InvalidArgumentError, match="Euler step"):
        skd.fit_times(vp, score, 1, method="edm", nfe=10, pilot=8)
    fit = skd.fit_times(vp, score, 1, method="edm", nfe=9, pilot=8, maxiter=2)
    sol = skd.sample(vp, score, 8, 1, method="edm", times=fit, return_solution=True)
    assert sol.stats["nfe"] == 9
