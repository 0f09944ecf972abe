r"""Samplers: every method is ``sdekit.solve`` on a transformed problem, with a stepping rule written once.

``sample(forward, score, n, d, method=...)`` draws ``x_T`` from ``forward.prior_sample``
and integrates from forward time ``T`` down to ``eps`` in reversed time
``s = T - t ∈ [0, T - eps]``:

=====================  =================================================================
method                 what is solved
=====================  =================================================================
``euler_maruyama``     :func:`sdekit_scores.reverse` (Anderson) with the core Euler–Maruyama
``heun``               the same reversed SDE with the core stochastic Heun (additive noise,
                       so Stratonovich = Itô)
``pc``                 the reversed SDE with the core ``predictor_corrector``: predictor
                       :class:`ReverseDiffusionPC` (Song et al.'s reverse diffusion, default)
                       or Euler–Maruyama (``predictor="euler_maruyama"``), corrector
                       :class:`sdekit_scores.LangevinCorrector` (``snr``, ``n_corrector``)
``ode``                :func:`sdekit_scores.probability_flow` in reversed time with the
                       core ``rk4`` (default), ``heun``, ``euler`` or adaptive ``dopri5``
                       (``solver=``, ``rtol``, ``atol``)
``ancestral``          :class:`Ancestral`: exact DDPM posterior steps with Tweedie's x̂₀
``annealed_langevin``  :class:`AnnealedLangevin`: NCSN's annealed Langevin dynamics
=====================  =================================================================

Randomness: the prior from ``forward.prior_sample(n, d, seed)`` and all
increments and corrector normals from the solve's ``BrownianPath`` with the
same ``seed`` (distinct Philox node ids). ``x_T=`` overrides the prior draw
(e.g. with an exact ``p_T`` sample).
"""

from __future__ import annotations

import math

import numpy as np

import sdekit as sk
from sdekit.errors import InvalidArgumentError, ShapeError
from sdekit.solvers import PredictorCorrector, Solver
from sdekit.solvers.predictor_corrector import Predicted
from sdekit.testing.problems import check_count, check_real
from sdekit_scores import LangevinCorrector, as_score, probability_flow, reverse

from .sdes import gaussian_transition

METHODS = ("euler_maruyama", "heun", "pc", "ode", "ancestral", "annealed_langevin")
ALIASES = {"em": "euler_maruyama", "predictor_corrector": "pc", "probability_flow": "ode",
           "ddpm": "ancestral", "ncsn": "annealed_langevin"}


