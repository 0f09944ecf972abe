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

Adapters for the common network parametrisations, for a forward process with
``x_t = m_t x_0 + c_t + s_t ε`` (``c_t`` the mean shift, zero for VE, VP, sub-VP, EDM):

* :func:`from_epsilon`: a noise predictor :math:`\hat ε(t, x)` gives
  :math:`\nabla \log p_t(x) = -\hat ε(t, x) / s_t`;
* :func:`from_denoiser` / :func:`from_x0`: a denoiser :math:`D(t, x) \approx E[x_0 \mid x_t = x]`
  gives (Tweedie) :math:`\nabla \log p_t(x) = (m_t D(t, x) + c_t - x) / s_t^2`;
* :func:`from_v`: a v-predictor (Salimans & Ho 2022) :math:`\hat v = m_t ε - s_t x_0`;
* :func:`from_sigma_denoiser`: a k-diffusion/EDM denoiser ``D(x̃, σ)`` of the scaled state
  :math:`\tilde x = (x - c_t)/m_t = x_0 + σ ε`, :math:`σ = s_t/m_t`;
* :func:`sdekit_scores.from_diffusers`: a diffusers ``UNet2DModel`` with its scheduler (torch).

Each adapter also gives the data prediction :meth:`Score.denoise` directly (no round trip through
the score), which the data-prediction samplers of ``sdekit_diffusion`` use. Scores keep the
model's dtype and device: a float32 module is called in float32, on its device, and its output
returned in the state's dtype; ``time="batch"`` hands the model its time as an ``(n,)`` array
or tensor like ``x`` (what UNets expect), ``"float"`` (default) as a Python float.

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


def is_torch_module(obj) -> bool:
    # An object can only be a torch module once torch has been imported: checking
    # sys.modules keeps NumPy-only users from paying torch's import.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _module_dtype(mod):
    for p in mod.parameters():
        return p.dtype, p.device
    return None, None


TIME_KINDS = ("float", "tensor", "batch")


def _check_time(time):
    if not isinstance(time, str) or time not in TIME_KINDS:
        raise InvalidArgumentError(f'time must be "float", "tensor" or "batch"; got {time!r}')
    return time


def _time_arg(time, t, x):
    """The model's time argument: a float, a 0-dim or an ``(n,)`` array/tensor of ``x``'s dtype and device."""
    if time == "float":
        return t
    if is_torch(x):
        import torch

        shape = () if time == "tensor" else (x.shape[0],)
        return torch.full(shape, t, dtype=x.dtype, device=x.device)
    return np.full(() if time == "tensor" else (x.shape[0],), t, dtype=x.dtype)


def _cat(parts):
    if is_torch(parts[0]):
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)


