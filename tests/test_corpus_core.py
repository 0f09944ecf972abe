"""The core's bad-input corpus: every case ends in a typed sdekit.errors exception naming the argument, or in a
documented, correct acceptance; none leaks a raw exception, hangs or answers wrongly in silence.

Explicit cases (``CASES``: id, call, exception type, a word the message must contain) cover the core's
public entry points — ``SDE``/``ODE``, ``solve`` (every argument), ``BrownianPath`` and its queries,
``GridIncrements``, ``ensemble``, solver and backend constructors — and user functions that misbehave.
``ACCEPTED`` lists inputs that are valid and checks what they must do. Hypothesis families throw
generated junk at each argument of ``solve``: the outcome is a result or an ``SDEKitError``, never
anything else. Every case runs under a 60-second alarm (a hang fails the case). Cases that could crash
the interpreter if unguarded (huge allocations) would be refused before allocating; they are here too.
"""

import math
import signal
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdekit as sk
from sdekit import errors
from sdekit.errors import (BackendError, IncompatibleMethodError, InvalidArgumentError, NonFiniteError, SDEKitError,
                           ShapeError, StepLimitError)

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")

I, S, B, M, N = InvalidArgumentError, ShapeError, BackendError, IncompatibleMethodError, NonFiniteError
GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
STRAT = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x, calculus="stratonovich")
ADD = sk.SDE(lambda t, x: -x, lambda t, x: 0.3 + 0.0 * x, additive=True)
GEN = sk.SDE(lambda t, x: -x, lambda t, x: 0.1 * x[:, :, None] * np.ones(2), noise="general", brownian_dim=2)
ODE = sk.ODE(lambda t, x: -x)


def run(sde=GBM, x0=1.0, t_span=(0.0, 1.0), **kw):
    kw.setdefault("backend", "numpy")
    if "dt" not in kw and "grid" not in kw:
        kw.setdefault("n_steps", 4)
    return sk.solve(sde, x0, t_span, **kw)


