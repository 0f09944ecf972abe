r"""sdekit_scores: scores, time reversal and Langevin correctors for sdekit (plugin ``scores``).

A **score** is any callable ``score(t, x) -> (n, d)`` giving :math:`\nabla_x\log p_t(x)`
(NumPy or torch; torch modules work); see :mod:`sdekit_scores.protocol`.

* analytic laws with exact scores: :class:`Gaussian`, :class:`GaussianMixture`
  (``sample``, ``log_prob``, ``score``, ``cdf`` in 1-D, ``perturbed(sde)``);
* adapters :func:`from_epsilon`, :func:`from_denoiser`, :func:`from_x0`, :func:`from_v`,
  :func:`from_sigma_denoiser` (k-diffusion/EDM ``D(x, σ)``), :func:`as_score`, and (torch)
  :func:`from_diffusers` for a diffusers UNet with its discrete scheduler (:class:`DiscreteSchedule`);
* transformations (not solvers): :func:`reverse` (Anderson's reverse-time SDE,
  divergence term included), :func:`probability_flow`, :func:`langevin_sde`;
* :class:`LangevinCorrector` for the core ``predictor_corrector`` method;
* learned scores (need torch, the ``torch`` extra; loaded on first use):
  :class:`ScoreMLP`, :func:`dsm_loss`, :func:`ssm_loss`, :func:`esm_loss`,
  :func:`train`, :func:`save_checkpoint`, :func:`load_checkpoint`, :class:`CheckpointError`.

>>> import numpy as np, sdekit as sk, sdekit_scores as sks
>>> mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [0.25, 0.25])
>>> ou = sk.SDE(lambda t, x: -x, lambda t, x: 2 ** 0.5 + 0 * x, additive=True)
>>> sks.reverse(ou, mix.score, T=1.0)
SDE(noise='diagonal', calculus='ito', additive=True)
"""

from .analytic import Gaussian, GaussianMixture, PerturbedScore, marginal_parts
from .corrector import LangevinCorrector
from .optional import lazy_parts, torch_installed
from .discrete import DiscreteSchedule
from .protocol import Score, as_score, from_denoiser, from_epsilon, from_sigma_denoiser, from_v, from_x0
from .reverse import ReversedSDE, divergence_autograd, divergence_fd, langevin_sde, probability_flow, reverse

# The torch parts, imported on first access: the analytic part works without torch, and
# an ImportError raised by our own modules is never mistaken for a missing torch.
_TORCH_PARTS = {
    "ScoreMLP": "nets",
    "dsm_loss": "losses", "ssm_loss": "losses", "esm_loss": "losses",
    "train": "training",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "CheckpointError": "checkpoint",
    "from_diffusers": "pretrained",
}

__all__ = [
    "Score", "as_score", "from_epsilon", "from_denoiser", "from_x0", "from_v", "from_sigma_denoiser",
    "DiscreteSchedule", "Gaussian", "GaussianMixture", "PerturbedScore",
    "marginal_parts", "reverse", "probability_flow", "langevin_sde", "ReversedSDE", "divergence_fd",
    "divergence_autograd", "LangevinCorrector",
]
if torch_installed():
    __all__ += list(_TORCH_PARTS)


__getattr__, __dir__ = lazy_parts(__name__, _TORCH_PARTS, globals())
