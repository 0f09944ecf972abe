"""torchsde's surface on sdekit: ``sdeint`` / ``sdeint_adjoint``, Brownian objects both ways, ``names=``.

Moving a torchsde program to sdekit is one import::

    import sdekit.interop as torchsde     # was: import torchsde

:func:`sdeint` takes torchsde's arguments and returns what torchsde returns: ``ys``
of shape ``(len(ts), batch, d)``, or ``(ys, log_ratio)`` with ``logqp=True``
(``log_ratio`` of shape ``(len(ts) - 1, batch)``: the KL over each interval of ``ts``).
``adjoint=True`` (or :func:`sdeint_adjoint`) computes gradients by sdekit's adjoint
(:mod:`sdekit.adjoint`: exact for ``reversible_heun``). Methods map to sdekit's:

================  ===============================  =============================================
torchsde          sdekit                           note
================  ===============================  =============================================
``euler``         ``euler_maruyama``               the same rule
``milstein``      ``milstein``                     derivative-free (``grad_free`` accepted, ignored)
``srk``           ``sri`` (``sra`` for additive)   strong 1.5 with the exact space-time Lévy area
``heun``          ``heun``                         the same rule
``midpoint``,     ``heun``                         another Stratonovich rule of the same orders
``euler_heun``
``reversible_heun`` ``reversible_heun``            the same rule; its adjoint is exact
``log_ode``       (refused)                        needs space-space Lévy areas
================  ===============================  =============================================

The default method follows torchsde (``srk`` for Itô diagonal/scalar/additive
noise, ``euler`` for general, ``midpoint`` for Stratonovich). The grid is sdekit's:
``ceil(span / dt)`` equal steps with every ``ts`` inserted exactly (torchsde steps
by ``dt`` and interpolates at ``ts``). **Randomness** follows torchsde too: without
``bm=`` or ``seed=`` (an sdekit extension) each call draws its path's seed from
torch's global generator (so ``torch.manual_seed`` reproduces it); with ``seed=``
path ``i`` is a pure function of ``(seed, i)``. Options torchsde has and sdekit
cannot honour raise :class:`~sdekit.errors.InvalidArgumentError` naming the
sdekit equivalent (``extra``, ``dt_min``, ``adjoint_adaptive``, ``levy_area_approximation``, ...).

Brownian objects: :func:`as_torchsde_brownian` views an :class:`sdekit.BrownianPath`
as torchsde's Brownian object (``bm(ta, tb)``, usable by ``torchsde.sdeint``);
:func:`BrownianInterval`, :func:`BrownianTree` and :func:`BrownianPath` build such
views with torchsde's signatures; :func:`as_noise` turns torchsde's own objects into
sdekit's noise protocol, so ``sk.solve(..., brownian=torchsde.BrownianInterval(...))`` works.

Modules: :func:`as_sde` reads ``f``/``g`` (or the methods ``names=`` maps), ``f_and_g``
-only modules and ``g_prod``/``f_and_g_prod``-only modules (the diffusion rebuilt from
products with unit vectors).

This module imports torch only when one of its functions runs (``import sdekit`` stays torch-free).

References: torchsde (github.com/google-research/torchsde), whose interface this
follows; X. Li, T.-K. L. Wong, R. T. Q. Chen, D. Duvenaud, "Scalable gradients for
stochastic differential equations", AISTATS 2020 (``sdeint_adjoint``, ``logqp``);
P. Kidger, J. Foster, X. Li, T. Lyons, "Efficient and accurate gradients for neural
SDEs", NeurIPS 2021 (``reversible_heun``, ``BrownianInterval``).

torchsde's base classes (``BaseSDE``, ``SDEIto``, ``SDEStratonovich``) check their
``noise_type`` and ``sde_type`` as torchsde's do:

>>> import sdekit.interop as torchsde
>>> class Drifting(torchsde.SDEIto):
...     def __init__(self):
...         super().__init__(noise_type="diagonal")
...     def f(self, t, y): return 0.0 * y + 1.0
...     def g(self, t, y): return 0.0 * y
>>> round(float(torchsde.sdeint(Drifting(), __import__("torch").zeros(2, 1), [0.0, 0.5], dt=0.1)[-1, 0, 0]), 6)  # y = t
0.5
>>> torchsde.SDEStratonovich(noise_type="spiky")
Traceback (most recent call last):
...
sdekit.errors.InvalidArgumentError: ...

>>> import torch
>>> import sdekit.interop as torchsde
>>> class SDE(torch.nn.Module):
...     noise_type, sde_type = "diagonal", "ito"
...     def __init__(self):
...         super().__init__()
...         self.mu = torch.nn.Parameter(torch.tensor(-0.5))
...     def f(self, t, y): return self.mu * y
...     def g(self, t, y): return 0.2 + 0.0 * y
>>> ys = torchsde.sdeint(SDE(), torch.ones(8, 2), torch.linspace(0, 1, 5), dt=0.05, seed=0)
>>> tuple(ys.shape), ys.dtype
((5, 8, 2), torch.float32)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .brownian import BrownianPath as _SkBrownianPath
from .errors import IncompatibleMethodError, InvalidArgumentError, ShapeError
from .logqp import PairCache
from .sde import SDE, check_choice
from .torchsde_noise import TorchsdeNoise, as_noise  # noqa: F401  (part of the interop surface)

__all__ = ["sdeint", "sdeint_adjoint", "as_torchsde_brownian", "as_noise", "as_sde", "BrownianInterval",
           "BrownianTree", "BrownianPath", "brownian_interval_like", "METHODS", "BaseSDE", "SDEIto",
           "SDEStratonovich", "BaseBrownian"]

METHODS = {
    "euler": "euler_maruyama", "milstein": "milstein", "srk": "sri", "heun": "heun", "midpoint": "heun",
    "euler_heun": "heun", "reversible_heun": "reversible_heun",
}
"""torchsde method names and the sdekit method each runs (``srk`` runs ``sra`` on additive noise)."""

_TORCHSDE_ONLY = {
    "log_ode": "the log-ODE midpoint method needs space-space Lévy areas (Davie/Foster), which sdekit does not "
               "draw; use 'heun' or 'reversible_heun' (Stratonovich)",
    "adjoint_reversible_heun": "it is an adjoint_method; pass method='reversible_heun' (sdekit's reversible Heun "
                               "adjoint is exact)",
}
_NAME_KEYS = ("drift", "diffusion", "prior_drift", "diffusion_prod", "drift_and_diffusion", "drift_and_diffusion_prod")
_DEFAULT_NAMES = dict(drift="f", diffusion="g", prior_drift="h", diffusion_prod="g_prod", drift_and_diffusion="f_and_g",
                      drift_and_diffusion_prod="f_and_g_prod")
_UNSET = object()


def _torch():
    import torch

    return torch


def _dtype_name(dtype):
    torch = _torch()
    if dtype is None:
        dtype = torch.get_default_dtype()
    if dtype in (torch.float64, "float64"):
        return "float64"
    if dtype in (torch.float32, "float32"):
        return "float32"
    raise InvalidArgumentError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}")


def _entropy():
    """A seed from torch's global generator: torchsde's convention for a Brownian object built without entropy."""
    torch = _torch()
    return int(torch.randint(0, 2**62, ()).item())


def _as_float(t, name):
    if hasattr(t, "detach"):
        t = t.detach().cpu()
    try:
        return float(t)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a float time; got {type(t).__name__}") from None


# -- Brownian objects ------------------------------------------------------------

_VIEW_CLASS = None


def _view_class():
    """The view's class, built on first use on torchsde's ``BaseBrownian`` when torchsde is installed."""
    global _VIEW_CLASS
    if _VIEW_CLASS is not None:
        return _VIEW_CLASS
    try:
        from torchsde import BaseBrownian as base
    except ImportError:
        base = object

    class TorchsdeBrownian(base):
        """An sdekit path seen as torchsde's Brownian object: ``bm(ta, tb)``, ``bm(t)``, ``return_U=True``."""

        def __init__(self, path, levy_area_approximation="space-time", w0=None):
            self.path, self._levy, self._w0 = path, levy_area_approximation, w0

        def _tensor(self, w):
            torch = _torch()
            return w if isinstance(w, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(w))

        def __call__(self, ta, tb=None, return_U=False, return_A=False):
            if return_A:
                raise InvalidArgumentError(
                    "return_A (space-space Lévy area, torchsde's 'davie'/'foster') is not provided by sdekit's "
                    "paths; they carry the exact space-time Lévy area (return_U=True)")
            ta = _as_float(ta, "ta")
            if tb is None:
                if return_U:
                    raise InvalidArgumentError("return_U needs an interval: call bm(ta, tb, return_U=True)")
                w = self._tensor(self.path.value(ta))
                return w if self._w0 is None else w + self._w0
            tb = _as_float(tb, "tb")
            if tb < ta:
                raise InvalidArgumentError(f"query times must satisfy ta <= tb; got ta={ta}, tb={tb}")
            w = self._tensor(self.path.increment(ta, tb))
            if not return_U:
                return w
            if tb == ta:
                return w, 0.0 * w
            h = tb - ta
            return w, h * (0.5 * w + self._tensor(self.path.space_time_levy_area(ta, tb)))  # U = h (W/2 + H)

        def __repr__(self):
            return f"as_torchsde_brownian({self.path!r})"

        @property
        def dtype(self):
            return getattr(_torch(), self.path.dtype)

        @property
        def device(self):
            return _torch().device(self.path.device) if self.path.device is not None else _torch().device("cpu")

        @property
        def shape(self):
            return _torch().Size((self.path.n_paths, self.path.dim))

        @property
        def levy_area_approximation(self):
            return self._levy

        def size(self):
            return self.shape

    _VIEW_CLASS = TorchsdeBrownian
    return _VIEW_CLASS


