"""Bad inputs to sk.testing (problems, laws, studies, assertions, distances, strategies): issue 12.

Every case must end in a typed ``sdekit.errors`` exception (``InvalidArgumentError`` or
``ShapeError``, both ``ValueError`` subclasses) whose message names the argument at fault:
never a raw NumPy/SciPy/Python exception from the internals, never a silent truncation of a
non-integer count, never a NaN parameter accepted. Explicit cases first, then hypothesis
families over the same argument classes. Every case is refused before any solve runs.
"""

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdekit as sk
from sdekit.errors import InvalidArgumentError, SDEKitError, ShapeError
from sdekit.testing import problems as P

GBM = P.gbm()
MIX = P.GaussianMixture([0.3, 0.7], [-1.0, 1.0], [0.5, 0.5])
FIT = sk.testing.fit_order([0.1, 0.05, 0.025], [0.1, 0.05, 0.025])
X2 = np.random.default_rng(0).normal(size=(50, 2))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _refused(fn, exc, name):
    """``fn()`` raises ``exc`` (an sdekit error) and the message names ``name``."""
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, SDEKitError), type(info.value)
    assert name in str(info.value), (name, str(info.value))


I, S = InvalidArgumentError, ShapeError
CASES = [
    # --- problem constructors --------------------------------------------------------------
    ("gbm mu nan", lambda: P.gbm(mu=float("nan")), I, "mu"),
    ("gbm sigma inf", lambda: P.gbm(sigma=float("inf")), I, "sigma"),
    ("gbm x0 complex", lambda: P.gbm(x0=1 + 1j), I, "x0"),
    ("gbm mu string", lambda: P.gbm(mu="0.5"), I, "mu"),
    ("gbm mu bool", lambda: P.gbm(mu=True), I, "mu"),
    ("gbm mu None", lambda: P.gbm(mu=None), I, "mu"),
    ("gbm ragged mu", lambda: P.gbm(mu=[[0.1], [0.2, 0.3]]), I, "mu"),
    ("gbm 2-D mu", lambda: P.gbm(mu=[[0.1, 0.2]]), S, "mu"),
    ("gbm sizes", lambda: P.gbm(mu=[0.1, 0.2], sigma=[0.1, 0.2, 0.3]), S, "sigma"),
    ("gbm t_span nan", lambda: P.gbm(t_span=(0.0, float("nan"))), I, "t_span"),
    ("gbm t_span reversed", lambda: P.gbm(t_span=(1.0, 0.0)), I, "t_span"),
    ("gbm t_span string", lambda: P.gbm(t_span="01"), I, "t_span"),
    ("gbm_stratonovich mu nan", lambda: P.gbm_stratonovich(mu=float("nan")), I, "mu"),
    ("ou theta 0", lambda: P.ou(theta=0.0), I, "theta"),
    ("ou theta nan", lambda: P.ou(theta=float("nan")), I, "theta"),
    ("ou sigma inf", lambda: P.ou(sigma=float("-inf")), I, "sigma"),
    ("ou_time_varying beta_min nan", lambda: P.ou_time_varying(beta_min=float("nan")), I, "beta_min"),
    ("ou_time_varying beta negative", lambda: P.ou_time_varying(beta_min=-1.0), I, "beta"),
    ("ou_time_varying beta_max vector", lambda: P.ou_time_varying(beta_max=[1.0, 2.0]), S, "beta_max"),
    ("linear_additive t0", lambda: P.linear_additive(t_span=(-2.0, 1.0)), I, "t_span"),
    ("linear_additive alpha nan", lambda: P.linear_additive(alpha=float("nan")), I, "alpha"),
    ("scalar_linear a nan", lambda: P.scalar_linear(a=(0.1, float("nan"))), I, "a"),
    ("scalar_linear b shape", lambda: P.scalar_linear(b=(0.1, 0.2, 0.3)), S, "b"),
    ("scalar_linear angle nan", lambda: P.scalar_linear(angle=float("nan")), I, "angle"),
    ("scalar_linear calculus", lambda: P.scalar_linear(calculus="strat"), I, "calculus"),
    ("linear_general b nan", lambda: P.linear_general(b=((0.5, float("nan")),)), I, "b"),
    ("linear_general b shape", lambda: P.linear_general(b=((0.5, 0.2, 0.1),)), S, "b"),
    ("linear_general x0 shape", lambda: P.linear_general(x0=[1.0, 2.0, 3.0]), S, "x0"),
    ("langevin_gaussian mean nan", lambda: P.langevin_gaussian(mean=float("nan")), I, "mean"),
    ("langevin_gaussian cov not SPD", lambda: P.langevin_gaussian(mean=[0, 0], cov=[[1, 2], [2, 1]]), I, "cov"),
    ("langevin_gaussian cov not symmetric", lambda: P.langevin_gaussian(mean=[0, 0], cov=[[1, 0.5], [0, 1]]),
     I, "cov"),
    ("langevin_mixture weights nan", lambda: P.langevin_mixture(weights=(0.3, float("nan"))), I, "weights"),
    ("langevin_mixture means nan", lambda: P.langevin_mixture(means=(float("nan"), 5.0)), I, "means"),
    ("langevin_mixture stds 0", lambda: P.langevin_mixture(stds=(0.0, 2.0)), I, "stds"),
    ("langevin_mixture start", lambda: P.langevin_mixture(start="middle"), I, "start"),
    ("ode_riccati x0 nan", lambda: P.ode_riccati(x0=float("nan")), I, "x0"),
    ("by_name unknown", lambda: P.by_name("nope"), I, "nope"),
    ("by_name unhashable", lambda: P.by_name(["gbm"]), I, "problem"),
    ("by_name bad parameter", lambda: P.by_name("gbm", drift=1.0), I, "drift"),
    ("initial n_paths float", lambda: GBM.initial(2.5), I, "n_paths"),
    ("initial n_paths 0", lambda: GBM.initial(0), I, "n_paths"),
    ("initial seed", lambda: GBM.initial(3, seed=-1), I, "seed"),
    ("initial offset", lambda: GBM.initial(3, offset=1.5), I, "offset"),
    # --- the exact laws ----------------------------------------------------------------------
    ("mixture weights negative", lambda: P.GaussianMixture([-0.1, 1.1], [0.0, 1.0], 1.0), I, "weights"),
    ("mixture weights zero sum", lambda: P.GaussianMixture([0.0, 0.0], [0.0, 1.0], 1.0), I, "weights"),
    ("mixture weights empty", lambda: P.GaussianMixture([], [], 1.0), S, "weights"),
    ("mixture means shape", lambda: P.GaussianMixture([0.5, 0.5], [[0.0], [1.0], [2.0]], 1.0), S, "means"),
    ("mixture stds nan", lambda: P.GaussianMixture([1.0], [0.0], float("nan")), I, "stds"),
    ("mixture stds negative", lambda: P.GaussianMixture([1.0], [0.0], -1.0), I, "stds"),
    ("mixture stds shape", lambda: P.GaussianMixture([0.5, 0.5], [0.0, 1.0], [1.0, 1.0, 1.0]), S, "stds"),
    ("mixture covs nan", lambda: P.GaussianMixture([1.0], [[0.0, 0.0]], covs=[[1.0, float("nan")]]), I, "covs"),
    ("mixture covs not SPD", lambda: P.GaussianMixture([1.0], [[0.0, 0.0]], covs=[[[1, 2], [2, 1]]]), I, "covs"),
    ("mixture covs shape", lambda: P.GaussianMixture([0.5, 0.5], [0.0, 1.0], covs=[1.0, 1.0, 1.0]), S, "covs"),
    ("mixture stds and covs", lambda: P.GaussianMixture([1.0], [0.0], 1.0, covs=1.0), I, "stds"),
    ("mixture neither", lambda: P.GaussianMixture([1.0], [0.0]), I, "covs"),
    ("sample n float", lambda: MIX.sample(2.5), I, "n"),
    ("sample n integral float", lambda: MIX.sample(10.0), I, "n"),
    ("sample n bool", lambda: MIX.sample(True), I, "n"),
    ("sample n negative", lambda: MIX.sample(-1), I, "n"),
    ("sample n string", lambda: MIX.sample("10"), I, "n"),
    ("sample n beyond the counter", lambda: MIX.sample(2**48 + 1), I, "n"),
    ("sample n too many values", lambda: P.Gaussian(np.zeros(4), 1.0).sample(2**30), I, "n"),
    ("sample seed", lambda: MIX.sample(3, seed=1.5), I, "seed"),
    ("log_prob shape", lambda: MIX.log_prob(np.zeros((3, 2))), S, "x"),
    ("score strings", lambda: MIX.score([["a"]]), I, "x"),
    ("cdf needs axis", lambda: P.Gaussian([0.0, 0.0], 1.0).cdf(0.0), I, "axis"),
    ("cdf axis out of range", lambda: MIX.cdf(0.0, axis=1), I, "axis"),
    ("cdf x nan", lambda: MIX.cdf(float("nan")), I, "x"),
    ("Gaussian mean nan", lambda: P.Gaussian([float("nan")], 1.0), I, "mean"),
    ("Gaussian mean 2-D", lambda: P.Gaussian([[0.0]], 1.0), S, "mean"),
    ("Gaussian cov shape", lambda: P.Gaussian([0.0, 0.0], np.eye(3)), S, "cov"),
    ("pushforward m nan", lambda: MIX.pushforward(float("nan"), 1.0), I, "m"),
    ("pushforward s shape", lambda: MIX.pushforward(1.0, [1.0, 2.0]), S, "s"),
    ("pushforward singular", lambda: MIX.pushforward(0.0, 0.0), I, "singular"),
    # --- studies --------------------------------------------------------------------------------
    ("strong n_steps float", lambda: sk.testing.strong_order(GBM, n_steps=[16.5, 32]), I, "n_steps[0]"),
    ("strong n_steps integral float", lambda: sk.testing.strong_order(GBM, n_steps=[16, 32.0]), I, "n_steps[1]"),
    ("strong n_steps scalar", lambda: sk.testing.strong_order(GBM, n_steps=16), I, "n_steps"),
    ("strong n_steps string", lambda: sk.testing.strong_order(GBM, n_steps="16"), I, "n_steps"),
    ("strong n_steps one", lambda: sk.testing.strong_order(GBM, n_steps=[16]), I, "n_steps"),
    ("strong n_steps repeat", lambda: sk.testing.strong_order(GBM, n_steps=[16, 16]), I, "n_steps"),
    ("strong n_steps zero", lambda: sk.testing.strong_order(GBM, n_steps=[0, 16]), I, "n_steps[0]"),
    ("strong n_paths float", lambda: sk.testing.strong_order(GBM, n_paths=100.5), I, "n_paths"),
    ("strong n_paths 1", lambda: sk.testing.strong_order(GBM, n_paths=1), I, "n_paths"),
    ("strong n_paths bool", lambda: sk.testing.strong_order(GBM, n_paths=True), I, "n_paths"),
    ("strong n_paths huge", lambda: sk.testing.strong_order(GBM, n_paths=10**12), I, "n_paths"),
    ("strong seed", lambda: sk.testing.strong_order(GBM, seed=-3), I, "seed"),
    ("strong chunk", lambda: sk.testing.strong_order(GBM, chunk=0.5), I, "chunk"),
    ("strong confidence", lambda: sk.testing.strong_order(GBM, confidence=1.5), I, "confidence"),
    ("strong confidence nan", lambda: sk.testing.strong_order(GBM, confidence=float("nan")), I, "confidence"),
    ("strong p", lambda: sk.testing.strong_order(GBM, p=3), I, "p must"),
    ("strong p bool", lambda: sk.testing.strong_order(GBM, p=True), I, "p must"),
    ("strong bootstrap", lambda: sk.testing.strong_order(GBM, bootstrap="yes"), I, "bootstrap"),
    ("strong reference float", lambda: sk.testing.strong_order(GBM, reference_n_steps=4096.5), I,
     "reference_n_steps"),
    ("strong reference coarse", lambda: sk.testing.strong_order(GBM, reference_n_steps=64), I, "reference_n_steps"),
    ("strong reference method", lambda: sk.testing.strong_order(GBM, reference_method=3), I, "reference_method"),
    ("strong x0 nan", lambda: sk.testing.strong_order(GBM, x0=float("nan")), I, "x0"),
    ("strong x0 shape", lambda: sk.testing.strong_order(GBM, x0=[1.0, 2.0]), S, "x0"),
    ("strong t_span nan", lambda: sk.testing.strong_order(GBM, t_span=(0.0, float("nan"))), I, "t_span"),
    ("strong SDE without x0", lambda: sk.testing.strong_order(GBM.sde), I, "x0="),
    ("strong SDE x0 2-D", lambda: sk.testing.strong_order(GBM.sde, x0=[[1.0]], t_span=(0, 1)), S, "x0"),
    ("weak n_paths float", lambda: sk.testing.weak_order(GBM, n_paths=1000.5), I, "n_paths"),
    ("weak n_steps float", lambda: sk.testing.weak_order(GBM, n_steps=[2, 4.5]), I, "n_steps[1]"),
    ("weak f", lambda: sk.testing.weak_order(GBM, f=5), I, "f must"),
    ("weak expectation nan", lambda: sk.testing.weak_order(GBM, expectation=float("nan")), I, "expectation"),
    ("weak chunk", lambda: sk.testing.weak_order(GBM, chunk=-1), I, "chunk"),
    ("fit_order shapes", lambda: sk.testing.fit_order([0.1, 0.05], [0.1]), S, "dts"),
    ("fit_order errors", lambda: sk.testing.fit_order([0.1, 0.05], [0.1, -0.05]), I, "errors"),
    ("fit_order errors nan", lambda: sk.testing.fit_order([0.1, 0.05], [0.1, float("nan")]), I, "errors"),
    ("fit_order dts", lambda: sk.testing.fit_order([0.1, 0.0], [0.1, 0.05]), I, "dts"),
    ("fit_order equal dts", lambda: sk.testing.fit_order([0.1, 0.1], [0.1, 0.05]), I, "dts"),
    ("fit_order strings", lambda: sk.testing.fit_order(["a", "b"], [0.1, 0.05]), I, "dts"),
    ("fit_order confidence", lambda: sk.testing.fit_order([0.1, 0.05], [0.1, 0.05], confidence=0.0), I,
     "confidence"),
    ("work_precision kind", lambda: sk.testing.work_precision(GBM, ["em"], kind="medium"), I, "kind"),
    ("work_precision repeats", lambda: sk.testing.work_precision(GBM, ["em"], repeats=1.5), I, "repeats"),
    ("work_precision methods", lambda: sk.testing.work_precision(GBM, "em"), I, "methods"),
    # --- assertions --------------------------------------------------------------------------------
    ("assert_order fit", lambda: sk.testing.assert_order("fit", 1.0), I, "fit"),
    ("assert_order expected nan", lambda: sk.testing.assert_order(FIT, float("nan")), I, "expected"),
    ("assert_order tol negative", lambda: sk.testing.assert_order(FIT, 1.0, tol=-0.1), I, "tol"),
    ("assert_order tol nan", lambda: sk.testing.assert_order(FIT, 1.0, tol=float("nan")), I, "tol"),
    ("assert_strong_order tol", lambda: sk.testing.assert_strong_order(GBM, "em", 0.5, tol=-1), I, "tol"),
    ("assert_weak_order expected", lambda: sk.testing.assert_weak_order(GBM, "em", "one"), I, "expected"),
    ("assert_moments alpha", lambda: sk.testing.assert_moments(X2, mean=[0, 0], alpha=2.0), I, "alpha"),
    ("assert_moments z", lambda: sk.testing.assert_moments(X2, mean=[0, 0], z=-1.0), I, "z must"),
    ("assert_distribution alpha", lambda: sk.testing.assert_distribution(X2[:, 0], MIX.cdf, alpha=0.0), I,
     "alpha"),
    ("assert_same alpha", lambda: sk.testing.assert_same_distribution(X2, X2, alpha=1e-5, n_permutations=10), I,
     "alpha"),
    ("assert_same n_permutations", lambda: sk.testing.assert_same_distribution(X2, X2, n_permutations=2.5), I,
     "n_permutations"),
    # --- distances ------------------------------------------------------------------------------------
    ("ks samples 2-D", lambda: sk.testing.ks_1d(X2, MIX.cdf), S, "samples"),
    ("ks samples nan", lambda: sk.testing.ks_1d([0.1, float("nan")], MIX.cdf), I, "samples"),
    ("ks samples empty", lambda: sk.testing.ks_1d([], MIX.cdf), S, "samples"),
    ("ks second sample 2-D", lambda: sk.testing.ks_1d(X2[:, 0], X2), S, "cdf"),
    ("sliced_wasserstein dims", lambda: sk.testing.sliced_wasserstein(X2, X2[:, :1]), S, "dimension"),
    ("sliced_wasserstein n_projections", lambda: sk.testing.sliced_wasserstein(X2, X2, n_projections=0), I,
     "n_projections"),
    ("sliced_wasserstein p", lambda: sk.testing.sliced_wasserstein(X2, X2, p=0.5), I, "p must"),
    ("sliced_wasserstein seed", lambda: sk.testing.sliced_wasserstein(X2, X2, seed=-1), I, "seed"),
    ("sliced_wasserstein complex", lambda: sk.testing.sliced_wasserstein(X2 + 1j, X2), I, "a"),
    ("mmd bandwidth", lambda: sk.testing.mmd(X2, X2, bandwidth=-1.0), I, "bandwidth"),
    ("mmd bandwidth nan", lambda: sk.testing.mmd(X2, X2, bandwidth=float("nan")), I, "bandwidth"),
    ("mmd one point", lambda: sk.testing.mmd(X2[:1], X2), S, "a"),
    ("mmd dims", lambda: sk.testing.mmd(X2, X2[:, :1]), S, "dimension"),
    ("mmd_test n_permutations", lambda: sk.testing.mmd_test(X2, X2, n_permutations=0), I, "n_permutations"),
    ("mmd_test seed", lambda: sk.testing.mmd_test(X2, X2, seed=2.5), I, "seed"),
    ("moment_test one sample", lambda: sk.testing.moment_test(X2[:1], mean=[0, 0]), S, "samples"),
    ("moment_test mean size", lambda: sk.testing.moment_test(X2, mean=[0, 0, 0]), S, "mean"),
    ("moment_test var negative", lambda: sk.testing.moment_test(X2, var=[1.0, -1.0]), I, "var"),
    ("moment_test mean nan", lambda: sk.testing.moment_test(X2, mean=[0, float("nan")]), I, "mean"),
    ("z_threshold n", lambda: sk.testing.distances.z_threshold(0), I, "n_comparisons"),
    ("z_threshold alpha", lambda: sk.testing.distances.z_threshold(3, alpha=1.0), I, "alpha"),
    ("median_bandwidth max_points", lambda: sk.testing.distances.median_bandwidth(X2, X2, max_points=0), I,
     "max_points"),
    # --- checks shared with the plugins ------------------------------------------------------------------
    ("check_real bool", lambda: P.check_real("lr", True), I, "lr"),
    ("check_count float", lambda: P.check_count("steps", 3.0), I, "steps"),
]


