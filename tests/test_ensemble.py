"""sk.ensemble: bit-identical for any chunking, thread count, pool or Dask cluster; reductions right.

Sizes are small (a few blocks of 4096 paths); statistical checks use fixed seeds and
tolerances of 4 Monte Carlo standard errors (a false failure about once in 16,000 runs
per check). The full-size (10^7-path) identity check is in benchmarks/ensemble.py.
"""

import math
import os
import signal
import threading
import time

import numpy as np
import pytest
from scipy import stats

import sdekit as sk
from sdekit import blocktree, errors
from sdekit.blocktree import BLOCK_PATHS, TreeMerger, chunk_nodes
from sdekit.ensembles import _slice_rows
from sdekit.reductions import QuantileSketch, mean_of

GBM = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
PROBS = [0.05, 0.25, 0.5, 0.75, 0.95]
EDGES = np.linspace(0.0, 6.0, 13)
FULL = ("mean", "var", "std", "min", "max", ("quantiles", PROBS), ("histogram", EDGES))
N = 3 * BLOCK_PATHS + 1234  # not a multiple of the block: a short last block


def _gbm(n_paths=N, **kw):
    kw.setdefault("reduce", FULL)
    kw.setdefault("backend", "numpy")
    kw.setdefault("n_steps", 16)
    return sk.ensemble(GBM.sde, 1.0, (0.0, 1.0), n_paths=n_paths, seed=11, **kw)


def _same(a, b):
    """Bit-identical results (every reduction, every entry)."""
    assert a.keys() == b.keys()
    for k in a.keys():
        x, y = a[k], b[k]
        if isinstance(x, dict):
            for j in x:
                assert np.array_equal(x[j], y[j], equal_nan=True), (k, j)
        else:
            assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True), k
        if k not in ("min", "max"):
            se_x, se_y = a.stderr(k), b.stderr(k)
            assert np.array_equal(se_x, se_y, equal_nan=True), k
    assert np.array_equal(a.ts, b.ts)


@pytest.fixture(scope="module")
def reference():
    return _gbm(workers=1, chunk_paths=N)  # one chunk, one thread


# -- the merge structure ---------------------------------------------------------------------------
def test_chunk_nodes_are_the_maximal_aligned_nodes():
    for b0, b1 in [(0, 1), (0, 8), (3, 8), (5, 6), (6, 22), (1, 100)]:
        nodes = chunk_nodes(b0, b1)
        starts = [i << lv for lv, i in nodes]
        sizes = [1 << lv for lv, _ in nodes]
        assert starts[0] == b0 and starts[-1] + sizes[-1] == b1
        assert all(s + z == t for s, z, t in zip(starts, sizes, starts[1:]))  # contiguous, in order
        assert len(nodes) <= 2 * math.log2(b1 - b0 + 1) + 1


@pytest.mark.parametrize("n_blk", [1, 2, 7, 13, 64, 100])
def test_tree_is_the_same_for_any_chunking_and_order(n_blk):
    rng = np.random.default_rng(n_blk)

    def tree(chunk):
        nodes = []
        for b0 in range(0, n_blk, chunk):
            part = TreeMerger(lambda a, b: f"({a}+{b})", lo=b0, hi=min(b0 + chunk, n_blk))
            for j in range(b0, min(b0 + chunk, n_blk)):
                part.add(0, j, str(j))
            nodes += part.nodes()
        whole = TreeMerger(lambda a, b: f"({a}+{b})", n_blk)
        for i in rng.permutation(len(nodes)):
            whole.add(*nodes[i])
        return whole.result(), whole

    ref, _ = tree(1)
    for chunk in (2, 3, 5, 64, 1000):
        assert tree(chunk)[0] == ref
    # Memory: blocks added in order leave at most one node per level pending.
    merger = TreeMerger(lambda a, b: a + b, n_blk)
    most = 0
    for j in range(n_blk):
        merger.add(0, j, 1)
        most = max(most, merger.pending())
    assert merger.result() == n_blk and most <= n_blk.bit_length()