class ReverseDiffusionPC(PredictorCorrector):
    r"""Predictor–corrector with Song et al.'s *reverse-diffusion* predictor (their Alg. 5 with their Eq. 46/47).

    Over the reversed step ``[s, s + ds]`` (forward times ``t = T − s`` down to ``t' = t − ds``),
    with the forward transition ``x_t | x_{t'} ~ N(a x_{t'} + b, v I)``
    (:func:`~sdekit_diffusion.gaussian_transition`, mean shift ``b`` included):

    .. math::  \tilde x = x + (1 - a)\,x - b + v\,\nabla\log p_t(x) + \sqrt{v}\,z,

    i.e. ``x − f_i + G_i² s + G_i z`` with the discrete ``f_i = (a − 1) x + b``, ``G_i² = v``
    (for VE: ``v = σ_t² − σ_{t'}²``, as in SMLD; for VP ``a = sqrt(1 − β_i)``-like; ``b = 0``
    for both, ``b = μ(1 − a)`` for an OU process with mean μ).
    ``z = ΔW/sqrt(ds)`` is the step's Brownian increment. The corrector
    (:class:`~sdekit_scores.LangevinCorrector`) then acts at ``t'``; it receives this step's
    drift ``((1 − a) x − b + v ∇log p_t)/ds`` and diffusion ``sqrt(v/ds)`` as the predictor's
    ``f`` and ``g`` (so the core's ``TrapezoidalCorrector`` works too). Itô, weak order 1.

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VESDE, ReverseDiffusionPC
    >>> ve, data = VESDE(), sks.Gaussian([1.0], [[0.25]])
    >>> score = data.perturbed(ve)
    >>> pc = ReverseDiffusionPC(ve, score, 1.0, sks.LangevinCorrector(score, 0.1, T=1.0))
    >>> x = sk.solve(sks.reverse(ve, score, 1.0), ve.prior_sample(4000, 1, seed=0), (0.0, 0.999),
    ...              n_steps=200, method=pc, seed=0).ys[-1]
    >>> round(float(x.mean()), 1), round(float(x.std()), 1)
    (1.0, 0.5)
    """

    name = "reverse_diffusion_pc"

    def __init__(self, forward, score, T, corrector):
        super().__init__(corrector=corrector)
        self.forward, self.score, self.T = forward, as_score(score), check_real("T", T)
        self.nfe_per_step = 1 + int(getattr(corrector, "nfe", 1))

    def step(self, terms, t, dt, x, dw, aux):
        tf = self.T - t
        tr = gaussian_transition(self.forward, tf - dt, tf)
        a, b, v = tr.a, tr.b, tr.v
        grad = self.score(tf, x)
        g = math.sqrt(v / dt)
        x_pred = x * (2.0 - a) + v * grad + g * dw
        drift = x * (1.0 - a) + v * grad
        if b:
            x_pred, drift = x_pred - b, drift - b
        f = drift * (1.0 / dt)  # this step's drift and diffusion, for correctors that read them
        return self.corrector(terms, t, dt, Predicted(x, x_pred, f, g + 0.0 * x, dw, aux))


class Ancestral(Solver):
    r"""Ancestral (DDPM-style) sampling for a linear forward SDE with exact Gaussian transitions.

    Over the reversed step from forward time ``t`` to ``t' = t − Δ`` with marginals
    ``x_t | x_0 ~ N(m x_0 + c, s² I)``, ``x_{t'} | x_0 ~ N(m' x_0 + c', s'² I)`` and transition
    ``x_t | x_{t'} ~ N(a x_{t'} + b, v I)`` (``a = m/m'``, ``b = c − a c'``, ``v = s² − a² s'²``;
    :func:`~sdekit_diffusion.gaussian_transition`), replace ``x_0`` in the Gaussian posterior
    ``q(x_{t'} | x_t, x_0)`` by Tweedie's estimate ``x̂_0 = (x − c + s² ∇log p_t(x)) / m``:

    .. math::  x_{t'} = \frac{a s'^2\,(x - b) + v\,(m' \hat x_0 + c')}{s^2} + \sqrt{\frac{v\,s'^2}{s^2}}\;z

    (the posterior of a Gaussian prior ``N(m' x_0 + c', s'²)`` and likelihood ``N(a x_{t'} + b, v)``;
    the shifts vanish for VE, VP and sub-VP).

    For VE this is SMLD's ancestral rule ``x + (σ_t² − σ_{t'}²) ∇log p + ...`` exactly;
    for VP it is DDPM's Algorithm 2 with the posterior variance β̃ (Ho et al. 2020).
    Exact in law when ``p_0`` is a point mass; for other data it is a first-order
    scheme (the posterior over ``x_0`` is replaced by its mean). One score
    evaluation per step; ``z = ΔW/sqrt(Δ)`` from the step's Brownian increment.
    Run on the reversed SDE (for its grid and Brownian path; its drift is not used).

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VPSDE, Ancestral
    >>> vp, data = VPSDE(), sks.Gaussian([1.0], [[0.25]])
    >>> score = data.perturbed(vp)
    >>> x = sk.solve(sks.reverse(vp, score, 1.0), vp.prior_sample(4000, 1, seed=0), (0.0, 0.999),
    ...              n_steps=200, method=Ancestral(vp, score, 1.0), seed=0).ys[-1]
    >>> round(float(x.mean()), 1), round(float(x.std()), 1)
    (1.0, 0.5)
    """

    name = "ancestral"
    calculus = "any"
    weak_order = 1.0
    nfe_per_step = 1

    def __init__(self, forward, score, T):
        self.forward, self.score, self.T = forward, as_score(score), check_real("T", T)

    def step(self, terms, t, dt, x, dw, aux):
        tf = self.T - t
        tr = gaussian_transition(self.forward, tf - dt, tf)
        a, b, v = tr.a, tr.b, tr.v
        mp, sp, cp, m, s, c = tr.m_from, tr.s_from, tr.c_from, tr.m_to, tr.s_to, tr.c_to
        grad = self.score(tf, x)
        num = x + (s * s) * grad
        x0 = (num - c if c else num) * (1.0 / m)  # Tweedie
        mean = ((x - b if b else x) * (a * sp * sp) + x0 * (mp * v)) * (1.0 / (s * s))
        if cp:
            mean = mean + cp * v / (s * s)
        return mean + math.sqrt(v * sp * sp / (s * s) / dt) * dw


