"""Argument checks shared by the public entry points (one message style everywhere)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidArgumentError

DTYPES = ("float64", "float32")


def check_positive_int(name, value):
    """``value`` as an int >= 1, else :class:`InvalidArgumentError` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be a positive integer; got {value!r}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer (>= 1); got {value}")
    return int(value)


def check_bool(name, value):
    """``value`` as a bool; anything but a bool (``"no"``, ``1``, None) is refused by name."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False; got {value!r}")


def check_real(name, value, *, positive=False, allow_zero=True):
    """``value`` as a finite float (not a bool, not complex); optionally positive / non-negative."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidArgumentError(f"{name} must be finite; got {value!r}")
    if positive and not (v > 0 or (allow_zero and v == 0)):
        raise InvalidArgumentError(f"{name} must be {'non-negative' if allow_zero else 'positive'}; got {value!r}")
    return v


def check_t_span(t_span):
    """``(t0, t1)`` as floats with ``t1 > t0``, both finite (a pair of real numbers, not a string)."""
    if isinstance(t_span, (str, bytes)) or getattr(t_span, "ndim", 1) != 1:
        raise InvalidArgumentError(f"t_span must be a pair (t0, t1) of floats; got {t_span!r}")
    try:
        items = list(t_span)
    except TypeError:
        raise InvalidArgumentError(f"t_span must be a pair (t0, t1) of floats; got {t_span!r}") from None
    if len(items) != 2 or any(isinstance(v, (bool, np.bool_, str, bytes)) or isinstance(v, complex) for v in items):
        raise InvalidArgumentError(f"t_span must be a pair (t0, t1) of floats; got {t_span!r}")
    try:
        t0, t1 = (float(v) for v in items)
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
