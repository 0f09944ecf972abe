"""``sdekit convergence``: print a method's error table and fitted order on a test problem.

Examples::

    sdekit convergence --method heun --problem gbm
    sdekit convergence --method euler_maruyama --problem ou --kind weak --n-steps 2 4 8 16 --n-paths 100000

A Stratonovich method (``heun``) asked to run an Itô problem with
multiplicative noise runs the problem's Stratonovich variant instead (e.g.
``gbm`` -> ``gbm_stratonovich``) and says so.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SDEKitError
from ..integrate import check_compatible as _check_compatible
from ..solvers import get_solver, method_names
from . import problems as P
from .convergence import strong_order, weak_order


def build_parser():
    ap = argparse.ArgumentParser(prog="sdekit convergence",
                                 description="Estimate the strong or weak order of a method on a test problem.")
    ap.add_argument("--method", default="euler_maruyama", help=f"one of: {', '.join(method_names())}")
    ap.add_argument("--problem", default="gbm", help=f"one of: {', '.join(sorted(P.REGISTRY))}")
    ap.add_argument("--kind", choices=("strong", "weak"), default="strong")
    ap.add_argument("--n-steps", type=int, nargs="+", default=None,
                    help="step counts (default: 16 32 64 128 256 strong, 2 4 8 16 weak)")
    ap.add_argument("--n-paths", type=int, default=None, help="paths (default: 2000 strong, 100000 weak)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="numpy", choices=("numpy", "numba", "torch", "auto"))
    ap.add_argument("--confidence", type=float, default=0.95)
    return ap


def _pick_problem(name, method, out):
    problem = P.by_name(name)
    if problem.sde.is_ode:
        return problem
    solver = get_solver(method, is_ode=False)
    try:
        _check_compatible(solver, problem.sde)
    except SDEKitError:
        alt = name + "_stratonovich"
        if solver.calculus == "stratonovich" and alt in P.REGISTRY:
            print(f"note: {method} converges to the Stratonovich solution; using problem {alt} "
                  f"(the {name} SDE read in the Stratonovich sense)", file=out)
            return P.by_name(alt)
        raise
    return problem


def main(argv=None, out=None) -> int:
    """Entry point (``sdekit convergence ...``); returns the exit status."""
    out = sys.stdout if out is None else out
    args = build_parser().parse_args(argv)
    try:
        problem = _pick_problem(args.problem, args.method, out)
        if args.kind == "strong":
            fit = strong_order(problem, args.method, n_steps=args.n_steps or [16, 32, 64, 128, 256],
                               n_paths=args.n_paths or 2000, seed=args.seed, backend=args.backend,
                               confidence=args.confidence)
        else:
            fit = weak_order(problem, args.method, n_steps=args.n_steps or [2, 4, 8, 16],
                             n_paths=args.n_paths or 100_000, seed=args.seed, backend=args.backend,
                             confidence=args.confidence)
    except (SDEKitError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"problem {problem.name}: {problem.sde!r}, d={problem.d}, t_span={problem.t_span}, "
          f"reference: {fit.extra.get('reference')}, paths: {fit.extra.get('n_paths')}", file=out)
    print(fit.table(), file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
