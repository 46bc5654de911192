"""The engine's whole state: flat integer arrays in one named tuple, so that the compiled
functions (sim/lines.py, trees.py, locks.py, loop.py) can share it and Python can read it.

Scalars live in `reg` (indexed by the names below). Arrays whose size is not known before a run
(cache lines, VMAs, subtree members, the event heap, programs) are allocated with room to
spare; when the engine runs out of room it stops at an operation boundary and asks the Python
driver (sim/engine.py) to grow them, then carries on where it stopped.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import config, types
from numba.experimental import structref

from orchestrator.sim.histogram import BUCKETS
from orchestrator.sim.jit import njit
from orchestrator.sim.ops import ROW  # noqa: F401  (the engine's row width, with the state it sizes)

BIG = 1 << 62
MEMORY = -1   # owner of a line no CPU has touched yet: it comes from its home node's memory
BITS = 63     # slots per sharer word (bit 63 stays clear: the same integers with the JIT off)

# ---- reg: the engine's scalars -------------------------------------------------------------
(NOW, SEQ, EVENTS, HEAP_N, LOCAL, REMOTE, NLINES, NFREE, END_NS, WARMUP_NS, WINDOW_NS, LOCK_OP, WAKEUP,
 RETRY_LIMIT, SPIN_FIXED, SPIN_LIMIT, RSPIN_BASE, RSPIN_PER, RSPIN_MAX, MAX_WOKEN, HANDOFF_NS, HOME_EFFECT,
 CHECK, WAIT_TOTAL, FALLBACKS, INSERTED, REMOVED, ERROR, ERROR_A, ERROR_B, RESUME_SLOT, RESUME_T,
 LEVEL_NS, RMAP_VMA_NS, NEIGHBOR_WRITES, ROOT_WRITES, GRANTS_N, NREG) = range(38)
# fparam
SMT_SLOWDOWN, SPIN_SCALE, SPIN_SHAPE, HANDOFF_TRANSFERS, COST_SCALE, NFPARAM = range(6)

# what the run loop returns
DONE, NEED_OPS, GROW = range(3)
# what GROW asks for (reg[ERROR_A])
GROW_HEAP, GROW_LINES, GROW_TREE = range(3)  # (VMA arrays grow in Python, when ops are encoded)
# a broken invariant (reg[ERROR], with ERROR_A and ERROR_B): the compiled code raises, and
# sim/engine.py turns the code into an exception with names
(E_NONE, E_TIME_BACK, E_RELEASE_NOT_HELD, E_WRITER_BESIDE_HOLDERS, E_READER_BESIDE_WRITER, E_HOLDS_ALREADY,
 E_NO_READ_MODE, E_HELD_TOO_MANY, E_INSERTED_TWICE, E_NOT_IN_TREE, E_BAD_OP, E_WALK_BESIDE_READERS,
 E_READER_BESIDE_WALK) = range(13)

# a waiter's state
SPIN, SLEEP, WAKING, GRANTED = 0, 1, 2, 3
# what a CPU slot is doing: the SMT model and the CPU-time shares read it
RUNNING, SPINNING, SLEEPING, IDLE = 0, 1, 2, 3
# lock kinds (the names are in sim/locks.py)
K_RWSEM, K_MUTEX, K_SPINLOCK, K_PERCPU = 0, 1, 2, 3
# event kinds
EV_RUN, EV_END_WARMUP, EV_SPIN_ENDS, EV_WOKEN_WRITER = 0, 1, 2, 3
GEN_SHIFT = 20  # an event's waiter: slot | generation << GEN_SHIFT (an old wait's event is ignored)

# lock statistics: one row per (class, mode), lock_stat's columns and where waits went
(ST_ACQ, ST_CONT, ST_ACQ_BOUNCES, ST_CON_BOUNCES, ST_WAIT_TOTAL, ST_WAIT_MIN, ST_WAIT_MAX, ST_HOLD_TOTAL,
 ST_HOLD_MIN, ST_HOLD_MAX, ST_HOLDS, ST_SLEEPS, ST_HANDOFFS, ST_SPIN_NS, ST_SLEEP_NS, ST_WAITS, NSTAT) = range(17)

FIELDS = (
    "reg fparam "
    # machine
    "node latency to_node siblings "
    # cache lines
    "home owner busy transfers sharers cx_of cx_end cx_slot cx_n free "
    # locks
    "lk_kind lk_cls lk_line lk_wait lk_writer lk_readers lk_handoff lk_handoff_ns lk_sp_head lk_sp_tail "
    "lk_sp_n lk_sl_head lk_sl_tail lk_sl_n lk_draining lk_counters pc_lines hold_mode hold_since lk_holders "
    "held held_n stats stats_hist grants "
    # waiters, one per slot
    "w_lock w_mode w_arrived w_state w_since w_deadline w_queued w_gen q_next q_prev "
    # trees and VMAs
    "tr_root tr_top tr_start tr_cap tr_size tr_preloaded members v_orig v_tree v_pos v_line v_first v_last "
    "tables "
    # CPUs and their programs
    "state prog p_len pc pool started iters walk_began contended subtree rng "
    # event heap
    "h_time h_seq h_kind h_arg "
    # measurements
    "win_iter win_resp resp_hist resp_total iters_cls walk_hist cwalk_hist cpu_ns"
)
State = namedtuple("State", FIELDS)
TWO_D = {"latency", "to_node", "siblings", "sharers", "cx_end", "cx_slot", "hold_mode", "hold_since", "held",
         "stats", "stats_hist", "grants", "tr_top", "tables", "pool", "resp_hist"}
DTYPES = {"rng": types.uint64, "fparam": types.float64}


@structref.register
class StateType(types.StructRef):
    """The state as compiled code sees it: one pointer to the arrays, so a call between engine
    functions passes 8 bytes, not the 88 array descriptors of the named tuple."""


class StateRef(structref.StructRefProxy):
    pass


structref.define_boxing(StateType, StateRef)
STATE_TYPE = StateType([(name, types.Array(DTYPES.get(name, types.int64),
                                           3 if name == "prog" else 2 if name in TWO_D else 1, "C"))
                        for name in State._fields])


def compiled(s: State):
    """What the compiled loop takes: a StateRef over the same arrays (the tuple itself when
    NUMBA_DISABLE_JIT=1, where attribute access is all the functions need)."""
    return s if config.DISABLE_JIT else _to_ref(s)


@njit
def _to_ref(s):
    ref = structref.new(STATE_TYPE)
    ref.reg = s.reg
    ref.fparam = s.fparam
    ref.node = s.node
    ref.latency = s.latency
    ref.to_node = s.to_node
    ref.siblings = s.siblings
    ref.home = s.home
    ref.owner = s.owner
    ref.busy = s.busy
    ref.transfers = s.transfers
    ref.sharers = s.sharers
    ref.cx_of = s.cx_of
    ref.cx_end = s.cx_end
    ref.cx_slot = s.cx_slot
    ref.cx_n = s.cx_n
    ref.free = s.free
    ref.lk_kind = s.lk_kind
    ref.lk_cls = s.lk_cls
    ref.lk_line = s.lk_line
    ref.lk_wait = s.lk_wait
    ref.lk_writer = s.lk_writer
    ref.lk_readers = s.lk_readers
    ref.lk_handoff = s.lk_handoff
    ref.lk_handoff_ns = s.lk_handoff_ns
    ref.lk_sp_head = s.lk_sp_head
    ref.lk_sp_tail = s.lk_sp_tail
    ref.lk_sp_n = s.lk_sp_n
    ref.lk_sl_head = s.lk_sl_head
    ref.lk_sl_tail = s.lk_sl_tail
    ref.lk_sl_n = s.lk_sl_n
    ref.lk_draining = s.lk_draining
    ref.lk_counters = s.lk_counters
    ref.pc_lines = s.pc_lines
    ref.hold_mode = s.hold_mode
    ref.hold_since = s.hold_since
    ref.lk_holders = s.lk_holders
    ref.held = s.held
    ref.held_n = s.held_n
    ref.stats = s.stats
    ref.stats_hist = s.stats_hist
    ref.grants = s.grants
    ref.w_lock = s.w_lock
    ref.w_mode = s.w_mode
    ref.w_arrived = s.w_arrived
    ref.w_state = s.w_state
    ref.w_since = s.w_since
    ref.w_deadline = s.w_deadline
    ref.w_queued = s.w_queued
    ref.w_gen = s.w_gen
    ref.q_next = s.q_next
    ref.q_prev = s.q_prev
    ref.tr_root = s.tr_root
    ref.tr_top = s.tr_top
    ref.tr_start = s.tr_start
    ref.tr_cap = s.tr_cap
    ref.tr_size = s.tr_size
    ref.tr_preloaded = s.tr_preloaded
    ref.members = s.members
    ref.v_orig = s.v_orig
    ref.v_tree = s.v_tree
    ref.v_pos = s.v_pos
    ref.v_line = s.v_line
    ref.v_first = s.v_first
    ref.v_last = s.v_last
    ref.tables = s.tables
    ref.state = s.state
    ref.prog = s.prog
    ref.p_len = s.p_len
    ref.pc = s.pc
    ref.pool = s.pool
    ref.started = s.started
    ref.iters = s.iters
    ref.walk_began = s.walk_began
    ref.contended = s.contended
    ref.subtree = s.subtree
    ref.rng = s.rng
    ref.h_time = s.h_time
    ref.h_seq = s.h_seq
    ref.h_kind = s.h_kind
    ref.h_arg = s.h_arg
    ref.win_iter = s.win_iter
    ref.win_resp = s.win_resp
    ref.resp_hist = s.resp_hist
    ref.resp_total = s.resp_total
    ref.iters_cls = s.iters_cls
    ref.walk_hist = s.walk_hist
    ref.cwalk_hist = s.cwalk_hist
    ref.cpu_ns = s.cpu_ns
    return ref


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.int64)


def filled(value: int, *shape: int) -> np.ndarray:
    return np.full(shape, value, dtype=np.int64)


def grown(array: np.ndarray, size: int, fill: int = 0) -> np.ndarray:
    """`array` with its first axis grown to `size`, new entries `fill`."""
    out = np.full((size, *array.shape[1:]), fill, dtype=array.dtype)
    out[:len(array)] = array
    return out


def hist_rows(count: int) -> np.ndarray:
    return zeros(count, BUCKETS)
