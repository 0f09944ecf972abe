"""How sdekit's Numba kernels share the machine: the threading layer, idle threads and torch's thread count.

:func:`prepare` runs once, before sdekit's first parallel Numba kernel:

* **Layer.** Unless the user chose one (``NUMBA_THREADING_LAYER`` or
  ``numba.config.THREADING_LAYER``), sdekit asks Numba for a *thread-safe* layer
  (``"threadsafe"``: TBB when its library is installed, else OpenMP). Numba's last
  resort, ``workqueue``, aborts the process when two threads launch kernels at
  once (a thread pool or dask worker solving in parallel); sdekit's kernels are
  ``nogil`` and meant for exactly that.
* **Idle threads.** GNU OpenMP keeps idle workers spinning for a while after each
  parallel region (``GOMP_SPINCOUNT``, 300,000 polls by default), which takes a
  core from other processes and from torch in the same process. When OpenMP is
  not loaded yet and neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT`` is set,
  sdekit sets ``GOMP_SPINCOUNT`` to :data:`SPINCOUNT` (a short spin: back-to-back
  launches still find their workers awake). Set either variable to override.
* **torch's threads.** Starting Numba's OpenMP pool calls ``omp_set_num_threads``,
  which is what ``torch.get_num_threads()`` reports: a user's
  ``torch.set_num_threads(k)`` would silently become Numba's count. When torch is
  loaded, its thread count is restored after the pool starts.

Small kernels run serially (see :mod:`sdekit._brownian_numba` and
:mod:`sdekit.backends.numba_launch`): a parallel launch costs about as much as
10^5 normals and waits for every worker, far more when another process holds a core.

>>> from sdekit import _numba_threads
>>> _numba_threads.prepare() in ("tbb", "omp", "workqueue")
True
"""

from __future__ import annotations

import os
import sys
import threading

SPINCOUNT = "10000"
_lock = threading.Lock()
_layer = None


def _libgomp_loaded():
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:  # not Linux: assume loaded (leave the environment alone)
        return True


def _available(module):
    try:
        __import__(f"numba.np.ufunc.{module}")
        return True
    except ImportError:
        return False


def prepare():
    """Choose the layer, quiet idle OpenMP threads, start Numba's pool, keep torch's count; returns the layer."""
    global _layer
    if _layer is not None:
        return _layer
    with _lock:
        if _layer is not None:
            return _layer
        import numba

        # (before anything loads OpenMP: libgomp reads its environment when it is loaded)
        if not ({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ)) and not _libgomp_loaded():
            os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
        if os.environ.get("NUMBA_THREADING_LAYER") is None and numba.config.THREADING_LAYER == "default" and \
                (_available("tbbpool") or _available("omppool")):
            numba.config.THREADING_LAYER = "threadsafe"
        torch = sys.modules.get("torch")
        before = torch.get_num_threads() if torch is not None and hasattr(torch, "get_num_threads") else None
        _start_threads(numba)
        if before is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)
        _layer = str(numba.threading_layer())
        return _layer


_TOUCH = []


def _start_threads(numba):
    """Start Numba's thread pool with a tiny parallel kernel (compiled once, cached on disk)."""
    import numpy as np

    if not _TOUCH:
        def touch(a):
            for i in numba.prange(a.size):
                a[i] = i

        _TOUCH.append(numba.njit(parallel=True, cache=True, nogil=True)(touch))
    _TOUCH[0](np.zeros(2))
