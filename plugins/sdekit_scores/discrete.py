r"""A discrete DDPM noise schedule as a continuous-time linear process (no torch needed).

A network trained with ``N`` discrete steps and cumulative products
:math:`\bar α_0 > … > \bar α_{N-1}` (``x_k = \sqrt{\bar α_k} x_0 + \sqrt{1 - \bar α_k} ε``) is
sampled in continuous time by placing step ``k`` at ``t_k = (k + 1)/N`` and interpolating
:math:`\log m_t = \tfrac12 \log \bar α(t)` linearly in t between the steps (and from
``log m_0 = 0``), the convention of DPM-Solver's discrete-time wrapper (Lu et al., 2022).
Then ``s_t = sqrt(1 − m_t²)``, the scaled noise level is
:math:`\tilde σ_t = s_t/m_t = \sqrt{e^{-2\log m_t} - 1}`, and the model is fed the fractional
timestep ``t N − 1`` (0 at ``t = 1/N``, ``N − 1`` at ``t = 1``). Both
:class:`sdekit_diffusion.DiscreteVPSDE` (the forward process) and
:func:`sdekit_scores.from_diffusers` (the score) use this one map, so they agree.

>>> import numpy as np
>>> sched = DiscreteSchedule(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))
>>> m, s = sched.marginal(0.25)
>>> round(float(m * m + s * s), 12), sched.timestep(0.25), round(sched.time_at(sched.scaled_sigma(0.3)), 12)
(1.0, 249.0, 0.3)
"""

from __future__ import annotations

import math

import numpy as np

from sdekit.errors import InvalidArgumentError

from ._arrays import is_torch


def _config(scheduler):
    if isinstance(scheduler, dict):
        return scheduler
    cfg = getattr(scheduler, "config", None)
    if cfg is None:
        raise InvalidArgumentError(f"scheduler must be a diffusers scheduler or its config dict; got "
                                   f"{type(scheduler).__name__}")
    return dict(cfg)


def _cosine_betas(n, max_beta=0.999):
    """Nichol & Dhariwal's (2021) cosine schedule, betas clipped at ``max_beta`` as diffusers does."""
    def abar(u):
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - abar((i + 1) / n) / abar(i / n), max_beta) for i in range(n)])


def betas_from_config(cfg):
    """The betas of a diffusers scheduler config (``trained_betas`` or ``beta_schedule``)."""
    n = int(cfg.get("num_train_timesteps", 1000))
    if cfg.get("trained_betas") is not None:
        return np.asarray(cfg["trained_betas"], dtype=np.float64)
    kind = cfg.get("beta_schedule", "linear")
    b0, b1 = float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02))
    if kind == "linear":
        return np.linspace(b0, b1, n, dtype=np.float64)
    if kind == "scaled_linear":
        return np.linspace(b0 ** 0.5, b1 ** 0.5, n, dtype=np.float64) ** 2
    if kind == "squaredcos_cap_v2":
        return _cosine_betas(n)
    raise InvalidArgumentError(f"scheduler beta_schedule {kind!r} is not supported (linear, scaled_linear, "
                               "squaredcos_cap_v2, or trained_betas)")


class DiscreteSchedule:
    """``t ↦ (m_t, s_t)`` of a discrete schedule (module docstring); ``marginal`` takes floats, arrays, tensors."""

    def __init__(self, alphas_cumprod, prediction_type="epsilon"):
        a = np.asarray(alphas_cumprod.detach().cpu().numpy() if is_torch(alphas_cumprod) else alphas_cumprod,
                       dtype=np.float64).reshape(-1)
        if a.size < 2 or not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a > 1):
            raise InvalidArgumentError("alphas_cumprod must hold at least two values in (0, 1] (a zero-terminal-SNR "
                                       "schedule has no finite log-SNR at its last step)")
        if np.any(np.diff(a) >= 0):
            raise InvalidArgumentError("alphas_cumprod must be strictly decreasing")
        self.alphas_cumprod, self.N = a, int(a.size)
        self.prediction_type = prediction_type
        self.t_nodes = np.arange(self.N + 1, dtype=np.float64) / self.N
        self.logm_nodes = np.concatenate([[0.0], 0.5 * np.log(a)])
        self.slopes = np.diff(self.logm_nodes) * self.N  # d log m / dt per segment

    @classmethod
    def from_scheduler(cls, scheduler):
        """From a diffusers scheduler (``alphas_cumprod``) or its config (betas; ``prediction_type``)."""
        cfg = _config(scheduler)
        a = getattr(scheduler, "alphas_cumprod", None)
        if a is None:
            a = np.cumprod(1.0 - betas_from_config(cfg))
        return cls(a, prediction_type=cfg.get("prediction_type", "epsilon"))

    def log_m(self, t):
        """``log m_t``, piecewise linear in ``t`` (extrapolated with the end slopes), float64 NumPy or float."""
        t = np.asarray(t, dtype=np.float64)
        k = np.clip(np.floor(t * self.N).astype(np.int64), 0, self.N - 1)
        out = self.logm_nodes[k] + self.slopes[k] * (t - self.t_nodes[k])
        return float(out) if out.ndim == 0 else out

    def marginal(self, t):
        if is_torch(t):
            import torch

            m, s = self.marginal(t.detach().cpu().numpy())
            return (torch.as_tensor(m, dtype=t.dtype, device=t.device),
                    torch.as_tensor(s, dtype=t.dtype, device=t.device))
        lm = self.log_m(t)
        if isinstance(lm, float):
            return math.exp(lm), math.sqrt(-math.expm1(2.0 * lm))
        return np.exp(lm), np.sqrt(-np.expm1(2.0 * lm))

    def beta(self, t):
        """``β(t) = −2 d log m/dt`` (right-continuous, piecewise constant)."""
        k = min(max(int(math.floor(float(t) * self.N)), 0), self.N - 1)
        return -2.0 * float(self.slopes[k])

    def scaled_sigma(self, t):
        return math.sqrt(math.expm1(-2.0 * self.log_m(float(t))))

    def time_at(self, sigma):
        """The exact inverse of :meth:`scaled_sigma` on the piecewise-linear ``log m``."""
        lm = -0.5 * math.log1p(float(sigma) ** 2)
        # log m decreases with t: find the segment, then solve the linear piece
        k = int(np.searchsorted(-self.logm_nodes, -lm, side="right")) - 1
        k = min(max(k, 0), self.N - 1)
        return float(self.t_nodes[k] + (lm - self.logm_nodes[k]) / self.slopes[k])

    def timestep(self, t):
        """The network's (fractional) timestep ``t N − 1`` (a float, or an array/tensor like ``t``)."""
        return t * self.N - 1.0

    def __repr__(self):
        return f"DiscreteSchedule(N={self.N}, prediction_type={self.prediction_type!r})"


__all__ = ["DiscreteSchedule", "betas_from_config"]
