r"""Learned scores: a small time-conditional MLP that is itself a score ``net(t, x) -> (n, d)``.

Parameterisation (why the output is divided by the marginal std)
----------------------------------------------------------------
Under a linear forward SDE, ``x_t | x_0 ~ N(m_t x_0, s_t^2 I)`` and the
denoising-score-matching target is ``-z / s_t`` (``z`` the standard normal that
made ``x_t``; seeds 001/003, Vincent 2011). Its size grows like ``1/s_t`` as
``t -> 0``, so a plain network would have to span several orders of magnitude.
:class:`ScoreMLP` instead computes

.. math::  s_\theta(t, x) = \frac{F_\theta\big(c_{in}(t)\, x,\; \mathrm{emb}(t)\big)}{s_t},
           \qquad c_{in}(t) = \frac{1}{\sqrt{m_t^2 \sigma_{data}^2 + s_t^2}},

so that the raw network ``F`` predicts ``-z`` (unit scale at every noise level)
from an input of unit scale (Song et al. 2021, §C; Karras et al. 2022, "EDM",
Table 1 preconditioning). Without a forward SDE (``sde=None`` and ``std=None``)
no scaling is applied and the module is a plain time-conditional MLP.

Time embedding: ``"sinusoidal"`` (fixed geometric frequencies ``ω_k`` from 1 to
``max_freq``, features ``sin(ω_k t), cos(ω_k t)``; Vaswani et al. 2017) or
``"fourier"`` (random Gaussian frequencies ``ω_k ~ N(0, (2π·fourier_scale)^2)``
drawn from the module's own seed; Tancik et al. 2020, as in Song et al. 2021).

The caller owns randomness: weights and Fourier frequencies come from a local
``torch.Generator`` seeded with ``seed``; the global torch RNG is never read or
advanced.

Example
-------
>>> import torch
>>> from sdekit_scores.nets import ScoreMLP
>>> net = ScoreMLP(2, hidden=32, depth=2, seed=0)
>>> net(0.5, torch.zeros(4, 2)).shape
torch.Size([4, 2])
>>> bool(torch.equal(ScoreMLP(2, hidden=32, depth=2, seed=0)(0.5, torch.ones(3, 2)),
...                  net(0.5, torch.ones(3, 2))))
True
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from sdekit.errors import InvalidArgumentError, ShapeError
from sdekit.testing.problems import check_real

# A model's weights and buffers are counted from its configuration and refused above this
# (4 GiB in float32) before anything is allocated: a crafted checkpoint config cannot make
# load_checkpoint build a terabyte network.
MAX_STATE_VALUES = 2**30

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "softplus": nn.Softplus}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _as_tensor(v, like):
    if torch.is_tensor(v):
        return v.to(device=like.device, dtype=like.dtype)
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=like.dtype, device=like.device)


def forward_marginal(sde, t):
    r"""``(m_t, s_t)`` of a linear forward SDE as tensors shaped like the tensor ``t``.

    Calls ``sde.marginal(t)`` (the plugin contract: ``x_t | x_0 ~ N(m_t x_0, s_t^2 I)``)
    with the tensor first; a marginal written with NumPy functions is called on
    a float64 NumPy copy instead (one host transfer per call, not per path).

    >>> import torch
    >>> class VP:  # beta(t) = 0.1 + 19.9 t
    ...     def marginal(self, t):
    ...         m = (-0.5 * (0.1 * t + 9.95 * t ** 2)).exp()
    ...         return m, (1 - m ** 2).sqrt()
    >>> m, s = forward_marginal(VP(), torch.tensor([0.0, 1.0], dtype=torch.float64))
    >>> [round(float(v), 4) for v in s]
    [0.0, 1.0]
    """
    if not hasattr(sde, "marginal"):
        raise InvalidArgumentError(
            f"sde must have .marginal(t) -> (mean_coef, std) (a linear forward SDE such as "
            f"sdekit_diffusion.VPSDE); got {type(sde).__name__}"
        )
    try:
        with warnings.catch_warnings():  # NumPy ufuncs on a tensor warn about __array_wrap__
            warnings.simplefilter("ignore", DeprecationWarning)
            m, s = sde.marginal(t)
        if not (torch.is_tensor(m) or np.ndim(m) == 0) or not (torch.is_tensor(s) or np.ndim(s) == 0):
            raise TypeError
    except Exception:  # a NumPy-only marginal: evaluate on a host copy of the times
        tn = t.detach().to("cpu", torch.float64).numpy()
        try:
            m, s = sde.marginal(tn)
        except Exception:  # a scalar-only marginal (math.exp...): one call per time
            pairs = [sde.marginal(float(v)) for v in tn.reshape(-1)]
            m = np.array([float(p[0]) for p in pairs]).reshape(tn.shape)
            s = np.array([float(p[1]) for p in pairs]).reshape(tn.shape)
    m = _as_tensor(m, t) * torch.ones_like(t)
    s = _as_tensor(s, t) * torch.ones_like(t)
    return m, s


class SinusoidalEmbedding(nn.Module):
    r"""``[sin(ω_k t), cos(ω_k t)]_{k<dim/2}`` with ``ω_k`` geometric from 1 to ``max_freq``."""

    def __init__(self, dim: int, max_freq: float = 100.0):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), half, dtype=torch.float64))
        self.register_buffer("freqs", freqs)

    def forward(self, t):
        arg = t[:, None] * self.freqs.to(t.dtype)
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class FourierEmbedding(nn.Module):
    r"""Random Fourier features ``[sin(2π w_k t), cos(2π w_k t)]``, ``w_k ~ N(0, scale^2)`` (fixed)."""

    def __init__(self, dim: int, scale: float, generator: torch.Generator):
        super().__init__()
        w = torch.randn(dim // 2, generator=generator, dtype=torch.float64) * scale
        self.register_buffer("freqs", w)

    def forward(self, t):
        arg = 2 * math.pi * t[:, None] * self.freqs.to(t.dtype)
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def _linear(n_in, n_out, generator, dtype):
    """``nn.Linear`` initialised like torch's default (U(±1/sqrt(fan_in))) from a local generator."""
    layer = torch.nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=dtype)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.copy_((torch.rand(n_out, n_in, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
        layer.bias.copy_((torch.rand(n_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
    return layer


class ScoreMLP(nn.Module):
    r"""A time-conditional MLP score model ``s_θ(t, x)`` for ``x ∈ R^d``.

    .. math::  s_\theta(t, x) = F_\theta\big(c_{in}(t) x, \mathrm{emb}(t)\big) / s_t

    with ``F`` an MLP of ``depth`` hidden layers of width ``hidden`` on the
    concatenation of the scaled state and the time embedding, ``s_t`` the
    marginal std of the forward SDE and ``c_in`` the input scale (see the module
    docstring; derivation: the DSM target ``-z/s_t``, seeds 001 and 003).

    Parameters
    ----------
    d : int, state dimension
    hidden, depth : width and number of hidden layers
    embedding : ``"sinusoidal"`` or ``"fourier"``; ``embed_dim`` features
    max_freq : largest sinusoidal frequency (rad per unit t)
    fourier_scale : std of the random Fourier frequencies
    activation : ``"silu"``, ``"relu"``, ``"tanh"``, ``"gelu"`` or ``"softplus"``
    sde : forward SDE with ``.marginal(t)``; enables the ``1/s_t`` output and
        ``c_in`` input scaling. Alternatively ``std``: a callable ``t -> s_t``
        (tensor in, tensor out) for output scaling only.
    data_std : the data's typical std σ_data used in ``c_in``
    seed : initialisation seed (a local generator; the global RNG is untouched)
    dtype : ``"float32"`` (default) or ``"float64"``; inputs are cast to it and
        the output is cast back to the input's dtype.

    ``net(t, x)``: ``t`` a float, a 0-d tensor or an ``(n,)``/``(n, 1)`` tensor;
    ``x`` an ``(n, d)`` tensor (output: a tensor of ``x``'s dtype, differentiable) or a
    NumPy array (output: float64 NumPy, computed without autograd), so the net
    serves the torch and the NumPy backends of ``sk.solve`` alike. ``net.config`` holds the constructor arguments
    that are plain data (for checkpoints).

    Example
    -------
    >>> import torch
    >>> class VP:
    ...     def marginal(self, t):
    ...         m = (-0.5 * (0.1 * t + 9.95 * t ** 2)).exp()
    ...         return m, (1 - m ** 2).sqrt()
    >>> net = ScoreMLP(2, hidden=64, depth=2, sde=VP(), seed=1)
    >>> net(torch.rand(5, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)).dtype
    torch.float64
    >>> import numpy as np
    >>> net(0.5, np.zeros((3, 2))).dtype
    dtype('float64')
    """

    def __init__(self, d: int, hidden: int = 128, depth: int = 3, *, embedding: str = "sinusoidal",
                 embed_dim: int = 32, max_freq: float = 100.0, fourier_scale: float = 16.0,
                 activation: str = "silu", sde=None, std=None, data_std: float = 1.0, seed: int = 0,
                 dtype: str = "float32"):
        super().__init__()
        for name, v in (("d", d), ("hidden", hidden), ("depth", depth), ("embed_dim", embed_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer; got {v!r}")
        if embed_dim % 2:
            raise InvalidArgumentError(f"embed_dim must be even (sin and cos pairs); got {embed_dim}")
        for name, v in (("max_freq", max_freq), ("fourier_scale", fourier_scale), ("data_std", data_std)):
            check_real(name, v, low=0.0, low_open=True)
        size = self.state_size(d=d, hidden=hidden, depth=depth, embed_dim=embed_dim)
        if size > MAX_STATE_VALUES:
            raise InvalidArgumentError(f"ScoreMLP(d={d}, hidden={hidden}, depth={depth}, embed_dim={embed_dim}) would "
                                       f"hold {size} values, above the limit {MAX_STATE_VALUES}; make it smaller")
        if embedding not in ("sinusoidal", "fourier"):
            raise InvalidArgumentError(f'embedding must be "sinusoidal" or "fourier"; got {embedding!r}')
        if activation not in _ACTIVATIONS:
            raise InvalidArgumentError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        if dtype not in _DTYPES:
            raise InvalidArgumentError(f'dtype must be "float32" or "float64"; got {dtype!r}')
        if sde is not None and std is not None:
            raise InvalidArgumentError("give at most one of sde= and std=")
        if sde is not None and not hasattr(sde, "marginal"):
            raise InvalidArgumentError(f"sde must have .marginal(t); got {type(sde).__name__}")
        if std is not None and not callable(std):
            raise InvalidArgumentError(f"std must be a callable t -> s_t; got {type(std).__name__}")
        self.d = int(d)
        self.sde, self.std_fn = sde, std
        self.data_std = float(data_std)
        self._dtype = _DTYPES[dtype]
        self.config = dict(d=int(d), hidden=int(hidden), depth=int(depth), embedding=embedding,
                           embed_dim=int(embed_dim), max_freq=float(max_freq), fourier_scale=float(fourier_scale),
                           activation=activation, data_std=float(data_std), seed=int(seed), dtype=dtype)
        g = torch.Generator().manual_seed(int(seed))
        if embedding == "sinusoidal":
            self.embed = SinusoidalEmbedding(embed_dim, max_freq)
        else:
            self.embed = FourierEmbedding(embed_dim, fourier_scale, g)
        layers, n_in = [], d + embed_dim
        for _ in range(depth):
            layers += [_linear(n_in, hidden, g, self._dtype), _ACTIVATIONS[activation]()]
            n_in = hidden
        layers.append(_linear(n_in, d, g, self._dtype))
        self.mlp = nn.Sequential(*layers)

    @staticmethod
    def state_size(d, hidden=128, depth=3, embed_dim=32, **_):
        r"""Number of values in the ``state_dict`` of ``ScoreMLP(d, hidden, depth, embed_dim=...)``.

        ``depth`` hidden layers on ``d + embed_dim`` inputs, an output layer of ``d``, and the
        ``embed_dim / 2`` embedding frequencies: computed from the configuration alone, so
        sizes are checked before anything is allocated.

        >>> ScoreMLP.state_size(2, hidden=16, depth=1, embed_dim=4)     # (6·16 + 16) + (16·2 + 2) + 2
        148
        """
        d, hidden, depth, embed_dim = int(d), int(hidden), int(depth), int(embed_dim)
        n_in = d + embed_dim
        return ((n_in * hidden + hidden) + (depth - 1) * (hidden * hidden + hidden) + (hidden * d + d)
                + embed_dim // 2)

    @property
    def scaled(self) -> bool:
        """Whether the output is divided by the marginal std (a forward SDE or ``std`` was given)."""
        return self.sde is not None or self.std_fn is not None

    def _times(self, t, x):
        n = x.shape[0]
        tt = torch.as_tensor(t, dtype=torch.float64, device=x.device)
        if tt.ndim == 2 and tt.shape[1] == 1:
            tt = tt[:, 0]
        if tt.ndim == 0:
            tt = tt.expand(n)
        if tt.shape != (n,):
            raise ShapeError(f"t must be a float or have shape ({n},) or ({n}, 1); got {tuple(tt.shape)}")
        return tt

    def forward(self, t, x):
        if isinstance(x, np.ndarray):
            # NumPy in, NumPy out (float64), without autograd: the net is then a score for the
            # NumPy backend of sk.solve too.
            p = next(self.parameters())
            with torch.no_grad():
                out = self.forward(t, torch.as_tensor(x, dtype=torch.float64, device=p.device))
            return out.cpu().numpy()
        if not torch.is_tensor(x):
            raise InvalidArgumentError(f"x must be a tensor or NumPy array of shape (n, {self.d}); "
                                       f"got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ShapeError(f"x must have shape (n, {self.d}); got {tuple(x.shape)}")
        tt = self._times(t, x)
        h = x.to(self._dtype)
        scale = None
        if self.sde is not None:
            m, s = forward_marginal(self.sde, tt)
            c_in = 1.0 / torch.sqrt(m ** 2 * self.data_std ** 2 + s ** 2)
            h = h * c_in.to(self._dtype)[:, None]
            scale = s
        elif self.std_fn is not None:
            scale = _as_tensor(self.std_fn(tt), tt) * torch.ones_like(tt)
        emb = self.embed(tt).to(self._dtype)
        out = self.mlp(torch.cat([h, emb], dim=1))
        if scale is not None:
            out = out / scale.to(self._dtype)[:, None]
        return out.to(x.dtype)

    def extra_repr(self):
        return f"d={self.d}, scaled={self.scaled}"


__all__ = ["ScoreMLP", "SinusoidalEmbedding", "FourierEmbedding", "forward_marginal"]
