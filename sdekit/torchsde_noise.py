"""torchsde's Brownian objects (``BrownianInterval``, ``BrownianTree``, ...) as sdekit's noise protocol.

:func:`sdekit.solve` adapts a ``brownian=`` argument here, so that this (torch-free at import) module,
not the whole :mod:`sdekit.interop`, sits below ``solve`` in the import graph.
"""

from __future__ import annotations

from .brownian import BrownianPath as _SkBrownianPath
from .errors import InvalidArgumentError, ShapeError


class TorchsdeNoise:
    """A torchsde Brownian object (``BrownianInterval``, ``BrownianTree``, ...) as sdekit's noise protocol.

    ``increment(s, t)`` is ``bm(s, t)``; ``space_time_levy_area(s, t)`` is ``U/h - W/2``
    from ``bm(s, t, return_U=True)`` when ``bm`` carries Lévy areas. torchsde's
    ``BrownianInterval`` answers repeated queries consistently once the forward
    sweep has built its tree, so the adjoint's backward replay sees the forward's
    increments (tested); its values depend on the order of the first queries.
    """

    backend = "torch"

    def __init__(self, bm, t_span=None):
        shape = tuple(bm.shape)
        if len(shape) != 2:
            raise ShapeError(f"a torchsde Brownian object must have shape (batch, brownian_size); got {shape}")
        self.bm = bm
        self.n_paths, self.dim = int(shape[0]), int(shape[1])
        inner = getattr(bm, "_interval", bm)
        start, end = getattr(inner, "_start", None), getattr(inner, "_end", None)
        if start is None or end is None:
            if t_span is None:
                raise InvalidArgumentError(f"cannot read the span of {type(bm).__name__}; pass t_span")
            start, end = t_span
        self.t0, self.t1 = float(start), float(end)
        self.device = bm.device
        self.dtype = str(bm.dtype).replace("torch.", "")
        if getattr(bm, "levy_area_approximation", "none") != "none":
            self.space_time_levy_area = self._area

    def increment(self, s, t):
        return self.bm(float(s), float(t))

    def _area(self, s, t):
        w, u = self.bm(float(s), float(t), return_U=True)
        return u / (float(t) - float(s)) - 0.5 * w

    def __repr__(self):
        return f"TorchsdeNoise({self.bm!r})"


def as_noise(brownian, t_span=None):
    """``brownian`` as sdekit's noise protocol: views are unwrapped, torchsde objects adapted, others unchanged.

    >>> import sdekit as sk
    >>> bm = sk.BrownianPath(2, 1, (0.0, 1.0))
    >>> as_noise(bm) is bm
    True
    """
    if isinstance(brownian, _SkBrownianPath):
        return brownian
    mod = type(brownian).__module__ or ""
    if mod == "sdekit.interop" and hasattr(brownian, "path"):
        return brownian.path  # a BrownianTree's offset w0 cancels in every increment
    if mod.startswith("torchsde"):
        return TorchsdeNoise(brownian, t_span)
    return brownian
