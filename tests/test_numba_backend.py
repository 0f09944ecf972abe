"""backend="numba": the fused kernel equals NumPy, is independent of threads and chunks, errors are clear.

Each distinct (method, drift, diffusion) compiles a fused step (a few seconds),
so the default run covers every method and noise type once and the full
cross product is marked slow.
"""

import numba
import numpy as np
import pytest

import sdekit as sk
from sdekit.backends import select_backend
from sdekit.backends.numba_backend import NumbaBackend

A = np.array([[-1.0, 0.3], [0.2, -0.5]])
B = np.array([[[0.2, 0.1, 0.0], [0.0, 0.1, 0.3]]])
DIAG = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.3 * x + 0.1)
SCALAR = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.2 * x + 0.1, noise="scalar")
GENERAL = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B * (1.0 + 0.1 * x[:, :, None]), noise="general",
                 brownian_dim=3)
ADDITIVE = sk.SDE(lambda t, x: x @ A.T, lambda t, x: B + 0.0 * x[:, :, None], noise="general", brownian_dim=3,
                  additive=True)
GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
FUSED = NumbaBackend(fused=True)
X0 = np.array([1.0, -0.5])

# (problem, method): the default run covers every fused method and every noise type once.
DEFAULT = [(DIAG, "euler_maruyama"), (SCALAR.with_calculus("stratonovich"), "milstein"),
           (GENERAL.with_calculus("stratonovich"), "heun"), (ADDITIVE, "euler_maruyama"), (SCALAR, "milstein")]
SLOW = [(DIAG, "milstein"), (DIAG.with_calculus("stratonovich"), "heun"),
        (DIAG.with_calculus("stratonovich"), "milstein"), (SCALAR, "euler_maruyama"),
        (SCALAR.with_calculus("stratonovich"), "heun"), (GENERAL, "euler_maruyama"), (ADDITIVE, "heun")]


def _both(sde, method, x0=X0, backend=FUSED, **kw):
    kw = dict(dict(n_steps=24, n_paths=37, method=method, seed=5, save_at="steps"), **kw)
    ref = sk.solve(sde, x0, (0.0, 1.0), backend="numpy", **kw)
    got = sk.solve(sde, x0, (0.0, 1.0), backend=backend, **kw)
    return ref, got


def _check_equal(sde, method):
    ref, got = _both(sde, method)
    assert got.backend == "numba" and got.stats["fused"] is True
    assert got.stats["compile_time"] >= 0.0
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sde, method", DEFAULT)
def test_fused_kernel_equals_numpy(sde, method):
    _check_equal(sde, method)


@pytest.mark.slow
@pytest.mark.parametrize("sde, method", SLOW)
def test_fused_kernel_equals_numpy_every_method_and_noise(sde, method):
    _check_equal(sde, method)


@pytest.mark.parametrize("method", ["rk4", "heun", "euler"])
def test_fused_ode_methods_equal_numpy(method):
    ode = sk.ODE(lambda t, x: -x * x)
    ref, got = _both(ode, method, x0=np.array([1.0, 2.0, 0.5]), n_paths=5, n_steps=10)
    assert got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-12)


def test_shared_loop_methods_and_off_grid_save_at_equal_numpy():
    # predictor-corrector and dopri5 have no fused rule: they run the compiled user functions on the shared
    # loop; save times off the grid leave the aligned tree: the fused kernel descends to their leaves.
    # Both give the NumPy backend's numbers.
    ref, got = _both(DIAG, "predictor_corrector")
    assert got.stats["fused"] is False
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    ref, got = _both(DIAG, "euler_maruyama", save_at=[0.3, 0.71, 1.0])
    assert got.stats["fused"] is True and got.stats["fused_grid"] == "grid"
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    ode = sk.ODE(lambda t, x: -x * x)
    ref, got = _both(ode, "dopri5", x0=1.0, n_paths=1, n_steps=10, save_at=None)
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10)


def test_on_grid_save_times_and_a_shared_brownian_path_use_the_fused_kernel():
    ref, got = _both(DIAG, "euler_maruyama", save_at=[0.25, 0.5, 1.0], n_steps=64)
    assert got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    bm = sk.BrownianPath(37, 2, (0.0, 1.0), seed=11, segments=3)
    a = sk.solve(DIAG, X0, (0.0, 1.0), n_steps=48, n_paths=37, brownian=bm, backend=FUSED)
    b = sk.solve(DIAG, X0, (0.0, 1.0), n_steps=48, n_paths=37, brownian=bm, backend="numpy")
    assert a.stats["fused"] is True
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10, atol=1e-12)