@pytest.mark.parametrize("label, fn, exc, name", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_typed_error_naming_the_argument(label, fn, exc, name):
    _refused(fn, exc, name)


def test_strategy_arguments_are_checked():
    strat = pytest.importorskip("sdekit.testing.strategies")
    for fn, name in [
        (lambda: strat.problems(noise="colored"), "noise"), (lambda: strat.problems(noise=[]), "noise"),
        (lambda: strat.problems(noise=5), "noise"), (lambda: strat.problems(calculus="ito2"), "calculus"),
        (lambda: strat.problems(min_dim=0), "min_dim"), (lambda: strat.problems(min_dim=3, max_dim=2), "max_dim"),
        (lambda: strat.problems(max_dim=2.5), "max_dim"), (lambda: strat.problems(exact_only="yes"), "exact_only"),
        (lambda: strat.dimensions(0, 3), "min_dim"), (lambda: strat.initial_states(0), "d"),
        (lambda: strat.initial_states(2.5), "d"), (lambda: strat.initial_states(2, low=-1.0), "low"),
        (lambda: strat.initial_states(2, low=2.0, high=1.0), "high"),
        (lambda: strat.initial_states(2, positive="yes"), "positive"),
        (lambda: strat.time_spans(min_length=0.0), "min_length"),
        (lambda: strat.time_spans(min_length=1.0, max_length=0.5), "max_length"),
        (lambda: strat.time_spans(min_t0=float("nan")), "min_t0"),
    ]:
        _refused(fn, InvalidArgumentError, name)


def test_valid_edge_inputs_are_accepted_and_correct():
    """The documented acceptances next to the refusals: an empty sample, numpy integer counts, scalar x0."""
    assert MIX.sample(0).shape == (0, 1)
    np.testing.assert_array_equal(MIX.sample(np.int64(5), seed=np.uint64(2)), MIX.sample(5, seed=2))
    assert GBM.initial(np.int32(3)).shape == (3, 1)
    assert P.GaussianMixture([0.3, 0.7], [-1.0, 1.0], covs=[0.25, 0.25]).stds.tolist() == [0.5, 0.5]
    assert P.Gaussian([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]]).stds is None
    assert P.Gaussian([0.0, 0.0], 1.0).cdf(0.0, axis=1) == pytest.approx(0.5)


