"""examples/latent_sde.py and examples/sde_gan.py run end to end in their --quick mode."""

import importlib.util
import math
import os

import pytest

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_latent_sde_quick():
    out = _load("latent_sde").main(["--quick"])
    rows = out["history"]
    assert len(rows) >= 2 and all(math.isfinite(r[1]) and math.isfinite(r[2]) and r[2] >= 0 for r in rows)


def test_sde_gan_quick():
    out = _load("sde_gan").main(["--quick"])
    rows = out["history"]
    assert len(rows) == 4 and all(math.isfinite(v) for r in rows for v in r)


def test_sde_gan_data_has_the_ou_law():
    ex = _load("sde_gan")
    import numpy as np

    ts = np.linspace(0.0, 1.0, 5)
    ys = ex.ou_paths(20_000, ts, seed=3)[:, :, 0].double().numpy()
    mean, std = ex.ou_moments(ts)
    se = std / np.sqrt(ys.shape[1])
    assert np.all(np.abs(ys.mean(1) - mean) < 4 * se + 1e-6)
    assert np.all(np.abs(ys.std(1) - std) < 4 * std / np.sqrt(2 * ys.shape[1]) + 1e-6)
