"""Interval trees of a file's i_mmap (or the subtrees of a split design), compiled.

The structure is exact, not a real rb-tree: a query visits every member and returns exactly
the VMAs that overlap, as a brute-force scan would. Costs come from the cache-line model: a
descent reads the root line and the top levels' lines (hot in every operation) and pays
`tree_level` ns per level of depth ~ log2(size); an insert writes the lines on the insertion
path of its start offset (equal keys share it, so they move between CPUs) and an erase the
lines of a few VMAs near the change and the root line; each VMA node is a real cache line owned
by its last writer.

A tree's members sit in a slice of one shared array (`members`, from tr_start, tr_cap long);
VMAs are dense engine ids with their own arrays (v_*), mapped from the workload's ids when the
ops are encoded.
"""

from __future__ import annotations

from orchestrator.sim.histogram import bit_length
from orchestrator.sim.jit import njit
from orchestrator.sim.lines import free_line, new_line, read, write
from orchestrator.sim.state import (
    E_INSERTED_TWICE,
    E_NOT_IN_TREE,
    ERROR,
    ERROR_A,
    ERROR_B,
    LEVEL_NS,
    NEIGHBOR_WRITES,
    PATH_KEYS,
    PATH_WRITES,
    RMAP_VMA_NS,
    ROOT_WRITES,
)

MIX = 2654435761  # Knuth's multiplicative hash: a deterministic "random member" without an RNG
STEP = 40503


@njit
def fail(S, code, a, b):
    S.reg[ERROR] = code
    S.reg[ERROR_A] = a
    S.reg[ERROR_B] = b
    raise AssertionError("engine check failed")


@njit
def descend(S, tree, slot):
    cost = read(S, S.tr_root[tree], slot)
    for line in S.tr_top[tree]:
        cost += read(S, line, slot)
    return cost + S.reg[LEVEL_NS] * bit_length(S.tr_size[tree])


@njit
def touch_neighbors(S, tree, vma_id, slot):
    """An erase's writes: the nodes of a few members picked by hashing the VMA's id (the successor
    that takes its place, the rebalancing), then the root."""
    n = S.tr_size[tree]
    start = S.tr_start[tree]
    cost = 0
    if n > 0:
        # (id * MIX + k * STEP) % n, without overflowing 64 bits
        base = (vma_id % n) * (MIX % n) % n
        for k in range(min(S.reg[NEIGHBOR_WRITES], n)):
            other = S.members[start + (base + k * STEP) % n]
            cost += write(S, S.v_line[other], slot)
    for _ in range(S.reg[ROOT_WRITES]):
        cost += write(S, S.tr_root[tree], slot)
    return cost


@njit
def add(S, tree, vma, vma_id, first, last, home):
    """Make `vma` a member (its node's line homed on `home`); returns the line."""
    if S.v_tree[vma] >= 0:
        fail(S, E_INSERTED_TWICE, tree, vma_id)
    line = new_line(S, home)
    size = S.tr_size[tree]
    S.members[S.tr_start[tree] + size] = vma
    S.tr_size[tree] = size + 1
    S.v_tree[vma] = tree
    S.v_pos[vma] = size
    S.v_line[vma] = line
    S.v_orig[vma] = vma_id
    S.v_first[vma] = first
    S.v_last[vma] = last
    return line


@njit
def insert(S, tree, vma, vma_id, first, last, slot, on_path):
    """Equal start offsets go right (interval_tree_generic.h): every copy's VMA of one segment
    lands on one path, whose nodes the link and the red-black fix-up rewrite (the parent, the
    grandparent...). The augmented subtree_last is rewritten only where it grows, which equal
    intervals never make it, and the cached root only when the tree's first node changes. An
    insert beside a given VMA (on_path false: fork's insert_after) links under that VMA's own
    node instead, which the op writes first (ops.WRITE_VMA)."""
    cost = descend(S, tree, slot)
    if on_path:
        for level in range(S.reg[PATH_WRITES]):  # the new node's parent, grandparent ...
            cost += write(S, S.tr_path[tree, (first + level) % PATH_KEYS], slot)
    # the vm_area_struct was allocated on the node of the CPU that mapped it
    return cost + write(S, add(S, tree, vma, vma_id, first, last, S.node[slot]), slot)


@njit
def preload(S, rows):
    """VMAs mapped before the run (rows of tree, vma, id, first, last, node): no cost, their
    lines still in memory."""
    for tree, vma, vma_id, first, last, node in rows:
        add(S, tree, vma, vma_id, first, last, node)
        S.tr_preloaded[tree] += 1


@njit
def remove(S, tree, vma, slot):
    if S.v_tree[vma] != tree:
        fail(S, E_NOT_IN_TREE, tree, S.v_orig[vma])
    start = S.tr_start[tree]
    index = S.v_pos[vma]
    last = S.tr_size[tree] - 1
    moved = S.members[start + last]
    S.tr_size[tree] = last
    if moved != vma:
        S.members[start + index] = moved
        S.v_pos[moved] = index
    S.v_tree[vma] = -1
    line = S.v_line[vma]
    cost = descend(S, tree, slot) + write(S, line, slot) + touch_neighbors(S, tree, S.v_orig[vma], slot)
    free_line(S, line)
    return cost


@njit
def query(S, tree, first, last, slot):
    """(cost, number of VMAs found) of a walk over the VMAs overlapping [first, last]: the descent, then
    per VMA found a level's work, the rmap work (page_vma_mapped_walk...) and a read of its node."""
    cost = descend(S, tree, slot)
    per_vma = S.reg[LEVEL_NS] + S.reg[RMAP_VMA_NS]
    start = S.tr_start[tree]
    found = 0
    for i in range(start, start + S.tr_size[tree]):
        vma = S.members[i]
        if S.v_first[vma] <= last and S.v_last[vma] >= first:
            cost += per_vma + read(S, S.v_line[vma], slot)
            found += 1
    return cost, found