@contextmanager
def deadline(seconds=60):
    def fail(*_):
        raise TimeoutError(f"case took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _bm(**kw):
    args = dict(n_paths=2, dim=1, t_span=(0.0, 1.0))
    args.update(kw)
    return sk.BrownianPath(args.pop("n_paths"), args.pop("dim"), args.pop("t_span"), **args)


def _nan_after(step_time):
    return sk.SDE(lambda t, x: x * (np.nan if t >= step_time else 1.0), lambda t, x: 0.1 * x)


def _shape_changes(t, x):
    return x if t < 0.5 else x[:, :1]


CASES = [
    # ---- problems ---------------------------------------------------------------------------------
    ("SDE drift not callable", lambda: sk.SDE(3.0, lambda t, x: x), I, "drift"),
    ("SDE diffusion not callable", lambda: sk.SDE(lambda t, x: x, "g"), I, "diffusion"),
    ("SDE noise unknown", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="full"), I, "noise"),
    ("SDE calculus unknown", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, calculus="ito2"), I, "calculus"),
    ("SDE general without m", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="general"), I, "brownian_dim"),
    ("SDE m zero", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="general", brownian_dim=0), I,
     "brownian_dim"),
    ("SDE m bool", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="general", brownian_dim=True), I,
     "brownian_dim"),
    ("SDE m float", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="general", brownian_dim=2.5), I,
     "brownian_dim"),
    ("SDE m on diagonal", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, brownian_dim=3), I, "brownian_dim"),
    ("SDE m on scalar", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, noise="scalar", brownian_dim=2), I,
     "brownian_dim"),
    ("SDE additive not bool", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, additive="yes"), I, "additive"),
    ("SDE commutative not bool", lambda: sk.SDE(lambda t, x: x, lambda t, x: x, commutative=1), I, "commutative"),
    ("ODE drift not callable", lambda: sk.ODE(None), I, "drift"),
    ("solve a non-problem", lambda: sk.solve(42, 1.0, (0.0, 1.0), n_steps=4), I, "sde"),
    ("torchsde-style bad noise_type", lambda: sk.solve(type("T", (), dict(f=lambda s, t, y: y, g=lambda s, t, y: y,
                                                                              noise_type="weird", sde_type="ito"))(),
                                                        1.0, (0.0, 1.0), n_steps=4), I, "noise_type"),
    # ---- x0 ----------------------------------------------------------------------------------------
    ("x0 None", lambda: run(x0=None), I, "x0"),
    ("x0 nan", lambda: run(x0=np.nan), I, "x0"),
    ("x0 inf", lambda: run(x0=np.inf), I, "x0"),
    ("x0 nan in array", lambda: run(x0=[1.0, np.nan]), I, "x0"),
    ("x0 complex", lambda: run(x0=1.0 + 2.0j), I, "x0"),
    ("x0 complex array", lambda: run(x0=np.ones(2, dtype=complex)), I, "x0"),
    ("x0 string", lambda: run(x0="1.0"), I, "x0"),
    ("x0 bool", lambda: run(x0=True), I, "x0"),
    ("x0 ragged", lambda: run(x0=[[1.0], [1.0, 2.0]]), I, "x0"),
    ("x0 object", lambda: run(x0=object()), I, "x0"),
    ("x0 empty", lambda: run(x0=np.zeros(0)), S, "x0"),
    ("x0 paths vs n_paths", lambda: run(x0=np.ones((4, 1)), n_paths=3), S, "n_paths"),
    ("x0 (n, 0)", lambda: run(x0=np.ones((3, 0))), S, "x0"),
    ("x0 dict", lambda: run(x0={"a": 1.0}), I, "x0"),
    # ---- t_span ------------------------------------------------------------------------------------
    ("t_span string", lambda: run(t_span="01"), I, "t_span"),
    ("t_span equal", lambda: run(t_span=(1.0, 1.0)), I, "t_span"),
    ("t_span reversed", lambda: run(t_span=(1.0, 0.0)), I, "t_span"),
    ("t_span inf", lambda: run(t_span=(0.0, np.inf)), I, "t_span"),
    ("t_span nan", lambda: run(t_span=(np.nan, 1.0)), I, "t_span"),
    ("t_span three", lambda: run(t_span=(0.0, 0.5, 1.0)), I, "t_span"),
    ("t_span scalar", lambda: run(t_span=1.0), I, "t_span"),
    ("t_span bools", lambda: run(t_span=(False, True)), I, "t_span"),
    ("t_span complex", lambda: run(t_span=(0.0, 1.0 + 0j)), I, "t_span"),
    ("t_span None", lambda: run(t_span=None), I, "t_span"),
    ("t_span below resolution", lambda: run(t_span=(1e16, 1e16 + 2.0), n_steps=8), I, "coincide"),
    ("t_span 2^51 + 1", lambda: run(t_span=(2.0**51, 2.0**51 + 1), n_steps=4), I, "coincide"),
    # ---- dt / n_steps / grid ------------------------------------------------------------------------
    ("dt zero", lambda: run(n_steps=None, dt=0.0), I, "dt"),
    ("dt negative", lambda: run(n_steps=None, dt=-0.1), I, "dt"),
    ("dt nan", lambda: run(n_steps=None, dt=np.nan), I, "dt"),
    ("dt string", lambda: run(n_steps=None, dt="0.1"), I, "dt"),
    ("dt bool", lambda: run(n_steps=None, dt=True), I, "dt"),
    ("dt tiny", lambda: run(n_steps=None, dt=1e-300), I, "dt"),
    ("both dt and n_steps", lambda: run(dt=0.1, n_steps=10), I, "exactly one of dt or n_steps"),
    ("neither dt nor n_steps", lambda: run(n_steps=None), I, "exactly one of dt or n_steps"),
    ("n_steps zero", lambda: run(n_steps=0), I, "n_steps"),
    ("n_steps negative", lambda: run(n_steps=-3), I, "n_steps"),
    ("n_steps float", lambda: run(n_steps=2.5), I, "n_steps"),
    ("n_steps float integral", lambda: run(n_steps=4.0), I, "n_steps"),
    ("n_steps bool", lambda: run(n_steps=True), I, "n_steps"),
    ("n_steps string", lambda: run(n_steps="4"), I, "n_steps"),
    ("n_steps 10^12", lambda: run(n_steps=10**12), I, "n_steps"),
    ("n_steps 2^40", lambda: run(n_steps=2**40), I, "n_steps"),
    ("grid not increasing", lambda: run(n_steps=None, grid=[0.0, 0.6, 0.5, 1.0]), I, "grid"),
    ("grid wrong ends", lambda: run(n_steps=None, grid=[0.1, 0.5, 1.0]), I, "grid"),
    ("grid with n_steps", lambda: run(grid=[0.0, 1.0], n_steps=4), I, "grid"),
    ("grid one time", lambda: run(n_steps=None, grid=[0.0]), I, "grid"),
    ("grid nan", lambda: run(n_steps=None, grid=[0.0, np.nan, 1.0]), I, "grid"),
    ("grid strings", lambda: run(n_steps=None, grid=["a", "b"]), I, "grid"),
    # ---- n_paths, seed -----------------------------------------------------------------------------------
    ("n_paths zero", lambda: run(n_paths=0), I, "n_paths"),
    ("n_paths float", lambda: run(n_paths=2.5), I, "n_paths"),
    ("n_paths bool", lambda: run(n_paths=True), I, "n_paths"),
    ("n_paths string", lambda: run(n_paths="10"), I, "n_paths"),
    ("n_paths 10^12", lambda: run(n_paths=10**12), I, "saved states"),
    ("n_paths beyond the counter", lambda: run(n_paths=2**49, save_at=[1.0]), I, "saved states"),
    ("seed negative", lambda: run(seed=-1), I, "seed"),
    ("seed float", lambda: run(seed=1.5), I, "seed"),
    ("seed bool", lambda: run(seed=True), I, "seed"),
    ("seed 2^64", lambda: run(seed=2**64), I, "seed"),
    ("seed string", lambda: run(seed="0"), I, "seed"),
    # ---- save_at --------------------------------------------------------------------------------------
    ("save_at outside", lambda: run(save_at=[0.5, 1.5]), I, "save_at must lie inside t_span"),
    ("save_at decreasing", lambda: run(save_at=[0.5, 0.2]), I, "save_at must be strictly increasing"),
    ("save_at repeated", lambda: run(save_at=[0.5, 0.5]), I, "save_at must be strictly increasing"),
    ("save_at merge 1e-15", lambda: run(save_at=[0.5, 0.5 + 1e-17]), I, "save_at"),
    ("save_at unknown string", lambda: run(save_at="everything"), I, "save_at"),
    ("save_at True", lambda: run(save_at=True), I, "save_at"),
    ("save_at bool array", lambda: run(save_at=np.array([True, False])), I, "save_at"),
    ("save_at empty", lambda: run(save_at=[]), I, "save_at"),
    ("save_at nan", lambda: run(save_at=[np.nan]), I, "save_at"),
    ("save_at strings", lambda: run(save_at=["a"]), I, "save_at"),
    ("save_at steps too big", lambda: run(n_steps=10**4, n_paths=10**6, save_at="steps", x0=np.ones(100)), I,
     "saved states"),
    # ---- method --------------------------------------------------------------------------------------
    ("method unknown", lambda: run(method="rk45"), I, "unknown method 'rk45'"),
    ("method not a string", lambda: run(method=3), I, "method"),
    ("method option unknown", lambda: run(method="milstein", foo=1), I, "foo"),
    ("method option torchsde adjoint", lambda: run(method="euler_maruyama", adjoint_method="x"), I,
     "adjoint_method"),
    ("method option torchsde names", lambda: run(method="heun", sde=STRAT, names={"f": "drift"}), I, "names"),
    ("method option levy approx", lambda: run(method="sri", levy_area_approximation="space-time"), I,
     "levy_area_approximation"),
    ("options with instance", lambda: run(method=sk.solvers.EulerMaruyama(), gdg=None), I, "instance"),
    ("milstein gdg not callable", lambda: run(method="milstein", gdg=3), I, "gdg"),
    ("ode method on sde", lambda: run(method="rk4"), M, "solves ODEs"),
    ("heun on ito multiplicative", lambda: run(method="heun"), M, "stratonovich"),
    ("em on stratonovich", lambda: run(sde=STRAT, method="euler_maruyama"), M, "ito"),
    ("milstein non-commutative", lambda: run(sde=GEN, x0=np.ones(2), method="milstein"), M, "noise='general'"),
    ("sri on general", lambda: run(sde=GEN, x0=np.ones(2), method="sri"), M, "noise"),
    ("sra on multiplicative", lambda: run(method="sra"), M, "additive"),
    ("milstein coupled diagonal", lambda: run(sde=sk.SDE(lambda t, x: 0 * x, lambda t, x: x[:, ::-1] + 0.0),
                                              x0=np.ones(2), method="milstein"), M, "depends on x_"),
    ("sri coupled diagonal", lambda: run(sde=sk.SDE(lambda t, x: 0 * x, lambda t, x: x[:, ::-1] + 0.0),
                                         x0=np.ones(2), method="sri"), M, "depends on x_"),
    ("implicit theta > 1", lambda: run(method="implicit_em", theta=2.0), I, "theta"),
    ("implicit theta nan", lambda: run(method="implicit_em", theta=np.nan), I, "theta"),
    ("implicit max_iter 0", lambda: run(method="implicit_em", max_iter=0), I, "max_iter"),
    ("pc corrector not callable", lambda: run(method="pc", corrector=3), I, "corrector"),
    # ---- adaptive ----------------------------------------------------------------------------------------
    ("adaptive no estimate", lambda: run(method="milstein", adaptive=True), M, "error estimate"),
    ("adaptive string", lambda: run(adaptive="yes"), I, "adaptive"),
    ("adaptive int", lambda: run(adaptive=1), I, "adaptive"),
    ("rtol without adaptive", lambda: run(rtol=1e-3), I, "adaptive=True"),
    ("rtol negative", lambda: run(method="sri", adaptive=True, rtol=-1e-3), I, "rtol"),
    ("atol nan", lambda: run(method="sri", adaptive=True, atol=np.nan), I, "atol"),
    ("rtol and atol zero", lambda: run(method="sri", adaptive=True, rtol=0.0, atol=0.0), I, "cannot both be 0"),
    ("max_steps float", lambda: run(method="sri", adaptive=True, max_steps=10.5), I, "max_steps"),
    ("adaptive steps grid", lambda: run(method="sri", adaptive=True, save_at="steps"), I, "save_at"),
    ("adaptive both dt n_steps", lambda: run(method="sri", adaptive=True, dt=0.1, n_steps=4), I, "dt"),
    ("adaptive step limit", lambda: run(method="sri", adaptive=True, max_steps=2, n_steps=None), StepLimitError,
     "max_steps"),
    ("adaptive corrector normals", lambda: run(method=sk.solvers.PredictorCorrector(
        corrector=type("C", (), dict(n_aux=1, nfe=1, __call__=lambda s, *a: a[3].x_pred))()), adaptive=True), M,
        "error estimate"),
    ("dopri5 tolerance string", lambda: run(sde=ODE, method="dopri5", rtol="1e-3"), I, "rtol"),
    ("ode unreachable tolerance", lambda: run(sde=sk.ODE(lambda t, x: 1.0 / (1.0 - t) ** 3 + 0.0 * x),
                                              method="dopri5", rtol=1e-14, atol=1e-16, max_steps=200), StepLimitError,
     "max_steps"),
    # ---- backend, dtype, device, progress -----------------------------------------------------------------
    ("backend unknown", lambda: run(backend="jax"), B, "unknown backend 'jax'"),
    ("backend not a string", lambda: run(backend=3), B, "backend"),
    ("dtype unknown", lambda: run(dtype="int8"), I, "dtype"),
    ("dtype float16", lambda: run(dtype="float16"), I, "dtype"),
    ("device on numpy", lambda: run(device="cuda"), B, "device"),
    ("progress string", lambda: run(progress="no"), I, "progress"),
    ("progress int", lambda: run(progress=1), I, "progress"),
    ("numba with torchsde module", lambda: sk.solve(type("T", (), dict(f=lambda s, t, y: y, g=lambda s, t, y: y,
                                                                           noise_type="diagonal", sde_type="ito"))(),
                                                    1.0, (0.0, 1.0), n_steps=4, backend="numba"), B, "torchsde"),
    # ---- brownian= ----------------------------------------------------------------------------------------
    ("brownian wrong paths", lambda: run(n_paths=3, brownian=_bm(n_paths=2)), S, "n_paths"),
    ("brownian wrong dim", lambda: run(x0=np.ones(2), n_paths=2, brownian=_bm(dim=1)), S, "dim"),
    ("brownian short span", lambda: run(n_paths=2, brownian=_bm(t_span=(0.0, 0.5))), I, "does not cover"),
    ("brownian not a path", lambda: run(brownian=3.0), I, "brownian"),
    ("brownian a dict", lambda: run(brownian={"n_paths": 1}), I, "brownian"),
    ("brownian no levy area", lambda: run(method="sri", brownian=type("W", (), dict(
        n_paths=1, dim=1, t0=0.0, t1=1.0, increment=lambda s, a, b: np.zeros((1, 1))))()), I, "Lévy area"),
    ("brownian no aux", lambda: run(method=sk.solvers.PredictorCorrector(
        corrector=type("C", (), dict(n_aux=1, nfe=1, __call__=lambda s, *a: a[3].x_pred))()),
        brownian=type("W", (), dict(n_paths=1, dim=1, t0=0.0, t1=1.0,
                                    increment=lambda s, a, b: np.zeros((1, 1))))()), I, "auxiliary"),
    # ---- user functions that misbehave ----------------------------------------------------------------------
    ("drift wrong shape", lambda: run(sde=sk.SDE(lambda t, x: x[:, :1], lambda t, x: x), x0=np.ones(2), n_paths=3),
     S, "drift(t, x) returned shape (3, 1); expected (3, 2)"),
    ("diffusion wrong shape general", lambda: run(sde=sk.SDE(lambda t, x: x, lambda t, x: x, noise="general",
                                                             brownian_dim=2), x0=np.ones(2), n_paths=3), S,
     "diffusion(t, x) returned shape (3, 2); expected (3, 2, 2)"),
    ("drift changes shape later", lambda: run(sde=sk.SDE(_shape_changes, lambda t, x: 0 * x), x0=np.ones(2),
                                              n_steps=8), S, "drift"),
    ("drift returns a list", lambda: run(sde=sk.SDE(lambda t, x: x.tolist(), lambda t, x: x)), S, "array"),
    ("drift returns a scalar", lambda: run(sde=sk.SDE(lambda t, x: 1.0, lambda t, x: x)), S, "drift"),
    ("drift returns None", lambda: run(sde=sk.SDE(lambda t, x: None, lambda t, x: x)), S, "drift"),
    ("state blows up", lambda: run(sde=sk.SDE(lambda t, x: x * x * x, lambda t, x: 0.0 * x, additive=True), x0=10.0,
                                   n_steps=100), N, "step"),
    ("nan drift mid-solve", lambda: run(sde=_nan_after(0.5), n_steps=8), N, "t=0.5"),
    ("ode blows up", lambda: run(sde=sk.ODE(lambda t, x: x * x), x0=10.0, n_steps=50, method="rk4"), N, "step"),
    # ---- BrownianPath ----------------------------------------------------------------------------------------
    ("bm n_paths 0", lambda: _bm(n_paths=0), I, "n_paths"),
    ("bm n_paths float", lambda: _bm(n_paths=2.0), I, "n_paths"),
    ("bm dim -1", lambda: _bm(dim=-1), I, "dim"),
    ("bm dim beyond the counter", lambda: _bm(dim=2**24 + 1), I, "dim"),
    ("bm t_span equal", lambda: _bm(t_span=(1.0, 1.0)), I, "t_span"),
    ("bm t_span string", lambda: _bm(t_span="01"), I, "t_span"),
    ("bm seed float", lambda: _bm(seed=1.5), I, "seed"),
    ("bm seed negative", lambda: _bm(seed=-3), I, "seed"),
    ("bm dtype", lambda: _bm(dtype="int8"), I, "dtype"),
    ("bm segments 0", lambda: _bm(segments=0), I, "segments"),
    ("bm segments huge", lambda: _bm(segments=2**22), I, "segments"),
    ("bm path_offset negative", lambda: _bm(path_offset=-1), I, "path_offset"),
    ("bm path_offset float", lambda: _bm(path_offset=1.5), I, "path_offset"),
    ("bm paths beyond 2^48", lambda: _bm(path_offset=2**48 - 1), I, "path"),
    ("bm backend", lambda: _bm(backend="jax"), B, "backend"),
    ("bm value outside", lambda: _bm().value(1.5), I, "outside"),
    ("bm value string", lambda: _bm().value("a"), I, "t"),
    ("bm value nan", lambda: _bm().value(np.nan), I, "outside"),
    ("bm increment outside", lambda: _bm().increment(-0.5, 0.5), I, "outside"),
    ("bm area s >= t", lambda: _bm().space_time_levy_area(0.5, 0.5), I, "s < t"),
    ("bm area reversed", lambda: _bm().space_time_levy_area(0.7, 0.2), I, "s < t"),
    ("bm aux index 2^16", lambda: _bm().aux_normals(0, 2**16), I, "aux index"),
    ("bm aux step 2^40", lambda: _bm().aux_normals(2**40, 0), I, "aux step"),
    ("bm aux dim 0", lambda: _bm().aux_normals(0, 0, dim=0), I, "dim"),
    ("bm path index", lambda: _bm().path(5), I, "path"),
    ("bm kernel on numpy", lambda: _bm().set_kernel("torch"), I, "kernel"),
    ("bm sweep outside", lambda: list(_bm().increments([0.0, 2.0])), I, "outside"),
    # ---- GridIncrements ----------------------------------------------------------------------------------------
    ("grid increments bad times", lambda: sk.noise.GridIncrements([0.0, 0.0], np.zeros((1, 1, 1))), I, "times"),
    ("grid increments bad dw", lambda: sk.noise.GridIncrements([0.0, 1.0], np.zeros((2, 1, 1))), S, "dw"),
    ("grid increments bad H", lambda: sk.noise.GridIncrements([0.0, 1.0], np.zeros((1, 1, 1)), H=np.zeros((1, 2, 1))),
     S, "H"),
    ("grid increments off-grid solve", lambda: run(n_paths=1, n_steps=3, brownian=sk.noise.GridIncrements(
        [0.0, 0.5, 1.0], np.zeros((2, 1, 1)))), I, "grid"),
    # ---- backend constructors -----------------------------------------------------------------------------------
    ("numba fused string", lambda: sk.backends.numba_backend.NumbaBackend(fused="yes"), I, "fused"),
    ("numba chunk 0", lambda: sk.backends.numba_backend.NumbaBackend(chunk=0), I, "chunk"),
    # ---- per-path args --------------------------------------------------------------------------------------------
    ("args wrong rows", lambda: run(sde=sk.SDE(lambda t, x, a: a * x, lambda t, x, a: 0 * x), n_paths=4,
                                    args=np.ones((3, 1))), S, "args"),
    ("args strings", lambda: run(sde=sk.SDE(lambda t, x, a: x, lambda t, x, a: 0 * x), n_paths=2,
                                 args=np.array(["a", "b"])), I, "args"),
    ("args dict bad entry", lambda: run(sde=sk.SDE(lambda t, x, a: x, lambda t, x, a: 0 * x), n_paths=2,
                                        args={"k": np.ones(5)}), S, "args['k']"),
    # ---- ensemble --------------------------------------------------------------------------------------------------
    ("ensemble n_paths float", lambda: sk.ensemble(GBM, 1.0, (0.0, 1.0), n_paths=10.5, n_steps=4), I, "n_paths"),
    ("ensemble unknown reduction", lambda: sk.ensemble(GBM, 1.0, (0.0, 1.0), n_paths=10, n_steps=4, reduce="median"),
     I, "reduce"),
    ("ensemble brownian given", lambda: sk.ensemble(GBM, 1.0, (0.0, 1.0), n_paths=10, n_steps=4,
                                                    brownian=_bm(n_paths=10)), I, "brownian"),
    ("ensemble chunk 0", lambda: sk.ensemble(GBM, 1.0, (0.0, 1.0), n_paths=10, n_steps=4, chunk_paths=0), I,
     "chunk_paths"),
]


