"""Plugin discovery through the entry-point group ``sdekit.plugins``.

The core never imports a plugin by name: a plugin distribution declares

.. code-block:: toml

    [project.entry-points."sdekit.plugins"]
    myplugin = "my_package"

and ``sdekit.plugins.load("myplugin")`` imports ``my_package`` on demand.

>>> import sdekit as sk
>>> "scores" in sk.plugins.available()
True
"""

from __future__ import annotations

from importlib.metadata import entry_points

from .errors import SDEKitError

GROUP = "sdekit.plugins"


class PluginError(SDEKitError, LookupError):
    """A plugin is not installed or failed to import."""


def _entry_points():
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available():
    """Names of the installed plugins, sorted."""
    return sorted(_entry_points())


def load(name: str):
    """Import and return the plugin module registered as ``name``."""
    eps = _entry_points()
    if name not in eps:
        raise PluginError(f"no sdekit plugin named {name!r}; installed: {', '.join(sorted(eps)) or 'none'}")
    try:
        return eps[name].load()
    except Exception as e:  # a broken plugin must not look like a missing one
        raise PluginError(f"plugin {name!r} failed to import: {e}") from e


__all__ = ["available", "load", "PluginError", "GROUP"]
