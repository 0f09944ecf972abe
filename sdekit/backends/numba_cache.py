"""Compile once: the fused step of a problem, cached on disk across processes.

Numba's on-disk cache (``cache=True``) serves functions that live in a source
file; a user's ``drift`` may be a lambda, and what Numba compiles depends on more
than its source (the global arrays it reads are frozen into the machine code).
So sdekit writes, per problem, a small module into a cache directory whose
*name* is a fingerprint of everything the machine code depends on:

* the user functions' code objects, constants, closure values, defaults and the
  globals they read (numbers, strings, NumPy arrays by content, modules by name,
  other functions and Numba dispatchers recursively);
* the solver's rule and its adaptive attempt rule (the same fingerprint), the
  noise type, ``d`` and ``m``, whether the rule takes Lévy areas;
* the versions of sdekit's kernel sources, Numba, NumPy and Python.

The module's functions (``call_drift``, ``call_diffusion``, the flat wrappers,
``advance``, the step the fused kernel calls, and ``attempt``, the adaptive
attempt of :mod:`.numba_adaptive`) are compiled with ``cache=True``
after the problem's functions are set as its globals; a second process with the
same problem loads the machine code instead of compiling it. A function whose
fingerprint cannot be taken (an object sdekit cannot see into) compiles in memory,
as before; ``sol.stats["compile_cache"]`` says ``"hit"``, ``"miss"`` or ``"off"``.

The directory is ``$SDEKIT_CACHE_DIR`` or ``~/.cache/sdekit``; set
``SDEKIT_CACHE_DIR=off`` to disable the cache.

>>> import numpy as np
>>> from sdekit.backends.numba_cache import fingerprint
>>> a = 0.5
>>> fingerprint(lambda t, x: a * x) == fingerprint(lambda t, x: a * x)   # same code, same values
True
>>> fingerprint(lambda t, x: a * x) == fingerprint(lambda t, x: 0.5 * x)
False
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.util
import marshal
import os
import sys
import types as pytypes
from pathlib import Path

import numba
import numpy as np

_SOURCES = ("numba_kernel.py", "numba_cache.py", "numba_adaptive.py", "numba_math.py")


def _kernel_version():
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    for mod in ("_bridge.py", "_brownian_numba.py", "_philox_numba.py", "solvers/base.py", "brownian.py"):
        h.update((here.parent / mod).read_bytes())
    h.update(f"{numba.__version__}|{np.__version__}|{sys.version}".encode())
    return h.hexdigest()


_VERSION = None


def _feed(h, obj, seen, depth):
    """Feed ``obj`` into ``h``; False when it holds something whose effect on compiled code is unknown."""
    if depth > 12:
        return False
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        h.update(repr((type(obj).__name__, obj)).encode())
        return True
    if isinstance(obj, np.ndarray):
        h.update(f"nd{obj.dtype.str}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
        return True
    if isinstance(obj, (np.generic, np.dtype)):
        h.update(repr((type(obj).__name__, obj)).encode())
        return True
    if isinstance(obj, pytypes.ModuleType):
        h.update(f"module:{obj.__name__}".encode())
        return True
    if isinstance(obj, numba.core.dispatcher.Dispatcher):
        h.update(repr(sorted(obj.targetoptions.items())).encode())
        obj = obj.py_func
    if isinstance(obj, (np.ufunc, pytypes.BuiltinFunctionType)):
        h.update(f"builtin:{getattr(obj, '__module__', '')}.{obj.__name__}".encode())
        return True
    if isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        return all(_feed(h, v, seen, depth + 1) for v in obj)
    if isinstance(obj, pytypes.FunctionType):
        if id(obj) in seen:
            h.update(f"again:{obj.__qualname__}".encode())
            return True
        seen.add(id(obj))
        # Numba's cached code finds the function's globals through its module, imported by name on loading:
        # the module is part of what the machine code depends on.
        h.update(f"module-of:{obj.__module__}".encode())
        code = obj.__code__
        _feed_code(h, code)
        for name in sorted(code_names(code)):
            if name in obj.__globals__:
                h.update(f"global:{name}".encode())
                if not _feed(h, obj.__globals__[name], seen, depth + 1):
                    return False
            elif not hasattr(builtins, name):
                h.update(f"attr:{name}".encode())
        for cell in obj.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                value = None
            if not _feed(h, value, seen, depth + 1):
                return False
        return _feed(h, obj.__defaults__, seen, depth + 1) and _feed(h, obj.__kwdefaults__ and
                                                                       tuple(sorted(obj.__kwdefaults__.items())),
                                                                       seen, depth + 1)
    return False


def _feed_code(h, code):
    # What the code does, not where it stands (line and column tables left out): the same function
    # defined in another place compiles to the same machine code.
    h.update(marshal.dumps((code.co_code, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                            code.co_flags, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)))
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            _feed_code(h, c)
        elif isinstance(c, frozenset):  # (its order follows string hashing, which varies by process)
            h.update(repr(("frozenset", sorted(map(repr, c)))).encode())
        else:
            h.update(repr((type(c).__name__, c)).encode())


def code_names(code):
    """The global and attribute names ``code`` (and the code nested in it) reads."""
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            out |= code_names(c)
    return out


def with_scope(fn, scope=None, closure=None):
    """A copy of the Python function ``fn`` reading ``scope`` as its globals and ``closure`` as its cells.

    (``None``: ``fn``'s own.) Name, qualified name, module, defaults and docstring
    are kept, so messages and fingerprints read as ``fn``'s; ``fn`` is not modified.
    Used to compile a function with some of what it reads replaced (its helpers
    compiled, NumPy's ``sin``/``cos`` vectorised).
    """
    out = pytypes.FunctionType(fn.__code__, fn.__globals__ if scope is None else scope, fn.__name__,
                               fn.__defaults__, fn.__closure__ if closure is None else closure)
    out.__kwdefaults__ = fn.__kwdefaults__
    out.__qualname__, out.__module__, out.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    return out


def fingerprint(*objs):
    """A hex digest of what the machine code compiled from ``objs`` depends on, or None (not cacheable)."""
    h = hashlib.sha256()
    seen = set()
    for obj in objs:
        if not _feed(h, obj, seen, 0):
            return None
    return h.hexdigest()


def cache_dir():
    """The directory of the generated modules, or None when caching is off or the directory is not writable."""
    root = os.environ.get("SDEKIT_CACHE_DIR")
    if root is not None and root.strip().lower() in ("off", "0", "none", ""):
        return None
    path = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sdekit"
    path = path / "numba_steps"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError:
        return None
    return path


_TEMPLATE = '''"""sdekit: the fused step of one problem (generated; key {key}).

Do not edit: the file's name is the fingerprint of what it compiles.
"""
import numba
import numpy as np
from numba.extending import register_jitable

from sdekit.backends.numba_adaptive import chunk_norm
from sdekit.backends.numba_kernel import copy_flat, diagonal_noise, general_noise
from sdekit.brownian import LevyIncrement
from sdekit.solvers.base import Terms

D, M = {d}, {m}
drift = diffusion = rule = attempt_rule = None  # the problem's compiled functions, set before anything compiles
_JIT = dict(cache={cache}, nogil=True, error_model="numpy")


@numba.njit(**_JIT)
def call_drift(t, x):
    return drift(t, x)


@numba.njit(**_JIT)
def call_diffusion(t, x):
    return diffusion(t, x)


# The terms the rule receives are register_jitable functions, not dispatchers: a tuple of dispatchers
# is a value holding their addresses, which Numba cannot cache; these compile into the caller instead.
@register_jitable
def t_drift(t, x):
    return drift(t, x)


@register_jitable
def t_diffusion(t, x):
    return diffusion(t, x)


@register_jitable
def flat_drift(t, x):
    return np.ascontiguousarray(drift(t, x.reshape(x.size // D, D))).reshape(x.size)


@register_jitable
def flat_diffusion(t, x):
    return np.ascontiguousarray(diffusion(t, x.reshape(x.size // D, D))).reshape(x.size)


@register_jitable
def shaped_diffusion(t, x):
    return diffusion(t, x.reshape(x.size // D, D))


@register_jitable
def noise_diagonal(g, dw):
    return diagonal_noise(g, dw)


@register_jitable
def noise_general(g, dw):
    return general_noise(g, dw.reshape(dw.size // M, M)).reshape(g.shape[0] * g.shape[1])


@register_jitable
def no_diffusion(t, x):
    return 0.0


@register_jitable
def no_noise(g, dw):
    return 0.0


@numba.njit(**_JIT)
def advance(t, dt, x, dw, h):
    return copy_flat(x, rule({terms}, t, dt, {x_arg}, {dw_arg}, ()))


@numba.njit(**_JIT)
def attempt(t, dt, x, dw, h, carry, x_next, carry_next, rtol, atol):
    {attempt_body}
'''

# The adaptive attempt's body: the rule with or without a carry (contract item 8 of sdekit.solvers.base).
# The driver calls it through its C wrapper, which carries no exception: a raise returns -1 (numba_adaptive).
_ATTEMPT = '''try:
        {results} = attempt_rule({terms}, t, dt, {x_arg}, {dw_arg}, (){carry_arg}){carry_copy}
        return chunk_norm(x, x1, err, x_next, rtol, atol)
    except Exception:  # noqa: BLE001 - re-run by the generic attempt, where it surfaces as itself
        return -1.0'''


def _terms_source(noise, flat):
    if noise == "none":
        return "Terms(flat_drift, no_diffusion, no_noise)"
    if not flat:  # scalar noise, d > 1: g (n, d) times dw (n, 1)
        return "Terms(t_drift, t_diffusion, noise_diagonal)"
    if noise == "general":
        return "Terms(flat_drift, shaped_diffusion, noise_general)"
    return "Terms(flat_drift, flat_diffusion, noise_diagonal)"


_MODULES = {}


def problem_module(rule, drift, diffusion, noise, d, m, levy, py_functions=(), cache=True, attempt_rule=None,
                   carries=False):
    """The module holding one problem's compiled functions (generated, imported; nothing compiled yet).

    ``rule``, ``drift`` and ``diffusion`` are Numba dispatchers (``rule`` may be
    None: the shared loop needs only ``call_drift`` / ``call_diffusion``);
    ``attempt_rule`` (a dispatcher or None) is the method's error rule for the
    adaptive ``attempt``, taking a carry when ``carries``; ``py_functions`` are
    what to fingerprint (the user's original functions). Returns ``(module,
    state)`` with ``state`` ``"cached"`` (on disk) or ``"off"``.
    """
    global _VERSION
    flat = noise in ("none", "general") or d == m
    x_arg = "x.reshape(x.size)" if flat else "x"
    dw = "dw.reshape(dw.size)" if flat else "dw"
    h = "h.reshape(h.size)" if flat else "h"
    dw_arg = f"LevyIncrement({dw}, {h})" if levy else dw
    spec = (noise, int(d), int(m), bool(levy), flat, bool(carries))
    ident = (rule, attempt_rule, drift, diffusion, spec, bool(cache))
    hit = _MODULES.get(ident)
    if hit is not None:
        return hit
    directory = cache_dir() if cache else None
    key = None
    if directory is not None:
        if _VERSION is None:
            _VERSION = _kernel_version()
        key = fingerprint(_VERSION, repr(spec), rule, attempt_rule, *py_functions)
    cache = key is not None and all(_importable(f) for f in py_functions if f is not None)
    terms = _terms_source(noise, flat)
    body = _ATTEMPT.format(terms=terms, x_arg=x_arg, dw_arg=dw_arg, results="x1, err, c1" if carries else "x1, err",
                           carry_arg=(", carry.reshape(carry.size)" if flat else ", carry") if carries else "",
                           carry_copy="\n        copy_flat(carry_next, c1)" if carries else "")
    source = _TEMPLATE.format(key=key or "none", d=int(d), m=max(int(m), 1), cache=cache, terms=terms, x_arg=x_arg,
                              dw_arg=dw_arg, attempt_body=body)
    if cache:
        name = f"sdekit_step_{key[:32]}"
        path = directory / f"{name}.py"
        if not path.exists():  # written once: Numba's cache index checks the file's time stamp
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)
        spec_ = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec_)
        sys.modules[name] = module
        spec_.loader.exec_module(module)
    else:
        module = pytypes.ModuleType("sdekit_step_uncached")
        module.__file__ = None
        exec(compile(source, "<sdekit fused step>", "exec"), module.__dict__)
    module.drift, module.diffusion, module.rule, module.attempt_rule = drift, diffusion, rule, attempt_rule
    if len(_MODULES) > 256:  # modules hold their functions: keep the cache bounded
        _MODULES.clear()
    result = _MODULES[ident] = (module, "cached" if cache else "off")
    return result


def _importable(fn):
    # A module another process can import by name (Numba's cached code looks the globals up there).
    fn = getattr(fn, "py_func", fn)
    name = getattr(fn, "__module__", None)
    return name == "__main__" or (name in sys.modules and getattr(sys.modules[name], "__file__", None) is not None)


def cache_state(dispatchers):
    """``"hit"`` when every dispatcher's compiled code came from the disk cache, else ``"miss"``."""
    hits = sum(sum(d.stats.cache_hits.values()) for d in dispatchers)
    misses = sum(sum(d.stats.cache_misses.values()) for d in dispatchers)
    return "hit" if hits and not misses else "miss"
