"""sdekit.interop: torchsde programs run after changing one import; Brownian objects both ways; names=, f_and_g."""

import runpy
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchsde = pytest.importorskip("torchsde")

import sdekit as sk  # noqa: E402
import sdekit.interop as ti  # noqa: E402
from sdekit.errors import IncompatibleMethodError, InvalidArgumentError  # noqa: E402

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# torchsde's README example, written from memory; only the import differs.
README = '''
import torch
import sdekit.interop as torchsde

batch_size, state_size, brownian_size = 32, 3, 2
t_size = 20


class SDE(torch.nn.Module):
    noise_type = 'general'
    sde_type = 'ito'

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Linear(state_size, state_size)
        self.sigma = torch.nn.Linear(state_size, state_size * brownian_size)

    def f(self, t, y):
        return self.mu(y)

    def g(self, t, y):
        return self.sigma(y).view(batch_size, state_size, brownian_size)


sde = SDE()
y0 = torch.full((batch_size, state_size), 0.1)
ts = torch.linspace(0, 1, t_size)
ys = torchsde.sdeint(sde, y0, ts)
'''

# torchsde's examples/latent_sde_lorenz.py, written from memory at small sizes (no `fire`, no tqdm; `main`
# is called with small arguments); the torchsde calls, the module and the training loop are the example's.
LATENT = '''
import logging
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.gridspec as gridspec
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn, optim
from torch.distributions import Normal

import sdekit.interop as torchsde


class LinearScheduler(object):
    def __init__(self, iters, maxval=1.0):
        self._iters = max(1, iters)
        self._val = maxval / self._iters
        self._maxval = maxval

    def step(self):
        self._val = min(self._maxval, self._val + self._maxval / self._iters)

    @property
    def val(self):
        return self._val


class StochasticLorenz(object):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, a=(10., 28., 8 / 3), b=(.1, .28, .3)):
        self.a = a
        self.b = b

    def f(self, t, y):
        x1, x2, x3 = torch.split(y, split_size_or_sections=(1, 1, 1), dim=1)
        a1, a2, a3 = self.a
        return torch.cat([a1 * (x2 - x1), a2 * x1 - x2 - x1 * x3, x1 * x2 - a3 * x3], dim=1)

    def g(self, t, y):
        x1, x2, x3 = torch.split(y, split_size_or_sections=(1, 1, 1), dim=1)
        b1, b2, b3 = self.b
        return torch.cat([x1 * b1, x2 * b2, x3 * b3], dim=1)

    @torch.no_grad()
    def sample(self, x0, ts, noise_std, normalize):
        xs = torchsde.sdeint(self, x0, ts)
        if normalize:
            mean, std = torch.mean(xs, dim=(0, 1)), torch.std(xs, dim=(0, 1))
            xs.sub_(mean).div_(std).add_(torch.randn_like(xs) * noise_std)
        return xs


class Encoder(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(Encoder, self).__init__()
        self.gru = nn.GRU(input_size=input_size, hidden_size=hidden_size)
        self.lin = nn.Linear(hidden_size, output_size)

    def forward(self, inp):
        out, _ = self.gru(inp)
        return self.lin(out)


class LatentSDE(nn.Module):
    sde_type = "ito"
    noise_type = "diagonal"

    def __init__(self, data_size, context_size, hidden_size):
        super(LatentSDE, self).__init__()
        self.encoder = Encoder(input_size=data_size, hidden_size=hidden_size, output_size=context_size)
        self.f_net = nn.Sequential(
            nn.Linear(data_size + context_size, hidden_size), nn.Softplus(),
            nn.Linear(hidden_size, hidden_size), nn.Softplus(),
            nn.Linear(hidden_size, data_size))
        self.h_net = nn.Sequential(
            nn.Linear(data_size, hidden_size), nn.Softplus(),
            nn.Linear(hidden_size, hidden_size), nn.Softplus(),
            nn.Linear(hidden_size, data_size))
        self.g_nets = nn.ModuleList([
            nn.Sequential(nn.Linear(1, hidden_size), nn.Softplus(), nn.Linear(hidden_size, 1), nn.Sigmoid())
            for _ in range(data_size)])
        self._ctx = None

    def contextualize(self, ctx):
        self._ctx = ctx

    def f(self, t, y):
        ts, ctx = self._ctx
        i = min(torch.searchsorted(ts, t, right=True), len(ts) - 1)
        return self.f_net(torch.cat((y, ctx[i]), dim=1))

    def h(self, t, y):
        return self.h_net(y)

    def g(self, t, y):
        y = torch.split(y, split_size_or_sections=1, dim=1)
        out = [g_net_i(y_i) for (g_net_i, y_i) in zip(self.g_nets, y)]
        return torch.cat(out, dim=1)

    def forward(self, xs, ts, noise_std, adjoint=False, method="euler"):
        ctx = self.encoder(torch.flip(xs, dims=(0,)))
        ctx = torch.flip(ctx, dims=(0,))
        self.contextualize((ts, ctx))
        if adjoint:
            adjoint_params = (
                (ctx,) + tuple(self.f_net.parameters()) + tuple(self.g_nets.parameters())
                + tuple(self.h_net.parameters()))
            _xs, log_ratio = torchsde.sdeint_adjoint(
                self, xs[0], ts, adjoint_params=adjoint_params, dt=1e-2, logqp=True, method=method)
        else:
            _xs, log_ratio = torchsde.sdeint(self, xs[0], ts, dt=1e-2, logqp=True, method=method)
        xs_dist = Normal(loc=_xs, scale=noise_std)
        log_pxs = xs_dist.log_prob(xs).sum(dim=(0, 2)).mean()
        log_ratio = log_ratio.sum(dim=0).mean()
        return log_pxs, log_ratio

    @torch.no_grad()
    def sample(self, x0, ts, bm=None):
        return torchsde.sdeint(self, x0, ts, names={'drift': 'h'}, dt=1e-3, bm=bm)


def make_dataset(batch_size, noise_std, train_dir, device, t_size):
    data_path = os.path.join(train_dir, 'lorenz_data.pth')
    if os.path.exists(data_path):
        data_dict = torch.load(data_path)
        xs, ts = data_dict['xs'], data_dict['ts']
    else:
        _y0 = torch.randn(batch_size, 3, device=device)
        ts = torch.linspace(0., 1., steps=t_size, device=device)
        xs = StochasticLorenz().sample(_y0, ts, noise_std, normalize=True)
        os.makedirs(os.path.dirname(data_path), exist_ok=True)
        torch.save({'xs': xs, 'ts': ts}, data_path)
    return xs, ts


def vis(xs, ts, latent_sde, bm_vis, img_path, num_samples=4):
    fig = plt.figure(figsize=(20, 9))
    gs = gridspec.GridSpec(1, 2)
    ax00 = fig.add_subplot(gs[0, 0], projection='3d')
    ax01 = fig.add_subplot(gs[0, 1], projection='3d')
    z1, z2, z3 = np.split(xs.cpu().numpy(), indices_or_sections=3, axis=-1)
    [ax00.plot(z1[:, i, 0], z2[:, i, 0], z3[:, i, 0]) for i in range(num_samples)]
    xs = latent_sde.sample(xs[0], ts, bm=bm_vis).cpu().numpy()
    z1, z2, z3 = np.split(xs, indices_or_sections=3, axis=-1)
    [ax01.plot(z1[:, i, 0], z2[:, i, 0], z3[:, i, 0]) for i in range(num_samples)]
    plt.savefig(img_path)
    plt.close()


def main(batch_size=16, context_size=8, hidden_size=16, lr_init=1e-2, lr_gamma=0.999, num_iters=3,
         kl_anneal_iters=500, pause_every=3, noise_std=0.01, adjoint=False, train_dir='./dump/lorenz/',
         method="euler", t_size=12):
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    xs, ts = make_dataset(batch_size=batch_size, noise_std=noise_std, train_dir=train_dir, device=device,
                          t_size=t_size)
    latent_sde = LatentSDE(data_size=3, context_size=context_size, hidden_size=hidden_size).to(device)
    optimizer = optim.Adam(params=latent_sde.parameters(), lr=lr_init)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer=optimizer, gamma=lr_gamma)
    kl_scheduler = LinearScheduler(iters=kl_anneal_iters)
    bm_vis = torchsde.BrownianInterval(size=(batch_size, 3,), device=device, levy_area_approximation="space-time")
    losses = []
    for global_step in range(1, num_iters + 1):
        latent_sde.zero_grad()
        log_pxs, log_ratio = latent_sde(xs, ts, noise_std, adjoint, method)
        loss = -log_pxs + log_ratio * kl_scheduler.val
        loss.backward()
        optimizer.step()
        scheduler.step()
        kl_scheduler.step()
        losses.append(loss.item())
        if global_step % pause_every == 0:
            img_path = os.path.join(train_dir, f'global_step_{global_step:06d}.pdf')
            vis(xs, ts, latent_sde, bm_vis, img_path)
    return losses
'''


