"""Properties of BrownianPath (DESIGN §2, properties 1-4).

Tolerances: with N independent standard-normal samples, a sample mean has
standard error 1/sqrt(N) and a sample variance of N(0, s2) has standard error
s2 sqrt(2/N); we assert within 5 standard errors (false-failure rate < 1e-6 per
assertion, with fixed seeds these are deterministic anyway).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import sdekit as sk
from sdekit.brownian import LEVELS

N = 20_000  # paths for the statistical tests


@pytest.fixture(scope="module")
def bm():
    return sk.BrownianPath(N, 2, (0.0, 1.0), seed=11)


def test_starts_at_zero_and_shapes(bm):
    assert bm.value(0.0).shape == (N, 2)
    assert np.all(bm.value(0.0) == 0.0)
    assert bm.increment(0.2, 0.5).shape == (N, 2)


def test_additivity_is_exact_to_rounding():
    b = sk.BrownianPath(50, 3, (0.0, 2.0), seed=3)
    a, m, c = 0.123, 0.777, 1.9
    lhs = b.increment(a, m) + b.increment(m, c)
    assert np.allclose(lhs, b.increment(a, c), rtol=0, atol=1e-13)


def test_path_depends_only_on_seed_and_index():
    big = sk.BrownianPath(1000, 2, (0.0, 1.0), seed=5)
    small = sk.BrownianPath(10, 2, (0.0, 1.0), seed=5)
    for t in (0.25, 0.3, 1.0):
        assert np.array_equal(big.value(t)[:10], small.value(t))
    block = sk.BrownianPath(10, 2, (0.0, 1.0), seed=5, path_offset=500)
    assert np.array_equal(big.value(0.3)[500:510], block.value(0.3))
    other = sk.BrownianPath(10, 2, (0.0, 1.0), seed=6)
    assert not np.array_equal(other.value(0.3), small.value(0.3))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_query_order_independence(times, rnd):
    fresh = sk.BrownianPath(4, 2, (0.0, 1.0), seed=9)
    sorted_vals = {t: fresh.value(t) for t in sorted(times)}
    shuffled = list(times)
    rnd.shuffle(shuffled)
    other = sk.BrownianPath(4, 2, (0.0, 1.0), seed=9)
    for t in shuffled:
        assert np.array_equal(other.value(t), sorted_vals[t])


def test_resolution_consistency_in_solve():
    # dX = dW: the state is W itself, so solves on n, 2n, 3n steps of one path must agree
    # exactly at their shared times.
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)
    path = sk.BrownianPath(64, 1, (0.0, 1.0), seed=2)
    sols = [sk.solve(sde, 0.0, (0.0, 1.0), n_steps=k, n_paths=64, brownian=path, save_at="steps",
                     backend="numpy") for k in (8, 16, 24)]
    coarse = sols[0].ys
    assert np.allclose(sols[1].ys[::2], coarse, rtol=0, atol=1e-13)
    assert np.allclose(sols[2].ys[::3], coarse, rtol=0, atol=1e-13)
    assert np.allclose(coarse[-1], path.value(1.0), rtol=0, atol=1e-13)


def test_seed_only_solves_refine_consistently():
    # Without brownian=, n and 2n steps share the path (segments = odd part of n_steps).
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)
    a = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=12, n_paths=16, seed=4, backend="numpy")
    b = sk.solve(sde, 0.0, (0.0, 1.0), n_steps=48, n_paths=16, seed=4, backend="numpy")
    assert np.allclose(a.ys[-1], b.ys[-1], rtol=0, atol=1e-13)


def _check_standard_normal(z):
    z = np.ravel(z)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_increments_on_a_dyadic_grid_are_iid_normal(bm):
    ts = np.linspace(0.0, 1.0, 9)
    inc = np.stack(list(bm.increments(ts)))  # (8, N, 2)
    _check_standard_normal(inc / np.sqrt(1 / 8))
    # Disjoint intervals and different components are uncorrelated.
    flat = inc.reshape(8, -1)
    corr = np.corrcoef(flat)
    off = corr[~np.eye(8, dtype=bool)]
    assert np.max(np.abs(off)) < 5 / np.sqrt(flat.shape[1])
    assert abs(np.corrcoef(inc[3, :, 0], inc[3, :, 1])[0, 1]) < 5 / np.sqrt(N)


def test_off_grid_law_and_covariance(bm):
    # Times that are not dyadic: W(s), W(t) must have variances s, t and covariance min(s, t).
    s, t = 0.3141592, 0.7182818
    ws, wt = bm.value(s)[:, 0], bm.value(t)[:, 0]
    _check_standard_normal(ws / np.sqrt(s))
    _check_standard_normal((wt - ws) / np.sqrt(t - s))
    cov = np.mean(ws * wt)
    assert abs(cov - s) < 5 * np.sqrt((s * t + s * s) / N)  # Var(ws wt) = s t + s^2


def test_bridge_inside_a_leaf_has_the_right_variance():
    # A query strictly inside a leaf interval uses the leaf bridge: check its conditional variance.
    b = sk.BrownianPath(N, 1, (0.0, 1.0), seed=21)
    leaf = 2.0**-LEVELS
    k = 12345
    a, c = k * leaf, (k + 1) * leaf
    t = a + 0.3 * leaf
    resid = b.value(t) - (0.7 * b.value(a) + 0.3 * b.value(c))
    expected_var = leaf * 0.3 * 0.7
    _check_standard_normal(resid / np.sqrt(expected_var))


def test_segments_give_the_same_law():
    b = sk.BrownianPath(N, 1, (1.0, 3.0), seed=8, segments=5)
    _check_standard_normal(b.value(3.0) / np.sqrt(2.0))
    _check_standard_normal(b.increment(1.4, 2.2) / np.sqrt(0.8))
    _check_standard_normal(b.increment(2.05, 2.1) / np.sqrt(0.05))


def _count_draws(b, times, blocks, levy_area=False):
    """Sweep ``times``, recording every Philox draw the path makes (node-by-node or block sweep)."""
    calls = []
    inner = b._source.draw
    b._source.draw = lambda d, n_comp=None, count=1: calls.append((d, count)) or inner(d, n_comp, count)
    if not blocks:
        b._source.block_filler = lambda: None
    out = list(b.increments(times, levy_area=levy_area))
    return calls, out


def test_two_normals_per_step_on_an_aligned_grid():
    n_steps = 3 * 16
    times = np.linspace(0.0, 1.0, n_steps + 1)
    calls, by_node = _count_draws(sk.BrownianPath(3, 1, (0.0, 1.0), seed=1, segments=3), times, blocks=False)
    # one split (a pair of normals) per step: the global root, two skeleton cuts, then 15 splits per segment
    assert len(calls) == n_steps and all(c == 2 for _, c in calls)
    assert len({d for d, _ in calls}) == n_steps  # every split drawn once
    # The block sweep draws the interior of each block itself; only the coarse splits are separate draws.
    calls, by_block = _count_draws(sk.BrownianPath(3, 1, (0.0, 1.0), seed=1, segments=3), times, blocks=True)
    assert len(calls) == 3 + 3 * 1  # root, 2 skeleton cuts; per segment 1 split above the 8-step blocks
    assert np.array_equal(np.stack(by_node), np.stack(by_block))


@pytest.mark.parametrize("n, m, segments, per, offset", [(7, 1, 1, 64, 0), (5, 3, 3, 8, 11), (300, 2, 1, 1024, 0),
                                                         (3, 1, 5, 1, 2), (2, 4, 1, 2, 0), (9, 1, 7, 256, 5)])
def test_block_sweep_equals_the_node_sweep_bit_for_bit(n, m, segments, per, offset):
    steps = segments * per
    times = 0.3 + 1.7 * (np.arange(steps + 1) / steps)
    times[-1] = 2.0
    make = lambda: sk.BrownianPath(n, m, (0.3, 2.0), seed=2**40 + 17, segments=segments, path_offset=offset)
    fast = make()
    assert fast.aligned_level(list(times)) == per.bit_length() - 1
    _, by_node = _count_draws(make(), times, blocks=False, levy_area=True)
    by_block = list(fast.increments(times, levy_area=True))
    assert np.array_equal(np.stack([i.dW for i in by_block]), np.stack([i.dW for i in by_node]))
    assert np.array_equal(np.stack([i.H for i in by_block]), np.stack([i.H for i in by_node]))


def test_block_sweep_statistics_across_paths_steps_and_components():
    # 64 steps x 40,000 paths x 2 components from the compiled block filler: standard normal
    # (moments, KS), uncorrelated between steps, neighbouring paths and components (5 SE bounds).
    n, steps = 40_000, 64
    inc = np.stack(list(sk.BrownianPath(n, 2, (0.0, 1.0), seed=77).increments(np.linspace(0, 1, steps + 1))))
    z = inc * np.sqrt(steps)
    _check_standard_normal(z)
    assert abs(np.mean(z**4) - 3.0) < 5 * np.sqrt(96.0 / z.size)  # Var(z^4) = 105 - 9
    se = 5 / np.sqrt(n * steps)
    assert abs(np.mean(z[1:] * z[:-1])) < 5 / np.sqrt(n * (steps - 1))  # consecutive steps
    assert abs(np.mean(z[:, 1:] * z[:, :-1])) < 5 / np.sqrt((n - 1) * steps * 2)  # neighbouring paths
    assert abs(np.mean(z[..., 0] * z[..., 1])) < se  # components


def test_aux_normals_are_independent_of_w():
    b = sk.BrownianPath(N, 1, (0.0, 1.0), seed=1)
    z = b.aux_normals(3, 0, dim=2)
    assert z.shape == (N, 2)
    _check_standard_normal(z)
    assert abs(np.corrcoef(z[:, 0], b.value(1.0)[:, 0])[0, 1]) < 5 / np.sqrt(N)
    assert not np.array_equal(b.aux_normals(3, 1, dim=2), z)


def test_float32_dtype():
    b = sk.BrownianPath(8, 2, (0.0, 1.0), seed=1, dtype="float32")
    assert b.value(0.5).dtype == np.float32


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_paths=0), "n_paths"),
    (dict(dim=-1), "dim"),
    (dict(t_span=(1.0, 1.0)), "t_span"),
    (dict(seed=-3), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(dtype="int8"), "dtype"),
    (dict(segments=0), "segments"),
])
def test_invalid_arguments(kwargs, word):
    args = dict(n_paths=2, dim=1, t_span=(0.0, 1.0))
    args.update(kwargs)
    with pytest.raises(sk.errors.SDEKitError, match=word):
        sk.BrownianPath(args.pop("n_paths"), args.pop("dim"), args.pop("t_span"), **args)


def test_query_outside_span():
    b = sk.BrownianPath(2, 1, (0.0, 1.0))
    with pytest.raises(sk.errors.InvalidArgumentError, match="outside"):
        b.value(1.5)


# ---- the space-time Lévy area ------------------------------------------------------------------
def test_levy_area_law_and_independence_of_w():
    # H_{s,t} ~ N(0, h/12), independent of W_{s,t}, on tree intervals and off the grid.
    b = sk.BrownianPath(N, 2, (0.0, 2.0), seed=31)
    for s, t in ((0.0, 2.0), (0.5, 1.0), (0.3141, 1.2718), (1.9, 1.95)):
        h = t - s
        H, w = b.space_time_levy_area(s, t), b.increment(s, t)
        _check_standard_normal(H / np.sqrt(h / 12))
        _check_standard_normal(w / np.sqrt(h))
        assert abs(np.corrcoef(H.ravel(), w.ravel())[0, 1]) < 5 / np.sqrt(H.size)
        # H is the area against the chord: E[H (W_u - W_s)] for an interior u matches the bridge covariance
        u = s + 0.25 * h
        cov = np.mean(H * (b.value(u) - b.value(s)))
        # Cov(H, W_u - W_s) = (1/h) int_s^t Cov(W_v - W_s - (v-s)/h w, W_u - W_s) dv = h f (1 - f) / 2 * ... :
        # with f = 1/4: (1/h) int [min(v,u) - s - (v-s)(u-s)/h] dv = h f (1 - f) / 2
        expected = h * 0.25 * 0.75 / 2
        assert abs(cov - expected) < 5 * np.sqrt(h / 12 * h * 0.25 / H.size) + 1e-12


def test_chen_relation_and_resolution_consistency():
    # The coarse interval's (W, H) is exactly what its two halves imply (to rounding), on and off the grid.
    from sdekit._bridge import chen

    b = sk.BrownianPath(200, 3, (0.0, 1.0), seed=5, segments=3)
    for a, m, c in ((0.0, 0.5, 1.0), (0.25, 0.375, 0.5), (0.1, 0.37, 0.9), (0.2, 0.5, 0.7)):
        w1, h1 = b.increment(a, m), b.space_time_levy_area(a, m)
        w2, h2 = b.increment(m, c), b.space_time_levy_area(m, c)
        w, h = chen(w1, h1, w2, h2, m - a, c - m)
        np.testing.assert_allclose(w, b.increment(a, c), rtol=0, atol=1e-13)
        np.testing.assert_allclose(h, b.space_time_levy_area(a, c), rtol=0, atol=1e-13)


def test_levy_area_is_a_pure_function_prefix_stable_and_order_free():
    big = sk.BrownianPath(500, 2, (0.0, 1.0), seed=9, segments=5)
    small = sk.BrownianPath(7, 2, (0.0, 1.0), seed=9, segments=5, path_offset=100)
    for s, t in ((0.6, 0.9), (0.1, 0.3), (0.0, 1.0), (0.123, 0.456)):
        assert np.array_equal(big.space_time_levy_area(s, t)[100:107], small.space_time_levy_area(s, t))
    grid = np.linspace(0.0, 1.0, 41)
    swept = list(sk.BrownianPath(7, 2, (0.0, 1.0), seed=9, segments=5, path_offset=100).increments(grid, levy_area=True))
    for i in (39, 3, 20):
        np.testing.assert_allclose(swept[i].H, small.space_time_levy_area(grid[i], grid[i + 1]), rtol=0, atol=1e-14)


def test_levy_area_on_torch_equals_numpy():
    torch = pytest.importorskip("torch")
    for kernel in ("torch", "numba"):
        tb = sk.BrownianPath(30, 2, (0.0, 1.0), seed=3, backend="torch", segments=3)
        tb.set_kernel(kernel)
        nb = sk.BrownianPath(30, 2, (0.0, 1.0), seed=3, segments=3)
        for s, t in ((0.0, 1.0), (0.1, 0.77), (0.5, 0.625)):
            np.testing.assert_allclose(tb.space_time_levy_area(s, t).numpy(), nb.space_time_levy_area(s, t),
                                       rtol=0, atol=1e-13)
            np.testing.assert_allclose(tb.value(t).numpy(), nb.value(t), rtol=0, atol=1e-13)
        assert isinstance(tb.value(0.3), torch.Tensor)


# ---- one path per seed: W(t1) does not depend on the grid ------------------------------------------
def test_w_at_t1_is_the_same_for_every_grid_and_adaptive_solve():
    sde = sk.SDE(lambda t, x: 0.0 * x, lambda t, x: 1.0 + 0.0 * x, additive=True)  # X = W
    ends = [sk.solve(sde, 0.0, (0.0, 1.0), n_steps=n, n_paths=64, seed=4, backend="numpy").ys[-1]
            for n in (1000, 1001, 1024, 3000)]
    for e in ends[1:]:
        np.testing.assert_allclose(e, ends[0], rtol=0, atol=1e-11)
    ad = sk.solve(sde, 0.0, (0.0, 1.0), n_paths=64, seed=4, method="heun", adaptive=True, backend="numpy")
    np.testing.assert_allclose(ad.ys[-1], ends[0], rtol=0, atol=1e-11)
    for segments in (1, 3, 125, 1001):
        np.testing.assert_allclose(sk.BrownianPath(64, 1, (0.0, 1.0), seed=4, segments=segments).value(1.0), ends[0],
                                   rtol=0, atol=1e-11)


# ---- the counter layout: no aliasing at the boundaries --------------------------------------------
def test_paths_beyond_2_to_the_32_are_new_paths():
    # path 2**32 used to wrap to path 0
    lo = sk.BrownianPath(4, 1, (0.0, 1.0), seed=1).value(0.5)
    hi = sk.BrownianPath(4, 1, (0.0, 1.0), seed=1, path_offset=2**32).value(0.5)
    assert not np.any(lo == hi)
    top = sk.BrownianPath(4, 1, (0.0, 1.0), seed=1, path_offset=2**48 - 4).value(0.5)
    assert np.all(np.isfinite(top)) and not np.any(top == lo)
    with pytest.raises(sk.errors.InvalidArgumentError, match="path"):
        sk.BrownianPath(4, 1, (0.0, 1.0), seed=1, path_offset=2**48 - 3)


def test_aux_normals_beyond_256_are_new_normals():
    # auxiliary index k >= 256 used to repeat k - 256 (and spill into the next step)
    b = sk.BrownianPath(1000, 1, (0.0, 1.0), seed=2)
    z = np.stack([b.aux_normals(0, k) for k in (0, 1, 255, 256, 257, 4096, 65535)])
    z_next = b.aux_normals(1, 0)
    for i in range(z.shape[0]):
        assert not np.array_equal(z[i], z_next)
        for j in range(i):
            assert not np.array_equal(z[i], z[j])
    corr = np.corrcoef(z.reshape(z.shape[0], -1))
    assert np.max(np.abs(corr[~np.eye(z.shape[0], dtype=bool)])) < 5 / np.sqrt(1000)
    with pytest.raises(sk.errors.InvalidArgumentError, match="aux index"):
        b.aux_normals(0, 65536)
    with pytest.raises(sk.errors.InvalidArgumentError, match="aux step"):
        b.aux_normals(2**40, 0)


def test_every_draw_kind_is_distinct():
    from sdekit import philox

    paths = np.arange(64)
    draws = [philox.tree_draw(0, 1, 0), philox.tree_draw(0, 1, 1), philox.tree_draw(1, 1, 0), philox.tree_draw(0, 2, 0),
             philox.tree_draw(philox.MAX_SEGMENT, 0, 0), philox.leaf_draw(0, 1, 0), philox.aux_draw(0, 0),
             philox.aux_draw(0, 4), philox.aux_draw(1, 0), philox.stream_draw(1, 0), philox.stream_draw(2, 0)]
    zs = [philox.normals(7, d, paths, 3) for d in draws]
    assert len({z.tobytes() for z in zs}) == len(draws)
    # components beyond 2**8 and 2**16 are new numbers too (they go to two counter words)
    a = philox.normals(7, draws[0], paths, 1, comp_offset=0)
    for off in (256, 65536, 2**24 - 1):
        assert not np.array_equal(philox.normals(7, draws[0], paths, 1, comp_offset=off), a)
