"""Issue 14 on real model shapes: (n, 3, 8, 8) image states, a float32 conv-net score, and a tiny randomly
initialised diffusers ``UNet2DModel`` through ``sks.from_diffusers`` (built here; no downloads).

Every method of ``skd.sample`` runs on them at 10 score evaluations without a ``dtype`` argument, the model
is called in its own dtype (float32) with the time as an ``(n,)`` tensor, ``stats["nfe"]`` is the planned
budget and equals the number of model calls; the adapter's score is the analytically converted network
output (the scheduler's own ``alphas_cumprod`` at integer timesteps, not sdekit's interpolation).
"""

import numpy as np
import pytest

import sdekit_diffusion as skd
import sdekit_scores as sks

torch = pytest.importorskip("torch")

SHAPE = (3, 8, 8)
N = 4
# ode's default rk4 spends 4 per step: 10 is not a budget it can spend, heun's 2 per step is
METHOD_KW = {m: ({"solver": "heun"} if m == "ode" else {}) for m in skd.METHODS}


class ConvEps(torch.nn.Module):
    """A small float32 conv net ε̂(x, t): two 3x3 convolutions with the time as an extra input channel."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 3, 3, padding=1)
        self.seen = []

    def forward(self, t, x):
        self.seen.append((x.dtype, t.dtype, tuple(t.shape), tuple(x.shape)))
        tt = t.reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return 0.1 * self.c2(torch.tanh(self.c1(torch.cat([x, tt], dim=1))))


class ConvScore(ConvEps):
    """The same net read directly as a score s(t, x) = −x + small correction (a Gaussian-like score)."""

    def forward(self, t, x):
        return super().forward(t, x) - x


@pytest.mark.parametrize("method", skd.METHODS)
@pytest.mark.parametrize("kind", ["epsilon", "score"])
def test_float32_conv_net_on_image_states_runs_every_method_without_dtype(method, kind):
    vp = skd.VPSDE()
    net = ConvEps() if kind == "epsilon" else ConvScore()
    score = sks.from_epsilon(net, vp, time="batch") if kind == "epsilon" else sks.as_score(net, time="batch")
    plan = skd.sampling_plan(vp, method, nfe=10, **{k: v for k, v in METHOD_KW[method].items() if k == "solver"})
    sol = skd.sample(vp, score, N, SHAPE, method=method, nfe=10, seed=0, return_solution=True, **METHOD_KW[method])
    x = sol.samples
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (N, *SHAPE)
    assert x.dtype == torch.float32 and bool(torch.isfinite(x).all())
    assert plan.nfe == 10 and sol.stats["nfe"] == 10 and len(net.seen) == 10
    assert all(s == (torch.float32, torch.float32, (N,), (N, *SHAPE)) for s in net.seen), net.seen[:2]


# --- diffusers -------------------------------------------------------------------------------------------------
def _tiny_unet():
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                                 block_out_channels=(16, 32), norm_num_groups=8,
                                 down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D")).eval()
    calls = []
    unet.register_forward_pre_hook(lambda mod, args: calls.append((args[0].dtype, tuple(args[1].shape))))
    return diffusers, unet, calls


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_from_diffusers_score_is_the_converted_model_output(prediction_type):
    """At t = (k+1)/N the adapter feeds timestep k and uses the scheduler's ᾱ_k: score = −ε̂/s, (m v̂ + s x)/(−s),
    (m x̂₀ − x)/s² with m = sqrt(ᾱ_k), s = sqrt(1 − ᾱ_k). Both sides run the same float32 network on the same
    input, so they agree to float32 rounding of the conversion (rtol 1e-5 of the largest entry); the timestep
    reaching the net is k up to one ulp of t·N."""
    diffusers, unet, calls = _tiny_unet()
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type)
    score = sks.from_diffusers(unet, sched)
    abar = sched.alphas_cumprod.double().numpy()
    x = torch.randn(N, *SHAPE, generator=torch.Generator().manual_seed(1))
    for k in (0, 99, 500, 999):
        t = (k + 1) / 1000
        m, s = float(np.sqrt(abar[k])), float(np.sqrt(1 - abar[k]))
        with torch.no_grad():
            out = unet(x, torch.full((N,), float(k))).sample.double()
        xd = x.double()
        expect_x0 = {"epsilon": (xd - s * out) / m, "v_prediction": m * xd - s * out, "sample": out}[prediction_type]
        expect = (m * expect_x0 - xd) / s ** 2
        with torch.no_grad():  # called directly on a tensor, the score keeps autograd (as the module would)
            got, den = score(t, x), score.denoise(t, x)
        assert got.dtype == torch.float32 and calls[-1] == (torch.float32, (N,))
        scale = float(expect.abs().max())
        np.testing.assert_allclose(got.double().numpy(), expect.numpy(), rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(den.double().numpy(), expect_x0.numpy(), rtol=0,
                                   atol=1e-5 * float(expect_x0.abs().max()))
        # a float64 NumPy state: the net still runs in float32, the answer comes back float64 NumPy
        got64 = score(t, xd.numpy())
        assert got64.dtype == np.float64 and calls[-1][0] == torch.float32
        np.testing.assert_allclose(got64, expect.numpy(), rtol=0, atol=1e-5 * scale)
    assert score.schedule.N == 1000 and score.prediction_type == prediction_type


def test_from_diffusers_epsilon_is_the_closed_form_for_the_eps_equals_x_network():
    """A network ε̂(x, k) = x on VP: the score is exactly −x/s_t; float64 end to end (1e-12)."""

    class EpsIsX(torch.nn.Module):
        def forward(self, x, timesteps):
            return x

    cfg = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear"}
    score = sks.from_diffusers(EpsIsX(), cfg)
    abar = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    x = torch.randn(3, 2, dtype=torch.float64)
    for k in (0, 250, 999):
        s = np.sqrt(1 - abar[k])
        np.testing.assert_allclose(score((k + 1) / 1000, x).numpy(), -x.numpy() / s, rtol=1e-12)


@pytest.mark.parametrize("method", skd.METHODS)
def test_sample_runs_every_method_on_a_tiny_unet_at_ten_evaluations(method):
    diffusers, unet, calls = _tiny_unet()
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000)
    forward = skd.DiscreteVPSDE.from_scheduler(sched)
    score = sks.from_diffusers(unet, sched)
    sol = skd.sample(forward, score, N, SHAPE, method=method, nfe=10, seed=0, return_solution=True,
                     **METHOD_KW[method])
    x = sol.samples
    assert tuple(x.shape) == (N, *SHAPE) and x.dtype == torch.float32 and bool(torch.isfinite(x).all())
    assert sol.stats["nfe"] == 10 and sol.stats["nfe_planned"] == 10 and len(calls) == 10
    assert all(c == (torch.float32, (N,)) for c in calls)


def test_batch_size_splits_unet_calls_and_keeps_the_numbers():
    diffusers, unet, calls = _tiny_unet()
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000)
    forward = skd.DiscreteVPSDE.from_scheduler(sched)
    score = sks.from_diffusers(unet, sched)
    a = skd.sample(forward, score, N, SHAPE, method="dpm_solver", nfe=6, seed=0)
    calls.clear()
    b = skd.sample(forward, score, N, SHAPE, method="dpm_solver", nfe=6, seed=0, batch_size=2, return_solution=True)
    assert len(calls) == 12 and all(c[1] == (2,) for c in calls) and b.stats["nfe"] == 6
    # the same float32 convolutions on half batches: equal to float32 rounding
    np.testing.assert_allclose(b.samples.numpy(), a.numpy(), rtol=0, atol=1e-4 * float(a.abs().max()))


def test_the_pretrained_page_recipe_from_a_checkpoint_directory(tmp_path):
    """docs/pretrained.md's ten lines, on a tiny UNet saved the way diffusers pipelines are (unet/, scheduler/)."""
    diffusers, unet, _ = _tiny_unet()
    unet.save_pretrained(tmp_path / "unet")
    diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_pretrained(tmp_path / "scheduler")

    from diffusers import DDPMScheduler, UNet2DModel

    ckpt = str(tmp_path)
    unet = UNet2DModel.from_pretrained(ckpt, subfolder="unet").eval()
    sched = DDPMScheduler.from_pretrained(ckpt, subfolder="scheduler")
    score = sks.from_diffusers(unet, sched)
    forward = skd.DiscreteVPSDE.from_scheduler(sched)
    x = skd.sample(forward, score, 2, (unet.config.in_channels, unet.config.sample_size, unet.config.sample_size),
                   method="dpm_solver", nfe=10, seed=0)
    images = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.uint8


def test_fit_times_on_image_states_with_a_float32_net():
    """skd.fit_times on (n, 3, 8, 8) states with a float32 conv net: the model stays in float32, the grid is
    a budget-exact one that sample takes back, and the pilot's distance to the teacher does not grow."""
    vp = skd.VPSDE()
    net = ConvEps()
    score = sks.from_epsilon(net, vp, time="batch")
    fit = skd.fit_times(vp, score, SHAPE, method="dpm_solver", nfe=6, pilot=8, maxiter=3, teacher_steps=60)
    assert fit.error < 0.5 * fit.start_error and np.all(np.diff(fit.times) < 0) and fit.times.size == 6
    assert all(s[:2] == (torch.float32, torch.float32) for s in net.seen)
    sol = skd.sample(vp, score, N, SHAPE, method="dpm_solver", times=fit, seed=1, return_solution=True)
    assert tuple(sol.samples.shape) == (N, *SHAPE) and sol.stats["nfe"] == 6