def test_results_do_not_depend_on_threads_or_chunks():
    kw = dict(n_steps=96, n_paths=301, seed=3, save_at="steps", method="euler_maruyama")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **kw).ys
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **kw).ys
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    for chunk in (1, 7, 64, 1000):
        got = sk.solve(DIAG, X0, (0.0, 1.0), backend=NumbaBackend(fused=True, chunk=chunk), **kw).ys
        # Every path draws the same numbers in any chunk; only the drift's matrix product
        # (BLAS on a chunk of 1 row or of many) may round differently.
        np.testing.assert_allclose(got, one, rtol=1e-13, atol=1e-15, err_msg=f"chunk={chunk}")


def test_float32_state_follows_numpy():
    x0 = np.ones(1, np.float32)
    ref, got = _both(GBM, "euler_maruyama", x0=x0, n_steps=64, n_paths=50)
    assert got.ys.dtype == np.float32 and got.stats["fused"] is True
    np.testing.assert_allclose(got.ys, ref.ys, rtol=2e-5)


def test_gbm_moments_with_200k_paths():
    # E-M on dX = 0.5 X dt + 0.8 X dW, 1000 steps: its bias in the mean (about mu^2 / (2 N) = 1.3e-4 relative)
    # is 15x below one standard error, so the exact moments of X(1) must hold within 4 standard errors.
    n, mu, sigma = 200_000, 0.5, 0.8
    x = sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=1000, n_paths=n, seed=2024, backend=FUSED).ys[-1, :, 0]
    mean, var = np.exp(mu), np.exp(2 * mu) * (np.exp(sigma**2) - 1)
    assert abs(x.mean() - mean) < 4 * np.sqrt(var / n)
    dev2 = (x - x.mean()) ** 2
    assert abs(dev2.mean() - var) < 4 * dev2.std() / np.sqrt(n)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy's reference overflows, on purpose
def test_nonfinite_state_raises_at_the_numpy_step():
    blow = sk.SDE(lambda t, x: x**3, lambda t, x: 0.1 * x)
    errors = []
    for backend in ("numpy", FUSED):
        with pytest.raises(sk.errors.NonFiniteError) as info:
            sk.solve(blow, 3.0, (0.0, 1.0), n_steps=64, n_paths=40, backend=backend)
        errors.append((info.value.step, str(info.value)))
    assert errors[0] == errors[1]
    bm = sk.BrownianPath(40, 1, (0.0, 1.0), seed=3)  # a grid off the path's tree: the same step and path
    found = []
    for backend in ("numpy", FUSED):
        with pytest.raises(sk.errors.NonFiniteError) as info:
            sk.solve(blow, 3.0, (0.0, 1.0), n_steps=50, brownian=bm, backend=backend)
        found.append((info.value.step, str(info.value)))
    assert found[0] == found[1]


def test_uncompilable_function_names_it_and_suggests_numpy():
    from scipy.special import erf

    bad = sk.SDE(lambda t, x: erf(x), lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(sk.errors.BackendError, match=r"drift function .*backend=\"numpy\""):
        sk.solve(bad, 1.0, (0.0, 1.0), n_steps=4, backend="numba")
    with pytest.raises(sk.errors.BackendError, match=r"drift function"):
        sk.solve(bad, 1.0, (0.0, 1.0), n_steps=4, backend=FUSED)


def test_wrong_shape_is_a_shape_error():
    bad = sk.SDE(lambda t, x: x[:, :1] * 0.0, lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(sk.errors.ShapeError, match="drift"):
        sk.solve(bad, X0, (0.0, 1.0), n_steps=4, n_paths=3, backend=FUSED)


def test_auto_picks_numba_for_large_compilable_problems_only():
    from scipy.special import erf

    from sdekit.backends.numba_backend import AUTO_MIN_WORK

    assert select_backend("auto", GBM, 1.0, work=AUTO_MIN_WORK).name == "numba"
    assert select_backend("auto", GBM, 1.0, work=1000).name == "numpy"
    bad = sk.SDE(lambda t, x: erf(x), lambda t, x: 0.1 + 0.0 * x)
    assert select_backend("auto", bad, 1.0, work=AUTO_MIN_WORK).name == "numpy"
    assert sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=4).backend == "numpy"


def test_invalid_options():
    with pytest.raises(sk.errors.InvalidArgumentError, match="chunk"):
        NumbaBackend(chunk=0)
    with pytest.raises(sk.errors.InvalidArgumentError, match="fused"):
        NumbaBackend(fused="yes")


@pytest.mark.slow
def test_the_docs_example_runs(capsys):
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "numba.md"
    block = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)[0]
    exec(compile(block, str(doc), "exec"), {})
    assert capsys.readouterr().out.startswith("True")


