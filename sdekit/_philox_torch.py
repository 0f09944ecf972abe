"""Philox4x32-10 and Acklam's inverse CDF in torch ops: the generator of :mod:`sdekit.philox` on any device.

torch has no unsigned 64-bit multiply, so the 32 x 32 -> 64-bit products are
split in 16-bit halves held in int64 (nothing overflows); the counter layout is
:func:`sdekit.philox.counter_words`'s. Words are bit-identical to the NumPy
reference; normals agree to the rounding of ``log`` in the tails.

:class:`TorchNormalSource` is the normal source a torch :class:`~sdekit.BrownianPath`
draws from; on the CPU it can hand the work to the vectorised Numba kernels
(``kernel="numba"``, the default there), on CUDA ``torch.compile`` can fuse the
ops into one kernel (``kernel="compiled"``).

>>> import torch, numpy as np
>>> from sdekit import philox
>>> from sdekit._philox_torch import node_normals_torch
>>> draw = philox.tree_draw(3, 12, 1)
>>> z = node_normals_torch(torch.arange(5), torch.arange(2), draw >> 2, draw & 3, *map(int, philox.key_words(9)))
>>> bool(np.allclose(z.numpy(), philox.normals(9, draw, np.arange(5), 2, compiled=False), rtol=1e-15, atol=0))
True
"""

from __future__ import annotations

import numpy as np
import torch

from . import philox
from .errors import InvalidArgumentError

_MASK = 0xFFFFFFFF
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _mulhilo(m: int, c):
    """``(hi, lo)`` 32-bit halves of ``m * c`` for a 32-bit constant ``m`` and int64 tensor ``c < 2^32``."""
    a = c * (m & 0xFFFF)  # < 2^48
    b = c * (m >> 16)  # < 2^48
    low_sum = a + ((b & 0xFFFF) << 16)  # < 2^49: no overflow in int64
    return (b >> 16) + (low_sum >> 32), low_sum & _MASK


def philox4x32_torch(c0, c1, c2, c3, k0, k1, rounds: int = philox.ROUNDS):
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
    central = philox.normal_central(u)
    lower = u < 0.5
    s = torch.sqrt(-2.0 * torch.log(torch.where(lower, u, 1.0 - u)))
    tail = _horner(philox.ACKLAM_C, s) / (_horner(philox.ACKLAM_D, s) * s + 1.0)
    in_tail = (u < philox.ACKLAM_P_LOW) | (u > 1.0 - philox.ACKLAM_P_LOW)
    return torch.where(in_tail, torch.where(lower, tail, -tail), central)


def _select_lane(words, lane):
    """Word ``lane`` (0-3) of a Philox output; ``lane`` an int or a 0-dim tensor (compiled graphs)."""
    if isinstance(lane, int):
        return words[lane]
    w0, w1, w2, w3 = words
    return torch.where(lane == 0, w0, torch.where(lane == 1, w1, torch.where(lane == 2, w2, w3)))


def node_normals_torch(paths, comps, node, lane, k0, k1):
    """Normals ``(len(paths), len(comps))`` of draw ``(node, lane)``, in torch ops only.

    ``node`` (< 2^56), ``lane``, ``k0``, ``k1`` may be Python ints (eager) or 0-dim int64
    tensors (so a compiled graph never specialises on them). Counter words as in
    :func:`sdekit.philox.counter_words`.
    """
    shape = (paths.numel(), comps.numel())
    p = paths[:, None].expand(shape)
    c = comps[None, :].expand(shape)
    if isinstance(node, int):
        c0 = torch.full(shape, node & _MASK, dtype=torch.int64, device=paths.device)
        c1 = ((node >> 32) | ((c & 0xFF) << 24))
    else:
        c0 = (node & _MASK).expand(shape)
        c1 = (node >> 32) | ((c & 0xFF) << 24)
    c2 = p & _MASK
    c3 = (p >> 32) | ((c >> 8) << 16)
    return normal_from_word_torch(_select_lane(philox4x32_torch(c0, c1, c2, c3, k0, k1), lane))


_COMPILED_NODE = None


def _compiled_node_normals():
    """``node_normals_torch`` compiled once: Philox rounds and Acklam fused into one kernel."""
    global _COMPILED_NODE
    if _COMPILED_NODE is None:
        _COMPILED_NODE = torch.compile(node_normals_torch, dynamic=False, fullgraph=True)
    return _COMPILED_NODE


def _numba_kernel():
    """The parallel Numba draw kernel of :mod:`sdekit._brownian_numba`, or None without Numba."""
    return philox.compiled_kernel("_brownian_numba", "draw_normals_parallel")


KERNELS = ("auto", "torch", "numba", "compiled", "triton")


