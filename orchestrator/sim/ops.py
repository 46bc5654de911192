"""The operation vocabulary: flat tuples whose first item is an op code.

Workloads emit these per CPU. Strategy-independent ops (think, outside locks and
atomics) are executed directly; i_mmap ops (`IMMAP`) are expanded by the run's strategy into
lock, tree and cache-line micro-ops, once per shape of op (sim/encoder.py), ahead of simulated
time, so a choice that depends on where the CPU runs or on the model's state is itself a
micro-op (CHOOSE, SMALLEST, SUBTREE_OF, JOIN, TRY_ACQUIRE). The engine encodes every op into a
row of integers.
"""

from __future__ import annotations

# executed by the engine
DELAY = 0      # (DELAY, ns)               work outside any lock; slowed by a busy SMT sibling
HOLD = 1       # (HOLD, ns)                work inside a critical section
ACQUIRE = 2    # (ACQUIRE, lock, mode[, caller])  caller: a name of CALLERS (default "-")
RELEASE = 3    # (RELEASE, lock, mode)
READ = 4       # (READ, line)              read a cache line
WRITE = 5      # (WRITE, line)             plain store to a cache line
ATOMIC = 6     # (ATOMIC, line)            locked RMW (xadd, inc): serialized on the line
CMPXCHG = 7    # (CMPXCHG, line, lock)     cmpxchg retry loop (lockref): retries grow with contenders;
               #                           past the retry limit it takes `lock` (-1: none, never gives up)
START = 8      # (START,)                  an iteration begins (response time starts)
END = 9        # (END, cls)                an iteration ends; cls 0 = write, 1 = read
IMMAP = 10     # (IMMAP, kind, file, *args) i_mmap operation, expanded by the strategy
TREE = 11      # (TREE, tree, action, arg) apply a tree change or query, costed by the tree model
READ_ALL = 12  # (READ_ALL, (line, ...))   read several lines back to back (a scan of counters)
IDLE = 13      # (IDLE, ns)                wait on the clock without running (a kernel thread between walks)
TRY_ACQUIRE = 14  # (TRY_ACQUIRE, lock, mode, ((lock, mode), ...)[, caller]) trylock; if it fails,
                  # release the listed locks and skip the rest of the program (an rmap walk gives up)
SMALLEST = 15     # (SMALLEST, trees, lines)   choose the subtree with the fewest VMAs, reading the
                  #                            counters (lines) up to the first empty one: SUBTREE
SUBTREE_OF = 16   # (SUBTREE_OF, vma, trees)   choose the subtree that holds `vma`: SUBTREE
CHOOSE = 21       # (CHOOSE, BY_NODE | BY_CPU, k) or (CHOOSE, BY_HASH, k, vma): subtree numa_node_id() % k,
                  #   smp_processor_id() % k, or a hash of the new VMA % k, where the CPU runs then: SUBTREE
JOIN = 22         # (JOIN, setter, n)  if the choice op `setter` (SUBTREE_OF or CHOOSE) would pick the
                  #   subtree the register holds, skip the next n ops (one lock hold for both changes)
# added by the engine's encoder, not by plugins
WALK_BEGIN = 17   # an rmap walk's expansion starts (walk latency is measured from here)
WALK_END = 18     # ... and ends here
WRITE_VMA = 20    # (WRITE_VMA, vma) write a VMA's node line (an insert after it links under it)
MIGRATE = 19      # (MIGRATE,)  sched_exec: under placement migrate the task may move to the idlest CPU
                  #             (sim/migrate.py); a choice by node or CPU after it (CHOOSE) is made there

BY_NODE, BY_CPU, BY_HASH = 0, 1, 2  # how a CHOOSE picks
# A run-time choice (SMALLEST, SUBTREE_OF, CHOOSE) sets the CPU's subtree register; `table[SUBTREE]` of
# a Table (engine.table) is an operand that the engine resolves through that register.


class RunTime:
    """An index into a Table that is known only when the op runs: the CPU's subtree register."""


SUBTREE = RunTime()
INDIRECT = 1 << 40  # operand INDIRECT + t: entry (subtree register) of table t

