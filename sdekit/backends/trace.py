r"""One step of a solve, traced on a symbolic one-path row and written out as straight-line scalar code.

A GPU thread cannot allocate arrays, so the batched NumPy functions of a problem
(``drift(t, x[n, d]) -> [n, d]``) cannot run inside a CUDA kernel as they are.
They can be *traced*: :func:`trace_step` calls the solver's own step (the NumPy
backend's terms: the user's ``drift``/``diffusion`` behind their shape checks and
the noise contraction) once, in Python, on a ``(1, d)`` NumPy object array whose
entries are :class:`Sym` expression nodes. Every NumPy operation on it (arithmetic,
broadcasting, indexing, ``np.stack``, ``@`` with constant arrays, ``np.sin`` ...)
runs NumPy's own object loops, which call the nodes' operators, so the record is
the step's scalar arithmetic *in NumPy's order*. :func:`step_source` writes that
record as one Python function of scalars, which ``numba-cuda`` compiles as a
device function (and the CUDA simulator runs as it is).

Numbers: each recorded operation is the one NumPy performs, on the same operands,
so in float64 the traced step equals the NumPy step to rounding (NumPy's own
matmul and ``sum`` may group additions differently: an ulp). Dtypes follow NumPy's
rules (NEP 50): ``t``, ``dt`` and Python numbers are *weak* (computed in float64,
rounded to the state's dtype when they meet it), state values keep the state's
dtype, so a float32 solve rounds where NumPy rounds.

What cannot be traced (raises :class:`TraceError`): a branch or comparison on the
state (``if x > 0``, ``np.where``, ``np.maximum``), ``float(x)`` or ``math.*`` on
it, per-path parameters, and functions whose output depends on the number of paths.

>>> import numpy as np
>>> from sdekit.backends.trace import trace_step, step_source
>>> from sdekit.solvers.base import Terms
>>> terms = Terms(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x, lambda g, dw: g * dw)
>>> em = lambda terms, t, dt, x, dw, aux: x + terms.drift(t, x) * dt + terms.noise(terms.diffusion(t, x), dw)
>>> tape = trace_step(em, terms, 1, 1, levy_area=False)
>>> print(step_source(tape, "float64"))
def traced_step(t, dt, x, dw, h, out):
    v0 = x[0]
    v2 = dt
    v3 = dw[0]
    v5 = 0.5 * v0
    v6 = v5 * v2
    v7 = v0 + v6
    v9 = 0.8 * v0
    v10 = v9 * v3
    v11 = v7 + v10
    out[0] = v11
"""

from __future__ import annotations

import math

import numpy as np

from ..brownian import LevyIncrement
from ..errors import BackendError


class TraceError(BackendError):
    """The step cannot be traced into straight-line arithmetic (a branch, a float() of the state, ...)."""


WEAK, STATE = "weak", "state"  # a node's dtype: a Python float (computed in float64) or the state's dtype

# NumPy's object loops call methods of these names (np.sin(obj) calls obj.sin()); each maps to a math function.
_UNARY = {"sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh",
          "sinh": "sinh", "cosh": "cosh", "arctan": "atan", "arcsin": "asin", "arccos": "acos",
          "arctanh": "atanh", "arcsinh": "asinh", "arccosh": "acosh", "log1p": "log1p", "expm1": "expm1",
          "log2": "log2", "log10": "log10", "exp2": "exp2", "floor": "floor", "ceil": "ceil"}
_BINARY_UFUNCS = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "div", "divide": "div",
                  "power": "pow"}


class Tape:
    """The nodes of one traced step in creation (hence topological) order, hash-consed."""

    def __init__(self):
        self.nodes = []  # (op, args, kind)
        self._index = {}
        self.outputs = []

    def node(self, op, args, kind):
        key = (op, args, kind)
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.nodes)
            self.nodes.append(key)
        return Sym(self, i, kind)

    def leaf(self, name, index=0, kind=STATE):
        return self.node("leaf", (name, index), kind)


