"""k-diffusion's samplers, loaded from its ``sampling.py`` alone (the package's __init__ imports heavy extras).

``k_diffusion/sampling.py`` needs torch, scipy, torchsde, torchdiffeq and tqdm, plus one helper of the
package's ``utils`` (``append_dims``), which importing ``k_diffusion`` would drag in with PIL, torchvision,
kornia, wandb and more. :func:`load` finds the installed package without importing it, registers a stand-in
package holding our own ``append_dims``, and executes ``sampling.py`` inside it. Install it without its
dependencies: ``pip install --no-deps k-diffusion torchdiffeq``.

>>> kd = load()          # doctest: +SKIP
>>> kd.sample_dpmpp_2m   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def _append_dims(x, target_dims):
    """``x`` with trailing singleton axes up to ``target_dims`` (what k-diffusion's sampling uses of utils)."""
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"input has {x.ndim} dims but target_dims is {target_dims}, which is less")
    return x[(...,) + (None,) * missing]


def load():
    """The module ``k_diffusion/sampling.py``, or None when k-diffusion (or a dependency of that file) is missing."""
    if "_kdiff_standin.sampling" in sys.modules:
        return sys.modules["_kdiff_standin.sampling"]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "sampling.py")
    if not os.path.exists(path):
        return None
    pkg = types.ModuleType("_kdiff_standin")
    pkg.__path__ = []
    utils = types.ModuleType("_kdiff_standin.utils")
    utils.append_dims = _append_dims
    pkg.utils = utils
    sys.modules["_kdiff_standin"], sys.modules["_kdiff_standin.utils"] = pkg, utils
    mspec = importlib.util.spec_from_file_location("_kdiff_standin.sampling", path)
    mod = importlib.util.module_from_spec(mspec)
    sys.modules["_kdiff_standin.sampling"] = mod
    try:
        mspec.loader.exec_module(mod)
    except ImportError:
        for k in ("_kdiff_standin", "_kdiff_standin.utils", "_kdiff_standin.sampling"):
            sys.modules.pop(k, None)
        return None
    return mod
