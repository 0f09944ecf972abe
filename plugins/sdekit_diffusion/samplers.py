r"""Samplers: every method is ``sdekit.solve`` on a transformed problem, with a stepping rule written once.

``sample(forward, score, n, shape, method=...)`` draws ``x_T`` from ``forward.prior_sample``
(or takes ``x_T=``, or noises ``init=`` data to ``t_start``) and integrates from forward time
``t_start`` (default ``T``) down to ``eps``. The first six methods integrate in reversed time
``s = T − t``; the data-prediction samplers integrate :func:`~sdekit_diffusion.logsnr_problem`
in log-SNR ``λ`` (increasing), on the scaled state ``(x − c_t)/m_t``:

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
``ddim``               :class:`~sdekit_diffusion.DDIM` (``eta``; η > 0 on the η-family SDE)
``dpm_solver``         :class:`~sdekit_diffusion.DPMSolver`: DPM-Solver++ multistep, ``order`` 1–3
``dpm_solver_sde``     :class:`~sdekit_diffusion.DPMSolverSDE`: DPM-Solver++(2M) SDE (``eta`` = 1)
``edm``                :class:`~sdekit_diffusion.EDMHeun`: Karras et al.'s Heun with churn
``unipc``              :class:`~sdekit_diffusion.UniPC`: UniPC-``order`` (``variant`` bh1/bh2)
=====================  =================================================================

Grids: ``schedule="uniform" | "karras" | "logsnr"`` (:mod:`~sdekit_diffusion.schedules`) or an
explicit decreasing ``times=`` array, run with ``sk.solve(..., grid=)`` (only the end state is
kept); ``n_steps`` or a budget ``nfe`` of score evaluations (:mod:`~sdekit_diffusion.budget`
says how each method spends it, and :func:`~sdekit_diffusion.sampling_plan` shows it before the
run). ``final_denoise`` ends with Tweedie's x̂₀ (default: on for the data-prediction samplers).

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
from sdekit import philox
from sdekit.validation import check_bool
from sdekit.testing.problems import check_count, check_real
from sdekit_scores import LangevinCorrector, as_score, probability_flow, reverse
from sdekit_scores.analytic import marginal_parts

from sdekit_scores import _arrays as AL
from sdekit_scores.protocol import Score

from .budget import ALIASES, LOGSNR_METHODS, METHODS, method_name, sampling_plan
from .ddim import DDIM
from .dpm_solver import DPMSolver
from .dpm_solver_sde import DPMSolverSDE
from .edm import EDMHeun
from .logsnr import integrating_factor_problem, logsnr_problem, scaled_sigma, sigma_problem
from .sdes import gaussian_transition
from .stepnoise import StepNoise
from .unipc import UniPC



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

    *Contraction between levels* (``contract=True``, the default): both rules assume the draw
    already has the spread of the level, and on a coarse grid it has the previous level's. For a
    level much broader than the data, ``p_{t'} ≈ N(μ, s_{t'}² I)``, a move scales ``x − μ`` by
    ``1 − α/s_{t'}²`` and adds variance ``2α``; from a draw of spread ``s_t`` (the level before)
    the variance after one move, ``(1 − α/s_{t'}²)² s_t² + 2α``, is smallest at

    .. math::  α_0 = \big(1 - s_{t'}^2/s_t^2\big)\, s_{t'}^2 ,

    where it is ``s_{t'}²(2 − s_{t'}²/s_t²)``, between ``s_{t'}²`` and ``2 s_{t'}²``. The first move of
    each level uses ``max(α, α_0)``. On dense grids ``s_{t'} → s_t`` and ``α_0 → 0`` (the rule above
    decides, as in NCSN); with few levels (10 evaluations on VE: 5 levels, ``σ`` ratios ~8) it is what
    moves a prior draw of scale ``σ_max`` to the data at all (docs/diffusion.md: end-state ``|x|`` 251 → 8
    on the 16-D mixture, VE, Karras grid). ``contract=False`` is Song & Ermon's algorithm unchanged.

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

    def __init__(self, forward, score, T, step_size=0.1, n_inner=2, snr=None, contract=True):
        self.forward, self.score, self.T = forward, as_score(score), check_real("T", T)
        self.contract = check_bool("contract", contract)
        self.step_size = check_real("step_size", step_size, low=0.0, low_open=True)
        self.n_inner = check_count("n_inner", n_inner)
        self.langevin = None if snr is None else LangevinCorrector(self.score, snr, T=T, n_steps=1)
        self.n_aux = self.n_inner - 1
        self.nfe_per_step = self.n_inner

    def step(self, terms, t, dt, x, dw, aux):
        tp = self.T - (t + dt)
        _, sp = (float(v) for v in self.forward.marginal(tp)[:2])
        alpha = self.step_size * sp * sp
        first = 0.0
        if self.contract:  # α_0 = (1 − s_{t'}²/s_t²) s_{t'}² (class docstring)
            _, s0 = (float(v) for v in self.forward.marginal(self.T - t)[:2])
            if s0 > sp:
                first = (1.0 - (sp / s0) ** 2) * sp * sp
        for k in range(self.n_inner):
            z = dw * (1.0 / math.sqrt(dt)) if k == 0 else aux[k - 1]
            grad = self.score(tp, x)
            a = alpha if self.langevin is None else self.langevin.step_size(grad, z)
            if k == 0 and first > 0.0 and float(a) < first:
                a = first
            x = x + a * grad + (2.0 * a) ** 0.5 * z
        return x


def _torch_target(score):
    """``(dtype, device)`` of a torch score's module (None, None when it has no parameters or is not torch)."""
    if getattr(score, "kind", None) != "torch":
        return None, None
    module = getattr(score, "module", None)
    for p in (module.parameters() if module is not None else ()):
        return p.dtype, p.device
    return None, None


