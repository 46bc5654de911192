"""The engine's whole state: flat arrays in one named tuple, so that the compiled functions
(sim/lines.py, trees.py, locks.py, loop.py) can share it and Python can read it.

Scalars live in `reg` (indexed by the names below). Every array is declared once, in FIELDS:
its name, shape, fill and dtype. The named tuple, the compiled view of it (StateRef), a new
state (new_state) and a grown one (resized) all come from that table. An array's shape names
sizes that sim/layout.py computes for a run; arrays whose size is not known before a run (cache
lines, VMAs, subtree members, the event heap, programs) start with room to spare, and when the
engine runs out of room it stops at an operation boundary and asks the driver (sim/driver.py)
to grow them, then carries on where it stopped.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import config, types
from numba.experimental import structref

from orchestrator.sim.histogram import BUCKETS
from orchestrator.sim.jit import njit
from orchestrator.sim.ops import KINDS, MUTEX, PERCPU_RWSEM, ROW, RWSEM, SPINLOCK

BIG = 1 << 62
MEMORY = -1   # owner of a line no CPU has touched yet: it comes from its home node's memory
BITS = 63     # slots per sharer word (bit 63 stays clear: the same integers with the JIT off)

# ---- reg: the engine's scalars -------------------------------------------------------------
(NOW, SEQ, EVENTS, HEAP_N, LOCAL, REMOTE, NLINES, NFREE, END_NS, WARMUP_NS, WINDOW_NS, LOCK_OP, WAKEUP,
 RETRY_LIMIT, SPIN_RULE, SPIN_LIMIT, RSPIN_BASE, RSPIN_PER, RSPIN_MAX, MAX_WOKEN, HANDOFF_NS, HOME_EFFECT,
 CHECK, WAIT_TOTAL, FALLBACKS, INSERTED, REMOVED, ERROR, ERROR_A, ERROR_B, RESUME_SLOT, RESUME_T,
 LEVEL_NS, RMAP_VMA_NS, NEIGHBOR_WRITES, ROOT_WRITES, GRANTS_N, SLICE_LATENCY, SLICE_MIN, TICK_NS, BACKGROUND,
 PATH_WRITES, MIGRATE, MIGRATE_NS, MIGRATIONS, LAT_SMT, LAT_L3, VMAS, PCP_BATCH, NREG) = range(50)
# fparam
SMT_SLOWDOWN, SMT_SPIN_SLOWDOWN, SPIN_SCALE, SPIN_SHAPE, HANDOFF_TRANSFERS, COST_SCALE, THINK_CV, NFPARAM = range(8)
# reg[SPIN_RULE]: when a spinning waiter gives up and sleeps (kernel.spin_rule)
RULE_NEED_RESCHED, RULE_HAZARD, RULE_FIXED = range(3)
PATH_KEYS = 8  # lines per tree standing for the insertion paths of VMAs with equal start offsets

# what the run loop returns
DONE, NEED_OPS, GROW = range(3)
# what GROW asks for (reg[ERROR_A])
# (the room asked for in reg[ERROR_B]; VMAs handed out in Python grow their arrays when encoded)
GROW_HEAP, GROW_LINES, GROW_TREE, GROW_VMAS, GROW_PROGRAM, GROW_FREED = range(6)
# a broken invariant (reg[ERROR], with ERROR_A and ERROR_B): the compiled code raises, and
# sim/driver.py turns the code into an exception with names
(E_NONE, E_TIME_BACK, E_RELEASE_NOT_HELD, E_WRITER_BESIDE_HOLDERS, E_READER_BESIDE_WRITER, E_HOLDS_ALREADY,
 E_NO_READ_MODE, E_HELD_TOO_MANY, E_INSERTED_TWICE, E_NOT_IN_TREE, E_BAD_OP, E_WALK_BESIDE_READERS,
 E_READER_BESIDE_WALK) = range(13)

# iteration programs (sim/iterate.py): each program's sections, (start, length) in pg_code
(SEC_ROWS, SEC_PUT_AT, SEC_PUT_SOURCE, SEC_EVENTS, SEC_REPEATS, SEC_JUMPS, SEC_FINALS, SEC_DELAYS, SEC_COUNTS,
 SEC_POOL, SEC_SIZES, NSECTIONS) = range(12)

# a waiter's state
SPIN, SLEEP, WAKING, GRANTED = 0, 1, 2, 3
# what a CPU slot is doing: the SMT model and the CPU-time shares read it
RUNNING, SPINNING, SLEEPING, IDLE, NSTATES = range(5)
# lock kinds: a lock's code is its kind's place in ops.KINDS, the names plugins use
K_RWSEM, K_MUTEX, K_SPINLOCK, K_PERCPU = (KINDS.index(kind) for kind in (RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM))
# event kinds
EV_RUN, EV_END_WARMUP, EV_SPIN_ENDS, EV_WOKEN_WRITER = 0, 1, 2, 3
GEN_SHIFT = 20  # an event's waiter: slot | generation << GEN_SHIFT (an old wait's event is ignored)
CLASSES = 2     # an iteration's class (ops.END): 0 write, 1 read

# lock statistics: one row per (class, mode, caller: ops.CALLERS), lock_stat's columns and where waits went
(ST_ACQ, ST_CONT, ST_ACQ_BOUNCES, ST_CON_BOUNCES, ST_WAIT_TOTAL, ST_WAIT_MIN, ST_WAIT_MAX, ST_HOLD_TOTAL,
 ST_HOLD_MIN, ST_HOLD_MAX, ST_HOLDS, ST_SLEEPS, ST_HANDOFFS, ST_SPIN_NS, ST_SLEEP_NS, ST_WAITS, NSTAT) = range(17)


class Field(NamedTuple):
    name: str
    shape: tuple  # per axis, a number or the name of a size (sim/layout.py, sizes)
    fill: int = 0
    dtype: type[np.generic] = np.int64


FIELDS = (
    Field("reg", (NREG,)),
    Field("fparam", (NFPARAM,), dtype=np.float64),
    # machine
    Field("node", ("slots",)),
    Field("latency", ("slots", "slots")),
    Field("to_node", ("slots", "nodes")),
    Field("siblings", ("slots", "siblings"), -1),
    Field("mates", ("slots", "mates"), -1),  # other slots on the same CPU (a walker beside a copy)
    # every CPU of the machine, for migration at exec (placement migrate, sim/migrate.py)
    Field("slot_cpu", ("slots",)),
    Field("cpu_slot", ("cpus",), -1),       # the slot running there (-1: idle)
    Field("cpu_idle_since", ("cpus",)),
    Field("cpu_node", ("cpus",), -1),
    Field("cpu_core", ("cpus",), -1),
    Field("cpu_l3", ("cpus",), -1),
    Field("cpu_threads", ("cpus", "threads"), -1),  # the other CPUs of its core
    Field("node_cpus", ("nodes", "node_width"), -1),
    Field("node_idle", ("nodes",)),                  # idle CPUs per node
    Field("node_lat", ("nodes", "nodes")),
    Field("exec_nodes", ("nodes", "nodes")),  # 1 where sched_exec may move a task between the two
    # cache lines, and the RMWs in flight on the lines that see cmpxchg loops ("lockrefs")
    Field("home", ("lines",)),
    Field("owner", ("lines",), MEMORY),
    Field("busy", ("lines",)),
    Field("transfers", ("lines",)),
    Field("sharers", ("lines", "words")),
    Field("cx_of", ("lines",), -1),
    Field("cx_end", ("lockrefs", "rmws")),
    Field("cx_slot", ("lockrefs", "rmws")),
    Field("cx_n", ("lockrefs",)),
    Field("free", ("lines",)),
    # locks
    Field("lk_kind", ("locks",)),
    Field("lk_cls", ("locks",)),
    Field("lk_line", ("locks",)),
    Field("lk_wait", ("locks",)),
    Field("lk_writer", ("locks",), -1),
    Field("lk_readers", ("locks",)),
    Field("lk_handoff", ("locks",), -1),
    Field("lk_handoff_ns", ("locks",)),
    Field("lk_sp_head", ("locks",), -1),
    Field("lk_sp_tail", ("locks",), -1),
    Field("lk_sp_n", ("locks",)),
    Field("lk_sl_head", ("locks",), -1),
    Field("lk_sl_tail", ("locks",), -1),
    Field("lk_sl_n", ("locks",)),
    Field("lk_draining", ("locks",)),
    Field("lk_counters", ("locks",)),
    Field("pc_lines", ("counters",)),
    Field("hold_mode", ("locks", "slots"), -1),
    Field("hold_since", ("locks", "slots")),
    Field("hold_row", ("locks", "slots")),  # the statistics row a hold counts in (its caller's)
    Field("lk_holders", ("locks",)),
    Field("held", ("slots", "held"), -1),
    Field("held_n", ("slots",)),
    Field("stats", ("stat_rows", NSTAT)),
    Field("stats_hist", ("stat_rows", BUCKETS)),
    Field("grants", ("grants", 4)),  # (lock, slot, mode, start), under --check
    # waiters, one per slot
    Field("w_lock", ("slots",), -1),
    Field("w_mode", ("slots",)),
    Field("w_arrived", ("slots",)),
    Field("w_state", ("slots",)),
    Field("w_since", ("slots",)),
    Field("w_deadline", ("slots",), BIG),
    Field("w_queued", ("slots",), -1),
    Field("w_gen", ("slots",)),
    Field("q_next", ("slots",), -1),
    Field("q_prev", ("slots",), -1),
    # trees and VMAs
    Field("tr_root", ("trees",)),
    Field("tr_top", ("trees", "levels")),
    Field("tr_path", ("trees", PATH_KEYS)),
    Field("tr_start", ("trees",)),
    Field("tr_cap", ("trees",)),
    Field("tr_size", ("trees",)),
    Field("tr_preloaded", ("trees",)),
    Field("members", ("members",), -1),
    Field("v_orig", ("vmas",)),
    Field("v_tree", ("vmas",), -1),
    Field("v_pos", ("vmas",)),
    Field("v_line", ("vmas",)),
    Field("v_first", ("vmas",)),
    Field("v_last", ("vmas",)),
    Field("tables", ("tables", "table_width"), -1),
    # CPUs and their programs
    Field("state", ("slots",)),
    Field("prog", ("slots", "program", ROW)),
    Field("p_len", ("slots",)),
    Field("pc", ("slots",)),
    Field("pool", ("slots", "pool")),
    Field("started", ("slots",)),
    Field("iters", ("slots",)),
    Field("node_iters", ("nodes",)),  # iterations that ended on each node (a task may migrate)
    Field("walk_began", ("slots",)),
    Field("contended", ("slots",)),
    Field("subtree", ("slots",)),
    Field("caller", ("slots",)),  # the caller (ops.CALLERS) of the slot's current lock acquisition
    Field("rng", ("slots",), dtype=np.uint64),
    # iteration programs (sim/iterate.py), and each copy's place in its chain of them
    Field("pg_at", ("programs", NSECTIONS, 2)),
    Field("pg_code", ("code",)),
    Field("pg_steps", ("steps",), dtype=np.float64),  # a DELAY's arithmetic: (divides, x) pairs
    Field("ch_program", ("slots", "chain"), -1),
    Field("ch_then", ("slots", "chain"), -1),
    Field("ch_at", ("slots",), -1),  # the chain's next program (-1: the CPU runs batches from Python)
    Field("it_base", ("slots",)),     # the last VMA id the copy gave out
    Field("it_pages", ("slots", 2)),  # pages its per-CPU lists allocated, freed
    Field("proc_ids", ("slots", "olds")),   # its process's VMAs: their ids ...
    Field("proc_vmas", ("slots", "olds")),  # ... and engine ids
    Field("freed", ("slots", "freed")),     # engine VMA ids its removals freed, the last one reused first
    Field("freed_n", ("slots",)),
    Field("think", ("slots",), dtype=np.uint64),  # its think-time generator (sim/rng.py)
    # event heap
    Field("h_time", ("heap",)),
    Field("h_seq", ("heap",)),
    Field("h_kind", ("heap",)),
    Field("h_arg", ("heap",)),
    # measurements
    Field("win_iter", ("windows",)),
    Field("win_resp", ("windows",)),
    Field("resp_hist", (CLASSES, BUCKETS)),
    Field("resp_total", (CLASSES,)),
    Field("iters_cls", (CLASSES,)),
    Field("walk_hist", (BUCKETS,)),
    Field("cwalk_hist", (BUCKETS,)),
    Field("cpu_ns", (NSTATES,)),
)
if TYPE_CHECKING:
    class State(tuple[np.ndarray, ...]):
        """For type checkers only: the named tuple below has one field per row of FIELDS, made at
        run time, so a checker cannot list them without a copy of the table. Each is an array."""

        _fields: tuple[str, ...]

        def __new__(cls, *arrays: np.ndarray) -> State: ...
        def __getattr__(self, name: str) -> np.ndarray: ...
        def _replace(self, **arrays: np.ndarray) -> State: ...
else:
    State = namedtuple("State", [field.name for field in FIELDS])


@structref.register
class StateType(types.StructRef):
    """The state as compiled code sees it: one pointer to the arrays, so a call between engine
    functions passes 8 bytes, not the array descriptors of the named tuple."""


class StateRef(structref.StructRefProxy):
    pass


structref.define_proxy(StateRef, StateType, State._fields)  # StateRef(*arrays), in compiled code too


def compiled(s: State):
    """What the compiled loop takes: a StateRef over the same arrays (the tuple itself when
    NUMBA_DISABLE_JIT=1, where attribute access is all the functions need)."""
    return s if config.DISABLE_JIT else _to_ref(s)  # type: ignore[attr-defined]  # set from the environment


@njit
def _to_ref(s):
    return StateRef(*s)


def new_state(sizes: dict[str, int], contents: dict[str, object]) -> State:
    """A state of the given sizes: every array its field's fill, with `contents` (arrays or
    nested lists, by field name) written over the start of theirs."""
    arrays: list[np.ndarray] = []
    for field in FIELDS:
        array = np.full([sizes.get(axis, axis) for axis in field.shape], field.fill, dtype=field.dtype)
        if field.name in contents:
            value = np.asarray(contents[field.name], dtype=field.dtype)
            if value.size:
                assert value.ndim == array.ndim, field.name
                array[tuple(map(slice, value.shape))] = value
        arrays.append(array)
    return State(*arrays)


def resized(S: State, axis: str, size: int) -> State:
    """S with the `axis` of every array that has it grown to `size` (new entries: the fill)."""
    grown: dict[str, np.ndarray] = {}
    for field in FIELDS:
        if axis in field.shape:
            old = getattr(S, field.name)
            shape = [size if name == axis else n for name, n in zip(field.shape, old.shape)]
            grown[field.name] = np.full(shape, field.fill, dtype=field.dtype)
            grown[field.name][tuple(map(slice, old.shape))] = old
    return S._replace(**grown)


def size(S: State, axis: str) -> int:
    """How long the arrays are along `axis`."""
    name, position = AXES[axis]
    return getattr(S, name).shape[position]


AXES = {axis: (field.name, position) for field in reversed(FIELDS)  # a field with the axis, and where
        for position, axis in enumerate(field.shape) if isinstance(axis, str)}
