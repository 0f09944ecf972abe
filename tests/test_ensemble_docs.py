"""docs/ensembles.md: its code blocks run (at small sizes) and say what they claim."""

import pathlib
import re

import numpy as np
import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "ensembles.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _small(code):
    """Small sizes; the cluster binds 127.0.0.1 only (its dashboard too)."""
    return (code.replace("10**8", "20_000").replace("10**9", "20_000").replace("n_workers=8", "n_workers=2")
            .replace("threads_per_worker=1)", 'threads_per_worker=1, host="127.0.0.1", '
                     'dashboard_address="127.0.0.1:0")'))


def test_first_example_runs_with_the_stated_shapes():
    ns = {}
    exec(compile(_small(_blocks()[0]), str(DOC), "exec"), ns)
    res = ns["res"]
    assert res.ts.shape == (2,) and res["mean"].shape == (2, 1) and res["quantiles"].shape == (3, 2, 1)
    assert res.stderr("mean").shape == (2, 1)


def test_local_cluster_example_runs():
    pytest.importorskip("distributed")
    block = next(b for b in _blocks() if "LocalCluster" in b)
    ns = {}
    exec(_blocks()[0].split("res =")[0], ns)  # the first block's set-up: sk and gbm
    exec(compile(_small(block), str(DOC), "exec"), ns)
    assert abs(ns["res"]["mean"][-1, 0] - 100 * np.exp(0.05)) < 5 * ns["res"].stderr("mean")[-1, 0]


def test_option_example_runs_and_is_within_error():
    block = next(b for b in _blocks() if "option_reductions" in b)
    ns = {"sk": __import__("sdekit")}
    exec(compile(_small(block), str(DOC), "exec"), ns)
    from sdekit.ensemble_demo import black_scholes_call

    res = ns["res"]
    assert abs(res["european"] - black_scholes_call(100.0, 100.0, 0.05, 0.2, 1.0)) < 4 * res.stderr("european")


def test_stated_table_matches_the_closed_forms():
    """The 10^8-path table in the docs: European and bridge rows within 3 standard errors of their closed forms."""
    rows = {m.group(1): [float(v) for v in m.groups()[1:]]
            for m in re.finditer(r"^\| (european|barrier \(bridge\)) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+)",
                                 DOC.read_text(), flags=re.M)}
    assert set(rows) == {"european", "barrier (bridge)"}
    for price, se, exact in rows.values():
        assert abs(price - exact) < 3 * se and se < 2e-3