class AnnealedLangevin(Solver):
    r"""Annealed Langevin dynamics (NCSN; Song & Ermon 2019, Algorithm 1) over the solve's grid.

    The reversed step ``[s, s + ds]`` is one noise level: the marginal at forward time
    ``t' = T − (s + ds)`` (std ``s_{t'}``). ``n_inner`` Langevin moves target it,

    .. math::  x \leftarrow x + α\,\nabla\log p_{t'}(x) + \sqrt{2α}\,z .

    Step size: with ``snr`` given, Song et al.'s rule ``α = 2 (snr ‖z‖/‖∇log p‖)²`` (batch
    norms; see :class:`sdekit_scores.LangevinCorrector`) — this is the "corrector-only"
    sampler of Song et al. (2021) and adapts to the scale of ``p_{t'}`` (needed for VP and
    sub-VP, whose marginals also rescale the data by ``m_t``). With ``snr=None``, NCSN's
    fixed schedule ``α = step_size · s_{t'}²`` (Song & Ermon's ``α_i = ε σ_i²/σ_L²`` with
    ``step_size = ε/σ_L²``; theirs, ``ε = 2·10⁻⁵`` and ``σ_L = 0.01``, is ``step_size = 0.2``),
    natural for VE. ``sample(method="annealed_langevin")`` uses ``snr=0.3`` unless
    ``step_size`` is given. The first move's normal is ``ΔW/sqrt(ds)``, the others come from
    the core's auxiliary normals (``n_aux = n_inner − 1``); ``n_inner`` score evaluations per
    step. A sampler of the family, not an SDE discretisation: its error at a fixed step
    rule does not vanish as levels are refined (Langevin's ``O(α)`` bias), see
    ``docs/diffusion.md``.

    >>> import sdekit as sk, sdekit_scores as sks
    >>> from sdekit_diffusion import VESDE, AnnealedLangevin
    >>> ve, data = VESDE(), sks.Gaussian([1.0], [[0.25]])
    >>> score = data.perturbed(ve)
    >>> al = AnnealedLangevin(ve, score, 1.0, snr=0.3, n_inner=2)
    >>> x = sk.solve(sks.reverse(ve, score, 1.0), ve.prior_sample(4000, 1, seed=0), (0.0, 0.999),
    ...              n_steps=200, method=al, seed=0).ys[-1]
    >>> round(float(x.mean()), 1), round(float(x.std()), 1)
    (1.0, 0.5)
    """

    name = "annealed_langevin"
    calculus = "any"

    def __init__(self, forward, score, T, step_size=0.1, n_inner=2, snr=None):
        self.forward, self.score, self.T = forward, as_score(score), check_real("T", T)
        self.step_size = check_real("step_size", step_size, low=0.0, low_open=True)
        self.n_inner = check_count("n_inner", n_inner)
        self.langevin = None if snr is None else LangevinCorrector(self.score, snr, T=T, n_steps=1)
        self.n_aux = self.n_inner - 1
        self.nfe_per_step = self.n_inner

    def step(self, terms, t, dt, x, dw, aux):
        tp = self.T - (t + dt)
        _, sp = (float(v) for v in self.forward.marginal(tp)[:2])
        alpha = self.step_size * sp * sp
        for k in range(self.n_inner):
            z = dw * (1.0 / math.sqrt(dt)) if k == 0 else aux[k - 1]
            grad = self.score(tp, x)
            a = alpha if self.langevin is None else self.langevin.step_size(grad, z)
            x = x + a * grad + (2.0 * a) ** 0.5 * z
        return x


