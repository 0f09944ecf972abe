"""``python -m sdekit.solvers [docs/methods.md]``: print the methods table, or rewrite it in the docs page."""

import sys

from . import methods_table, update_docs

if len(sys.argv) > 1:
    print("updated" if update_docs(sys.argv[1]) else "unchanged", sys.argv[1])
else:
    print(methods_table())
