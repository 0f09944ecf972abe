"""The benchmark suites under ``benchmarks/`` (loaded by path): outputs complete and consistent.

No wall-clock limits: timings are only checked to be positive, finite and
consistent with the ratios and medians derived from them; answers are checked
against exact means within Monte Carlo error.
"""

import doctest
import importlib
import json
import math
import pathlib
import re
import statistics
import sys

import numpy as np
import pytest

from sdekit import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load(name):
    if str(BENCH) not in sys.path:  # the scripts import their neighbours (harness, problems) by name
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


bench = _load("cpu")
harness = _load("harness")
report = _load("report")
peers = _load("peers")
latency = _load("latency")

QUICK_PROBLEMS = ["gbm", "nonlinear32"]  # the two the acceptance targets name; the others' loops are tested below
SOLVER_ROWS = ("sdekit numba", "sdekit numpy", "numpy loop", "torch loop", "torchsde", "torchsde (plain increments)")
NO_JAX_ROWS = [r for r in peers.SDE_ROWS + peers.ODE_ROWS if "diffrax" not in r and "jax" not in r]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    json_path, md_path = out / "results" / "cpu.json", out / "docs" / "benchmarks.md"
    rc = cli.main(["bench", "--quick", "--problems", ",".join(QUICK_PROBLEMS), "--json", str(json_path),
                   "--markdown", str(md_path), "--quiet"])
    assert rc == 0
    return json.loads(json_path.read_text()), md_path.read_text()


# --- the issue 3 suite (benchmarks/cpu.py) ---

def test_json_has_machine_config_problems_and_acceptance(quick_run):
    res, _ = quick_run
    assert {"schema", "suite", "machine", "config", "problems", "acceptance"} <= set(res)
    m = res["machine"]
    for key in ("cpu", "cores", "numba_threads", "torch_threads", "numpy", "numba", "torch", "python", "date",
                "loadavg_start", "loadavg_end", "fused_kernel"):
        assert key in m
    assert m["cores"] >= 1 and m["numba_threads"] >= 1 and m["cpu"]
    assert res["config"]["quick"] is True and res["config"]["full_scale"] is False and res["config"]["reps"] == 3
    assert [p["name"] for p in res["problems"]] == QUICK_PROBLEMS
    for p in res["problems"]:
        assert [r["name"] for r in p["rows"]] == list(bench.ROWS)
        n, k, nt, kt = bench.problem_sizes(bench.PROBLEMS[p["name"]], quick=True)
        assert (p["paths"], p["steps"], p["torchsde_paths"], p["torchsde_steps"]) == (n, k, nt, kt)


def test_timings_positive_finite_and_ratios_consistent(quick_run):
    res, _ = quick_run
    for p in res["problems"]:
        rows = {r["name"]: r for r in p["rows"]}
        for must in ("sdekit numba", "sdekit numpy", "numpy loop", "numpy generator", "torch loop",
                     "torchsde (plain increments)"):
            assert not rows[must].get("missing"), (p["name"], must, rows[must].get("missing"))
        gen = rows["sdekit generator"]
        if gen.get("missing"):  # only acceptable while the fused kernel's module is absent
            assert gen["missing"].startswith(("ImportError", "ModuleNotFoundError", "AttributeError"))
        base = rows["numpy loop"]["ns_per_path_step"]
        for r in p["rows"]:
            if r.get("missing"):
                assert "ns_per_path_step" not in r and r["speed_vs_numpy_loop"] is None
                continue
            ts = r["times_s"]
            assert len(ts) == 3 and all(math.isfinite(t) and t > 0 for t in ts)
            assert r["median_s"] == statistics.median(ts)
            ns = r["median_s"] / (r["paths"] * r["steps"]) * 1e9
            assert r["ns_per_path_step"] == pytest.approx(ns, rel=1e-12)
            assert r["speed_vs_numpy_loop"] == pytest.approx(base / r["ns_per_path_step"], rel=1e-12)
            if not gen.get("missing"):
                assert r["time_vs_sdekit_generator"] == pytest.approx(
                    r["ns_per_path_step"] / gen["ns_per_path_step"], rel=1e-12)
        assert rows["numpy loop"]["speed_vs_numpy_loop"] == 1.0
        ct = rows["sdekit numba"]["compile_time_s"]
        assert math.isfinite(ct) and ct >= 0


