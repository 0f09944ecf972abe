"""The torch backend: same numbers as NumPy, torchsde interop, gradients, no per-step host sync."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchsde = pytest.importorskip("torchsde")

import sdekit as sk  # noqa: E402
from sdekit import philox  # noqa: E402
from sdekit.backends.torch_backend import philox4x32_torch  # noqa: E402

A = np.array([[-1.0, 0.3], [0.2, -0.5]])
B = np.array([[[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]]])


def _problems(xp_matmul):
    """One 2-d SDE per noise type, written with operators only so NumPy and torch both run it."""
    diag = sk.SDE(lambda t, x: xp_matmul(x), lambda t, x: 0.3 * x + 0.1)
    scalar = sk.SDE(lambda t, x: xp_matmul(x), lambda t, x: 0.2 * x + 0.1, noise="scalar")
    general = sk.SDE(lambda t, x: xp_matmul(x), lambda t, x: (1.0 + 0.1 * x[:, :, None]) * _b(x),
                     noise="general", brownian_dim=3)
    additive = sk.SDE(lambda t, x: xp_matmul(x), lambda t, x: 0.0 * x[:, :, None] + _b(x), noise="general",
                      brownian_dim=3, additive=True)
    return {"diagonal": diag, "scalar": scalar, "general": general, "additive": additive}


def _b(x):
    return torch.as_tensor(B, dtype=x.dtype) if isinstance(x, torch.Tensor) else B


def _matmul(x):
    a = torch.as_tensor(A, dtype=x.dtype) if isinstance(x, torch.Tensor) else A
    return x @ a.T


PROBLEMS = _problems(_matmul)
CASES = [
    ("diagonal", "ito", ["euler_maruyama", "milstein", "predictor_corrector"]),
    ("diagonal", "stratonovich", ["heun", "milstein"]),
    ("scalar", "ito", ["euler_maruyama", "milstein", "predictor_corrector"]),
    ("scalar", "stratonovich", ["heun", "milstein"]),
    ("general", "ito", ["euler_maruyama", "predictor_corrector"]),
    ("general", "stratonovich", ["heun"]),
    ("additive", "ito", ["euler_maruyama", "heun", "predictor_corrector"]),
]


def test_philox_words_are_bit_identical_to_the_numpy_reference():
    rng = np.random.default_rng(0)
    ctr = [rng.integers(0, 2**32, 4096, dtype=np.uint64) for _ in range(4)]
    ref = philox.philox4x32(*ctr, np.uint64(0xA4093822), np.uint64(0x299F31D0))
    got = philox4x32_torch(*[torch.tensor(c.astype(np.int64)) for c in ctr], 0xA4093822, 0x299F31D0)
    for r, g in zip(ref, got):
        assert np.array_equal(r.astype(np.int64), g.numpy())


def test_brownian_paths_agree_with_numpy():
    kw = dict(seed=2**40 + 17, segments=3)
    bn = sk.BrownianPath(64, 3, (0.5, 2.0), **kw)
    bt = sk.BrownianPath(64, 3, (0.5, 2.0), backend="torch", **kw)
    for t in (0.5, 0.75, 1.25, 1.3333333, 2.0):  # on and off the tree's nodes
        assert np.allclose(bt.value(t).numpy(), bn.value(t), rtol=0, atol=1e-12)
    assert np.allclose(bt.aux_normals(5, 1, dim=2).numpy(), bn.aux_normals(5, 1, dim=2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("noise, calculus, methods", CASES)
def test_every_method_and_noise_type_equals_numpy(noise, calculus, methods):
    sde = PROBLEMS[noise]
    if calculus != sde.calculus:
        sde = sde.with_calculus(calculus)
    x0 = np.array([1.0, -0.5])
    for method in methods:
        ref = sk.solve(sde, x0, (0.0, 1.0), n_steps=24, n_paths=16, method=method, seed=3, backend="numpy",
                       save_at=[0.3, 1.0])
        got = sk.solve(sde, torch.tensor(x0), (0.0, 1.0), n_steps=24, n_paths=16, method=method, seed=3,
                       save_at=[0.3, 1.0])
        assert got.backend == "torch" and got.ys.dtype == torch.float64
        np.testing.assert_allclose(got.ys.numpy(), ref.ys, rtol=1e-10, atol=1e-12)
        assert got.stats["nfe"] == ref.stats["nfe"]


def test_ode_methods_equal_numpy():
    ode = sk.ODE(lambda t, x: -x * x)
    for method in ("euler", "heun", "rk4", "dopri5"):
        ref = sk.solve(ode, 1.0, (0.0, 1.0), n_steps=10, method=method, backend="numpy")
        got = sk.solve(ode, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=10, method=method)
        np.testing.assert_allclose(got.ys.numpy(), ref.ys, rtol=1e-10)


class _SdekitBrownian(torchsde._brownian.BaseBrownian):
    """An sdekit BrownianPath presented as torchsde's Brownian object (shared increments)."""

    def __init__(self, bm, like):
        super().__init__()
        self.bm, self._like = bm, like

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        if tb is None:
            return self.bm.value(float(ta))
        return self.bm.increment(float(ta), float(tb))

    shape = property(lambda self: (self.bm.n_paths, self.bm.dim))
    dtype = property(lambda self: self._like.dtype)
    device = property(lambda self: self._like.device)
    levy_area_approximation = property(lambda self: "none")

    def __repr__(self):
        return "SdekitBrownian"


