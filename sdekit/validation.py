"""Argument checks shared by the public entry points (one message style everywhere)."""

from __future__ import annotations

import math
import numbers

from .errors import InvalidArgumentError

DTYPES = ("float64", "float32")


def check_positive_int(name, value):
    """``value`` as an int >= 1, else :class:`InvalidArgumentError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer (>= 1); got {value}")
    return int(value)


def check_t_span(t_span):
    """``(t0, t1)`` as floats with ``t1 > t0``, both finite."""
    try:
        t0, t1 = (float(v) for v in t_span)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"t_span must be a pair (t0, t1) of floats; got {t_span!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise InvalidArgumentError(f"t_span must be finite; got ({t0}, {t1})")
    if not t1 > t0:
        raise InvalidArgumentError(f"t_span must satisfy t1 > t0; got t0={t0}, t1={t1}")
    return t0, t1


def resolve_dtype_name(dtype):
    """Normalise a dtype spec (string, NumPy or torch dtype) to ``"float64"`` / ``"float32"``."""
    if dtype is None:
        return "float64"
    name = str(dtype).replace("torch.", "").replace("<class 'numpy.", "").rstrip("'>")
    name = {"double": "float64", "float": "float32", "f8": "float64", "f4": "float32"}.get(name, name)
    if name not in DTYPES:
        raise InvalidArgumentError(f"dtype must be one of {DTYPES}; got {dtype!r}")
    return name
