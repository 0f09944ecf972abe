"""The NumPy reference backend."""

from __future__ import annotations

import numpy as np

from ..brownian import BrownianPath
from ..errors import InvalidArgumentError, ShapeError
from ..validation import resolve_dtype_name
from .base import Backend


def as_state(x0, n, d, dtype, name="x0"):
    """``x0`` as a float ``(n, d)`` NumPy state (a copy), checked finite."""
    arr = np.asarray(x0)
    if dtype is None:
        dtype = arr.dtype.name if arr.dtype in (np.float32, np.float64) else "float64"
    dtype = resolve_dtype_name(dtype)
    try:
        arr = arr.astype(dtype)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be numeric; got dtype {arr.dtype}") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{name} must be finite; got non-finite values in {name}")
    try:
        state = np.broadcast_to(arr.reshape((1, d) if arr.ndim < 2 else arr.shape), (n, d)).copy()
    except ValueError:
        raise ShapeError(f"{name} of shape {arr.shape} cannot be broadcast to ({n}, {d})") from None
    return state, dtype


class NumpyBackend(Backend):
    name = "numpy"

    def initial_state(self, x0, n, d, dtype, device):
        return as_state(x0, n, d, dtype)

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        return BrownianPath(n, m, t_span, seed=seed, dtype=dtype, backend="numpy", segments=segments)

    def all_finite(self, x):
        return bool(np.isfinite(x).all())

    def first_nonfinite_path(self, x):
        bad = ~np.isfinite(x).all(axis=1)
        return int(np.argmax(bad))

    def stack(self, xs):
        return np.stack(xs)

    maximum = staticmethod(np.maximum)

    def reduce_max(self, x):
        return float(np.max(x))