@pytest.mark.parametrize("name, call, exc, word", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_typed_error_naming_it(name, call, exc, word):
    with deadline():
        with pytest.raises(exc) as info:
            call()
    assert isinstance(info.value, SDEKitError), type(info.value)
    assert word in str(info.value), (word, str(info.value))


# ---- documented acceptances: valid inputs that must do something precise ------------------------------------
def _accept_integer_x0():
    sol = run(x0=np.array([1, 2]), n_paths=3)
    assert sol.ys.dtype == np.float64 and sol.ys.shape == (2, 3, 2)


def _accept_float32():
    assert run(x0=np.float32(1.0)).ys.dtype == np.float32


def _accept_numpy_int_counts():
    assert run(n_steps=np.int64(4), n_paths=np.int32(3), seed=np.uint64(5)).ys.shape == (2, 3, 1)


def _accept_brownian_sets_n_paths():
    assert run(brownian=_bm(n_paths=50)).ys.shape == (2, 50, 1)


def _accept_brownian_other_dtype():
    bm = _bm(n_paths=3, dtype="float32")
    assert run(brownian=bm).ys.dtype == np.float64  # the path's dtype does not move the state's


def _accept_auto_method_stratonovich():
    assert run(sde=STRAT).method == "heun"


def _accept_auto_method_ode():
    assert run(sde=ODE).method == "euler"


def _accept_sde_method_on_ode_with_options():
    assert run(sde=ODE, method="milstein", gdg=lambda t, x: 0 * x).method == "euler"


def _accept_save_at_close_but_resolvable():
    # These used to give 2 times but 1 row (and a row of uninitialised memory on the fused kernel).
    for save in ([0.5, 0.5 + 1e-12], [0.5, 0.5 + 1e-15], [0.0, 1e-15]):
        sol = run(save_at=save, n_steps=4, n_paths=3)
        assert np.array_equal(sol.ts, save) and sol.ys.shape == (2, 3, 1)
        assert np.allclose(sol.ys[0], sol.ys[1], rtol=1e-4)  # a step of 1e-12 moves it by ~ 0.8 sqrt(1e-12)


def _accept_save_at_on_grid():
    sol = run(save_at=np.linspace(0.0, 1.0, 5), n_steps=4)
    assert np.array_equal(sol.ts, np.linspace(0.0, 1.0, 5))


def _accept_large_span():
    sol = run(t_span=(1e6, 1e6 + 1.0), n_steps=16)
    assert np.all(np.isfinite(sol.ys))


def _accept_event_shape():
    sde = sk.SDE(lambda t, x: -x, lambda t, x: 0.1 + 0 * x, additive=True)
    assert run(sde=sde, x0=np.ones((4, 2, 3))).ys.shape == (2, 4, 2, 3)  # (n, *event)
    assert run(sde=sde, x0=np.ones((2, 3, 3)), n_paths=5).ys.shape == (2, 5, 2, 3, 3)  # one event, broadcast


def _accept_torch_integer_x0():
    torch = pytest.importorskip("torch")
    sol = run(x0=torch.tensor([1, 2]), backend="torch")
    assert sol.ys.dtype == torch.float64


def _accept_torch_t_tensor():
    torch = pytest.importorskip("torch")
    seen = []

    def drift(t, x):
        seen.append(isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == x.dtype)
        return -x

    run(sde=sk.ODE(drift), x0=torch.ones(1), backend="torch")
    assert all(seen) and seen


def _accept_torch_threads_untouched():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    run(x0=torch.ones(1, dtype=torch.float64), backend="torch", n_steps=8, n_paths=64)
    assert torch.get_num_threads() == before


def _accept_numpy_backend_refuses_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(B, match="torch"):
        run(x0=torch.ones(1))


ACCEPTED = [_accept_integer_x0, _accept_float32, _accept_numpy_int_counts, _accept_brownian_sets_n_paths,
            _accept_brownian_other_dtype, _accept_auto_method_stratonovich, _accept_auto_method_ode,
            _accept_sde_method_on_ode_with_options, _accept_save_at_close_but_resolvable, _accept_save_at_on_grid,
            _accept_large_span, _accept_event_shape, _accept_torch_integer_x0, _accept_torch_t_tensor,
            _accept_torch_threads_untouched, _accept_numpy_backend_refuses_torch]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.__name__[8:] for c in ACCEPTED])