def test_every_solver_row_solves_the_same_problem(quick_run):
    """End-state means: GBM near e^0.5 (EM, 16 steps), the odd-symmetric 32-dim problem near 0."""
    res, _ = quick_run
    for p in res["problems"]:
        for r in p["rows"]:
            if r["name"] not in SOLVER_ROWS or r.get("missing"):
                continue
            mean = r["mean_x1"]
            if p["name"] == "gbm":
                assert abs(mean - math.exp(0.5)) < 0.25, (r["name"], mean)
            else:
                assert abs(mean) < 0.1, (r["name"], mean)


def test_acceptance_follows_the_numbers(quick_run):
    res, _ = quick_run
    acc = res["acceptance"]
    assert [a["problem"] for a in acc] == ["gbm", "nonlinear32", "gbm"]
    by_name = {p["name"]: {r["name"]: r for r in p["rows"]} for p in res["problems"]}
    for a in acc:
        value = by_name[a["problem"]]["sdekit numba"].get(a["metric"])
        assert a["value"] == value
        if value is None:
            assert a["passed"] is None
        elif a["metric"] == "speed_vs_numpy_loop":
            assert a["passed"] == (value >= bench.TARGET_SPEEDUP)
        else:
            assert a["passed"] == (value <= bench.TARGET_FLOOR)


def test_markdown_shows_the_tables(quick_run):
    res, md = quick_run
    assert md.startswith("# Benchmarks")
    assert md.count("| row | ns per path-step | speed vs NumPy loop |") == len(QUICK_PROBLEMS)
    assert md.count("| **sdekit numba** |") == len(QUICK_PROBLEMS)
    for p in res["problems"]:
        assert f"#### {p['title']}" in md
        base = next(r for r in p["rows"] if r["name"] == "numpy loop")
        assert f"| numpy loop | {harness.fmt_ns(base['ns_per_path_step'])} | 1.00× |" in md
    assert "### Acceptance (issue 3)" in md and md.count("**PASS**") + md.count("**FAIL**") + md.count(
        "**not measured**") == 3
    assert res["machine"]["cpu"] in md
    assert "benchmarks-torch.md" in md and "make bench" in md and "sdekit bench" in md
    assert "Reduced scale" in md
    # the other suites have no results in this run's folder: the page says how to produce them
    assert md.count("Not run yet") == 2 and "python benchmarks/peers.py" in md


def test_markdown_re_renders_from_json(quick_run, tmp_path, capsys):
    res, md = quick_run
    saved = tmp_path / "cpu.json"
    saved.write_text(json.dumps(res))
    assert bench.main(["--from-json", str(saved), "--markdown", str(tmp_path / "b.md")]) == 0
    again = (tmp_path / "b.md").read_text()
    strip = (lambda text: [line for line in text.splitlines() if "Raw numbers" not in line])
    assert strip(again) == strip(md)
    assert "numpy loop" in capsys.readouterr().out


def test_quick_without_paths_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime for p in (BENCH / "results").glob("*.json")}
    assert bench.main(["--quick", "--problems", "ou", "--rows", "numpy loop,numpy generator", "--quiet"]) == 0
    assert list(tmp_path.iterdir()) == []
    assert {p: p.stat().st_mtime for p in (BENCH / "results").glob("*.json")} == before
    out = capsys.readouterr().out
    assert "numpy loop" in out and "wrote" not in out


@pytest.mark.parametrize("name", ["ou", "gbm32", "gbm"])
def test_hand_loops_match_the_exact_mean(name):
    """The hand-written loops solve the stated problems (cheap; no Numba): E X_1 within tolerance."""
    p = bench.PROBLEMS[name]
    exact = 1.0 - math.exp(-2.0) if p.kind == "ou" else math.exp(0.5)
    outs = [bench._numpy_loop(p)(20_000, 64)]
    torch = pytest.importorskip("torch")
    assert torch
    outs.append(bench._torch_loop(p)(20_000, 64))
    for out in outs:
        assert abs(out["mean"] - exact) < 0.06, (name, out["mean"], exact)


