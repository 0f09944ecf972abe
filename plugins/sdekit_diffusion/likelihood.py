r"""Exact log-likelihoods of a score model through the probability-flow ODE.

Math (Song et al. 2021, "Score-based generative modeling through SDEs", §4.3
and App. D.2; Chen et al. 2018, instantaneous change of variables)
-------------------------------------------------------------------------------
For a forward SDE ``dx = f(t, x) dt + g(t) dW`` whose diffusion does not
depend on ``x`` (VE, VP and sub-VP all qualify), the marginals ``p_t`` are
also transported by the deterministic *probability-flow* ODE (seed 000,
"deterministic reverse"; seed 004 §4)

.. math::  \frac{dx}{dt} = \tilde f(t, x) = f(t, x) − \tfrac12 g(t)^2\, ∇_x \log p_t(x).

Along a solution, the continuity equation ``∂_t p + ∇·(p f̃) = 0`` gives
``d/dt log p_t(x_t) = −∇·f̃(t, x_t)``, so integrating from ``ε`` to ``T``

.. math::  \log p_ε(x) = \log p_T(x_T) + \int_ε^T ∇·\tilde f(t, x_t)\, dt,
           \qquad x_ε = x .

With the learned score in place of ``∇log p_t`` this is the exact likelihood of
the model defined by the ODE. The drift ``f̃`` is :func:`sdekit_scores.probability_flow`
(so ``G Gᵀ s`` is contracted for the SDE's noise type: diagonal, scalar or general) and
the augmented state ``(x_t, ∫ ∇·f̃)`` is integrated forward by the core,
``sk.solve(..., method="dopri5", rtol=..., atol=...)`` on the torch backend (adaptive
Dormand–Prince 5(4) with PI control; the only host transfer per step is the scalar error
norm the controller needs). The augmented drift computes the divergence under
``torch.enable_grad``, so it runs under autograd whatever the solve does.

The divergence is exact for ``d <= 8`` (``d`` reverse-mode passes); above, it
is Hutchinson's estimator ``∇·f̃ ≈ (1/K) Σ_k v_kᵀ ∇(v_kᵀ f̃)`` with ``K``
Rademacher probes fixed for the whole solve and drawn from ``seed``
(Hutchinson 1989; Grathwohl et al. 2019, "FFJORD"): unbiased, variance
``O(1/K)``.

Example
-------
>>> import math, torch
>>> class VP:   # beta(t) = 0.1 + 19.9 t, data N(0, I) is stationary: score -x
...     T = 1.0
...     def drift(self, t, x): return -0.5 * (0.1 + 19.9 * t) * x
...     def diffusion(self, t, x): return (0.1 + 19.9 * t) ** 0.5 + 0 * x
...     def prior_logp(self, x): return -0.5 * (x ** 2).sum(-1) - x.shape[1] * 0.5 * math.log(2 * math.pi)
>>> x = torch.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=torch.float64)
>>> ll = log_likelihood(VP(), lambda t, y: -y, x)
>>> exact = -0.5 * (x ** 2).sum(-1) - math.log(2 * math.pi)
>>> bool((ll - exact).abs().max() < 1e-3)
True
"""

from __future__ import annotations

import math

import numpy as np
import torch

import sdekit as sk
from sdekit.errors import InvalidArgumentError, ShapeError
from sdekit.testing.problems import check_real
from sdekit.validation import check_positive_int
from sdekit_scores import probability_flow

EXACT_MAX_DIM = 8


def _to_tensor(v, like):
    if torch.is_tensor(v):
        return v.to(device=like.device, dtype=like.dtype)
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=like.dtype, device=like.device)


