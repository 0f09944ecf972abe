r"""Gradients of a torch solve in memory independent of the number of steps: the stochastic adjoint.

``sk.solve(..., adjoint=True)`` wraps the whole solve in one
:class:`torch.autograd.Function`. The forward pass runs the ordinary solve
without a graph and keeps only the states ``save_at`` asks for (plus the state at
``t1``). The backward pass walks the grid from ``t1`` back to ``t0`` on **the same
Brownian path**, replayed from the counter-based generator
(``brownian.increment(t_k, t_{k+1})`` gives the forward's numbers bit for bit in
any query order; no increment is stored), holding one step's graph at a time.

Two backward schemes, chosen by the method (:data:`EXACT_METHODS`):

**Exact (discretise-then-optimise): reversible Heun.** The forward states are
reconstructed algebraically, step by step, with the method's inverse
(Kidger et al. 2021, Algorithm 2), and the vector-Jacobian product of each
forward step is taken at the reconstructed state. The gradient equals
backpropagation through the discretisation up to round-off (about 1e-12
relative in float64); cost per step: one drift and one diffusion evaluation
with their backward pass.

**Continuous (optimise-then-discretise): every other method.** The adjoint SDE
of Li et al. (2020) is solved backwards. With the Stratonovich drift
:math:`b = f - \tfrac12\sum_j (\partial_x σ_j)σ_j` (``b = f`` for Stratonovich or
additive problems) the augmented state :math:`(X, a, \bar θ)` obeys, in forward time,

.. math::
    dX = b\,dt + σ ∘ dW,\qquad
    da = -a\,\partial_x b\,dt - a\,\partial_x σ ∘ dW,\qquad
    d\bar θ = -a\,\partial_θ b\,dt - a\,\partial_θ σ ∘ dW,

from :math:`a(t_1) = \partial L/\partial X_{t_1}`, :math:`\bar θ(t_1) = 0`; then
:math:`\partial L/\partial x_0 = a(t_0)`, :math:`\partial L/\partial θ = \bar θ(t_0)`.
It is integrated from :math:`t_1` to :math:`t_0` on the forward grid by the
stochastic Heun scheme (steps :math:`-Δt`, increments :math:`-ΔW_k`); at saved
times the state is reset to the forward's saved value and the loss's cotangent
added. The gradient converges to the true pathwise gradient as Δt → 0; against
backpropagation through the method's own steps it agrees to the method's
pathwise error on this problem: O(Δt) for Milstein and for additive noise,
O(√Δt) for Euler–Maruyama with multiplicative noise (measured slopes in
``docs/neural-sdes.md``). For diagonal noise the Itô correction uses
:math:`(\partial_x σ)^\top σ`, which assumes ``g_i`` depends on ``x_i`` only (checked).

Parameters: ``adjoint_params`` (tensors, leaves or not), or by default the
parameters of the drift's and diffusion's ``nn.Module`` (the module itself, a bound
method of one, the torchsde-style module, or modules and tensors a plain function
refers to by closure or global name): :func:`find_parameters`. A tensor a
function uses but that is not among them gets no gradient (as in torchsde).

References: X. Li, T.-K. L. Wong, R. T. Q. Chen, D. Duvenaud, "Scalable gradients
for stochastic differential equations", AISTATS 2020; P. Kidger, J. Foster,
X. Li, T. Lyons, "Efficient and accurate gradients for neural SDEs", NeurIPS 2021.

>>> import torch, sdekit as sk
>>> theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
>>> sde = sk.SDE(lambda t, x: -theta * x, lambda t, x: 0.2 + 0.0 * x, calculus="stratonovich", additive=True)
>>> x0 = torch.ones(8, 1, dtype=torch.float64)
>>> sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=50, method="reversible_heun", adjoint=True, adjoint_params=[theta])
>>> sol.ys[-1].sum().backward()
>>> sol.stats["adjoint"], theta.grad.shape
('exact', torch.Size([]))
"""

from __future__ import annotations

import types

import torch
from torch.autograd.function import once_differentiable

from .errors import IncompatibleMethodError, InvalidArgumentError

EXACT_METHODS = frozenset({"reversible_heun"})
"""Methods whose adjoint gradient equals backpropagation through their steps (algebraic reconstruction)."""


def adjoint_kind(solver):
    """``"exact"`` (discretise-then-optimise) or ``"continuous"`` (the adjoint SDE) for a resolved solver.

    >>> from sdekit.solvers import get_solver
    >>> adjoint_kind(get_solver("reversible_heun")), adjoint_kind(get_solver("milstein"))
    ('exact', 'continuous')
    """
    return "exact" if solver.name in EXACT_METHODS and solver.kind == "sde" else "continuous"


