"""The GPU block generator (sdekit._brownian_triton) gives the CPU path's words, normals and increments.

Without a GPU the Triton kernels run under Triton's interpreter (``TRITON_INTERPRET=1``,
which must be set before ``triton`` is imported: hence one subprocess for those
checks, on small sizes). Tolerances: words are integers (exact); normals and
increments are float64 sums of the same normals combined in the same order,
rounded once to the path's dtype (1e-13; the interpreter gives 0). Where no GPU
is present the kernels are still compiled to sm_90 machine code (Triton ships its
own ptxas), which checks their types for the real target (marked slow). The ``gpu``-marked
tests run on a CUDA device only.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton", reason="triton is not installed (pip install 'sdekit[triton]')")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CHECKS = r'''
import json
import numpy as np, torch
import sdekit as sk
from sdekit import philox
from sdekit._brownian_triton import TritonBrownianPath, grid_sweep
from sdekit._philox_triton import draw_normals, philox_words
from sdekit._philox_torch import TorchNormalSource

out = {}
seed = 2**40 + 12345
rng = np.random.default_rng(0)
exact = True
for node in (0, 77, (philox.MAX_SEGMENT << 32) | 2**31 + 5, 2**55 + 3):
    path0, n, m = int(rng.integers(0, 2**47)), 5, 300  # components beyond 255 reach counter word c3
    w = philox_words(seed, node, n, m, path0=path0).numpy().astype(np.uint64)
    paths = (np.arange(n, dtype=np.uint64) + np.uint64(path0))[:, None] * np.ones((1, m), np.uint64)
    comps = np.ones((n, 1), np.uint64) * np.arange(m, dtype=np.uint64)[None, :]
    ref = philox.philox4x32(*philox.counter_words(np.full((n, m), node, np.uint64), paths, comps),
                            *philox.key_words(seed))
    exact &= all(np.array_equal(w[i], ref[i]) for i in range(4))
out["words_exact"] = bool(exact)

err = 0.0
for draw in (philox.tree_draw(3, 12, 1), philox.tree_draw(philox.MAX_SEGMENT, 5, 0), philox.aux_draw(7, 2)):
    got = torch.empty((2, 6, 3), dtype=torch.float64)
    draw_normals(got, seed, draw >> 2, draw & 3, 11)
    ref = np.stack([philox.normals(seed, draw + c, np.arange(6) + 11, 3, compiled=False) for c in range(2)])
    err = max(err, float(np.abs(got.numpy() - ref).max()))
src = TorchNormalSource(seed, 9, 2, path_offset=4, kernel="triton")
ref_src = TorchNormalSource(seed, 9, 2, path_offset=4, kernel="torch")
for draw in (1, 2**33 + 6, philox.aux_draw(3, 1)):
    err = max(err, float((src.draw(draw, count=2) - ref_src.draw(draw, count=2)).abs().max()))
out["normals_err"] = err

sweeps = []
for segments, n_steps, levy, dtype, block in ((1, 16, False, "float64", 64), (3, 12, True, "float64", 64),
                                              (5, 40, True, "float32", 2), (1, 64, True, "float64", 8),
                                              (7, 7, True, "float64", 64)):
    a = TritonBrownianPath(6, 2, (0.0, 2.0), seed=seed, backend="torch", segments=segments, path_offset=3,
                           dtype=dtype)
    a.set_kernel("triton")
    b = sk.BrownianPath(6, 2, (0.0, 2.0), seed=seed, backend="torch", segments=segments, path_offset=3, dtype=dtype)
    times = np.linspace(0.0, 2.0, n_steps + 1)
    k = a.aligned_level(list(times))
    got = list(grid_sweep(a, k, levy, block_steps=block))
    ref = list(b.increments(times, levy_area=levy))
    pairs = [(g.dW, r.dW) for g, r in zip(got, ref)] + [(g.H, r.H) for g, r in zip(got, ref)] if levy else \
        list(zip(got, ref))
    e = max(float((g.double() - r.double()).abs().max()) for g, r in pairs)
    via = list(a.increments(times, levy_area=levy))  # the path's own sweep takes the same kernels
    sweeps.append({"case": [segments, n_steps, levy, dtype, block], "err": e, "count": [len(got), len(ref)],
                   "dtype_ok": all((g.dW if levy else g).dtype == (r.dW if levy else r).dtype for g, r in
                                   zip(got, ref)), "via_increments": len(via) == len(ref)})
out["sweeps"] = sweeps

B = np.array([[0.3, 0.1, -0.2], [0.0, 0.25, 0.15]])
problems = {
    "diagonal": dict(drift=lambda t, x: -x * x * x + torch.sin(x),
                     diffusion=lambda t, x: 0.5 * (1.0 + 0.1 * torch.cos(x))),
    "scalar": dict(drift=lambda t, x: 0.5 * x, diffusion=lambda t, x: 0.4 * x, noise="scalar"),
    "general": dict(drift=lambda t, x: -x, diffusion=lambda t, x: x[:, :, None] * torch.tensor(B) + 0.05,
                    noise="general", brownian_dim=3),
    "additive": dict(drift=lambda t, x: 2.0 * (1.0 - x), diffusion=lambda t, x: 0.7 + 0.0 * x, additive=True),
}
solves = []
for method, calculus in (("euler_maruyama", "ito"), ("heun", "stratonovich")):
    for noise, spec in problems.items():
        sde_t = sk.SDE(**spec, calculus=calculus)
        m = spec.get("brownian_dim", 1 if noise == "scalar" else 2)
        x0 = torch.tensor([0.8, -0.3], dtype=torch.float64)
        bm = TritonBrownianPath(5, m, (0.0, 1.0), seed=9, backend="torch", segments=3)
        bm.set_kernel("triton")
        got = sk.solve(sde_t, x0, (0.0, 1.0), n_steps=12, n_paths=5, method=method, brownian=bm, save_at="steps")
        ref_bm = sk.BrownianPath(5, m, (0.0, 1.0), seed=9, backend="torch", segments=3)
        ref = sk.solve(sde_t, x0, (0.0, 1.0), n_steps=12, n_paths=5, method=method, brownian=ref_bm, save_at="steps")
        solves.append({"case": f"{method}/{noise}", "err": float((got.ys - ref.ys).abs().max()),
                       "scale": float(ref.ys.abs().max())})
out["solves"] = solves
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def interpreted():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", CHECKS], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_triton_philox_words_are_bit_identical(interpreted):
    assert interpreted["words_exact"]


def test_triton_normals_equal_the_reference(interpreted):
    assert interpreted["normals_err"] <= 1e-13


def test_triton_grid_sweep_equals_the_cpu_block_filler(interpreted):
    assert len(interpreted["sweeps"]) == 5
    for s in interpreted["sweeps"]:
        assert s["count"][0] == s["count"][1] and s["dtype_ok"] and s["via_increments"], s
        assert s["err"] <= 1e-13, s


def test_torch_solves_on_the_triton_path_equal_the_cpu_path_for_em_and_heun_on_every_noise_type(interpreted):
    assert len(interpreted["solves"]) == 8
    for s in interpreted["solves"]:
        assert s["err"] <= 1e-10 * s["scale"], s


def test_triton_kernel_is_refused_on_the_cpu_without_the_interpreter():
    from sdekit._philox_torch import TorchNormalSource
    from sdekit.errors import InvalidArgumentError

    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("the interpreter is on in this process")
    with pytest.raises(InvalidArgumentError, match="triton"):
        TorchNormalSource(0, 4, 1, kernel="triton")


COMPILE = r'''
import json, triton
from triton.backends.compiler import GPUTarget
from sdekit import _brownian_triton as bt, _philox_triton as pt
sweep = {"cur_ptr": "*fp64", "rw_ptr": "*fp64", "rh_ptr": "*fp64", "stash_ptr": "*i64", "dw_ptr": "*fp32",
         "h_ptr": "*fp32", "width": "fp64", "n_lanes": "i32", "m": "i32", "path0": "i64", "k0": "i64",
         "k1": "i64", "seg": "i32", "k": "i32", "p0": "i32", "steps": "i32", "WRITE_H": "constexpr",
         "BLOCK_SIZE": "constexpr"}
draw = {"out_ptr": "*fp64", "n_lanes": "i32", "m": "i32", "path0": "i64", "node_lo": "i64", "node_hi": "i32",
        "lane": "i32", "k0": "i64", "k1": "i64", "COUNT": "constexpr", "BLOCK_SIZE": "constexpr"}
sizes = []
for fn, sig, const in ((bt._sweep_kernel, sweep, {"WRITE_H": True, "BLOCK_SIZE": 256}),
                       (pt._draw_kernel, draw, {"COUNT": 2, "BLOCK_SIZE": 256})):
    k = triton.compile(triton.compiler.ASTSource(fn=fn, signature=sig, constexprs=const),
                       target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": False})
    sizes.append([len(k.asm["cubin"]), k.asm["ptx"].count("mul.hi.u32"), k.asm["ptx"].count(".local")])
print(json.dumps(sizes))
'''


@pytest.mark.slow  # Triton's compiler and ptxas: about 6 s on 2 cores
def test_triton_kernels_compile_to_sm90_machine_code():
    import triton

    if not hasattr(triton.compiler, "ASTSource"):
        pytest.skip("this Triton has another compile API")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "0"
    proc = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    sweep, draw = json.loads(proc.stdout.strip().splitlines()[-1])
    (sweep_cubin, sweep_mulhi, sweep_local), (draw_cubin, draw_mulhi, _) = sweep, draw
    assert sweep_cubin > 0 and draw_cubin > 0
    assert sweep_mulhi >= 20 and draw_mulhi >= 20  # Philox's 32 x 32 -> 64-bit halves as umulhi: 2 per round
    assert sweep_local == 0  # the walk's state lives in registers and device memory, not in spilled locals


# -- on a CUDA device --------------------------------------------------------------------------------------
@CUDA
@pytest.mark.gpu
def test_cuda_triton_generator_equals_the_cpu_path():
    import sdekit as sk
    from sdekit._brownian_triton import TritonBrownianPath

    times = np.linspace(0.0, 1.0, 1001)  # 125 segments of 8 steps
    gpu = TritonBrownianPath(20_000, 2, (0.0, 1.0), seed=4, backend="torch", device="cuda", segments=125)
    gpu.set_kernel("triton")
    cpu = sk.BrownianPath(20_000, 2, (0.0, 1.0), seed=4, backend="torch", segments=125)
    for g, c in zip(gpu.increments(times, levy_area=True), cpu.increments(times, levy_area=True)):
        np.testing.assert_allclose(g.dW.cpu().numpy(), c.dW.numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(g.H.cpu().numpy(), c.H.numpy(), rtol=0, atol=1e-13)


@CUDA
@pytest.mark.gpu
def test_cuda_solve_with_the_triton_generator_syncs_a_constant_number_of_times():
    import warnings

    import sdekit as sk

    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    counts = []
    for n_steps in (8, 512):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                sol = sk.solve(gbm, torch.ones(1, device="cuda"), (0.0, 1.0), n_steps=n_steps, n_paths=4096)
                torch.cuda.synchronize()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        assert type(sol.brownian).__name__ == "TritonBrownianPath"
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1], counts


@CUDA
@pytest.mark.gpu
def test_cuda_graph_of_the_generator_and_the_step_replays_the_eager_loop():
    from sdekit._brownian_triton import TritonBrownianPath

    times = np.linspace(0.0, 1.0, 65)

    def run():
        bm = TritonBrownianPath(4096, 1, (0.0, 1.0), seed=8, backend="torch", device="cuda", dtype="float32")
        bm.set_kernel("triton")
        x = torch.ones(4096, 1, device="cuda")
        for dw in bm.increments(times):
            x = x + 0.5 * x / 64 + 0.8 * x * dw
        return x

    eager = run()
    run()  # warm up (Triton compiles on first launch, outside the capture)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = run()
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured, eager, rtol=0, atol=0)