# --- hypothesis families -------------------------------------------------------------------------------------
# Every numeric parameter of every problem constructor, with the bad values NumPy would mangle or accept.
_PARAMS = [(name, param) for name, ctor in P.REGISTRY.items()
           for param, spec in inspect.signature(ctor).parameters.items()
           if param not in ("calculus", "start", "t_span") and (spec.default is None or not isinstance(spec.default, str))]
_BAD_REALS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1 + 2j, "1.0", True, [1.0, float("nan")],
                              [[1.0], [2.0, 3.0]], object()])


@SETTINGS
@given(st.sampled_from(_PARAMS), _BAD_REALS)
def test_every_problem_parameter_refuses_non_finite_and_non_real_values(pair, bad):
    name, param = pair
    _refused(lambda: P.REGISTRY[name](**{param: bad}), (InvalidArgumentError, ShapeError), param)


_NOT_COUNTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3),
                        st.complex_numbers(max_magnitude=10), st.integers(max_value=-1))


@SETTINGS
@given(_NOT_COUNTS)
def test_counts_are_integers_never_truncated(bad):
    _refused(lambda: MIX.sample(bad), InvalidArgumentError, "n")
    _refused(lambda: GBM.initial(bad), InvalidArgumentError, "n_paths")
    _refused(lambda: sk.testing.strong_order(GBM, n_paths=bad), InvalidArgumentError, "n_paths")
    _refused(lambda: sk.testing.weak_order(GBM, n_steps=[2, 4, bad]), InvalidArgumentError, "n_steps")
    _refused(lambda: sk.testing.sliced_wasserstein(X2, X2, n_projections=bad), InvalidArgumentError,
             "n_projections")