def check_adjoint_method(solver, adaptive):
    """Refuse what the adjoint cannot differentiate: adaptive steps, weak-only or auxiliary-noise methods."""
    if adaptive:
        raise IncompatibleMethodError(
            "adjoint=True needs a fixed-step solve (dt=, n_steps= or grid=): the backward pass replays the forward "
            "grid; pass adaptive=False")
    if solver.kind == "sde" and (solver.n_aux > 0 or not solver.strong_order):
        raise IncompatibleMethodError(
            f"method {solver.name!r} draws auxiliary noise or converges only weakly, so its paths have no pathwise "
            "gradient to replay; use a strongly convergent method with adjoint=True (reversible_heun for exact "
            "gradients, euler_maruyama, milstein, heun, sri, ...)")


# -- parameters --------------------------------------------------------------

def _collect(obj, out, seen, depth):
    if depth > 2 or obj is None or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.nn.Module):
        out.extend(obj.parameters())
    elif isinstance(obj, torch.Tensor):
        if obj.requires_grad:
            out.append(obj)
    elif isinstance(obj, types.MethodType):
        _collect(obj.__self__, out, seen, depth)
        _collect(obj.__func__, out, seen, depth + 1)
    elif isinstance(obj, types.FunctionType):
        for cell in obj.__closure__ or ():
            try:
                _collect(cell.cell_contents, out, seen, depth + 1)
            except ValueError:  # an empty cell
                pass
        glb = obj.__globals__
        for name in obj.__code__.co_names:
            if name in glb:
                value = glb[name]
                if isinstance(value, (torch.nn.Module, torch.Tensor, types.FunctionType)):
                    _collect(value, out, seen, depth + 1)
    elif hasattr(obj, "func") and callable(obj):  # functools.partial
        _collect(obj.func, out, seen, depth + 1)
        for a in tuple(getattr(obj, "args", ())) + tuple(getattr(obj, "keywords", {}).values()):
            _collect(a, out, seen, depth + 1)
    elif callable(obj) and not isinstance(obj, type):  # a callable object holding modules or tensors
        for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                _collect(value, out, seen, depth + 1)


def find_parameters(*functions):
    """Tensors requiring grad that ``functions`` use: module parameters, bound modules, closures, globals.

    Deduplicated, in discovery order.

    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> len(find_parameters(lambda t, x: net(x))), len(find_parameters(net, net.forward))
    (2, 2)
    """
    out, seen = [], set()
    for fn in functions:
        _collect(fn, out, seen, 0)
    return _unique_trainable(out)


def _unique_trainable(params):
    """The tensors of ``params`` that require gradients, each once (by identity), in first-seen order."""
    unique, ids = [], set()
    for p in params:
        if id(p) not in ids and p.requires_grad:
            ids.add(id(p))
            unique.append(p)
    return unique


def resolve_parameters(adjoint_params, sde, prior=None):
    """``adjoint_params`` checked (an iterable of tensors), or :func:`find_parameters` of the problem."""
    if adjoint_params is None:
        return find_parameters(getattr(sde, "source", None), sde.drift, sde.diffusion, prior)
    if isinstance(adjoint_params, torch.Tensor):
        adjoint_params = [adjoint_params]
    try:
        params = list(adjoint_params)
    except TypeError:
        raise InvalidArgumentError(
            f"adjoint_params must be an iterable of tensors; got {type(adjoint_params).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, torch.Tensor):
            raise InvalidArgumentError(f"adjoint_params[{i}] must be a torch.Tensor; got {type(p).__name__}")
    return _unique_trainable(params)


# -- the backward passes -------------------------------------------------------

class Replay:
    """What the backward pass needs: the flat terms, the path, the grid and its saved rows, the parameters."""

    def __init__(self, *, terms, noise, times, save, kind, noise_type, calculus, additive, is_ode, params, cast):
        # ``noise``: a callable giving the backward pass its noise source (None for an ODE)
        self.terms, self.noise_for_pass, self.times, self.save = terms, noise, times, save
        self.noise = None
        self.kind, self.noise_type, self.calculus, self.additive, self.is_ode = kind, noise_type, calculus, additive, is_ode
        self.params, self.cast = params, cast
        self.rows = {int(i): r for r, i in enumerate(save)}
        self.forward = None  # set by the orchestrator: x0 -> (ys, final_carry, stats)
        self.stats = {}

    def increment(self, k):
        return self.cast(self.noise.increment(float(self.times[k]), float(self.times[k + 1])))

    def noise_transpose(self, c, dw):
        """The cotangent of ``g`` in ``terms.noise(g, dw)`` given the cotangent ``c`` of the result."""
        if self.noise_type == "general":
            return c[:, :, None] * dw[:, None, :]
        return c * dw


def _grad(outputs, inputs, cotangents):
    """``autograd.grad`` that tolerates outputs without a graph and unused inputs (zeros)."""
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not pairs:
        return [torch.zeros_like(i) for i in inputs]
    got = torch.autograd.grad([o for o, _ in pairs], inputs, [c for _, c in pairs], allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, got)]


