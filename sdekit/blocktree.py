r"""The fixed merge structure of an ensemble: canonical blocks of paths and one binary tree over them.

Floating-point merges are not associative: ``(a + b) + c`` and ``a + (b + c)``
differ in the last bits. For an ensemble's answer not to depend on how its
paths were cut into chunks, or on which worker finished first, the *shape of
the computation* is fixed by the path indices alone:

1. **Blocks.** Paths ``[0, n)`` are cut into blocks of ``BLOCK_PATHS`` paths
   (the last one shorter when ``n`` is not a multiple). A reduction maps each
   block, always the same rows in the same layout, to a partial.
2. **Tree.** Node ``(level, i)`` covers blocks ``[i 2^level, (i+1) 2^level)`` and
   exists when that range lies inside ``[0, n_blocks)``; its partial is
   ``merge(node(level-1, 2i), node(level-1, 2i+1))``, left before right. The
   nodes whose parent does not exist (the binary digits of ``n_blocks``) are
   folded left to right into the answer.
3. **Chunks** are runs of whole blocks. A chunk hands back the maximal tree
   nodes inside it (at most ``2 log2`` of its block count); whoever receives
   nodes, in any order, merges siblings as soon as both are present.

Every partial is therefore computed by the same sequence of operations on the
same inputs for any chunking, thread count or task order, so a deterministic
reduction gives bit-identical results; memory is the pending nodes, at most
a few per tree level. (The same idea as pairwise summation: error growth
``O(log n)`` instead of ``O(n)``.)

>>> from sdekit.blocktree import chunk_nodes, TreeMerger
>>> chunk_nodes(3, 8)                       # blocks [3, 8): nodes (level, index)
[(0, 3), (2, 1)]
>>> m = TreeMerger(lambda a, b: f"({a}+{b})", n_blocks=5)
>>> for i in (4, 1, 0, 3, 2):               # any arrival order
...     m.add(0, i, str(i))
>>> m.result()
'(((0+1)+(2+3))+4)'
"""

from __future__ import annotations

from .errors import InvalidArgumentError

BLOCK_PATHS = 4096  # paths per block: part of the merge structure, so fixed once and for all


def n_blocks(n_paths: int) -> int:
    """Number of blocks of ``n_paths`` paths."""
    return -(-int(n_paths) // BLOCK_PATHS)


def block_range(j: int, n_paths: int):
    """Paths ``[a, b)`` of block ``j``."""
    a = j * BLOCK_PATHS
    return a, min(a + BLOCK_PATHS, int(n_paths))


def chunk_nodes(b0: int, b1: int):
    """The maximal tree nodes ``(level, index)`` covering blocks ``[b0, b1)``, left to right.

    Each node is aligned (``index * 2^level == start``) and lies inside the range, so
    it is a node of the global tree whatever the total number of blocks.
    """
    if not 0 <= b0 <= b1:
        raise InvalidArgumentError(f"block range must satisfy 0 <= b0 <= b1; got [{b0}, {b1})")
    nodes = []
    while b0 < b1:
        level = 0
        while b0 % (2 << level) == 0 and b0 + (2 << level) <= b1:
            level += 1
        nodes.append((level, b0 >> level))
        b0 += 1 << level
    return nodes


class TreeMerger:
    """Merges tree nodes as they arrive, in any order, into the fixed tree over ``[lo, hi)`` blocks.

    ``add(level, index, partial)`` stores a node and merges it with its sibling when the
    sibling is present and their parent lies inside ``[lo, hi)`` (``lo = 0, hi = n_blocks``
    for the whole ensemble; a chunk's own range inside a task). ``nodes()`` returns
    the unmerged nodes left to right; ``result()`` folds them left to right.
    """

    def __init__(self, merge, n_blocks=None, *, lo=0, hi=None):
        self.merge = merge
        self.lo = int(lo)
        self.hi = int(hi if hi is not None else n_blocks)
        self._pending = {}

    def _inside(self, level, index):
        start = index << level
        return start >= self.lo and start + (1 << level) <= self.hi

    def add(self, level, index, partial):
        if not self._inside(level, index) or (level, index) in self._pending:
            raise InvalidArgumentError(
                f"tree node (level={level}, index={index}) is outside blocks [{self.lo}, {self.hi}) "
                "or was added twice")
        while True:
            sibling = (level, index ^ 1)
            parent = (level + 1, index >> 1)
            if sibling not in self._pending or not self._inside(*parent):
                self._pending[(level, index)] = partial
                return
            other = self._pending.pop(sibling)
            partial = self.merge(other, partial) if index & 1 else self.merge(partial, other)
            level, index = parent

    def pending(self) -> int:
        """Number of nodes held (the merger's memory, in partials)."""
        return len(self._pending)

    def nodes(self):
        """The held nodes ``[(level, index, partial)]`` ordered by their first block."""
        keys = sorted(self._pending, key=lambda k: k[1] << k[0])
        return [(lv, ix, self._pending[(lv, ix)]) for lv, ix in keys]

    def result(self):
        """The fold, left to right, of the held nodes (the root of the fixed tree once all blocks are in)."""
        nodes = self.nodes()
        if not nodes:
            raise InvalidArgumentError("no blocks were merged")
        covered = sum(1 << lv for lv, _, _ in nodes)
        if covered != self.hi - self.lo:
            raise InvalidArgumentError(f"blocks missing: {covered} of {self.hi - self.lo} merged")
        out = nodes[0][2]
        for _, _, partial in nodes[1:]:
            out = self.merge(out, partial)
        return out
