"""The README's quickstart runs as printed (a newcomer's first copy-paste)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    shape, mean, exact = out[0].split(") ")[0] + ")", float(out[0].split()[-2]), float(out[0].split()[-1])
    assert shape == "(2, 100000, 1)" and abs(mean - exact) < 0.03  # 5 standard errors of 1e5 lognormal paths
