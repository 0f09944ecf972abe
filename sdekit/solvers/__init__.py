"""Stepping rules, one per file, and the name registry ``solve`` resolves ``method`` with."""

from ..errors import InvalidArgumentError
from .base import Solver, Terms
from .dopri5 import Dopri5
from .euler_maruyama import EulerMaruyama
from .heun import Heun
from .milstein import Milstein
from .ode_fixed import RK4, Euler, HeunODE
from .predictor_corrector import PredictorCorrector, Predicted, TrapezoidalCorrector

SDE_METHODS = {
    "euler_maruyama": EulerMaruyama,
    "heun": Heun,
    "milstein": Milstein,
    "predictor_corrector": PredictorCorrector,
}
ODE_METHODS = {"euler": Euler, "heun": HeunODE, "rk4": RK4, "dopri5": Dopri5}
ALIASES = {"em": "euler_maruyama", "pc": "predictor_corrector"}
# On an ODE the SDE methods reduce to these noise-free rules (so nfe counts drift calls only).
ODE_COUNTERPARTS = {"euler_maruyama": "euler", "milstein": "euler", "predictor_corrector": "heun"}


def method_names():
    """Every accepted method name, aliases included."""
    return sorted(set(SDE_METHODS) | set(ODE_METHODS) | set(ALIASES))


def get_solver(method, *, is_ode=False, **options):
    """Resolve ``method`` (a name or a :class:`Solver` instance) to a solver instance.

    ``heun`` names stochastic Heun for SDEs and Heun's method for ODEs; on an ODE,
    ``euler_maruyama`` and ``milstein`` run Euler's method and ``predictor_corrector``
    runs Heun's method (what they reduce to without noise).
    """
    if isinstance(method, Solver):
        if options:
            raise InvalidArgumentError(
                f"method options {sorted(options)} cannot be combined with a solver instance; "
                "pass them to the solver's constructor"
            )
        return method
    if not isinstance(method, str):
        raise InvalidArgumentError(f"method must be a name or a Solver instance; got {type(method).__name__}")
    name = ALIASES.get(method, method)
    if is_ode and not options:
        name = ODE_COUNTERPARTS.get(name, name)
    table = ODE_METHODS if is_ode and name in ODE_METHODS else SDE_METHODS
    cls = table.get(name) or ODE_METHODS.get(name)
    if cls is None:
        raise InvalidArgumentError(f"unknown method {method!r}; valid methods: {', '.join(method_names())}")
    try:
        return cls(**options)
    except TypeError as e:
        raise InvalidArgumentError(f"invalid options for method {method!r}: {e}") from None


__all__ = [
    "Solver", "Terms", "EulerMaruyama", "Heun", "Milstein", "PredictorCorrector", "Predicted",
    "TrapezoidalCorrector", "Euler", "HeunODE", "RK4", "Dopri5", "get_solver", "method_names",
    "SDE_METHODS", "ODE_METHODS", "ALIASES",
]
