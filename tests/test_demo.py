"""`sdekit demo --quick` runs end to end, writes its report and plots, and its orders are within ±0.15."""

import os

from sdekit.cli import main


def test_quick_demo(tmp_path, capsys):
    rc = main(["demo", "--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out  # every measured order within ±0.15 of theory
    assert "Strong orders" in out and "Ornstein" in out
    report = (tmp_path / "report.md").read_text()
    assert "| rk4 |" in report
    assert os.path.exists(tmp_path / "convergence.png") and os.path.exists(tmp_path / "paths.png")