def test_importing_sdekit_compiles_nothing():
    import subprocess
    import sys

    code = ("import sys, sdekit, sdekit.backends, sdekit.solve; "
            "print(any(m.startswith(('numba', 'sdekit._brownian_numba', 'sdekit.backends.numba')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_generator_floor_draws_the_solve_increments():
    # The benchmark floor runs the fused driver with x += dW: it must return sum_i W_i(1) of the same path.
    from sdekit.backends.numba_launch import generator_floor

    w1 = sk.BrownianPath(1000, 3, (0.0, 1.0), seed=5, segments=3).value(1.0)
    assert abs(generator_floor(1000, 48, 3, seed=5) - w1.sum()) < 1e-10 * np.abs(w1).sum()


# ---- Lévy-area rules, grids off the tree, launches --------------------------------------------------
def _area_rule(terms, t, dt, x, dw, aux):
    # Not a method anyone should use: a rule that reads both parts of a LevyIncrement (the plumbing under test).
    g = terms.diffusion(t, x)
    return x + terms.drift(t, x) * dt + terms.noise(g, dw.dW) + terms.noise(g, dw.H) * 0.5


class _AreaEM(sk.solvers.Solver):
    name = "area_em_test"
    calculus = "ito"
    levy_area = "space-time"
    rule = staticmethod(_area_rule)


def test_levy_area_rules_get_the_areas_of_the_numpy_path():
    ref, got = _both(DIAG, _AreaEM(), n_steps=48)
    assert got.stats["fused"] is True and got.stats["fused_grid"] == "tree"
    np.testing.assert_allclose(got.ys, ref.ys, rtol=1e-10, atol=1e-12)
    bm = sk.BrownianPath(37, 2, (0.0, 1.0), seed=4, segments=5)  # a skeleton of 5 segments, 8 steps each
    kw = dict(n_steps=40, method=_AreaEM(), brownian=bm, save_at="steps")
    a = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **kw)
    b = sk.solve(DIAG, X0, (0.0, 1.0), backend="numpy", **kw)
    assert a.stats["fused"] is True
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10, atol=1e-12)
    # areas off the tree's grid come from BrownianPath's own decomposition, on the shared loop
    a = sk.solve(DIAG, X0, (0.0, 1.0), backend=FUSED, **dict(kw, n_steps=30))
    b = sk.solve(DIAG, X0, (0.0, 1.0), backend="numpy", **dict(kw, n_steps=30))
    assert a.stats["fused"] is False
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("segments, n_steps, t_span, dtype", [(1, 1000, (0.0, 1.0), "float64"),
                                                              (3, 10, (0.0, 1.0), "float64"),
                                                              (7, 50, (0.25, 0.9), "float64"),
                                                              (1, 100, (0.0, 1.0), "float32")])
def test_brownian_paths_off_the_grid_run_fused_with_the_numpy_numbers(segments, n_steps, t_span, dtype):
    # The grid's times are not tree nodes: the kernel descends to each time's leaf, as BrownianPath.value does.
    bm = sk.BrownianPath(37, 2, (0.0, 1.0), seed=9, segments=segments, dtype=dtype, path_offset=3)
    kw = dict(n_steps=n_steps, brownian=bm, save_at="steps", method="heun")
    sde = DIAG.with_calculus("stratonovich")
    a = sk.solve(sde, X0, t_span, backend=FUSED, **kw)
    b = sk.solve(sde, X0, t_span, backend="numpy", **kw)
    assert a.stats["fused"] is True and a.stats["fused_grid"] == "grid"
    assert a.ys.dtype == b.ys.dtype == np.float64
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-10, atol=1e-12)


def test_results_do_not_depend_on_how_the_solve_is_cut_into_launches(monkeypatch):
    from sdekit.backends import numba_launch

    bm = sk.BrownianPath(301, 2, (0.0, 1.0), seed=2, segments=3)
    cases = [dict(n_steps=3 * 128, brownian=bm), dict(n_steps=200, brownian=bm),
             dict(n_steps=768, seed=1, n_paths=301)]
    backend = NumbaBackend(fused=True, chunk=16)
    whole = [sk.solve(DIAG, X0, (0.0, 1.0), backend=backend, save_at="steps", **kw) for kw in cases]
    monkeypatch.setattr(numba_launch, "FIRST_LAUNCH_WORK", 1)  # one block (or step) per launch ...
    monkeypatch.setattr(numba_launch, "LAUNCH_SECONDS", 0.0)  # ... for the whole solve
    monkeypatch.setattr(numba_launch, "CURSOR_BYTES", 1)  # and chunk groups of 2 * threads chunks
    for kw, ref in zip(cases, whole):
        got = sk.solve(DIAG, X0, (0.0, 1.0), backend=backend, save_at="steps", **kw)
        assert got.stats["launches"] > 10 * ref.stats["launches"]
        assert np.array_equal(got.ys, ref.ys)


