"""``NumbaCudaBackend``: the Numba backend on a CUDA device (the fused per-path kernel of :mod:`.cuda_kernel`)."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from .cuda_kernel import is_cuda_device
from .numba_backend import NumbaBackend


class NumbaCudaBackend(NumbaBackend):
    """``backend="numba"`` on a CUDA device: the fused per-path kernel of this module for every fixed-step solve.

    The same as ``sk.solve(..., backend="numba", device="cuda")``; ``device`` picks
    the GPU (``"cuda"``, ``"cuda:1"``). States and results are NumPy arrays on the
    host; the kernel copies ``x0`` in and the saved states out.

    >>> from sdekit.backends.numba_cuda import NumbaCudaBackend
    >>> NumbaCudaBackend().device
    'cuda'
    """

    def __init__(self, device="cuda"):
        super().__init__()
        if not is_cuda_device(device):
            raise InvalidArgumentError(f'NumbaCudaBackend runs on a CUDA device ("cuda", "cuda:N"); got {device!r}')
        self.device = str(device)

    def initial_state(self, x0, n, event, dtype, device):
        return super().initial_state(x0, n, event, dtype, device if device is not None else self.device)
