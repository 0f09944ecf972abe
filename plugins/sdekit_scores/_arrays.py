"""Small helpers so one formula runs on NumPy arrays and torch tensors alike."""

from __future__ import annotations

import numpy as np


def is_torch(x) -> bool:
    return (type(x).__module__ or "").startswith("torch")


def exp(x):
    if is_torch(x):
        return x.exp()
    return np.exp(x)


def sqrt(x):
    if is_torch(x):
        return x.sqrt()
    return np.sqrt(x)


def like(arr, x):
    """The float64 NumPy ``arr`` as an array of ``x``'s kind (dtype and device of a tensor ``x``)."""
    if is_torch(x):
        import torch

        return torch.as_tensor(np.asarray(arr), dtype=x.dtype, device=x.device)
    return np.asarray(arr, dtype=x.dtype if x.dtype in (np.float32, np.float64) else np.float64)


def to_numpy(x):
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)
