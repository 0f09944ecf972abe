"""Verification toolkit: analytic problems, convergence orders, strategies, distribution distances.

What DiffEqDevTools gives Julia users, for sdekit: test problems with exact
solutions and moments (:mod:`~sdekit.testing.problems`), strong and weak order
estimation with confidence intervals (:func:`strong_order`, :func:`weak_order`,
:func:`fit_order`), work–precision data (:func:`work_precision`), hypothesis
strategies (:mod:`~sdekit.testing.strategies`, needs ``hypothesis``), distribution
distances and moment tests (:func:`ks_1d`, :func:`sliced_wasserstein`, :func:`mmd`,
:func:`moment_test`) and pytest-ready assertions (:func:`assert_order`, ...).

>>> import sdekit as sk
>>> p = sk.testing.problems.gbm(mu=0.5, sigma=0.8)
>>> fit = sk.testing.strong_order(p, "milstein", n_steps=[16, 32, 64], n_paths=200, seed=0)
>>> 0.8 < fit.order < 1.2
True
"""

from . import problems
from .asserts import (assert_distribution, assert_moments, assert_order, assert_same_distribution,
                      assert_strong_order, assert_weak_order)
from .convergence import OrderFit, WorkPrecision, fit_order, strong_order, weak_order, work_precision
from .distances import KSResult, MomentTest, ks_1d, mmd, mmd_test, moment_test, sliced_wasserstein
from .problems import Problem


def __getattr__(name):
    # strategies needs hypothesis (a dev extra): import it on first use only.
    if name == "strategies":
        import importlib

        return importlib.import_module(".strategies", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["problems", "strategies", "Problem", "OrderFit", "WorkPrecision", "fit_order", "strong_order",
           "weak_order", "work_precision", "KSResult", "MomentTest", "ks_1d", "mmd", "mmd_test", "moment_test",
           "sliced_wasserstein", "assert_order", "assert_strong_order", "assert_weak_order", "assert_moments",
           "assert_distribution", "assert_same_distribution"]
