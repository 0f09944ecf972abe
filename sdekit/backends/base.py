"""The backend interface and the generic fixed-step loop shared by NumPy and torch.

A backend owns what depends on the array library: turning ``x0`` into a state,
wrapping the user's functions (with the first-call shape check), building the
Brownian path, and the finiteness test. The loop itself is written once, here;
the Numba backend replaces it with a compiled kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..errors import NonFiniteError, ShapeError
from ..progress import Progress
from ..solvers.base import Terms


@dataclass
class IntegrateResult:
    ts: np.ndarray
    ys: Any
    n_steps: int
    nfe: int
    extra: dict = field(default_factory=dict)


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


def expected_shapes(sde, n, d, m):
    drift = (n, d)
    diffusion = None if sde.is_ode else ((n, d, m) if sde.noise == "general" else (n, d))
    return drift, diffusion


class ShapeChecked:
    """Calls ``fn`` and checks the shape of its first result (then gets out of the way)."""

    __slots__ = ("fn", "name", "expected", "checked")

    def __init__(self, fn, name, expected):
        self.fn, self.name, self.expected, self.checked = fn, name, expected, False

    def __call__(self, t, x):
        out = self.fn(t, x)
        if not self.checked:
            shape = tuple(getattr(out, "shape", np.shape(out)))
            if shape != self.expected:
                raise ShapeError(
                    f"{self.name}(t, x) returned shape {shape}; expected {self.expected} "
                    f"(x has shape {tuple(x.shape)})"
                )
            self.checked = True
        return out


def nonfinite_error(step, t, path):
    """The error a backend raises when path ``path`` is first non-finite after step ``step``."""
    return NonFiniteError(
        f"the state became non-finite at step {step} (t={t:.6g}), first in path {path}; "
        "reduce dt, check the drift/diffusion for blow-up, or use a more stable method",
        step=step, time=t,
    )


def zero_diffusion(t, x):
    return 0.0


class Backend:
    """Interface; see the NumPy backend for the reference implementation."""

    name = ""

    def initial_state(self, x0, n, d, dtype, device):
        raise NotImplementedError

    def brownian(self, n, m, t_span, *, seed, segments, dtype, like):
        raise NotImplementedError

    def all_finite(self, x) -> bool:
        raise NotImplementedError

    def first_nonfinite_path(self, x) -> int:
        raise NotImplementedError

    def stack(self, xs):
        raise NotImplementedError

    def make_terms(self, sde, n, d, m):
        drift_shape, diffusion_shape = expected_shapes(sde, n, d, m)
        drift = ShapeChecked(sde.drift, "drift", drift_shape)
        diffusion = zero_diffusion if sde.is_ode else ShapeChecked(sde.diffusion, "diffusion", diffusion_shape)
        return Terms(drift, diffusion, noise_fn(sde))

    def infer_brownian_dim(self, sde, t, x):
        g = sde.diffusion(t, x)
        if len(g.shape) != 3:
            raise ShapeError(f"diffusion of general noise must return (n, d, m); got shape {tuple(g.shape)}")
        return int(g.shape[2])

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

    def integrate(self, solver, terms, x, plan, bm, aux_bm, progress):
        """The fixed-step loop: one pure ``solver.step`` per grid interval."""
        if solver.adaptive:
            from ..adaptive import integrate_adaptive

            return integrate_adaptive(self, solver, terms, x, plan, progress)
        times = plan.times
        save = set(int(i) for i in plan.save)
        increments = bm.increments(times) if bm is not None else None
        d = x.shape[1]
        saved = [x] if 0 in save else []
        watch = self.finite_watch(x)
        step = self.stepper(solver, terms)
        with Progress(plan.n_steps, solver.name, enabled=progress) as bar:
            for i in range(plan.n_steps):
                t = float(times[i])
                dt = float(times[i + 1]) - t
                dw = next(increments) if increments is not None else None
                aux = tuple(aux_bm.aux_normals(i, k, dim=d) for k in range(solver.n_aux))
                x = step(t, dt, x, dw, aux)
                watch = self.watch_step(watch, x, i, t)
                if i + 1 in save:
                    saved.append(x)
                bar.update()
        self.watch_end(watch, x, times)
        return IntegrateResult(times[plan.save], self.stack(saved), plan.n_steps,
                               plan.n_steps * solver.nfe_per_step)
