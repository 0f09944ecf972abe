"""Optional dependencies made explicit: the torch parts of the plugins load on first use.

A package lists its torch-backed names and resolves them in a module-level
``__getattr__`` through :func:`load_torch_part`. Only a missing *torch* becomes
the clear ImportError below; any other ImportError (a bug in our own module, a
missing name) propagates unchanged, so nothing is dropped silently.

>>> load_torch_part("sdekit_scores", "ScoreMLP", "nets").__name__
'ScoreMLP'
"""

from __future__ import annotations

import importlib
import importlib.util


def torch_installed() -> bool:
    """Whether torch can be imported (found without importing it)."""
    return importlib.util.find_spec("torch") is not None


def load_torch_part(package: str, name: str, module: str):
    """``package.module.name``, importing the submodule now; an ImportError naming torch if torch is missing."""
    try:
        mod = importlib.import_module(f".{module}", package)
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise ImportError(f"{package}.{name} needs torch, which is not installed; install the torch extra "
                          "(pip install 'sdekit[torch]')", name="torch") from e
    return getattr(mod, name)


__all__ = ["load_torch_part", "torch_installed"]
