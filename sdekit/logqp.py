r"""The path KL of a latent SDE (``logqp``): the state augmented by ``½∫|u|² dt``.

For a posterior :math:`dX = f(t, X)\,dt + g(t, X)\,dW` and a prior with drift
:math:`h` and the *same* diffusion, Girsanov's theorem gives the KL divergence of
the path laws on :math:`[t_0, t_1]` as the expectation of

.. math:: \log\frac{dP}{dQ} = \int_{t_0}^{t_1} \tfrac12 |u_t|^2\,dt + \int u_t\,dW_t,
          \qquad g\,u = f - h,

whose second term has mean zero; latent-SDE training (Li et al. 2020, §5) uses the
first, per path. :func:`logqp_problem` returns the SDE on the augmented state
:math:`(X, L)` with :math:`dL = \tfrac12|u|^2 dt` (no noise on ``L``), so every
method integrates ``L`` with its own quadrature on the same steps and the same
Brownian path (Euler–Maruyama: the left-point rule; Heun and reversible Heun: the
trapezoid), and gradients (direct or adjoint) see it as one more component.

How ``u`` is obtained from ``g u = f - h`` (per path):

=============  ====================================================================
noise          ``u``
=============  ====================================================================
``diagonal``   :math:`u_i = (f_i - h_i)/g_i` (``g_i`` must not vanish where the drifts differ)
``scalar``     the least-squares scalar :math:`u = g\cdot(f - h)/|g|^2`
``general``    the minimum-norm least-squares solution :math:`u = g^{+}(f - h)` (pseudo-inverse);
               when ``f - h`` is not in the range of ``g`` the true KL is infinite and this
               is the KL of the projected drift difference
=============  ====================================================================

The Itô–Stratonovich correction is the same for both drifts (same ``g``), so
``u`` is the same in either calculus.

For diagonal noise the augmented state has ``d + 1`` components driven by ``d``
Brownian motions: the path is padded with a zero component (:class:`PaddedNoise`),
so the solve sees exactly the increments of the un-augmented problem.

Reference: X. Li, T.-K. L. Wong, R. T. Q. Chen, D. Duvenaud, "Scalable gradients
for stochastic differential equations", AISTATS 2020, §5 and Appendix 9.6.

>>> import numpy as np, sdekit as sk
>>> post = sk.SDE(lambda t, x: 1.0 + 0.0 * x, lambda t, x: 0.5 + 0.0 * x)   # f - h = 1, g = 0.5: u = 2
>>> sol = sk.solve(post, 0.0, (0.0, 1.0), n_steps=10, n_paths=3, logqp=lambda t, x: 0.0 * x)
>>> sol.logqp.shape, np.allclose(sol.logqp, 0.5 * 2.0**2 * 1.0)
((3,), True)
"""

from __future__ import annotations

import numpy as np

from .backends.base import ShapeChecked
from .errors import InvalidArgumentError
from .sde import SDE


def _is_torch(a):
    return type(a).__module__.startswith("torch")


def concat(parts, axis):
    """``parts`` joined along ``axis``, NumPy or torch as the arrays are."""
    if _is_torch(parts[0]):
        import torch

        return torch.cat(parts, dim=axis)
    return np.concatenate(parts, axis=axis)


def zeros_as(like, shape):
    """Zeros of ``shape`` with ``like``'s dtype (and device, for torch)."""
    if _is_torch(like):
        import torch

        return torch.zeros(shape, dtype=like.dtype, device=like.device)
    return np.zeros(shape, dtype=like.dtype)


def _sum_last(a):
    return a.sum(-1, keepdims=True) if not _is_torch(a) else a.sum(dim=-1, keepdim=True)


def _pinv(g):
    if _is_torch(g):
        import torch

        return torch.linalg.pinv(g)
    return np.linalg.pinv(g)


def _time_key(t):
    """A hashable value of ``t`` read without a device synchronisation, or None (then nothing is cached)."""
    if isinstance(t, (float, int, np.floating)):
        return float(t)
    if _is_torch(t) and t.device.type == "cpu":
        return float(t)
    return None


class PairCache:
    """The diffusion evaluated once per ``(x, t)`` when the drift needs it too (the KL drift, ``f_and_g`` modules).

    A solver asks for ``drift(t, x)`` and then ``diffusion(t, x)`` with the same state
    object; the second call returns the value the first computed. The key is the
    state's identity (held, so it cannot be reused) and the time's value, read only
    where that costs no device synchronisation (CPU); elsewhere nothing is cached and
    the function is evaluated twice, never wrongly reused.
    """

    __slots__ = ("fn", "x", "t", "value")

    def __init__(self, fn):
        self.fn = fn
        self.x = self.t = self.value = None

    def __call__(self, t, x):
        key = _time_key(t)
        if key is not None and self.x is x and self.t == key:
            return self.value
        value = self.fn(t, x)
        if key is not None:
            self.x, self.t, self.value = x, key, value
        return value


