"""Quality against score evaluations for every diffusion sampler, on analytic 1-D and 2-D mixtures.

    .venv/bin/python benchmarks/diffusion_quality.py            # full: n = 20,000 (1-D), 10,000 (2-D)
    .venv/bin/python benchmarks/diffusion_quality.py --quick    # n = 2000, steps 10/30/100

Exact scores (``GaussianMixture.perturbed(VPSDE())``), so every error is the sampler's own:
KS statistic against the exact mixture CDF (1-D), sliced W2 (512 projections) to exact
samples (2-D); the horizontal line is the same metric between two independent exact samples
(the sampling-noise floor). Writes docs/img/diffusion_quality_{1d,2d}.png and prints Markdown
tables (pasted into docs/diffusion.md).
"""

import argparse
import os
import platform
import time

from sdekit_diffusion.quality import floor, markdown_table, plot_quality, quality_table

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "docs", "img"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    steps = (10, 30, 100) if args.quick else (10, 30, 100, 300, 1000)
    started = time.perf_counter()
    print(f"# Diffusion samplers: quality vs score evaluations ({platform.processor() or platform.machine()})\n")
    for problem, n, metric, label in (("1d", 2000 if args.quick else 20_000, "KS", "KS statistic vs exact CDF"),
                                      ("2d", 2000 if args.quick else 10_000, "sliced W2", "sliced W2 to exact samples")):
        rows = quality_table(problem, steps=steps, n=n)
        fl = floor(problem, n)
        plot_quality(rows, os.path.join(args.out, f"diffusion_quality_{problem}.png"),
                     title=f"{problem.upper()} mixture, VP, exact score, n = {n}", ylabel=label, floor_value=fl)
        print(f"## {problem.upper()} mixture (n = {n}; floor {fl:.4f})\n")
        print(markdown_table(rows, metric))
        print()
    print(f"_Total: {time.perf_counter() - started:.0f} s._")


if __name__ == "__main__":
    main()
