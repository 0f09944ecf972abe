"""Problem types: :class:`SDE` and :class:`ODE`.

An SDE here is

.. math::  dX_t = f(t, X_t)\\,dt + g(t, X_t) \\circ_{\\mathrm{calc}} dW_t,
           \\qquad X_t \\in \\mathbb{R}^d,\\; W_t \\in \\mathbb{R}^m,

with ``calc`` either Itô or Stratonovich. The user functions are *batched*:
``drift(t, x)`` takes ``x`` of shape ``(n, d)`` (n paths) and a float ``t`` and
returns ``(n, d)``. The noise structure says what ``diffusion`` returns:

================  ===========================  ================================
``noise``         ``diffusion(t, x)`` returns  meaning
================  ===========================  ================================
``"diagonal"``    ``(n, d)``                   component i driven by W_i (m = d)
``"scalar"``      ``(n, d)``                   one W drives every component (m = 1)
``"general"``     ``(n, d, m)``                full matrix; ``brownian_dim=m``
================  ===========================  ================================

``additive=True`` declares that ``diffusion`` does not depend on ``x``; the
Itô and Stratonovich equations then coincide and higher strong orders hold.

Objects written for torchsde (methods ``f(t, y)`` and ``g(t, y)``, attributes
``noise_type`` and ``sde_type``) are accepted wherever an :class:`SDE` is; see
:func:`as_sde`.

Example
-------
>>> import sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)   # dX = 0.5 X dt + 0.8 X dW
>>> gbm.noise, gbm.calculus, gbm.brownian_dim_for(3)
('diagonal', 'ito', 3)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .errors import InvalidArgumentError

NOISE_TYPES = ("diagonal", "scalar", "general")
CALCULI = ("ito", "stratonovich")


def check_choice(name, value, choices):
    if value not in choices:
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
        )


class SDE:
    """A stochastic differential equation ``dX = drift dt + diffusion dW``.

    Parameters
    ----------
    drift, diffusion : callable ``(t, x) -> array``
        Batched functions; see the module docstring for the shapes.
    noise : {"diagonal", "scalar", "general"}
    calculus : {"ito", "stratonovich"}
    brownian_dim : int, required for ``noise="general"``
    additive : bool
        ``diffusion`` does not depend on ``x``.
    commutative : bool
        General noise whose columns commute, :math:`L^j g_k = L^k g_j` (e.g. linear
        noise with commuting matrices): Milstein's scheme then applies.

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> ou = sk.SDE(lambda t, x: 2.0 * (1.0 - x), lambda t, x: 0.7 + 0.0 * x, additive=True)
    >>> sol = sk.solve(ou, 0.0, (0.0, 1.0), n_steps=100, n_paths=1000, seed=0)
    >>> sol.ys.shape
    (2, 1000, 1)
    """

    is_ode = False

    def __init__(
        self,
        drift: Callable,
        diffusion: Optional[Callable],
        *,
        noise: str = "diagonal",
        calculus: str = "ito",
        brownian_dim: Optional[int] = None,
        additive: bool = False,
        commutative: bool = False,
    ):
        if not callable(drift):
            raise InvalidArgumentError(f"drift must be callable (t, x) -> (n, d); got {type(drift).__name__}")
        if diffusion is not None and not callable(diffusion):
            raise InvalidArgumentError(
                f"diffusion must be callable (t, x) -> array; got {type(diffusion).__name__}"
            )
        check_choice("noise", noise, NOISE_TYPES)
        check_choice("calculus", calculus, CALCULI)
        for flag, value in (("additive", additive), ("commutative", commutative)):
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidArgumentError(f"{flag} must be True or False; got {value!r}")
        if brownian_dim is not None and (isinstance(brownian_dim, (bool, np.bool_))
                                         or not isinstance(brownian_dim, numbers.Integral) or brownian_dim < 1):
            raise InvalidArgumentError(f"brownian_dim must be a positive integer; got {brownian_dim!r}")
        if noise == "general":
            if brownian_dim is None:
                raise InvalidArgumentError('brownian_dim is required when noise="general"; got None')
            brownian_dim = int(brownian_dim)
        elif brownian_dim is not None:
            if noise == "scalar" and brownian_dim != 1:
                raise InvalidArgumentError(
                    f'brownian_dim must be 1 (or None) for noise="scalar"; got {brownian_dim!r}'
                )
            if noise == "diagonal":
                raise InvalidArgumentError(
                    f'brownian_dim must be None for noise="diagonal" (m equals the state dimension); got '
                    f'{brownian_dim!r}. For m != d use noise="general"')
        self.drift = drift
        self.diffusion = diffusion
        self.noise = noise
        self.calculus = calculus
        self.brownian_dim = brownian_dim
        self.additive = bool(additive)
        self.commutative = bool(commutative) or (noise != "general")

    infers_brownian_dim = False  # torchsde-style general noise without brownian_size: m from the diffusion's shape

    def brownian_dim_for(self, d: int) -> int:
        """The number m of Brownian motions driving a state of dimension ``d``."""
        if self.noise == "diagonal":
            return d
        if self.noise == "scalar":
            return 1
        return self.brownian_dim

    def with_calculus(self, calculus: str) -> "SDE":
        """The same functions declared in the other calculus (no conversion of the drift)."""
        return type(self)._from_parts(self, calculus=calculus)

    @classmethod
    def _from_parts(cls, base: "SDE", **changes: Any) -> "SDE":
        kw = dict(noise=base.noise, calculus=base.calculus, brownian_dim=base.brownian_dim, additive=base.additive,
                  commutative=base.commutative if base.noise == "general" else False)
        kw.update(changes)
        return SDE(base.drift, base.diffusion, **kw)

    def __repr__(self):
        extra = f", brownian_dim={self.brownian_dim}" if self.noise == "general" else ""
        add = ", additive=True" if self.additive else ""
        com = ", commutative=True" if self.noise == "general" and self.commutative else ""
        return f"SDE(noise={self.noise!r}, calculus={self.calculus!r}{extra}{add}{com})"


class ODE(SDE):
    """An ordinary differential equation ``dx/dt = drift(t, x)``: an SDE without noise.

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> sol = sk.solve(sk.ODE(lambda t, x: -x), 1.0, (0.0, 1.0), n_steps=20, method="rk4")
    >>> bool(abs(sol.ys[-1, 0, 0] - np.exp(-1.0)) < 1e-6)
    True
    """

    is_ode = True

    def __init__(self, drift: Callable):
        super().__init__(drift, None, noise="diagonal", calculus="ito", additive=True)

    def brownian_dim_for(self, d: int) -> int:
        return 0

    def __repr__(self):
        return "ODE()"


@dataclass(frozen=True)
class _TorchsdeAdapter:
    """Calls a torchsde-style object's ``f`` / ``g`` with sdekit's conventions."""

    obj: Any
    scalar: bool

    def drift(self, t, x):
        return self.obj.f(t, x)

    def diffusion(self, t, x):
        g = self.obj.g(t, x)
        # torchsde returns (n, d, 1) for scalar noise; sdekit's convention is (n, d).
        return g[..., 0] if self.scalar else g


def as_sde(problem: Any) -> SDE:
    """Return ``problem`` as an :class:`SDE`, adapting torchsde-style objects.

    A torchsde-style object has methods ``f(t, y)``, ``g(t, y)`` and attributes
    ``noise_type`` (``"diagonal"``, ``"scalar"``, ``"additive"``, ``"general"``)
    and ``sde_type`` (``"ito"``, ``"stratonovich"``). ``"additive"`` maps to
    general noise with ``additive=True``; the Brownian dimension of general
    noise is read from the object's ``brownian_size`` attribute or, failing
    that, from the shape of ``g`` at the first evaluation.

    >>> import sdekit as sk
    >>> class Tsde:
    ...     noise_type, sde_type = "diagonal", "ito"
    ...     def f(self, t, y): return -y
    ...     def g(self, t, y): return 0.1 + 0 * y
    >>> sk.as_sde(Tsde())
    SDE(noise='diagonal', calculus='ito')
    """
    if isinstance(problem, SDE):
        return problem
    if hasattr(problem, "f") and hasattr(problem, "g") and hasattr(problem, "noise_type"):
        nt = problem.noise_type
        calculus = getattr(problem, "sde_type", "ito")
        check_choice("sde.noise_type", nt, ("diagonal", "scalar", "additive", "general"))
        adapter = _TorchsdeAdapter(problem, scalar=(nt == "scalar"))
        if nt in ("additive", "general"):
            m = getattr(problem, "brownian_size", None)
            sde = SDE(
                adapter.drift,
                adapter.diffusion,
                noise="general",
                calculus=calculus,
                brownian_dim=m if m is not None else 1,
                additive=(nt == "additive"),
            )
            sde.infers_brownian_dim = m is None
        else:
            sde = SDE(adapter.drift, adapter.diffusion, noise=nt, calculus=calculus)
        sde.torchsde_style = True
        sde.source = problem
        return sde
    raise InvalidArgumentError(
        "sde must be an sdekit.SDE / sdekit.ODE or a torchsde-style object with f, g, "
        f"noise_type and sde_type; got {type(problem).__name__}"
    )
