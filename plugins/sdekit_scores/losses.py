r"""Score-matching losses: explicit (Hyvärinen), sliced, and denoising.

Every loss takes any score callable ``score(t, x) -> (n, d)`` built from torch
operations (a :class:`~sdekit_scores.nets.ScoreMLP`, an analytic score, a
parametric model) and returns a scalar tensor (``reduction="mean"``) or the
per-sample values (``reduction="none"``). All randomness (noise, times,
projections) comes from the ``generator`` passed in; without one, a generator
seeded with 0 is used, so a loss value is a pure function of its arguments.

Derivations (seeds 001 "Score matching", 002 "Score-based method", 003
handwritten notes; corrected where the transcriptions are wrong)
--------------------------------------------------------------------------------

**Fisher divergence** (seed 001 slide "Objective Function", seed 002 eq. 1):
``J(θ) = ½ E_p ||∇log p(x) − s_θ(x)||²``.

**Explicit / Hyvärinen score matching** (seed 001 App. B, seed 002 eqs. 10–13;
Hyvärinen 2005, Thm. 1). Expanding the square, the cross term is integrated by
parts, ``E_p[s_θ·∇log p] = ∫ s_θ·∇p dx = −∫ p ∇·s_θ dx`` (when ``p s_θ → 0``
at infinity), so

.. math::  J(θ) = E_p\big[\tfrac12\|s_θ(x)\|^2 + \mathrm{tr}\,\nabla_x s_θ(x)\big]
                   + \tfrac12 E_p\|\nabla\log p\|^2 .

:func:`esm_loss` is the bracket (the last term does not depend on θ); at the
true score its value is ``−½ E_p||∇log p||²`` (tested). The trace is exact, by
``d`` reverse-mode passes (cost ``O(d)`` passes: small ``d`` only).

**Sliced score matching** (seed 001 "Sliced Score Matching", seed 002 eqs.
14–15; Song et al. 2020). With random projections ``v`` with ``E[v vᵀ] = I``
(Rademacher or standard Gaussian), ``E_v[vᵀ ∇s v] = tr ∇s`` and
``E_v[(vᵀ s)²] = ||s||²``, so

.. math::  J_{SSM}(θ) = E_{p,v}\big[v^\top \nabla_x s_θ(x)\, v + \tfrac12 (v^\top s_θ(x))^2\big]

has the same expectation as the ESM objective; ``vᵀ∇s v = vᵀ∇_x(vᵀ s)`` costs
one reverse pass per projection. The *variance-reduced* form (Song et al. 2020,
eq. 8, "SSM-VR") replaces ``½(vᵀs)²`` by its exact expectation ``½||s||²``.
(Seed 001 prints the SSM objective with an extra overall factor ½ in front of the
whole bracket; that only rescales the loss and is not used here. Seed 002's
eq. 15 is the form implemented.)

**Denoising score matching** (seed 001 "Denoising Score Matching", seed 003;
Vincent 2011). For ``x̃ = m x + s z``, ``z ~ N(0, I)``,

.. math::  ½E_{p_σ(x̃)}\|s_θ(x̃) − ∇\log p_σ(x̃)\|^2
           = ½E_{x, x̃}\|s_θ(x̃) − ∇_{x̃}\log p_σ(x̃ | x)\|^2 + C,

and ``∇_{x̃} log N(x̃; m x, s² I) = −(x̃ − m x)/s² = −z/s``. (Seed 003 flips the
sign of this gradient in one line, writing ``(x̃ − x)/σ²``; the correct target is
``(x − x̃)/σ² = −z/σ`` for unit mean coefficient, as its own final line
``||s_θ + ε/σ²||²`` with ``ε = σ z`` confirms. Tested: the DSM minimiser is the
true perturbed score.) Over the noise levels of a forward SDE with marginal
``x_t | x_0 ~ N(m_t x_0, s_t² I)`` (Song et al. 2021, eq. 7),

.. math::  L_{DSM}(θ) = E_{t \sim U[ε, T]} λ(t)\, E\,\tfrac12\|s_θ(t, x_t) + z/s_t\|^2,

with ``λ(t) = s_t²`` (the default; each level contributes at unit scale) or
``λ(t) = g(t)²`` ("likelihood weighting": then ``L_DSM`` bounds the negative
log-likelihood up to constants; Song, Durkan, Murray & Ermon 2021, Thm. 1).
"""

from __future__ import annotations

import numpy as np
import torch

from sdekit.errors import InvalidArgumentError, ShapeError
from sdekit.testing.problems import check_count, check_real

from .nets import forward_marginal

WEIGHTINGS = ("std2", "likelihood", "none")


