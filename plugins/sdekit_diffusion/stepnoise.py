r"""Brownian increments on a fixed sampling grid: one counter-based normal per component and step.

``sk.solve(..., grid=times)`` with the core :class:`sdekit.BrownianPath` queries its Brownian tree at
arbitrary times, descending it to the leaf level at every grid point (about 27 levels of draws
per step, seconds per step for 10^5 × 16 states). A sampler on a fixed grid needs only the law
of the increments there: ``ΔW_i = sqrt(t_{i+1} − t_i) z_i`` with independent standard normals
``z_i``, which :class:`StepNoise` draws from :mod:`sdekit.philox`, keyed by ``(seed, path, step)``
on a stream of its own (path ``i`` is a pure function of the seed and ``i``; NumPy and torch get
the same numbers). It implements the noise protocol of :mod:`sdekit.noise` for that one grid
(refining the grid draws new increments: pass ``brownian=sk.BrownianPath(...)`` to
``skd.sample`` for the resolution-consistent path).

>>> import numpy as np
>>> noise = StepNoise(3, 2, np.array([0.0, 0.25, 1.0]), seed=0)
>>> [tuple(w.shape) for w in noise.increments(noise.times)]
[(3, 2), (3, 2)]
>>> float(np.std(next(StepNoise(20_000, 1, np.array([0.0, 4.0]), seed=1).increments([0.0, 4.0])))) > 1.9
True
"""

from __future__ import annotations

import math

import numpy as np

from sdekit import philox
from sdekit.errors import BackendError, InvalidArgumentError

_TAG = philox.STREAM_USER + 14  # issue 14's grid increments
_PER_STEP = 64  # draw index = step * 64 + (0: the increment, 1 + k: auxiliary normal k)


class StepNoise:
    """Independent ``N(0, Δt)`` increments on ``times`` (and auxiliary normals), in the kind of ``like``."""

    def __init__(self, n_paths, dim, times, *, seed=0, like=None):
        self.times = np.asarray(times, dtype=np.float64).reshape(-1)
        if self.times.size < 2 or np.any(np.diff(self.times) <= 0):
            raise InvalidArgumentError("times must be strictly increasing, at least two")
        self.n_paths, self.dim, self.seed = int(n_paths), int(dim), philox.check_seed(seed)
        self.t0, self.t1 = float(self.times[0]), float(self.times[-1])
        self._rows = np.arange(self.n_paths, dtype=np.uint64)
        self._like = like
        torch_like = like is not None and (type(like).__module__ or "").startswith("torch")
        self.backend = "torch" if torch_like else "numpy"
        self.device = getattr(like, "device", None) if torch_like else None

    def _normals(self, index, dim):
        z = philox.normals(self.seed, philox.stream_draw(_TAG, index), self._rows, dim)
        if self.backend == "torch":
            import torch

            return torch.as_tensor(z, dtype=self._like.dtype, device=self._like.device)
        like = self._like
        return z if like is None or like.dtype == np.float64 else z.astype(like.dtype)

    def _step(self, s, t):
        i = int(np.searchsorted(self.times, s))
        if i + 1 >= self.times.size or abs(self.times[i] - s) > 1e-12 * (self.t1 - self.t0) or \
                abs(self.times[i + 1] - t) > 1e-12 * (self.t1 - self.t0):
            raise InvalidArgumentError(f"StepNoise answers single steps of its grid only; got [{s}, {t}]")
        return i

    def increment(self, s, t):
        i = self._step(s, t)
        return self._normals(i * _PER_STEP, self.dim) * math.sqrt(self.times[i + 1] - self.times[i])

    def increments(self, times, levy_area=False):
        if levy_area:
            raise BackendError("StepNoise carries no Lévy areas")
        for s, t in zip(times[:-1], times[1:]):
            yield self.increment(float(s), float(t))

    def aux_normals(self, step, k=0, dim=None):
        if not 0 <= k < _PER_STEP - 1:
            raise InvalidArgumentError(f"auxiliary normal k must be in [0, {_PER_STEP - 1}); got {k}")
        return self._normals(int(step) * _PER_STEP + 1 + int(k), self.dim if dim is None else int(dim))


__all__ = ["StepNoise"]
