"""Backends: ``numpy`` (reference), ``numba`` (compiled CPU kernels; a fused per-path kernel on CUDA), ``torch``.

``select_backend("auto", sde, x0)`` picks torch when ``x0`` or the functions are
torch, else numba when the functions compile with Numba, else numpy; with a CUDA
``device`` (``"cuda"``, ``"cuda:N"``) a problem that is not torch's goes to numba,
whose fused per-path kernel (:mod:`.cuda_kernel`) is what runs NumPy functions there.
"""

from __future__ import annotations

import sys

from ..errors import BackendError
from .detect import uses_torch  # noqa: F401  (part of this package's interface)

BACKENDS = ("auto", "numpy", "numba", "torch")


def get_backend(name):
    if name == "numpy":
        from .numpy_backend import NumpyBackend

        return NumpyBackend()
    if name == "numba":
        try:
            from .numba_backend import NumbaBackend
        except ImportError as e:
            raise BackendError(f'backend="numba" is unavailable: {e}') from e
        return NumbaBackend()
    if name == "torch":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise BackendError('backend="torch" needs torch installed: pip install "sdekit[torch]"')
        try:
            from .torch_backend import TorchBackend
        except ImportError as e:
            raise BackendError(f'backend="torch" is unavailable: {e}') from e
        return TorchBackend()
    raise BackendError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")


def select_backend(backend, sde, x0, work=None, device=None):
    """Resolve ``backend`` for this problem (see the module docstring).

    ``backend`` may also be a backend instance (e.g. ``TorchBackend(compile=True)``), used as given.
    ``work`` (paths x steps x dimension) lets ``"auto"`` keep small solves on NumPy,
    where no compilation is paid. ``"auto"`` with a CUDA ``device`` and a problem
    that is not torch's is the Numba backend (its fused per-path CUDA kernel).
    """
    from .base import Backend

    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise BackendError(f"backend must be a name ({', '.join(BACKENDS)}) or a backend instance; "
                           f"got {type(backend).__name__}")
    if backend != "auto":
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
        be = get_backend(backend)
        be.check_problem(sde, x0)
        return be
    if uses_torch(sde, x0):
        return get_backend("torch")
    try:
        from .numba_backend import NumbaBackend
    except ImportError:
        return get_backend("numpy")
    nb = NumbaBackend()
    if device is not None and str(getattr(device, "type", device)).split(":")[0] == "cuda":
        return nb
    return nb if nb.can_compile(sde, x0, work) else get_backend("numpy")
