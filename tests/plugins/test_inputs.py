"""Bad inputs to the plugins (sdekit_scores, sdekit_diffusion): issue 12.

Every case must end in a typed ``sdekit.errors`` exception (checkpoints: ``CheckpointError``, an
``SDEKitError``) whose message names the argument at fault: no raw exception from the internals,
no silent truncation of a count, no NaN parameter accepted, no ``grad_clip`` that turns descent into
ascent, no checkpoint config that allocates before its size is checked. Explicit cases, then
hypothesis families. Every case is refused before a solve or a training step runs.
"""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdekit as sk
import sdekit_diffusion as skd
import sdekit_scores as sks
from sdekit.errors import InvalidArgumentError, SDEKitError, ShapeError

torch = pytest.importorskip("torch")
from sdekit_diffusion.likelihood import bits_per_dim, dequantize, log_likelihood  # noqa: E402
from sdekit_scores.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from sdekit_scores.losses import dsm_loss, esm_loss, ssm_loss  # noqa: E402
from sdekit_scores.nets import ScoreMLP  # noqa: E402
from sdekit_scores.training import train  # noqa: E402

VP = skd.VPSDE()
OU = sk.SDE(lambda t, x: -x, lambda t, x: 2 ** 0.5 + 0 * x, additive=True)
MIX = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [0.25, 0.25])
SCORE = MIX.perturbed(VP)
NET = ScoreMLP(1, hidden=8, depth=1, sde=VP)
DATA = torch.zeros(16, 1)
XT = torch.zeros(4, 1, dtype=torch.float64)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tscore(t, x):
    return -x


def _refused(fn, exc, name):
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, SDEKitError), type(info.value)
    assert name in str(info.value), (name, str(info.value))


def _sample(**kw):
    args = dict(n=10, d=1, n_steps=5, backend="numpy")
    args.update(kw)
    return skd.sample(VP, SCORE, args.pop("n"), args.pop("d"), **args)


def _train(**kw):
    args = dict(steps=2, batch_size=4, progress=False)
    args.update(kw)
    return train(args.pop("model", NET), args.pop("data", DATA), args.pop("sde", VP), **args)


def _ll(**kw):
    return log_likelihood(kw.pop("forward", VP), kw.pop("score", _tscore), kw.pop("x", XT), **kw)


def _checkpoint(mutate):
    """A valid checkpoint of NET, passed through ``mutate(payload)`` and written with torch.save."""
    buf = io.BytesIO()
    save_checkpoint(NET, buf)
    payload = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    mutate(payload)
    out = io.BytesIO()
    torch.save(payload, out)
    out.seek(0)
    return out