def _generator(generator, seed=0):
    if generator is None:
        return torch.Generator().manual_seed(seed)
    if not isinstance(generator, torch.Generator):
        raise InvalidArgumentError(f"generator must be a torch.Generator; got {type(generator).__name__}")
    return generator


def _as_data(x):
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x)
    if not torch.is_tensor(x):
        raise InvalidArgumentError(f"x must be an (n, d) tensor or array; got {type(x).__name__}")
    if x.ndim != 2:
        raise ShapeError(f"x must have shape (n, d); got {tuple(x.shape)}")
    if torch.is_complex(x) or x.dtype == torch.bool:
        raise InvalidArgumentError(f"x must hold real numbers; got dtype {x.dtype}")
    if not torch.is_floating_point(x):
        x = x.to(torch.get_default_dtype())
    return x


def _call(score, t, x):
    out = score(t, x)
    if not torch.is_tensor(out) or out.shape != x.shape:
        shape = tuple(getattr(out, "shape", np.shape(out)))
        raise ShapeError(f"score(t, x) must return a tensor of shape {tuple(x.shape)}; got {shape} "
                         f"({type(out).__name__}); losses need a torch score")
    return out


def _reduce(per_sample, reduction):
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise InvalidArgumentError(f'reduction must be "mean" or "none"; got {reduction!r}')


def _randn(shape, generator, like):
    z = torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return z.to(device=like.device, dtype=like.dtype)


def _probes(shape, kind, generator, like):
    if kind == "rademacher":
        v = torch.randint(0, 2, shape, generator=generator, device=generator.device).to(torch.float64) * 2 - 1
    elif kind == "gaussian":
        v = torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    else:
        raise InvalidArgumentError(f'projection must be "rademacher" or "gaussian"; got {kind!r}')
    return v.to(device=like.device, dtype=like.dtype)


def _span(sde, eps, T):
    """``(eps, T)`` checked: finite, ``0 <= eps < T``."""
    T = check_real("T", getattr(sde, "T", 1.0) if T is None else T, low=0.0, low_open=True)
    eps = check_real("eps", eps, low=0.0)
    if not eps < T:
        raise InvalidArgumentError(f"eps must satisfy 0 <= eps < T = {T}; got {eps!r}")
    return eps, T


def _sample_times(n, sde, eps, T, generator, device):
    eps, T = _span(sde, eps, T)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).to(device)
    return eps + (T - eps) * u


def diffusion_squared(sde, t):
    r"""``g(t)²`` of a linear forward SDE, from its marginal: ``g² = (s²)' − 2 (m'/m) s²``.

    For ``dX = f(t) X dt + g(t) dW`` the marginal mean coefficient obeys
    ``m' = f m`` and the variance ``v = s²`` obeys ``v' = 2 f v + g²`` (Särkkä &
    Solin 2019, eq. 6.2), hence the identity; the derivatives are central
    differences in float64 (relative error ~1e-8), so any forward SDE with
    ``.marginal`` works without a separate ``g`` formula.

    >>> import torch
    >>> class VP:  # beta(t) = 0.1 + 19.9 t, so g(t)^2 = beta(t)
    ...     def marginal(self, t):
    ...         m = (-0.5 * (0.1 * t + 9.95 * t ** 2)).exp()
    ...         return m, (1 - m ** 2).sqrt()
    >>> round(float(diffusion_squared(VP(), torch.tensor([0.5], dtype=torch.float64))[0]), 6)
    10.05
    """
    t = t.to(torch.float64)
    h = 1e-4 * torch.clamp(t.abs(), min=1e-2)
    lo = torch.clamp(t - h, min=0.0)
    hi = t + h
    m_lo, s_lo = forward_marginal(sde, lo)
    m_hi, s_hi = forward_marginal(sde, hi)
    m, s = forward_marginal(sde, t)
    dv = (s_hi ** 2 - s_lo ** 2) / (hi - lo)
    dlogm = (torch.log(m_hi) - torch.log(m_lo)) / (hi - lo)
    return dv - 2 * dlogm * s ** 2


