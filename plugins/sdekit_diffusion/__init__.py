r"""sdekit_diffusion: score-based diffusion as one application of sdekit (plugin ``diffusion``).

* forward processes with exact marginals: :class:`VESDE`, :class:`VPSDE`, :class:`SubVPSDE`
  (and :class:`OUSDE`), each an :class:`sdekit.SDE` with ``T``, ``marginal(t)``,
  ``prior_sample(n, d, seed)``, ``prior_logp(x)``;
  and :class:`EDMSDE`, :class:`DiscreteVPSDE` (a DDPM schedule in continuous time);
* :func:`sample` with methods ``euler_maruyama``, ``heun``, ``pc``, ``ode``, ``ancestral``,
  ``annealed_langevin`` — each ``sdekit.solve`` on a reversed SDE / probability-flow ODE — and the
  data-prediction samplers ``ddim``, ``dpm_solver``, ``dpm_solver_sde``, ``edm``, ``unipc`` —
  each ``sdekit.solve`` on :func:`logsnr_problem`; grids from :func:`time_grid` (``uniform``,
  ``karras``, ``logsnr``) or fitted to the model on a pilot batch (:func:`fit_times`), budgets
  from :func:`sampling_plan`;
* likelihoods (need torch, loaded on first use): :func:`log_likelihood`,
  :func:`bits_per_dim`, :func:`dequantize`.

>>> import sdekit_diffusion as skd, sdekit_scores as sks
>>> vp = skd.VPSDE()
>>> data = sks.Gaussian([2.0], [[0.25]])
>>> x = skd.sample(vp, data.perturbed(vp), 4000, 1, method="ode", n_steps=100, seed=0, backend="numpy")
>>> round(float(x.mean()), 1), round(float(x.std()), 1)
(2.0, 0.5)
"""

from sdekit_scores.optional import lazy_parts, torch_installed

from .budget import DEFAULT_SCHEDULE, SamplingPlan, sampling_plan
from .ddim import DDIM
from .dpm_solver import DPMSolver
from .dpm_solver_sde import DPMSolverSDE
from .edm import EDMHeun
from .fitted import FittedTimes, fit_times
from .logsnr import logsnr_problem
from .samplers import METHODS, Ancestral, AnnealedLangevin, ReverseDiffusionPC, sample
from .schedules import SCHEDULES, Grid, time_grid
from .sdes import EDMSDE, OUSDE, DiscreteVPSDE, LinearSDE, SubVPSDE, VESDE, VPSDE, gaussian_transition
from .unipc import UniPC

# The torch parts, imported on first access (see sdekit_scores: our own ImportErrors propagate).
_TORCH_PARTS = {"log_likelihood": "likelihood", "bits_per_dim": "likelihood", "dequantize": "likelihood"}

__all__ = ["VESDE", "VPSDE", "SubVPSDE", "OUSDE", "EDMSDE", "DiscreteVPSDE", "LinearSDE", "gaussian_transition",
           "sample", "sampling_plan", "fit_times", "FittedTimes",
           "SamplingPlan", "DEFAULT_SCHEDULE", "time_grid", "Grid", "SCHEDULES",
           "logsnr_problem", "DDIM", "DPMSolver", "DPMSolverSDE", "EDMHeun", "UniPC", "Ancestral",
           "AnnealedLangevin", "ReverseDiffusionPC", "METHODS", "demo_sections"]
if torch_installed():
    __all__ += list(_TORCH_PARTS)


__getattr__, __dir__ = lazy_parts(__name__, _TORCH_PARTS, globals())


def _diffusion_section(out_dir, quick=False):
    from .demo import diffusion_section

    return diffusion_section(out_dir, quick)


def _learned_section(out_dir, quick=False):
    from .demo_learned import learned_section

    return learned_section(out_dir, quick)


# Sections the core ``sdekit demo`` appends (imported lazily: torch only for the learned one).
demo_sections = (_diffusion_section, _learned_section)