def _as_state(x, dtype, device):
    is_numpy = not torch.is_tensor(x)
    try:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64)) if is_numpy else x
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"x must be an (n, d) array or tensor of floats; got {type(x).__name__}") from None
    if xt.ndim != 2 or xt.shape[0] < 1 or xt.shape[1] < 1:
        raise ShapeError(f"x must have shape (n, d) with n, d >= 1; got {tuple(xt.shape)}")
    if not torch.is_floating_point(xt) or torch.is_complex(xt):
        raise InvalidArgumentError(f"x must hold real floats; got dtype {xt.dtype}")
    dt = {"float64": torch.float64, "float32": torch.float32, None: torch.float64}.get(dtype, dtype)
    if dt not in (torch.float64, torch.float32):
        raise InvalidArgumentError(f'dtype must be "float64" or "float32"; got {dtype!r}')
    y = xt.detach().to(device=device or xt.device, dtype=dt)
    if not torch.isfinite(y).all():
        raise InvalidArgumentError("x must be finite")
    return y, is_numpy


def _forward_sde(forward, t, x):
    """``forward`` as an additive :class:`sdekit.SDE` whose drift and diffusion answer in ``x``'s tensor kind.

    Accepts an ``sk.SDE``, a torchsde-style object or any object with ``drift(t, x)`` and
    ``diffusion(t, x)`` (noise type from its ``noise`` attribute, default diagonal). Refuses a
    diffusion that depends on ``x`` (checked at ``t``, ``x`` and ``x + 1``).
    """
    if isinstance(forward, sk.SDE) or hasattr(forward, "noise_type"):
        sde = sk.as_sde(forward)
        noise, drift, diffusion = sde.noise, sde.drift, sde.diffusion
    elif callable(getattr(forward, "drift", None)) and callable(getattr(forward, "diffusion", None)):
        noise, drift, diffusion = getattr(forward, "noise", "diagonal"), forward.drift, forward.diffusion
    else:
        raise InvalidArgumentError(f"forward must be a forward SDE with drift(t, x), diffusion(t, x), T and "
                                   f"prior_logp(x) (e.g. sdekit_diffusion.VPSDE()); got {type(forward).__name__}")
    a = _to_tensor(diffusion(t, x), x)
    b = _to_tensor(diffusion(t, x + 1.0), x)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-12, atol=0.0):
        raise InvalidArgumentError(
            "log_likelihood needs a forward SDE whose diffusion does not depend on x (VE, VP, sub-VP); "
            "this one's diffusion changed when x changed"
        )
    # general noise: the Brownian dimension is the diffusion's last axis, read from the value just computed
    m = int(a.shape[-1]) if noise == "general" and a.ndim == 3 else None
    return sk.SDE(lambda t_, y: _to_tensor(drift(t_, y), y), lambda t_, y: _to_tensor(diffusion(t_, y), y),
                  noise=noise, brownian_dim=m, additive=True)


def _checked_torch_score(score):
    """``score`` called raw: it must return a tensor shaped like ``x`` (the divergence needs autograd)."""

    def checked(t, x):
        s = score(t, x)
        if not torch.is_tensor(s) or s.shape != x.shape:
            raise ShapeError(f"score(t, x) must return a tensor of shape {tuple(x.shape)} for log_likelihood "
                             f"(autograd needs torch); got {type(s).__name__} {tuple(getattr(s, 'shape', ()))}")
        return s.to(x.dtype)

    return checked


def _augmented(velocity, d, probes):
    """``y = (x, ℓ) -> (f̃(t, x), ∇·f̃(t, x))`` with the divergence exact or by Hutchinson."""

    def rhs(t, y):
        t = float(t)  # the forward SDE and the score receive a float time, whatever the backend passes
        with torch.enable_grad():
            x = y[:, :d].detach().requires_grad_(True)
            f = velocity(t, x)
            div = torch.zeros(x.shape[0], dtype=y.dtype, device=y.device)
            if probes is None:
                for i in range(d):
                    (gi,) = torch.autograd.grad(f[:, i].sum(), x, retain_graph=i < d - 1, allow_unused=True)
                    if gi is not None:
                        div = div + gi[:, i]
            else:
                for k, v in enumerate(probes):
                    (gv,) = torch.autograd.grad((f * v).sum(), x, retain_graph=k < len(probes) - 1,
                                                allow_unused=True)
                    if gv is not None:
                        div = div + (gv * v).sum(-1)
                div = div / len(probes)
        return torch.cat([f.detach(), div.detach()[:, None]], dim=1)

    return rhs


