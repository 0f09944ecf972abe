"""The plugins import plainly: torch parts load on first use, and only a missing torch is reported as such.

Before (issue 11): each torch module was imported under ``try: ... except ImportError: pass``, so an
ImportError raised inside e.g. losses.py silently removed ``dsm_loss`` from the package.
"""

import subprocess
import sys

import numpy as np
import pytest

import sdekit_diffusion as skd
import sdekit_scores as sks

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("package, name, module", [
    (sks, "dsm_loss", "losses"), (sks, "ScoreMLP", "nets"), (sks, "train", "training"),
    (sks, "load_checkpoint", "checkpoint"), (skd, "log_likelihood", "likelihood"),
])
def test_an_import_error_of_our_own_module_propagates(monkeypatch, package, name, module):
    full = f"{package.__name__}.{module}"
    monkeypatch.delattr(package, name, raising=False)  # drop the cached attribute (restored after)
    monkeypatch.setitem(sys.modules, full, None)  # importing it now fails with ModuleNotFoundError(full)
    with pytest.raises(ImportError) as info:
        getattr(package, name)
    assert info.value.name == full and "torch" not in str(info.value)


def test_a_missing_torch_is_named(monkeypatch):
    monkeypatch.delattr(sks, "ScoreMLP", raising=False)
    monkeypatch.delitem(sys.modules, "sdekit_scores.nets")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"sdekit_scores\.ScoreMLP needs torch.*sdekit\[torch\]") as info:
        sks.ScoreMLP
    assert info.value.name == "torch"


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sks.nope
    with pytest.raises(AttributeError):
        skd.nope


def test_every_public_name_resolves_and_importing_loads_no_torch():
    for pkg in (sks, skd):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None, name
    code = ("import sys, numpy as np, sdekit_scores as sks, sdekit_diffusion as skd\n"
            "g = sks.Gaussian([0.0], 1.0); sks.reverse(skd.VPSDE(), g.perturbed(skd.VPSDE()), 1.0)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_from_epsilon_of_a_module_stays_a_torch_score():
    """Issue 12: sks.from_epsilon(module, ...) was a NumPy score, so sample(backend="auto") ran on NumPy."""
    vp = skd.VPSDE()
    exact = sks.Gaussian([0.5], [[0.3]]).perturbed(vp)

    class Eps(torch.nn.Module):  # the exact noise predictor -s_t * score, written in torch
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, t, x):
            return -vp.marginal(t)[1] * self.scale * exact(t, x)

    for adapter in (sks.from_epsilon(Eps(), vp), sks.from_denoiser(lambda t, x: 0 * x, 1.0)):
        assert adapter.kind == ("torch" if adapter.module is not None else "any")
    score = sks.from_epsilon(Eps(), vp)
    assert score.kind == "torch" and isinstance(score.module, Eps)
    sol = skd.sample(vp, score, 500, 1, n_steps=20, seed=0, return_solution=True)
    assert sol.backend == "torch" and torch.is_tensor(sol.ys)
    ref = skd.sample(vp, exact, 500, 1, n_steps=20, seed=0, backend="numpy")
    np.testing.assert_allclose(sol.ys[-1].detach().numpy(), ref, rtol=1e-9, atol=1e-9)