I, S, C = InvalidArgumentError, ShapeError, CheckpointError
NAN, INF = float("nan"), float("inf")
CASES = [
    # --- analytic laws (the plugin's constructor form) -----------------------------------------------------
    ("mixture weights nan", lambda: sks.GaussianMixture([0.5, NAN], [[0.0], [1.0]], [1.0, 1.0]), I, "weights"),
    ("mixture means nan", lambda: sks.GaussianMixture([0.5, 0.5], [[0.0], [NAN]], [1.0, 1.0]), I, "means"),
    ("mixture covs nan", lambda: sks.GaussianMixture([1.0], [[0.0]], [NAN]), I, "covs"),
    ("mixture covs inf", lambda: sks.GaussianMixture([1.0], [[0.0, 0.0]], [[[INF, 0], [0, 1]]]), I, "covs"),
    ("mixture sample n float", lambda: MIX.sample(100.5), I, "n"),
    ("gaussian mean complex", lambda: sks.Gaussian([1j], 1.0), I, "mean"),
    ("perturbed without marginal", lambda: MIX.perturbed(OU), I, "marginal"),
    ("perturbed at t nan", lambda: SCORE.at(NAN), I, "t must"),
    # --- transformations, adapters, corrector -----------------------------------------------------------------
    ("reverse T nan", lambda: sks.reverse(OU, MIX, T=NAN), I, "T must"),
    ("reverse T inf", lambda: sks.reverse(OU, MIX, T=INF), I, "T must"),
    ("reverse T string", lambda: sks.reverse(OU, MIX, T="1"), I, "T must"),
    ("reverse divergence", lambda: sks.reverse(sk.SDE(lambda t, x: x, lambda t, x: x), MIX, 1.0,
                                               divergence="exactly"), I, "divergence"),
    ("probability_flow T nan", lambda: sks.probability_flow(OU, MIX, T=NAN), I, "T must"),
    ("as_score", lambda: sks.as_score(42), I, "score"),
    ("from_epsilon std negative", lambda: sks.from_epsilon(_tscore, std=-1.0), I, "std"),
    ("from_epsilon std nan", lambda: sks.from_epsilon(_tscore, std=NAN), I, "std"),
    ("from_denoiser std string", lambda: sks.from_denoiser(_tscore, std="0.5"), I, "std"),
    ("corrector snr negative", lambda: sks.LangevinCorrector(MIX, snr=-0.1), I, "snr"),
    ("corrector snr nan", lambda: sks.LangevinCorrector(MIX, snr=NAN), I, "snr"),
    ("corrector snr string", lambda: sks.LangevinCorrector(MIX, snr="0.1"), I, "snr"),
    ("corrector n_steps float", lambda: sks.LangevinCorrector(MIX, n_steps=1.5), I, "n_steps"),
    ("corrector n_steps bool", lambda: sks.LangevinCorrector(MIX, n_steps=True), I, "n_steps"),
    ("corrector norm", lambda: sks.LangevinCorrector(MIX, norm="median"), I, "norm"),
    ("corrector T nan", lambda: sks.LangevinCorrector(MIX, T=NAN), I, "T must"),
    # --- networks, losses, training, checkpoints -----------------------------------------------------------
    ("ScoreMLP d float", lambda: ScoreMLP(2.5), I, "d must"),
    ("ScoreMLP hidden 0", lambda: ScoreMLP(2, hidden=0), I, "hidden"),
    ("ScoreMLP depth bool", lambda: ScoreMLP(2, depth=True), I, "depth"),
    ("ScoreMLP embed_dim odd", lambda: ScoreMLP(2, embed_dim=3), I, "embed_dim"),
    ("ScoreMLP max_freq nan", lambda: ScoreMLP(2, max_freq=NAN), I, "max_freq"),
    ("ScoreMLP data_std 0", lambda: ScoreMLP(2, data_std=0.0), I, "data_std"),
    ("ScoreMLP fourier_scale inf", lambda: ScoreMLP(2, fourier_scale=INF), I, "fourier_scale"),
    ("ScoreMLP dtype", lambda: ScoreMLP(2, dtype="float16"), I, "dtype"),
    ("ScoreMLP activation", lambda: ScoreMLP(2, activation="swish"), I, "activation"),
    ("ScoreMLP too large", lambda: ScoreMLP(2, hidden=10**6, depth=4), I, "hidden"),
    ("train model", lambda: _train(model=lambda t, x: x), I, "model"),
    ("train steps float", lambda: _train(steps=2.5), I, "steps"),
    ("train steps huge", lambda: _train(steps=2**40), I, "steps"),
    ("train batch_size 0", lambda: _train(batch_size=0), I, "batch_size"),
    ("train batch_size huge", lambda: _train(batch_size=2**31 + 1), I, "batch_size"),
    ("train lr negative", lambda: _train(lr=-1e-3), I, "lr"),
    ("train lr nan", lambda: _train(lr=NAN), I, "lr"),
    ("train lr bool", lambda: _train(lr=True), I, "lr"),
    ("train grad_clip negative", lambda: _train(grad_clip=-1.0), I, "grad_clip"),
    ("train grad_clip zero", lambda: _train(grad_clip=0.0), I, "grad_clip"),
    ("train grad_clip nan", lambda: _train(grad_clip=NAN), I, "grad_clip"),
    ("train seed negative", lambda: _train(seed=-1), I, "seed"),
    ("train seed float", lambda: _train(seed=1.5), I, "seed"),
    ("train ema 1", lambda: _train(ema=1.0), I, "ema"),
    ("train ema string", lambda: _train(ema="0.9"), I, "ema"),
    ("train lr_schedule", lambda: _train(lr_schedule="linear"), I, "lr_schedule"),
    ("train loss", lambda: _train(loss="mse"), I, "loss"),
    ("train loss type", lambda: _train(loss=3), I, "loss"),
    ("train dsm without sde", lambda: _train(sde=None), I, "sde"),
    ("train loss_options", lambda: _train(loss_options=5), I, "loss_options"),
    ("train callback", lambda: _train(callback=5), I, "callback"),
    ("train progress", lambda: _train(progress="no"), I, "progress"),
    ("train data shape", lambda: _train(data=torch.zeros(3)), S, "data"),
    ("train data type", lambda: _train(data="data.csv"), I, "data"),
    ("dsm eps negative", lambda: dsm_loss(NET, DATA, VP, eps=-1e-3), I, "eps"),
    ("dsm eps nan", lambda: dsm_loss(NET, DATA, VP, eps=NAN), I, "eps"),
    ("dsm T nan", lambda: dsm_loss(NET, DATA, VP, T=NAN), I, "T must"),
    ("dsm weighting", lambda: dsm_loss(NET, DATA, VP, weighting="uniform"), I, "weighting"),
    ("dsm reduction", lambda: dsm_loss(NET, DATA, VP, reduction="sum"), I, "reduction"),
    ("dsm generator", lambda: dsm_loss(NET, DATA, VP, generator=5), I, "generator"),
    ("dsm t shape", lambda: dsm_loss(NET, DATA, VP, t=torch.zeros(3)), S, "t must"),
    ("dsm t nan", lambda: dsm_loss(NET, DATA, VP, t=NAN), I, "t must"),
    ("dsm noise shape", lambda: dsm_loss(NET, DATA, VP, noise=torch.zeros(3, 1)), S, "noise"),
    ("dsm x shape", lambda: dsm_loss(NET, torch.zeros(2, 2, 1), VP), S, "x must"),
    ("dsm x complex", lambda: dsm_loss(NET, torch.zeros(2, 1, dtype=torch.complex64), VP), I, "x must"),
    ("esm x type", lambda: esm_loss(NET, [[0.0]]), I, "x must"),
    ("ssm n_projections", lambda: ssm_loss(NET, DATA, n_projections=0), I, "n_projections"),
    ("ssm n_projections float", lambda: ssm_loss(NET, DATA, n_projections=1.5), I, "n_projections"),
    ("ssm projection", lambda: ssm_loss(NET, DATA, projection="sphere"), I, "projection"),
    ("save model", lambda: save_checkpoint("net", io.BytesIO()), I, "model"),
    ("save path", lambda: save_checkpoint(NET, 5), I, "path"),
    ("save extra", lambda: save_checkpoint(NET, io.BytesIO(), extra=5), I, "extra"),
    ("load path", lambda: load_checkpoint(ScoreMLP, 5), I, "path"),
    ("load model_or_cls", lambda: load_checkpoint(5, _checkpoint(lambda p: None)), I, "model_or_cls"),
    ("load kwargs with instance", lambda: load_checkpoint(NET, _checkpoint(lambda p: None), sde=VP), I,
     "constructor arguments"),
    ("load version string", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p.update(version="1"))), C,
     "version"),
    ("load version future", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p.update(version=99))), C,
     "version"),
    ("load config type", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p.update(config=[1]))), C,
     "config"),
    ("load state_dict type", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p.update(state_dict=[1]))),
     C, "state_dict"),
    ("load crafted size", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p["config"].update(hidden=20_000)),
                                                  sde=VP), C, "config"),
    ("load crafted d", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: p["config"].update(d="two")),
                                               sde=VP), C, "config"),
    ("load scaled without sde", lambda: load_checkpoint(ScoreMLP, _checkpoint(lambda p: None)), C, "sde="),
    # --- forward processes ---------------------------------------------------------------------------------------
    ("VESDE sigma_min nan", lambda: skd.VESDE(sigma_min=NAN), I, "sigma_min"),
    ("VESDE sigma_max bool", lambda: skd.VESDE(sigma_max=True), I, "sigma_max"),
    ("VESDE order", lambda: skd.VESDE(sigma_min=1.0, sigma_max=0.5), I, "sigma_max"),
    ("VPSDE beta_min nan", lambda: skd.VPSDE(beta_min=NAN), I, "beta_min"),
    ("VPSDE beta_max string", lambda: skd.VPSDE(beta_max="20"), I, "beta_max"),
    ("SubVPSDE beta_max inf", lambda: skd.SubVPSDE(beta_max=INF), I, "beta_max"),
    ("OUSDE mu nan", lambda: skd.OUSDE(mu=NAN), I, "mu"),
    ("OUSDE theta 0", lambda: skd.OUSDE(theta=0.0), I, "theta"),
    ("OUSDE T inf", lambda: skd.OUSDE(T=INF), I, "T must"),
    ("prior_sample n float", lambda: VP.prior_sample(10.5, 1), I, "n must"),
    ("prior_sample n bool", lambda: VP.prior_sample(True, 1), I, "n must"),
    ("prior_sample d float", lambda: VP.prior_sample(10, 1.5), I, "d must"),
    ("prior_sample n beyond the counter", lambda: VP.prior_sample(2**48 + 1, 1), I, "n"),
    ("prior_sample too many values", lambda: VP.prior_sample(2**28, 16), I, "n * d"),
    ("prior_sample seed", lambda: VP.prior_sample(10, 1, seed=-1), I, "seed"),
    ("gaussian_transition", lambda: skd.gaussian_transition(OU, 0.1, 0.2), I, "marginal"),
    ("gaussian_transition t nan", lambda: skd.gaussian_transition(VP, NAN, 0.2), I, "t must"),
    # --- samplers -------------------------------------------------------------------------------------------------
    ("sample method", lambda: _sample(method="ddim2"), I, "method"),
    ("sample method unhashable", lambda: _sample(method=["em"]), I, "method"),
    ("sample n float", lambda: _sample(n=10.5), I, "n must"),
    ("sample n zero", lambda: _sample(n=0), I, "n must"),
    ("sample d float", lambda: _sample(d=1.5), I, "d must"),
    ("sample eps nan", lambda: _sample(eps=NAN), I, "eps"),
    ("sample eps negative", lambda: _sample(eps=-0.1), I, "eps"),
    ("sample eps at T", lambda: _sample(eps=1.0), I, "eps"),
    ("sample eps string", lambda: _sample(eps="0.001"), I, "eps"),
    ("sample n_steps float", lambda: _sample(n_steps=5.5), I, "n_steps"),
    ("sample x_T shape", lambda: _sample(x_T=np.zeros((3, 1))), S, "x_T"),
    ("sample return_solution", lambda: _sample(return_solution="yes"), I, "return_solution"),
    ("sample dopri5 rtol", lambda: _sample(method="ode", solver="dopri5", rtol=-1e-3), I, "rtol"),
    ("sample dopri5 atol nan", lambda: _sample(method="ode", solver="dopri5", atol=NAN), I, "atol"),
    ("sample pc snr", lambda: _sample(method="pc", snr=-0.1), I, "snr"),
    ("sample pc n_corrector", lambda: _sample(method="pc", n_corrector=1.5), I, "n_corrector"),
    ("sample pc predictor", lambda: _sample(method="pc", predictor="heun"), I, "predictor"),
    ("sample pc norm", lambda: _sample(method="pc", norm="max"), I, "norm"),
    ("sample annealed step_size", lambda: _sample(method="annealed_langevin", step_size=INF), I, "step_size"),
    ("sample annealed step_size 0", lambda: _sample(method="annealed_langevin", step_size=0.0), I, "step_size"),
    ("sample annealed n_inner", lambda: _sample(method="annealed_langevin", n_inner=0), I, "n_inner"),
    ("sample annealed contract", lambda: _sample(method="annealed_langevin", contract=1), I, "contract"),
    ("sample unknown option", lambda: _sample(method="euler_maruyama", snr=0.1), I, "unknown options"),
    ("sample forward T nan", lambda: skd.sample(type("F", (), {"T": NAN})(), SCORE, 10, 1), I, "T must"),
    ("Ancestral T nan", lambda: skd.Ancestral(VP, SCORE, NAN), I, "T must"),
    ("ReverseDiffusionPC T inf", lambda: skd.ReverseDiffusionPC(VP, SCORE, INF, sks.LangevinCorrector(MIX)), I,
     "T must"),
    ("AnnealedLangevin n_inner float", lambda: skd.AnnealedLangevin(VP, SCORE, 1.0, n_inner=2.5), I, "n_inner"),
    # --- likelihood ------------------------------------------------------------------------------------------------
    ("ll eps nan", lambda: _ll(eps=NAN), I, "eps"),
    ("ll eps at T", lambda: _ll(eps=1.0), I, "eps"),
    ("ll rtol negative", lambda: _ll(rtol=-1e-5), I, "rtol"),
    ("ll atol nan", lambda: _ll(atol=NAN), I, "atol"),
    ("ll atol inf", lambda: _ll(atol=INF), I, "atol"),
    ("ll both zero", lambda: _ll(rtol=0.0, atol=0.0), I, "rtol"),
    ("ll first_step 0", lambda: _ll(first_step=0), I, "first_step"),
    ("ll first_step negative", lambda: _ll(first_step=-0.01), I, "first_step"),
    ("ll max_steps float", lambda: _ll(max_steps=100.5), I, "max_steps"),
    ("ll n_probes", lambda: _ll(divergence="hutchinson", n_probes=0), I, "n_probes"),
    ("ll seed", lambda: _ll(divergence="hutchinson", seed=-1), I, "seed"),
    ("ll divergence", lambda: _ll(divergence="trace"), I, "divergence"),
    ("ll x 3-D", lambda: _ll(x=torch.zeros(2, 2, 1)), S, "x must"),
    ("ll x nan", lambda: _ll(x=torch.full((2, 1), NAN)), I, "x must"),
    ("ll x complex", lambda: _ll(x=torch.zeros(2, 1, dtype=torch.complex128)), I, "x must"),
    ("ll x strings", lambda: _ll(x=[["a"]]), I, "x must"),
    ("ll dtype", lambda: _ll(dtype="float16"), I, "dtype"),
    ("ll return_stats", lambda: _ll(return_stats="yes"), I, "return_stats"),
    ("ll forward", lambda: _ll(forward=5), I, "forward"),
    ("ll forward without prior", lambda: _ll(forward=OU), I, "prior_logp"),
    ("ll forward state-dependent", lambda: _ll(forward=type("G", (), {
        "T": 1.0, "drift": lambda self, t, x: 0 * x, "diffusion": lambda self, t, x: x,
        "prior_logp": lambda self, x: 0 * x[:, 0]})()), I, "diffusion"),
    ("ll score", lambda: _ll(score=5), I, "score"),
    ("ll score numpy", lambda: _ll(score=lambda t, x: np.zeros(tuple(x.shape))), S, "score"),
    ("dequantize n_bins float", lambda: dequantize(np.zeros((1, 1), dtype=int), 2.5), I, "n_bins"),
    ("dequantize n_bins 0", lambda: dequantize(np.zeros((1, 1), dtype=int), 0), I, "n_bins"),
    ("dequantize x range", lambda: dequantize(np.array([[4]]), 4), I, "x must"),
    ("dequantize x fractional", lambda: dequantize(np.array([[0.5]]), 4), I, "x must"),
    ("dequantize x shape", lambda: dequantize(np.zeros((1, 1, 1), dtype=int), 4), S, "x must"),
    ("dequantize x bool", lambda: dequantize(np.array([[True]]), 4), I, "x must"),
    ("dequantize seed", lambda: dequantize(np.zeros((1, 1), dtype=int), 4, seed=1.5), I, "seed"),
    ("bits_per_dim range order", lambda: bits_per_dim(VP, _tscore, np.zeros((1, 1), dtype=int), n_bins=4,
                                                      data_range=(1.0, 0.0)), I, "data_range"),
    ("bits_per_dim range inf", lambda: bits_per_dim(VP, _tscore, np.zeros((1, 1), dtype=int), n_bins=4,
                                                    data_range=(0.0, INF)), I, "data_range"),
    ("bits_per_dim range scalar", lambda: bits_per_dim(VP, _tscore, np.zeros((1, 1), dtype=int), n_bins=4,
                                                       data_range=1.0), I, "data_range"),
]