def test_sizes_and_options():
    gbm = bench.PROBLEMS["gbm"]
    assert bench.problem_sizes(gbm) == (10**6, 1000, 10**5, 100)
    assert bench.problem_sizes(gbm, scale=0.1, torchsde_fraction=0.5) == (10**6, 100, 5 * 10**5, 50)
    assert bench.problem_sizes(gbm, scale=0.05) == (10**6, 50, 10**5, 20)
    assert bench.problem_sizes(gbm, paths=100, steps=10, torchsde_fraction=1.0) == (100, 10, 100, 10)
    assert bench.problem_sizes(bench.PROBLEMS["nonlinear32"]) == (10**5, 500, 10**4, 50)
    with pytest.raises(ValueError, match="unknown problem"):
        bench.run_benchmarks(quick=True, problems=["nope"])
    with pytest.raises(ValueError, match="unknown row"):
        bench.run_benchmarks(quick=True, rows=["nope"])


def test_missing_floor_renders_as_not_measured():
    res = {"machine": {"cpu": "X", "fused_kernel": False}, "config": {"reps": 3, "full_scale": True},
           "problems": [{"name": "gbm", "title": "Scalar GBM, float64", "equation": "dX", "paths": 8, "steps": 2,
                         "rows": [{"name": "sdekit numba", "paths": 8, "steps": 2, "median_s": 1.6e-7,
                                   "ns_per_path_step": 10.0, "speed_vs_numpy_loop": 2.5,
                                   "time_vs_sdekit_generator": None},
                                  {"name": "sdekit generator", "paths": 8, "steps": 2, "times_s": [],
                                   "missing": "ImportError: no module"}]}]}
    res["acceptance"] = bench.acceptance(res)
    assert [a["passed"] for a in res["acceptance"]] == [True, None, None]
    md = bench.render_section(res)
    assert "| sdekit generator | missing |" in md and "**not measured**" in md and "first stage" in md
    assert "Reduced scale" not in md
    text = bench.format_table(res)
    assert "missing" in text and "not measured" in text


def test_float32_problem_keeps_float32():
    p = bench.PROBLEMS["gbm32"]
    assert p.x0().dtype == np.float32 and p.dtype == "float32"


def test_plain_increments_drive_torchsde_with_the_right_law():
    """The public-API Brownian object: torchsde's Euler with it gives EM's exact GBM mean within MC error."""
    torch = pytest.importorskip("torch")
    torchsde = pytest.importorskip("torchsde")
    n, k = 20_000, 16
    sde = bench.TorchsdeModule(*bench.FUNCTIONS["gbm"](torch))
    bm = bench.PlainIncrements((n, 1), torch.float64, seed=3)
    with torch.no_grad():
        ys = torchsde.sdeint(sde, torch.ones(n, 1, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64),
                             method="euler", dt=1.0 / k, bm=bm)
    end = ys[-1].numpy()[:, 0]
    exact = (1 + 0.5 / k) ** k
    assert abs(end.mean() - exact) < 5 * end.std() / math.sqrt(n)
    with pytest.raises(NotImplementedError):
        bm(0.5)


# --- the library holds no benchmark code ---

def test_no_benchmark_code_or_targets_in_the_library():
    lib = ROOT / "sdekit"
    assert not (lib / "bench.py").exists()
    for path in lib.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"[Ii]ssue \d+", text), path
        assert "torchsde._brownian" not in text and "TARGET_" not in text, path
    for path in BENCH.glob("*.py"):
        assert "torchsde._" not in path.read_text(), path  # torchsde's public API only


def test_cli_bench_finds_the_suites_and_says_so_when_absent(monkeypatch, capsys):
    assert cli.find_benchmarks() == str(BENCH)
    assert cli.main(["bench", "--help-suites"]) == 0
    assert "peers" in capsys.readouterr().out
    monkeypatch.setattr(cli, "find_benchmarks", lambda: None)
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "benchmarks/" in err and "SDEKIT_BENCHMARKS" in err