class LogqpSDE(SDE):
    """The SDE of the augmented state ``(X, L)`` on flat ``(n, d + 1)`` states (see the module docstring)."""

    def __init__(self, sde, prior_drift, event, m):
        self.base, self.event, self.d, self.m = sde, tuple(event), int(np.prod(event)), int(m)
        self.kind = sde.noise
        trailing = (m,) if sde.noise == "general" else ()
        self._f = ShapeChecked(sde.drift, "drift", self.event)
        self._h = ShapeChecked(prior_drift, "logqp (the prior drift)", self.event)
        self._g = PairCache(ShapeChecked(sde.diffusion, "diffusion", self.event, trailing))
        super().__init__(self._drift, self._diffusion, noise=sde.noise, calculus=sde.calculus,
                         brownian_dim=m if sde.noise == "general" else None, additive=sde.additive,
                         commutative=sde.commutative if sde.noise == "general" else False)

    def _control(self, df, g):
        if self.kind == "diagonal":
            return df / g
        if self.kind == "scalar":
            return _sum_last(g * df) / _sum_last(g * g)
        return (_pinv(g) @ df[:, :, None])[:, :, 0]

    def control(self, t, x):
        """The control ``u`` with ``g u = f - h`` at flat states ``x`` ``(n, d)``: ``(n, d)``, ``(n, 1)`` or ``(n, m)``."""
        return self._control(self._f(t, x) - self._h(t, x), self._g(t, x))

    def _drift(self, t, z):
        x = z[:, :self.d]
        f = self._f(t, x)
        u = self._control(f - self._h(t, x), self._g(t, x))
        return concat([f, 0.5 * _sum_last(u * u)], 1)

    def _diffusion(self, t, z):
        x = z[:, :self.d]
        g = self._g(t, x)
        if self.kind == "general":
            return concat([g, zeros_as(g, (g.shape[0], 1, g.shape[2]))], 1)
        return concat([g, zeros_as(g, (g.shape[0], 1))], 1)

    def brownian_dim_for(self, d):
        return self.d + 1 if self.kind == "diagonal" else self.m


def prior_from(logqp, sde):
    """The prior drift a ``logqp=`` argument names: a callable, or ``True`` for a torchsde-style module's ``h``."""
    if logqp is True:
        h = getattr(getattr(sde, "source", None), "h", None)
        if h is None:
            raise InvalidArgumentError(
                "logqp=True takes the prior drift from a torchsde-style module's method h; this problem has none. "
                "Pass the prior drift itself: logqp=prior_drift (a callable (t, x) -> drift)")
        return h
    if logqp is False or not callable(logqp):
        raise InvalidArgumentError(f"logqp must be the prior drift, a callable (t, x) -> (n, *event); got {logqp!r}")
    return logqp


class PaddedNoise:
    """A noise source with ``extra`` zero components appended (the noise protocol of :mod:`sdekit.noise`).

    Diagonal noise on the augmented state ``(X, L)`` needs ``d + 1`` increments; ``L``
    has zero diffusion, so its increment never matters, and zeros keep the ``d``
    real ones exactly those of the un-augmented solve.
    """

    def __init__(self, base, extra=1):
        self.base, self.extra = base, int(extra)
        self.n_paths, self.dim = int(base.n_paths), int(base.dim) + self.extra
        self.t0, self.t1 = base.t0, base.t1
        for name in ("backend", "device", "dtype"):
            if hasattr(base, name):
                setattr(self, name, getattr(base, name))
        if hasattr(base, "space_time_levy_area"):
            self.space_time_levy_area = lambda s, t: self._pad(base.space_time_levy_area(s, t))
        if hasattr(base, "aux_normals"):
            self.aux_normals = base.aux_normals
        if hasattr(base, "increments"):
            self.increments = self._increments

    def _pad(self, w):
        return concat([w, zeros_as(w, (w.shape[0], self.extra))], 1)

    def increment(self, s, t):
        return self._pad(self.base.increment(s, t))

    def _increments(self, times, levy_area=False):
        for w in self.base.increments(times, levy_area=levy_area):
            yield type(w)(*(self._pad(v) for v in w)) if isinstance(w, tuple) else self._pad(w)