def as_torchsde_brownian(bm, levy_area_approximation="space-time"):
    """View an :class:`sdekit.BrownianPath` as torchsde's Brownian object.

    ``view(ta, tb)`` is ``bm.increment(ta, tb)`` as a tensor ``(n_paths, dim)``;
    ``view(t)`` is ``bm.value(t)``; ``view(ta, tb, return_U=True)`` adds torchsde's
    ``U = h (W/2 + H)`` from the exact space-time Lévy area ``H``. It has ``shape``,
    ``dtype``, ``device`` and ``levy_area_approximation``, and subclasses
    ``torchsde.BaseBrownian`` when torchsde is installed, so ``torchsde.sdeint(...,
    bm=view)`` runs on sdekit's path (for a direct comparison of the two libraries).
    Passed back to sdekit (``brownian=`` or :func:`sdeint`'s ``bm=``) it is unwrapped.

    >>> import sdekit as sk
    >>> bm = sk.BrownianPath(4, 2, (0.0, 1.0), seed=3, backend="torch")
    >>> view = as_torchsde_brownian(bm)
    >>> tuple(view(0.2, 0.7).shape), bool((view(0.2, 0.7) == bm.increment(0.2, 0.7)).all())
    ((4, 2), True)
    """
    if isinstance(bm, _view_class()):
        return bm
    if not isinstance(bm, _SkBrownianPath):
        raise InvalidArgumentError(f"bm must be an sdekit.BrownianPath; got {type(bm).__name__}")
    check_choice("levy_area_approximation", levy_area_approximation, ("none", "space-time"))
    return _view_class()(bm, levy_area_approximation)


