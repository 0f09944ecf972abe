"""What a solver's driver asks of Brownian motion: the noise protocol, checked once.

``sk.solve(..., brownian=obj)`` accepts any object with

==========================  ==========================================================
``n_paths``, ``dim``         number of paths and Brownian dimension ``m``
``t0``, ``t1``               the span it covers
``increment(s, t)``          ``W(t) - W(s)``, ``(n_paths, dim)``
``increments(times, levy_area=False)``   (optional) the sweep ``W(t_{i+1}) - W(t_i)``;
                             with ``levy_area=True`` :class:`~sdekit.brownian.LevyIncrement` pairs
``space_time_levy_area(s, t)``  (needed by methods with ``levy_area="space-time"``)
``aux_normals(step, k, dim)``   (needed by methods with ``n_aux > 0``)
==========================  ==========================================================

:class:`sdekit.BrownianPath` implements all of it (counter-based, resolution-consistent);
:class:`GridIncrements` wraps fixed increments on a grid (e.g. to test a kernel
against hand-computed numbers). Backends read only public facts of a
``BrownianPath`` (``seed``, ``segments``, ``path_offset``, ``segment_width``,
``backend``, ``device``, :meth:`~sdekit.BrownianPath.aligned_level`).

>>> import numpy as np, sdekit as sk
>>> dw = np.full((4, 3, 1), 0.5)                  # 4 steps, 3 paths, m = 1
>>> noise = sk.noise.GridIncrements(np.linspace(0.0, 1.0, 5), dw)
>>> sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)
>>> sk.solve(sde, 0.0, (0.0, 1.0), n_steps=4, brownian=noise).ys[-1, :, 0].tolist()
[2.0, 2.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from .brownian import LevyIncrement
from .errors import BackendError, InvalidArgumentError, ShapeError

REQUIRED = ("n_paths", "dim", "t0", "t1", "increment")


def check_noise(noise, *, n_paths, dim, t_span, levy_area=None, n_aux=0):
    """Check that ``noise`` implements what this solve needs; raise a clear error naming what is missing."""
    missing = [a for a in REQUIRED if not hasattr(noise, a)]
    if missing:
        raise InvalidArgumentError(
            f"brownian must be an sdekit.BrownianPath or implement the noise protocol (sdekit.noise); "
            f"{type(noise).__name__} lacks {', '.join(missing)}")
    if int(noise.n_paths) != n_paths or int(noise.dim) != dim:
        raise ShapeError(
            f"brownian has n_paths={noise.n_paths}, dim={noise.dim}; this solve needs "
            f"n_paths={n_paths}, dim={dim} (the SDE's Brownian dimension)")
    tol = 1e-12 * (t_span[1] - t_span[0])
    if float(noise.t0) > t_span[0] + tol or float(noise.t1) < t_span[1] - tol:
        raise InvalidArgumentError(
            f"brownian spans [{noise.t0}, {noise.t1}], which does not cover t_span {t_span}")
    if levy_area and not hasattr(noise, "space_time_levy_area") and not _sweeps_area(noise):
        raise InvalidArgumentError(
            "this method needs the space-time Lévy area: brownian must provide space_time_levy_area(s, t)")
    if n_aux and not hasattr(noise, "aux_normals"):
        raise InvalidArgumentError(f"this method needs {n_aux} auxiliary normals per step: brownian must "
                                   "provide aux_normals(step, k, dim)")
    return noise


def _sweeps_area(noise):
    return isinstance(noise, GridIncrements) and noise.H is not None


def sweep(noise, times, levy_area=False):
    """The increments (and areas) of ``noise`` over consecutive ``times``, whichever way it offers them."""
    if hasattr(noise, "increments"):
        return noise.increments(times, levy_area=levy_area)
    return _pairwise(noise, times, levy_area)


def _pairwise(noise, times, levy_area):
    for s, t in zip(times[:-1], times[1:]):
        dw = noise.increment(s, t)
        yield LevyIncrement(dw, noise.space_time_levy_area(s, t)) if levy_area else dw


class GridIncrements:
    """Fixed Brownian increments on a grid, as a noise source (the protocol above).

    ``times`` (k + 1,) increasing; ``dw`` (k, n, m) the increments over
    ``[times[i], times[i+1]]``; ``H`` (k, n, m) their space-time areas (optional);
    ``aux`` (k, n_aux, n, dim) auxiliary normals per step (optional). Queries must
    follow the grid: ``increment(s, t)`` and ``increments(times)`` accept grid
    times only (a solve must use this grid).
    """

    def __init__(self, times, dw, H=None, aux=None):
        self.times = np.asarray(times, dtype=np.float64).reshape(-1)
        if self.times.size < 2 or np.any(np.diff(self.times) <= 0) or not np.all(np.isfinite(self.times)):
            raise InvalidArgumentError("times must be a finite, strictly increasing array of at least 2 times")
        self.dw = dw
        if len(dw.shape) != 3 or dw.shape[0] != self.times.size - 1:
            raise ShapeError(f"dw must have shape (len(times) - 1, n, m) = ({self.times.size - 1}, n, m); "
                             f"got {tuple(dw.shape)}")
        if H is not None and tuple(H.shape) != tuple(dw.shape):
            raise ShapeError(f"H must have dw's shape {tuple(dw.shape)}; got {tuple(H.shape)}")
        self.H = H
        if aux is not None and (len(aux.shape) != 4 or aux.shape[0] != dw.shape[0] or aux.shape[2] != dw.shape[1]):
            raise ShapeError(f"aux must have shape (steps, n_aux, n, dim) with steps={dw.shape[0]}, n={dw.shape[1]}; "
                             f"got {tuple(aux.shape)}")
        self.aux = aux
        self.n_paths, self.dim = int(dw.shape[1]), int(dw.shape[2])
        self.t0, self.t1 = float(self.times[0]), float(self.times[-1])
        self.backend = "torch" if type(dw).__module__.startswith("torch") else "numpy"
        self.device = getattr(dw, "device", None)
        self.dtype = str(dw.dtype).replace("torch.", "")

    def _index(self, t):
        i = int(np.searchsorted(self.times, t))
        if i >= self.times.size or abs(self.times[i] - t) > 1e-12 * (self.t1 - self.t0):
            raise InvalidArgumentError(f"GridIncrements answers grid times only; got t={t}")
        return i

    def increment(self, s, t):
        i, j = self._index(s), self._index(t)
        if j != i + 1:
            out = self.dw[i]
            for k in range(i + 1, j):
                out = out + self.dw[k]
            return out
        return self.dw[i]

    def space_time_levy_area(self, s, t):
        if self.H is None:
            raise InvalidArgumentError("these GridIncrements carry no Lévy areas (H=None)")
        i, j = self._index(s), self._index(t)
        if j != i + 1:
            raise InvalidArgumentError("GridIncrements gives areas of single grid steps only")
        return self.H[i]

    def aux_normals(self, step, k=0, dim=None):
        if self.aux is None or not (0 <= step < self.aux.shape[0] and 0 <= k < self.aux.shape[1]):
            raise InvalidArgumentError(f"these GridIncrements carry no auxiliary normals for step {step}, k={k}")
        out = self.aux[step, k]
        if dim is not None and out.shape[-1] != dim:
            raise ShapeError(f"auxiliary normals have {out.shape[-1]} components; the method asks for {dim}")
        return out

    def increments(self, times, levy_area=False):
        idx = [self._index(t) for t in times]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise BackendError("the solve's grid does not follow this GridIncrements grid")
        for i in idx[:-1]:
            yield LevyIncrement(self.dw[i], self.space_time_levy_area(self.times[i], self.times[i + 1])) \
                if levy_area else self.dw[i]
