r"""Pretrained diffusers models as scores: :func:`from_diffusers` (needs torch; diffusers is optional).

A diffusers ``UNet2DModel`` is trained on a discrete DDPM schedule (its scheduler's
``alphas_cumprod``, or the betas of its config) and predicts ``ε``, ``v`` or ``x_0``
(``prediction_type``). :func:`from_diffusers` maps the continuous forward time ``t`` of
:class:`sdekit_diffusion.DiscreteVPSDE` to the network's fractional timestep ``t N − 1`` and its
marginals ``m_t = sqrt(ᾱ(t))``, ``s_t = sqrt(1 − ᾱ(t))`` (:class:`~sdekit_scores.DiscreteSchedule`,
the one map both use) and converts the output:

=================  ===============================  ==============================
prediction_type    data prediction x̂₀               score
=================  ===============================  ==============================
``epsilon``        ``(x − s ε̂)/m``                   ``−ε̂/s``
``v_prediction``   ``m x − s v̂``                     ``−(s x + m v̂)/s``
``sample``         ``x̂₀``                            ``(m x̂₀ − x)/s²``
=================  ===============================  ==============================

The network is called in its own dtype and on its own device with the timesteps as an
``(n,)`` tensor; nothing here imports diffusers (any module with that calling convention
works: ``unet(x, timesteps).sample``, a tuple, or a tensor).
"""

from __future__ import annotations

from sdekit.errors import InvalidArgumentError

from .discrete import DiscreteSchedule
from .protocol import Score, is_torch_module

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def _output(out):
    if hasattr(out, "sample"):
        return out.sample
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def from_diffusers(unet, scheduler, *, prediction_type=None, unet_kwargs=None) -> Score:
    r"""The score of a diffusers ``UNet2DModel`` (or alike) trained with ``scheduler``'s discrete schedule.

    Parameters
    ----------
    unet : torch module, ``unet(x, timesteps, **unet_kwargs)`` returning ``.sample``, a tuple or a tensor
    scheduler : a diffusers scheduler (``DDPMScheduler``, ``DDIMScheduler``, ...) or its config dict;
        only its training schedule (``alphas_cumprod`` or the config's betas) and ``prediction_type`` are read
    prediction_type : overrides the scheduler's (``"epsilon"``, ``"v_prediction"``, ``"sample"``)
    unet_kwargs : fixed keyword arguments for every call (e.g. ``class_labels`` for a whole batch)

    Returns a :class:`~sdekit_scores.Score` (``kind == "torch"``) with ``denoise`` and ``schedule``.
    Sample it on the same clock with ``sdekit_diffusion.DiscreteVPSDE.from_scheduler(scheduler)``
    (see docs/pretrained.md). Call ``unet.eval()`` first, as for any inference.

    >>> import torch
    >>> class Eps(torch.nn.Module):           # predicts ε = x: the score is -x / s_t
    ...     def forward(self, x, timesteps): return x
    >>> score = from_diffusers(Eps(), {"num_train_timesteps": 1000, "beta_schedule": "linear"})
    >>> m, s = score.schedule.marginal(0.5)
    >>> x = torch.ones(2, 3)
    >>> bool(torch.allclose(score(0.5, x), -x / s))
    True
    """
    if not is_torch_module(unet):
        raise InvalidArgumentError(f"unet must be a torch module; got {type(unet).__name__}")
    sched = DiscreteSchedule.from_scheduler(scheduler)
    ptype = sched.prediction_type if prediction_type is None else prediction_type
    if ptype not in PREDICTION_TYPES:
        raise InvalidArgumentError(f"prediction_type must be one of {', '.join(PREDICTION_TYPES)}; got {ptype!r}")
    if unet_kwargs is not None and not isinstance(unet_kwargs, dict):
        raise InvalidArgumentError(f"unet_kwargs must be a dict; got {type(unet_kwargs).__name__}")
    kw = dict(unet_kwargs or {})
    # the inner "time" is the fractional timestep, handed to the network as an (n,) tensor
    net = Score(lambda ts, x: _output(unet(x, ts, **kw)), "torch", unet, time="batch", cast=True)

    def predict(t, x):
        m, s = sched.marginal(float(t))
        return m, s, net(max(sched.timestep(float(t)), 0.0), x)

    def denoiser(t, x):
        m, s, out = predict(t, x)
        if ptype == "epsilon":
            return (x - out * s) * (1.0 / m)
        if ptype == "v_prediction":
            return x * m - out * s
        return out

    def score(t, x):
        m, s, out = predict(t, x)
        if ptype == "epsilon":
            return out * (-1.0 / s)
        if ptype == "v_prediction":
            return (x * s + out * m) * (-1.0 / s)
        return (out * m - x) * (1.0 / (s * s))

    result = Score(score, "torch", unet, denoiser=denoiser)
    result.schedule, result.prediction_type = sched, ptype
    return result


__all__ = ["from_diffusers", "PREDICTION_TYPES"]
