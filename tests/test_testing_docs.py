"""docs/verifying.md's copyable example runs and its claims hold; sk.testing's docstring examples run."""

import doctest
import importlib
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "verifying.md"
MODULES = ["sdekit.testing", "sdekit.testing.problems", "sdekit.testing.convergence", "sdekit.testing.distances",
           "sdekit.testing.asserts"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def _blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_copyable_example_runs_and_measures_the_orders(capsys):
    """The first block is self-contained; it asserts weak order 1 +- 0.25 and equal laws itself."""
    ns = {}
    exec(compile(_blocks()[0], str(DOC), "exec"), ns)
    out = capsys.readouterr().out
    orders = [float(m) for m in re.findall(r"fitted order (-?[0-9.]+)", out)]
    em, mine, weak = orders
    assert abs(em - 0.5) < 0.15      # Euler-Maruyama, multiplicative noise
    assert abs(mine - 1.0) < 0.15    # the user's Milstein
    assert abs(weak - 1.0) < 0.25
    # The pytest snippet in the second block works against the first block's names.
    exec(compile(_blocks()[1], str(DOC), "exec"), ns)
    ns["test_my_milstein_has_strong_order_one"]()
