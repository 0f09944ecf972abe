"""Optional dependencies made explicit: the torch parts of the plugins load on first use.

A package lists its torch-backed names (name -> submodule) and installs the
module-level ``__getattr__`` and ``__dir__`` of :func:`lazy_parts`, which resolve
them through :func:`load_torch_part` on first access. Only a missing *torch*
becomes the clear ImportError below; any other ImportError (a bug in our own
module, a missing name) propagates unchanged, so nothing is dropped silently.

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


def lazy_parts(package: str, parts: dict, namespace: dict):
    """``(__getattr__, __dir__)`` for a package whose ``parts`` (name -> submodule) load on first access.

    A resolved name is cached in the package's ``namespace`` (its ``globals()``), so the
    import runs once.
    """

    def __getattr__(name):
        module = parts.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = load_torch_part(package, name, module)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(parts))

    return __getattr__, __dir__


__all__ = ["load_torch_part", "torch_installed", "lazy_parts"]