class Score:
    """A score callable whose output follows the input's array kind (see :func:`as_score`).

    Attributes ``fn`` (the wrapped callable), ``kind`` (``"torch"`` for torch modules,
    adapters of them and callables marked torch, ``"any"`` otherwise), ``module`` (the torch
    module whose dtype and device a NumPy input is moved to, or None), ``denoiser``
    (``(t, x) -> E[x_0 | x_t = x]`` when an adapter knows it, else None; see :meth:`denoise`),
    ``time`` (how ``fn`` receives t: ``"float"``, ``"tensor"`` or ``"batch"``) and ``cast``
    (whether torch inputs are cast to the module's dtype and device, and the output back).
    """

    def __init__(self, fn, kind="any", module=None, *, denoiser=None, time="float", cast=False):
        self.fn, self.kind, self.module = fn, kind, module
        self.denoiser, self.time, self.cast = denoiser, _check_time(time), cast

    def _call(self, fn, t, x):
        t = float(t)
        xt = is_torch(x)
        if self.kind == "torch" and not xt:
            import torch

            dtype, device = _module_dtype(self.module) if self.module is not None else (None, None)
            with torch.no_grad():
                xin = torch.as_tensor(np.asarray(x), dtype=dtype or torch.float64, device=device)
                out = fn(t, xin) if self.time == "float" else fn(_time_arg(self.time, t, xin), xin)
            return to_numpy(out).astype(np.asarray(x).dtype, copy=False)
        if xt and self.cast and self.module is not None:
            dtype, device = _module_dtype(self.module)
            if dtype is not None and (dtype != x.dtype or device != x.device):
                xin = x.to(device=device, dtype=dtype)
                out = fn(t, xin) if self.time == "float" else fn(_time_arg(self.time, t, xin), xin)
                return out.to(device=x.device, dtype=x.dtype)
        out = fn(t, x) if self.time == "float" else fn(_time_arg(self.time, t, x), x)
        if xt and not is_torch(out):
            import torch

            out = torch.as_tensor(np.asarray(out), dtype=x.dtype, device=x.device)
        elif not xt and is_torch(out):
            out = to_numpy(out).astype(np.asarray(x).dtype, copy=False)
        return out

    def __call__(self, t, x):
        out = self._call(self.fn, t, x)
        if tuple(out.shape) != tuple(x.shape):
            raise ShapeError(f"score(t, x) returned shape {tuple(out.shape)}; expected {tuple(x.shape)} (x's shape)")
        return out

    def denoise(self, t, x):
        """``E[x_0 | x_t = x]`` from the adapter's own data prediction; None when the score has none."""
        if self.denoiser is None:
            return None
        out = self._call(self.denoiser, t, x)
        if tuple(out.shape) != tuple(x.shape):
            raise ShapeError(f"denoiser(t, x) returned shape {tuple(out.shape)}; expected {tuple(x.shape)}")
        return out

    def batched(self, batch_size):
        """The same score evaluated on at most ``batch_size`` rows at a time (bounds a network's memory).

        >>> s = as_score(lambda t, x: -x).batched(2)
        >>> s(0.0, np.ones((5, 1))).ravel().tolist()
        [-1.0, -1.0, -1.0, -1.0, -1.0]
        """
        from sdekit.testing.problems import check_count

        bs = check_count("batch_size", batch_size)

        def chunked(f):
            if f is None:
                return None

            def g(t, x):
                if x.shape[0] <= bs:
                    return f(t, x)
                return _cat([f(t, x[i:i + bs]) for i in range(0, x.shape[0], bs)])

            return g

        inner = self

        def fn(t, x):
            return inner(t, x)

        den = None if self.denoiser is None else (lambda t, x: inner.denoise(t, x))
        return Score(chunked(fn), "any" if self.kind == "any" else self.kind, self.module, denoiser=chunked(den),
                     time="float", cast=False)

    def __repr__(self):
        return f"Score({self.fn!r})"


def as_score(obj, *, time="float") -> Score:
    """Wrap ``obj`` as a :class:`Score`: a callable ``(t, x)``, a torch module, or an object with ``.score(x)``.

    ``time`` says how the callable takes t (``"float"``; ``"batch"``: an ``(n,)`` array or tensor).

    >>> import numpy as np
    >>> from sdekit_scores import Gaussian
    >>> s = as_score(Gaussian([1.0], [[4.0]]))      # time-free: t is ignored
    >>> s(0.0, np.array([[3.0]])).tolist()
    [[-0.5]]
    """
    if isinstance(obj, Score):
        return obj
    if is_torch_module(obj):
        return Score(obj, "torch", module=obj, time=time, cast=True)
    if callable(obj):
        return Score(obj, getattr(obj, "score_kind", "any"), time=time)
    if hasattr(obj, "score") and callable(obj.score):
        return Score(lambda t, x: obj.score(x))
    raise InvalidArgumentError(
        f"score must be a callable (t, x) -> (n, d), a torch module or an object with .score(x); "
        f"got {type(obj).__name__}"
    )


def _parts_fn(std, name="std"):
    """``t -> (m_t, s_t, c_t)`` from a float, a callable ``t -> s_t`` or an object with ``.marginal(t)``."""
    if hasattr(std, "marginal"):
        shift = getattr(std, "marginal_shift", None)

        def parts(t):
            m, s = (float(v) for v in std.marginal(float(t))[:2])
            return m, s, (float(shift(float(t))) if shift is not None else 0.0)

        return parts
    if callable(std):
        return lambda t: (1.0, float(std(float(t))), 0.0)
    if isinstance(std, (bool, np.bool_)) or not isinstance(std, numbers.Real):
        raise InvalidArgumentError(
            f"{name} must be a float, a callable t -> std or a forward SDE with .marginal(t); got {type(std).__name__}"
        )
    s = float(std)
    if not (math.isfinite(s) and s > 0):
        raise InvalidArgumentError(f"{name} must be a positive finite float; got {std!r}")
    return lambda t: (1.0, s, 0.0)