def test_documented_acceptances(case):
    with deadline():
        case()


# ---- hypothesis families: junk for every argument of solve -----------------------------------------------------
# (integers: small ones, or beyond what a solve may address; an accepted count in between would only be slow)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**4), st.integers(2**40, 10**20),
                 st.floats(allow_nan=True, allow_infinity=True),
                 st.complex_numbers(), st.text(max_size=5), st.lists(st.floats(), max_size=4),
                 st.tuples(st.floats(), st.floats()), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
ARGS = ["x0", "t_span", "dt", "n_steps", "n_paths", "seed", "save_at", "method", "backend", "dtype", "device",
        "progress", "adaptive", "rtol", "atol", "max_steps", "grid", "brownian"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arg=st.sampled_from(ARGS), value=JUNK)
def test_junk_in_any_argument_is_a_result_or_a_typed_error(arg, value):
    kw = dict(x0=1.0, t_span=(0.0, 1.0), n_steps=4, backend="numpy")
    if arg in ("dt", "grid"):
        kw.pop("n_steps")
    if arg in ("rtol", "atol", "max_steps"):
        kw.update(method="sri", adaptive=True)
    kw[arg] = value
    with deadline(30):
        try:
            sol = sk.solve(GBM, **kw)
        except SDEKitError:
            return
    # an accepted junk value must have produced a finite, well-shaped answer
    ys = np.asarray(sol.ys)
    assert ys.ndim >= 3 and np.all(np.isfinite(ys))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 5), d=st.integers(1, 3), k=st.integers(1, 6), seed=st.integers(0, 2**64 - 1),
       offset=st.integers(0, 2**48 - 10), t=st.floats(0.0, 1.0))
