"""What a stepping rule is: a small class with capabilities as data and a pure ``step``.

A solver never draws random numbers, never loops over paths and never knows the
backend: ``step`` receives the problem's ``terms`` (drift, diffusion and the
noise contraction), the step start ``t`` and size ``dt``, the state ``x`` of
shape ``(n, d)``, the Brownian increment ``dw`` (``(n, m)``, or ``None`` for an
ODE) and ``aux``, a tuple of ``n_aux`` arrays of independent standard normals of
shape ``(n, d)``, and returns the next state. It is written with arithmetic
operators only, so one definition runs on NumPy arrays, torch tensors and
(compiled) inside the Numba backend.

``solve`` reads the class attributes (``calculus``, ``noise_types``, ``kind``)
and checks them once, before any work.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, FrozenSet, NamedTuple, Optional

ALL_NOISE = frozenset({"diagonal", "scalar", "general"})


class Terms(NamedTuple):
    """The vector field of a problem as a solver sees it.

    ``noise(g, dw)`` contracts a diffusion value with an increment: ``g * dw``
    for diagonal and scalar noise (``dw`` is ``(n, 1)`` for scalar noise),
    ``sum_k g[:, :, k] dw[:, k]`` for general noise. The noise-type branch lives
    here, once, so no solver repeats it.
    """

    drift: Callable
    diffusion: Optional[Callable]
    noise: Callable


class Solver:
    """Base class of stepping rules. Subclasses set the class attributes and ``step``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "sde"  # "sde" or "ode"
    calculus: ClassVar[str] = "ito"  # "ito", "stratonovich" or "any" (follows the SDE)
    noise_types: ClassVar[FrozenSet[str]] = ALL_NOISE
    strong_order: ClassVar[Optional[float]] = None  # general (multiplicative) noise
    strong_order_additive: ClassVar[Optional[float]] = None
    weak_order: ClassVar[Optional[float]] = None
    order: ClassVar[Optional[int]] = None  # ODE methods: classical order
    nfe_per_step: ClassVar[int] = 2  # drift + diffusion evaluations per step
    n_aux: int = 0  # auxiliary standard normals (n, d) per step
    adaptive: ClassVar[bool] = False

    def step(self, terms: Terms, t: float, dt: float, x: Any, dw: Any, aux: tuple) -> Any:
        raise NotImplementedError

    def numba_step(self):
        """A module-level function ``(terms, t, dt, x, dw, aux) -> x`` Numba can compile, or None."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"
