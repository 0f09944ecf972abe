"""Command line: ``sdekit demo | convergence | bench``.

``sdekit bench`` is only an entry point: the benchmark suites live in the
source checkout's ``benchmarks/`` folder (beside the package in an editable
install), not in the library; :func:`find_benchmarks` locates it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

BENCHMARKS_ENV = "SDEKIT_BENCHMARKS"


def find_benchmarks():
    """The ``benchmarks/`` folder holding ``run.py``, or None.

    Looked for in ``$SDEKIT_BENCHMARKS``, beside the package (an editable install
    of a checkout) and under the current directory, in that order.

    >>> path = find_benchmarks()
    >>> path is None or os.path.isfile(os.path.join(path, "run.py"))
    True
    """
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (os.environ.get(BENCHMARKS_ENV), os.path.join(here, "benchmarks"),
                   os.path.join(os.getcwd(), "benchmarks")):
        if folder and os.path.isfile(os.path.join(folder, "run.py")):
            return os.path.abspath(folder)
    return None


def run_benchmarks(argv):
    """Run ``benchmarks/run.py`` with ``argv`` (``sdekit bench [SUITE] [options]``); its exit status."""
    folder = find_benchmarks()
    if folder is None:
        print("sdekit bench: the benchmark suites are not installed with the package; they live in the "
              "benchmarks/ folder of a source checkout. Install the checkout in editable mode "
              "(pip install -e .), run from its root, or set SDEKIT_BENCHMARKS to that folder.", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("sdekit_benchmarks_run", os.path.join(folder, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(argv))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sdekit", description="Fast, verifiable SDE solvers.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve GBM with every method; report orders, moments, timings")
    demo.add_argument("--out", default="demo_out", help="directory for the Markdown report and plots")
    demo.add_argument("--quick", action="store_true", help="fewer paths (for tests)")
    bench = sub.add_parser("bench", help="run a benchmark suite of the source checkout: sdekit bench [cpu|peers|"
                                         "latency|report|all] [options]")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    conv = sub.add_parser("convergence", help="estimate a method's strong or weak order on a test problem")
    conv.add_argument("rest", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else list(argv)
    # convergence and bench parse their own options: argparse's REMAINDER would not pass
    # a leading "--option" through, so hand them everything after the command verbatim.
    if argv and argv[0] == "convergence":
        from .testing.cli import main as conv_main

        return conv_main(argv[1:])
    if argv and argv[0] == "bench":
        return run_benchmarks(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(out=args.out, quick=args.quick)
    from .testing.cli import main as conv_main

    return conv_main(args.rest)


if __name__ == "__main__":
    sys.exit(main())