def test_brownian_paths_take_any_addressable_index(n, d, k, seed, offset, t):
    b = sk.BrownianPath(n, d, (0.0, 1.0), seed=seed, path_offset=offset, segments=k)
    w = b.value(t)
    assert w.shape == (n, d) and np.all(np.isfinite(w))
    one = sk.BrownianPath(1, d, (0.0, 1.0), seed=seed, path_offset=offset + n - 1, segments=k)
    assert np.array_equal(one.value(t)[0], w[-1])  # path i depends on (seed, i) only


@settings(max_examples=100, deadline=None)
@given(times=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=6))
def test_save_at_lists_are_refused_or_hit_exactly(times):
    try:
        sol = run(save_at=times, n_steps=8)
    except InvalidArgumentError:
        arr = np.asarray(times)
        assert arr.size == 0 or np.any(np.diff(arr) <= 0) or np.any(np.diff(arr) < 1e-15)
        return
    assert np.array_equal(sol.ts, np.asarray(times)) and sol.ys.shape[0] == len(times)


def test_corpus_size():
    # The core corpus, plus the corpora of sk.testing (tests/test_testing_inputs.py) and the plugins
    # (tests/plugins/test_inputs.py): several hundred explicit cases and four hypothesis families.
    assert len(CASES) + len(ACCEPTED) >= 180
    assert math.isfinite(len(CASES))


