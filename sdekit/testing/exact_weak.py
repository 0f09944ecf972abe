r"""Exact weak errors of a method on an affine SDE, by quadrature of its one-step map: no Monte Carlo.

On an affine, autonomous SDE (drift and diffusion affine in x, coefficients
constant in t) an explicit stochastic Runge–Kutta step is an affine map

.. math:: X_{k+1} = M(ξ_k) X_k + c(ξ_k),

whose random coefficients depend only on the step's normals ``ξ_k`` (the
increments ``ΔW``, the space-time areas ``H`` and auxiliary normals), independent
from step to step. So the first two moments of the numerical solution follow
exactly from

.. math:: \mathcal M_1 = E\begin{pmatrix}M & c\\ 0 & 1\end{pmatrix},\qquad
          \mathcal M_2 = E\Big[\begin{pmatrix}M & c\\ 0 & 1\end{pmatrix}^{\otimes 2}\Big],\qquad
          E[\tilde X_N] = \mathcal M_1^N \tilde x_0,\ E[\tilde X_N^{\otimes 2}] = \mathcal M_2^N \tilde x_0^{\otimes 2}

(:math:`\tilde x = (x, 1)`). The expectations over ``ξ`` are computed *exactly* by
Gauss–Hermite quadrature (5 points per normal: exact for polynomials of degree
9, far above the degree of any scheme here) and by enumerating the signs of
auxiliary two-point variables. The method is run through :func:`sdekit.solve` itself
— one step, with the quadrature nodes as the increments of a
:class:`sdekit.noise.GridIncrements` — so this measures the code, not a
transcription of it. The weak error of :math:`E[X_T^2]` (componentwise, against the
problem's exact ``mean`` and ``var``) then has no Monte Carlo noise at all, and its
slope in ``dt`` is the weak order.

>>> import sdekit as sk
>>> from sdekit.testing.exact_weak import exact_weak_order
>>> fit = exact_weak_order(sk.testing.problems.gbm(mu=0.3, sigma=0.4), "euler_maruyama", n_steps=[8, 16, 32, 64])
>>> round(fit.order, 1)
1.0
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import InvalidArgumentError
from ..noise import GridIncrements
from .convergence import OrderFit, fit_order

_GH_POINTS = 5


def _nodes(dims, signs):
    """Quadrature nodes (standard normal) and weights over ``dims`` normals and ``signs`` two-point signs."""
    x, w = np.polynomial.hermite_e.hermegauss(_GH_POINTS)
    w = w / w.sum()
    grid = np.array(list(itertools.product(x, repeat=dims))) if dims else np.zeros((1, 0))
    wts = np.prod(np.array(list(itertools.product(w, repeat=dims))), axis=1) if dims else np.ones(1)
    if signs:
        s = np.array(list(itertools.product((-1.0, 1.0), repeat=signs)))
        grid = np.concatenate([np.repeat(grid, len(s), 0), np.tile(s, (len(grid), 1))], axis=1)
        wts = np.repeat(wts, len(s)) / len(s)
    return grid, wts


def one_step_moments(problem, method, dt, **solve_options):
    """``(M1, M2)``: the exact first and second moment operators of one step of size ``dt`` (see above)."""
    from ..solve import solve
    from ..solvers import get_solver

    sde = problem.sde
    d = int(np.asarray(problem.x0).size)
    m = sde.brownian_dim_for(d)
    solver = get_solver(method, is_ode=sde.is_ode, **solve_options.pop("method_options", {})).prepare(sde)
    levy = solver.levy_area is not None
    aux_dim = solver.aux_dim(d, m) if solver.n_aux else 0
    n_signs = aux_dim * solver.n_aux
    z, wts = _nodes(m * (2 if levy else 1), n_signs)
    q = len(wts)
    # Paths: every node with every basis start x0 = e_i and with x0 = 0 (the affine part).
    starts = np.vstack([np.eye(d), np.zeros((1, d))])  # (d + 1, d)
    n = q * (d + 1)
    xs = np.tile(starts, (q, 1))
    dw = np.repeat(z[:, :m] * np.sqrt(dt), d + 1, 0)[None]  # (1, n, m)
    H = np.repeat(z[:, m:2 * m] * np.sqrt(dt / 12.0), d + 1, 0)[None] if levy else None
    aux = None
    if n_signs:
        signs = np.repeat(z[:, -n_signs:], d + 1, 0)  # +-1: an auxiliary "normal" of that sign
        aux = signs.reshape(1, n, solver.n_aux, aux_dim).transpose(0, 2, 1, 3)  # (steps, n_aux, n, dim)
    noise = GridIncrements(np.array([0.0, dt]), dw, H=H, aux=aux)
    sol = solve(sde, xs, (0.0, dt), n_steps=1, method=solver, brownian=noise, backend="numpy", **solve_options)
    out = np.asarray(sol.ys[-1]).reshape(q, d + 1, d)
    c = out[:, d, :]  # (q, d)
    M = np.transpose(out[:, :d, :] - c[:, None, :], (0, 2, 1))  # (q, d, d): column i is the image of e_i
    aff = np.zeros((q, d + 1, d + 1))
    aff[:, :d, :d], aff[:, :d, d], aff[:, d, d] = M, c, 1.0
    M1 = np.einsum("q,qij->ij", wts, aff)
    M2 = np.einsum("q,qij,qkl->ikjl", wts, aff, aff).reshape((d + 1) ** 2, (d + 1) ** 2)
    return M1, M2


def exact_weak_errors(problem, method, n_steps, **solve_options):
    """Exact errors of ``E[X_T]`` and ``E[X_T^2]`` (componentwise) for each step count: ``(mean_err, sq_err)``."""
    if problem.mean is None or problem.var is None:
        raise InvalidArgumentError("exact_weak_errors needs a problem with exact mean and var")
    t0, t1 = problem.t_span
    T = t1 - t0
    x0 = np.asarray(problem.x0, dtype=float).reshape(-1)
    d = x0.size
    xt = np.append(x0, 1.0)
    m_exact = np.asarray(problem.mean(t1), dtype=float).reshape(-1)
    s_exact = np.asarray(problem.var(t1), dtype=float).reshape(-1) + m_exact**2
    mean_err, sq_err = [], []
    for n in n_steps:
        M1, M2 = one_step_moments(problem, method, T / n, **dict(solve_options))
        mean = np.linalg.matrix_power(M1, int(n)) @ xt
        second = (np.linalg.matrix_power(M2, int(n)) @ np.kron(xt, xt)).reshape(d + 1, d + 1)
        mean_err.append(np.linalg.norm(mean[:d] - m_exact))
        sq_err.append(np.linalg.norm(np.diag(second)[:d] - s_exact))
    return np.array(mean_err), np.array(sq_err)


def exact_weak_order(problem, method, n_steps=(4, 8, 16, 32), *, moment="second", **solve_options) -> OrderFit:
    """The weak order of ``method`` on an affine problem from exact (quadrature) weak errors.

    ``moment="second"`` fits the error of ``E[X_T^2]`` (default; sensitive to the
    noise terms), ``"mean"`` that of ``E[X_T]``.
    """
    ns = sorted(int(n) for n in n_steps)
    mean_err, sq_err = exact_weak_errors(problem, method, ns, **solve_options)
    errors = sq_err if moment == "second" else mean_err
    T = problem.t_span[1] - problem.t_span[0]
    fit = fit_order(T / np.asarray(ns, dtype=float), errors)
    fit.n_steps, fit.kind = np.asarray(ns), "weak (exact quadrature)"
    fit.method, fit.problem = method if isinstance(method, str) else getattr(method, "name", "custom"), problem.name
    return fit


__all__ = ["one_step_moments", "exact_weak_errors", "exact_weak_order"]