def _leaf(x):
    return x.detach().requires_grad_(True)


def backward_reversible_heun(rp, ys, carry, grad_ys):
    """Exact VJP of reversible Heun, reconstructing the forward states backwards (Kidger et al. 2021, Alg. 2).

    Forward step k: ``ŷ' = 2y - ŷ + μΔt + σΔW``, ``μ' = f(t', ŷ')``, ``σ' = g(t', ŷ')``,
    ``y' = y + ½(μ + μ')Δt + ½(σ + σ')ΔW``. With cotangents ``(ȳ', ŷ̄', μ̄', σ̄')`` of step k's
    outputs (``μ̄', σ̄'`` collected from step k + 1, where ``μ', σ'`` are inputs), the
    cotangents of its inputs are ``ȳ = ȳ' + 2ŷ̄'``, ``ŷ̄ = -ŷ̄'``, ``μ̄ = ½Δt ȳ' + Δt ŷ̄'``,
    ``σ̄ = (½ȳ' + ŷ̄')ΔW^T`` after ``ŷ̄' += VJP_{ŷ'}(f, g)[μ̄' + ½Δt ȳ', σ̄' + ½ȳ'ΔW^T]``.
    """
    terms, times, params = rp.terms, rp.times, rp.params
    N = len(times) - 1
    x = ys[rp.rows[N]].clone()  # updated in place below (one step's tensors at a time: the memory is O(1) in N)
    x_hat, f_val, g_val = (c.detach() for c in carry)
    ybar = grad_ys[rp.rows[N]].clone()
    hbar = torch.zeros_like(x)
    fbar = torch.zeros_like(f_val)
    gbar = torch.zeros_like(g_val)
    pbar = [torch.zeros_like(p) for p in params]
    del f_val, g_val
    with torch.enable_grad():
        leaf = _leaf(x_hat)
        f_g, g_g = terms.drift(float(times[N]), leaf), terms.diffusion(float(times[N]), leaf)
    dw_next = rp.increment(N - 1)
    for k in range(N - 1, -1, -1):
        dt = float(times[k + 1]) - float(times[k])
        dw = dw_next
        fbar.add_(ybar, alpha=0.5 * dt)
        gbar.add_(rp.noise_transpose(0.5 * ybar, dw))
        grads = _grad((f_g, g_g), [leaf] + params, (fbar, gbar))
        hbar.add_(grads[0])
        for a, b in zip(pbar, grads[1:]):
            a.add_(b)
        del grads
        f_next, g_next = f_g.detach(), g_g.detach()
        del f_g, g_g, leaf
        # The next step's increment now, while no graph is held (the path's own scratch memory comes and goes).
        dw_next = rp.increment(k - 1) if k > 0 else None
        # Reconstruct step k's inputs (no graph), then evaluate f, g at ŷ_k with one (used next iteration).
        x_hat = (2.0 * x).sub_(x_hat).sub_(f_next, alpha=dt).sub_(terms.noise(g_next, dw))
        with torch.enable_grad():
            leaf = _leaf(x_hat)
            f_g, g_g = terms.drift(float(times[k]), leaf), terms.diffusion(float(times[k]), leaf)
        x.sub_(f_g.detach() + f_next, alpha=0.5 * dt).sub_(terms.noise(0.5 * (g_g.detach() + g_next), dw))
        del f_next, g_next
        fbar.copy_(ybar).mul_(0.5 * dt).add_(hbar, alpha=dt)
        gbar = rp.noise_transpose(0.5 * ybar + hbar, dw)
        ybar.add_(hbar, alpha=2.0)
        hbar.neg_()
        if k in rp.rows:
            ybar.add_(grad_ys[rp.rows[k]])
    # Step 0 started from the carry (ŷ_0, μ_0, σ_0) = (y_0, f(t0, y_0), g(t0, y_0)).
    grads = _grad((f_g, g_g), [leaf] + params, (fbar, gbar))
    for a, b in zip(pbar, grads[1:]):
        a.add_(b)
    return ybar.add_(hbar).add_(grads[0]), pbar