def log_likelihood(forward, score, x, *, seed=0, eps=1e-5, rtol=1e-5, atol=1e-5, divergence="auto",
                   n_probes=4, first_step=None, max_steps=100_000, dtype=None, device=None,
                   return_stats=False):
    r"""Log-density ``log p_ε(x)`` of the model defined by ``score`` and the forward SDE (nats).

    .. math::  \log p_ε(x) = \log p_T(x_T) + \int_ε^T ∇·\tilde f(t, x_t)\,dt,
               \quad \tilde f = f − \tfrac12 G G^\top s_θ

    Derivation: the module docstring (Song et al. 2021, App. D.2; Chen et al. 2018).

    Parameters
    ----------
    forward : forward SDE with ``drift``, ``diffusion`` (independent of ``x``), ``T``
        and ``prior_logp(x) -> (n,)`` (e.g. ``sdekit_diffusion.VPSDE()``); any noise type
        (``noise`` attribute, default diagonal)
    score : torch score ``(t, x) -> (n, d)`` (a :class:`sdekit_scores.ScoreMLP`,
        or an analytic score written with torch operations)
    x : ``(n, d)`` NumPy array or tensor of data points
    seed : seeds the Hutchinson probes (unused with the exact divergence)
    eps : start time ``ε`` (the model's density at ``ε`` approximates the data density)
    rtol, atol : Dormand–Prince tolerances on the augmented state (finite, ``>= 0``, not both 0)
    divergence : ``"auto"`` (exact for d <= 8, else Hutchinson), ``"exact"`` or ``"hutchinson"``
    n_probes : Rademacher probes of the Hutchinson estimator
    first_step : initial step (default ``(T − ε)/100``; the solve takes the largest step
        ``<= first_step`` that divides ``T − ε``), a positive float
    max_steps : bound on accepted + rejected steps (:class:`sdekit.adaptive.StepLimitError` beyond)
    dtype, device : of the solve (default float64 and ``x``'s device)
    return_stats : also return a dict (``nfe``, ``n_accepted``, ``n_rejected``,
        ``prior_logp``, ``delta_logp``, ``divergence``)

    Returns
    -------
    ``(n,)`` log-likelihoods: a NumPy array if ``x`` is NumPy, else a tensor.

    Example
    -------
    >>> import math, torch
    >>> class VE:   # sigma(t) = 2^t: g^2 = d sigma^2/dt = 2 ln 2 · 4^t; data N(0, 1): p_t = N(0, 4^t)
    ...     T = 1.0
    ...     def drift(self, t, x): return 0 * x
    ...     def diffusion(self, t, x): return (2 * math.log(2) * 4 ** t) ** 0.5 + 0 * x
    ...     def prior_logp(self, x): return -0.5 * (x ** 2).sum(-1) / 4 - 0.5 * math.log(2 * math.pi * 4)
    >>> score = lambda t, x: -x / 4 ** torch.as_tensor(t, dtype=torch.float64)
    >>> ll = log_likelihood(VE(), score, torch.tensor([[0.5]], dtype=torch.float64), eps=0.0)
    >>> round(float(ll[0]), 4), round(-0.125 - 0.5 * math.log(2 * math.pi), 4)
    (-1.0439, -1.0439)
    """
    y, is_numpy = _as_state(x, dtype, device)
    n, d = y.shape
    T = getattr(forward, "T", 1.0)
    T = check_real("forward.T", T, low=0.0, low_open=True)
    eps = check_real("eps", eps, low=0.0)
    if not eps < T:
        raise InvalidArgumentError(f"eps must satisfy 0 <= eps < T = {T}; got {eps!r}")
    if not callable(getattr(forward, "prior_logp", None)):
        raise InvalidArgumentError(f"forward must have prior_logp(x) (a diffusion forward SDE); "
                                   f"got {type(forward).__name__}")
    if not callable(score):
        raise InvalidArgumentError(f"score must be a callable (t, x) -> (n, d) tensor; got {type(score).__name__}")
    rtol, atol = check_real("rtol", rtol, low=0.0), check_real("atol", atol, low=0.0)
    if rtol == 0 and atol == 0:
        raise InvalidArgumentError("rtol and atol cannot both be 0")
    max_steps = check_positive_int("max_steps", max_steps)
    if first_step is not None:
        first_step = check_real("first_step", first_step, low=0.0, low_open=True)
    if divergence == "auto":
        divergence = "exact" if d <= EXACT_MAX_DIM else "hutchinson"
    if divergence not in ("exact", "hutchinson"):
        raise InvalidArgumentError(f'divergence must be "auto", "exact" or "hutchinson"; got {divergence!r}')
    if not isinstance(return_stats, (bool, np.bool_)):
        raise InvalidArgumentError(f"return_stats must be a bool; got {return_stats!r}")
    probes = None
    if divergence == "hutchinson":
        n_probes = check_positive_int("n_probes", n_probes)
        gen = torch.Generator().manual_seed(sk.philox.check_seed(seed))
        probes = (torch.randint(0, 2, (n_probes, n, d), generator=gen) * 2 - 1).to(y)
    sde = _forward_sde(forward, eps, y)
    # The forward diffusion does not depend on x (checked), so the ∇·(G Gᵀ) term is zero.
    velocity = probability_flow(sde, _checked_torch_score(score), divergence="zero").drift
    y0 = torch.cat([y, torch.zeros(n, 1, dtype=y.dtype, device=y.device)], dim=1)
    grid = {"n_steps": 100} if first_step is None else {"dt": min(first_step, T - eps)}
    sol = sk.solve(sk.ODE(_augmented(velocity, d, probes)), y0, (eps, T), method="dopri5", rtol=rtol, atol=atol,
                   max_steps=max_steps, backend="torch", **grid)
    yT = sol.ys[-1]
    prior = _to_tensor(forward.prior_logp(yT[:, :d]), yT).reshape(n)
    delta = yT[:, d]
    ll = prior + delta
    if is_numpy:
        ll = ll.cpu().numpy()
    if return_stats:
        stats = {k: sol.stats[k] for k in ("nfe", "n_accepted", "n_rejected")}
        stats.update(prior_logp=prior, delta_logp=delta, divergence=divergence)
        return ll, stats
    return ll