class _Counted(Score):
    """A score that counts its evaluations (score and data-prediction calls alike): ``stats["nfe"]``."""

    def __init__(self, inner):
        super().__init__(inner.fn, inner.kind, inner.module, denoiser=inner.denoiser, time=inner.time,
                         cast=inner.cast)
        self.inner, self.calls = inner, 0

    def __call__(self, t, x):
        self.calls += 1
        return self.inner(t, x)

    def denoise(self, t, x):
        if self.inner.denoiser is None:
            return None
        self.calls += 1
        return self.inner.denoise(t, x)


def _flat(score, shape):
    """The score on flat ``(n, D)`` states for the solvers that call it themselves (event-shaped inside)."""
    if len(shape) == 1:
        return score

    def fn(t, x):
        n = x.shape[0]
        return score(t, x.reshape((n,) + shape)).reshape(n, -1)

    return Score(fn, score.kind, score.module)


def _grid_noise(problem, solve_kw, brownian, n, shape, grid, seed, like):
    """The noise of an SDE solved on an explicit grid: :class:`~sdekit_diffusion.stepnoise.StepNoise` (one normal per
    component and step) unless a ``brownian=`` was given; ODE problems take the core's (auxiliary normals only)."""
    if brownian is not None:
        solve_kw["brownian"] = brownian
    elif not problem.is_ode:
        solve_kw["brownian"] = StepNoise(n, int(np.prod(shape)), grid, seed=seed, like=like)


def _check_shape(shape):
    if isinstance(shape, (tuple, list)):
        if len(shape) == 0:
            raise InvalidArgumentError("shape must be an int d or a non-empty tuple of positive ints")
        return tuple(check_count(f"shape[{i}]", s) for i, s in enumerate(shape))
    return (check_count("d", shape),)


