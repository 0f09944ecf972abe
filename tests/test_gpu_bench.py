"""``benchmarks/gpu.py``: its ``--smoke`` run exercises the whole pipeline on the CPU, and without a GPU it refuses.

The smoke run puts the per-path kernel in Numba's CUDA simulator and the Triton
generator in Triton's interpreter (the script switches both on itself), at toy
sizes, so every contender, check and table of the GPU run is executed here; only
the figures need the device.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
pytest.importorskip("torchsde")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def _env():
    return {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "TRITON_INTERPRET")}


def test_smoke_run_executes_every_contender_and_check(tmp_path):
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), "--markdown", str(md)],
                          capture_output=True, text=True, env=_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads(out.read_text())
    assert res["machine"]["smoke"] is True
    assert max(res["checks"]["kernel_vs_numpy_rel_err"].values()) <= 1e-10
    assert len(res["checks"]["kernel_vs_numpy_rel_err"]) == 8  # EM and Heun on four noise types
    if "triton_vs_cpu_abs_err" in res["checks"]:
        assert res["checks"]["triton_vs_cpu_abs_err"] <= 1e-13
    assert [(r["problem"], r["dtype"]) for r in res["results"]] == [("gbm", "float32"), ("dim32", "float64")]
    expected = {"per-path kernel", "per-path kernel, kernel only", "kernel RNG floor", "torch path",
                "torch path generator", "hand loop", "torch.randn alone", "torchsde"}
    for r in res["results"]:
        assert not [k for k, v in r["warmup_s"].items() if isinstance(v, str)], r["warmup_s"]
        assert set(r["rows"]) == expected
        assert all(row["ns_per_path_step"] > 0 for row in r["rows"].values())
    table = md.read_text()
    assert table.startswith("| ns per path-step") and "memory-bandwidth floor" in table
    assert "per-path kernel vs NumPy" in proc.stdout
    if importlib.util.find_spec("triton") is not None:  # the interpreter check runs where Triton is installed
        assert "Triton generator vs CPU path" in proc.stdout and "triton_vs_cpu_abs_err" in res["checks"]


@pytest.fixture(scope="module")
def gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_a_gpu_the_script_refuses_with_a_clear_message(gpu_module, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert gpu_module.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "CUDA" in err and "nothing was measured" in err and "--smoke" in err
    assert not out.exists()


def _case(problem, dtype, paths, per_path_step_ns):
    rows = {name: {"median_s": ns * paths * 1000 * 1e-9, "ns_per_path_step": ns, "steps": 1000}
            for name, ns in per_path_step_ns.items()}
    return {"problem": problem, "dtype": dtype, "paths": paths, "steps": 1000, "rows": rows}


def test_plan_measures_the_acceptance_case_first_and_the_largest_last(gpu_module):
    args = gpu_module.argparse.Namespace(steps=1000, gbm_paths=[10**6, 10**7, 10**8], gbm_paths_f64=[10**6, 10**7],
                                         dim32_paths=[10**6], dim32_paths_f64=[10**6])
    cases = gpu_module.plan(args)
    assert cases[0] == ("gbm", "float32", 10**7, 1000) and cases[-1] == ("gbm", "float32", 10**8, 1000)
    assert len(cases) == len(set(cases)) == 7
    assert {(c[0], c[1]) for c in cases} == {("gbm", "float32"), ("gbm", "float64"), ("dim32", "float32"),
                                             ("dim32", "float64")}


def test_acceptance_ratios_and_the_budget_prediction(gpu_module):
    ns = {"per-path kernel": 0.5, "per-path kernel, kernel only": 0.4, "kernel RNG floor": 0.25, "torch path": 6.0,
          "hand loop": 5.0, "torchsde": 100.0}
    acc = gpu_module.acceptance([_case("gbm", "float32", 10**7, ns)])
    assert acc["torchsde / per-path kernel (>= 10)"] == pytest.approx(200.0)
    assert acc["hand loop / per-path kernel (>= 3)"] == pytest.approx(10.0)
    assert acc["per-path kernel, kernel only / kernel RNG floor (<= 2)"] == pytest.approx(1.6)
    assert acc["torch path / hand loop (<= 1.5)"] == pytest.approx(1.2)
    assert gpu_module.acceptance([_case("gbm", "float32", 10**6, ns)]) is None  # not the acceptance size
    small = _case("gbm", "float32", 10**6,
                  {"hand loop": 5.0, "per-path kernel": 1.0, "per-path kernel, kernel only": 1.0})
    # 10x the paths, 1 timed run and a warm-up, the kernel-only row not counted twice
    assert gpu_module.predicted_s([small], "gbm", "float32", 10**7, 1) == pytest.approx(2 * 10 * 6.0)
    assert gpu_module.predicted_s([small], "gbm", "float64", 10**7, 1) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_a_gpu_the_script_refuses_with_a_clear_message(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], capture_output=True,
                          text=True, env=_env(), timeout=300)
    assert proc.returncode == 2
    assert "CUDA" in proc.stderr and "--smoke" in proc.stderr
    assert not (tmp_path / "x.json").exists()