def test_a_user_exception_inside_the_kernel_propagates_as_itself():
    def drift(t, x):
        if t > 0.5:
            raise ValueError("drift refuses t > 0.5")
        return -x

    sde = sk.SDE(drift, lambda t, x: 0.1 + 0.0 * x)
    with pytest.raises(ValueError, match="refuses"):
        sk.solve(sde, X0, (0.0, 1.0), n_steps=64, n_paths=40, backend=FUSED)
    with pytest.raises(ValueError, match="refuses"):  # the shared loop too
        sk.solve(sde, X0, (0.0, 1.0), n_steps=64, n_paths=40, backend=NumbaBackend(fused=False))

    def always(t, x):
        raise ValueError("never compiles? no: it compiles and raises")

    with pytest.raises(ValueError, match="it compiles and raises"):  # not "cannot compile"
        sk.solve(sk.SDE(always, lambda t, x: 0.1 + 0.0 * x), X0, (0.0, 1.0), n_steps=8, backend=FUSED)


def test_a_compile_failure_carries_numbas_reason():
    sde = sk.SDE(lambda t, x: x[:, ::-1].reshape(x.shape), lambda t, x: 0.1 + 0.0 * x)  # a strided view
    with pytest.raises(sk.errors.BackendError, match=r"drift function.*reshape\(\) supports contiguous array only"):
        sk.solve(sde, X0, (0.0, 1.0), n_steps=8, backend=FUSED)


_INTERRUPT_CHILD = r"""
import _thread, threading, time
import numpy as np, sdekit as sk
from sdekit.backends.numba_backend import NumbaBackend
gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
backend = NumbaBackend(fused=True)
sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=100, backend=backend)   # compiles outside the timed part
fired = []
def interrupt():
    time.sleep(0.5)
    fired.append(time.perf_counter())
    _thread.interrupt_main()
threading.Thread(target=interrupt, daemon=True).start()
try:
    sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=100_000, n_paths=1_000_000, backend=backend)  # minutes of work
    print("finished")
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - fired[0])
"""


def test_ctrl_c_lands_within_seconds_in_a_long_fused_solve():
    # 10^11 path-steps take minutes; the kernel runs in launches of a fraction of a second, so the
    # interrupt lands within a few (a generous bound for a loaded 2-core machine).
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _INTERRUPT_CHILD], capture_output=True, text=True, timeout=300)
    words = out.stdout.split()
    assert words and words[0] == "interrupted", out.stdout + out.stderr[-2000:]
    assert float(words[1]) < 10.0


_THREADS_CHILD = r"""
import os, torch
torch.set_num_threads(1)
import numba, numpy as np, sdekit as sk
gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
sk.solve(gbm, torch.ones(2000, 1, dtype=torch.float64), (0.0, 1.0), n_steps=16)     # the first torch solve
sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=64, n_paths=100_000, backend="numpy")      # parallel Numba kernels
print(torch.get_num_threads(), numba.threading_layer())
"""


def test_sdekit_kernels_keep_torchs_thread_count_and_use_a_thread_safe_layer():
    # Starting Numba's OpenMP pool calls omp_set_num_threads, which torch.get_num_threads() reports.
    pytest.importorskip("torch")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _THREADS_CHILD], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"})
    words = out.stdout.split()
    assert words[:1] == ["1"], out.stdout + out.stderr[-2000:]
    assert words[1] in ("tbb", "omp")  # never workqueue, which aborts on concurrent launches


_CACHE_CHILD = r"""
import json, numpy as np, sdekit as sk
from sdekit.backends.numba_backend import NumbaBackend
A = np.array([[-1.0, 0.3], [0.2, -0.5]]) * {scale}
sde = sk.SDE(lambda t, x: x @ A.T, lambda t, x: 0.3 * x + 0.1)
sol = sk.solve(sde, np.array([1.0, -0.5]), (0.0, 1.0), n_steps=64, n_paths=50, backend=NumbaBackend(fused=True))
print(json.dumps(dict(cache=sol.stats["compile_cache"], seconds=sol.stats["compile_time"],
                      mean=float(sol.ys[-1].mean()))))
"""


def test_a_second_process_reuses_the_compiled_step(cache_across_processes):
    cache_across_processes(_CACHE_CHILD)


def test_fingerprints_see_code_closures_and_globals():
    from sdekit.backends.numba_cache import fingerprint

    def make(c):
        return lambda t, x: c * x

    assert fingerprint(make(0.5)) == fingerprint(make(0.5)) != fingerprint(make(0.8))
    assert fingerprint(lambda t, x: X0 * x) != fingerprint(lambda t, x: X0 + x)
    assert fingerprint(lambda t, x: np.sin(x)) is not None
    assert fingerprint(lambda t, x: x * object()) is not None  # object() is called, not read
    holder = {"k": 1.0}
    assert fingerprint(lambda t, x: holder["k"] * x) is None  # a dict: unknown to the key, not cached