def dequantize(x, n_bins=256, *, seed=0):
    r"""Uniform dequantisation ``y = (x + u) / n_bins``, ``u ~ U[0, 1)^D`` i.i.d. (from ``seed``).

    Maps integer data ``x ∈ {0, …, n_bins − 1}^D`` to continuous ``y ∈ [0, 1)^D``
    (Theis, van den Oord & Bethge 2016; Uria et al. 2013). Returns float64 of
    ``x``'s kind (NumPy or torch).

    >>> y = dequantize(np.array([[0, 255]]), 256, seed=1)
    >>> bool((0 <= y[0, 0] < 1 / 256) and (255 / 256 <= y[0, 1] < 1))
    True
    """
    n_bins = check_positive_int("n_bins", n_bins)
    seed = sk.philox.check_seed(seed)
    is_numpy = not torch.is_tensor(x)
    try:
        xt = torch.as_tensor(np.asarray(x)) if is_numpy else x
    except (TypeError, ValueError, RuntimeError):
        raise InvalidArgumentError(f"x must be an (n, D) array of integers; got {type(x).__name__}") from None
    if xt.ndim != 2:
        raise ShapeError(f"x must have shape (n, D); got {tuple(xt.shape)}")
    if torch.is_complex(xt) or xt.dtype == torch.bool or not (torch.is_floating_point(xt) or xt.dtype in
                                                              (torch.int8, torch.uint8, torch.int16, torch.int32,
                                                               torch.int64)):
        raise InvalidArgumentError(f"x must hold integers in [0, {n_bins - 1}]; got dtype {xt.dtype}")
    xf = xt.to(torch.float64)
    if not torch.isfinite(xf).all() or torch.any(xf < 0) or torch.any(xf > n_bins - 1) \
            or torch.any(xf != torch.round(xf)):
        raise InvalidArgumentError(f"x must hold integers in [0, {n_bins - 1}] (n_bins={n_bins})")
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(tuple(xt.shape), generator=gen, dtype=torch.float64).to(xf.device)
    y = (xf + u) / n_bins
    return y.numpy() if is_numpy else y