def _method_solver(name, plan, problem_T, score_flat, forward, options):
    """The solver (and for ``ode`` the method name) of a method, its options popped from ``options``."""
    fd, n = plan.final_denoise, plan.n_steps
    if name == "ddim":
        return DDIM(options.pop("eta", 0.0), n_steps=n, then_denoise=fd)
    if name == "dpm_solver":
        return DPMSolver(options.pop("order", 2), n_steps=n, then_denoise=fd,
                         lower_order_final=options.pop("lower_order_final", True))
    if name == "dpm_solver_sde":
        return DPMSolverSDE(options.pop("eta", 1.0), solver_type=options.pop("solver_type", "midpoint"), n_steps=n,
                            then_denoise=fd, lower_order_final=options.pop("lower_order_final", True))
    if name == "edm":
        return EDMHeun(options.pop("s_churn", 0.0), options.pop("s_tmin", 0.0), options.pop("s_tmax", math.inf),
                       options.pop("s_noise", 1.0), n_steps=n, last=plan.edm_last, then_denoise=fd)
    if name == "unipc":
        return UniPC(options.pop("order", 2), variant=options.pop("variant", "bh2"),
                     corrector=options.pop("corrector", True), corrector_order=options.pop("corrector_order", None),
                     n_steps=n, then_denoise=fd,
                     lower_order_final=options.pop("lower_order_final", True))
    if name in ("euler_maruyama", "heun"):
        return name
    if name == "ode":
        solver = options.pop("solver", "rk4")
        if solver == "dopri5":
            rtol = check_real("rtol", options.pop("rtol", 1e-6), low=0.0)
            return sk.solvers.Dopri5(rtol=rtol, atol=check_real("atol", options.pop("atol", 1e-8), low=0.0))
        return solver
    if name == "pc":
        n_corrector = check_count("n_corrector", options.pop("n_corrector", 1))
        corr = LangevinCorrector(score_flat, options.pop("snr", 0.1), T=problem_T, n_steps=n_corrector,
                                 norm=options.pop("norm", "batch"))
        predictor = options.pop("predictor", "reverse_diffusion")
        if predictor == "reverse_diffusion":
            return ReverseDiffusionPC(forward, score_flat, problem_T, corr)
        if predictor in ("euler_maruyama", "em"):
            return PredictorCorrector(corrector=corr)
        raise InvalidArgumentError(f'predictor must be "reverse_diffusion" or "euler_maruyama"; got {predictor!r}')
    if name == "ancestral":
        return Ancestral(forward, score_flat, problem_T)
    snr, step_size = options.pop("snr", None), options.pop("step_size", None)
    if snr is None and step_size is None:
        snr = 0.3
    return AnnealedLangevin(forward, score_flat, problem_T, step_size=0.1 if step_size is None else step_size,
                            n_inner=options.pop("n_inner", 2), snr=snr, contract=options.pop("contract", True))


def _start_state(forward, n, shape, x_T, init, t_start, seed, T):
    D = int(np.prod(shape))
    if x_T is not None and init is not None:
        raise InvalidArgumentError("pass x_T (the state at t_start) or init (data to noise to t_start), not both")
    if x_T is not None:
        got = tuple(getattr(x_T, "shape", np.shape(x_T)))
        if got != (n,) + shape:
            raise ShapeError(f"x_T must have shape (n, *shape) = {(n,) + shape}; got {got}")
        return x_T
    if init is not None:
        got = tuple(getattr(init, "shape", np.shape(init)))
        if got not in ((n,) + shape, shape):
            raise ShapeError(f"init must have shape (n, *shape) = {(n,) + shape} or shape {shape}; got {got}")
        m, s, c = (float(v) for v in marginal_parts(forward, t_start))
        z = philox.normals(philox.check_seed(seed), _NODE_INIT, np.arange(n, dtype=np.uint64), D).reshape((n,) + shape)
        z = AL.like(z, init)
        out = init * m + z * s
        return out + c if c else out
    if t_start < T * (1 - 1e-12):
        raise InvalidArgumentError(f"t_start={t_start} < T={T} needs x_T (the state at t_start) or init (the data to "
                                   "noise, img2img-style): the prior is the law at T only")
    if not hasattr(forward, "prior_sample"):
        raise InvalidArgumentError("forward has no prior_sample(n, d, seed); pass x_T=")
    return forward.prior_sample(n, D, seed).reshape((n,) + shape)


_NODE_INIT = philox.stream_draw(philox.STREAM_PRIOR, 1)  # img2img noise: a node of its own
VARIABLES = ("t", "sigma", "logsnr")


