"""sdekit: fast, verifiable SDE solvers (NumPy reference, Numba CPU kernels, torch CPU/CUDA).

>>> import sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, seed=0)
>>> sol.ys.shape
(2, 1000, 1)
"""

import importlib

from . import errors, noise, plugins, solvers
from .brownian import BrownianPath
from .sde import ODE, SDE, as_sde
from .solution import Solution
from .solve import solve

__version__ = "0.1.0"

# Loaded on first use, so that ``import sdekit`` stays light: the verification toolkit (SciPy), the
# ensembles (their merge machinery), the torchsde interop (torch).
_LAZY = {"testing": ("sdekit.testing", None), "ensemble": ("sdekit.ensembles", "ensemble"),
         "Reduction": ("sdekit.reductions", "Reduction"), "interop": ("sdekit.interop", None)}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sdekit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["SDE", "ODE", "as_sde", "solve", "Solution", "BrownianPath", "errors", "noise", "solvers", "testing",
           "plugins", "ensemble", "Reduction", "interop", "__version__"]