def test_readme_example_runs_with_sdekit_interop():
    torch.manual_seed(0)
    ns = runpy.run_path(_write("readme.py", README))
    ys = ns["ys"]
    assert tuple(ys.shape) == (20, 32, 3) and ys.dtype == torch.float32
    assert torch.isfinite(ys).all()
    ys.sum().backward()
    assert ns["sde"].mu.weight.grad is not None


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lorenz")


@pytest.mark.parametrize("adjoint", [False, True])
def test_latent_sde_lorenz_example_runs_with_sdekit_interop(train_dir, adjoint):
    pytest.importorskip("matplotlib")
    torch.manual_seed(0)
    ns = runpy.run_path(_write("latent_sde_lorenz.py", LATENT))
    # The second run loads the data the first stored (as the example does) and skips the (slow) figure.
    losses = ns["main"](adjoint=adjoint, train_dir=str(train_dir) + "/", pause_every=3 if not adjoint else 10)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert (train_dir / "lorenz_data.pth").exists()
    if not adjoint:
        assert (train_dir / "global_step_000003.pdf").exists()


_PROGRAMS = {}


def _write(name, text):
    import tempfile
    from pathlib import Path

    if name not in _PROGRAMS:
        path = Path(tempfile.mkdtemp()) / name
        path.write_text(textwrap.dedent(text))
        _PROGRAMS[name] = str(path)
    return _PROGRAMS[name]