@pytest.mark.parametrize("label, fn, exc, name", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_typed_error_naming_the_argument(label, fn, exc, name):
    _refused(fn, exc, name)


def test_grad_clip_positive_still_trains_and_clips():
    """The accepted side of grad_clip: a positive norm is used as the max global gradient norm."""
    net = ScoreMLP(1, hidden=8, depth=1, sde=VP, seed=0)
    hist = train(net, MIX, VP, steps=30, batch_size=64, lr=1e-2, seed=0, progress=False, grad_clip=0.5)
    assert np.isfinite(hist).all() and hist.shape == (30,)


def test_a_crafted_checkpoint_config_is_refused_before_the_model_is_built(monkeypatch):
    """hidden=20000 would be a 3.2 GB ScoreMLP: the count from the config (state_size) is compared with the
    stored weights first, so the constructor is never called."""
    built = []
    original = ScoreMLP.__init__

    def spy(self, *a, **k):
        built.append(k)
        original(self, *a, **k)

    monkeypatch.setattr(ScoreMLP, "__init__", spy)
    with pytest.raises(CheckpointError, match="refusing to build"):
        load_checkpoint(ScoreMLP, _checkpoint(lambda p: p["config"].update(hidden=20_000)), sde=VP)
    assert built == []
    load_checkpoint(ScoreMLP, _checkpoint(lambda p: None), sde=VP)  # the untouched file still loads
    assert len(built) == 1


# --- hypothesis families -------------------------------------------------------------------------------------------
_NOT_COUNTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3),
                        st.integers(max_value=0))


