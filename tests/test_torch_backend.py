"""The torch backend: same numbers as NumPy, torchsde interop, gradients, no per-step host sync."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchsde = pytest.importorskip("torchsde")

import sdekit as sk  # noqa: E402
from sdekit import philox  # noqa: E402
from sdekit._philox_torch import TorchNormalSource, philox4x32_torch  # noqa: E402
from sdekit.backends.torch_backend import TorchBackend  # noqa: E402

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

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


@pytest.mark.parametrize("kernel", ["torch", "numba"])
def test_every_generator_kernel_gives_the_reference_normals(kernel):
    # Words are bit-identical; normals may differ by the rounding of log in Acklam's tails
    # (an ulp of |z| < 7), hence 1e-13 absolute.
    seed, paths = 2**63 + 12345, np.arange(100, 612, dtype=np.uint64)
    src = TorchNormalSource(seed, 512, 3, path_offset=100, kernel=kernel)
    # every lane, a high counter word, each kind of draw
    for u in (0, 1, 2, 3, 4, 2**33 + 5, philox.aux_draw(7, 3), philox.tree_draw(philox.MAX_SEGMENT, 5, 1),
              philox.stream_draw(200, 2**40)):
        ref = philox.normals(seed, u, paths, 3, compiled=False)
        np.testing.assert_allclose(src.draw(u).numpy(), ref, rtol=0, atol=1e-13)
    pair = src.draw(philox.tree_draw(2, 9, 0), count=2)
    np.testing.assert_allclose(pair[1].numpy(), philox.normals(seed, philox.tree_draw(2, 9, 1), paths, 3,
                                                               compiled=False), rtol=0, atol=1e-13)
    assert src.draw(6, n_comp=5).shape == (512, 5)


def test_eager_and_numba_kernels_give_the_same_solve():
    sde = PROBLEMS["diagonal"]
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    a = sk.solve(sde, x0, (0.0, 1.0), n_steps=12, n_paths=8, seed=5, backend=TorchBackend(kernel="torch"))
    b = sk.solve(sde, x0, (0.0, 1.0), n_steps=12, n_paths=8, seed=5, backend=TorchBackend(kernel="numba"))
    np.testing.assert_allclose(a.ys.numpy(), b.ys.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, d, steps", [(1000, 1, 200), (300, 3, 64), (60_000, 32, 48), (7, 2, 1)])
def test_cpu_grid_path_hands_out_the_node_sweeps_increments(n, d, steps, dtype):
    """The solve's CPU path (a block of the tree per Numba pass) is bit-identical to the node-by-node sweep."""
    from sdekit.brownian import BrownianPath, segments_for

    times = [i / steps for i in range(steps + 1)]
    kw = dict(seed=5, dtype=dtype, backend="torch", segments=segments_for(steps))
    by_node = BrownianPath(n, d, (0.0, 1.0), **kw)
    by_node._source.block_filler = lambda: None
    ref = list(by_node.increments(times))
    got = list(BrownianPath(n, d, (0.0, 1.0), **kw).increments(times))
    assert len(got) == len(ref) == steps
    for a, b in zip(got, ref):
        assert a.dtype == b.dtype == getattr(torch, dtype) and a.shape == (n, d)
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [0, 5, 255, 256, 270, 299])
def test_nonfinite_watch_names_the_first_bad_step(bad):
    # The drift is NaN at step ``bad`` only; 300 steps span two of the watch's buffers.
    def drift(t, x):
        return torch.where(torch.full_like(x, t) == bad / 300, torch.full_like(x, float("nan")), 0.0 * x)

    def zero(t, x):
        return 0.0 * x

    be = TorchBackend()
    with pytest.raises(sk.errors.NonFiniteError) as info:
        sk.solve(sk.SDE(drift, zero, additive=True), torch.zeros(1, dtype=torch.float64), (0.0, 1.0),
                 n_steps=300, n_paths=3, backend=be)
    assert info.value.step == bad and info.value.time == pytest.approx(bad / 300)
    ok = sk.solve(sk.SDE(zero, zero, additive=True), torch.zeros(1), (0.0, 1.0), n_steps=300, backend=be)
    assert torch.isfinite(ok.ys).all()


def test_backend_options_are_checked():
    with pytest.raises(sk.errors.InvalidArgumentError, match="compile"):
        TorchBackend(compile="fastest")
    with pytest.raises(sk.errors.InvalidArgumentError, match="kernel"):
        TorchBackend(kernel="cuda")