class Diag(torch.nn.Module):
    noise_type, sde_type = "diagonal", "ito"

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.lin = torch.nn.Linear(2, 2).double()

    def f(self, t, y):
        return self.lin(y) + torch.sin(t)

    def g(self, t, y):
        return 0.2 + 0.1 * torch.tanh(y)


def test_torchsde_sdeint_runs_on_an_sdekit_path_and_agrees():
    bm = sk.BrownianPath(8, 2, (0.0, 1.0), seed=4, backend="torch")
    view = ti.as_torchsde_brownian(bm)
    assert isinstance(view, torchsde.BaseBrownian) and tuple(view.shape) == (8, 2) and view.dtype == F64
    y0 = torch.ones(8, 2, dtype=F64)
    ts = torch.linspace(0, 1, 5, dtype=F64)
    theirs = torchsde.sdeint(Diag(), y0, ts, bm=view, method="euler", dt=1.0 / 32)
    ours = ti.sdeint(Diag(), y0, ts, bm=view, method="euler", dt=1.0 / 32)
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    w, u = view(0.25, 0.5, return_U=True)
    h = bm.space_time_levy_area(0.25, 0.5)
    assert torch.allclose(u, 0.25 * (0.5 * w + h))
    assert torch.equal(view(0.5), bm.value(0.5))


def test_torchsde_brownian_objects_drive_sdekit_solves():
    bi = torchsde.BrownianInterval(t0=0.0, t1=1.0, size=(8, 2), dtype=F64, entropy=7,
                                   levy_area_approximation="space-time")
    y0 = torch.ones(8, 2, dtype=F64)
    ts = torch.linspace(0, 1, 5, dtype=F64)
    ours = sk.solve(Diag(), y0, (0.0, 1.0), n_steps=32, save_at=ts.numpy(), brownian=bi, method="euler_maruyama")
    theirs = torchsde.sdeint(Diag(), y0, ts, bm=bi, method="euler", dt=1.0 / 32)
    assert torch.allclose(ours.ys, theirs, rtol=1e-10, atol=1e-12)
    sri = sk.solve(Diag(), y0, (0.0, 1.0), n_steps=32, brownian=bi, method="sri")  # needs the Lévy area
    assert torch.isfinite(sri.ys).all()
    tree = torchsde.BrownianTree(t0=0.0, w0=torch.zeros(8, 2, dtype=F64), t1=1.0, entropy=1)
    assert torch.isfinite(sk.solve(Diag(), y0, (0.0, 1.0), n_steps=8, brownian=tree).ys).all()


