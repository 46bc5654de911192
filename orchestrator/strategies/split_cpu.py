"""split-cpu (the seed's v2 without CONFIG_NUMA): K = ALIGN(nr_cpus, 32) trees, smallest first.

Same trees and locking as split-node, but a non-NUMA kernel allocates every tree on node 0
(kzalloc_node ignores the node) and a new VMA goes to the tree with the fewest VMAs, found by
reading the trees' counters one by one until an empty tree (smallest_tree_idx).
"""

from __future__ import annotations

from orchestrator.strategies.split_node import SplitNode

TREE_ALIGN = 32  # split_tree_align in the patch


class SplitCpu(SplitNode):
    name = "split-cpu"
    summary = "seed v2 (non-NUMA): ALIGN(nr_cpus, 32) trees on node 0, new VMAs to the smallest"
    default_choice = "smallest"

    def default_shards(self) -> int:
        cpus = self.machine.topology.cpu_count
        return -(-cpus // TREE_ALIGN) * TREE_ALIGN

    def subtree_home(self, index: int) -> int:
        return 0