# ---- the risky ones again, each in a child process with 1 GiB of address space: a size check that let a
# huge allocation through would kill the child (a MemoryError or a signal), not the test run ----------------
RISKY = [
    "sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=4, n_paths=10**12)",
    "sk.solve(GBM, 1.0, (0.0, 1.0), n_steps=2**39, n_paths=1)",
    "sk.solve(GBM, 1.0, (0.0, 1.0), dt=1e-300)",
    "sk.solve(GBM, np.ones(100), (0.0, 1.0), n_steps=10**4, n_paths=10**6, save_at='steps')",
    "sk.BrownianPath(10**12, 1, (0.0, 1.0)).value(0.5)",
    "sk.ensemble(GBM, 1.0, (0.0, 1.0), n_paths=10**6, n_steps=10**5, reduce='paths', save_at='steps')",
]


@pytest.mark.parametrize("code", RISKY)
def test_huge_requests_are_refused_before_allocating(code):
    import subprocess
    import sys

    prog = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import numpy as np
import sdekit as sk
GBM = sk.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.8 * x)
try:
    {code}
except sk.errors.SDEKitError as e:
    print("REFUSED", type(e).__name__, e)
    sys.exit(0)
print("ACCEPTED")
"""
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("REFUSED"), (out.returncode, out.stdout, out.stderr[-500:])
