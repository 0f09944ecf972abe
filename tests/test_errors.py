"""Every bad input of issue 2, item 6: the named exception type, and a message naming the argument."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sdekit as sk
from sdekit import errors

GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
SPAN = (0.0, 1.0)


def run(**kw):
    args = dict(sde=GBM, x0=1.0, t_span=SPAN, n_steps=4, backend="numpy")
    args.update(kw)
    return sk.solve(args.pop("sde"), args.pop("x0"), args.pop("t_span"), **args)


@pytest.mark.parametrize("x0", [np.nan, np.inf, [1.0, np.nan]])
def test_nonfinite_x0(x0):
    with pytest.raises(errors.InvalidArgumentError, match="x0"):
        run(x0=x0)


@pytest.mark.parametrize("span", [(1.0, 1.0), (1.0, 0.0), (0.0, np.inf), "ab"])
def test_bad_t_span(span):
    with pytest.raises(errors.InvalidArgumentError, match="t_span"):
        run(t_span=span)


@pytest.mark.parametrize("dt", [0.0, -0.1, np.nan])
def test_bad_dt(dt):
    with pytest.raises(errors.InvalidArgumentError, match="dt"):
        run(n_steps=None, dt=dt)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n_steps(n):
    with pytest.raises(errors.InvalidArgumentError, match="n_steps"):
        run(n_steps=n)


def test_both_or_neither_of_dt_and_n_steps():
    with pytest.raises(errors.InvalidArgumentError, match="exactly one of dt or n_steps"):
        run(dt=0.1, n_steps=10)
    with pytest.raises(errors.InvalidArgumentError, match="exactly one of dt or n_steps"):
        run(n_steps=None)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(errors.InvalidArgumentError, match="unknown method 'rk45'.*euler_maruyama.*milstein"):
        run(method="rk45")


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(errors.BackendError, match="unknown backend 'jax'.*numpy.*numba.*torch"):
        run(backend="jax")


def test_wrong_drift_shape():
    bad = sk.SDE(lambda t, x: x[:, :1], lambda t, x: x)
    with pytest.raises(errors.ShapeError, match=r"drift\(t, x\) returned shape \(3, 1\); expected \(3, 2\)"):
        run(sde=bad, x0=np.ones(2), n_paths=3)


def test_wrong_diffusion_shape_general_noise():
    bad = sk.SDE(lambda t, x: x, lambda t, x: x, noise="general", brownian_dim=2)
    with pytest.raises(errors.ShapeError, match=r"diffusion\(t, x\) returned shape \(3, 2\); expected \(3, 2, 2\)"):
        run(sde=bad, x0=np.ones(2), n_paths=3)


def test_save_at_outside_the_span():
    with pytest.raises(errors.InvalidArgumentError, match="save_at must lie inside t_span"):
        run(save_at=[0.5, 1.5])


def test_save_at_not_increasing():
    with pytest.raises(errors.InvalidArgumentError, match="save_at must be strictly increasing"):
        run(save_at=[0.5, 0.2])
    with pytest.raises(errors.InvalidArgumentError, match="save_at"):
        run(save_at="everything")


def test_incompatible_calculus():
    strat = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x, calculus="stratonovich")
    with pytest.raises(errors.IncompatibleMethodError, match="'euler_maruyama' converges to the ito"):
        run(sde=strat, method="euler_maruyama")
    with pytest.raises(errors.IncompatibleMethodError, match="'heun' converges to the stratonovich"):
        run(method="heun")


def test_additive_noise_makes_calculi_coincide():
    add = sk.SDE(lambda t, x: -x, lambda t, x: 0.3 + 0.0 * x, calculus="stratonovich", additive=True)
    assert run(sde=add, method="euler_maruyama").ys.shape == (2, 1, 1)


def test_noise_type_and_kind_checks():
    gen = sk.SDE(lambda t, x: x, lambda t, x: x[:, :, None] * np.ones(2), noise="general", brownian_dim=2)
    with pytest.raises(errors.IncompatibleMethodError, match="milstein.*noise='general'"):
        run(sde=gen, method="milstein")
    with pytest.raises(errors.IncompatibleMethodError, match="'rk4' solves ODEs"):
        run(method="rk4")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_state_mid_solve_names_step_and_time():
    blow = sk.SDE(lambda t, x: x * x * x, lambda t, x: 0.0 * x, additive=True)
    with pytest.raises(errors.NonFiniteError, match=r"step \d+ \(t=") as info:
        run(sde=blow, x0=10.0, n_steps=100)
    assert info.value.step is not None and 0 <= info.value.step < 100
    assert info.value.time == pytest.approx(info.value.step / 100)


def test_x0_paths_mismatch():
    with pytest.raises(errors.ShapeError, match="n_paths"):
        run(x0=np.ones((4, 1)), n_paths=3)


def test_brownian_of_wrong_shape():
    bm = sk.BrownianPath(5, 1, SPAN)
    with pytest.raises(errors.ShapeError, match="brownian"):
        run(n_paths=4, brownian=bm)


def test_sde_argument_checks():
    with pytest.raises(errors.InvalidArgumentError, match="noise"):
        sk.SDE(lambda t, x: x, lambda t, x: x, noise="colored")
    with pytest.raises(errors.InvalidArgumentError, match="calculus"):
        sk.SDE(lambda t, x: x, lambda t, x: x, calculus="levy")
    with pytest.raises(errors.InvalidArgumentError, match="brownian_dim"):
        sk.SDE(lambda t, x: x, lambda t, x: x, noise="general")
    with pytest.raises(errors.InvalidArgumentError, match="drift"):
        sk.SDE(3.0, lambda t, x: x)
    with pytest.raises(errors.InvalidArgumentError, match="sde"):
        run(sde=object())


@settings(max_examples=40, deadline=None)
@given(
    n_steps=st.one_of(st.integers(-5, 0), st.floats(allow_nan=True), st.none()),
    dt=st.one_of(st.none(), st.floats(-1.0, 0.0), st.just(float("nan"))),
)
def test_random_bad_grid_arguments_raise_sdekit_errors(n_steps, dt):
    """Any combination of invalid grid arguments is refused with an SDEKitError, never a crash."""
    if isinstance(n_steps, float) and n_steps.is_integer() and n_steps >= 1:
        return
    with pytest.raises(errors.SDEKitError):
        run(n_steps=n_steps, dt=dt)


@settings(max_examples=30, deadline=None)
@given(t0=st.floats(-10, 10), length=st.floats(1e-3, 5), n=st.integers(1, 40),
       d=st.integers(1, 3), n_paths=st.integers(1, 5))
def test_valid_arguments_give_documented_shapes(t0, length, n, d, n_paths):
    sol = sk.solve(GBM, np.ones(d), (t0, t0 + length), n_steps=n, n_paths=n_paths, save_at="steps",
                   backend="numpy")
    assert sol.ys.shape == (n + 1, n_paths, d)
    assert sol.ts[0] == t0 and sol.ts[-1] == t0 + length
    assert np.all(np.diff(sol.ts) > 0)
    assert sol.stats["n_steps"] == n and sol.stats["nfe"] == 2 * n