def _stratonovich_drift(rp, f, s, x):
    """``b = f - ½ Σ_j (∂σ_j) σ_j`` for an Itô problem, with a graph (the adjoint differentiates it again)."""
    if rp.calculus != "ito" or rp.additive or not (isinstance(s, torch.Tensor) and s.requires_grad):
        return f
    if rp.noise_type == "diagonal":
        # (∂g)^T g: with g_i depending on x_i only this is g_i ∂g_i/∂x_i, one backward pass.
        (c,) = torch.autograd.grad(s, x, s, create_graph=True, allow_unused=True)
        return f if c is None else f - 0.5 * c
    # Scalar and general noise need Jacobian-vector products (J σ_j) σ_j: the double-VJP trick.
    u = torch.zeros_like(s, requires_grad=True)
    (jt,) = torch.autograd.grad(s, x, u, create_graph=True, allow_unused=True)
    if jt is None:
        return f
    if rp.noise_type == "scalar":
        (c,) = torch.autograd.grad(jt, u, s, create_graph=True)
        return f - 0.5 * c
    c = 0.0
    for j in range(s.shape[2]):
        (jv,) = torch.autograd.grad(jt, u, s[:, :, j], create_graph=True, retain_graph=True)
        c = c + jv[:, :, j]
    return f - 0.5 * c


def _adjoint_field(rp, t, x, a, h, dw):
    """``(Δx, Δa, Δθ̄)`` of the augmented adjoint system at ``(t, x, a)`` over a step ``h`` with increment ``dw``."""
    params = rp.params
    with torch.enable_grad():
        xl = _leaf(x)
        f = rp.terms.drift(t, xl)
        if rp.is_ode or dw is None:
            move = f * h
        else:
            s = rp.terms.diffusion(t, xl)
            move = _stratonovich_drift(rp, f, s, xl) * h + rp.terms.noise(s, dw)
        grads = _grad((move,), [xl] + params, (a,))
    return move.detach(), -grads[0], [-g for g in grads[1:]]


def backward_continuous(rp, ys, grad_ys):
    """The adjoint SDE (module docstring) by stochastic Heun from ``t1`` to ``t0`` on the forward grid and path."""
    times, params = rp.times, rp.params
    N = len(times) - 1
    x = ys[rp.rows[N]]
    a = grad_ys[rp.rows[N]].clone()
    pbar = [torch.zeros_like(p) for p in params]
    for k in range(N - 1, -1, -1):
        ta, tb = float(times[k]), float(times[k + 1])
        h = ta - tb
        dw = None if rp.noise is None else -rp.increment(k)
        dx1, da1, dp1 = _adjoint_field(rp, tb, x, a, h, dw)
        dx2, da2, dp2 = _adjoint_field(rp, ta, x + dx1, a + da1, h, dw)
        x = x + 0.5 * (dx1 + dx2)
        a = a + 0.5 * (da1 + da2)
        pbar = [p + 0.5 * (u + v) for p, u, v in zip(pbar, dp1, dp2)]
        if k in rp.rows:
            x = ys[rp.rows[k]]  # the forward's own state: the backward pass does not drift from it
            a = a + grad_ys[rp.rows[k]]
    return a, pbar


class AdjointSolve(torch.autograd.Function):
    """The whole solve as one autograd node: ``(replay, x0, *params) -> ys`` (flat ``(k, n, D)``)."""

    @staticmethod
    def forward(ctx, rp, x0, *params):
        ys, carry, stats = rp.forward(x0.detach())
        rp.stats = stats
        ctx.rp = rp
        ctx.n_carry = len(carry) if carry is not None else 0
        ctx.save_for_backward(ys, *(carry or ()))
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_ys):
        ys, *carry = ctx.saved_tensors
        rp = ctx.rp
        rp.noise = rp.noise_for_pass() if rp.noise_for_pass is not None else None
        try:
            with torch.no_grad():
                if rp.kind == "exact":
                    gx, gp = backward_reversible_heun(rp, ys, carry, grad_ys)
                else:
                    gx, gp = backward_continuous(rp, ys, grad_ys)
        finally:
            rp.noise = None  # the backward's copy of the path (and its memoised nodes) goes now
        return (None, gx, *gp)