def test_names_f_and_g_and_g_prod_modules_give_the_same_numbers():
    base = Diag()

    class Renamed(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def drift(self, t, y):
            return base.f(t, y)

        def vol(self, t, y):
            return base.g(t, y)

    class Both(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"
        calls = 0

        def f_and_g(self, t, y):
            Both.calls += 1
            return base.f(t, y), base.g(t, y)

    class Prod(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return base.f(t, y)

        def g_prod(self, t, y, v):
            return base.g(t, y) * v

    y0 = torch.ones(4, 2, dtype=F64)
    ts = [0.0, 0.5, 1.0]
    kw = dict(dt=0.05, seed=3, method="euler")
    ref = ti.sdeint(base, y0, ts, **kw)
    assert torch.equal(ti.sdeint(Renamed(), y0, ts, names={"drift": "drift", "diffusion": "vol"}, **kw), ref)
    assert torch.equal(ti.sdeint(Both(), y0, ts, **kw), ref)
    assert Both.calls == 20  # one call per step: the diffusion reuses the drift's call
    assert torch.equal(ti.sdeint(Prod(), y0, ts, **kw), ref)


def test_general_g_prod_needs_and_uses_the_brownian_size():
    mat = torch.tensor([[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]], dtype=F64)

    class Gen(torch.nn.Module):
        noise_type, sde_type = "general", "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return mat.expand(y.shape[0], 2, 3)

    class GenProd(Gen):
        g = None

        def g_prod(self, t, y, v):
            return v @ mat.T

    y0 = torch.ones(4, 2, dtype=F64)
    with pytest.raises(InvalidArgumentError, match="brownian_size"):
        ti.sdeint(GenProd(), y0, [0.0, 1.0], dt=0.1, seed=1)
    GenProd.brownian_size = 3
    assert torch.allclose(ti.sdeint(GenProd(), y0, [0.0, 1.0], dt=0.1, seed=1),
                          ti.sdeint(Gen(), y0, [0.0, 1.0], dt=0.1, seed=1))


def test_logqp_returns_torchsdes_pair():
    class Lat(Diag):
        def h(self, t, y):
            return -y

    y0 = torch.ones(4, 2, dtype=F64)
    ts = torch.linspace(0, 1, 6, dtype=F64)
    ys, log_ratio = ti.sdeint(Lat(), y0, ts, dt=0.01, logqp=True, seed=2, method="euler")
    assert tuple(ys.shape) == (6, 4, 2) and tuple(log_ratio.shape) == (5, 4)
    sol = sk.solve(Lat(), y0, (0.0, 1.0), dt=0.01, save_at=ts.numpy(), seed=2, method="euler_maruyama",
                   logqp=Lat().h)
    assert torch.allclose(log_ratio.sum(0), sol.logqp)
    assert bool((log_ratio >= 0).all())


def test_randomness_follows_torchsde_unless_seeded():
    y0 = torch.ones(4, 2, dtype=F64)
    mod = Diag()  # (its constructor seeds torch itself)
    torch.manual_seed(5)
    a = ti.sdeint(mod, y0, [0.0, 1.0], dt=0.1)
    b = ti.sdeint(mod, y0, [0.0, 1.0], dt=0.1)
    torch.manual_seed(5)
    c = ti.sdeint(mod, y0, [0.0, 1.0], dt=0.1)
    assert not torch.equal(a, b) and torch.equal(a, c)
    assert torch.equal(ti.sdeint(mod, y0, [0.0, 1.0], dt=0.1, seed=9), ti.sdeint(mod, y0, [0.0, 1.0], dt=0.1, seed=9))


def test_method_map_and_adjoint_options():
    y0 = torch.ones(4, 2, dtype=F64)

    class Strat(Diag):
        sde_type = "stratonovich"

    ts = [0.0, 1.0]
    for name in ("euler", "milstein", "srk"):
        assert torch.isfinite(ti.sdeint(Diag(), y0, ts, dt=0.1, method=name, seed=1)).all()
    for name in ("heun", "midpoint", "euler_heun", "reversible_heun", None):
        assert torch.isfinite(ti.sdeint(Strat(), y0, ts, dt=0.1, method=name, seed=1)).all()
    mod = Strat()
    ys = ti.sdeint_adjoint(mod, y0, ts, dt=0.05, method="reversible_heun", adjoint_method="adjoint_reversible_heun",
                           seed=1)
    ys.sum().backward()
    assert mod.lin.weight.grad is not None
    ada = ti.sdeint(Diag(), y0, ts, dt=0.1, method="euler", adaptive=True, rtol=1e-2, atol=1e-3, seed=1)
    assert torch.isfinite(ada).all()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(levy_area_approximation="davie"), InvalidArgumentError, "BrownianInterval"),
    (dict(extra=True), InvalidArgumentError, "final_carry"),
    (dict(method="log_ode"), IncompatibleMethodError, "space-space"),
    (dict(method="adjoint_reversible_heun"), IncompatibleMethodError, "adjoint_method"),
    (dict(method="rk45"), InvalidArgumentError, "unknown torchsde method"),
    (dict(adaptive=True, dt_min=1e-4), InvalidArgumentError, "dt_min"),
    (dict(options={"trapezoidal_approx": True}), InvalidArgumentError, "option"),
    (dict(adjoint=True, adjoint_adaptive=True), InvalidArgumentError, "adjoint_adaptive"),
    (dict(adjoint=True, adaptive=True), IncompatibleMethodError, "fixed grid"),
    (dict(adjoint=True, method="euler", adjoint_method="adjoint_reversible_heun"), IncompatibleMethodError,
     "reversible_heun"),
    (dict(names={"drfit": "f"}), InvalidArgumentError, "unknown keys"),
    (dict(logqp=True), InvalidArgumentError, "prior drift"),
])
def test_torchsde_options_sdekit_cannot_honour_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ti.sdeint(Diag(), torch.ones(4, 2, dtype=F64), [0.0, 1.0], dt=0.1, seed=1, **kwargs)


