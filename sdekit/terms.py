"""How the solvers call the user's functions: event shapes, per-path parameters, and a shape check per call.

The state inside the solvers is flat, ``(n, D)``; the user's ``drift(t, x)`` and
``diffusion(t, x)`` see ``(n, *event)`` (and ``args`` rows when given).

>>> import numpy as np
>>> from sdekit.terms import ShapeChecked
>>> f = ShapeChecked(lambda t, x: -x, "drift", (2, 3))
>>> f(0.0, np.ones((4, 6))).shape            # flat in, flat out; the function saw (4, 2, 3)
(4, 6)
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .solvers.base import Terms


class ShapeChecked:
    """Calls a user function with the ``(n, *event)`` state and checks the shape of every result.

    The state inside the solvers is flat, ``(n, D)``; for vector states (``event =
    (D,)``) nothing is reshaped. A comparison of a shape tuple costs nothing next
    to the function itself, and a function that changes its output shape after the
    first step would otherwise go unnoticed.
    """

    __slots__ = ("fn", "name", "event", "trailing", "flat", "tail", "args")

    def __init__(self, fn, name, event, trailing=(), args=None):
        self.fn, self.name = fn, name
        self.event, self.trailing = tuple(event), tuple(trailing)
        self.flat = len(self.event) == 1
        self.tail = self.event + self.trailing
        self.args = args

    def rows(self, i0, i1):
        """The same function for paths ``i0 <= i < i1`` only (per-path parameters sliced alike)."""
        return ShapeChecked(self.fn, self.name, self.event, self.trailing, slice_args(self.args, i0, i1))

    def __call__(self, t, x):
        n = x.shape[0]
        arg = x if self.flat else x.reshape((n,) + self.event)
        out = self.fn(t, arg) if self.args is None else self.fn(t, arg, self.args)
        if not hasattr(out, "shape"):
            raise ShapeError(f"{self.name}(t, x) must return an array of shape {(n,) + self.tail} (x's kind); "
                             f"got {type(out).__name__}")
        shape = tuple(out.shape)
        if shape != (n,) + self.tail:
            raise ShapeError(
                f"{self.name}(t, x) returned shape {shape}; expected {(n,) + self.tail} "
                f"(x has shape {tuple(arg.shape)})"
            )
        return out if self.flat else out.reshape((n, -1) + self.trailing)


def slice_args(args, i0, i1):
    """Rows ``i0:i1`` of per-path parameters (an array, or a dict of arrays), or None."""
    if args is None:
        return None
    if isinstance(args, dict):
        return {k: v[i0:i1] for k, v in args.items()}
    return args[i0:i1]


def terms_rows(terms, i0, i1):
    """``terms`` for the paths ``i0 <= i < i1`` (their per-path parameters sliced)."""
    if not isinstance(terms.drift, ShapeChecked) or terms.drift.args is None:
        return terms
    diffusion = terms.diffusion.rows(i0, i1) if isinstance(terms.diffusion, ShapeChecked) else terms.diffusion
    return Terms(terms.drift.rows(i0, i1), diffusion, terms.noise, terms.ops)