def test_tree_rejects_missing_or_repeated_blocks():
    m = TreeMerger(lambda a, b: a + b, 4)
    m.add(0, 0, 1)
    with pytest.raises(errors.InvalidArgumentError):
        m.add(0, 0, 1)
    with pytest.raises(errors.InvalidArgumentError, match="missing"):
        m.result()
    with pytest.raises(errors.InvalidArgumentError):
        m.add(0, 9, 1)


# -- bit identity: chunking, threads, pools ----------------------------------------------------------
@pytest.mark.parametrize("chunk_paths", [1000, 10_000, 2 * BLOCK_PATHS])
def test_bit_identical_across_chunk_paths(reference, chunk_paths):
    res = _gbm(workers=1, chunk_paths=chunk_paths)
    assert res.chunk_paths % BLOCK_PATHS == 0 and res.chunk_paths >= chunk_paths
    assert res.stats["n_chunks"] > 1
    _same(reference, res)


def test_bit_identical_with_two_threads(reference):
    _same(reference, _gbm(workers=2, chunk_paths=1000))


def test_bit_identical_with_a_process_pool(reference):
    _same(reference, _gbm(workers=2, pool="processes", chunk_paths=5000))


def test_numba_bit_identical_for_1_and_2_threads_and_equal_to_one_solve():
    kw = dict(backend="numba", n_steps=16, reduce=("mean", "var", ("quantiles", PROBS), "paths"))
    one = _gbm(threads=1, chunk_paths=1000, **kw)
    two = _gbm(threads=2, chunk_paths=N, **kw)
    _same_values = [np.array_equal(one[k], two[k]) for k in ("mean", "var", "quantiles", "paths")]
    assert all(_same_values)
    assert one.backend == "numba"
    from sdekit.backends.numba_backend import NumbaBackend

    sol = sk.solve(GBM.sde, 1.0, (0.0, 1.0), n_steps=16, n_paths=N, seed=11, backend=NumbaBackend(fused=True))
    assert np.array_equal(one["paths"], sol.ys)


def test_paths_are_the_paths_of_one_big_solve():
    """Chunk [a, b) solved with path_offset=a is rows a..b-1 of the one solve (any save_at, any event)."""
    ou = sk.SDE(lambda t, x: -2.0 * x, lambda t, x: 0.5 + 0.0 * x)  # 2-dimensional diagonal noise
    x0 = np.linspace(-1.0, 1.0, 2 * N).reshape(N, 2)  # one initial state per path: sliced per chunk
    save = [0.25, 0.5, 1.0]
    res = sk.ensemble(ou, x0, (0.0, 1.0), n_paths=N, n_steps=24, save_at=save, seed=5, backend="numpy",
                      reduce=("paths", "mean"), chunk_paths=5000, workers=1)
    sol = sk.solve(ou, x0, (0.0, 1.0), n_steps=24, save_at=save, seed=5, backend="numpy")
    assert np.array_equal(res["paths"], sol.ys)
    assert res["mean"].shape == (3, 2) and np.array_equal(res.ts, sol.ts)


def test_dt_grids_follow_solve():
    res = sk.ensemble(GBM.sde, 1.0, (0.0, 1.0), n_paths=5000, dt=0.03, seed=2, backend="numpy",
                      reduce="paths", chunk_paths=1, workers=1)
    sol = sk.solve(GBM.sde, 1.0, (0.0, 1.0), n_paths=5000, dt=0.03, seed=2, backend="numpy")
    assert np.array_equal(res["paths"], sol.ys)