def _torch_device(score):
    """The device of a torch score's module (``None`` for a score that is not torch)."""
    if getattr(score, "kind", None) != "torch":
        return None
    module = getattr(score, "module", None)
    for p in (module.parameters() if module is not None else ()):
        return p.device
    return "cpu"


def sample(forward, score, n, d, *, method="euler_maruyama", n_steps=1000, eps=1e-3, seed=0, backend="auto",
           **options):
    r"""Draw ``n`` samples in ``R^d`` by integrating a reversed forward SDE from ``T`` to ``eps``.

    Parameters
    ----------
    forward : a forward SDE with ``T`` and ``prior_sample`` (``VESDE``, ``VPSDE``, ``SubVPSDE``,
        ``OUSDE``, or any ``sk.SDE`` with those attributes); ``pc`` with the reverse-diffusion
        predictor, ``ancestral`` and ``annealed_langevin`` also need ``marginal``.
    score : ``(t, x) -> ∇ log p_t(x)`` in forward time (NumPy, torch, torch module).
    n, d : number of samples and dimension.
    method : ``euler_maruyama`` (``em``), ``heun``, ``pc``, ``ode``, ``ancestral``,
        ``annealed_langevin`` (module docstring).
    n_steps : solver steps on ``[0, T − eps]`` (for ``dopri5``, the first step is ``(T − eps)/n_steps``).
    eps : the cut-off: integration stops at forward time ``eps`` (scores blow up at 0 for
        data without density, and ``g`` of VE is largest relative to ``s_t`` there).
    seed : prior draw and every increment / auxiliary normal.
    backend : passed to ``sdekit.solve``; ``"auto"`` uses torch when the score is a torch module
        (or an adapter of one, :func:`sdekit_scores.from_epsilon`), on the module's device.
    options : ``x_T`` (initial state instead of the prior draw); ``pc``: ``snr`` (0.1),
        ``n_corrector`` (1), ``predictor`` (``"reverse_diffusion"`` or ``"euler_maruyama"``),
        ``norm`` (``"batch"``/``"path"``); ``ode``: ``solver`` (``"rk4"``, ``"heun"``, ``"euler"``,
        ``"dopri5"``), ``rtol``, ``atol``; ``annealed_langevin``: ``snr`` (0.3) or ``step_size`` (NCSN schedule), ``n_inner`` (2);
        ``divergence`` for ``reverse``/``probability_flow``; others (``dtype``, ``device``,
        ``progress``, ``save_at``) go to ``solve``; ``return_solution=True`` returns the
        :class:`sdekit.Solution` instead of the final state.

    Returns
    -------
    ``(n, d)`` array of the backend's kind (NumPy or torch).

    Example
    -------
    >>> import sdekit_diffusion as skd, sdekit_scores as sks
    >>> mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [0.1, 0.1])
    >>> vp = skd.VPSDE()
    >>> x = skd.sample(vp, mix.perturbed(vp), 2000, 1, n_steps=200, seed=0, backend="numpy")
    >>> x.shape, round(float((x > 0).mean()), 1)
    ((2000, 1), 0.7)
    """
    name = ALIASES.get(method, method) if isinstance(method, str) else method
    if name not in METHODS:
        raise InvalidArgumentError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    n, d = check_count("n", n), check_count("d", d)
    T = check_real("forward.T", getattr(forward, "T", 1.0), low=0.0, low_open=True)
    eps = check_real("eps", eps, low=0.0)
    if not eps < T:
        raise InvalidArgumentError(f"eps must be in [0, T={T}); got {eps}")
    score = as_score(score)
    x_T = options.pop("x_T", None)
    if x_T is None:
        if not hasattr(forward, "prior_sample"):
            raise InvalidArgumentError("forward has no prior_sample(n, d, seed); pass x_T=")
        x_T = forward.prior_sample(n, d, seed)
    elif tuple(getattr(x_T, "shape", np.shape(x_T))) != (n, d):
        raise ShapeError(f"x_T must have shape (n, d) = ({n}, {d}); got {tuple(getattr(x_T, 'shape', np.shape(x_T)))}")
    return_solution = options.pop("return_solution", False)
    if not isinstance(return_solution, (bool, np.bool_)):
        raise InvalidArgumentError(f"return_solution must be a bool; got {return_solution!r}")
    device = _torch_device(score) if backend == "auto" else None
    if device is not None:
        import torch

        x_T = x_T if torch.is_tensor(x_T) else torch.as_tensor(np.asarray(x_T), dtype=torch.float64)
        x_T = x_T.to(device)
    divergence = options.pop("divergence", None)
    span = (0.0, T - eps)
    solve_kw = {k: options.pop(k) for k in ("dtype", "device", "progress", "save_at") if k in options}
    solve_kw.update(n_steps=n_steps, seed=seed, backend=backend)

    if name == "ode":
        solver = options.pop("solver", "rk4")
        if solver == "dopri5":
            rtol = check_real("rtol", options.pop("rtol", 1e-6), low=0.0)
            solve_kw["method"] = sk.solvers.Dopri5(rtol=rtol, atol=check_real("atol", options.pop("atol", 1e-8), low=0.0))
        else:
            solve_kw["method"] = solver
        problem = probability_flow(forward, score, T=T, divergence=divergence)
    else:
        problem = reverse(forward, score, T, divergence=divergence)
        if name in ("euler_maruyama", "heun"):
            solve_kw["method"] = name
        elif name == "pc":
            n_corrector = check_count("n_corrector", options.pop("n_corrector", 1))
            corr = LangevinCorrector(score, options.pop("snr", 0.1), T=T, n_steps=n_corrector,
                                     norm=options.pop("norm", "batch"))
            predictor = options.pop("predictor", "reverse_diffusion")
            if predictor == "reverse_diffusion":
                solve_kw["method"] = ReverseDiffusionPC(forward, score, T, corr)
            elif predictor in ("euler_maruyama", "em"):
                solve_kw["method"] = PredictorCorrector(corrector=corr)
            else:
                raise InvalidArgumentError(f'predictor must be "reverse_diffusion" or "euler_maruyama"; got {predictor!r}')
        elif name == "ancestral":
            solve_kw["method"] = Ancestral(forward, score, T)
        else:
            snr, step_size = options.pop("snr", None), options.pop("step_size", None)
            if snr is None and step_size is None:
                snr = 0.3
            solve_kw["method"] = AnnealedLangevin(forward, score, T, step_size=0.1 if step_size is None else step_size,
                                                  n_inner=options.pop("n_inner", 2), snr=snr)
    if options:
        raise InvalidArgumentError(f"unknown options for method {method!r}: {sorted(options)}")
    sol = sk.solve(problem, x_T, span, **solve_kw)
    return sol if return_solution else sol.ys[-1]


__all__ = ["sample", "Ancestral", "AnnealedLangevin", "ReverseDiffusionPC", "METHODS"]
