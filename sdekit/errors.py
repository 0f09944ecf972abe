"""Exception types of sdekit.

Every message names the argument at fault, what was expected and what came, so
that a user can fix the call without reading the source.

Every type also derives from the matching builtin (``ValueError``,
``RuntimeError``, ...) so generic handlers keep working.

>>> import sdekit as sk
>>> try:
...     sk.solve(sk.ODE(lambda t, x: -x), 1.0, (1.0, 0.0), n_steps=4)
... except sk.errors.InvalidArgumentError as e:
...     print("t_span" in str(e))
True
"""


class SDEKitError(Exception):
    """Base class of every error raised on purpose by sdekit."""


class ShapeError(SDEKitError, ValueError):
    """An array (an argument, or what a user function returned) has the wrong shape."""


class IncompatibleMethodError(SDEKitError, ValueError):
    """The method cannot solve this problem (calculus or noise type it does not support)."""


class NonFiniteError(SDEKitError, FloatingPointError):
    """The state stopped being finite during a solve.

    Attributes ``step`` (index of the step that produced the first non-finite
    value, counted from 0) and ``time`` (the time that step started at) locate it.
    """

    def __init__(self, message, *, step=None, time=None):
        super().__init__(message)
        self.step = step
        self.time = time


class BackendError(SDEKitError, RuntimeError):
    """The requested backend is unavailable or cannot run the problem."""


class InvalidArgumentError(SDEKitError, ValueError):
    """An argument has an invalid value (not a shape problem)."""


class StepLimitError(SDEKitError, RuntimeError):
    """An adaptive solve needed more than ``max_steps`` steps, or its tolerance could not be reached."""


__all__ = [
    "SDEKitError",
    "ShapeError",
    "IncompatibleMethodError",
    "NonFiniteError",
    "BackendError",
    "InvalidArgumentError",
    "StepLimitError",
]
