"""docs/methods.md carries the methods table the registered solvers' facts generate (adding a solver updates it)."""

from pathlib import Path

from sdekit.solvers import END, START, methods_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "methods.md"


def test_methods_page_matches_the_declared_facts():
    text = DOCS.read_text()
    table = text[text.index(START) + len(START):text.index(END)].strip()
    assert table == methods_table(), "run: python -m sdekit.solvers docs/methods.md"


def test_adding_a_solver_example_runs(capsys):
    import re

    text = (DOCS.parent / "adding-a-solver.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "adding-a-solver.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "gbm 0.5"