def _make_path(t0, t1, size, dtype, device, entropy):
    t0, t1 = _as_float(t0, "t0"), _as_float(t1, "t1")
    if size is None or len(tuple(size)) != 2:
        raise ShapeError(f"size must be (batch, brownian_size) for sdekit's paths; got {size!r}")
    n, m = (int(s) for s in size)
    seed = _entropy() if entropy is None else int(entropy)
    return _SkBrownianPath(n, m, (t0, t1), seed=seed, dtype=_dtype_name(dtype), backend="torch", device=device)


def BrownianInterval(t0=0.0, t1=1.0, size=None, dtype=None, device=None, entropy=None,
                     levy_area_approximation="none", dt=None, tol=0.0, pool_size=8, cache_size=45,
                     halfway_tree=False, W=None, H=None):
    """torchsde's ``BrownianInterval`` signature, returning a view of an sdekit path (:func:`as_torchsde_brownian`).

    ``entropy`` is the seed (None: drawn from torch's global generator, as torchsde
    draws it). ``dt``, ``tol``, ``pool_size``, ``cache_size`` and ``halfway_tree`` tune
    torchsde's data structure and are accepted without effect: sdekit's path is
    already independent of query order and resolution. ``W``/``H`` (a prescribed
    increment) and the ``"davie"``/``"foster"`` approximations are refused.

    >>> bm = BrownianInterval(size=(3, 2), entropy=1, dtype=__import__("torch").float64)
    >>> tuple(bm(0.0, 0.5).shape), bm.levy_area_approximation
    ((3, 2), 'none')
    """
    if W is not None or H is not None:
        raise InvalidArgumentError("W= / H= (a prescribed increment over [t0, t1]) are not supported: sdekit's paths "
                                   "are pure functions of (seed, path, time)")
    check_choice("levy_area_approximation", levy_area_approximation, ("none", "space-time", "davie", "foster"))
    if levy_area_approximation in ("davie", "foster"):
        raise InvalidArgumentError(f"levy_area_approximation={levy_area_approximation!r} (space-space Lévy area) is "
                                   "not provided; sdekit's paths carry the exact space-time Lévy area ('space-time')")
    return _view_class()(_make_path(t0, t1, size, dtype, device, entropy), levy_area_approximation)


