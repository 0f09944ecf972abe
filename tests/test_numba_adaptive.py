"""The Numba backend's fused adaptive attempt (sdekit.backends.numba_adaptive): NumPy's steps and numbers."""

import numpy as np
import pytest

import sdekit as sk
from sdekit.backends import numba_adaptive
from sdekit.backends.numba_backend import NumbaBackend
from sdekit.testing import catalogue as C

P = sk.testing.problems


def lorenz(t, x):
    a, b, c = x[..., 0], x[..., 1], x[..., 2]
    return np.stack((10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c), -1)


def _x0(n):
    return np.array([-8.0, 8.0, 27.0]) + np.random.default_rng(5).uniform(-1.0, 1.0, (n, 3))


def _steps(sol):
    return np.asarray(sol.stats["n_accepted"]), np.asarray(sol.stats["n_rejected"])


@pytest.mark.parametrize("first", [1e-3, None], ids=["dt", "hairer_initial_step"])
def test_fused_dopri5_takes_numpy_steps_and_numbers(first):
    # The same rule and float64 operations in the same order: the same step sequence, values to round-off
    # (1e-10 relative leaves room for a compiler's different but valid rounding of one operation).
    ode = sk.ODE(lorenz)
    kw = dict(method="dopri5", rtol=1e-7, atol=1e-10, save_at=[0.1, 0.5, 1.0], dt=first)
    ref = sk.solve(ode, _x0(400), (0.0, 1.0), backend="numpy", **kw)
    got = sk.solve(ode, _x0(400), (0.0, 1.0), backend=NumbaBackend(fused=True), progress=True, **kw)
    assert got.stats["fused"] is True and got.stats["compile_cache"] in ("hit", "miss")
    assert [a.tolist() for a in _steps(got)] == [a.tolist() for a in _steps(ref)]
    assert got.stats["n_accepted"] > 20 and got.stats["nfe"] == ref.stats["nfe"]
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=0)


def test_fused_per_path_dopri5_matches_numpy():
    ode = sk.ODE(lorenz)
    kw = dict(method="dopri5", rtol=1e-6, atol=1e-9, adaptive="per_path")
    x0 = np.array([[1.0, 1.0, 1.0], [-8.0, 8.0, 27.0], [5.0, -5.0, 20.0], [0.1, 0.1, 0.1], [15.0, 15.0, 40.0]])
    ref = sk.solve(ode, x0, (0.0, 1.0), backend="numpy", **kw)
    got = sk.solve(ode, x0, (0.0, 1.0), backend=NumbaBackend(fused=True), **kw)
    assert got.stats["fused"] is True
    assert all(np.array_equal(a, b) for a, b in zip(_steps(got), _steps(ref)))
    assert len(set(_steps(ref)[0].tolist())) > 1  # the paths did take their own steps
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=0)


@pytest.mark.parametrize("mode", ["serial", "parallel"])
@pytest.mark.parametrize("chunk", [1, 7, 256, None])
def test_fused_attempt_does_not_depend_on_chunks_or_threads(monkeypatch, chunk, mode):
    # Each path's arithmetic is its own and the batch norm is a maximum (exact): bit-identical results.
    monkeypatch.setattr(numba_adaptive.FusedAttempt, "_mode", lambda self, n, d: mode == "parallel")
    ode = sk.ODE(lorenz)
    kw = dict(method="dopri5", rtol=1e-6, atol=1e-9, dt=1e-3)
    base = sk.solve(ode, _x0(1500), (0.0, 0.5), backend="numpy", **kw)
    got = sk.solve(ode, _x0(1500), (0.0, 0.5), backend=NumbaBackend(fused=True, chunk=chunk), **kw)
    assert got.stats["fused"] is True
    assert _steps(got) == _steps(base)
    np.testing.assert_allclose(got.ys, base.ys, rtol=1e-10, atol=0)
    again = sk.solve(ode, _x0(1500), (0.0, 0.5), backend=NumbaBackend(fused=True), **kw)
    assert np.array_equal(got.ys, again.ys)


def test_the_mode_follows_the_measured_cost():
    a = numba_adaptive.FusedAttempt(None, None, carries=False, levy=False, rows=10)
    a._threads = 2
    n, d = 10_000, 3
    assert a._mode(n, d) is True  # unmeasured: parallel first, then serial
    a._record(True, 2e-3)
    assert a._mode(n, d) is False
    a._record(False, 1e-3)
    choices = [a._mode(n, d) for _ in range(2 * numba_adaptive.REPROBE)]
    assert choices.count(True) == 2  # the slower mode, re-measured every REPROBE attempts
    assert a._mode(5, d) is False  # one chunk: serial