@pytest.mark.slow  # torch.compile takes 10-60 s on the CPU
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # raised inside torch.compile
def test_compiled_step_and_generator_equal_eager():
    sde = PROBLEMS["general"].with_calculus("stratonovich")
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    ref = sk.solve(sde, x0, (0.0, 1.0), n_steps=16, n_paths=32, seed=2, method="heun", save_at="steps")
    be = TorchBackend(compile=True, kernel="compiled")
    got = sk.solve(sde, x0, (0.0, 1.0), n_steps=16, n_paths=32, seed=2, method="heun", save_at="steps",
                   backend=be)
    # Fused kernels may contract a*b+c into an FMA: rounding-level differences only.
    np.testing.assert_allclose(got.ys.numpy(), ref.ys.numpy(), rtol=1e-12, atol=1e-14)
    again = sk.solve(sde, x0, (0.0, 1.0), n_steps=16, n_paths=32, seed=3, method="heun", backend=be)
    assert again.ys.shape == (2, 32, 2)


@pytest.mark.slow  # torch.compile
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")
def test_compiled_step_of_a_torchsde_module_does_not_recompile_per_time():
    """torchsde-style ``f(t, y)`` gets a tensor ``t``; the compiled step must not specialise on its value."""
    from torch._dynamo.utils import counters

    class Module(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return 0.5 * y * torch.cos(t)

        def g(self, t, y):
            return 0.3 * y

    torch._dynamo.reset()
    counters.clear()
    y0 = torch.ones(8, 2, dtype=torch.float64)
    got = sk.solve(Module(), y0, (0.0, 1.0), n_steps=24, backend=TorchBackend(compile=True)).ys
    ref = sk.solve(Module(), y0, (0.0, 1.0), n_steps=24).ys
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-12, atol=1e-14)
    assert counters["stats"]["unique_graphs"] <= 3, dict(counters["stats"])


def test_the_loop_never_reads_tensor_values_per_step(monkeypatch):
    """Host reads (``item``, ``bool``, ``int``, ``float``, ``tolist``, ``numpy`` of a result) must not grow with steps.

    On CUDA each of them is a synchronisation; on the CPU we count the calls.
    """
    reads = []
    for name in ("item", "__bool__", "__int__", "__float__", "tolist"):
        original = getattr(torch.Tensor, name)

        def counting(self, *a, _original=original, _name=name, **k):
            reads.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counting)
    sde = PROBLEMS["general"]
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    counts = []
    for n_steps in (8, 64):
        reads.clear()
        sk.solve(sde, x0, (0.0, 1.0), n_steps=n_steps, n_paths=4, method="predictor_corrector",
                 backend=TorchBackend(kernel="torch"))
        counts.append(len(reads))
    assert counts[0] == counts[1] and counts[0] <= 4, counts


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
    """A torchsde module as users write them: tensor ``t``, parameters in drift and diffusion, a prior ``h``."""

    noise_type, sde_type = "diagonal", "ito"

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor([0.5, -0.2], dtype=torch.float64))
        self.sigma = torch.nn.Parameter(torch.tensor(0.4, dtype=torch.float64))

    def f(self, t, y):
        return self.mu * y + torch.sin(t) * 0.1  # uses t as a tensor, as torchsde modules do

    def g(self, t, y):
        return self.sigma * y

    def h(self, t, y):  # torchsde's prior drift (latent SDEs); solving ignores it
        return -y


class _TorchsdeScalar(_TorchsdeGBM):
    noise_type = "scalar"

    def g(self, t, y):
        return (self.sigma * y + 0.1)[:, :, None]  # torchsde's scalar noise: (n, d, 1)


class _TorchsdeGeneral(_TorchsdeGBM):
    noise_type, brownian_size = "general", 3

    def g(self, t, y):
        return (1.0 + 0.1 * y[:, :, None]) * torch.as_tensor(B, dtype=y.dtype) * self.sigma


