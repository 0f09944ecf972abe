"""The fixed-step driver, written once for every backend: one pure ``solver.step`` per grid interval.

Backends supply array operations (the finiteness watch, stacking, casting) and
may compile the step (:meth:`~sdekit.backends.base.Backend.stepper`); the Numba
backend replaces the whole loop by its fused kernel where it can. Multistep rules
thread their carry through (:mod:`sdekit.solvers.base`, item 9).
"""

from __future__ import annotations

from .noise import sweep
from .progress import Progress
from .solution import IntegrateResult


def integrate_fixed(be, solver, terms, x, plan, bm, aux_noise, progress):
    """Step ``x`` over ``plan.times`` with increments from ``bm`` (None for an ODE); keep ``plan.save``."""
    times = plan.times
    save = set(int(i) for i in plan.save)
    increments = sweep(bm, times, levy_area=solver.levy_area is not None) if bm is not None else None
    aux_dim = solver.aux_dim(x.shape[1], bm.dim if bm is not None else 0)
    saved = [x] if 0 in save else []
    watch = be.finite_watch(x)
    step = be.stepper(solver, terms)
    cast = be.noise_caster(x)
    multistep = solver.step_carry is not None
    carry = solver.init_carry(terms, float(times[0]), x) if multistep else None
    with Progress(plan.n_steps, solver.name, enabled=progress) as bar:
        for i in range(plan.n_steps):
            t = float(times[i])
            dt = float(times[i + 1]) - t
            dw = cast(next(increments)) if increments is not None else None
            aux = tuple(cast(aux_noise.aux_normals(i, k, dim=aux_dim)) for k in range(solver.n_aux))
            if multistep:
                x, carry = solver.step_carry(terms, t, dt, x, dw, aux, carry)
            else:
                x = step(t, dt, x, dw, aux)
            watch = be.watch_step(watch, x, i, t)
            if i + 1 in save:
                saved.append(x)
            bar.update()
    be.watch_end(watch, x, times)
    nfe = plan.n_steps * solver.nfe_per_step + (getattr(solver, "carry_nfe", 0) if multistep else 0)
    result = IntegrateResult(times[plan.save], be.stack(saved), plan.n_steps, nfe)
    result.final_carry = carry
    return result
