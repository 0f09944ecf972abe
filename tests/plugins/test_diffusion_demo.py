"""The diffusion demo section runs in quick mode, writes its plots and is found through the plugin."""

import sdekit as sk


def test_diffusion_section_quick(tmp_path):
    from sdekit_diffusion.demo import diffusion_section

    md = diffusion_section(str(tmp_path), quick=True)
    assert md.startswith("## Score-based diffusion")
    for name in ("diffusion_samples.png", "diffusion_quality.png"):
        assert (tmp_path / name).stat().st_size > 1000
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| sampler")]
    assert {r.split("|")[1].strip() for r in rows} >= {"euler_maruyama", "heun", "pc", "ode (rk4)", "ancestral",
                                                       "annealed_langevin"}
    for r in rows:
        assert 0 < float(r.split("|")[4]) < 1.0
    assert any(getattr(s, "__name__", "") == "_diffusion_section" for s in sk.plugins.load("diffusion").demo_sections)


def test_quality_table_counts_score_evaluations():
    from sdekit_diffusion.quality import quality_table

    rows = quality_table("1d", methods=["pc", "ode (rk4)"], steps=[5], n=200)
    assert [r["nfe"] for r in rows] == [10, 20]
