r"""The score protocol and adapters.

A **score** is any callable ``score(t, x) -> (n, d)`` returning
:math:`\nabla_x \log p_t(x)` for a batch ``x`` of shape ``(n, d)`` at the float
time ``t``. NumPy callables, torch callables and ``torch.nn.Module`` s all
qualify. :func:`as_score` wraps one so that the output follows the *input's*
array type: a torch module called on a NumPy state gets a tensor and returns
NumPy, a NumPy function called on a tensor gets a host copy and returns a
tensor on the input's device. That makes every score usable on every sdekit
backend (at the price of a host transfer where the kinds differ).

Time-free objects with a ``.score(x)`` method (:class:`~sdekit_scores.Gaussian`,
:class:`~sdekit_scores.GaussianMixture`) are accepted too: their score does
not depend on ``t``.

Adapters for the two common network parametrisations, for a forward process
with ``x_t = m_t x_0 + s_t ε``:

* :func:`from_epsilon`: a noise predictor :math:`\hat ε(t, x)` gives
  :math:`\nabla \log p_t(x) = -\hat ε(t, x) / s_t`;
* :func:`from_denoiser`: a denoiser :math:`D(t, x) \approx E[x_0 \mid x_t = x]`
  gives (Tweedie) :math:`\nabla \log p_t(x) = (m_t D(t, x) - x) / s_t^2`.

>>> import numpy as np
>>> s = as_score(lambda t, x: -x)
>>> s(0.5, np.ones((2, 1))).tolist()
[[-1.0], [-1.0]]
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from sdekit.errors import InvalidArgumentError, ShapeError

from ._arrays import is_torch, to_numpy


def _is_module(obj) -> bool:
    # An object can only be a torch module once torch has been imported: checking
    # sys.modules keeps NumPy-only users from paying torch's import.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _module_dtype(mod):
    for p in mod.parameters():
        return p.dtype, p.device
    return None, None


class Score:
    """A score callable whose output follows the input's array kind (see :func:`as_score`).

    Attributes ``fn`` (the wrapped callable), ``kind`` (``"torch"`` for torch
    modules, adapters of them and callables marked torch, ``"any"`` otherwise) and
    ``module`` (the torch module whose dtype and device a NumPy input is moved to, or None).
    """

    def __init__(self, fn, kind="any", module=None):
        self.fn, self.kind, self.module = fn, kind, module

    def __call__(self, t, x):
        t = float(t)
        xt = is_torch(x)
        if self.kind == "torch" and not xt:
            import torch

            dtype, device = _module_dtype(self.module) if self.module is not None else (None, None)
            with torch.no_grad():
                out = self.fn(t, torch.as_tensor(np.asarray(x), dtype=dtype or torch.float64, device=device))
            out = to_numpy(out).astype(np.asarray(x).dtype, copy=False)
        else:
            out = self.fn(t, x)
            if xt and not is_torch(out):
                import torch

                out = torch.as_tensor(np.asarray(out), dtype=x.dtype, device=x.device)
            elif not xt and is_torch(out):
                out = to_numpy(out).astype(np.asarray(x).dtype, copy=False)
        if tuple(out.shape) != tuple(x.shape):
            raise ShapeError(f"score(t, x) returned shape {tuple(out.shape)}; expected {tuple(x.shape)} (x's shape)")
        return out

    def __repr__(self):
        return f"Score({self.fn!r})"


def as_score(obj) -> Score:
    """Wrap ``obj`` as a :class:`Score`: a callable ``(t, x)``, a torch module, or an object with ``.score(x)``.

    >>> import numpy as np
    >>> from sdekit_scores import Gaussian
    >>> s = as_score(Gaussian([1.0], [[4.0]]))      # time-free: t is ignored
    >>> s(0.0, np.array([[3.0]])).tolist()
    [[-0.5]]
    """
    if isinstance(obj, Score):
        return obj
    if _is_module(obj):
        return Score(obj, "torch", module=obj)
    if callable(obj):
        return Score(obj, getattr(obj, "score_kind", "any"))
    if hasattr(obj, "score") and callable(obj.score):
        return Score(lambda t, x: obj.score(x))
    raise InvalidArgumentError(
        f"score must be a callable (t, x) -> (n, d), a torch module or an object with .score(x); "
        f"got {type(obj).__name__}"
    )


def _std_fn(std):
    """``t -> (m_t, s_t)`` from a float, a callable ``t -> s_t`` or an object with ``.marginal(t)``."""
    if hasattr(std, "marginal"):
        return lambda t: tuple(float(v) for v in std.marginal(float(t))[:2])
    if callable(std):
        return lambda t: (1.0, float(std(float(t))))
    if isinstance(std, (bool, np.bool_)) or not isinstance(std, numbers.Real):
        raise InvalidArgumentError(
            f"std must be a float, a callable t -> std or a forward SDE with .marginal(t); got {type(std).__name__}"
        )
    s = float(std)
    if not (math.isfinite(s) and s > 0):
        raise InvalidArgumentError(f"std must be a positive finite float; got {std!r}")
    return lambda t: (1.0, s)


def from_epsilon(model, std) -> Score:
    r"""Score from a noise predictor: :math:`s(t, x) = -\hat ε(t, x) / s_t`.

    ``model(t, x)`` predicts the standard normal ``ε`` of ``x_t = m_t x_0 + s_t ε``
    (DDPM's parametrisation). ``std`` is a float, a callable ``t -> s_t`` or a
    forward SDE with ``.marginal(t) -> (m_t, s_t)``. A torch module stays a torch score
    (``kind == "torch"``): ``sdekit_diffusion.sample(backend="auto")`` then solves on the
    torch backend, with autograd available.

    >>> import numpy as np
    >>> s = from_epsilon(lambda t, x: 2.0 * x, std=lambda t: 0.5)
    >>> s(0.3, np.ones((1, 2))).tolist()
    [[-4.0, -4.0]]
    """
    inner = as_score(model)
    ms = _std_fn(std)

    def score(t, x):
        _, s = ms(t)
        return inner(t, x) * (-1.0 / s)

    return Score(score, inner.kind, module=inner.module)


def from_denoiser(model, std) -> Score:
    r"""Score from a denoiser (Tweedie): :math:`s(t, x) = (m_t D(t, x) - x) / s_t^2`.

    ``model(t, x)`` estimates :math:`E[x_0 \mid x_t = x]`. ``std`` as in
    :func:`from_epsilon`; with a plain float or ``t -> s_t`` callable ``m_t = 1``
    (variance-exploding convention), with a forward SDE its ``marginal`` gives both.

    >>> import numpy as np
    >>> s = from_denoiser(lambda t, x: 0.0 * x, std=2.0)   # D = 0: the score of N(0, 4)
    >>> s(0.0, np.array([[2.0]])).tolist()
    [[-0.5]]
    """
    inner = as_score(model)
    ms = _std_fn(std)

    def score(t, x):
        m, s = ms(t)
        return (inner(t, x) * m - x) * (1.0 / (s * s))

    return Score(score, inner.kind, module=inner.module)


__all__ = ["Score", "as_score", "from_epsilon", "from_denoiser"]