SDE_CASES = [("euler_maruyama", P.gbm()), ("heun", P.gbm_stratonovich()), ("sra", C.problem("additive_nonlinear"))]


@pytest.mark.parametrize("mode", [True, "per_path"], ids=["batch", "per_path"])
@pytest.mark.parametrize("method, problem", SDE_CASES, ids=[m for m, _ in SDE_CASES])
def test_fused_sde_attempts_take_numpy_steps(method, problem, mode):
    # Increments (and Lévy areas for SRA) come from the same Brownian path: the same steps, the same numbers.
    kw = dict(adaptive=mode, rtol=1e-3, atol=1e-6, n_paths=64 if mode is True else 4, method=method, seed=4,
              save_at=[0.25, 0.5, 1.0])
    ref = sk.solve(problem.sde, problem.x0, problem.t_span, backend="numpy", **kw)
    got = sk.solve(problem.sde, problem.x0, problem.t_span, backend=NumbaBackend(fused=True), **kw)
    assert got.stats["fused"] is True
    assert all(np.array_equal(a, b) for a, b in zip(_steps(got), _steps(ref)))
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)


def test_a_rule_numba_cannot_compile_runs_the_generic_attempt():
    # SRI's tableau loops do not compile in Numba: the attempt falls back, with NumPy's numbers.
    p = P.gbm()
    kw = dict(adaptive=True, rtol=1e-3, atol=1e-6, n_paths=16, method="sri", seed=1)
    ref = sk.solve(p.sde, p.x0, p.t_span, backend="numpy", **kw)
    got = sk.solve(p.sde, p.x0, p.t_span, backend=NumbaBackend(fused=True), **kw)
    assert got.stats["fused"] is False
    assert _steps(got) == _steps(ref)
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10)


def test_float32_states_stay_float32_on_numpys_numbers():
    # Numba would compute float32 arrays times Python floats in float64: such states run the generic attempt.
    ode = sk.ODE(lambda t, x: -x)
    kw = dict(method="dopri5", rtol=1e-4, atol=1e-6, n_paths=8)
    ref = sk.solve(ode, np.ones(2, np.float32), (0.0, 1.0), backend="numpy", **kw)
    got = sk.solve(ode, np.ones(2, np.float32), (0.0, 1.0), backend=NumbaBackend(fused=True), **kw)
    assert got.ys.dtype == np.float32 and got.stats["fused"] is False
    assert _steps(got) == _steps(ref)
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-6)


def _raises_late(t, x):
    if t > 0.5:
        raise ValueError("drift refused t > 0.5")
    return -x


def test_a_user_exception_inside_the_fused_attempt_surfaces_as_itself():
    with pytest.raises(ValueError, match="refused"):
        sk.solve(sk.ODE(_raises_late), np.ones(2), (0.0, 1.0), method="dopri5", n_paths=50,
                 backend=NumbaBackend(fused=True))


def test_a_blow_up_fails_as_on_numpy():
    # dx/dt = x^2 from 1 blows up at t = 1: every backend stops at the same step with the same error.
    ode = sk.ODE(lambda t, x: x * x)
    kw = dict(method="dopri5", n_paths=20, rtol=1e-6, atol=1e-9)
    errors = []
    for backend in ("numpy", NumbaBackend(fused=True)):
        with pytest.raises((sk.errors.NonFiniteError, sk.errors.StepLimitError)) as info, \
                np.errstate(all="ignore"):
            sk.solve(ode, np.ones(1), (0.0, 2.0), backend=backend, **kw)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


_CACHE_CHILD = r"""
import json, numpy as np, sdekit as sk
from sdekit.backends.numba_backend import NumbaBackend
K = np.array([1.0, 2.0, 3.0]) * {scale}
ode = sk.ODE(lambda t, x: -K * x + np.sin(x))
sol = sk.solve(ode, np.array([1.0, -0.5, 0.3]), (0.0, 1.0), n_paths=50, method="dopri5",
               backend=NumbaBackend(fused=True))
print(json.dumps(dict(cache=sol.stats["compile_cache"], seconds=sol.stats["compile_time"],
                      fused=sol.stats["fused"], mean=float(sol.ys[-1].mean()))))
"""


def test_a_second_process_reuses_the_compiled_attempt(cache_across_processes):
    first, _, _ = cache_across_processes(_CACHE_CHILD)
    assert first["fused"]
