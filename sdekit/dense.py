"""Dense output of a solve: the state between saved times (:meth:`sdekit.Solution.evaluate`).

The interpolant (stated in full on :meth:`~sdekit.Solution.evaluate`) is linear
between saved states plus the Brownian bridge of the solve's own path between
them, scaled by the diffusion at the left state. It needs the path
(``sol.brownian``: any noise source answering ``increment(s, t)`` at arbitrary
times) and the problem's diffusion (kept by ``solve`` in ``sol.terms``); an ODE
solve has neither and interpolates linearly.

>>> import numpy as np, sdekit as sk
>>> sol = sk.solve(sk.ODE(lambda t, x: 1.0 + 0.0 * x), 0.0, (0.0, 1.0), n_steps=4, save_at="steps")
>>> float(sol.evaluate(0.3)[0, 0].round(12))
0.3
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgumentError


def _is_torch(a):
    return type(a).__module__.startswith("torch")


def _times(t):
    if _is_torch(t):
        t = t.detach().cpu().numpy()
    try:
        arr = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"t must be a float or an array of floats; got {type(t).__name__}") from None
    if arr.ndim > 1:
        raise InvalidArgumentError(f"t must be a float or a 1-D array of times; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(f"t must be finite; got {arr}")
    return arr


def _cast_like(w, y):
    if _is_torch(y):
        import torch

        w = w if _is_torch(w) else torch.as_tensor(np.asarray(w))
        return w.to(dtype=y.dtype, device=y.device)
    return np.asarray(w, dtype=y.dtype)


def _stack(parts):
    if _is_torch(parts[0]):
        import torch

        return torch.stack(parts)
    return np.stack(parts)


def _at(sol, t, flat, event):
    ts = sol.ts
    k = len(ts)
    j = int(np.searchsorted(ts, t, side="right")) - 1
    j = min(max(j, 0), k - 1)
    if ts[j] == t or k == 1:
        return flat[j]
    ta, tb = float(ts[j]), float(ts[j + 1])
    r = (t - ta) / (tb - ta)
    ya, yb = flat[j], flat[j + 1]
    y = ya + r * (yb - ya)
    terms, bm = sol.terms, sol.brownian
    if terms is None or bm is None:
        return y
    try:
        w_t = bm.increment(ta, t)
        w_b = bm.increment(ta, tb)
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"evaluate needs a Brownian path answering increment(s, t) at any time; "
                                   f"{type(bm).__name__} cannot ({e})") from None
    bridge = _cast_like(w_t, ya) - r * _cast_like(w_b, ya)
    return y + terms.noise(terms.diffusion(ta, ya), bridge)


def evaluate(sol, t):
    """``sol``'s state at ``t`` (float) or at each time of ``t`` (1-D array); see :meth:`Solution.evaluate`."""
    times = _times(t)
    ts = sol.ts
    lo, hi = float(ts[0]), float(ts[-1])
    tol = 1e-12 * max(hi - lo, abs(hi), 1.0)
    if np.any(times < lo - tol) or np.any(times > hi + tol):
        raise InvalidArgumentError(
            f"t must lie between the first and last saved times [{lo}, {hi}]; got values in "
            f"[{times.min()}, {times.max()}] (save t0 and t1, the default, to evaluate anywhere in the span)")
    times = np.clip(times, lo, hi)
    ys = sol.ys
    k, n = ys.shape[0], ys.shape[1]
    event = tuple(ys.shape[2:])
    flat = ys.reshape((k, n, -1))
    out = [_at(sol, float(s), flat, event) for s in np.atleast_1d(times)]
    out = [o.reshape((n,) + event) for o in out]
    return out[0] if times.ndim == 0 else _stack(out)
