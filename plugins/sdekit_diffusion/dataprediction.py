r"""What the fast samplers share: stepping rules on the log-SNR problem, written once for every backend.

Each sampler (:class:`~sdekit_diffusion.DDIM`, :class:`~sdekit_diffusion.DPMSolver`,
:class:`~sdekit_diffusion.DPMSolverSDE`, :class:`~sdekit_diffusion.EDMHeun`,
:class:`~sdekit_diffusion.UniPC`) is an :class:`sdekit.solvers.Solver` run by ``sdekit.solve``
on :func:`~sdekit_diffusion.logsnr_problem` over an increasing grid of log-SNR values ``λ``.
The state is the scaled ``y = (x − c_t)/m_t``; the rule reads the data prediction
``D(λ, y) = y + drift(λ, y)/(1 + η²)`` from the problem's drift (one score evaluation) and
combines arrays with scalar coefficients computed in float64 from the step sizes
(:func:`phi`), so the same code runs on NumPy and torch states of any dtype. Multistep
rules keep their history ``(λ_j, D_j)`` in the solver carry (``init_carry``/``step_carry``,
contract item 9 of :mod:`sdekit.solvers.base`), never in the instance.

*Order schedule* (:func:`step_order`, DPM-Solver's and UniPC's): step ``i`` (from 0) of a
``p``-th order multistep rule uses order ``min(p, i + 1)`` (the warm-up: only ``i`` past
evaluations exist) and, with ``lower_order_final`` and fewer than 15 steps in all, at most the
number of steps left including this one (a final denoising step counts as one, as the jump to
``σ = 0`` does in the papers): lower orders at the end stabilise few-step sampling, where the
last steps are large in λ.
"""

from __future__ import annotations

import math

from sdekit.errors import IncompatibleMethodError, InvalidArgumentError
from sdekit.solvers import Solver
from sdekit.testing.problems import check_count


def phi(k, z):
    r"""The exponential-integrator function :math:`φ_k(z) = \sum_{j \ge 0} z^j/(j + k)!` (``φ_0 = e^z``).

    :math:`φ_{k+1}(z) = (φ_k(z) - 1/k!)/z`; the series is used for ``|z| < 1``, where the
    recurrence would cancel (``k`` digits lost per level at small steps).

    >>> round(phi(1, -1.0), 12) == round(1 - math.exp(-1.0), 12), round(phi(2, 1e-8), 6)
    (True, 0.5)
    """
    if k == 0:
        return math.exp(z)
    if abs(z) < 1.0:
        term, total, j = 1.0 / math.factorial(k), 0.0, 0
        while True:
            total += term
            j += 1
            term *= z / (j + k)
            if abs(term) < 1e-17 * abs(total) or j > 60:
                return total + term
    out = math.expm1(z) / z
    for j in range(1, k):
        out = (out - 1.0 / math.factorial(j)) / z
    return out


def step_order(order, i, n_steps=None, lower_order_final=True, then_denoise=False):
    """The order of step ``i`` (module docstring): warm-up, then lower orders at the end of short runs.

    >>> [step_order(3, i, 8, then_denoise=True) for i in range(8)]
    [1, 2, 3, 3, 3, 3, 3, 2]
    >>> [step_order(3, i, 8) for i in range(8)]
    [1, 2, 3, 3, 3, 3, 2, 1]
    """
    k = min(order, i + 1)
    if lower_order_final and n_steps is not None and n_steps + int(then_denoise) < 15:
        k = min(k, n_steps - i + int(then_denoise))
    return max(k, 1)


def check_order(order, high=3):
    order = check_count("order", order)
    if order > high:
        raise InvalidArgumentError(f"order must be 1, ..., {high}; got {order}")
    return order


def check_flag(name, value):
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be a bool; got {value!r}")
    return value


class LogSNRSolver(Solver):
    """Base class: a stepping rule on :func:`~sdekit_diffusion.logsnr_problem` (module docstring).

    ``prepare(problem)`` refuses any other problem (the rule needs the data prediction) and a
    stochastic rule whose ``eta`` differs from the problem's; ``n_steps`` (optional) is the
    length of the grid, for the order schedule and EDM's churn; ``then_denoise`` says whether a
    final denoising step follows.
    """

    kind = "sde"
    calculus = "any"  # additive noise (Itô = Stratonovich), or none
    nfe_per_step = 1
    stochastic = False
    eta = 0.0
    gain = 1.0

    def _init_common(self, n_steps, then_denoise, lower_order_final=True):
        self.n_steps = None if n_steps is None else check_count("n_steps", n_steps)
        self.then_denoise = check_flag("then_denoise", then_denoise)
        self.lower_order_final = check_flag("lower_order_final", lower_order_final)

    def prepare(self, sde):
        if not getattr(sde, "is_logsnr_problem", False):
            raise IncompatibleMethodError(
                f"method {self.name!r} steps the data-prediction problem in log-SNR time; build it with "
                "sdekit_diffusion.logsnr_problem(forward, score) (skd.sample does)")
        if self.stochastic and abs(sde.eta - self.eta) > 1e-15:
            raise IncompatibleMethodError(
                f"method {self.name!r} with eta={self.eta} needs logsnr_problem(..., eta={self.eta}); "
                f"the problem has eta={sde.eta}")
        if not self.stochastic and not sde.is_ode:
            raise IncompatibleMethodError(f"method {self.name!r} is deterministic: solve logsnr_problem(..., eta=0)")
        return self.bound(gain=sde.gain)

    def denoised(self, terms, lam, y):
        """``D(λ, y) = y + drift/(1 + η²)``: one score evaluation."""
        f = terms.drift(lam, y)
        return y + f if self.gain == 1.0 else y + f * (1.0 / self.gain)

    def order_at(self, i):
        return step_order(getattr(self, "order", 1), i, self.n_steps, self.lower_order_final, self.then_denoise)

    def __repr__(self):
        opts = {k: v for k, v in vars(self).items() if k not in ("gain",)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in opts.items())})"


__all__ = ["LogSNRSolver", "phi", "step_order"]