def triton_usable(device):
    """Whether the Triton kernels of :mod:`sdekit._brownian_triton` can run on ``device``.

    On CUDA when Triton is installed; on the CPU only under Triton's interpreter
    (``TRITON_INTERPRET=1``, the test suite's way of running them without a GPU).
    """
    import importlib.util
    import os

    if importlib.util.find_spec("triton") is None:
        return False
    return device.type == "cuda" or (device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1")


class TorchNormalSource:
    """Normals of one draw id for all paths of a Brownian path, as float64 tensors on ``device``.

    ``kernel`` chooses how the Philox words and Acklam normals are computed; all
    give the NumPy reference's numbers (words bit for bit, normals to the rounding
    of ``log``):

    - ``"torch"``: int64 tensor ops, on any device (about 200 small ops per draw);
    - ``"numba"``: the vectorising, multi-threaded Numba kernel of :mod:`sdekit._brownian_numba`
      writing into the tensor's memory (CPU only);
    - ``"compiled"``: the torch ops fused by ``torch.compile`` into one kernel
      (the first call compiles, which takes seconds to a minute);
    - ``"triton"``: one Triton kernel per draw, and aligned grids swept a block of
      steps per kernel (:mod:`sdekit._philox_triton`, :mod:`sdekit._brownian_triton`; CUDA, or the CPU under
      ``TRITON_INTERPRET=1``);
    - ``"auto"`` (default): ``"numba"`` on the CPU when Numba is installed, ``"triton"``
      on CUDA when Triton is installed, else ``"torch"``.
    """

    name = "torch"

    def __init__(self, seed, n_paths, dim, path_offset=0, device=None, *, kernel="auto"):
        self.seed, self.dim = seed, dim
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.n_paths = int(n_paths)
        self.path_offset = int(path_offset)
        self.paths = torch.arange(path_offset, path_offset + n_paths, dtype=torch.int64, device=self.device)
        self._comps = {}
        self.set_kernel(kernel)

    def set_kernel(self, kernel):
        if kernel not in KERNELS:
            raise InvalidArgumentError(f"kernel must be one of {', '.join(map(repr, KERNELS))}; got {kernel!r}")
        if kernel == "auto":
            if self.device.type == "cpu":
                kernel = "numba" if _numba_kernel() else "torch"
            else:
                kernel = "triton" if triton_usable(self.device) else "torch"
        if kernel == "triton" and not triton_usable(self.device):
            raise InvalidArgumentError(f'kernel="triton" needs Triton and a CUDA device (or TRITON_INTERPRET=1 on the '
                                       f"CPU); the device is {self.device}")
        if kernel == "numba" and self.device.type != "cpu":
            raise InvalidArgumentError(f'kernel="numba" runs on the CPU only; the device is {self.device}')
        if kernel == "numba" and not _numba_kernel():
            raise InvalidArgumentError('kernel="numba" needs Numba installed')
        self.kernel = kernel

    def _components(self, m):
        comps = self._comps.get(m)
        if comps is None:
            comps = self._comps[m] = torch.arange(m, dtype=torch.int64, device=self.device)
        return comps

    def draw(self, draw: int, n_comp=None, count=1):
        """``count`` consecutive lanes from draw id ``draw``: ``(n, m)``, or ``(count, n, m)`` if ``count > 1``."""
        m = self.dim if n_comp is None else n_comp
        node, lane = draw >> 2, draw & 3
        if self.kernel == "numba":
            out = torch.empty((count, self.n_paths, m), dtype=torch.float64)
            _numba_kernel()(out.numpy(), *philox.key_words(self.seed), np.uint64(node), lane, self.path_offset)
            return out[0] if count == 1 else out
        if self.kernel == "triton":
            from ._philox_triton import draw_normals

            out = torch.empty((count, self.n_paths, m), dtype=torch.float64, device=self.device)
            draw_normals(out, self.seed, node, lane, self.path_offset)
            return out[0] if count == 1 else out
        k0, k1 = self.seed & _MASK, self.seed >> 32
        comps = self._components(m)
        if self.kernel == "compiled":
            # 0-dim tensors made by fill kernels: no host-to-device copy, no recompilation per draw.
            def scalar(v):
                return torch.full((), v, dtype=torch.int64, device=self.device)

            zs = [_compiled_node_normals()(self.paths, comps, scalar(node), scalar(lane + c), scalar(k0), scalar(k1))
                  for c in range(count)]
        else:
            zs = [node_normals_torch(self.paths, comps, node, lane + c, k0, k1) for c in range(count)]
        return zs[0] if count == 1 else torch.stack(zs)

    def zeros(self):
        return torch.zeros((self.n_paths, self.dim), dtype=torch.float64, device=self.device)

    def block_filler(self):
        """The compiled block filler when draws run on the CPU through Numba, else None (node by node)."""
        if self.kernel != "numba":
            return None
        return philox.compiled_kernel("_brownian_numba", "fill_block_parallel")

    @staticmethod
    def to_numpy(w):
        return w.numpy()

    @staticmethod
    def from_numpy(a):
        return torch.from_numpy(a)

    @staticmethod
    def empty_block(shape, dtype_name):
        """A fresh CPU tensor for a block of increments and its NumPy view (same memory)."""
        out = torch.empty(shape, dtype=DTYPES[dtype_name])
        return out, out.numpy()

    @staticmethod
    def cast(w, dtype_name):
        return w.to(DTYPES[dtype_name])