@pytest.mark.parametrize("name", ["cpu", "harness", "problems", "report", "peers", "latency", "run"])
def test_docstring_examples(name):
    module = _load(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


# --- shared pieces (benchmarks/harness.py, benchmarks/problems.py) ---

def test_harness_machine_facts_and_timing():
    m = harness.finish_machine_info(harness.machine_info())
    for key in ("cpu", "cores", "python", "numpy", "numba", "sdekit", "date", "loadavg_start", "loadavg_end",
                "numba_threads", "torch_threads"):
        assert key in m
    assert harness.busy({"loadavg_start": [0.2, 0, 0], "loadavg_end": [0.7, 0, 0]})
    assert not harness.busy({"loadavg_start": [0.2, 0, 0], "loadavg_end": [0.4, 0, 0]})
    order = []
    runs = harness.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 3, collect=False)
    assert order == ["a", "b"] * 3 and all(len(r["times_s"]) == 3 for r in runs.values())
    # torch_cpu.py describes its machine with the shared facts (no copy of its own)
    torch_cpu_src = (BENCH / "torch_cpu.py").read_text()
    assert "harness.machine_info()" in torch_cpu_src and "/proc/cpuinfo" not in torch_cpu_src


def test_problem_functions_are_one_text_for_every_library():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(5, 3))
    for kind, fns in _load("problems").FUNCTIONS.items():
        fn, gn = fns(np)
        ft, gt = fns(torch)
        np.testing.assert_allclose(ft(0.0, torch.from_numpy(x)).numpy(), fn(0.0, x), rtol=1e-14)
        np.testing.assert_allclose(gt(0.0, torch.from_numpy(x)).numpy(), gn(0.0, x), rtol=1e-14)


# --- the peers suite (benchmarks/peers.py) ---

def _check_sde_rows(res, size="smoke"):
    for p in res["problems"]:
        n, k = peers.SDE_PROBLEMS[p["name"]].sizes[size]
        assert (p["paths"], p["steps"]) == (n, k)
        ref = next(r for r in p["rows"] if r["name"] == peers.REFERENCE)
        for r in p["rows"]:
            if r.get("missing"):
                assert "ns_per_path_step" not in r and r["vs_sdekit_numba"] is None
                continue
            assert len(r["times_s"]) == res["config"]["reps"] and all(t > 0 for t in r["times_s"])
            assert r["median_s"] == statistics.median(r["times_s"])
            assert r["ns_per_path_step"] == pytest.approx(r["median_s"] / (r["paths"] * r["steps"]) * 1e9)
            assert r["vs_sdekit_numba"] == pytest.approx(r["ns_per_path_step"] / ref["ns_per_path_step"])
            assert r["moments"]["n"] == r["paths"] and len(r["moments"]["mean"]) == p["dim"]
            # the answer: within Monte Carlo error of the exact EM mean / symmetry / sdekit numba
            assert r["checks"] and r["check_passed"], (p["name"], r["name"], r["checks"])
            info = r.get("info") or {}
            if "steps_taken_max" in info:  # diffrax took exactly the grid's steps: no contender computes less
                assert info["steps_taken_min"] == info["steps_taken_max"] == k
        if p["name"] == "gbm":
            assert all("exact EM mean" in r["checks"] for r in p["rows"] if not r.get("missing"))


@pytest.fixture(scope="module")
def peers_without_jax():
    return peers.run_benchmarks(size="smoke", rows=NO_JAX_ROWS)


