"""The torch backend: states are tensors on any device; the fixed-step loop never syncs with the host.

Device and dtype follow ``x0`` (``float32`` or ``float64``; a half-precision
``x0`` gets a ``float32`` state, so a bf16/fp16 model can still be used inside
the drift). Times stay Python floats (float64); torchsde-style objects receive
``t`` as a 0-dim tensor of the state's dtype and device, as torchsde passes it.

Brownian increments come from :class:`TorchNormalSource`, the same
Philox4x32-10 + Acklam generator as :mod:`sdekit.philox`, written with int64
tensor arithmetic (the 32 x 32 -> 64-bit products are split in 16-bit halves so
nothing overflows), so CPU and CUDA produce the NumPy backend's numbers.

>>> import torch, sdekit as sk
>>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
>>> sol = sk.solve(gbm, torch.ones(1, dtype=torch.float64), (0.0, 1.0), n_steps=16, n_paths=4)
>>> sol.backend, type(sol.ys).__name__, tuple(sol.ys.shape)
('torch', 'Tensor', (2, 4, 1))
"""

from __future__ import annotations

import numpy as np
import torch

from .. import philox
from ..brownian import BrownianPath
from ..errors import InvalidArgumentError, ShapeError
from ..solvers.base import Terms
from .base import Backend

_MASK = 0xFFFFFFFF
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _mulhilo(m: int, c):
    """``(hi, lo)`` 32-bit halves of ``m * c`` for a 32-bit constant ``m`` and int64 tensor ``c < 2^32``."""
    a = c * (m & 0xFFFF)  # < 2^48
    b = c * (m >> 16)  # < 2^48
    low_sum = a + ((b & 0xFFFF) << 16)  # < 2^49: no overflow in int64
    return (b >> 16) + (low_sum >> 32), low_sum & _MASK


def philox4x32_torch(c0, c1, c2, c3, k0: int, k1: int, rounds: int = philox.ROUNDS):
    """Philox4x32 on int64 tensors holding 32-bit values (bit-identical to :func:`sdekit.philox.philox4x32`)."""
    for r in range(rounds):
        if r:
            k0 = (k0 + philox.PHILOX_W0) & _MASK
            k1 = (k1 + philox.PHILOX_W1) & _MASK
        hi0, lo0 = _mulhilo(philox.PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(philox.PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _horner(coeffs, x):
    acc = torch.full_like(x, coeffs[0])
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def normal_from_word_torch(w):
    """Acklam's inverse normal CDF of ``(w + 1/2) 2^-32`` (float64), as in :mod:`sdekit.philox`."""
    u = (w.to(torch.float64) + 0.5) * philox.TWO_M32
    q = u - 0.5
    r = q * q
    central = _horner(philox.ACKLAM_A, r) * q / (_horner(philox.ACKLAM_B, r) * r + 1.0)
    lower = u < 0.5
    s = torch.sqrt(-2.0 * torch.log(torch.where(lower, u, 1.0 - u)))
    tail = _horner(philox.ACKLAM_C, s) / (_horner(philox.ACKLAM_D, s) * s + 1.0)
    in_tail = (u < philox.ACKLAM_P_LOW) | (u > 1.0 - philox.ACKLAM_P_LOW)
    return torch.where(in_tail, torch.where(lower, tail, -tail), central)


class TorchNormalSource:
    """Normals of one Brownian-tree node for all paths, as float64 tensors on ``device``."""

    def __init__(self, seed, n_paths, dim, path_offset=0, device=None):
        self.seed, self.dim = seed, dim
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.paths = torch.arange(path_offset, path_offset + n_paths, dtype=torch.int64, device=self.device)

    def node(self, u: int, n_comp=None):
        m = self.dim if n_comp is None else n_comp
        ctr = u >> 2
        c2 = self.paths[:, None].expand(-1, m)
        c3 = torch.arange(m, dtype=torch.int64, device=self.device)[None, :].expand(self.paths.numel(), -1)
        c0 = torch.full_like(c2, ctr & _MASK)
        c1 = torch.full_like(c2, ctr >> 32)
        words = philox4x32_torch(c0, c1, c2, c3, self.seed & _MASK, self.seed >> 32)
        return normal_from_word_torch(words[u & 3])

    def zeros(self):
        return torch.zeros((self.paths.numel(), self.dim), dtype=torch.float64, device=self.device)

    def cast(self, w, dtype_name):
        return w.to(_DTYPES[dtype_name])


def _tensor_time(fn):
    """Call ``fn`` with ``t`` as a 0-dim tensor of the state's dtype and device (torchsde's convention)."""

    def wrapped(t, x):
        return fn(torch.as_tensor(t, dtype=x.dtype, device=x.device), x)

    return wrapped


class TorchBackend(Backend):
    name = "torch"

    def initial_state(self, x0, n, d, dtype, device):
        if isinstance(x0, torch.Tensor):
            arr = x0.detach() if not x0.requires_grad else x0
            dev = torch.device(device) if device is not None else arr.device
            if dtype is None:
                dtype = "float64" if arr.dtype == torch.float64 else "float32"
        else:
            arr = torch.as_tensor(np.asarray(x0, dtype=np.float64))
            dev = torch.device(device) if device is not None else torch.device("cpu")
        from ..validation import resolve_dtype_name

        dtype = resolve_dtype_name(dtype)
        if not arr.dtype.is_floating_point and not isinstance(x0, torch.Tensor):
            raise InvalidArgumentError(f"x0 must be numeric; got {arr.dtype}")
        arr = arr.to(device=dev, dtype=_DTYPES[dtype])
        if not bool(torch.isfinite(arr).all()):
            raise InvalidArgumentError("x0 must be finite; got non-finite values in x0")
        shape = (1, d) if arr.dim() < 2 else tuple(arr.shape)
        try:
            state = arr.reshape(shape).expand(n, d).clone()
        except RuntimeError:
            raise ShapeError(f"x0 of shape {tuple(arr.shape)} cannot be broadcast to ({n}, {d})") from None
        return state, dtype

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        return BrownianPath(n, m, t_span, seed=seed, dtype=dtype, backend="torch", device=like.device,
                            segments=segments)

    def make_terms(self, sde, n, d, m):
        terms = super().make_terms(sde, n, d, m)
        if getattr(sde, "torchsde_style", False):
            for checked in (terms.drift, terms.diffusion):
                checked.fn = _tensor_time(checked.fn)
        return Terms(*terms)

    def all_finite(self, x):
        return bool(torch.isfinite(x).all())

    def first_nonfinite_path(self, x):
        bad = ~torch.isfinite(x).all(dim=1)
        return int(torch.argmax(bad.to(torch.int8)))

    def stack(self, xs):
        return torch.stack(xs)

    maximum = staticmethod(torch.maximum)

    def reduce_max(self, x):
        return float(x.detach().max())

    def finite_watch(self, x):
        """The first non-finite step, kept on the device (-1: none yet)."""
        return torch.full((), -1, dtype=torch.int64, device=x.device)

    def watch_step(self, watch, x, step, t):
        bad_now = ~torch.isfinite(x).all()
        return torch.where((watch < 0) & bad_now, torch.full_like(watch, step), watch)

    def watch_end(self, watch, x, times):
        step = int(watch)  # the one synchronisation, after the loop
        if step >= 0:
            raise self.nonfinite_error(x, step, float(times[step]))
