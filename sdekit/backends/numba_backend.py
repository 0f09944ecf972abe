"""The Numba backend (first stage): user functions compiled with Numba, the shared NumPy loop.

What exists today: ``backend="numba"`` compiles the user's ``drift`` and
``diffusion`` with ``numba.njit`` (lazily, at their first evaluation), runs the
shared fixed-step loop of :mod:`sdekit.backends.base` on NumPy arrays, and draws
Brownian increments with the compiled Philox twin. It returns the NumPy
backend's numbers (to 1e-10 relative in float64) for every method and noise
type; a function Numba cannot compile raises :class:`~sdekit.errors.BackendError`
naming it.

What is still to come (issue 3): the fused, parallel kernel (stepping rule,
user functions and in-kernel Brownian increments in one compiled loop over
chunks of paths). Until it lands this backend is not faster than NumPy, so
``backend="auto"`` does not select it.

>>> import numpy as np, sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> a = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, backend="numba")
>>> b = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=16, n_paths=8, backend="numpy")
>>> bool(np.allclose(a.ys, b.ys, rtol=1e-10))
True
"""

from __future__ import annotations

import time

import numba
from numba.core.errors import NumbaError

from ..errors import BackendError
from ..solvers.base import Terms
from .numpy_backend import NumpyBackend


class _Compiled:
    """``fn`` compiled by Numba on its first call; a failure becomes a BackendError naming ``fn``."""

    __slots__ = ("fn", "name", "jitted", "compile_time")

    def __init__(self, fn, name):
        self.fn, self.name, self.jitted, self.compile_time = fn, name, None, 0.0

    def __call__(self, t, x):
        if self.jitted is None:
            started = time.perf_counter()
            try:
                jitted = self.fn if isinstance(self.fn, numba.core.dispatcher.Dispatcher) else numba.njit(self.fn)
                out = jitted(t, x)
            except (NumbaError, TypeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BackendError(
                    f"Numba cannot compile the {self.name} function {getattr(self.fn, '__qualname__', self.fn)!r} "
                    f'({first}); use backend="numpy" (or "torch")'
                ) from None
            self.jitted = jitted
            self.compile_time = time.perf_counter() - started
            return _like(out, x)
        return _like(self.jitted(t, x), x)


def _like(out, x):
    # Numba promotes float32 arrays times Python floats to float64 (NumPy keeps float32): keep the state's dtype.
    return out.astype(x.dtype, copy=False) if getattr(out, "dtype", x.dtype) != x.dtype else out


class NumbaBackend(NumpyBackend):
    name = "numba"

    def check_problem(self, sde, x0):
        if getattr(sde, "torchsde_style", False):
            raise BackendError('backend="numba" cannot run a torchsde-style module; use backend="torch"')

    def can_compile(self, sde) -> bool:
        """Whether ``"auto"`` should pick this backend: not until the fused kernel exists (see module doc)."""
        return False

    def make_terms(self, sde, n, d, m):
        terms = super().make_terms(sde, n, d, m)
        self._compiled = []
        for checked, name in ((terms.drift, "drift"), (terms.diffusion, "diffusion")):
            if hasattr(checked, "fn"):
                checked.fn = _Compiled(checked.fn, name)
                self._compiled.append(checked.fn)
        return Terms(*terms)

    def integrate(self, solver, terms, x, plan, bm, aux_bm, progress):
        result = super().integrate(solver, terms, x, plan, bm, aux_bm, progress)
        result.extra["compile_time"] = sum(c.compile_time for c in getattr(self, "_compiled", ()))
        return result