@SETTINGS
@given(_NOT_COUNTS)
def test_plugin_counts_are_integers_never_truncated(bad):
    _refused(lambda: VP.prior_sample(bad, 1), InvalidArgumentError, "n must")
    _refused(lambda: _sample(n=bad), InvalidArgumentError, "n must")
    _refused(lambda: _train(steps=bad), InvalidArgumentError, "steps")
    _refused(lambda: sks.LangevinCorrector(MIX, n_steps=bad), InvalidArgumentError, "n_steps")
    _refused(lambda: _ll(max_steps=bad), InvalidArgumentError, "max_steps")
    _refused(lambda: dequantize(np.zeros((1, 1), dtype=int), bad), InvalidArgumentError, "n_bins")
    if not (isinstance(bad, int) and bad == 0):  # n = 0 is an empty sample (accepted)
        _refused(lambda: MIX.sample(bad), InvalidArgumentError, "n")


_NOT_FINITE = st.one_of(st.sampled_from([NAN, INF, -INF, "1.0", None, 1j, True]))


@SETTINGS
@given(_NOT_FINITE, st.sampled_from([
    ("sigma_min", lambda v: skd.VESDE(sigma_min=v)), ("sigma_max", lambda v: skd.VESDE(sigma_max=v)),
    ("beta_min", lambda v: skd.VPSDE(beta_min=v)), ("beta_max", lambda v: skd.SubVPSDE(beta_max=v)),
    ("theta", lambda v: skd.OUSDE(theta=v)), ("sigma", lambda v: skd.OUSDE(sigma=v)),
    ("mu", lambda v: skd.OUSDE(mu=v)), ("T must", lambda v: sks.reverse(OU, MIX, T=v)),
    ("eps", lambda v: _sample(eps=v)), ("lr", lambda v: _train(lr=v)), ("grad_clip", lambda v: _train(grad_clip=v)),
    ("rtol", lambda v: _ll(rtol=v)), ("atol", lambda v: _ll(atol=v)), ("first_step", lambda v: _ll(first_step=v)),
    ("snr", lambda v: sks.LangevinCorrector(MIX, snr=v)), ("std", lambda v: sks.from_epsilon(_tscore, v)),
]))
def test_plugin_parameters_refuse_non_finite_and_non_real_values(bad, case):
    name, fn = case
    if bad is None and name in ("grad_clip", "first_step", "eps"):
        return  # None is their documented default ("no clipping", "(T - eps)/100", forward.t_min or 1e-3)
    _refused(lambda: fn(bad), InvalidArgumentError, name)


@SETTINGS
@given(st.floats(max_value=-1e-300, allow_nan=False), st.sampled_from([
    ("grad_clip", lambda v: _train(grad_clip=v)), ("lr", lambda v: _train(lr=v)), ("rtol", lambda v: _ll(rtol=v)),
    ("atol", lambda v: _ll(atol=v)), ("eps", lambda v: _sample(eps=v)),
    ("rtol", lambda v: _sample(method="ode", solver="dopri5", rtol=v)),
]))
def test_negative_tolerances_and_rates_are_refused(bad, case):
    name, fn = case
    _refused(lambda: fn(bad), InvalidArgumentError, name)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["weights", "means", "covs"]), st.data())
def test_plugin_mixture_parameters_refuse_nan_anywhere(K, d, which, data):
    weights, means, covs = np.full(K, 1.0 / K), np.zeros((K, d)), np.stack([np.eye(d)] * K)
    flat = {"weights": weights, "means": means, "covs": covs}[which].reshape(-1)
    flat[data.draw(st.integers(0, flat.size - 1))] = NAN
    _refused(lambda: sks.GaussianMixture(weights, means, covs), InvalidArgumentError, which)