def BrownianTree(t0, w0, t1=None, w1=None, entropy=None, tol=1e-6, pool_size=24, cache_depth=9, safety=None):
    """torchsde's legacy ``BrownianTree``: ``bm(t)`` is ``w0 + W(t)``; the span is ``[t0, t1]`` (``t1 = t0 + 1``).

    ``W`` is a standard Brownian motion with ``W(t0) = 0``: ``bm(s, t) = W(t) - W(s) ~ N(0, (t - s) I)``.
    ``tol``, ``pool_size``, ``cache_depth`` and ``safety`` tune torchsde's tree and have no effect here.

    >>> import torch
    >>> bm = BrownianTree(0.0, torch.full((2, 3), 5.0, dtype=torch.float64), t1=2.0, entropy=4)
    >>> bool(torch.equal(bm(0.0), torch.full((2, 3), 5.0, dtype=torch.float64)))   # bm(t0) = w0
    True
    >>> bool(torch.allclose(bm(1.5) - bm(0.5), bm(0.5, 1.5)))
    True
    """
    if w1 is not None:
        raise InvalidArgumentError("w1= (a prescribed terminal value) is not supported")
    t1 = _as_float(t0, "t0") + 1.0 if t1 is None else t1
    path = _make_path(t0, t1, tuple(w0.shape), w0.dtype, w0.device, entropy)
    return _view_class()(path, "space-time", w0=w0)


def BrownianPath(t0, w0, window_size=8):
    """torchsde's legacy ``BrownianPath``: as :func:`BrownianTree` on ``[t0, t0 + 1]`` (``window_size`` ignored).

    >>> import torch
    >>> bm = BrownianPath(0.0, torch.zeros(3, 2))
    >>> tuple(bm(0.25, 0.75).shape), bool((bm(0.0) == 0).all())
    ((3, 2), True)
    """
    return BrownianTree(t0, w0)


def brownian_interval_like(y, t0=0.0, t1=1.0, size=None, dtype=None, device=None, **kwargs):
    """torchsde's helper: a :func:`BrownianInterval` with ``y``'s shape, dtype and device unless given.

    Increments are ``bm(s, t) ~ N(0, (t - s) I)`` of shape ``size`` (default ``y.shape``).

    >>> import torch
    >>> bm = brownian_interval_like(torch.zeros(5, 2, dtype=torch.float64), entropy=0)
    >>> tuple(bm(0.0, 1.0).shape), bm(0.0, 1.0).dtype
    ((5, 2), torch.float64)
    """
    return BrownianInterval(t0=t0, t1=t1, size=tuple(y.shape) if size is None else size,
                            dtype=y.dtype if dtype is None else dtype, device=y.device if device is None else device,
                            **kwargs)


_LAZY = {}