def _perturb(x, sde, t, noise, eps, T, generator):
    """Times, noise, ``x_t = m_t x + s_t z`` and ``s_t`` (float64 times; x's dtype)."""
    n = x.shape[0]
    if t is None:
        t = _sample_times(n, sde, eps, T, generator, x.device)
    else:
        t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
        if t.numel() not in (1, n):
            raise ShapeError(f"t must be a float or have {n} entries (one per row of x); got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise InvalidArgumentError("t must be finite")
        t = t.reshape(-1).expand(n) if t.numel() == 1 else t.reshape(n)
    z = _randn(x.shape, generator, x) if noise is None else torch.as_tensor(noise).to(x)
    if z.shape != x.shape:
        raise ShapeError(f"noise must have shape {tuple(x.shape)}; got {tuple(z.shape)}")
    m, s = forward_marginal(sde, t)
    xt = m.to(x.dtype)[:, None] * x + s.to(x.dtype)[:, None] * z
    if hasattr(sde, "marginal_shift"):  # x_t | x_0 ~ N(m_t x_0 + c_t, s_t^2 I), e.g. an OU process with mean mu
        c = sde.marginal_shift(t)
        c = c.to(xt) if torch.is_tensor(c) else torch.as_tensor(np.asarray(c, dtype=np.float64)).to(xt)
        xt = xt + (c[:, None] if c.ndim == 1 else c)
    return t, z, xt, s


def _weights(weighting, sde, t, s):
    if weighting == "std2":
        return s ** 2
    if weighting == "none":
        return torch.ones_like(s)
    if weighting == "likelihood":
        return diffusion_squared(sde, t)
    if callable(weighting):
        return torch.as_tensor(weighting(t)).to(s) * torch.ones_like(s)
    raise InvalidArgumentError(f"weighting must be one of {WEIGHTINGS} or a callable t -> λ(t); got {weighting!r}")


def dsm_loss(score, x, sde, *, t=None, noise=None, eps=1e-5, T=None, weighting="std2", generator=None,
             reduction="mean"):
    r"""Denoising score matching over the noise levels of a linear forward SDE.

    .. math::  L = E_{t\sim U[ε,T]}\; λ(t)\; E_{x_0, z}\;\tfrac12\,\|s_θ(t, m_t x_0 + s_t z) + z/s_t\|^2

    Derivation: Vincent (2011); seeds 001 ("Denoising Score Matching") and 003
    (with its sign slip corrected; see the module docstring). The minimiser over
    all functions is the true marginal score ``∇log p_t``.

    Parameters
    ----------
    score : callable ``(t, x) -> (n, d)`` (torch); called with an ``(n,)`` float64
        tensor of times (a :class:`ScoreMLP` and analytic scores accept it).
    x : ``(n, d)`` data batch ``x_0``
    sde : forward SDE with ``.marginal(t) -> (m_t, s_t)`` (and ``.T``; a ``.marginal_shift(t)``
        ``c_t``, as on ``OUSDE``, is added: ``x_t = m_t x_0 + c_t + s_t z``)
    t, noise : optional fixed times ``(n,)`` (or a float) and normals ``(n, d)``;
        drawn from ``generator`` when omitted (``t ~ U[eps, T]``)
    weighting : ``"std2"`` (λ = s_t², default), ``"likelihood"`` (λ = g(t)²),
        ``"none"`` (λ = 1) or a callable ``t -> λ(t)``
    reduction : ``"mean"`` or ``"none"`` (per-sample values)

    Example
    -------
    >>> import torch
    >>> class VP:
    ...     T = 1.0
    ...     def marginal(self, t):
    ...         m = (-0.5 * (0.1 * t + 9.95 * t ** 2)).exp()
    ...         return m, (1 - m ** 2).sqrt()
    >>> exact = lambda t, x: -x          # data N(0, I) stays N(0, I) under VP
    >>> x0 = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> float(dsm_loss(exact, x0, VP())) < float(dsm_loss(lambda t, x: -0.5 * x, x0, VP()))
    True
    """
    x = _as_data(x)
    g = _generator(generator)
    t, z, xt, s = _perturb(x, sde, t, noise, eps, T, g)
    out = _call(score, t, xt)
    lam = _weights(weighting, sde, t, s)
    resid = out * s.to(x.dtype)[:, None] + z  # s_t (s_θ + z/s_t)
    per = 0.5 * (lam / s ** 2).to(x.dtype) * (resid ** 2).sum(-1)
    return _reduce(per, reduction)


def _at_levels(x, sde, t, eps, T, g):
    """ESM/SSM evaluate at data (sde None, time t) or at x_t ~ p_t for random t (sde given)."""
    if sde is None:
        tt = 0.0 if t is None else t
        return x, tt, None
    tt, _, xt, s = _perturb(x, sde, t, None, eps, T, g)
    return xt, tt, s


def esm_loss(score, x, t=None, *, sde=None, eps=1e-5, T=None, generator=None, reduction="mean"):
    r"""Explicit (Hyvärinen) score matching with the exact Jacobian trace.

    .. math::  L = E_p\big[\tfrac12\|s_θ(x)\|^2 + \mathrm{tr}\,\nabla_x s_θ(x)\big]
               = \tfrac12 E_p\|s_θ − \nabla\log p\|^2 − \tfrac12 E_p\|\nabla\log p\|^2

    Derivation: integration by parts of the Fisher divergence (Hyvärinen 2005;
    seed 001 Appendix B, seed 002 eqs. 10–13). The trace takes ``d`` reverse
    passes with ``create_graph=True``: use for small ``d``.

    Without ``sde`` the loss is evaluated on the data ``x`` at time ``t``
    (default 0.0): fitting a score of the data distribution itself. With a
    forward ``sde`` it is evaluated at ``x_t = m_t x + s_t z`` for ``t ~ U[eps, T]``
    (exact samples of ``p_t``) with weight ``s_t²``, which trains a
    time-conditional score like :func:`dsm_loss` does.

    Example (the Gaussian example of seed 001: for ``s(x) = -P(x-μ)`` the
    minimiser is ``μ = mean``, ``P = cov⁻¹``; the seed's "Σ = cov" names the
    precision and is wrong as printed)
    >>> import torch
    >>> x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> loss = esm_loss(lambda t, y: -y, x)   # true score of N(0, I): value ≈ -½ E||x||² = -1
    >>> round(loss.item(), 1)
    -1.0
    """
    x = _as_data(x)
    g = _generator(generator)
    xt, tt, s = _at_levels(x, sde, t, eps, T, g)
    with torch.enable_grad():
        xt = xt.detach().requires_grad_(True)
        out = _call(score, tt, xt)
        trace = torch.zeros(x.shape[0], dtype=out.dtype, device=out.device)
        for i in range(x.shape[1]):
            (gi,) = torch.autograd.grad(out[:, i].sum(), xt, create_graph=True, allow_unused=True)
            if gi is not None:
                trace = trace + gi[:, i]
        per = 0.5 * (out ** 2).sum(-1) + trace
    if s is not None:
        per = per * (s ** 2).to(per.dtype)
    return _reduce(per, reduction)


def ssm_loss(score, x, t=None, *, sde=None, n_projections=1, projection="rademacher", variance_reduction=True,
             eps=1e-5, T=None, generator=None, reduction="mean"):
    r"""Sliced score matching with random projections.

    .. math::  L = E_{p}\,E_v\big[v^\top \nabla_x s_θ(x)\, v\big] + \tfrac12 E_p\|s_θ(x)\|^2
               \quad\text{(variance-reduced, default)}

    or, with ``variance_reduction=False``, ``E_{p,v}[vᵀ∇s v + ½(vᵀ s)²]``
    (Song, Garg, Shi & Ermon 2020, eqs. 7–8; seed 002 eq. 15). Both have the
    expectation of :func:`esm_loss` since ``E[v vᵀ] = I`` for Rademacher and
    Gaussian ``v``; each projection costs one reverse pass (``vᵀ∇s v =
    vᵀ ∇_x(vᵀ s)``), independent of ``d``. The per-sample Jacobian products
    assume the score treats batch rows independently (no batch norm).

    Parameters as :func:`esm_loss`, plus ``n_projections`` (probes per sample,
    averaged), ``projection`` (``"rademacher"`` or ``"gaussian"``) and
    ``variance_reduction``. Probes come from ``generator``.

    Example
    >>> import torch
    >>> x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(ssm_loss(lambda t, y: -y, x).item(), 1)   # same value as esm_loss at the true score
    -1.0
    """
    x = _as_data(x)
    g = _generator(generator)
    n_projections = check_count("n_projections", n_projections)
    xt, tt, s = _at_levels(x, sde, t, eps, T, g)
    v_all = _probes((n_projections,) + tuple(x.shape), projection, g, x)
    with torch.enable_grad():
        xt = xt.detach().requires_grad_(True)
        out = _call(score, tt, xt)
        vjv = torch.zeros(x.shape[0], dtype=out.dtype, device=out.device)
        sq = torch.zeros_like(vjv)
        for v in v_all:
            v = v.to(out.dtype)
            sv = (v * out).sum(-1)
            (gv,) = torch.autograd.grad(sv.sum(), xt, create_graph=True, allow_unused=True)
            if gv is not None:
                vjv = vjv + (gv * v).sum(-1)
            if not variance_reduction:
                sq = sq + 0.5 * sv ** 2
        vjv = vjv / n_projections
        if variance_reduction:
            per = vjv + 0.5 * (out ** 2).sum(-1)
        else:
            per = vjv + sq / n_projections
    if s is not None:
        per = per * (s ** 2).to(per.dtype)
    return _reduce(per, reduction)


LOSSES = {"dsm": dsm_loss, "ssm": ssm_loss, "esm": esm_loss}

__all__ = ["dsm_loss", "ssm_loss", "esm_loss", "diffusion_squared", "LOSSES", "WEIGHTINGS"]