@pytest.mark.parametrize("module, m", [(_TorchsdeGBM, 2), (_TorchsdeScalar, 1), (_TorchsdeGeneral, 3)])
def test_torchsde_agrees_on_shared_increments(module, m):
    sde = module()
    y0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64).expand(8, 2).clone()
    bm = sk.BrownianPath(8, m, (0.0, 1.0), seed=4, backend="torch")
    ts = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    ours = sk.solve(sde, y0, (0.0, 1.0), n_steps=32, brownian=bm, save_at=ts.numpy())
    theirs = torchsde.sdeint(sde, y0, ts, method="euler", dt=1.0 / 32, bm=_SdekitBrownian(bm, y0))
    np.testing.assert_allclose(ours.ys.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_gradients_match_finite_differences():
    """d/d(mu, sigma) of a Monte Carlo loss: autograd through the loop against central differences.

    The loss is a smooth function of the parameters for fixed noise (same seed), so central
    differences with h = 1e-6 in float64 are accurate to about h^2 + eps/h ~ 1e-10 relative.
    """
    sde = _TorchsdeGBM()
    params = [sde.mu, sde.sigma]
    y0 = torch.ones(2, dtype=torch.float64)

    def loss():
        sol = sk.solve(sde, y0, (0.0, 1.0), n_steps=20, n_paths=64, seed=1, method="milstein")
        return (sol.ys[-1] ** 2).mean()

    loss().backward()
    grad = torch.cat([p.grad.reshape(-1) for p in params]).clone()
    h = 1e-6
    fd = []
    for p in params:
        flat = p.data.view(-1)
        for k in range(flat.numel()):
            flat[k] += h
            up = loss().item()
            flat[k] -= 2 * h
            down = loss().item()
            flat[k] += h
            fd.append((up - down) / (2 * h))
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-6)


def test_gradients_through_an_nn_module_drift():
    torch.manual_seed(0)  # initialises the layer's weights only; the noise comes from seed=
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    sde = sk.SDE(lambda t, x: net(x), lambda t, x: 0.3 + 0.0 * x, additive=True)

    def loss():
        sol = sk.solve(sde, torch.zeros(2, dtype=torch.float64), (0.0, 1.0), n_steps=10, n_paths=16, seed=2)
        return sol.ys[-1].sum(dim=1).pow(2).mean()

    loss().backward()
    w = net[0].weight
    h = 1e-6
    with torch.no_grad():
        w[1, 0] += h
        up = loss().item()
        w[1, 0] -= 2 * h
        down = loss().item()
        w[1, 0] += h
    assert w.grad[1, 0].item() == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_half_precision_model_with_float32_state():
    """A bf16 model inside the drift: the state stays float32 (torch promotes bf16 + f32 to f32)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2).to(torch.bfloat16).requires_grad_(False)
    net32 = torch.nn.Linear(2, 2).requires_grad_(False)
    net32.load_state_dict({k: v.float() for k, v in net.state_dict().items()})
    x0 = torch.tensor([1.0, 0.5])
    sol = sk.solve(sk.SDE(lambda t, x: net(x.to(torch.bfloat16)), lambda t, x: 0.2 * x), x0, (0.0, 1.0),
                   n_steps=8, n_paths=4)
    ref = sk.solve(sk.SDE(lambda t, x: net32(x), lambda t, x: 0.2 * x), x0, (0.0, 1.0), n_steps=8, n_paths=4)
    assert sol.ys.dtype == torch.float32
    # bf16 keeps 8 significant bits (relative rounding 4e-3 per evaluation, 8 steps of size 1/8).
    np.testing.assert_allclose(sol.ys.numpy(), ref.ys.numpy(), rtol=0.03, atol=0.03)
    assert not torch.equal(sol.ys, ref.ys)  # the bf16 model really ran


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


@CUDA
@pytest.mark.gpu
def test_cuda_generator_is_bit_identical_to_the_cpu():
    seed, paths = 99, np.arange(4096, dtype=np.uint64)
    for kernel in ("torch", "compiled"):
        src = TorchNormalSource(seed, 4096, 2, device="cuda", kernel=kernel)
        for u in (1, 2**33 + 6, philox.aux_draw(3, 1)):
            ref = philox.normals(seed, u, paths, 2, compiled=False)
            np.testing.assert_allclose(src.draw(u).cpu().numpy(), ref, rtol=0, atol=1e-13)


@CUDA
@pytest.mark.gpu
def test_cuda_loop_syncs_a_constant_number_of_times():
    import warnings

    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    counts = []
    for n_steps in (8, 64):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                sk.solve(gbm, torch.ones(1, device="cuda"), (0.0, 1.0), n_steps=n_steps, n_paths=64)
                torch.cuda.synchronize()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1], counts


@CUDA
@pytest.mark.gpu
def test_cuda_matches_cpu():
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    cpu = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=16, n_paths=32)
    gpu = sk.solve(gbm, torch.ones(1, dtype=torch.float64, device="cuda"), (0.0, 1.0), n_steps=16, n_paths=32)
    assert gpu.ys.device.type == "cuda"
    np.testing.assert_allclose(gpu.ys.cpu().numpy(), cpu.ys.numpy(), rtol=1e-10)
