"""One interval tree of a file's i_mmap (or one subtree of a split design).

The Python structure is exact, not a real rb-tree: VMAs are grouped by their pgoff interval,
so an overlap query returns exactly the VMAs a brute-force scan would. Costs come from the
cache-line model: a descent reads the root line and the top levels' lines (hot in every
operation) and pays `tree_level` ns per level of depth ~ log2(size); a change writes the lines
of a few VMAs near the change (linking and rebalancing), which other CPUs may have inserted,
and the root line; each VMA node is a real cache line owned by its last writer.
"""

from __future__ import annotations

from orchestrator.sim.cachelines import VMA_LINE, CacheLines

_MIX = 2654435761  # Knuth's multiplicative hash: a deterministic "random member" without an RNG


class Tree:
    def __init__(self, name: str, lines: CacheLines, root_line: int, home: int,
                 hot_levels: int, neighbor_writes: int, root_writes: int, level_ns: int,
                 vma_work_ns: int = 0):
        self.name = name
        self.lines = lines
        self.home = home
        self.root_line = root_line
        self.top_lines = [lines.add(f"{name}.level{i + 1}", home) for i in range(hot_levels)]
        self.neighbor_writes = neighbor_writes
        self.root_writes = root_writes
        self.level_ns = level_ns
        self.vma_work_ns = vma_work_ns  # an rmap walk's work per VMA found (page_vma_mapped_walk...)
        self.by_interval: dict[tuple[int, int], set[int]] = {}
        self.members: list[int] = []           # VMA ids, for picking neighbours
        self.position: dict[int, int] = {}     # VMA id -> index in members
        self.vma_line: dict[int, int] = {}     # VMA id -> its node's cache line
        self.interval: dict[int, tuple[int, int]] = {}
        self.preloaded = 0

    @property
    def size(self) -> int:
        return len(self.members)

    def _descend(self, slot: int) -> int:
        lines = self.lines
        cost = lines.read(self.root_line, slot)
        for line in self.top_lines:
            cost += lines.read(line, slot)
        return cost + self.level_ns * len(self.members).bit_length()

    def _touch_neighbors(self, vma: int, slot: int) -> int:
        members, lines, vma_line = self.members, self.lines, self.vma_line
        cost = 0
        n = len(members)
        for k in range(min(self.neighbor_writes, n)):
            other = members[(vma * _MIX + k * 40503) % n]
            cost += lines.write(vma_line[other], slot)
        for _ in range(self.root_writes):
            cost += lines.write(self.root_line, slot)
        return cost

    def _add(self, vma: int, first: int, last: int, home: int) -> int:
        if vma in self.position:
            raise ValueError(f"{self.name}: VMA {vma} inserted twice")
        line = self.vma_line[vma] = self.lines.add(VMA_LINE, home)
        self.position[vma] = len(self.members)
        self.members.append(vma)
        self.interval[vma] = (first, last)
        self.by_interval.setdefault((first, last), set()).add(vma)
        return line

    def insert(self, vma: int, first: int, last: int, slot: int) -> int:
        cost = self._descend(slot) + self._touch_neighbors(vma, slot)
        # the vm_area_struct was allocated on the node of the CPU that mapped it
        return cost + self.lines.write(self._add(vma, first, last, self.lines.node[slot]), slot)

    def insert_quiet(self, vma: int, first: int, last: int, node: int) -> None:
        """Background VMA mapped on `node` before the run: no cost, its line still in memory."""
        self._add(vma, first, last, node)
        self.preloaded += 1

    def remove(self, vma: int, slot: int) -> int:
        index = self.position.pop(vma, None)
        if index is None:
            raise ValueError(f"{self.name}: VMA {vma} is not in this tree")
        members = self.members
        moved = members.pop()
        if moved != vma:
            members[index] = moved
            self.position[moved] = index
        key = self.interval.pop(vma)
        group = self.by_interval[key]
        group.discard(vma)
        if not group:
            del self.by_interval[key]
        line = self.vma_line.pop(vma)
        cost = self._descend(slot) + self.lines.write(line, slot) + self._touch_neighbors(vma, slot)
        self.lines.free(line)
        return cost

    def query(self, first: int, last: int, slot: int) -> tuple[list[int], int]:
        """VMAs overlapping [first, last], in a stable order, and the cost of the walk."""
        found: list[int] = []
        for (lo, hi), vmas in self.by_interval.items():
            if lo <= last and hi >= first:
                found.extend(vmas)
        found.sort()
        cost = self._descend(slot)
        lines, vma_line, level = self.lines, self.vma_line, self.level_ns + self.vma_work_ns
        for vma in found:
            cost += level + lines.read(vma_line[vma], slot)
        return found, cost

    def brute_force(self, first: int, last: int) -> list[int]:
        return sorted(v for v, (lo, hi) in self.interval.items() if lo <= last and hi >= first)
