"""``python -m sdekit.solvers [docs/methods.md]``: print the methods table, or rewrite it in the docs page."""

import sys

from . import methods_table, update_docs


def main(argv):
    if argv:
        print("updated" if update_docs(argv[0]) else "unchanged", argv[0])
    else:
        print(methods_table())


if __name__ == "__main__":
    main(sys.argv[1:])