@SETTINGS
@given(st.one_of(st.floats(max_value=-1e-300), st.just(float("nan")), st.just(float("inf"))))
def test_tolerances_and_levels_refuse_negative_and_non_finite_values(bad):
    _refused(lambda: sk.testing.assert_order(FIT, 1.0, tol=bad), InvalidArgumentError, "tol")
    _refused(lambda: sk.testing.assert_distribution(X2[:, 0], MIX.cdf, alpha=bad), InvalidArgumentError, "alpha")
    _refused(lambda: sk.testing.fit_order([0.1, 0.05], [0.1, 0.05], confidence=bad), InvalidArgumentError,
             "confidence")
    _refused(lambda: sk.testing.mmd(X2, X2, bandwidth=bad), InvalidArgumentError, "bandwidth")


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["weights", "means", "covs"]),
       st.sampled_from([float("nan"), float("inf")]), st.data())
def test_mixture_parameters_refuse_a_non_finite_entry_anywhere(K, d, which, bad, data):
    weights = np.full(K, 1.0 / K)
    means = np.zeros((K, d))
    covs = np.stack([np.eye(d)] * K)
    target = {"weights": weights, "means": means, "covs": covs}[which]
    flat = target.reshape(-1)
    flat[data.draw(st.integers(0, flat.size - 1))] = bad
    _refused(lambda: P.GaussianMixture(weights, means, covs=covs), InvalidArgumentError, which)
