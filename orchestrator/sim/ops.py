"""The operation vocabulary: flat tuples whose first item is an op code.

Workloads emit these per CPU. Strategy-independent ops (think, outside locks and
atomics) are executed directly; i_mmap ops (`IMMAP`) are expanded by the run's strategy into
lock, tree and cache-line micro-ops when the engine encodes them, ahead of simulated time, so a
choice that depends on the model's state is itself a micro-op (SMALLEST, SUBTREE_OF,
TRY_ACQUIRE). The engine encodes every op into a row of integers (sim/encoder.py).
"""

from __future__ import annotations

# executed by the engine
DELAY = 0      # (DELAY, ns)               work outside any lock; slowed by a busy SMT sibling
HOLD = 1       # (HOLD, ns)                work inside a critical section
ACQUIRE = 2    # (ACQUIRE, lock, mode)
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
TRY_ACQUIRE = 14  # (TRY_ACQUIRE, lock, mode, ((lock, mode), ...)) trylock; if it fails, release the
                  # listed locks and skip the rest of the program (an rmap walk gives up)
SMALLEST = 15     # (SMALLEST, trees, lines)   choose the subtree with the fewest VMAs, reading the
                  #                            counters (lines) up to the first empty one: SUBTREE
SUBTREE_OF = 16   # (SUBTREE_OF, vma, trees)   choose the subtree that holds `vma`: SUBTREE
# added by the engine's encoder, not by plugins
WALK_BEGIN = 17   # an rmap walk's expansion starts (walk latency is measured from here)
WALK_END = 18     # ... and ends here

# A run-time choice (SMALLEST, SUBTREE_OF) sets the CPU's subtree register; `table[SUBTREE]` of
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

# i_mmap operation kinds
LINK = "link"                  # (IMMAP, LINK, file, vma)
UNLINK_BATCH = "unlink_batch"  # (IMMAP, UNLINK_BATCH, file, (vma, ...))
SPLIT = "split"                # (IMMAP, SPLIT, file, old, low, high): low keeps old's id
DUP = "dup"                    # (IMMAP, DUP, file, parent_vma, child_vma)
RMAP_WALK = "rmap_walk"        # (IMMAP, RMAP_WALK, file, first_pgoff, last_pgoff[, try_lock])

# tree actions
INSERT = 0
REMOVE = 1
QUERY = 2
