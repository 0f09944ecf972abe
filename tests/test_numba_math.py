"""The Numba backend's vectorisable sin/cos (sdekit.backends.numba_math): accuracy, special values, rewriting."""

import numpy as np
import pytest

numba = pytest.importorskip("numba")

import sdekit as sk  # noqa: E402
from sdekit.backends.numba_math import fast_cos, fast_sin, with_fast_math  # noqa: E402


@numba.njit
def _both(x):
    return fast_sin(x), fast_cos(x)


@numba.njit
def _both_scalar(v):
    return fast_sin(v), fast_cos(v)


def _arguments(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], n)
    return np.concatenate([
        rng.uniform(-4.0, 4.0, n),                       # the common range
        rng.uniform(-1e5, 1e5, n),                       # up to the reduction's limit
        sign * 10.0 ** rng.uniform(-300, 5, n),          # every magnitude
        np.pi / 2 * np.arange(-2000, 2000),              # next to multiples of pi/2 (cancellation)
        np.nextafter(np.pi / 2 * np.arange(-200, 200), np.inf),
        rng.uniform(1e5, 1e12, 2000) * sign[:2000],     # the C library's range (second pass)
    ])


def _ulps(ours, ref):
    # in units of the spacing at the C library's result (a zero result is compared absolutely)
    return np.abs(ours - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))


def test_sin_and_cos_are_within_two_ulp_of_the_c_library():
    x = _arguments()
    s, c = _both(x)
    for ours, ref in ((s, np.sin(x)), (c, np.cos(x))):
        u = _ulps(ours, ref)
        assert u.max() <= 2.0
        assert np.mean(u > 1.0) < 1e-3  # 2 ulp happens only where the result crosses a power of two
        assert np.mean(u == 0.0) > 0.8


def test_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -1e-310, 1e5, -1e5, np.nextafter(1e5, 2e5), 1e300])
    with np.errstate(invalid="ignore"):
        ref_s, ref_c = np.sin(x), np.cos(x)
    s, c = _both(x)
    np.testing.assert_array_equal(np.isnan(s), np.isnan(ref_s))
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref_c))
    assert np.signbit(s[1]) and not np.signbit(s[0])  # sin(-0.0) = -0.0
    assert s[5] == 5e-324 and s[6] == -1e-310  # subnormals: sin x = x
    big = np.abs(x) > 1e5
    np.testing.assert_array_equal(s[big & np.isfinite(x)], ref_s[big & np.isfinite(x)])  # the C library's own
    for v in (0.5, -2.25, 1e6, np.float32(0.3), 3):
        a, b = _both_scalar(v)
        assert abs(a - np.sin(v)) <= 2 * np.spacing(abs(np.sin(v)))
        assert abs(b - np.cos(v)) <= 2 * np.spacing(abs(np.cos(v)))
    assert np.isnan(_both_scalar(np.nan)[0]) and np.isnan(_both_scalar(np.inf)[1])


def test_results_do_not_depend_on_position_length_or_layout():
    # The vector body and the scalar remainder run the same arithmetic: an element's value is its own.
    x = _arguments(2000, seed=1)[:4001]
    s_full, c_full = _both(x)
    for start, length in ((0, 1), (1, 3), (3, 17), (5, 64), (7, 1001)):
        s, c = _both(x[start:start + length])
        np.testing.assert_array_equal(s, s_full[start:start + length])
        np.testing.assert_array_equal(c, c_full[start:start + length])
    m = x[:4000].reshape(40, 100)
    s2, c2 = _both(m[:, ::3])  # 2-D, non-contiguous
    assert s2.shape == (40, 34)
    np.testing.assert_array_equal(s2, s_full[:4000].reshape(40, 100)[:, ::3])
    np.testing.assert_array_equal(c2, c_full[:4000].reshape(40, 100)[:, ::3])


def test_dtypes():
    x32 = np.linspace(-3, 3, 101, dtype=np.float32)
    s, c = _both(x32)
    assert s.dtype == np.float32 and c.dtype == np.float32
    np.testing.assert_allclose(s, np.sin(x32.astype(np.float64)).astype(np.float32), rtol=0, atol=6e-8)
    si, _ = _both(np.arange(-5, 6))
    assert si.dtype == np.float64
    np.testing.assert_allclose(si, np.sin(np.arange(-5, 6)), rtol=1e-15, atol=1e-16)

    @numba.njit
    def complex_sin(z):
        return fast_sin(z)

    z = np.array([1 + 1j, -0.5j])
    np.testing.assert_allclose(complex_sin(z), np.sin(z), rtol=1e-15)  # not ours: NumPy's


def test_with_fast_math_rewrites_globals_and_closures_only_where_they_hold_numpy():
    from numpy import sin as np_sin

    def by_global(t, x):
        return np.sin(x) * np.cos(x)

    def by_name(t, x):
        return np_sin(x)

    def make(m):
        return lambda t, x: m.cos(x) + m.exp(-x)

    def untouched(t, x):
        return x * 2.0

    by_closure = make(np)
    assert with_fast_math(untouched) is untouched
    for fn in (by_global, by_name, by_closure):
        fast = with_fast_math(fn)
        assert fast is not fn and fast.__qualname__ == fn.__qualname__
        x = np.linspace(-2.0, 2.0, 9).reshape(3, 3)
        np.testing.assert_allclose(numba.njit(fast)(0.0, x), fn(0.0, x), rtol=4e-16, atol=1e-16)
        np.testing.assert_array_equal(fast(0.0, x), fn(0.0, x))  # outside Numba: NumPy itself
    assert by_global.__globals__["np"] is np  # the user's globals are not modified


def test_the_numba_backend_matches_numpy_on_a_trigonometric_sde():
    sde = sk.SDE(lambda t, x: -x * x * x + np.sin(x), lambda t, x: 0.5 * (1.0 + 0.1 * np.cos(x)), noise="diagonal")
    x0 = np.linspace(-1.0, 1.0, 32)
    from sdekit.backends.numba_backend import NumbaBackend

    ref = sk.solve(sde, x0, (0.0, 1.0), n_steps=64, n_paths=200, seed=3, backend="numpy")
    for fused in (True, False):  # the fused kernel and the shared loop with compiled functions
        sol = sk.solve(sde, x0, (0.0, 1.0), n_steps=64, n_paths=200, seed=3, backend=NumbaBackend(fused=fused))
        assert sol.stats["fused"] is fused
        np.testing.assert_allclose(sol.ys, ref.ys, rtol=1e-12, atol=1e-14)


def test_the_compiled_loop_is_vectorised():
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not (features.get("sse4.1") or features.get("neon")):  # no vector rounding: LLVM keeps it scalar
        pytest.skip("the host has no vector rint")
    ir = "".join(_both.inspect_llvm().values())
    assert " x double>" in ir
