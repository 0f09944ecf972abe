"""The end-to-end demo section (issue 7) runs in quick mode, writes its plots and reports its figures."""

import re

import pytest
import torch

from sdekit_diffusion.demo_learned import demo_sections, learned_section


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_learned_section_quick(tmp_path):
    md = learned_section(str(tmp_path), quick=True)
    assert md.startswith("## Learned score")
    assert (tmp_path / "learned_loss.png").stat().st_size > 1000
    assert (tmp_path / "learned_samples.png").stat().st_size > 1000
    # Both samplers are reported with a finite sliced W, and an NLL figure is given.
    rows = [line for line in md.splitlines() if line.startswith("| reverse SDE") or line.startswith("| probability")]
    assert len(rows) == 2
    for row in rows:
        assert 0 < float(row.split("|")[2]) < 5
    nll = float(re.search(r"\*\*([-0-9.]+) nats\*\*", md).group(1))
    assert 1.0 < nll < 4.0  # true mixture entropy is 1.93 nats; 300 steps of training is rough
    assert learned_section in demo_sections
