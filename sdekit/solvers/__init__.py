"""Stepping rules, one per file, and the registry ``solve`` resolves ``method`` with.

Adding a solver is one file (a :class:`Solver` subclass following the contract in
:mod:`sdekit.solvers.base`) plus one line in ``REGISTRY`` below; names, aliases,
ODE counterparts, capability checks, error messages, the convergence table of the
tests, the demo and ``docs/methods.md`` are all derived from the classes' facts.

>>> from sdekit.solvers import get_solver, method_names
>>> type(get_solver("em")).__name__, type(get_solver("milstein", is_ode=True)).__name__
('EulerMaruyama', 'Euler')
>>> "dopri5" in method_names("ode") and "milstein" in method_names("sde")
True
"""

from __future__ import annotations

import inspect

from ..errors import InvalidArgumentError
from .base import NOISE_CLASSES, Solver, Terms, noise_class, order_for, supported_classes
from .dopri5 import Dopri5
from .euler_maruyama import EulerMaruyama
from .heun import Heun
from .implicit_em import ImplicitEM, ImplicitEuler
from .milstein import Milstein
from .ode_fixed import RK4, Euler, HeunODE
from .predictor_corrector import Predicted, PredictorCorrector, TrapezoidalCorrector
from .reversible_heun import ReversibleHeun
from .sra import SRA
from .sri import SRI
from .weak2 import Weak2

# One line per solver.
REGISTRY = [
    EulerMaruyama,
    Heun,
    Milstein,
    PredictorCorrector,
    SRI,
    SRA,
    Weak2,
    ReversibleHeun,
    ImplicitEM,
    Euler,
    HeunODE,
    RK4,
    Dopri5,
    ImplicitEuler,
]

# torchsde options and what sdekit offers instead (named in the unknown-option error).
_TORCHSDE_OPTIONS = {
    "adjoint": "sk.solve(..., adjoint=True) on the torch backend",
    "logqp": "sk.solve(..., logqp=prior_drift)",
    "adaptive": "sk.solve(..., adaptive=True, rtol=..., atol=...) with a method that has an error estimate",
    "names": "sk.interop.sdeint(..., names=...) or methods named f and g",
    "levy_area_approximation": "method='sri' / 'sra', which draw the space-time Lévy area exactly",
    "bm": "brownian=sk.BrownianPath(...)",
}


def _tables():
    tables = {"sde": {}, "ode": {}}
    for cls in REGISTRY:
        for name in (cls.name,) + tuple(cls.aliases):
            tables[cls.kind][name] = cls
    return tables


def method_names(kind=None):
    """Accepted method names (aliases included), sorted; ``kind`` ``"sde"``/``"ode"`` restricts them."""
    tables = _tables()
    kinds = ("sde", "ode") if kind is None else (kind,)
    return sorted(set().union(*(tables[k] for k in kinds)))


def solver_class(method, kind):
    """The registered class for ``method`` among solvers of ``kind``, or None."""
    return _tables()[kind].get(method)


def _options_error(cls, method, options, err):
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [k for k in options if k not in params]
    lines = [f"invalid options for method {method!r}"]
    for k in unknown:
        hint = _TORCHSDE_OPTIONS.get(k)
        lines.append(f"unknown option {k!r}" + (f" (a torchsde option; sdekit offers {hint})" if hint else ""))
    lines.append(f"valid options: {', '.join(params) if params else 'none'}")
    if not unknown:
        lines.append(str(err))
    return InvalidArgumentError("; ".join(lines))


def _construct(cls, method, options):
    try:
        return cls(**options)
    except TypeError as e:
        raise _options_error(cls, method, options, e) from None