def __getattr__(name):
    """torchsde's base classes, built on first use (they derive from ``torch.nn.Module``: torch is imported then)."""
    if name == "BaseBrownian":
        return _view_class().__mro__[1]
    if name not in ("BaseSDE", "SDEIto", "SDEStratonovich"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _LAZY:
        torch = _torch()

        class BaseSDE(torch.nn.Module):
            """torchsde's ``BaseSDE``: a module with checked ``noise_type`` and ``sde_type`` (subclass and add f, g)."""

            def __init__(self, noise_type, sde_type):
                super().__init__()
                check_choice("noise_type", noise_type, ("diagonal", "scalar", "additive", "general"))
                check_choice("sde_type", sde_type, ("ito", "stratonovich"))
                self.noise_type, self.sde_type = noise_type, sde_type

        class SDEIto(BaseSDE):
            """torchsde's ``SDEIto(noise_type)``."""

            def __init__(self, noise_type):
                super().__init__(noise_type, "ito")

        class SDEStratonovich(BaseSDE):
            """torchsde's ``SDEStratonovich(noise_type)``."""

            def __init__(self, noise_type):
                super().__init__(noise_type, "stratonovich")

        _LAZY.update(BaseSDE=BaseSDE, SDEIto=SDEIto, SDEStratonovich=SDEStratonovich)
    return _LAZY[name]


# -- modules ---------------------------------------------------------------------

def _names(names):
    if names is None:
        return dict(_DEFAULT_NAMES)
    if not isinstance(names, dict):
        raise InvalidArgumentError(f"names must be a dict; got {type(names).__name__}")
    unknown = [k for k in names if k not in _NAME_KEYS]
    if unknown:
        raise InvalidArgumentError(f"names has unknown keys {unknown}; valid keys: {', '.join(_NAME_KEYS)}")
    out = dict(_DEFAULT_NAMES)
    out.update(names)
    return out


def _squeeze_scalar(g, scalar):
    return g[..., 0] if scalar and g.dim() == 3 else g


def _unit_products(g_prod, noise, m):
    """The diffusion rebuilt from ``g_prod(t, y, v)``: ``v = 1`` for diagonal/scalar noise, unit vectors otherwise."""
    def diffusion(t, y):
        torch = _torch()
        n = y.shape[0]
        if noise == "diagonal":
            return g_prod(t, y, torch.ones_like(y))
        if noise == "scalar":
            return g_prod(t, y, torch.ones((n, 1), dtype=y.dtype, device=y.device))
        cols = []
        for j in range(m):
            e = torch.zeros((n, m), dtype=y.dtype, device=y.device)
            e[:, j] = 1.0
            cols.append(g_prod(t, y, e))
        return torch.stack(cols, dim=-1)

    return diffusion


def as_sde(sde, names=None, brownian_size=None):
    """An :class:`sdekit.SDE` from a torchsde-style module, with torchsde's method lookup.

    ``names`` maps torchsde's roles (``"drift"``, ``"diffusion"``, ``"prior_drift"``,
    ``"drift_and_diffusion"``, ``"drift_and_diffusion_prod"``, ``"diffusion_prod"``) to
    method names. The drift comes from ``f`` or ``f_and_g`` (or ``f_and_g_prod``); the
    diffusion from ``g``, ``f_and_g`` (one call serves both, :class:`sdekit.logqp.PairCache`),
    or ``g_prod`` / ``f_and_g_prod`` (``g`` rebuilt by products with ones for diagonal and
    scalar noise, with the ``m`` unit vectors for general noise: ``brownian_size`` is then
    needed). The result keeps the module as ``.source`` (its parameters are what
    ``adjoint=True`` differentiates) and its prior drift as ``.prior_drift``.

    >>> import torch
    >>> class Both(torch.nn.Module):
    ...     noise_type, sde_type = "diagonal", "stratonovich"
    ...     def f_and_g(self, t, y): return -y, 0.1 + 0 * y
    >>> sde = as_sde(Both())
    >>> sde.noise, sde.calculus, tuple(sde.diffusion(0.0, torch.ones(2, 3)).shape)
    ('diagonal', 'stratonovich', (2, 3))
    """
    if isinstance(sde, SDE):
        if names:
            raise InvalidArgumentError("names= applies to torchsde-style modules, not to an sdekit.SDE")
        return sde
    for attr in ("noise_type", "sde_type"):
        if not hasattr(sde, attr):
            raise InvalidArgumentError(f"sde must have the attribute {attr} (torchsde's convention); "
                                       f"{type(sde).__name__} has none")
    nm = _names(names)
    nt, calculus = sde.noise_type, sde.sde_type
    check_choice("sde.noise_type", nt, ("diagonal", "scalar", "additive", "general"))
    check_choice("sde.sde_type", calculus, ("ito", "stratonovich"))
    scalar = nt == "scalar"
    noise = "general" if nt in ("additive", "general") else nt
    m = getattr(sde, "brownian_size", None) if brownian_size is None else brownian_size
    f, g = getattr(sde, nm["drift"], None), getattr(sde, nm["diffusion"], None)
    fg, fgp = getattr(sde, nm["drift_and_diffusion"], None), getattr(sde, nm["drift_and_diffusion_prod"], None)
    gp = getattr(sde, nm["diffusion_prod"], None)
    drift = diffusion = None
    if fg is not None and (f is None or g is None):
        pair = PairCache(fg)
        drift = f or (lambda t, y: pair(t, y)[0])
        diffusion = (lambda t, y: _squeeze_scalar(g(t, y), scalar)) if g is not None else \
            (lambda t, y: _squeeze_scalar(pair(t, y)[1], scalar))
    if drift is None:
        if f is not None:
            drift = f
        elif fgp is not None:
            drift = _drift_from_fgp(fgp, noise, m)
    if diffusion is None:
        if g is not None:
            diffusion = (lambda t, y: _squeeze_scalar(g(t, y), True)) if scalar else g
        else:
            prod = gp if gp is not None else (lambda t, y, v: fgp(t, y, v)[1]) if fgp is not None else None
            if prod is not None:
                if noise == "general" and m is None:
                    raise InvalidArgumentError("a module with only g_prod / f_and_g_prod and general noise needs its "
                                               "Brownian size: set sde.brownian_size or pass bm=")
                diffusion = _unit_products(prod, noise, m)
    if drift is None:
        raise InvalidArgumentError(f"sde must define {nm['drift']!r}, {nm['drift_and_diffusion']!r} or "
                                   f"{nm['drift_and_diffusion_prod']!r} (the drift)")
    if diffusion is None:
        raise InvalidArgumentError(f"sde must define {nm['diffusion']!r}, {nm['drift_and_diffusion']!r}, "
                                   f"{nm['diffusion_prod']!r} or {nm['drift_and_diffusion_prod']!r} (the diffusion)")
    out = SDE(drift, diffusion, noise=noise, calculus=calculus,
              brownian_dim=(m if m is not None else 1) if noise == "general" else None, additive=(nt == "additive"))
    if noise == "general":
        out.infers_brownian_dim = m is None
    out.torchsde_style = True
    out.source = sde
    out.prior_drift = getattr(sde, nm["prior_drift"], None)
    return out


def _drift_from_fgp(fgp, noise, m):
    def drift(t, y):
        torch = _torch()
        k = y.shape[1] if noise == "diagonal" else (1 if noise == "scalar" else m)
        if k is None:
            raise InvalidArgumentError("f_and_g_prod with general noise needs sde.brownian_size")
        return fgp(t, y, torch.zeros((y.shape[0], k), dtype=y.dtype, device=y.device))[0]

    return drift


# -- sdeint ----------------------------------------------------------------------

def _method_for(method, sde):
    if method is None:
        if sde.calculus == "stratonovich":
            return "heun"
        return "euler_maruyama" if sde.noise == "general" and not sde.additive else ("sra" if sde.additive else "sri")
    if not isinstance(method, str):
        raise InvalidArgumentError(f"method must be a torchsde method name; got {type(method).__name__}")
    if method in _TORCHSDE_ONLY:
        raise IncompatibleMethodError(f"method {method!r}: {_TORCHSDE_ONLY[method]}")
    if method not in METHODS:
        raise InvalidArgumentError(f"unknown torchsde method {method!r}; valid: {', '.join(METHODS)} (and sdekit's "
                                   "own names through sk.solve)")
    if method == "srk" and sde.additive:
        return "sra"
    return METHODS[method]


def _check_options(options, method):
    if not options:
        return
    if not isinstance(options, dict):
        raise InvalidArgumentError(f"options must be a dict; got {type(options).__name__}")
    for k in options:
        if not (k == "grad_free" and method == "milstein"):
            raise InvalidArgumentError(f"option {k!r} is not supported (sdekit's milstein is derivative-free; it "
                                       "takes grad_free only, and other methods take no options here)")


_HINTS = {
    "levy_area_approximation": "an option of torchsde's BrownianInterval; sdekit's paths always carry the exact "
                               "space-time Lévy area, which method='srk' (sdekit's sri/sra) uses",
    "adjoint_method": "an argument of sdeint_adjoint (or sdeint(..., adjoint=True))",
    "adjoint_params": "an argument of sdeint_adjoint (or sdeint(..., adjoint=True))",
}


def sdeint(sde, y0, ts, bm=None, method=None, dt=1e-3, adaptive=False, rtol=_UNSET, atol=_UNSET, dt_min=_UNSET,
           options=None, names=None, logqp=False, extra=False, extra_solver_state=None, *, adjoint=False,
           adjoint_method=None, adjoint_params=None, adjoint_adaptive=False, adjoint_rtol=_UNSET,
           adjoint_atol=_UNSET, adjoint_options=None, seed=None, **unknown):
    """torchsde's ``sdeint`` on sdekit: ``ys`` ``(len(ts), batch, d)``, or ``(ys, log_ratio)`` with ``logqp=True``.

    Arguments as torchsde's (see the module docstring for the method map, the grid
    and the randomness). Beyond torchsde: ``adjoint=True`` (what :func:`sdeint_adjoint`
    sets) and ``seed=`` (an int: path ``i`` depends only on ``(seed, i)``).
    ``log_ratio[i]`` is the KL term ``½∫|u|² dt`` over ``[ts[i], ts[i+1]]`` per path
    (:mod:`sdekit.logqp`), with the prior drift ``h`` (or ``names["prior_drift"]``).

    >>> import torch, sdekit.interop as torchsde
    >>> class OU(torch.nn.Module):
    ...     noise_type, sde_type = "diagonal", "ito"
    ...     def f(self, t, y): return -y
    ...     def h(self, t, y): return -2.0 * y
    ...     def g(self, t, y): return 0.5 + 0.0 * y
    >>> ys, kl = torchsde.sdeint(OU(), torch.ones(4, 1), [0.0, 0.5, 1.0], dt=0.01, logqp=True, seed=1)
    >>> tuple(ys.shape), tuple(kl.shape)
    ((3, 4, 1), (2, 4))
    """
    from .solve import solve

    torch = _torch()
    if unknown:
        lines = [f"{k!r} ({_HINTS[k]})" if k in _HINTS else repr(k) for k in unknown]
        raise InvalidArgumentError(f"sdeint got unknown arguments {', '.join(lines)}")
    if extra or extra_solver_state is not None:
        raise InvalidArgumentError("extra= / extra_solver_state= (the solver's internal state) are not supported; "
                                   "sk.solve(...).final_carry holds reversible Heun's state at t1")
    if not isinstance(y0, torch.Tensor):
        raise InvalidArgumentError(f"y0 must be a torch.Tensor (batch, d); got {type(y0).__name__}")
    if y0.dim() < 2:
        raise ShapeError(f"y0 must have shape (batch, d); got {tuple(y0.shape)}")
    raw = ts.detach().cpu().numpy() if isinstance(ts, torch.Tensor) else np.asarray(ts)
    times = np.asarray(raw, dtype=np.float64)
    if times.ndim != 1 or times.size < 1 or not np.all(np.isfinite(times)):
        raise InvalidArgumentError(f"ts must be a non-empty 1-D sequence of finite times; got {times!r}")
    if np.any(np.diff(times) <= 0):
        raise InvalidArgumentError("ts must be strictly increasing")
    nm = _names(names)
    noise_src = None if bm is None else as_noise(bm, (float(times[0]), float(times[-1])))
    m_hint = getattr(noise_src, "dim", None) if noise_src is not None else None
    problem = as_sde(sde, names, brownian_size=m_hint if getattr(sde, "noise_type", None) in ("general", "additive")
                     and getattr(sde, "brownian_size", None) is None else None)
    name = _method_for(method, problem)
    _check_options(options, method)
    prior = None
    if logqp:
        prior = getattr(sde, nm["prior_drift"], None) if not isinstance(sde, SDE) else None
        if prior is None:
            raise InvalidArgumentError(f"logqp=True needs the prior drift: the module's method {nm['prior_drift']!r} "
                                       "(or names={'prior_drift': ...})")
    if times.size == 1:
        ys = y0[None]
        return (ys, y0.new_zeros((0, y0.shape[0]))) if logqp else ys
    kw = {}
    if adaptive:
        if adjoint:
            raise IncompatibleMethodError("adaptive=True with the adjoint: sdekit's adjoint replays a fixed grid; "
                                          "use fixed steps (dt=)")
        if dt_min is not _UNSET:
            raise InvalidArgumentError("dt_min has no sdekit equivalent (its controller has max_steps instead)")
        kw = dict(adaptive=True, rtol=1e-5 if rtol is _UNSET else rtol, atol=1e-4 if atol is _UNSET else atol)
    if adjoint:
        if adjoint_adaptive:
            raise InvalidArgumentError("adjoint_adaptive=True is not supported: the backward pass replays the "
                                       "forward grid")
        if adjoint_options:
            raise InvalidArgumentError("adjoint_options are not supported")
        if adjoint_method is not None:
            valid = set(METHODS) | {"adjoint_reversible_heun", "log_ode"}
            if adjoint_method not in valid:
                raise InvalidArgumentError(f"unknown adjoint_method {adjoint_method!r}")
            if adjoint_method == "adjoint_reversible_heun" and name != "reversible_heun":
                raise IncompatibleMethodError("adjoint_method='adjoint_reversible_heun' needs method='reversible_heun'")
        kw["adjoint"] = True
        kw["adjoint_params"] = None if adjoint_params is None else tuple(adjoint_params)
    elif adjoint_params is not None:
        raise InvalidArgumentError("adjoint_params applies to sdeint_adjoint / adjoint=True")
    if dt is None or isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
        raise InvalidArgumentError(f"dt must be a positive float; got {dt!r}")
    if noise_src is None and seed is None:
        seed = _entropy()
    times = _snap_to_grid(times, float(dt), raw.dtype)
    sol = solve(problem, y0, (float(times[0]), float(times[-1])), dt=float(dt), method=name,
                   save_at=times, brownian=noise_src, seed=0 if seed is None else seed,
                   logqp=prior, **kw)
    if not logqp:
        return sol.ys
    return sol.ys, sol.logqp_saved[1:] - sol.logqp_saved[:-1]


def _snap_to_grid(times, dt, dtype):
    """``ts`` moved onto the uniform ``dt`` grid where they sit within the rounding of their own dtype.

    ``torch.linspace(0, 1, 51)`` in float32 misses the points of a 100-step float64 grid by
    1e-8; inserted as they are, each would add a step (and torchsde, which interpolates
    at ``ts``, would not take it). The returned ``ys`` are at the snapped times.
    """
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else np.finfo(np.float64).eps
    t0, t1 = times[0], times[-1]
    n = max(1, math.ceil((t1 - t0) / dt * (1 - 1e-12)))
    grid = t0 + (t1 - t0) * (np.arange(n + 1) / n)
    idx = np.clip(np.rint((times - t0) / (t1 - t0) * n).astype(np.int64), 0, n)
    close = np.abs(grid[idx] - times) <= 8 * eps * np.maximum(1.0, np.abs(times))
    out = np.where(close, grid[idx], times)
    out[0], out[-1] = t0, t1
    return out if np.all(np.diff(out) > 0) else times


def sdeint_adjoint(sde, y0, ts, bm=None, method=None, adjoint_method=None, dt=1e-3, adaptive=False,
                   adjoint_adaptive=False, rtol=_UNSET, adjoint_rtol=_UNSET, atol=_UNSET, adjoint_atol=_UNSET,
                   dt_min=_UNSET, options=None, adjoint_options=None, adjoint_params=None, names=None, logqp=False,
                   extra=False, extra_solver_state=None, **unknown):
    """torchsde's ``sdeint_adjoint``: :func:`sdeint` with ``adjoint=True`` (sdekit's adjoint, :mod:`sdekit.adjoint`).

    ``adjoint_params`` defaults to the module's parameters (and tensors its methods
    use by closure); ``adjoint_method`` is accepted for torchsde's names (sdekit
    chooses the backward scheme: exact for ``reversible_heun``, the adjoint SDE by
    stochastic Heun otherwise).

    The gradient of a loss ``L(ys)`` w.r.t. ``y0`` and the parameters ``θ`` is
    ``(a(t0), θ̄(t0))`` from the adjoint system solved backwards on the same path
    (Li et al. 2020; for ``reversible_heun`` the discretisation's own adjoint,
    Kidger et al. 2021, so it equals backpropagation through the solve to round-off):

        da = -a ∂ₓb dt - a ∂ₓσ ∘ dW,   dθ̄ = -a ∂_θ b dt - a ∂_θ σ ∘ dW,   a(t1) = ∂L/∂y(t1).

    >>> import torch, sdekit.interop as torchsde
    >>> class GBM(torch.nn.Module):
    ...     noise_type, sde_type = "diagonal", "stratonovich"
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.mu = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))
    ...     def f(self, t, y): return self.mu * y
    ...     def g(self, t, y): return 0.5 * y
    >>> sde, y0 = GBM(), torch.ones(4, 1, dtype=torch.float64)
    >>> ys = torchsde.sdeint_adjoint(sde, y0, [0.0, 1.0], dt=0.01, method="reversible_heun", seed=2)
    >>> ys[-1].sum().backward()
    >>> grad = sde.mu.grad.clone(); sde.mu.grad = None
    >>> torchsde.sdeint(sde, y0, [0.0, 1.0], dt=0.01, method="reversible_heun", seed=2)[-1].sum().backward()
    >>> bool(torch.allclose(grad, sde.mu.grad, rtol=1e-12))   # exact: equals backprop through the solve
    True
    """
    return sdeint(sde, y0, ts, bm=bm, method=method, dt=dt, adaptive=adaptive, rtol=rtol, atol=atol, dt_min=dt_min,
                  options=options, names=names, logqp=logqp, extra=extra, extra_solver_state=extra_solver_state,
                  adjoint=True, adjoint_method=adjoint_method, adjoint_params=adjoint_params,
                  adjoint_adaptive=adjoint_adaptive, adjoint_rtol=adjoint_rtol, adjoint_atol=adjoint_atol,
                  adjoint_options=adjoint_options, **unknown)