def bits_per_dim(forward, score, x, *, n_bins=256, data_range=(0.0, 1.0), seed=0, **options):
    r"""Bits per dimension of integer data under the model, with explicit uniform dequantisation.

    With ``y = (x + u)/K`` (:func:`dequantize`, ``K = n_bins``) and the model
    working on ``z = a + (b − a) y`` (``data_range = (a, b)``), Jensen's inequality
    on ``P(x) = ∫_{[0,1)^D} p_Y((x + u)/K) K^{−D} du`` gives the bound the
    literature reports (Theis et al. 2016; Ho et al. 2020; Song et al. 2021):

    .. math::  \mathrm{bpd}(x) = \frac{−\log p_Z(z) − D\log(b − a) + D\log K}{D \ln 2}
               \;\ge\; \frac{−\log_2 P(x)}{D}

    for one draw of ``u`` per point (average over points and draws for the
    bound in expectation). ``log p_Z`` is :func:`log_likelihood` (``**options``
    go to it). The dequantisation noise is drawn from ``seed``; the Hutchinson
    probes, when used, from ``seed + 1``.

    Returns ``(n,)`` bits per dimension (NumPy for NumPy ``x``).

    >>> import math, torch
    >>> class VP:
    ...     T = 1.0
    ...     def drift(self, t, x): return -0.5 * (0.1 + 19.9 * t) * x
    ...     def diffusion(self, t, x): return (0.1 + 19.9 * t) ** 0.5 + 0 * x
    ...     def prior_logp(self, x): return -0.5 * (x ** 2).sum(-1) - x.shape[1] * 0.5 * math.log(2 * math.pi)
    >>> x = np.array([[0, 3], [1, 2]])
    >>> bpd = bits_per_dim(VP(), lambda t, y: -y, x, n_bins=4, data_range=(-1.0, 1.0))
    >>> z = -1 + 2 * dequantize(x, 4, seed=0)
    >>> ref = (0.5 * (z ** 2).sum(1) + math.log(2 * math.pi) - 2 * math.log(2) + 2 * math.log(4)) / (2 * math.log(2))
    >>> bool(np.abs(bpd - ref).max() < 1e-3)
    True
    """
    try:
        a, b = data_range
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"data_range must be a pair (a, b); got {data_range!r}") from None
    a, b = check_real("data_range[0]", a), check_real("data_range[1]", b)
    if not b > a:
        raise InvalidArgumentError(f"data_range must be (a, b) with b > a; got {data_range!r}")
    seed = sk.philox.check_seed(seed)
    y = dequantize(x, n_bins, seed=seed)
    z = a + (b - a) * y
    options.setdefault("seed", (seed + 1) % 2**64)
    ll = log_likelihood(forward, score, z, **options)
    D = (z.shape[1])
    return (-ll - D * math.log(b - a) + D * math.log(n_bins)) / (D * math.log(2))


__all__ = ["log_likelihood", "bits_per_dim", "dequantize", "EXACT_MAX_DIM"]
