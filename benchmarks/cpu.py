"""CPU benchmark suite of issue 3: a thin wrapper around :mod:`sdekit.bench` (``sdekit bench``).

Euler–Maruyama on scalar GBM, OU, a 32-dimensional nonlinear diagonal SDE and
float32 GBM; rows sdekit numba / numpy, hand-written NumPy and torch loops,
torchsde, and the generator floors. Prints the table and writes
``benchmarks/results/cpu.json`` and ``docs/benchmarks.md`` (paths relative to
the current directory; run it from the repository root).

Run: ``.venv/bin/python benchmarks/cpu.py [--quick] [--scale S] [--paths N] [--steps K] [--reps R]
[--problems gbm,ou,nonlinear32,gbm32] [--json PATH] [--markdown PATH]`` (``--help`` for all options).
"""

from sdekit.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
