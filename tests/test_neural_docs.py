"""The python blocks of docs/neural-sdes.md and docs/migrating-from-torchsde.md run as written."""

import os
import re

import pytest

torch = pytest.importorskip("torch")

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def _blocks(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


@pytest.mark.parametrize("name", ["neural-sdes.md", "migrating-from-torchsde.md"])
def test_doc_blocks_run(name):
    blocks = _blocks(name)
    assert blocks
    for code in blocks:
        if code.lstrip().startswith("import sdekit.interop as torchsde      # was"):
            continue  # the one-line import shown on its own
        ns = {}
        exec(compile(code, name, "exec"), ns)  # noqa: S102 - our own documentation
        if name == "neural-sdes.md":
            assert ns["sol"].logqp.shape == (256,) and ns["x_mid"].shape == (256, 4)
            assert ns["f"][0].weight.grad is not None and ns["h"].weight.grad is not None


def test_every_public_interop_function_shows_an_example():
    # The doctests themselves run in tests/test_docstrings.py; here: none of the public functions lacks one.
    import doctest
    import inspect

    import sdekit.interop as interop

    finder = doctest.DocTestFinder()
    for name in interop.__all__:
        obj = getattr(interop, name)
        if inspect.isfunction(obj):
            tests = finder.find(obj, name, globs={})
            assert any(t.examples for t in tests), f"sdekit.interop.{name} has no docstring example"
    assert "Li" in interop.__doc__ and "Kidger" in interop.__doc__  # the references