# The engine runs ops encoded as rows of ROW integers: the code, then the tuple's operands (an
# ACQUIRE's fourth field is 1 when a HOLD follows it in the same program: its grant folds the
# hold in). A workload may hand over a batch already encoded, as an (n, ROW) int64 array of
# plain ops (DELAY, HOLD, IDLE, START, END, READ, WRITE, ATOMIC, RELEASE) and ACQUIREs with that
# flag set, which the engine copies as it is (generators/closed_loop.py does).
ROW = 7

# lock kinds, as plugins name them; the engine codes a kind as its place here (sim/state.py, K_*)
RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM = "rwsem", "mutex", "spinlock", "percpu-rwsem"
KINDS = (RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM)

# lock modes
WRITE_MODE = 0
READ_MODE = 1
MODE_NAMES = ("write", "read")

# i_mmap operation kinds (a vma is (id, first pgoff, last pgoff))
LINK = "link"                  # (IMMAP, LINK, file, vma): mmap's vma_link_file
UNLINK_BATCH = "unlink_batch"  # (IMMAP, UNLINK_BATCH, file, (vma, ...)): one lock hold for the batch
SPLIT = "split"                # (IMMAP, SPLIT, file, old, low, high[, anon]): __split_vma; low keeps old's
                               #   id; anon: the VMA has anonymous pages (vma_prepare locks its anon_vma)
MERGE = "merge"                # (IMMAP, MERGE, file, old, new): vma_expand; the VMA keeps its id, its
                               #   interval becomes new's (a MAP_FIXED mapping merged into a neighbour)
DUP = "dup"                    # (IMMAP, DUP, file, parent_vma, child_vma): dup_mmap at fork
RMAP_WALK = "rmap_walk"        # (IMMAP, RMAP_WALK, file, first_pgoff, last_pgoff[, try_lock])
# each kind's operands after the file: v = a VMA, b = a tuple of VMAs, i = a page, f = a flag
OPERANDS = {LINK: "v", UNLINK_BATCH: "b", SPLIT: "vvvf", MERGE: "vv", DUP: "vv", RMAP_WALK: "iif"}

# The kernel functions that take a lock, as `perf lock contention` names its callers. A lock
# acquisition names one (ACQUIRE's and TRY_ACQUIRE's last field); lock statistics are kept per
# class, mode and caller, and a class's table sums its callers.
CALLERS = (
    "-",                              # not said
    # i_mmap_rwsem (mm/vma.c, mm/memory.c, kernel/fork.c, mm/rmap.c)
    "vma_link_file", "vma_link", "vma_prepare", "unlink_file_vma_batch_process", "unlink_file_vma",
    "dup_mmap", "rmap_walk_file", "unmap_mapping_pages",
    # outside i_mmap: page allocator, fork and exit, path walk, mm set-up and teardown
    "rmqueue_bulk", "free_pcppages_bulk", "copy_process", "exit_notify", "release_task", "alloc_pid",
    "free_pid", "lockref_get_not_dead", "pcpu_alloc", "free_percpu", "percpu_counter_init_many",
    "percpu_counter_destroy_many", "pgd_alloc", "pgd_free",
    "closed_loop",                    # the validation workload's one lock
)
CALLER_CODE = {name: code for code, name in enumerate(CALLERS)}


def immap_caller(kind: str, release: tuple[int, int], try_lock: bool = False) -> str:
    """The function that takes i_mmap's lock for an i_mmap operation, in a kernel release: what
    perf lock contention reports as the caller (mm/vma.c from 6.12, mm/mmap.c before)."""
    if kind == LINK:
        return "vma_link_file" if release >= (6, 12) else "vma_link"
    if kind in (SPLIT, MERGE):
        return "vma_prepare"
    if kind == UNLINK_BATCH:
        return "unlink_file_vma_batch_process" if release >= (6, 11) else "unlink_file_vma"
    if kind == DUP:
        return "dup_mmap"
    return "rmap_walk_file" if try_lock else "unmap_mapping_pages"

# tree actions
INSERT = 0        # (TREE, tree, INSERT, vma): at its offset's place, the rightmost of equal keys
REMOVE = 1        # (TREE, tree, REMOVE, vma_id)
QUERY = 2         # (TREE, tree, QUERY, (first, last))
INSERT_AFTER = 3  # (TREE, tree, INSERT_AFTER, vma, after_id): beside a VMA (dup_mmap's
                  #   vma_interval_tree_insert_after: under the parent's node, not on the equal keys' path)
