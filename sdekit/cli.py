"""Command line: ``sdekit demo | convergence | bench``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sdekit", description="Fast, verifiable SDE solvers.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve GBM with every method; report orders, moments, timings")
    demo.add_argument("--out", default="demo_out", help="directory for the Markdown report and plots")
    demo.add_argument("--quick", action="store_true", help="fewer paths (for tests)")
    from .bench import build_parser as bench_parser

    bench_parser(sub.add_parser("bench", help="CPU benchmark suite (issue 3): table, JSON and docs/benchmarks.md",
                                description="Euler-Maruyama benchmarks: sdekit (numba, numpy) against hand-written "
                                            "NumPy and torch loops, torchsde and the generator floors."))
    conv = sub.add_parser("convergence", help="estimate a method's strong or weak order on a test problem")
    conv.add_argument("rest", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else list(argv)
    # convergence parses its own options: argparse's REMAINDER would not pass
    # a leading "--option" through, so hand it everything after the command verbatim.
    if argv and argv[0] == "convergence":
        from .testing.cli import main as conv_main

        return conv_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(out=args.out, quick=args.quick)
    if args.command == "bench":
        from .bench import main as bench_main

        return bench_main(args=args)
    from .testing.cli import main as conv_main

    return conv_main(args.rest)


if __name__ == "__main__":
    sys.exit(main())
