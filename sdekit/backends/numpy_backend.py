"""The NumPy reference backend."""

from __future__ import annotations

import numpy as np

from ..brownian import BrownianPath
from ..errors import BackendError, InvalidArgumentError, ShapeError
from ..validation import resolve_dtype_name
from .base import Backend


def _is_torch(obj):
    return (type(obj).__module__ or "").startswith("torch")


def as_state(x0, n, event, dtype, name="x0"):
    """``x0`` as a float ``(n, D)`` NumPy state (a copy), checked real and finite."""
    if x0 is None:
        raise InvalidArgumentError(f"{name} must be a number or an array; got None")
    if _is_torch(x0):
        raise BackendError(f'{name} is a torch tensor; use backend="torch" (or "auto") for torch states')
    try:
        arr = np.asarray(x0)
    except Exception as e:  # noqa: BLE001 - ragged lists and other non-arrays
        raise InvalidArgumentError(f"{name} must be a number or an array; got {type(x0).__name__} ({e})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        kind = "complex" if arr.dtype.kind == "c" else str(arr.dtype)
        raise InvalidArgumentError(f"{name} must be real numbers; got dtype {kind} (a {type(x0).__name__})")
    if arr.dtype.kind == "b":
        raise InvalidArgumentError(f"{name} must be real numbers, not booleans")
    if dtype is None:
        dtype = arr.dtype.name if arr.dtype in (np.float32, np.float64) else "float64"
    dtype = resolve_dtype_name(dtype)
    arr = arr.astype(dtype)
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"{name} must be finite; got non-finite values in {name}")
    D = int(np.prod(event))
    try:
        if arr.ndim == 0 or arr.shape == tuple(event):
            state = np.broadcast_to(arr.reshape(1, D), (n, D)).copy()
        else:
            state = arr.reshape(n, D).copy()
    except ValueError:
        raise ShapeError(f"{name} of shape {arr.shape} cannot be broadcast to ({n}, *{tuple(event)})") from None
    return state, dtype


class NumpyBackend(Backend):
    name = "numpy"

    def initial_state(self, x0, n, event, dtype, device):
        if device is not None and str(device) != "cpu":
            raise BackendError(f'device={device!r}: backend="numpy" runs on the CPU only; on a CUDA device use '
                               'backend="numba" (the fused per-path kernel, NumPy functions) or backend="torch" '
                               '(x0 a tensor on that device)')
        return as_state(x0, n, event, dtype)

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
