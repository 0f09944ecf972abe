r"""sdekit_diffusion: score-based diffusion as one application of sdekit (plugin ``diffusion``).

* forward processes with exact marginals: :class:`VESDE`, :class:`VPSDE`, :class:`SubVPSDE`
  (and :class:`OUSDE`), each an :class:`sdekit.SDE` with ``T``, ``marginal(t)``,
  ``prior_sample(n, d, seed)``, ``prior_logp(x)``;
* :func:`sample` with methods ``euler_maruyama``, ``heun``, ``pc``, ``ode``, ``ancestral``,
  ``annealed_langevin`` — each ``sdekit.solve`` on a reversed SDE / probability-flow ODE.

>>> import sdekit_diffusion as skd, sdekit_scores as sks
>>> vp = skd.VPSDE()
>>> data = sks.Gaussian([2.0], [[0.25]])
>>> x = skd.sample(vp, data.perturbed(vp), 4000, 1, method="ode", n_steps=100, seed=0, backend="numpy")
>>> round(float(x.mean()), 1), round(float(x.std()), 1)
(2.0, 0.5)
"""

from .samplers import METHODS, Ancestral, AnnealedLangevin, ReverseDiffusionPC, sample
from .sdes import OUSDE, LinearSDE, SubVPSDE, VESDE, VPSDE, gaussian_transition

__all__ = ["VESDE", "VPSDE", "SubVPSDE", "OUSDE", "LinearSDE", "gaussian_transition", "sample", "Ancestral", "AnnealedLangevin",
           "ReverseDiffusionPC", "METHODS", "demo_sections"]

# --- learned scores and likelihood (issue 7: likelihood.py) -------------------------------------
try:
    from .likelihood import bits_per_dim, log_likelihood  # noqa: F401

    __all__ += ["log_likelihood", "bits_per_dim"]
except ImportError:  # pragma: no cover - torch missing or file absent
    pass


def _diffusion_section(out_dir, quick=False):
    from .demo import diffusion_section

    return diffusion_section(out_dir, quick)


def _learned_section(out_dir, quick=False):
    from .demo_learned import learned_section

    return learned_section(out_dir, quick)


# Sections the core ``sdekit demo`` appends (imported lazily: torch only for the learned one).
demo_sections = (_diffusion_section, _learned_section)

try:  # issue 7: explicit uniform dequantisation used by bits_per_dim
    from .likelihood import dequantize  # noqa: F401

    __all__ += ["dequantize"]
except ImportError:  # pragma: no cover
    pass