def test_float32_and_torch_backend_chunk_invariant():
    torch = pytest.importorskip("torch")
    x0 = torch.ones(1, dtype=torch.float32)
    gbm = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
    kw = dict(n_steps=8, reduce=("mean", "var", "paths"), workers=1)
    a = sk.ensemble(gbm, x0, (0.0, 1.0), n_paths=N, seed=3, chunk_paths=1000, **kw)
    b = sk.ensemble(gbm, x0, (0.0, 1.0), n_paths=N, seed=3, chunk_paths=N, **kw)
    assert a.backend == "torch" and a["paths"].dtype == np.float32
    for k in ("mean", "var", "paths"):
        assert np.array_equal(a[k], b[k])
    sol = sk.solve(gbm, x0, (0.0, 1.0), n_steps=8, n_paths=N, seed=3)
    assert np.array_equal(a["paths"], sol.ys.numpy())


# -- reductions against NumPy on the paths --------------------------------------------------------------
def test_builtin_reductions_match_numpy_on_the_paths():
    res = _gbm(reduce=FULL + ("moments", "paths"), chunk_paths=5000)
    x = res["paths"]  # (k, n, 1)
    assert x.shape == (2, N, 1)
    np.testing.assert_allclose(res["mean"], x.mean(axis=1), rtol=1e-13)
    np.testing.assert_allclose(res["var"], x.var(axis=1, ddof=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(res["std"], x.std(axis=1, ddof=1), rtol=1e-12)
    assert np.array_equal(res["min"], x.min(axis=1)) and np.array_equal(res["max"], x.max(axis=1))
    m = res["moments"]
    np.testing.assert_allclose(m["skew"][1], stats.skew(x[1], axis=0), rtol=1e-10)
    np.testing.assert_allclose(m["kurtosis"][1], stats.kurtosis(x[1], axis=0), rtol=1e-10)
    for t in range(2):
        assert np.array_equal(res["histogram"][t, 0], np.histogram(x[t, :, 0], EDGES)[0])
    q = res["quantiles"]  # (5, k, 1)
    exact = np.quantile(x, PROBS, axis=1)
    alpha = QuantileSketch(PROBS).alpha
    assert alpha <= 1e-3
    assert np.all(np.abs(q - exact) <= alpha * np.abs(exact) + 1e-300)
    assert q.shape == (5, 2, 1) and res["histogram"].shape == (2, 1, 12)


def test_quantile_sketch_bound_on_hard_values():
    """Both signs, zeros, subnormals, wide range: every quantile within rel_err of NumPy's."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_cauchy(5000), np.zeros(50), [5e-324, -1e-310, 1e300, -1e300]])
    for rel in (1e-2, 1e-3, 1e-4):
        sk_ = QuantileSketch(np.linspace(0, 1, 41), rel_err=rel)
        ys = x.reshape(1, -1, 1)
        halves = sk_.merge(sk_.map(ys[:, :3000]), sk_.map(ys[:, 3000:]))
        got = sk_.finalize(halves)[:, 0, 0]
        srt = np.sort(x)
        h = np.linspace(0, 1, 41) * (x.size - 1)
        lo, hi = srt[np.floor(h).astype(int)], srt[np.minimum(np.floor(h).astype(int) + 1, x.size - 1)]
        want = np.quantile(x, np.linspace(0, 1, 41))
        bound = sk_.alpha * np.maximum(np.abs(lo), np.abs(hi)) * (1 + 1e-12)
        assert np.all(np.abs(got - want) <= bound)
        assert sk_.alpha <= rel


def test_user_reduction_and_mean_of():
    # A merge that is neither associative nor commutative: its bits depend only on the fixed tree.
    tree = sk.Reduction(map=lambda ys: f"{ys.shape[1]}", merge=lambda a, b: f"({a} {b})", name="tree")
    above = sk.Reduction(map=lambda ys: int((ys[-1] > 2.0).sum()), merge=lambda a, b: a + b,
                         finalize=lambda c: c / N, stderr=lambda c: math.sqrt(c / N * (1 - c / N) / N),
                         name="p_above")
    payoff = mean_of(lambda ys: np.maximum(ys[-1, :, 0] - 1.5, 0.0), "call")
    res = [_gbm(reduce=(tree, above, payoff, "paths"), chunk_paths=c, workers=w)
           for c, w in ((1000, 1), (N, 1), (5000, 2))]
    for r in res[1:]:
        assert r["tree"] == res[0]["tree"] and r["p_above"] == res[0]["p_above"]
        assert r["call"] == res[0]["call"] and r.stderr("call") == res[0].stderr("call")
    b, last = BLOCK_PATHS, N - 3 * BLOCK_PATHS
    assert res[0]["tree"] == f"(({b} {b}) ({b} {last}))"  # 4 blocks: the complete tree, left before right
    x = res[0]["paths"][-1, :, 0]
    assert res[0]["p_above"] == np.mean(x > 2.0)
    np.testing.assert_allclose(res[0]["call"], np.maximum(x - 1.5, 0).mean(), rtol=1e-12)
    np.testing.assert_allclose(res[0].stderr("call"), np.maximum(x - 1.5, 0).std(ddof=1) / math.sqrt(N),
                               rtol=1e-10)


# -- statistics against exact values -------------------------------------------------------------------
def test_gbm_moments_match_the_euler_maruyama_law():
    """EM on GBM is X_n = prod(1 + mu h + sigma dW): E X = (1 + mu h)^n, E X^2 = ((1 + mu h)^2 + sigma^2 h)^n."""
    n_steps, n_paths = 16, 100_000
    res = _gbm(n_paths=n_paths, n_steps=n_steps, reduce=("mean", "var", "std"))
    h, mu, sig = 1.0 / n_steps, 0.5, 0.8
    m1 = (1 + mu * h) ** n_steps
    m2 = ((1 + mu * h) ** 2 + sig * sig * h) ** n_steps
    var = m2 - m1 * m1
    assert abs(res["mean"][-1, 0] - m1) < 4 * res.stderr("mean")[-1, 0]
    assert abs(res["var"][-1, 0] - var) < 4 * res.stderr("var")[-1, 0]
    assert abs(res["std"][-1, 0] - math.sqrt(var)) < 4 * res.stderr("std")[-1, 0]
    assert res["var"][0, 0] == 0.0 and res["mean"][0, 0] == 1.0


def test_quantiles_and_their_stderr_match_the_exact_law():
    """log-GBM (constant coefficients: EM is exact): X_1 ~ N(x0 + (mu - sigma^2/2), sigma^2)."""
    mu, sig, n_paths = 0.5, 0.8, 200_000
    log_gbm = sk.SDE(lambda t, x: (mu - sig * sig / 2) + 0.0 * x, lambda t, x: sig + 0.0 * x, additive=True)
    res = sk.ensemble(log_gbm, 0.0, (0.0, 1.0), n_paths=n_paths, n_steps=4, seed=1, backend="numpy",
                      reduce=("mean", "var", ("quantiles", PROBS)))
    z = stats.norm.ppf(PROBS)
    exact_q = (mu - sig * sig / 2) + sig * z
    q, se = res["quantiles"][:, -1, 0], res.stderr("quantiles")[:, -1, 0]
    exact_se = sig * np.sqrt(np.array(PROBS) * (1 - np.array(PROBS)) / n_paths) / stats.norm.pdf(z)
    np.testing.assert_allclose(se, exact_se, rtol=0.15)  # the stderr estimate itself
    sketch = QuantileSketch(PROBS).alpha * np.abs(exact_q)
    assert np.all(np.abs(q - exact_q) < 4 * exact_se + sketch)
    assert abs(res["mean"][-1, 0] - (mu - sig * sig / 2)) < 4 * res.stderr("mean")[-1, 0]
    assert abs(res["var"][-1, 0] - sig * sig) < 4 * res.stderr("var")[-1, 0]


# -- Dask ------------------------------------------------------------------------------------------------
def _cluster(n_workers):
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=50)


@pytest.fixture(scope="module")
def client2():
    """A LocalCluster of 2 worker processes shared by the tests that do not kill workers."""
    distributed = pytest.importorskip("distributed")
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        yield client


def _check_cluster(reference, client):
    res = _gbm(client=client, chunk_paths=1000)
    assert res.stats["n_chunks"] == 4
    # Each chunk's result is released once merged (the scheduler hears of it asynchronously).
    deadline = time.monotonic() + 10
    while [k for k in client.who_has() if str(k).startswith("sdekit-ensemble")]:
        assert time.monotonic() < deadline, "chunk results still held on the cluster"
        time.sleep(0.05)
    _same(reference, res)


def test_dask_cluster_of_2_bit_identical(reference, client2):
    _check_cluster(reference, client2)


def test_dask_cluster_of_3_bit_identical(reference):
    distributed = pytest.importorskip("distributed")
    with _cluster(3) as cluster, distributed.Client(cluster) as client:
        _check_cluster(reference, client)


def test_dask_killed_worker_gives_the_same_answer():
    """SIGKILL one worker process while it runs a chunk: Dask reruns its tasks; the bits do not change."""
    distributed = pytest.importorskip("distributed")
    kw = dict(n_paths=40 * BLOCK_PATHS, n_steps=64, reduce=("mean", "var", ("quantiles", PROBS)),
              chunk_paths=2 * BLOCK_PATHS)
    ref = _gbm(workers=1, **kw)
    with _cluster(2) as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = {}

        def killer():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                for addr, keys in client.processing().items():
                    if addr in pids and any(str(k).startswith("sdekit-ensemble") for k in keys):
                        os.kill(pids[addr], signal.SIGKILL)
                        killed["addr"], killed["at"] = addr, time.monotonic()
                        return
                time.sleep(0.005)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        res = _gbm(client=client, **kw)
        finished = time.monotonic()
        thread.join(timeout=5)
        assert killed and killed["at"] < finished  # the kill happened while the ensemble ran
        # The nanny restarted the killed worker: a new process.
        client.wait_for_workers(2, timeout=60)
        assert set(client.run(os.getpid).values()) != set(pids.values())
    _same(ref, res)


def test_dask_per_path_x0_and_progress(client2, capsys):
    x0 = np.linspace(0.5, 1.5, N).reshape(N, 1)
    local = sk.ensemble(GBM.sde, x0, (0.0, 1.0), n_paths=N, n_steps=8, backend="numpy", reduce="paths",
                        workers=1)
    res = sk.ensemble(GBM.sde, x0, (0.0, 1.0), n_paths=N, n_steps=8, backend="numpy", reduce="paths",
                      client=client2, chunk_paths=5000, progress=True)
    assert np.array_equal(res["paths"], local["paths"])
    assert f"{N}/{N}" in capsys.readouterr().err


# -- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(n_paths=0), errors.InvalidArgumentError, "n_paths"),
    (dict(n_paths=2.5), errors.InvalidArgumentError, "n_paths"),
    (dict(chunk_paths=0), errors.InvalidArgumentError, "chunk_paths"),
    (dict(reduce="median"), errors.InvalidArgumentError, "reduce"),
    (dict(reduce=()), errors.InvalidArgumentError, "reduce"),
    (dict(reduce="quantiles"), errors.InvalidArgumentError, "reduce"),
    (dict(reduce=("quantiles", [0.5, 1.5])), errors.InvalidArgumentError, "reduce"),
    (dict(reduce=("quantiles", [0.5], 0.0)), errors.InvalidArgumentError, "rel_err"),
    (dict(reduce=("histogram", [1.0, 0.0])), errors.InvalidArgumentError, "reduce"),
    (dict(reduce=("mean", "mean")), errors.InvalidArgumentError, "unique"),
    (dict(client="tcp://127.0.0.1:1"), errors.InvalidArgumentError, "client"),
    (dict(pool="gpu"), errors.InvalidArgumentError, "pool"),
    (dict(workers=0), errors.InvalidArgumentError, "workers"),
    (dict(threads=0), errors.InvalidArgumentError, "threads"),
    (dict(retries=-1), errors.InvalidArgumentError, "retries"),
    (dict(seed=-1), errors.InvalidArgumentError, "seed"),
    (dict(brownian=object()), errors.InvalidArgumentError, "brownian"),
    (dict(n_steps=None), errors.InvalidArgumentError, "n_steps"),
    (dict(method="rk4"), errors.IncompatibleMethodError, "rk4"),
])
def test_bad_inputs_name_the_argument(kwargs, exc, word):
    base = dict(n_paths=100, n_steps=4, backend="numpy")
    base.update(kwargs)
    if base.get("n_steps") is None:
        base.pop("n_steps")
    with pytest.raises(exc, match=word):
        sk.ensemble(GBM.sde, 1.0, (0.0, 1.0), **base)


def test_result_errors():
    res = _gbm(n_paths=100, reduce=("mean", "max"))
    with pytest.raises(KeyError, match="mean"):
        res["median"]
    with pytest.raises(errors.InvalidArgumentError, match="max"):
        res.stderr("max")
    assert "mean" in res and "median" not in res and "EnsembleResult" in repr(res)


def test_mean_of_checks_the_shape():
    bad = mean_of(lambda ys: ys[-1, :3, 0], "bad")
    with pytest.raises(errors.ShapeError, match="bad"):
        _gbm(n_paths=100, reduce=bad)


def test_nonfinite_chunk_names_the_paths():
    boom = sk.SDE(lambda t, x: x * x * 50.0, lambda t, x: 0.0 * x)
    x0 = np.full((N, 1), 0.01)
    x0[5000] = 10.0  # only this path blows up; the one-path probe (path 0) does not
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(errors.NonFiniteError, match=r"paths \[4096, 8192\)"):
            sk.ensemble(boom, x0, (0.0, 1.0), n_paths=N, n_steps=8, backend="numpy", reduce="mean",
                        chunk_paths=1, workers=1)


# -- per-path parameters (args=) ---------------------------------------------------------------------------
def test_slice_rows_of_arrays_and_dicts():
    a = np.arange(10.0)
    d = {"mu": np.arange(10.0), "sigma": np.arange(20.0).reshape(10, 2)}
    assert np.array_equal(_slice_rows(a, 3, 7), a[3:7])
    s = _slice_rows(d, 2, 5)
    assert np.array_equal(s["mu"], d["mu"][2:5]) and s["sigma"].shape == (3, 2)
    assert _slice_rows(None, 0, 1) is None


def test_args_sliced_per_chunk():
    sde = sk.SDE(lambda t, x, args: args["mu"][:, None] * x, lambda t, x, args: 0.2 * x)
    mu = np.linspace(-1.0, 1.0, N)
    res = sk.ensemble(sde, 1.0, (0.0, 1.0), n_paths=N, n_steps=8, args={"mu": mu}, backend="numpy",
                      reduce="paths", chunk_paths=1000, workers=1)
    sol = sk.solve(sde, 1.0, (0.0, 1.0), n_paths=N, n_steps=8, args={"mu": mu}, backend="numpy")
    assert np.array_equal(res["paths"], sol.ys)
    with pytest.raises(errors.ShapeError, match="args"):
        sk.ensemble(sde, 1.0, (0.0, 1.0), n_paths=N, n_steps=8, args={"mu": mu[:5]})


def test_block_size_is_fixed():
    # Part of the merge structure: changing it changes results bit-wise (and must be a conscious change).
    assert blocktree.BLOCK_PATHS == 4096


def test_segments_follow_the_seed_only_solve():
    from sdekit.ensembles import _segments

    class Bare:  # a Brownian path object without a segments attribute
        pass

    for opts, want in (({"n_steps": 96}, 3), ({"dt": 0.03}, 17), ({"n_steps": 64}, 1)):  # 1/0.03 -> 34 steps
        assert _segments(Bare(), (0.0, 1.0), opts) == want
        sol = sk.solve(GBM.sde, 1.0, (0.0, 1.0), n_paths=1, seed=0, **opts)
        assert _segments(sol.brownian, (0.0, 1.0), opts) == want
