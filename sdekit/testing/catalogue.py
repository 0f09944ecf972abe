"""Which test problem demonstrates which declared order: solver facts x problem catalogue = the convergence table.

Each solver declares its strong and weak orders per noise class
(:mod:`sdekit.solvers.base`, item 4). :func:`convergence_cases` pairs every
registered solver's declared orders with a problem of that noise class and
calculus from :data:`CATALOGUE`, so the tests' one convergence table, the demo
and ``sdekit convergence`` pick up a new solver from its facts alone.

>>> cases = convergence_cases()
>>> any(c.method == "milstein" and c.noise_class == "scalar" and c.kind == "strong" for c in cases)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import problems as P

# (noise class, calculus) -> problem constructors (first = the canonical one). "any" matches both calculi.
CATALOGUE = {
    ("diagonal", "ito"): ("gbm", "gbm3"),
    ("diagonal", "stratonovich"): ("gbm_stratonovich",),
    ("scalar", "ito"): ("scalar_linear",),
    ("scalar", "stratonovich"): ("scalar_linear_stratonovich",),
    ("commutative", "ito"): ("linear_general_commutative",),
    ("commutative", "stratonovich"): ("linear_general_commutative_stratonovich",),
    ("general", "ito"): ("noncommutative_linear",),
    ("general", "stratonovich"): ("noncommutative_linear_stratonovich",),
    # A nonlinear drift first: on linear drifts (OU, linear_additive) the stochastic Taylor terms that cap
    # additive-noise methods (g^2 f'' I_(1,1,0) for SRA1, the I_(1,0) terms for Heun) vanish, and the
    # methods converge faster than they claim in general.
    ("additive", "any"): ("additive_nonlinear", "ou", "linear_additive"),
    ("ode", "any"): ("ode_riccati",),
}


# Problems whose drift and diffusion are affine in x with coefficients constant in t: their weak errors are
# computed exactly by quadrature of the one-step map (sdekit.testing.exact_weak), without Monte Carlo.
AFFINE = frozenset({"gbm", "gbm3", "gbm_stratonovich", "scalar_linear", "scalar_linear_stratonovich",
                    "linear_general_commutative", "linear_general_commutative_stratonovich", "noncommutative_linear",
                    "noncommutative_linear_stratonovich", "ou"})


def gbm3():
    """Three independent GBMs (diagonal noise, d = 3)."""
    return P.gbm(mu=[0.3, -0.2, 0.5], sigma=[0.5, 0.8, 0.3], x0=[1.0, 2.0, 0.5])


def linear_general_commutative(calculus="ito"):
    """:func:`~sdekit.testing.problems.linear_general` declared commutative (its matrices commute)."""
    p = P.linear_general(calculus=calculus)
    sde = type(p.sde)._from_parts(p.sde, commutative=True)
    return P.Problem(p.name + "_commutative", sde, p.x0, p.t_span, exact=p.exact, mean=p.mean, var=p.var,
                     params=p.params)


def linear_general_commutative_stratonovich():
    """:func:`linear_general_commutative` in the Stratonovich sense."""
    return linear_general_commutative("stratonovich")


def noncommutative_linear(calculus="ito", t_span=(0.0, 1.0)):
    r"""A linear SDE with non-commuting noise matrices: :math:`dX = AX\,dt + \sum_k B_k X\,dW_k`, d = m = 2.

    :math:`B_1 = \begin{pmatrix}0.3 & 0.4\\ 0 & -0.2\end{pmatrix}`,
    :math:`B_2 = \begin{pmatrix}0.1 & 0\\ 0.5 & 0.3\end{pmatrix}` do not commute, so the
    solution involves the Lévy areas of ``W``: no closed form (``exact`` is None; strong
    studies use a fine reference), and stochastic Heun and Euler–Maruyama have strong
    order 0.5. Moments are exact: with the Itô drift :math:`\tilde A` (``A``, or
    :math:`A + \tfrac12\sum_k B_k^2` for Stratonovich) the mean is :math:`e^{\tilde A t}x_0` and the second
    moment :math:`M` solves :math:`\dot M = \tilde A M + M\tilde A^⊤ + \sum_k B_k M B_k^⊤`
    (solved with a matrix exponential of its vectorised form).
    """
    import numpy as np
    from scipy.linalg import expm

    A = np.array([[-0.2, 0.3], [-0.1, 0.1]])
    Bs = np.array([[[0.3, 0.4], [0.0, -0.2]], [[0.1, 0.0], [0.5, 0.3]]])
    x0 = np.array([1.0, 0.5])
    At = A + (0.5 * sum(b @ b for b in Bs) if calculus == "stratonovich" else 0.0)
    AT = A.T.copy()
    BsT = np.ascontiguousarray(np.transpose(Bs, (2, 1, 0)))  # (d_in, d_out, m)
    BsT_flat = BsT.reshape(BsT.shape[0], -1).copy()

    def diffusion(t, x):
        # (x @ B^T) for every k at once, written with @ and reshape so that Numba compiles it too
        return (x @ BsT_flat).reshape(x.shape[0], BsT.shape[1], BsT.shape[2])

    from ..sde import SDE

    sde = SDE(lambda t, x: x @ AT, diffusion, noise="general", calculus=calculus, brownian_dim=2)
    eye = np.eye(2)
    gen = np.kron(eye, At) + np.kron(At, eye) + sum(np.kron(b, b) for b in Bs)  # vec(M)' = gen vec(M)
    t0 = float(t_span[0])

    def mean(t):
        return expm(At * (t - t0)) @ x0

    def var(t):
        M = (expm(gen * (t - t0)) @ np.outer(x0, x0).reshape(-1, order="F")).reshape(2, 2, order="F")
        return np.diag(M) - mean(t) ** 2

    name = "noncommutative_linear" if calculus == "ito" else "noncommutative_linear_stratonovich"
    return P.Problem(name, sde, x0, tuple(t_span), exact=None, mean=mean, var=var,
                     params=dict(A=A, B=Bs))


def noncommutative_linear_stratonovich():
    """:func:`noncommutative_linear` in the Stratonovich sense."""
    return noncommutative_linear("stratonovich")


def additive_nonlinear(t_span=(0.0, 1.0)):
    r"""A 4-D additive-noise system with a nonlinear, coupled drift (no closed form; fine-reference studies).

    .. math:: dX_i = \big(-\sin 2X_i + 0.3\sin X_{i+1}\big)\,dt + σ_i\,dW_i,\qquad σ = (2, 1.5, 1, 2.5),

    indices cyclic, ``x0 = (0.5, -0.3, 1, 0)``. The curvature of the drift against the
    noise (:math:`σ^2 f''`, the coefficient of :math:`I_{(1,1,0)}`) is what caps
    Rößler's SRA1 at strong order 1.5 — on linear drifts it reaches 2 — so this is the
    problem its declared order is measured on (1.49 over 16…256 steps).
    """
    import numpy as np

    from ..sde import SDE

    sig = np.array([2.0, 1.5, 1.0, 2.5])

    shift = np.roll(np.eye(4), 1, axis=0)  # x @ shift = (x_2, x_3, x_4, x_1): Numba compiles @, not concatenate

    def drift(t, x):
        return -np.sin(2.0 * x) + 0.3 * np.sin(x @ shift)

    sde = SDE(drift, lambda t, x: sig + 0.0 * x, additive=True)
    return P.Problem("additive_nonlinear", sde, np.array([0.5, -0.3, 1.0, 0.0]), tuple(t_span), exact=None)


_EXTRA = {"gbm3": gbm3, "additive_nonlinear": additive_nonlinear, "linear_general_commutative": linear_general_commutative,
          "linear_general_commutative_stratonovich": linear_general_commutative_stratonovich,
          "noncommutative_linear": noncommutative_linear,
          "noncommutative_linear_stratonovich": noncommutative_linear_stratonovich}


def problem(name):
    """A catalogue problem by name (the registry of :mod:`~sdekit.testing.problems` plus the variants above)."""
    return _EXTRA[name]() if name in _EXTRA else P.by_name(name)


@dataclass(frozen=True)
class Case:
    """One row of the convergence table: ``method`` on ``problem`` should show ``order`` (``kind`` strong/weak)."""

    method: str
    noise_class: str
    calculus: str
    problem: str
    kind: str
    order: float

    def make(self):
        return problem(self.problem)

    @property
    def id(self):
        return f"{self.kind}-{self.method}-{self.noise_class}-{self.problem}"


def problems_for(noise_class, calculus):
    """Catalogue problem names for a noise class and a solver calculus (``"any"`` takes both)."""
    if noise_class in ("additive", "ode"):
        return CATALOGUE[(noise_class, "any")]
    calculi = ("ito", "stratonovich") if calculus == "any" else (calculus,)
    out = ()
    for c in calculi:
        out += CATALOGUE.get((noise_class, c), ())
    return out


def convergence_cases(solvers=None, *, all_problems=False) -> list:
    """Every (solver, noise class, problem, kind, declared order) the registry's facts imply.

    ``solvers``: classes (default: :data:`sdekit.solvers.REGISTRY`). One problem per
    noise class and calculus, or every catalogue problem with ``all_problems``.
    """
    from ..solvers import REGISTRY, facts

    out = []
    for cls in (REGISTRY if solvers is None else solvers):
        f = facts(cls)
        for kind in ("strong", "weak"):
            for noise_class, order in f[kind].items():
                if order is None:
                    continue
                names = problems_for(noise_class, cls.calculus)
                calculi = ("ito", "stratonovich") if cls.calculus == "any" else (cls.calculus,)
                picked = []
                for name in names:
                    cal = problem(name).sde.calculus
                    if noise_class not in ("additive", "ode") and cal not in calculi:
                        continue
                    if not all_problems and any(problem(p).sde.calculus == cal for p in picked):
                        continue
                    picked.append(name)
                for name in picked:
                    out.append(Case(cls.name, noise_class, problem(name).sde.calculus, name, kind, order))
    return out


__all__ = ["CATALOGUE", "AFFINE", "Case", "convergence_cases", "problems_for", "problem", "gbm3", "additive_nonlinear",
           "linear_general_commutative", "linear_general_commutative_stratonovich", "noncommutative_linear",
           "noncommutative_linear_stratonovich"]