def test_peers_smoke_without_jax_rows(peers_without_jax):
    res = peers_without_jax
    assert res["suite"] == "peers" and res["config"]["size"] == "smoke"
    assert [p["name"] for p in res["problems"]] == list(peers.SDE_PROBLEMS)
    grids = {r["name"]: r for r in res["grids"]["rows"]}
    assert len(grids) == 4 and all(r["z_exact_em_mean"] < peers.Z_LIMIT for r in grids.values())
    assert grids[f"seed, {peers.GRID_STEPS['smoke'][1]} steps"]["vs_seed_dyadic"] == 1.0
    for p in res["problems"]:
        names = [r["name"] for r in p["rows"]]
        assert names == [r for r in peers.SDE_ROWS if r in NO_JAX_ROWS]
        assert all(not r.get("missing") for r in p["rows"]), [r.get("missing") for r in p["rows"]]
    _check_sde_rows(res)
    ode = res["ode"]
    assert ode["n"] == peers.ODE_SIZES["smoke"] and ode["reference"]["estimated_error"] < 1e-9
    for r in ode["rows"]:
        assert r["err_median"] < 1e-4 and r["n_accepted"] > 10  # rtol 1e-6 on Lorenz over [0, 1]
    numba_row = next(r for r in ode["rows"] if r["name"] == "sdekit numba")
    assert ode["target_error"] == numba_row["err_median"]
    assert numba_row["vs_sdekit_numba_at_equal_error"] == 1.0


def test_peers_render_and_acceptance(peers_without_jax, tmp_path):
    res = peers_without_jax
    acc = res["acceptance"]
    assert len(acc) == 3 * len(res["problems"]) + 2
    assert all(a["passed"] is None for a in acc if a["problem"] != "grids")  # no JAX rows ran
    grid = next(a for a in acc if a["problem"] == "grids")
    assert grid["passed"] == (grid["value"] <= peers.TARGET_GRID_COST)
    md = peers.render_section(res, json_path="x.json")
    assert md.startswith(f"## {peers.TITLE}") and "Reduced sizes" in md
    for p in res["problems"]:
        assert f"### {p['title']}" in md
    assert md.count("| **sdekit numba** |") == len(res["problems"]) + 1 and "### One Brownian path" in md
    assert "**FAIL**" not in md.split("### Contenders")[0].split("### Machine")[1]  # every answer check passed
    json_path = tmp_path / "peers.json"
    harness.write_json(res, json_path)
    page = report.write_page(tmp_path / "b.md", {"peers": res}, {"peers": str(json_path)})
    text = pathlib.Path(page).read_text()
    assert text.count("Not run yet") == 2 and peers.TITLE in text and f"#{report.anchor(peers.TITLE)}" in text
    assert peers.main(["--from-json", str(json_path), "--markdown", str(tmp_path / "c.md")]) == 0
    assert (tmp_path / "c.md").read_text() == text


def test_peers_without_jax_installed_skip_cleanly(monkeypatch):
    for name in ("jax", "diffrax", "lineax"):
        monkeypatch.setitem(sys.modules, name, None)  # "import jax" now raises ImportError
    rows = ["sdekit numpy", "numpy loop", "jax.lax.scan loop", "diffrax UnsafeBrownianPath"]
    res = peers.run_benchmarks(size="smoke", problems=["gbm"], rows=rows)
    rows = {r["name"]: r for r in res["problems"][0]["rows"]}
    for name in ("jax.lax.scan loop", "diffrax UnsafeBrownianPath"):
        assert rows[name]["missing"].startswith(("ImportError", "ModuleNotFoundError")), rows[name]
    assert rows["numpy loop"]["check_passed"] and not rows["sdekit numpy"].get("missing")
    assert res["libraries"]["jax"].startswith("missing")
    assert "not installed here" in peers.render_section(res)


JAX_ROWS = ["sdekit numba", "numpy loop", "jax.lax.scan loop", "diffrax UnsafeBrownianPath",
            "diffrax UnsafeBrownianPath (batched state)", "diffrax VirtualBrownianTree", "diffrax Dopri5 (vmap)",
            "diffrax Tsit5 (batched state)"]


