"""The fused per-path CUDA kernel (sdekit.backends.cuda_kernel) equals the NumPy backend, checked without a GPU.

Numba's CUDA simulator runs the kernel's own source as Python threads; it is
switched on by ``NUMBA_ENABLE_CUDASIM=1`` before Numba is imported, so the cases
run in a subprocess (one for all of them: the simulator runs each thread in
Python, so sizes are small). Each case solves one problem on the simulated GPU
and with ``backend="numpy"`` from the same seed and compares ``sol.ys`` (float64:
1e-10 relative; the kernel's arithmetic is the NumPy step's, traced). The
tracer and the kernel's refusals are tested in-process; where libNVVM is
installed, the kernels are also compiled to PTX for an sm_90 (H200-class) target,
which checks their typing for the real device (marked slow: ``make test-all``).
The ``gpu``-marked tests run on a CUDA device only.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install 'sdekit[cuda]')")

CASES = r'''
import json, sys
import numpy as np
import sdekit as sk
from sdekit.errors import NonFiniteError

B = np.array([[0.3, 0.1, -0.2], [0.0, 0.25, 0.15]])

def problems(calculus):
    c = calculus
    return {
        "diagonal": sk.SDE(lambda t, x: -x * x * x + np.sin(x) + t, lambda t, x: 0.5 * (1.0 + 0.1 * np.cos(x)),
                           calculus=c),
        "scalar": sk.SDE(lambda t, x: 0.5 * x - 0.1 * x[:, ::-1], lambda t, x: 0.4 * x, noise="scalar", calculus=c),
        "general": sk.SDE(lambda t, x: np.stack((x[:, 1], -x[:, 0]), -1) * 0.7,
                          lambda t, x: x[:, :, None] * B[None] + 0.05, noise="general", brownian_dim=3,
                          calculus=c),
        "additive": sk.SDE(lambda t, x: 2.0 * (1.0 - x), lambda t, x: 0.7 + 0.0 * x, additive=True, calculus=c),
    }

def compare(name, sde, x0, rtol=1e-10, **kw):
    a = sk.solve(sde, x0, (0.0, 1.0), backend="numba", device="cuda", **kw)
    b = sk.solve(sde, x0, (0.0, 1.0), backend="numpy", **kw)
    scale = float(np.max(np.abs(b.ys)))
    err = float(np.max(np.abs(a.ys - b.ys))) / scale
    out.append({"case": name, "err": err, "rtol": rtol, "shape": list(a.ys.shape), "same_shape":
                a.ys.shape == b.ys.shape, "dtype": str(a.ys.dtype), "ref_dtype": str(b.ys.dtype),
                "fused": a.stats.get("device") == "cuda"})

out = []
x2 = np.array([0.8, -0.3])
for method, calculus in (("euler_maruyama", "ito"), ("heun", "stratonovich")):
    for noise, sde in problems(calculus).items():
        for n_steps in (12, 5, 16):  # segments 3 with 4 steps each; 5 one-step segments; one segment of 16
            compare(f"{method}/{noise}/{n_steps}", sde, x2, n_steps=n_steps, n_paths=6, seed=11, method=method,
                    save_at="steps")
gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
compare("float32 gbm", gbm, np.float32(1.0), rtol=2e-6, n_steps=24, n_paths=5, seed=2, dtype="float32")
bm = sk.BrownianPath(4, 2, (0.0, 1.0), seed=5, segments=1, path_offset=7)
compare("brownian= path_offset", problems("ito")["diagonal"], x2, n_steps=32, brownian=bm, save_at=[0.25, 0.5, 1.0])
rot = sk.ODE(lambda t, x: np.stack((x[:, 1], -x[:, 0] - 0.1 * x[:, 1]), -1))
for method in ("euler", "heun", "rk4"):
    compare(f"ode/{method}", rot, x2, n_steps=10, n_paths=3, method=method, save_at="steps")
add = problems("ito")["additive"]
compare("sra/additive", add, x2, n_steps=8, n_paths=4, seed=3, method="sra")
compare("sri/diagonal", problems("ito")["diagonal"], x2, n_steps=6, n_paths=4, seed=3, method="sri")
a_t = np.array([[-1.0, 0.3, 0.1], [0.2, -0.8, 0.0], [0.1, 0.1, -0.5]]).T
mat = sk.SDE(lambda t, x: x @ a_t, lambda t, x: 0.2 * x)
compare("matmul drift d=3", mat, np.array([1.0, 0.5, -0.5]), n_steps=8, n_paths=4, seed=9)

from sdekit.backends.cuda_kernel import generator_floor
from sdekit.brownian import segments_for
floor = generator_floor(5, 24, 2, seed=3, dtype="float64")
w1 = sk.BrownianPath(5, 2, (0.0, 1.0), seed=3, segments=segments_for(24)).value(1.0)
out.append({"case": "generator floor", "err": float(np.max(np.abs(floor.ys[-1] - w1))), "shape": list(floor.ys.shape),
            "timed": floor.extra["kernel_time"] > 0})

boom = sk.SDE(lambda t, x: x * x * 400.0, lambda t, x: 0.1 + 0.0 * x)
errs = []
for backend, device in (("numba", "cuda"), ("numpy", None)):
    try:
        sk.solve(boom, np.array([[0.1], [1.0], [2.0]]), (0.0, 1.0), n_steps=16, seed=1, backend=backend, device=device)
        errs.append(None)
    except NonFiniteError as e:
        errs.append([e.step, str(e)])
out.append({"case": "nonfinite", "errors": errs})
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def simulated():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", CASES], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {c["case"]: c for c in json.loads(proc.stdout.strip().splitlines()[-1])}


def test_simulated_kernel_equals_numpy_on_every_noise_type_for_em_and_heun(simulated):
    cases = [c for k, c in simulated.items() if k.startswith(("euler_maruyama/", "heun/"))]
    assert len(cases) == 2 * 4 * 3
    for c in cases:
        assert c["fused"] and c["same_shape"], c
        assert c["err"] <= c["rtol"], c


def test_simulated_kernel_equals_numpy_on_ode_levy_area_float32_and_given_paths(simulated):
    names = ["float32 gbm", "brownian= path_offset", "ode/euler", "ode/heun", "ode/rk4", "sra/additive",
             "sri/diagonal", "matmul drift d=3"]
    for name in names:
        c = simulated[name]
        assert c["fused"] and c["same_shape"] and c["dtype"] == c["ref_dtype"], c
        assert c["err"] <= c["rtol"], c
    assert simulated["float32 gbm"]["dtype"] == "float32"


def test_simulated_generator_floor_ends_at_the_paths_w1(simulated):
    # benchmarks/gpu.py's RNG floor: the same kernel with the step x <- x + dW must end at W(1) of the same path
    c = simulated["generator floor"]
    assert c["shape"] == [2, 5, 2] and c["timed"], c
    assert c["err"] <= 1e-12, c


def test_simulated_kernel_reports_the_numpy_backends_first_nonfinite_step_and_path(simulated):
    cuda_err, numpy_err = simulated["nonfinite"]["errors"]
    assert numpy_err is not None and cuda_err == numpy_err


# -- in-process: the tracer and the refusals (no kernel runs) -------------------------------------------
def _terms(drift, diffusion, noise="diagonal"):
    from sdekit.backends.base import diagonal_noise, general_noise
    from sdekit.solvers.base import Terms

    return Terms(drift, diffusion, general_noise if noise == "general" else diagonal_noise)


def test_traced_step_reproduces_numpy_on_coupled_functions():
    from sdekit.backends.trace import compile_source, step_source, trace_step
    from sdekit.solvers.heun import stochastic_heun_step

    a = np.array([[0.2, -1.0], [0.5, 0.3]])
    terms = _terms(lambda t, x: np.tanh(x @ a) * np.exp(-t),
                   lambda t, x: np.stack((x[:, 0] * x[:, 1], 1.0 + 0 * x[:, 0]), -1)[:, :, None] * np.ones(3),
                   "general")
    tape = trace_step(stochastic_heun_step, terms, 2, 3, levy_area=False)
    fn = compile_source(step_source(tape, "float64"))
    rng = np.random.default_rng(1)
    x, dw = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    ref = stochastic_heun_step(terms, 0.3, 0.01, x, dw, ())
    got = np.empty_like(x)
    for i in range(5):
        fn(0.3, 0.01, x[i].copy(), dw[i].copy(), np.zeros(3), got[i])
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_traced_float32_step_rounds_where_numpy_rounds():
    from sdekit.backends.trace import compile_source, step_source, trace_step
    from sdekit.solvers.euler_maruyama import euler_maruyama_step

    terms = _terms(lambda t, x: 0.1 * x - t * x * x, lambda t, x: 0.3 * x)
    fn = compile_source(step_source(trace_step(euler_maruyama_step, terms, 1, 1, levy_area=False), "float32"))
    x = np.array([[0.7], [1.3], [-2.1]], dtype=np.float32)
    dw = np.array([[0.05], [-0.2], [0.11]], dtype=np.float32)
    ref = euler_maruyama_step(terms, 0.37, 0.001, x, dw, ())
    assert ref.dtype == np.float32
    for i in range(3):
        got = np.empty(1, dtype=np.float32)
        fn(0.37, 0.001, x[i].copy(), dw[i].copy(), np.zeros(1, np.float32), got)
        assert got[0] == ref[i, 0]  # the same float32 roundings, op by op


@pytest.mark.parametrize("drift, what", [
    (lambda t, x: np.where(x > 0, x, -x), "comparison"),
    (lambda t, x: x * float(x[0, 0]), "float()"),
])
def test_untraceable_functions_are_refused_naming_the_reason(drift, what):
    from sdekit.backends.trace import TraceError, trace_step
    from sdekit.solvers.euler_maruyama import euler_maruyama_step

    with pytest.raises(TraceError, match=what.split("(")[0]):
        trace_step(euler_maruyama_step, _terms(drift, lambda t, x: 0.1 * x), 1, 1, levy_area=False)


def test_without_a_device_the_cuda_solve_is_refused_clearly():
    from numba import cuda

    import sdekit as sk
    from sdekit.errors import BackendError

    if cuda.is_available():
        pytest.skip("a CUDA device (or the simulator) is present")
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    with pytest.raises(BackendError, match="no CUDA device"):
        sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=8, n_paths=4, backend="numba", device="cuda")


def test_auto_backend_with_a_cuda_device_is_the_per_path_kernel():
    from numba import cuda

    import sdekit as sk
    from sdekit.backends import select_backend
    from sdekit.backends.numba_backend import NumbaBackend
    from sdekit.errors import BackendError

    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    assert isinstance(select_backend("auto", gbm, 1.0, work=8, device="cuda:0"), NumbaBackend)
    assert not isinstance(select_backend("auto", gbm, 1.0, work=8), NumbaBackend)  # small CPU solves stay on NumPy
    if cuda.is_available():
        pytest.skip("a CUDA device (or the simulator) is present")
    with pytest.raises(BackendError, match="no CUDA device"):  # the kernel's own refusal, not NumPy's
        sk.solve(gbm, 1.0, (0.0, 1.0), n_steps=8, n_paths=4, device="cuda")


def test_numba_cuda_backend_refuses_a_cpu_device():
    from sdekit.backends.numba_cuda import NumbaCudaBackend
    from sdekit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="CUDA device"):
        NumbaCudaBackend(device="cpu")


# -- PTX for the real target, where libNVVM is installed (numba-cuda[cu12] / [cu13]) ----------------------
def _nvvm_available():
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
        return True
    except Exception:  # noqa: BLE001 - no libNVVM here
        return False


PTX = r'''
import json, types, numpy as np
import numba.cuda.dispatcher as disp
# Device functions compile for the current device's compute capability; there is none here: say sm_90.
disp.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
from numba import cuda
import sdekit as sk
from sdekit.backends import cuda_kernel as ck, trace
from sdekit.backends.numpy_backend import NumpyBackend
from sdekit.solvers import get_solver
sizes = []
for noise, m, dtype in (("diagonal", 2, "float64"), ("general", 3, "float32")):
    sde = sk.SDE(lambda t, x: -x + np.sin(x), (lambda t, x: 0.3 * x) if noise == "diagonal" else
                 (lambda t, x: x[:, :, None] * np.ones(3)), noise=noise, brownian_dim=None if m == 2 else 3,
                 calculus="stratonovich")
    terms = NumpyBackend().make_terms(sde, 1, (2,), m)
    solver = get_solver("heun", is_ode=False)
    src = trace.step_source(trace.trace_step(solver.step, terms, 2, m, levy_area=False), dtype)
    step = cuda.jit(device=True)(trace.compile_source(src))
    ptx, _ = cuda.compile_ptx(*ck.sde_kernel_function(step, 2, m, dtype, 8, 8), cc=(9, 0))
    sizes.append(len(ptx))
rot = sk.ODE(lambda t, x: np.stack((x[:, 1], -x[:, 0]), -1))
src = trace.step_source(trace.trace_step(get_solver("rk4", is_ode=True).step,
                                         NumpyBackend().make_terms(rot, 1, (2,), 0), 2, 0, levy_area=False), "float64")
ptx, _ = cuda.compile_ptx(*ck.ode_kernel_function(cuda.jit(device=True)(trace.compile_source(src)), 2, "float64"),
                          cc=(9, 0))
sizes.append(len(ptx))
print(json.dumps(sizes))
'''


@pytest.mark.slow  # real NVVM compilation: about 10 s on 2 cores
@pytest.mark.skipif(not _nvvm_available(), reason="libNVVM is not installed (pip install 'numba-cuda[cu13]')")
def test_kernels_compile_to_ptx_for_an_sm90_target():
    proc = subprocess.run([sys.executable, "-c", PTX], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    sizes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(s > 1000 for s in sizes), sizes


# -- on a CUDA device (real hardware: NVVM may contract multiply-adds, libdevice rounds log/exp its own way) --
def _device_present():
    try:
        from numba import cuda

        return bool(cuda.is_available()) and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
    except Exception:  # noqa: BLE001 - no driver
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _device_present(), reason="needs a CUDA device")
@pytest.mark.parametrize("method, calculus", [("euler_maruyama", "ito"), ("heun", "stratonovich")])
def test_cuda_kernel_equals_numpy_on_the_device_on_every_noise_type(method, calculus):
    import sdekit as sk

    b = np.array([[0.3, 0.1, -0.2], [0.0, 0.25, 0.15]])
    problems = {
        "diagonal": sk.SDE(lambda t, x: -x * x * x + np.sin(x) + t, lambda t, x: 0.5 * (1.0 + 0.1 * np.cos(x)),
                           calculus=calculus),
        "scalar": sk.SDE(lambda t, x: 0.5 * x - 0.1 * x[:, ::-1], lambda t, x: 0.4 * x, noise="scalar",
                         calculus=calculus),
        "general": sk.SDE(lambda t, x: np.stack((x[:, 1], -x[:, 0]), -1) * 0.7,
                          lambda t, x: x[:, :, None] * b[None] + 0.05, noise="general", brownian_dim=3,
                          calculus=calculus),
        "additive": sk.SDE(lambda t, x: 2.0 * (1.0 - x), lambda t, x: 0.7 + 0.0 * x, additive=True,
                           calculus=calculus),
    }
    for noise, sde in problems.items():
        kw = dict(n_steps=384, n_paths=5000, seed=13, method=method, save_at="steps")  # 3 segments of 128 steps
        got = sk.solve(sde, np.array([0.8, -0.3]), (0.0, 1.0), backend="numba", device="cuda", **kw)
        ref = sk.solve(sde, np.array([0.8, -0.3]), (0.0, 1.0), backend="numpy", **kw)
        assert got.stats["device"] == "cuda"
        err = float(np.max(np.abs(got.ys - ref.ys)) / np.max(np.abs(ref.ys)))
        assert err <= 1e-10, (noise, err)