def _forward_parts(forward):
    if not hasattr(forward, "marginal"):
        raise InvalidArgumentError(f"forward must be a linear forward SDE with .marginal(t) -> (m_t, s_t) "
                                   f"(e.g. sdekit_diffusion.VPSDE()); got {type(forward).__name__}")
    return _parts_fn(forward, "forward")


def _tweedie_score(x0, x, m, s, c):
    """``(m x̂₀ + c − x)/s²``."""
    num = x0 * m - x
    return (num + c if c else num) * (1.0 / (s * s))


def _adapter(inner, score, denoiser):
    return Score(score, inner.kind, module=inner.module, denoiser=denoiser)


def from_epsilon(model, std, *, time="float") -> Score:
    r"""Score from a noise predictor: :math:`s(t, x) = -\hat ε(t, x) / s_t`.

    ``model(t, x)`` predicts the standard normal ``ε`` of ``x_t = m_t x_0 + c_t + s_t ε``
    (DDPM's parametrisation). ``std`` is a float, a callable ``t -> s_t`` or a
    forward SDE with ``.marginal(t) -> (m_t, s_t)``. A torch module stays a torch score
    (``kind == "torch"``): ``sdekit_diffusion.sample(backend="auto")`` then solves on the
    torch backend, in the module's dtype and on its device. Data prediction:
    :math:`\hat x_0 = (x - c_t - s_t \hat ε)/m_t`. ``time``: see :func:`as_score`.

    >>> import numpy as np
    >>> s = from_epsilon(lambda t, x: 2.0 * x, std=lambda t: 0.5)
    >>> s(0.3, np.ones((1, 2))).tolist()
    [[-4.0, -4.0]]
    """
    inner = as_score(model, time=time)
    ms = _parts_fn(std)

    def score(t, x):
        return inner(t, x) * (-1.0 / ms(t)[1])

    def denoiser(t, x):
        m, s, c = ms(t)
        r = x - inner(t, x) * s
        return (r - c if c else r) * (1.0 / m)

    return _adapter(inner, score, denoiser)


def from_denoiser(model, std, *, time="float") -> Score:
    r"""Score from a denoiser (Tweedie): :math:`s(t, x) = (m_t D(t, x) + c_t - x) / s_t^2`.

    ``model(t, x)`` estimates :math:`E[x_0 \mid x_t = x]`. ``std`` as in
    :func:`from_epsilon`; with a plain float or ``t -> s_t`` callable ``m_t = 1``
    (variance-exploding convention), with a forward SDE its ``marginal`` (and
    ``marginal_shift``) give ``m_t``, ``s_t``, ``c_t``. For a k-diffusion/EDM denoiser
    ``D(x, σ)`` use :func:`from_sigma_denoiser`, which also rescales x and σ for VP processes.

    >>> import numpy as np
    >>> s = from_denoiser(lambda t, x: 0.0 * x, std=2.0)   # D = 0: the score of N(0, 4)
    >>> s(0.0, np.array([[2.0]])).tolist()
    [[-0.5]]
    """
    inner = as_score(model, time=time)
    ms = _parts_fn(std)

    def score(t, x):
        return _tweedie_score(inner(t, x), x, *ms(t))

    return _adapter(inner, score, lambda t, x: inner(t, x))


def from_x0(model, forward, *, time="float") -> Score:
    r"""Score from a data predictor ``model(t, x) ≈ E[x_0 | x_t = x]`` of the linear process ``forward``.

    Tweedie: :math:`s(t, x) = (m_t \hat x_0 + c_t - x)/s_t^2` (:func:`from_denoiser` with the
    forward process required). ``time``: see :func:`as_score`.

    >>> import numpy as np
    >>> class VP:   # m = 0.6, s = 0.8
    ...     def marginal(self, t): return 0.6, 0.8
    >>> from_x0(lambda t, x: 0.0 * x + 1.0, VP())(0.5, np.array([[0.6]])).tolist()   # (0.6·1 − 0.6)/0.64
    [[0.0]]
    """
    _forward_parts(forward)
    return from_denoiser(model, forward, time=time)