def _check_jax_run(res, sde_rows, ode_rows):
    _check_sde_rows(res)
    for p in res["problems"]:
        rows = {r["name"]: r for r in p["rows"]}
        for name in sde_rows:
            assert not rows[name].get("missing"), (p["name"], name, rows[name].get("missing"))
            if "jax" in name or "diffrax" in name:
                assert rows[name]["compile_s"] > 0  # compiled ahead of time, outside the clock
        acc = [a for a in res["acceptance"] if a["problem"] == p["name"]]
        assert len(acc) == 3
        assert all(a["value"] is not None and a["passed"] == (a["value"] >= a["threshold"]) for a in acc)
    ode = {r["name"]: r for r in res["ode"]["rows"]}
    for name in ode_rows:
        r = ode[name]
        assert not r.get("missing"), (name, r.get("missing"))
        assert r["err_median"] < 1e-4 and r["n_accepted"] > 10  # rtol 1e-6 on Lorenz over [0, 1]


def test_peers_with_jax_and_diffrax():
    """The JAX contenders on GBM and the ODE ensemble (every SDE contender's layout, two ODE configurations)."""
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    res = peers.run_benchmarks(size="smoke", problems=["gbm", "ode"], rows=JAX_ROWS)
    _check_jax_run(res, [r for r in JAX_ROWS if r in peers.SDE_ROWS], [r for r in JAX_ROWS if r in peers.ODE_ROWS])


@pytest.mark.slow
def test_peers_every_contender_on_every_problem():
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    res = peers.run_benchmarks(size="smoke")
    assert [p["name"] for p in res["problems"]] == list(peers.SDE_PROBLEMS)
    _check_jax_run(res, peers.SDE_ROWS, peers.ODE_ROWS)


def test_time_at_equal_error_interpolates_and_refuses_to_extrapolate():
    sweep = [{"median_s": 1.0, "err_median": 1e-5}, {"median_s": 4.0, "err_median": 1e-7}]
    assert peers.time_at_error(sweep, 1e-6) == pytest.approx(2.0)
    assert peers.time_at_error(sweep, 1e-5) == pytest.approx(1.0)
    assert peers.time_at_error(sweep, 1e-8) is None and peers.time_at_error(sweep, 1e-3) is None


def test_z_checks_detect_a_wrong_mean():
    m = peers.moments(np.random.default_rng(0).normal(1.0, 1.0, size=(10_000, 2)))
    assert peers.z_against(m, [1.0, 1.0]) < peers.Z_LIMIT
    assert peers.z_against(m, [1.1, 1.0]) > peers.Z_LIMIT  # 10 standard errors off


# --- the latency measurements (benchmarks/latency.py) ---

def test_latency_children_measure_what_they_say():
    first = latency._run_child("first_solve", case="numpy problem")
    assert first["import_s"] > 0 and first["first_solve_s"] > 0 and first["second_solve_s"] > 0
    assert first["process_wall_s"] >= first["import_s"] + first["first_solve_s"]
    assert isinstance(first["torch_loaded_after_solve"], bool)
    busy = latency._run_child("busy_numpy", reps=2, paths=50, steps=16)
    assert set(busy["times_s"]) <= {"1", "2"} and all(len(v) == 2 for v in busy["times_s"].values())
    neural = latency._run_child("neural", reps=2, numba_first=True, paths=16, steps=4)
    assert neural["numba_first"] and len(neural["times_s"]["sdekit torch"]) == 2 and not neural["missing"]
    res = {"machine": harness.machine_info(), "config": {"reps": 2, "busy": {"paths": 50, "steps": 16},
                                                         "neural": {"paths": 16, "steps": 4, "hidden": 64}},
           "first_solve": [{**first, "case": "numpy problem", "processes": 1}], "import_profile": [],
           "busy_numpy": {latency.AS_FOUND: {**busy, "median_s": latency._median_dict(busy["times_s"])}},
           "neural": {f"{latency.AS_FOUND}, after a Numba kernel": {
               **neural, "median_s": latency._median_dict(neural["times_s"])}}}
    md = latency.render_section(res)
    assert md.startswith(f"## {latency.TITLE}") and "| numpy problem |" in md and f"| {latency.AS_FOUND} |" in md
    assert "A busy machine" in md and "after a Numba kernel" in md


def test_import_profile_lists_sdekit():
    prof = latency._import_profile()
    assert prof and prof[0]["module"] == "sdekit" and prof[0]["cumulative_s"] > 0
