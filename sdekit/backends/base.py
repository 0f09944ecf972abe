"""The backend interface: what depends on the array library, and nothing else.

A backend turns ``x0`` into a flat ``(n, D)`` state, wraps the user's functions
(event shapes, shape checks on every call, the time argument), builds Brownian
paths, watches finiteness and stacks saved states. The drivers are written once:
the fixed-step loop in :mod:`sdekit.loop`, the adaptive controller in
:mod:`sdekit.adaptive`; the Numba backend replaces the fixed-step loop by a fused
kernel where it can.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..errors import BackendError, IncompatibleMethodError, NonFiniteError, ShapeError
from ..solvers.base import Terms
from ..terms import ShapeChecked, slice_args, terms_rows  # noqa: F401  (re-exported for backends)


def diagonal_noise(g, dw):
    """Diagonal and scalar noise: ``g * dw`` (``dw`` is ``(n, 1)`` for scalar noise)."""
    return g * dw


def general_noise(g, dw):
    """General noise: ``sum_k g[:, :, k] dw[:, k]`` as a batched mat-vec (NumPy and torch alike)."""
    return (g @ dw[:, :, None])[:, :, 0]


def zero_noise(g, dw):
    return 0.0


def noise_fn(sde):
    if sde.is_ode:
        return zero_noise
    return general_noise if sde.noise == "general" else diagonal_noise


def expected_shapes(sde, n, event, m):
    """What ``drift`` and ``diffusion`` must return for ``n`` paths of ``event`` shape and ``m`` Brownian motions."""
    drift = (n,) + tuple(event)
    diffusion = None if sde.is_ode else ((n,) + tuple(event) + (m,) if sde.noise == "general" else drift)
    return drift, diffusion


def nonfinite_error(step, t, path):
    """The error a backend raises when path ``path`` is first non-finite after step ``step``."""
    return NonFiniteError(
        f"the state became non-finite at step {step} (t={t:.6g}), first in path {path}; "
        "reduce dt, check the drift/diffusion for blow-up, or use a more stable method",
        step=step, time=t,
    )


def zero_diffusion(t, x):
    return 0.0


class NumpyOps:
    """The array operations implicit rules need (``Terms.ops``), for NumPy states."""

    @staticmethod
    def unit(d, j, like):
        e = np.zeros(d, dtype=like.dtype)
        e[j] = 1.0
        return e

    @staticmethod
    def stack_columns(cols):
        return np.stack(cols, axis=-1)

    @staticmethod
    def eye_like(x):
        return np.eye(x.shape[1], dtype=x.dtype)

    @staticmethod
    def solve(a, b):
        return np.linalg.solve(a, b[..., None])[..., 0]

    @staticmethod
    def max_abs(x):
        return float(np.max(np.abs(x)))


class Backend:
    """Interface; see the NumPy backend for the reference implementation."""

    name = ""
    brownian_backend = "numpy"
    ops = NumpyOps

    def initial_state(self, x0, n, event, dtype, device):
        raise NotImplementedError

    def check_problem(self, sde, x0):
        """Refuse problems this backend cannot run (e.g. torch modules on NumPy) before any work."""
        if self.name in ("numpy", "numba"):
            from .detect import uses_torch

            if uses_torch(sde, x0):
                raise BackendError(f'backend="{self.name}" cannot run torch tensors or modules; use backend="torch" '
                                   '(or "auto")')

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        raise NotImplementedError

    def all_finite(self, x) -> bool:
        raise NotImplementedError

    def first_nonfinite_path(self, x) -> int:
        raise NotImplementedError

    def stack(self, xs):
        raise NotImplementedError

    def wrap_time(self, fn):
        """How user functions receive ``t``: a float here (the torch backend passes a 0-dim tensor)."""
        return fn

    def make_terms(self, sde, n, event, m, args=None):
        drift = ShapeChecked(self.wrap_time(sde.drift), "drift", event, args=args)
        if sde.is_ode:
            return Terms(drift, zero_diffusion, zero_noise, self.ops)
        trailing = (m,) if sde.noise == "general" else ()
        diffusion = ShapeChecked(self.wrap_time(sde.diffusion), "diffusion", event, trailing, args=args)
        return Terms(drift, diffusion, noise_fn(sde), self.ops)

    def prepare_args(self, args, n, x):
        """Per-path parameters checked (leading axis ``n``) and made arrays of this backend."""
        if args is None:
            return None
        items = args.items() if isinstance(args, dict) else [(None, args)]
        out = {}
        for key, value in items:
            where = "args" if key is None else f"args[{key!r}]"
            arr = self.as_args_array(value, x, where)
            if len(arr.shape) == 0 or arr.shape[0] != n:
                raise ShapeError(f"{where} must have a leading path axis of length n_paths={n}; "
                                 f"got shape {tuple(arr.shape)}")
            out[key] = arr
        return out[None] if not isinstance(args, dict) else out

    def as_args_array(self, value, x, where):
        from ..errors import InvalidArgumentError

        if (type(value).__module__ or "").startswith("torch"):
            raise BackendError(f"{where} is a torch tensor; per-path parameters of a {self.name!r} solve are arrays")
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{where} must be a numeric array; got dtype {arr.dtype}")
        return arr

    def infer_brownian_dim(self, sde, t, x):
        g = sde.diffusion(t, x)
        if len(g.shape) != x.ndim + 1:
            raise ShapeError(f"diffusion of general noise must return (n, *event, m); got shape {tuple(g.shape)}")
        return int(g.shape[-1])

    def check_noise_backend(self, noise, x):
        """Refuse a noise source whose arrays live elsewhere (another backend or device)."""
        kind = getattr(noise, "backend", None)
        if kind is not None and kind != self.brownian_backend:
            raise BackendError(
                f"brownian is a {kind!r} path but this solve runs on the {self.name!r} backend; build it with "
                f"sk.BrownianPath(..., backend={self.brownian_backend!r})")

    def noise_caster(self, x):
        """Increments and normals in the state's dtype (a path of another dtype must not move the state's)."""
        dtype = x.dtype
        cast_to = self.cast_array

        def cast(w):
            if isinstance(w, tuple):  # a LevyIncrement
                return type(w)(*(cast(v) for v in w))
            return w if w.dtype == dtype else cast_to(w, dtype)

        return cast

    @staticmethod
    def cast_array(w, dtype):
        return w.astype(dtype)

    def check_diagonal_coupling(self, diffusion, t, x, method):
        """Refuse diagonal noise whose ``g_i`` depends on another component ``x_j`` (probe on a few paths).

        Milstein's term (and its strong order) assume ``g_i(x_i)``. Perturbing a set
        ``S`` of components and watching ``g`` outside ``S`` finds a coupling ``i <- j``
        when ``j in S`` and ``i not in S``: all single components for ``d <= 32``,
        24 random halves beyond (a coupling is missed with probability ``0.75^24 < 1e-3``).
        """
        full = diffusion
        if x.shape[1] == 1:
            return
        try:  # a few paths suffice, unless the function is tied to the solve's number of paths
            k = min(4, x.shape[0])
            if isinstance(diffusion, ShapeChecked):
                diffusion = diffusion.rows(0, k)
            xs = self.to_numpy(x[:k]).astype(np.float64)
            g0 = self.to_numpy(diffusion(t, self.from_numpy(xs, x)))
        except Exception:  # noqa: BLE001 - retried on all paths, where a genuine error resurfaces
            diffusion = full
            xs = self.to_numpy(x).astype(np.float64)
            g0 = self.to_numpy(diffusion(t, self.from_numpy(xs, x)))
        d = xs.shape[1]
        sets = [np.eye(d, dtype=bool)[j] for j in range(d)] if d <= 32 else \
            list(np.random.default_rng(0x5DE).random((24, d)) < 0.5)
        for mask in sets:
            h = 1e-4 * (1.0 + np.abs(xs))
            xp = xs + np.where(mask, h, 0.0)
            dg = self.to_numpy(diffusion(t, self.from_numpy(xp, x))) - g0
            scale = 1e-7 * (np.abs(g0) + np.abs(g0).max() + 1e-300)
            bad = (np.abs(dg) > scale) & ~mask[None, :]
            if bad.any():
                i = int(np.argmax(bad.any(axis=0)))
                j = int(np.flatnonzero(mask)[0]) if mask.sum() == 1 else None
                who = f"x_{j}" if j is not None else "another component"
                raise IncompatibleMethodError(
                    f"method {method!r} assumes diagonal noise with g_i depending on x_i only, but g_{i} "
                    f"depends on {who}: that is non-commutative noise, where Milstein's term would solve another "
                    "equation. Declare it as general noise (noise='general', a (n, d, d) diffusion) and use "
                    "'euler_maruyama', 'heun' (strong order 0.5) or 'weak2'")

    def to_numpy(self, x):
        return np.asarray(x)

    def from_numpy(self, a, like):
        return a.astype(like.dtype)

    def nonfinite_error(self, x, step, t):
        return nonfinite_error(step, t, self.first_nonfinite_path(x))

    # Finiteness watch: the loop reports each step to the backend; NumPy raises at once,
    # torch records the first bad step on the device and raises after the loop (no host sync).
    def finite_watch(self, x):
        return None

    def watch_step(self, watch, x, step, t):
        if not self.all_finite(x):
            raise self.nonfinite_error(x, step, t)
        return watch

    def watch_end(self, watch, x, times):
        return None

    def stepper(self, solver, terms):
        """``(t, dt, x, dw, aux) -> x``, one step of ``solver``; the torch backend may compile it."""
        return partial(solver.step, terms)

    def adaptive_attempt(self, solver, terms, t0, x, bm):
        """``(t, h, x, dw, carry, rtol, atol) -> (x_next, e, carry_next)``: one attempt of the adaptive driver.

        ``e`` is the batch's error norm; the default is array operations on the
        whole batch (:func:`sdekit.adaptive.generic_attempt`). ``t0``, ``x`` (the
        initial state) and ``bm`` (the noise, or None) tell a backend what it
        compiles for (the Numba backend fuses the attempt into one call).
        """
        from ..adaptive import generic_attempt

        return generic_attempt(self, solver, terms)

    def integrate_adaptive(self, solver, terms, x, plan, bm, aux_noise, progress, **options):
        """The generic adaptive controller of :mod:`sdekit.adaptive` (a backend may run it compiled)."""
        from ..adaptive import integrate_adaptive

        return integrate_adaptive(self, solver, terms, x, plan, bm, aux_noise, progress, **options)

    def integrate_fixed(self, solver, terms, x, plan, bm, aux_noise, progress):
        """The fixed-step loop of :mod:`sdekit.loop` (the Numba backend fuses it where it can)."""
        from ..loop import integrate_fixed

        return integrate_fixed(self, solver, terms, x, plan, bm, aux_noise, progress)
