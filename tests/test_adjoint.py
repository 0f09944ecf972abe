"""sk.solve(..., adjoint=True): the stochastic adjoint against backpropagation through the steps.

What each method's adjoint promises (sdekit.adjoint): reversible Heun is exact (to round-off);
every other method solves the adjoint SDE, which converges to the pathwise gradient, so its
distance to backpropagation through that method's own steps shrinks with dt at the method's
pathwise rate (1 for Milstein and additive noise, 1/2 for Euler-Maruyama on multiplicative noise).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sdekit as sk  # noqa: E402
from sdekit.adjoint import EXACT_METHODS, adjoint_kind, find_parameters  # noqa: E402
from sdekit.errors import BackendError, IncompatibleMethodError, InvalidArgumentError  # noqa: E402
from sdekit.solvers import get_solver  # noqa: E402

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("torch_one_thread")


class NeuralSDE(torch.nn.Module):
    """MLP drift and a per-component MLP diffusion (diagonal noise: g_i depends on x_i only)."""

    def __init__(self, d=3, hidden=16, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.d = d
        self.f_net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, d))
        self.g_net = torch.nn.Sequential(torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1),
                                         torch.nn.Sigmoid())
        self.double()

    def drift(self, t, x):
        return self.f_net(x) + 0.1 * torch.sin(t) * x

    def diffusion(self, t, x):
        n, d = x.shape
        return 0.2 + self.g_net(x.reshape(n * d, 1)).reshape(n, d)


def _flat(grads, like):
    return torch.cat([torch.zeros(p.numel(), dtype=F64) if g is None else g.reshape(-1) for g, p in zip(grads, like)])


def _solve(model, calculus, method, adjoint, n_steps, x0, seed=3, save_at=(0.5, 1.0), additive=False):
    diffusion = (lambda t, x: 0.3 + 0.0 * x) if additive else model.diffusion
    sde = sk.SDE(model.drift, diffusion, calculus=calculus, additive=additive)
    return sk.solve(sde, x0, (0.0, 1.0), n_steps=n_steps, method=method, seed=seed, save_at=list(save_at),
                    adjoint=adjoint)


def _gradient(model, calculus, method, adjoint, n_steps, x0, **kw):
    x0 = x0.clone().requires_grad_(True)
    sol = _solve(model, calculus, method, adjoint, n_steps, x0, **kw)
    loss = (sol.ys[-1] ** 2).sum() + torch.sin(sol.ys[0]).sum()
    params = [x0] + list(model.parameters())
    return _flat(torch.autograd.grad(loss, params, allow_unused=True), params), sol


@pytest.fixture(scope="module")
def model():
    return NeuralSDE()


@pytest.fixture(scope="module")
def x0():
    return torch.randn(32, 3, dtype=F64, generator=torch.Generator().manual_seed(1))


def test_reversible_heun_adjoint_equals_backprop(model, x0):
    # The acceptance figure: MLP drift and diffusion, diagonal noise, 200 steps, float64, 1e-8 relative.
    a, sa = _gradient(model, "stratonovich", "reversible_heun", True, 200, x0)
    b, sb = _gradient(model, "stratonovich", "reversible_heun", False, 200, x0)
    assert torch.equal(sa.ys, sb.ys)  # the forward is the ordinary solve on the same path
    assert sa.stats["adjoint"] == "exact"
    assert float((a - b).norm() / b.norm()) < 1e-8


@pytest.mark.parametrize("noise", ["scalar", "general"])
def test_reversible_heun_adjoint_exact_for_every_noise_type(noise):
    torch.manual_seed(2)
    net = torch.nn.Linear(2, 2).double()
    if noise == "scalar":
        sde = sk.SDE(lambda t, x: net(x), lambda t, x: 0.3 * torch.tanh(net(x)) + 0.2, noise="scalar",
                     calculus="stratonovich")
    else:
        w = torch.nn.Parameter(torch.tensor([[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]], dtype=F64))
        sde = sk.SDE(lambda t, x: net(x), lambda t, x: w * (1.0 + 0.2 * torch.tanh(x))[:, :, None],
                     noise="general", brownian_dim=3, calculus="stratonovich")
    x0 = torch.randn(8, 2, dtype=F64)
    params = list(net.parameters()) + ([w] if noise == "general" else [])
    out = []
    for adjoint in (True, False):
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=50, method="reversible_heun", adjoint=adjoint,
                       adjoint_params=params if adjoint else None, save_at="steps")
        out.append(_flat(torch.autograd.grad(sol.ys.pow(2).mean(), params), params))
    assert float((out[0] - out[1]).norm() / out[1].norm()) < 1e-10


def _slope(steps, errors):
    return float(np.polyfit(np.log(1.0 / np.asarray(steps)), np.log(errors), 1)[0])


@pytest.mark.parametrize("method, additive, min_slope", [
    ("milstein", False, 0.75),         # pathwise order 1
    ("euler_maruyama", True, 0.75),    # additive noise: order 1
    ("euler_maruyama", False, 0.3),    # multiplicative noise: order 1/2
])
def test_continuous_adjoint_converges_to_backprop(model, x0, method, additive, min_slope):
    steps = [20, 40, 80, 160]
    errors = []
    for n in steps:
        a, sa = _gradient(model, "ito", method, True, n, x0, additive=additive)
        b, _ = _gradient(model, "ito", method, False, n, x0, additive=additive)
        assert sa.stats["adjoint"] == "continuous"
        errors.append(float((a - b).norm() / b.norm()))
    assert errors[-1] < errors[0] / 2 ** (3 * min_slope)
    assert _slope(steps, errors) > min_slope
    assert errors[-1] < 0.03  # small at 160 steps, not round-off


def test_adjoint_gradients_match_finite_differences():
    # A scalar parameter; central differences of the *same-path* solve (common random numbers).
    theta = torch.tensor(0.7, dtype=F64, requires_grad=True)

    def make(th):
        return sk.SDE(lambda t, x: -th * x + torch.sin(x), lambda t, x: 0.3 * torch.cos(x) + 0.1 * th,
                      calculus="stratonovich")

    x0 = torch.linspace(-1.0, 1.0, 16, dtype=F64)[:, None]

    def loss(th, method, adjoint):
        sol = sk.solve(make(th), x0, (0.0, 1.0), n_steps=200, method=method, seed=5, adjoint=adjoint,
                       adjoint_params=[th] if adjoint else None)
        return (sol.ys[-1] ** 2).mean()

    h = 1e-5
    with torch.no_grad():
        fd = {m: (loss(theta + h, m, False) - loss(theta - h, m, False)) / (2 * h)
              for m in ("reversible_heun", "heun")}
    g_exact, = torch.autograd.grad(loss(theta, "reversible_heun", True), [theta])
    assert abs(float(g_exact - fd["reversible_heun"])) < 1e-7 * max(1.0, abs(float(fd["reversible_heun"])))
    g_cont, = torch.autograd.grad(loss(theta, "heun", True), [theta])
    assert abs(float(g_cont - fd["heun"])) < 2e-2 * abs(float(fd["heun"]))  # O(dt) at dt = 1/200


def test_saved_tensors_do_not_grow_with_the_number_of_steps(model, x0):
    """What the forward pass keeps for backward: O(saved states) with the adjoint, O(steps) without."""
    def saved_bytes(n_steps, adjoint):
        total = [0]

        def pack(t):
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            sol = _solve(model, "stratonovich", "reversible_heun", adjoint, n_steps, x0.clone().requires_grad_(True))
        sol.ys.sum().backward()  # the backward pass runs (and frees its one-step graphs) outside the count
        return total[0]

    assert saved_bytes(400, True) == saved_bytes(100, True)
    assert saved_bytes(400, False) > 3.5 * saved_bytes(100, False)


def test_ode_adjoint_converges():
    torch.manual_seed(4)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    x0 = torch.randn(4, 2, dtype=F64)
    out = {}
    for adjoint in (True, False):
        sol = sk.solve(sk.ODE(lambda t, x: net(x)), x0, (0.0, 1.0), n_steps=200, method="rk4", adjoint=adjoint)
        out[adjoint] = _flat(torch.autograd.grad(sol.ys[-1].sum(), list(net.parameters())), list(net.parameters()))
    assert float((out[True] - out[False]).norm() / out[False].norm()) < 1e-4  # Heun backward, O(dt^2)


def test_non_leaf_adjoint_params_reach_upstream_parameters():
    # torchsde's latent SDE passes a context tensor computed by an encoder: its gradient must flow on.
    torch.manual_seed(0)
    enc = torch.nn.Linear(3, 2).double()
    ctx = enc(torch.ones(1, 3, dtype=F64))
    sde = sk.SDE(lambda t, x: -x + ctx, lambda t, x: 0.2 + 0.0 * x, calculus="stratonovich", additive=True)
    x0 = torch.zeros(8, 2, dtype=F64)
    grads = []
    for adjoint in (True, False):
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=40, method="reversible_heun", adjoint=adjoint,
                       adjoint_params=[ctx] if adjoint else None)
        grads.append(torch.autograd.grad(sol.ys[-1].sum(), [enc.weight], retain_graph=True)[0])
    assert torch.allclose(grads[0], grads[1], rtol=1e-10, atol=0)


def test_torchsde_module_parameters_found_by_default():
    class Mod(torch.nn.Module):
        noise_type, sde_type = "diagonal", "stratonovich"

        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(-0.4, dtype=F64))

        def f(self, t, y):
            return self.a * y

        def g(self, t, y):
            return 0.1 + 0.0 * y

    mod = Mod()
    sol = sk.solve(mod, torch.ones(4, 1, dtype=F64), (0.0, 1.0), n_steps=20, method="reversible_heun", adjoint=True)
    sol.ys[-1].sum().backward()
    assert mod.a.grad is not None and float(mod.a.grad) > 0


def test_parameter_discovery():
    net = torch.nn.Linear(2, 2)
    w = torch.ones(2, requires_grad=True)
    frozen = torch.ones(2)
    assert len(find_parameters(lambda t, x: net(x) * w + frozen)) == 3
    assert len(find_parameters(net.forward)) == 2
    assert find_parameters(lambda t, x: x) == []


def test_adjoint_kind_is_declared_per_method():
    assert EXACT_METHODS == {"reversible_heun"}
    assert adjoint_kind(get_solver("reversible_heun")) == "exact"
    for name in ("euler_maruyama", "milstein", "heun", "sri", "implicit_em"):
        assert adjoint_kind(get_solver(name)) == "continuous"


def test_refusals():
    net = torch.nn.Linear(1, 1).double()
    sde = sk.SDE(lambda t, x: net(x), lambda t, x: 0.2 + 0.0 * x)
    x0 = torch.ones(4, 1, dtype=F64)
    np_sde = sk.SDE(lambda t, x: -x, lambda t, x: 0.2 + 0.0 * x)
    with pytest.raises(BackendError, match="torch"):
        sk.solve(np_sde, np.ones(1), (0.0, 1.0), n_steps=4, adjoint=True)
    with pytest.raises(IncompatibleMethodError, match="fixed-step"):
        sk.solve(sde, x0, (0.0, 1.0), adjoint=True, adaptive=True)
    general = sk.SDE(lambda t, x: net(x), lambda t, x: 0.2 + 0.0 * x[:, :, None] * torch.ones(1, 1, 2, dtype=F64),
                     noise="general", brownian_dim=2)
    with pytest.raises(IncompatibleMethodError, match="auxiliary noise"):
        sk.solve(general, x0, (0.0, 1.0), n_steps=4, method="weak2", adjoint=True)
    with pytest.raises(InvalidArgumentError, match="adjoint_params applies"):
        sk.solve(sde, x0, (0.0, 1.0), n_steps=4, adjoint_params=list(net.parameters()))
    with pytest.raises(InvalidArgumentError, match=r"adjoint_params\[1\]"):
        sk.solve(sde, x0, (0.0, 1.0), n_steps=4, adjoint=True, adjoint_params=[net.weight, "bias"])
    with pytest.raises(InvalidArgumentError, match="args= "):
        sk.solve(sde, x0, (0.0, 1.0), n_steps=4, adjoint=True, args=np.ones(4))
    with pytest.raises(InvalidArgumentError, match="args= "):
        sk.solve(sde, x0, (0.0, 1.0), n_steps=4, logqp=lambda t, x: -x, args=np.ones(4))
    with pytest.raises(InvalidArgumentError, match="adjoint must be"):
        sk.solve(sde, x0, (0.0, 1.0), n_steps=4, adjoint="yes")
    with pytest.raises(InvalidArgumentError, match="nothing to differentiate"):
        sk.solve(sk.SDE(lambda t, x: -x, lambda t, x: 0.2 + 0.0 * x), x0, (0.0, 1.0), n_steps=4, adjoint=True)
    coupled = sk.SDE(lambda t, x: net(x), lambda t, x: 0.2 + 0.1 * torch.tanh(x.flip(1)))
    with pytest.raises(IncompatibleMethodError, match="depends on"):
        sk.solve(coupled, torch.ones(4, 2, dtype=F64), (0.0, 1.0), n_steps=4, adjoint=True,
                 adjoint_params=list(net.parameters()))


def test_double_backward_is_refused():
    theta = torch.tensor(0.5, dtype=F64, requires_grad=True)
    sde = sk.SDE(lambda t, x: -theta * x, lambda t, x: 0.2 + 0.0 * x, calculus="stratonovich", additive=True)
    sol = sk.solve(sde, torch.ones(4, 1, dtype=F64), (0.0, 1.0), n_steps=10, method="reversible_heun",
                   adjoint=True, adjoint_params=[theta])
    g, = torch.autograd.grad(sol.ys[-1].sum(), [theta], create_graph=True)
    with pytest.raises(RuntimeError):
        g.backward()


def test_float32_and_event_shapes():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 1, 3, padding=1)
    sde = sk.SDE(lambda t, x: conv(x), lambda t, x: 0.1 + 0.0 * x, calculus="stratonovich", additive=True)
    x0 = torch.randn(4, 1, 5, 5)
    grads = []
    for adjoint in (True, False):
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=20, method="reversible_heun", adjoint=adjoint, seed=1)
        assert sol.ys.shape == (2, 4, 1, 5, 5) and sol.ys.dtype == torch.float32
        grads.append(torch.autograd.grad(sol.ys[-1].pow(2).sum(), [conv.weight])[0])
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)


_METHODS = [  # every registered SDE method, with a problem it accepts (sra needs additive noise)
    ("euler_maruyama", "ito", False), ("heun", "stratonovich", False), ("milstein", "ito", False),
    ("predictor_corrector", "ito", False), ("sri", "ito", False), ("sra", "ito", True), ("weak2", "ito", False),
    ("reversible_heun", "stratonovich", False), ("implicit_em", "ito", False),
]


def test_the_method_table_covers_the_registry():
    from sdekit.solvers import REGISTRY

    assert {m for m, _, _ in _METHODS} == {c.name for c in REGISTRY if c.kind == "sde"}


@pytest.mark.parametrize("method, calculus, additive", _METHODS)
def test_every_method_behaves_as_documented(method, calculus, additive):
    """Exact methods agree with backpropagation to round-off; the others get closer as dt shrinks."""
    model = NeuralSDE(d=2, hidden=8, seed=5)
    x0 = torch.randn(8, 2, dtype=F64, generator=torch.Generator().manual_seed(6))
    diffs = []
    for n in (20, 80):
        a, sa = _gradient(model, calculus, method, True, n, x0, additive=additive)
        b, _ = _gradient(model, calculus, method, False, n, x0, additive=additive)
        diffs.append(float((a - b).norm() / b.norm()))
    if sa.stats["adjoint"] == "exact":
        assert method in EXACT_METHODS and max(diffs) < 1e-10
    else:
        assert diffs[1] < 0.6 * diffs[0] and diffs[1] < 0.05


def test_adjoint_keeps_the_chosen_generator_kernel(model):
    # Each pass of the adjoint queries a fresh copy of the path; the copies must use the kernel the backend chose
    # (the Numba and torch Box-Muller kernels agree only to rounding), so the adjoint's forward is the ordinary
    # solve bit for bit and reversible Heun stays exact.
    from sdekit.backends.torch_backend import TorchBackend

    pytest.importorskip("numba")
    sde = sk.SDE(model.drift, model.diffusion, calculus="stratonovich")
    x0 = torch.randn(1024, 3, dtype=F64, generator=torch.Generator().manual_seed(5))  # ~0.5% of draws differ
    grads, ys = [], []
    for adjoint in (True, False):
        x = x0.clone().requires_grad_(True)
        sol = sk.solve(sde, x, (0.0, 1.0), n_steps=50, method="reversible_heun", seed=3, adjoint=adjoint,
                       backend=TorchBackend(kernel="torch"), save_at="steps")
        params = [x] + list(model.parameters())
        grads.append(_flat(torch.autograd.grad((sol.ys[-1] ** 2).sum(), params), params))
        ys.append(sol.ys.detach())
    assert torch.equal(ys[0], ys[1])
    assert float((grads[0] - grads[1]).norm() / grads[1].norm()) < 1e-12
