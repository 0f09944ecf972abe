r"""sdekit_diffusion: score-based diffusion as one application of sdekit (plugin ``diffusion``).

* forward processes with exact marginals: :class:`VESDE`, :class:`VPSDE`, :class:`SubVPSDE`
  (and :class:`OUSDE`), each an :class:`sdekit.SDE` with ``T``, ``marginal(t)``,
  ``prior_sample(n, d, seed)``, ``prior_logp(x)``;
* :func:`sample` with methods ``euler_maruyama``, ``heun``, ``pc``, ``ode``, ``ancestral``,
  ``annealed_langevin`` — each ``sdekit.solve`` on a reversed SDE / probability-flow ODE;
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

from .samplers import METHODS, Ancestral, AnnealedLangevin, ReverseDiffusionPC, sample
from .sdes import OUSDE, LinearSDE, SubVPSDE, VESDE, VPSDE, gaussian_transition

# The torch parts, imported on first access (see sdekit_scores: our own ImportErrors propagate).
_TORCH_PARTS = {"log_likelihood": "likelihood", "bits_per_dim": "likelihood", "dequantize": "likelihood"}

__all__ = ["VESDE", "VPSDE", "SubVPSDE", "OUSDE", "LinearSDE", "gaussian_transition", "sample", "Ancestral",
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
