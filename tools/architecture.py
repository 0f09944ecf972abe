"""Architecture checks over the package sources (ast, no imports): import cycles and private reach-ins.

``python tools/architecture.py`` prints the import graph's cycles (every ``import`` counts,
also those inside functions: hiding a cycle in a function does not remove it) and every
place where a module reads another module's private name (``obj._name`` on anything but
``self``/``cls``, or ``from mod import _name``). ``tests/test_architecture.py`` asserts
that both lists are empty and that no benchmark code lives in ``sdekit/``.
"""

from __future__ import annotations

import ast
import os
import sys

PACKAGES = {"sdekit": "sdekit", "sdekit_scores": "plugins/sdekit_scores", "sdekit_diffusion": "plugins/sdekit_diffusion"}


def modules(root):
    """``{module name: path}`` for every .py file of the packages."""
    out = {}
    for pkg, rel in PACKAGES.items():
        base = os.path.join(root, rel)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    parts = os.path.relpath(path, base)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    out[".".join([pkg] + parts)] = path
    return out


def _resolve(mod, level, name, is_pkg):
    if level == 0:
        return name
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(root):
    """``{module: {imported module}}`` (package-internal edges only), and the private names imported."""
    mods = modules(root)
    graph, private = {}, []
    for mod, path in mods.items():
        tree = ast.parse(open(path).read(), path)
        is_pkg = path.endswith("__init__.py")
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    edges.add(a.name)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, node.level, node.module or "", is_pkg)
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:  # "from pkg import submodule": an edge to the submodule only
                        edges.add(sub)
                        continue
                    edges.add(target)
                    if a.name.startswith("_") and not a.name.startswith("__") and target in mods and target != mod:
                        private.append((mod, f"from {target} import {a.name}", node.lineno))
        graph[mod] = {e for e in edges if e in mods and e != mod}
    return graph, private


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def private_reads(root):
    """``(module, expression, line)`` for ``x._name`` where ``x`` is not ``self``/``cls`` (package code only)."""
    out = []
    for mod, path in modules(root).items():
        tree = ast.parse(open(path).read(), path)
        own = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and (base.id in ("self", "cls", "type") or base.id in own):
                    continue  # the instance itself, or a class or function of this very module
                if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "type":
                    continue  # type(self)._x
                out.append((mod, ast.unparse(node), node.lineno))
    return out


def main(root="."):
    graph, private_imports = imports(root)
    bad = cycles(graph)
    reads = private_reads(root)
    for c in bad:
        print("cycle:", " -> ".join(c))
    for m, expr, line in private_imports + reads:
        print(f"private: {m}:{line}: {expr}")
    print(f"{len(graph)} modules, {sum(len(v) for v in graph.values())} import edges, {len(bad)} cycles, "
          f"{len(private_imports) + len(reads)} private reach-ins")
    return 1 if bad or private_imports or reads else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