def from_v(model, forward, *, time="float") -> Score:
    r"""Score from a v-predictor (Salimans & Ho, 2022): :math:`\hat v ≈ m_t ε - s_t x_0`.

    With ``x = m_t x_0 + c_t + s_t ε`` and :math:`u = x - c_t`, solving for the pair gives
    :math:`\hat x_0 = (m_t u - s_t \hat v)/(m_t^2 + s_t^2)` and
    :math:`\hat ε = (s_t u + m_t \hat v)/(m_t^2 + s_t^2)` (denominator 1 for VP), so
    :math:`s(t, x) = -\hat ε/s_t`. ``time``: see :func:`as_score`.

    >>> import numpy as np
    >>> class VP:
    ...     def marginal(self, t): return 0.6, 0.8
    >>> x0, eps = 1.0, 0.5                      # x = 0.6 + 0.4 = 1.0, v = 0.6·0.5 − 0.8·1 = −0.5
    >>> s = from_v(lambda t, x: 0.0 * x - 0.5, VP())
    >>> s(0.1, np.array([[1.0]])).tolist(), s.denoise(0.1, np.array([[1.0]])).tolist()
    ([[-0.625]], [[1.0]])
    """
    inner = as_score(model, time=time)
    ms = _forward_parts(forward)

    def split(t, x):
        m, s, c = ms(t)
        u = x - c if c else x
        v = inner(t, x)
        k = 1.0 / (m * m + s * s)
        return m, s, u, v, k

    def score(t, x):
        m, s, u, v, k = split(t, x)
        return (u * s + v * m) * (-k / s)

    def denoiser(t, x):
        m, s, u, v, k = split(t, x)
        return (u * m - v * s) * k

    return _adapter(inner, score, denoiser)


def from_sigma_denoiser(model, forward) -> Score:
    r"""Score from a k-diffusion/EDM denoiser ``model(x̃, σ) ≈ E[x_0 | x_0 + σ ε = x̃]``.

    Such a denoiser is trained on the scaled state :math:`\tilde x = x_0 + σ ε`; a linear forward
    process ``x_t = m_t x_0 + c_t + s_t ε`` is that state at :math:`σ = s_t/m_t` after the change
    :math:`\tilde x = (x - c_t)/m_t` (Karras et al. 2022, Sec. 4). So

    .. math::  \hat x_0 = D\big((x - c_t)/m_t,\; s_t/m_t\big),\qquad
               s(t, x) = (m_t \hat x_0 + c_t - x)/s_t^2 .

    Wrapping it with :func:`from_denoiser` instead is right only for ``m_t = 1`` (VE, EDM): on a
    VP process it feeds the network an unscaled state and the wrong noise level. ``σ`` reaches
    the model as an ``(n,)`` array or tensor like ``x̃`` (k-diffusion's convention).

    >>> import numpy as np
    >>> D = lambda x, sigma: x / (1.0 + sigma[:, None] ** 2)     # exact for x_0 ~ N(0, 1)
    >>> class VP:
    ...     def marginal(self, t): return 0.6, 0.8
    >>> s = from_sigma_denoiser(D, VP())          # x_t ~ N(0, 0.36 + 0.64 = 1): score −x
    >>> np.round(s(0.5, np.array([[2.0]])), 12).tolist()
    [[-2.0]]
    """
    ms = _forward_parts(forward)
    kind, module, cast = ("torch", model, True) if is_torch_module(model) else (getattr(model, "score_kind", "any"),
                                                                            None, False)
    if not callable(model):
        raise InvalidArgumentError(f"model must be a callable (x, sigma) -> x0; got {type(model).__name__}")
    # the inner "time" is σ, handed to the model as an (n,) batch: D(x̃, σ)
    inner = Score(lambda sig, xs: model(xs, sig), kind, module, time="batch", cast=cast)

    def denoiser(t, x):
        m, s, c = ms(t)
        xs = (x - c if c else x) * (1.0 / m)
        return inner(s / m, xs)

    def score(t, x):
        return _tweedie_score(denoiser(t, x), x, *ms(t))

    return Score(score, kind, module, denoiser=denoiser)


__all__ = ["Score", "as_score", "from_epsilon", "from_denoiser", "from_x0", "from_v", "from_sigma_denoiser"]