class _TorchsdeGBM(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor([0.5, -0.2], dtype=torch.float64))

    def f(self, t, y):
        return self.mu * y + torch.sin(t) * 0.1  # uses t as a tensor, as torchsde modules do

    def g(self, t, y):
        return 0.4 * y


def test_torchsde_agrees_on_shared_increments():
    sde = _TorchsdeGBM()
    y0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64).expand(8, 2).clone()
    bm = sk.BrownianPath(8, 2, (0.0, 1.0), seed=4, backend="torch")
    ours = sk.solve(sde, y0, (0.0, 1.0), n_steps=32, brownian=bm)
    theirs = torchsde.sdeint(sde, y0, torch.tensor([0.0, 1.0], dtype=torch.float64), method="euler",
                             dt=1.0 / 32, bm=_SdekitBrownian(bm, y0))
    np.testing.assert_allclose(ours.ys.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_gradients_match_finite_differences():
    sde = _TorchsdeGBM()
    y0 = torch.ones(2, dtype=torch.float64)

    def loss():
        sol = sk.solve(sde, y0, (0.0, 1.0), n_steps=20, n_paths=64, seed=1)
        return (sol.ys[-1] ** 2).mean()

    value = loss()
    value.backward()
    grad = sde.mu.grad.clone()
    h = 1e-6
    fd = []
    for k in range(2):
        with torch.no_grad():
            sde.mu[k] += h
            up = loss().item()
            sde.mu[k] -= 2 * h
            down = loss().item()
            sde.mu[k] += h
        fd.append((up - down) / (2 * h))
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-6)


def test_dtype_and_device_follow_x0():
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    s32 = sk.solve(gbm, torch.ones(1, dtype=torch.float32), (0.0, 1.0), n_steps=8, n_paths=4)
    assert s32.ys.dtype == torch.float32 and s32.ys.device.type == "cpu"
    s64 = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=8, n_paths=4)
    np.testing.assert_allclose(s32.ys.numpy(), s64.ys.numpy(), rtol=1e-5)
    half = sk.solve(gbm, torch.ones(1, dtype=torch.float16), (0.0, 1.0), n_steps=8, n_paths=4)
    assert half.ys.dtype == torch.float32  # half-precision x0: float32 state


def test_nonfinite_state_raises_after_the_loop_with_step_and_time():
    blow = sk.SDE(lambda t, x: x * x * x, lambda t, x: 0.0 * x, additive=True)
    with pytest.raises(sk.errors.NonFiniteError, match="step") as info:
        sk.solve(blow, torch.full((1,), 10.0, dtype=torch.float64), (0.0, 1.0), n_steps=100)
    assert 0 <= info.value.step < 100
    assert info.value.time == pytest.approx(info.value.step / 100)


def test_progress_bar(capsys):
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=5, progress=True)
    assert "5/5" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    cpu = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=16, n_paths=32)
    gpu = sk.solve(gbm, torch.ones(1, dtype=torch.float64, device="cuda"), (0.0, 1.0), n_steps=16, n_paths=32)
    assert gpu.ys.device.type == "cuda"
    np.testing.assert_allclose(gpu.ys.cpu().numpy(), cpu.ys.numpy(), rtol=1e-10)
