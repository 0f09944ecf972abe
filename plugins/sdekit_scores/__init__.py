r"""sdekit_scores: scores, time reversal and Langevin correctors for sdekit (plugin ``scores``).

A **score** is any callable ``score(t, x) -> (n, d)`` giving :math:`\nabla_x\log p_t(x)`
(NumPy or torch; torch modules work); see :mod:`sdekit_scores.protocol`.

* analytic laws with exact scores: :class:`Gaussian`, :class:`GaussianMixture`
  (``sample``, ``log_prob``, ``score``, ``cdf`` in 1-D, ``perturbed(sde)``);
* adapters :func:`from_epsilon`, :func:`from_denoiser`, :func:`as_score`;
* transformations (not solvers): :func:`reverse` (Anderson's reverse-time SDE,
  divergence term included), :func:`probability_flow`, :func:`langevin_sde`;
* :class:`LangevinCorrector` for the core ``predictor_corrector`` method.

>>> import numpy as np, sdekit as sk, sdekit_scores as sks
>>> mix = sks.GaussianMixture([0.3, 0.7], [[-1.0], [1.0]], [0.25, 0.25])
>>> ou = sk.SDE(lambda t, x: -x, lambda t, x: 2 ** 0.5 + 0 * x, additive=True)
>>> sks.reverse(ou, mix.score, T=1.0)
SDE(noise='diagonal', calculus='ito', additive=True)
"""

from .analytic import Gaussian, GaussianMixture, PerturbedScore
from .corrector import LangevinCorrector
from .protocol import Score, as_score, from_denoiser, from_epsilon
from .reverse import ReversedSDE, divergence_autograd, divergence_fd, langevin_sde, probability_flow, reverse

__all__ = [
    "Score", "as_score", "from_epsilon", "from_denoiser", "Gaussian", "GaussianMixture", "PerturbedScore",
    "reverse", "probability_flow", "langevin_sde", "ReversedSDE", "divergence_fd", "divergence_autograd",
    "LangevinCorrector",
]

# --- learned scores (issue 7: nets.py, losses.py, training.py, checkpoint.py) ---------------------
# Imported only when present (and torch is installed), so the analytic part works without torch.
try:
    from .nets import ScoreMLP  # noqa: F401

    __all__ += ["ScoreMLP"]
except ImportError:  # pragma: no cover - torch missing or file absent
    pass
try:
    from .losses import dsm_loss, esm_loss, ssm_loss  # noqa: F401

    __all__ += ["dsm_loss", "ssm_loss", "esm_loss"]
except ImportError:  # pragma: no cover
    pass
try:
    from .training import train  # noqa: F401

    __all__ += ["train"]
except ImportError:  # pragma: no cover
    pass
try:
    from .checkpoint import load_checkpoint, save_checkpoint  # noqa: F401

    __all__ += ["save_checkpoint", "load_checkpoint"]
except ImportError:  # pragma: no cover
    pass
try:  # issue 7: the error a refused (code-carrying) or mismatched checkpoint raises
    from .checkpoint import CheckpointError  # noqa: F401

    __all__ += ["CheckpointError"]
except ImportError:  # pragma: no cover
    pass
