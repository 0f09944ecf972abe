"""``solve``: the public entry point. Plain solves run :func:`sdekit.integrate.integrate`; gradients by the
adjoint and the path KL (``adjoint=``, ``adjoint_params=``, ``logqp=``) go through :mod:`sdekit.neural`."""

from __future__ import annotations

from .brownian import BrownianPath
from .errors import InvalidArgumentError
from .integrate import integrate


def solve(sde, x0, t_span, *, dt=None, n_steps=None, method="auto", n_paths=None, seed=0,
          brownian=None, save_at=None, backend="auto", dtype=None, device=None, progress=False,
          adaptive=None, rtol=None, atol=None, max_steps=None, grid=None, args=None, adjoint=False,
          adjoint_params=None, logqp=None, **method_options):
    r"""Solve an SDE (or ODE) for many paths at once.

    Parameters
    ----------
    sde : SDE, ODE or torchsde-style object
    x0 : float, event-shaped array or ``(n, *event)`` array (NumPy or torch)
        A float or ``(d,)`` x0 is broadcast to ``n_paths`` paths (default 1, or
        ``brownian.n_paths``); an ``(n, d)`` array gives n paths; an array of 3 or
        more dimensions is ``(n, *event)``, or one event broadcast to ``n_paths``
        when ``n_paths`` differs from its first dimension.
    t_span : (t0, t1) with t1 > t0
    dt, n_steps : exactly one for a fixed-step solve; the grid is uniform with
        ``n_steps`` steps (``dt`` is rounded down to divide the span). Optional for
        adaptive solves (the first step).
    method : str or Solver
        ``"auto"`` (default): Euler–Maruyama for Itô problems, stochastic Heun for
        Stratonovich ones, Euler for an ODE. Names: see ``docs/methods.md`` or
        ``sdekit.solvers.method_names()``.
    seed : int
        Path ``i`` is a pure function of ``(seed, i)``.
    brownian : BrownianPath or any object of the noise protocol (:mod:`sdekit.noise`)
        A path to reuse (its seed wins), e.g. to refine the grid on the same path.
    save_at : None, "steps" or increasing array of times
        ``None`` keeps ``t0`` and ``t1``; an array is stepped onto exactly and
        ``sol.ts`` equals it; ``"steps"`` keeps every grid point.
    backend : "auto", "numpy", "numba" or "torch" (or a backend instance)
    dtype : "float64" (default, or x0's float dtype) or "float32"
    device : None, or where the solve runs: a torch device (torch backend), or ``"cuda"``/``"cuda:N"``
        with NumPy functions (the Numba backend's fused per-path CUDA kernel, which ``"auto"``
        picks for them; ``x0`` and ``sol.ys`` stay NumPy arrays on the host)
    progress : bool, show a progress bar
    adaptive : bool, "batch", "per_path" or None
        Adaptive step-size control (methods with an error estimate; see
        :mod:`sdekit.adaptive`). ``True``/``"batch"``: one step size for all paths;
        ``"per_path"``: each path its own steps (NumPy and Numba backends; ``stats``
        then hold per-path arrays). ``None``: the method's default (``dopri5`` is adaptive).
    rtol, atol, max_steps : tolerances and step budget of an adaptive solve
        (defaults 1e-3, 1e-6, 100000; ``dopri5`` keeps its ODE defaults 1e-6, 1e-8).
    grid : increasing array of times from t0 to t1, instead of ``dt``/``n_steps``
        (a non-uniform fixed grid; only ``save_at`` states are kept).
    args : array or dict of arrays, optional
        Per-path parameters: leading axis ``n_paths``; then ``drift(t, x, args)`` and
        ``diffusion(t, x, args)`` receive the rows of the paths being solved
        (parameter sweeps and uncertainty quantification without Python loops).
    adjoint : bool
        Torch: gradients by the stochastic adjoint, in memory independent of the number
        of steps (exact for ``reversible_heun``); see :mod:`sdekit.adjoint`.
    adjoint_params : iterable of tensors
        What the adjoint differentiates besides ``x0`` (default: the parameters of the
        drift's and diffusion's modules).
    logqp : callable ``(t, x) -> drift``
        A prior drift: also integrate the path KL ``½∫|g⁻¹(f - prior)|² dt``, returned as
        ``sol.logqp`` ``(n,)`` (:mod:`sdekit.logqp`).
    **method_options : passed to the method (e.g. ``gdg`` for ``milstein``)

    Returns
    -------
    Solution with ``ts`` (k,), ``ys`` (k, n, *event), ``stats``; ``sol.evaluate(t)`` interpolates.

    Update rules, orders and references are in each method's docstring
    (``sdekit.solvers``). Errors: :mod:`sdekit.errors`.

    Example
    -------
    >>> import numpy as np, sdekit as sk
    >>> gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    >>> sol = sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=100, n_paths=20_000, seed=0, backend="numpy")
    >>> round(float(sol.ys[-1].mean()), 1)   # E X_1 = exp(0.5)
    1.6
    """
    if brownian is not None and not isinstance(brownian, BrownianPath):
        from .torchsde_noise import as_noise

        brownian = as_noise(brownian, t_span)  # torchsde's Brownian objects, through the noise protocol
    if adjoint is not False or adjoint_params is not None or logqp is not None:
        from .neural import solve_neural

        if args is not None:
            raise InvalidArgumentError("args= (per-path parameters) does not combine with adjoint=, adjoint_params= "
                                       "or logqp=; close over the parameters in the drift and diffusion instead")

        return solve_neural(sde, x0, t_span, adjoint=adjoint, adjoint_params=adjoint_params, logqp=logqp,
                            options=dict(dt=dt, n_steps=n_steps, method=method, n_paths=n_paths, seed=seed,
                                         brownian=brownian, save_at=save_at, backend=backend, dtype=dtype,
                                         device=device, progress=progress, adaptive=adaptive, rtol=rtol, atol=atol,
                                         max_steps=max_steps, grid=grid),
                            method_options=method_options)
    return integrate(sde, x0, t_span, dt=dt, n_steps=n_steps, method=method, n_paths=n_paths, seed=seed,
                     brownian=brownian, save_at=save_at, backend=backend, dtype=dtype, device=device,
                     progress=progress, adaptive=adaptive, rtol=rtol, atol=atol, max_steps=max_steps, grid=grid,
                     args=args, **method_options)