def test_brownian_constructors():
    bi = ti.BrownianInterval(t0=0.0, t1=2.0, size=(3, 2), dtype=F64, entropy=4, levy_area_approximation="space-time")
    assert tuple(bi(0.0, 1.0).shape) == (3, 2) and bi.levy_area_approximation == "space-time"
    again = ti.BrownianInterval(t0=0.0, t1=2.0, size=(3, 2), dtype=F64, entropy=4)
    assert torch.equal(bi(0.3, 1.7), again(0.3, 1.7))  # a pure function of the seed, whatever was asked before
    w0 = torch.full((3, 1), 5.0, dtype=F64)
    tree = ti.BrownianTree(t0=0.0, w0=w0, entropy=2)
    assert torch.allclose(tree(0.5) - tree(0.2), tree(0.2, 0.5)) and float(tree(0.0)[0, 0]) == 5.0
    with pytest.raises(InvalidArgumentError, match="space-space"):
        ti.BrownianInterval(size=(3, 2), levy_area_approximation="foster")
    with pytest.raises(InvalidArgumentError, match="W="):
        ti.BrownianInterval(size=(3, 2), W=torch.zeros(3, 2))


def test_import_sdekit_does_not_import_torch():
    code = "import sys, sdekit; sdekit.interop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_torchsde_base_classes_and_helpers():
    class Sub(ti.SDEStratonovich):
        def __init__(self):
            super().__init__(noise_type="diagonal")

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return 0.1 + 0.0 * y

    sub = Sub()
    assert isinstance(sub, torch.nn.Module) and sub.sde_type == "stratonovich"
    assert torch.isfinite(ti.sdeint(sub, torch.ones(3, 2), [0.0, 1.0], dt=0.1, seed=0)).all()
    with pytest.raises(InvalidArgumentError, match="noise_type"):
        ti.BaseSDE("diag", "ito")
    bm = ti.brownian_interval_like(torch.ones(3, 2, dtype=F64), entropy=1)
    assert bm.dtype == F64 and tuple(bm.shape) == (3, 2) and isinstance(bm, ti.BaseBrownian)