def _variable(name, plan, options):
    """The integration variable of a generic rule (euler_maruyama, heun, ode): ``t`` on Song et al.'s uniform grids,
    else one where the rule is stable at any step (below); ``variable=`` overrides."""
    v = options.get("variable")
    if name not in ("euler_maruyama", "heun", "ode") or options.get("solver") == "dopri5":
        if v not in (None, "t"):
            raise InvalidArgumentError(f"variable= applies to euler_maruyama, heun and ode (fixed-step); {name!r} "
                                       "integrates in t")
        return "t"
    if v is not None:
        if not isinstance(v, str) or v not in VARIABLES:
            raise InvalidArgumentError(f"variable must be one of {', '.join(map(repr, VARIABLES))}; got {v!r}")
        return v
    if plan.schedule == "uniform":
        return "t"
    # Stable at any step of a Karras/log-SNR grid: the ODE rules and Euler–Maruyama in σ (Euler is DDIM, Heun is
    # EDM's sampler); the stochastic Heun only with the integrating factor (its corrector's 1/σ' blows up in σ).
    return "logsnr" if name == "heun" else "sigma"


def sample(forward, score, n, shape, *, method="euler_maruyama", n_steps=None, nfe=None, schedule=None, times=None,
           rho=7.0, eps=None, t_start=None, final_denoise=None, seed=0, backend="auto", batch_size=None, **options):
    r"""Draw ``n`` samples of event shape ``shape`` by integrating from ``t_start`` (default ``T``) down to ``eps``.

    Parameters
    ----------
    forward : a linear forward process (``VESDE``, ``VPSDE``, ``SubVPSDE``, ``OUSDE``, ``EDMSDE``,
        ``DiscreteVPSDE``, or any ``sk.SDE`` with ``T``, ``marginal`` and ``prior_sample``; the
        ``euler_maruyama``, ``heun`` and ``ode`` methods need only ``T`` and ``prior_sample``).
    score : ``(t, x) -> ∇ log p_t(x)`` in forward time (NumPy, torch, torch module, or an adapter of
        :mod:`sdekit_scores`: their data prediction is used directly by the data-prediction samplers).
    n, shape : number of samples and the event shape (an int ``d`` or a tuple, e.g. ``(3, 32, 32)``).
    method : ``euler_maruyama`` (``em``), ``heun``, ``pc``, ``ode``, ``ancestral``, ``annealed_langevin``,
        ``ddim``, ``dpm_solver``, ``dpm_solver_sde``, ``edm``, ``unipc`` (module docstring).
    n_steps, nfe, times : the grid: ``n_steps`` steps (default 1000), or a budget of ``nfe`` score
        evaluations spent exactly (:mod:`~sdekit_diffusion.budget`), or an explicit strictly
        decreasing array of forward times (its first entry is ``t_start``, its last ``eps``).
    schedule : ``"uniform"`` (in t), ``"karras"`` (``rho``) or ``"logsnr"``; default per method
        (uniform for the t-methods, logsnr for ddim/dpm_solver/dpm_solver_sde/unipc, karras for edm).
    eps : where sampling stops (default ``forward.t_min`` when it has one, e.g. EDMSDE's σ_min and
        DiscreteVPSDE's 1/N, else 1e-3).
    t_start : start below ``T`` (img2img): with ``init=`` data noised there as ``m x₀ + c + s z``
        (``z`` Philox normals of ``seed``), or with ``x_T=`` the state there.
    final_denoise : end with Tweedie's x̂₀ at ``eps`` (one evaluation); default True for the
        data-prediction samplers, False for the others.
    seed : prior draw, every increment and auxiliary normal, the img2img noise.
    backend : ``"auto"``: torch when the score is torch (a module, an adapter of one) or ``x_T`` is a
        tensor; the state then takes the module's float dtype (float32 stays float32; half precision
        models run on a float32 state and are called in their own dtype) and device.
    batch_size : evaluate the score on at most this many samples at a time (bounds model memory).
    options : method options (``ddim``: ``eta``; ``dpm_solver``: ``order`` (2), ``lower_order_final``;
        ``dpm_solver_sde``: ``eta`` (1), ``solver_type``; ``edm``: ``s_churn``, ``s_tmin``, ``s_tmax``,
        ``s_noise``; ``unipc``: ``order`` (2), ``variant`` ("bh2"), ``corrector``, ``corrector_order``; ``pc``: ``snr``
        (0.1), ``n_corrector``, ``predictor``, ``norm``; ``ode``: ``solver`` ("rk4", "heun", "euler",
        "dopri5"), ``rtol``, ``atol``; ``annealed_langevin``: ``snr`` or ``step_size``, ``n_inner``, ``contract`` (True)),
        ``x_T``, ``init``, ``divergence``, ``grad`` (keep autograd on for torch scores; default off),
        ``dtype``, ``device``, ``progress``, ``save_at`` (forward times), ``brownian`` (the noise of an
        explicit-grid SDE solve; default :class:`~sdekit_diffusion.stepnoise.StepNoise`), and ``return_solution=True``
        for the :class:`sdekit.Solution` (``stats["nfe"]`` = score evaluations; ``sol.samples`` the
        result; for the data-prediction samplers ``ts`` are log-SNR values and ``ys`` scaled states).

    Returns
    -------
    ``(n, *shape)`` array of the backend's kind (NumPy or torch).

    Example
    -------
    >>> import sdekit_diffusion as skd, sdekit_scores as sks
    >>> mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [0.1, 0.1])
    >>> vp = skd.VPSDE()
    >>> x = skd.sample(vp, mix.perturbed(vp), 2000, 1, n_steps=200, seed=0, backend="numpy")
    >>> x.shape, round(float((x > 0).mean()), 1)
    ((2000, 1), 0.7)
    >>> x = skd.sample(vp, mix.perturbed(vp), 2000, 1, method="dpm_solver", nfe=10, seed=0)
    >>> round(float((x > 0).mean()), 1)
    0.7
    """
    name = method_name(method)
    n = check_count("n", n)
    shape = _check_shape(shape)
    cost_options = {k: options[k] for k in ("n_corrector", "n_inner", "solver") if k in options}
    plan = sampling_plan(forward, name, n_steps=n_steps, nfe=nfe, schedule=schedule, times=times, rho=rho, eps=eps,
                         t_start=t_start, final_denoise=final_denoise, **cost_options)
    T = float(forward.T) if hasattr(forward, "T") else 1.0
    t0, t1 = float(plan.times[0]), float(plan.times[-1])
    x_T, init = options.pop("x_T", None), options.pop("init", None)
    return_solution = options.pop("return_solution", False)
    if not isinstance(return_solution, (bool, np.bool_)):
        raise InvalidArgumentError(f"return_solution must be a bool; got {return_solution!r}")
    grad = options.pop("grad", False)
    if not isinstance(grad, (bool, np.bool_)):
        raise InvalidArgumentError(f"grad must be a bool; got {grad!r}")
    divergence = options.pop("divergence", None)
    save_at = options.pop("save_at", None)
    solve_kw = {k: options.pop(k) for k in ("dtype", "device", "progress") if k in options}
    brownian = options.pop("brownian", None)
    base = as_score(score)
    if batch_size is not None:
        base = base.batched(batch_size)
    counted = _Counted(base)
    x_start = _start_state(forward, n, shape, x_T, init, t0, seed, T)

    use_torch = backend == "torch" or (backend == "auto" and (counted.kind == "torch" or AL.is_torch(x_start)))
    if use_torch:
        import torch

        mdtype, mdevice = _torch_target(counted)
        if not torch.is_tensor(x_start):
            dtype = mdtype if mdtype in (torch.float32, torch.float64) else \
                (torch.float32 if mdtype is not None else torch.float64)
            x_start = torch.as_tensor(np.asarray(x_start), dtype=dtype)
        elif x_start.dtype not in (torch.float32, torch.float64):
            x_start = x_start.to(torch.float32)
        if "device" not in solve_kw and mdevice is not None:
            x_start = x_start.to(mdevice)

    if name in LOGSNR_METHODS:
        solver = _method_solver(name, plan, T, None, forward, options)
        if options:
            raise InvalidArgumentError(f"unknown options for method {method!r}: {sorted(options)}")
        if divergence is not None:
            raise InvalidArgumentError(f"divergence applies to the reversed SDE; {name!r} needs a linear forward process")
        problem = logsnr_problem(forward, counted, eta=getattr(solver, "eta", 0.0) if solver.stochastic else 0.0)
        lam = plan.grid.logsnr
        if not np.all(np.isfinite(lam)):
            raise InvalidArgumentError(f"{name!r} integrates in log-SNR, which is infinite at σ = 0 (t = "
                                       f"{t1}): stop at eps > 0 (final_denoise=True takes the last step to σ = 0)")
        y0 = problem.to_scaled(t0, x_start)
        if save_at is not None:
            solve_kw["save_at"] = np.sort([problem.logsnr(t) for t in np.atleast_1d(save_at)])
        _grid_noise(problem, solve_kw, brownian, n, shape, lam, seed, y0)
        run = lambda: sk.solve(problem, y0, (float(lam[0]), float(lam[-1])), grid=lam, method=solver, seed=seed,
                               backend=backend, **solve_kw)
        finish = lambda y: problem.from_scaled(t1, y)
    elif _variable(name, plan, options) != "t":
        variable = options.pop("variable", None) or _variable(name, plan, options)
        solver = _method_solver(name, plan, T, None, forward, options)
        if options:
            raise InvalidArgumentError(f"unknown options for method {method!r}: {sorted(options)}")
        sigmas = plan.grid.sigmas
        if not np.all(sigmas > 0):
            raise InvalidArgumentError(f"variable={variable!r} needs a positive noise level at the end (t = {t1}): "
                                       "stop at eps > 0 (final_denoise=True takes the step to σ = 0)")
        eta = 0.0 if name == "ode" else 1.0
        build = sigma_problem if variable == "sigma" else integrating_factor_problem
        problem = build(forward, counted, eta=eta)
        clock = problem.clock(sigmas)
        y0 = problem.to_state(t0, x_start)
        if save_at is not None:
            solve_kw["save_at"] = np.sort(problem.clock([scaled_sigma(forward, t) for t in np.atleast_1d(save_at)]))
        _grid_noise(problem, solve_kw, brownian, n, shape, clock, seed, y0)
        run = lambda: sk.solve(problem, y0, (float(clock[0]), float(clock[-1])), grid=clock, method=solver, seed=seed,
                               backend=backend, **solve_kw)
        finish = lambda y: problem.from_state(t1, y)
    else:
        options.pop("variable", None)
        score_flat = _flat(counted, shape)
        solver = _method_solver(name, plan, T, score_flat, forward, options)
        if options:
            raise InvalidArgumentError(f"unknown options for method {method!r}: {sorted(options)}")
        if name == "ode":
            problem = probability_flow(forward, counted, T=T, divergence=divergence)
        else:
            problem = reverse(forward, counted, T, divergence=divergence)
        span = (T - t0, T - t1)
        if save_at is not None:
            solve_kw["save_at"] = np.sort(T - np.atleast_1d(np.asarray(save_at, dtype=np.float64)))
        if isinstance(solver, sk.solvers.Dopri5):
            grid_kw = {"n_steps": plan.n_steps}
        elif plan.schedule == "uniform" and t0 == T:
            grid_kw = {"n_steps": plan.n_steps}  # Song et al.'s grid, on the same Brownian path as ever
        else:
            grid_kw = {"grid": T - plan.times}
            _grid_noise(problem, solve_kw, brownian, n, shape, grid_kw["grid"], seed, x_start)
        if brownian is not None:
            solve_kw.setdefault("brownian", brownian)
        run = lambda: sk.solve(problem, x_start, span, method=solver, seed=seed, backend=backend, **grid_kw,
                               **solve_kw)
        finish = lambda x: x

    def solve_and_finish():
        sol = run()
        x = finish(sol.ys[-1])
        if plan.final_denoise:
            x = logsnr_problem(forward, counted).denoise(t1, x)
        return sol, x

    if use_torch and not grad:
        import torch

        with torch.no_grad():
            sol, x = solve_and_finish()
    else:
        sol, x = solve_and_finish()
    sol.stats["nfe"] = counted.calls
    sol.stats["nfe_planned"] = plan.nfe
    sol.samples = x
    return sol if return_solution else x


__all__ = ["sample", "Ancestral", "AnnealedLangevin", "ReverseDiffusionPC", "METHODS", "ALIASES"]
