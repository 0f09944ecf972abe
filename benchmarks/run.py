"""Run benchmark suites by name: ``python benchmarks/run.py [SUITE] [options]`` (and ``sdekit bench``).

Suites: ``cpu`` (the issue 3 suite, the default, so ``sdekit bench --quick`` means
what it always did), ``peers`` (issue 18), ``latency`` (issue 12), ``report``
(re-render ``docs/benchmarks.md`` from saved results) and ``all`` (peers, cpu and
latency in turn at full size, each writing its JSON and regenerating the page).
Options after the suite's name go to that suite (``--help`` lists them).
"""

from __future__ import annotations

import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ("cpu", "peers", "latency", "report")
ALL = ("peers", "cpu", "latency")


def _suite(name):
    if HERE not in sys.path:  # the suites import their neighbours (harness, problems, ...) by name
        sys.path.insert(0, HERE)
    return importlib.import_module(name)


def main(argv=None):
    """Dispatch ``argv`` to a suite's ``main``; returns its exit status.

    Example
    -------
    >>> main(["--help-suites"])
    suites: cpu, peers, latency, report, all (default cpu)
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--help-suites":
        print(f"suites: {', '.join(SUITES)}, all (default cpu)")
        return 0
    name = argv.pop(0) if argv and argv[0] in SUITES + ("all",) else "cpu"
    if name == "all":
        status = 0
        for suite in ALL:
            print(f"== {suite} ==", flush=True)
            status = _suite(suite).main(list(argv)) or status
        return status
    return _suite(name).main(argv) or 0


if __name__ == "__main__":
    raise SystemExit(main())