def _refuse(what):
    raise TraceError(
        f"the CUDA kernel traces drift, diffusion and the solver's step as straight-line arithmetic on one "
        f"path; {what} is not traceable. Write it with arithmetic and np.* functions only (no branch, "
        "comparison, float() or math.* on the state), or solve on the CPU (device=None)")


def _operand(tape, v):
    if isinstance(v, Sym):
        return v
    if isinstance(v, (bool, np.bool_)):
        _refuse("a boolean operand")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return tape.node("const", (float(v),), WEAK)
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return _operand(tape, v.item())
    return None


def _kind(a, b):
    return STATE if STATE in (a.kind, b.kind) else WEAK


class Sym:
    """One scalar of the traced step: an index into a :class:`Tape` and a dtype kind (weak or the state's)."""

    __slots__ = ("tape", "index", "kind")

    def __init__(self, tape, index, kind):
        self.tape, self.index, self.kind = tape, index, kind

    def apply(self, op, other, reflected=False):
        """The node of ``self op other`` (``other op self`` when ``reflected``), or NotImplemented."""
        o = _operand(self.tape, other)
        if o is None:
            return NotImplemented
        a, b = (o, self) if reflected else (self, o)
        if op == "pow" and self.tape.nodes[b.index][0] == "const":
            e = self.tape.nodes[b.index][1][0]
            if e == 2.0:  # NumPy's float power takes its square fast path: x * x exactly
                return a.apply("mul", a)
        return self.tape.node(op, (a.index, b.index), _kind(a, b))

    def __add__(self, o):
        return self.apply("add", o)

    def __radd__(self, o):
        return self.apply("add", o, True)

    def __sub__(self, o):
        return self.apply("sub", o)

    def __rsub__(self, o):
        return self.apply("sub", o, True)

    def __mul__(self, o):
        return self.apply("mul", o)

    def __rmul__(self, o):
        return self.apply("mul", o, True)

    def __truediv__(self, o):
        return self.apply("div", o)

    def __rtruediv__(self, o):
        return self.apply("div", o, True)

    def __pow__(self, o):
        return self.apply("pow", o)

    def __rpow__(self, o):
        return self.apply("pow", o, True)

    def __neg__(self):
        return self.tape.node("neg", (self.index,), self.kind)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.tape.node("abs", (self.index,), self.kind)

    absolute = fabs = __abs__

    def _unary(self, name):
        return self.tape.node("call", (_UNARY[name], self.index), self.kind)

    def __getattr__(self, name):
        if name in _UNARY:  # np.sin(object array) calls element.sin()
            return lambda: self._unary(name)
        raise AttributeError(name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # A ufunc with a Sym scalar operand (np.sin(t), np.float64(2) * t): run NumPy's object loop on 0-d
        # object arrays, which calls the elements' operators and methods above.
        if method != "__call__" or kwargs:
            return NotImplemented
        conv = []
        for a in inputs:
            if isinstance(a, Sym):
                box = np.empty((), dtype=object)
                box[()] = a
                a = box
            conv.append(a)
        out = ufunc(*conv)
        return out[()] if isinstance(out, np.ndarray) and out.ndim == 0 else out

    def _no(self, *_):
        _refuse("a comparison or branch on the state")

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = __bool__ = _no
    __hash__ = object.__hash__

    def __float__(self):
        _refuse("float() (or a math.* function) of the state")

    __int__ = __index__ = __float__


def _row(tape, name, shape):
    arr = np.empty(shape, dtype=object)
    flat = arr.reshape(-1)
    for i in range(flat.size):
        flat[i] = tape.leaf(name, i)
    return arr


def trace_step(step, terms, d, m, *, levy_area):
    """Run ``step(terms, t, dt, x, dw, ())`` once on a symbolic one-path row; return the :class:`Tape`.

    ``x`` is ``(1, d)``; ``dw`` is ``(1, m)`` (``None`` when ``m == 0``: an ODE), or a
    :class:`~sdekit.brownian.LevyIncrement` of two such rows with ``levy_area``.
    ``tape.outputs`` lists the ``d`` output nodes (indices into ``tape.nodes``).
    """
    tape = Tape()
    x = _row(tape, "x", (1, d))
    t, dt = tape.leaf("t", kind=WEAK), tape.leaf("dt", kind=WEAK)
    dw = None
    if m:
        dw = _row(tape, "dw", (1, m))
        if levy_area:
            dw = LevyIncrement(dw, _row(tape, "h", (1, m)))
    try:
        with np.errstate(all="ignore"):
            out = step(terms, t, dt, x, dw, ())
    except TraceError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of the functions on a symbolic row
        _refuse(f"this step ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    out = np.asarray(out, dtype=object)
    if out.shape != (1, d):
        _refuse(f"a step returning shape {out.shape} for one path (expected (1, {d}))")
    for v in out.reshape(-1):
        v = _operand(tape, v)
        if v is None:
            _refuse(f"a step output of type {type(v).__name__}")
        tape.outputs.append(v.index)
    return tape


_BLOCK_STATEMENTS = 64
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _literal(v):
    if math.isnan(v):
        return "math.nan"
    if math.isinf(v):
        return "math.inf" if v > 0 else "(-math.inf)"
    return repr(float(v))


def step_source(tape, dtype, name="traced_step"):
    """Python source of ``name(t, dt, x, dw, h, out)``: the traced step on scalars, ``out[i]`` its outputs.

    ``x``, ``dw``, ``h`` and ``out`` are 1-D arrays of the state's ``dtype``. With
    float32, a weak value meeting a state value is first rounded by ``_S`` (NumPy's
    rule), and results of math functions are rounded back to float32.
    """
    f32 = np.dtype(dtype) == np.float32
    lines = [f"def {name}(t, dt, x, dw, h, out):"]
    statements = 0
    live = _live(tape)  # nodes that feed no output (e.g. a diffusion an ODE rule ignores) are dropped

    def ref(i, want_state):
        op, args, kind = tape.nodes[i]
        s = _literal(args[0]) if op == "const" else f"v{i}"
        if f32 and want_state and kind == WEAK:
            return f"_S({s})"
        return s

    for i, (op, args, kind) in enumerate(tape.nodes):
        if i not in live or op == "const":
            continue
        st = kind == STATE
        if op == "leaf":
            src, j = args
            expr = src if src in ("t", "dt") else f"{src}[{j}]"
        elif op in _INFIX:
            expr = f"{ref(args[0], st)} {_INFIX[op]} {ref(args[1], st)}"
        elif op == "neg":
            expr = f"-{ref(args[0], st)}"
        elif op == "abs":
            expr = f"abs({ref(args[0], st)})"
        else:  # call
            expr = f"math.{args[0]}({ref(args[1], st)})"
            if f32 and st:
                expr = f"_S({expr})"
        lines.append(f"    v{i} = {expr}")
        statements += 1
        if statements % _BLOCK_STATEMENTS == 0:
            # A branch that does nothing ends a basic block: Numba's lowering scans each block once per variable
            # defined in it (quadratic), so a 32-dim matmul drift in one block takes minutes to compile.
            lines.append("    if t < 0.0:\n        pass")
    for k, i in enumerate(tape.outputs):
        lines.append(f"    out[{k}] = {ref(i, True)}")
    return "\n".join(lines)


def _live(tape):
    live = set()
    stack = list(tape.outputs)
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        op, args, _ = tape.nodes[i]
        if op in _INFIX:
            stack.extend(args)
        elif op in ("neg", "abs"):
            stack.append(args[0])
        elif op == "call":
            stack.append(args[1])
    return live


def compile_source(source, name="traced_step", extra=None):
    """Execute generated ``source`` (registered with :mod:`linecache`, so tracebacks show it); return ``name``."""
    import linecache

    filename = f"<sdekit traced step {abs(hash(source)):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"math": math, "_S": np.float32}
    namespace.update(extra or {})
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated arithmetic
    return namespace[name]
