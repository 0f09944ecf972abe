"""sdekit: fast, verifiable SDE solvers (NumPy reference, Numba CPU kernels, torch CPU/CUDA).

>>> import sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=1000, seed=0)
>>> sol.ys.shape
(2, 1000, 1)
"""

from . import errors, interop, plugins, solvers, testing  # interop imports torch only when used
from .brownian import BrownianPath
from .ensembles import ensemble
from .reductions import Reduction
from .sde import ODE, SDE, as_sde
from .solution import Solution
from .solve import solve

__version__ = "0.1.0"

__all__ = ["SDE", "ODE", "as_sde", "solve", "Solution", "BrownianPath", "errors", "solvers", "testing",
           "plugins", "ensemble", "Reduction", "interop", "__version__"]
