"""What a stepping rule is: a small class whose capabilities are data and whose ``rule`` is pure.

The implementer's contract
--------------------------
A solver is one class in one file, registered by one line in
:mod:`sdekit.solvers` (``REGISTRY``). ``solve``, the tests, the demo, the docs
and every error message read the facts below instead of repeating them.

1. **Name.** ``name`` (the ``method=`` string, binding once published) and
   optional ``aliases``. ``ode_counterpart``: the method an :class:`sdekit.ODE`
   runs instead (e.g. ``"euler"`` for Euler–Maruyama); ``None`` runs it as is.
2. **Kind and calculus.** ``kind`` is ``"sde"`` or ``"ode"``; ``calculus`` is
   ``"ito"``, ``"stratonovich"`` or ``"any"`` (follows the SDE). ``solve``
   refuses a calculus mismatch unless the noise is additive.
3. **Noise.** ``noise_types`` (subset of ``{"diagonal", "scalar", "general"}``),
   ``requires`` (subset of ``{"additive", "commutative"}``: properties the
   problem must declare, e.g. ``sk.SDE(..., additive=True)``) and, when finer,
   ``noise_classes`` (the noise classes of item 4 it solves; by default those the
   first two allow).
4. **Orders per noise class.** ``strong_order`` and ``weak_order`` map a noise
   class — ``"additive"``, ``"scalar"``, ``"diagonal"``, ``"commutative"``,
   ``"general"`` (and ``"ode"`` for ODE methods) — to the order; a class not
   listed falls back along additive → scalar/diagonal → commutative → general
   (see :func:`order_for`). ``None`` means no order is claimed.
5. **Cost.** ``nfe_per_step``: drift plus diffusion evaluations per step
   (``stats["nfe"]`` counts these).
6. **Noise it consumes.** ``levy_area``: ``None`` or ``"space-time"`` (then the
   rule's ``dw`` is a :class:`sdekit.brownian.LevyIncrement` ``(dW, H)``);
   ``n_aux``: how many ``(n, aux_dim(d, m))`` arrays (default ``(n, d)``) of
   independent standard normals per step arrive in ``aux``.
7. **The rule.** ``rule(terms, t, dt, x, dw, aux) -> x_next`` is a module-level
   pure function (no random numbers, no loops over paths, no backend): written
   with arithmetic operators and ``terms`` only, so it runs on NumPy arrays,
   torch tensors and, compiled, inside the Numba backend's fused kernel (which
   derives what it fuses from this one function). ``x`` is ``(n, d)``; ``dw`` is
   ``(n, m)`` (or ``None`` for an ODE). Declare it as ``rule = staticmethod(fn)``
   (``prepare`` may bind another one per problem). ``Solver.step`` calls it; override
   ``step`` only when the rule needs the instance (options), and then set
   ``rule = None`` (the method then runs on the shared loop everywhere).
8. **Error estimate (optional).** ``error_estimate = True`` and
   ``rule_with_error(terms, t, dt, x, dw, aux) -> (x_next, err)`` with ``err``
   of ``x``'s shape (a local error estimate of order ``error_order``): then
   ``sk.solve(..., adaptive=True)`` runs it with the generic PI controller of
   :mod:`sdekit.adaptive`. A rule with a first-same-as-last stage may define
   ``initial_carry`` / ``adaptive_step`` (see :class:`~sdekit.solvers.Dopri5`),
   and then its pure form ``attempt_rule(terms, t, dt, x, dw, aux, carry) ->
   (x_next, err, carry_next)``: the Numba backend compiles the method's pure
   error rule (:meth:`Solver.fused_attempt`) into one parallel call per attempt.
9. **Carry (optional).** Multistep rules keep their history in a carry, not in
   globals: ``init_carry(terms, t, x) -> carry`` and
   ``step_carry(terms, t, dt, x, dw, aux, carry) -> (x_next, carry)``; the
   fixed-step loop threads it through.
10. **Binding to a problem (optional).** ``prepare(sde) -> solver`` returns a
    copy specialised to the problem (e.g. Milstein's Itô or Stratonovich form).
11. **Docstring.** The update rule, its orders and calculus, and a reference.

``docs/adding-a-solver.md`` walks through the contract with a complete example.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, ClassVar, FrozenSet, Mapping, NamedTuple, Optional

ALL_NOISE = frozenset({"diagonal", "scalar", "general"})
NOISE_CLASSES = ("additive", "scalar", "diagonal", "commutative", "general", "ode")
_FALLBACK = {"additive": ("scalar", "diagonal", "commutative", "general"),
             "scalar": ("commutative", "general"), "diagonal": ("commutative", "general"),
             "commutative": ("general",), "general": (), "ode": ()}


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
    ops: Any = None  # the backend's array operations (eye, solve, abs_max) for implicit rules


def noise_class(sde) -> str:
    """The noise class of a problem for order lookups: additive, scalar, diagonal, commutative, general or ode."""
    if sde.is_ode:
        return "ode"
    if sde.additive:
        return "additive"
    if sde.noise == "general":
        return "commutative" if getattr(sde, "commutative", False) else "general"
    return sde.noise


def supported_classes(cls) -> FrozenSet[str]:
    """The noise classes a solver class solves (its ``noise_classes``, or what ``noise_types``/``requires`` allow)."""
    if cls.kind == "ode":
        return frozenset({"ode"})
    if cls.noise_classes is not None:
        return frozenset(cls.noise_classes)
    out = {"additive"}
    out |= {c for c in ("scalar", "diagonal") if c in cls.noise_types}
    if "general" in cls.noise_types:
        out |= {"commutative", "general"}
    if "additive" in cls.requires:
        out = {"additive"}
    if "commutative" in cls.requires:
        out.discard("general")
    return frozenset(out)


def order_for(orders: Optional[Mapping], cls: str) -> Optional[float]:
    """The order declared for noise class ``cls``, falling back to broader classes (see the contract, item 4).

    >>> order_for({"general": 0.5, "additive": 1.0}, "diagonal"), order_for({"general": 0.5, "additive": 1.0}, "additive")
    (0.5, 1.0)
    """
    if not orders:
        return None
    for c in (cls,) + _FALLBACK.get(cls, ()):
        if c in orders:
            return orders[c]
    return None


class Solver:
    """Base class of stepping rules; subclasses declare the facts of the contract above and a ``rule``.

    >>> from sdekit.solvers import EulerMaruyama
    >>> EulerMaruyama.name, order_for(EulerMaruyama.strong_order, "additive"), EulerMaruyama.nfe_per_step
    ('euler_maruyama', 1.0, 2)
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple] = ()
    ode_counterpart: ClassVar[Optional[str]] = None
    kind: ClassVar[str] = "sde"  # "sde" or "ode"
    calculus: ClassVar[str] = "ito"  # "ito", "stratonovich" or "any" (follows the SDE)
    noise_types: ClassVar[FrozenSet[str]] = ALL_NOISE
    requires: ClassVar[FrozenSet[str]] = frozenset()
    noise_classes: ClassVar[Optional[FrozenSet[str]]] = None
    strong_order: ClassVar[Optional[Mapping[str, float]]] = None
    weak_order: ClassVar[Optional[Mapping[str, float]]] = None
    nfe_per_step: int = 2  # drift + diffusion evaluations per step
    levy_area: ClassVar[Optional[str]] = None
    n_aux: int = 0  # auxiliary standard normals (n, d) per step
    error_estimate: ClassVar[bool] = False
    error_order: ClassVar[Optional[float]] = None  # order of the local error estimate (the controller's exponent)
    nfe_adaptive: ClassVar[Optional[int]] = None  # evaluations per adaptive attempt (default: nfe_per_step)
    adaptive_default: ClassVar[bool] = False  # solve(adaptive=None) runs adaptively (dopri5)
    rule: ClassVar[Optional[Callable]] = None
    rule_with_error: ClassVar[Optional[Callable]] = None
    attempt_rule: ClassVar[Optional[Callable]] = None  # FSAL rules: rule_with_error with a carry (item 8)

    def step(self, terms: Terms, t: float, dt: float, x: Any, dw: Any, aux: tuple) -> Any:
        rule = self.rule
        if rule is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither rule nor step")
        return rule(terms, t, dt, x, dw, aux)

    def step_with_error(self, terms, t, dt, x, dw, aux):
        """``(x_next, err)``: the step and its local error estimate (contract item 8)."""
        rule = self.rule_with_error
        if rule is None:
            raise NotImplementedError(f"{type(self).__name__} declares no error estimate")
        return rule(terms, t, dt, x, dw, aux)

    # Adaptive hooks: FSAL rules override these two (the default carries nothing).
    def initial_carry(self, terms, t, x):
        return None

    def adaptive_step(self, terms, t, dt, x, dw, aux, carry):
        """``(x_next, err, carry_if_accepted)``; the default wraps :meth:`step_with_error`."""
        x_next, err = self.step_with_error(terms, t, dt, x, dw, aux)
        return x_next, err, None

    # Multistep hooks (contract item 9); None means the rule keeps no history.
    init_carry = None
    step_carry = None

    def aux_dim(self, d, m):
        """Components of each auxiliary normal array (default: the state dimension ``d``)."""
        return d

    def prepare(self, sde) -> "Solver":
        """A copy bound to ``sde`` (default: ``self``, unchanged)."""
        return self

    def bound(self, **changes) -> "Solver":
        """A shallow copy with attributes changed (helper for :meth:`prepare`)."""
        other = copy.copy(self)
        for k, v in changes.items():
            setattr(other, k, v)
        return other

    def fused_rule(self):
        """The pure function the Numba backend fuses, or None (the shared loop then runs this method)."""
        if type(self).step is not Solver.step or self.step_carry is not None:
            return None
        return self.rule

    def fused_attempt(self):
        """``(rule, carries)``: the pure error rule an adaptive attempt runs, for the Numba backend; or None.

        ``carries``: the rule is ``attempt_rule`` (takes and returns a carry), else
        ``rule_with_error``. None when the instance's own ``step_with_error`` /
        ``adaptive_step`` is not that rule (the generic attempt then runs it).
        """
        cls = type(self)
        if cls.adaptive_step is not Solver.adaptive_step:
            return (self.attempt_rule, True) if self.attempt_rule is not None else None
        if cls.step_with_error is not Solver.step_with_error or self.rule_with_error is None:
            return None
        return self.rule_with_error, False

    def __repr__(self):
        return f"{type(self).__name__}()"
