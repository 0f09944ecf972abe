"""Whether a problem involves torch, without ever importing torch (only what the user already imported)."""

from __future__ import annotations

import sys


def _is_torch(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("torch")


def uses_torch(sde, x0) -> bool:
    """True when x0 is a tensor or the problem's functions are torch modules."""
    if _is_torch(x0):
        return True
    torch = sys.modules.get("torch")
    if torch is None:  # nothing can be a torch object unless the user imported torch: never import it here
        return False
    source = getattr(sde, "source", None)
    candidates = [sde.drift, sde.diffusion, source, getattr(sde.drift, "__self__", None),
                  getattr(sde.diffusion, "__self__", None)]
    return any(isinstance(c, torch.nn.Module) for c in candidates)