def get_solver(method, *, is_ode=False, **options):
    """Resolve ``method`` (a name or a :class:`Solver` instance) to a solver instance.

    On an ODE, ODE methods are looked up first (``heun`` is Heun's method there),
    then SDE methods, which run their declared ``ode_counterpart`` (Euler–Maruyama
    and Milstein run Euler, predictor–corrector runs Heun); their options are
    checked against the SDE method and have no effect without noise.
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
    tables = _tables()
    if is_ode:
        cls = tables["ode"].get(method)
        if cls is not None:
            return _construct(cls, method, options)
        cls = tables["sde"].get(method)
        if cls is not None:
            _construct(cls, method, options)  # validates the options
            if cls.ode_counterpart is None:
                raise InvalidArgumentError(f"method {method!r} has no ODE counterpart; valid ODE methods: "
                                           f"{', '.join(method_names('ode'))}")
            counterpart = tables["ode"][cls.ode_counterpart]
            shared = set(inspect.signature(counterpart.__init__).parameters) - {"self"}
            return counterpart(**{k: v for k, v in options.items() if k in shared})
    else:
        cls = tables["sde"].get(method) or tables["ode"].get(method)
        if cls is not None:
            return _construct(cls, method, options)
    raise InvalidArgumentError(f"unknown method {method!r}; valid methods: {', '.join(method_names())}")


def facts(cls):
    """The declared facts of a solver class as a dict (what docs, tests and the demo read).

    >>> facts(EulerMaruyama)["strong"]["diagonal"], facts(Heun)["strong"]["general"]
    (0.5, 0.5)
    """
    ok = supported_classes(cls)
    classes = [c for c in NOISE_CLASSES if c in ok]
    return {
        "name": cls.name, "aliases": tuple(cls.aliases), "kind": cls.kind, "calculus": cls.calculus,
        "noise_types": sorted(cls.noise_types), "requires": sorted(cls.requires),
        "classes": classes,
        "strong": {c: order_for(cls.strong_order, c) for c in classes},
        "weak": {c: order_for(cls.weak_order, c) for c in classes},
        "nfe_per_step": cls.nfe_per_step, "levy_area": cls.levy_area, "error_estimate": cls.error_estimate,
        "ode_counterpart": cls.ode_counterpart, "doc": (inspect.getdoc(cls) or "").split("\n")[0],
    }


__all__ = [
    "Solver", "Terms", "EulerMaruyama", "Heun", "Milstein", "PredictorCorrector", "Predicted",
    "TrapezoidalCorrector", "SRI", "SRA", "Weak2", "ReversibleHeun", "ImplicitEM", "ImplicitEuler",
    "Euler", "HeunODE", "RK4", "Dopri5", "REGISTRY", "get_solver", "method_names",
    "solver_class", "facts", "noise_class", "order_for", "supported_classes", "NOISE_CLASSES",
]


_NOISE_LABEL = {"additive": "additive", "scalar": "scalar", "diagonal": "diagonal", "commutative": "commutative",
                "general": "general", "ode": "ODE"}
_CALCULUS = {"ito": "Itô", "stratonovich": "Stratonovich", "any": "follows the SDE"}


def _orders_text(orders):
    """``"1.5 (additive, diagonal); 0.5 (general)"``: noise classes grouped by their order."""
    groups = {}
    for cls, order in orders.items():
        if order is not None:
            groups.setdefault(order, []).append(_NOISE_LABEL[cls])
    if not groups:
        return "—"
    return "; ".join(f"{o:g} ({', '.join(c)})" for o, c in sorted(groups.items(), reverse=True))


def methods_table() -> str:
    """The methods table of ``docs/methods.md`` as Markdown, built from every registered solver's facts.

    >>> print(methods_table().splitlines()[0])
    | method | kind | converges to | noise classes | strong order | weak order | evaluations / step | Lévy area | adaptive |
    """
    lines = ["| method | kind | converges to | noise classes | strong order | weak order | evaluations / step "
             "| Lévy area | adaptive |", "|---|---|---|---|---|---|---|---|---|"]
    for cls in REGISTRY:
        f = facts(cls)
        name = f"`{f['name']}`" + (f" (`{'`, `'.join(f['aliases'])}`)" if f["aliases"] else "")
        kind = "ODE" if f["kind"] == "ode" else "SDE"
        calc = "—" if f["kind"] == "ode" else _CALCULUS[f["calculus"]]
        classes = ", ".join(_NOISE_LABEL[c] for c in f["classes"])
        adaptive = "default" if cls.adaptive_default else ("yes" if f["error_estimate"] else "—")
        lines.append(f"| {name} | {kind} | {calc} | {classes} | {_orders_text(f['strong'])} | "
                     f"{_orders_text(f['weak'])} | {f['nfe_per_step']} | {f['levy_area'] or '—'} | {adaptive} |")
    return "\n".join(lines)


START, END = "<!-- methods-table:start (generated by `python -m sdekit.solvers`) -->", "<!-- methods-table:end -->"


def update_docs(path):
    """Rewrite the generated table between the markers of ``path`` (``docs/methods.md``); returns True if it changed."""
    with open(path) as fh:
        text = fh.read()
    a, b = text.index(START) + len(START), text.index(END)
    new = text[:a] + "\n" + methods_table() + "\n" + text[b:]
    if new != text:
        with open(path, "w") as fh:
            fh.write(new)
    return new != text
