"""The examples in the public docstrings run and print what they claim (doctest)."""

import doctest
import importlib

import pytest

MODULES = ["sdekit", "sdekit.sde", "sdekit.brownian", "sdekit.solve", "sdekit.solution", "sdekit.philox",
           "sdekit.errors", "sdekit.plugins", "sdekit.solvers.euler_maruyama",
           "sdekit.backends.torch_backend", "sdekit.backends.numba_backend", "sdekit.backends.numba_kernel",
           "sdekit.cli"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
