"""Sleeping and spinning locks after kernel/locking/rwsem.c and mutex.c, with lock_stat counters
(compiled; state in sim/state.py; docs/model.md says why each rule matters).

rw_semaphore rules modelled:
- A writer takes a free lock at once, even past sleeping waiters (lock stealing), unless a
  waiter holds the handoff. A reader takes it when no writer holds it, no handoff is pending
  and either nobody holds it or nobody sleeps in the wait list (the read fast path, then
  rwsem_down_read_slowpath's stealing rule); otherwise readers sleep (they do not spin).
- An arrival tries the fast path first (a cmpxchg on the lock word, which pulls its line). A
  contended writer spins on the osq (FIFO) while the owner runs. It leaves the osq and joins
  the wait list (sleeps) when need_resched() arrives (kernel.spin_rule "need_resched": only
  when another task is runnable on its CPU, once the scheduler's slice is used up, at a tick;
  "hazard": a Weibull time with mean spin_mean_ns and shape spin_shape, model version 3's rule;
  "fixed": after spin_limit_ns), when the owner stops running (owner_on_cpu, checked at
  arrival and whenever the owner falls asleep), or, on a reader-owned lock, after (base +
  per_reader x readers), capped.
- On release the osq head, which polls the lock word, takes the lock (lock word and MCS node
  transfers); a release that finds sleepers also takes the wait_lock and wakes the first
  sleeper, which retries after the wakeup latency: the lock stays free meanwhile unless a
  spinner or a newcomer steals it. A woken writer that finds the lock taken sleeps again, or,
  once it has waited handoff_ns (a mutex: after one failed wakeup), reserves the lock
  (handoff) and spins on the owner until it is released. Sleeping readers at the head of the
  wait list are woken together, up to 256, skipping writers, with one atomic on the count.
A mutex is a writer-only rwsem with mutex handoff; a spinlock (qspinlock) never sleeps. The
percpu kind is the mnt_hold_writers() pattern (below).

Each CPU slot waits for at most one lock at a time, so a waiter is the slot itself (w_*
arrays), and the osq (spinners) and the wait list (sleepers) are linked lists through q_next.
"""

from __future__ import annotations

import math

import numpy as np

from orchestrator.sim.heap import push_event
from orchestrator.sim.histogram import bucket_of
from orchestrator.sim.jit import njit
from orchestrator.sim.lines import atomic, between, read, write

# the lock kinds are re-exported for plugins written against earlier versions
from orchestrator.sim.ops import (  # noqa: F401
    CALLERS,
    HOLD,
    KINDS,
    MUTEX,
    PERCPU_RWSEM,
    READ_MODE,
    RWSEM,
    SPINLOCK,
    WRITE_MODE,
)
from orchestrator.sim.rng import unit
from orchestrator.sim.state import (
    BACKGROUND,
    BIG,
    CHECK,
    COST_SCALE,
    E_HELD_TOO_MANY,
    E_HOLDS_ALREADY,
    E_NO_READ_MODE,
    E_READER_BESIDE_WALK,
    E_READER_BESIDE_WRITER,
    E_RELEASE_NOT_HELD,
    E_WALK_BESIDE_READERS,
    E_WRITER_BESIDE_HOLDERS,
    END_NS,
    EV_RUN,
    EV_SPIN_ENDS,
    EV_WOKEN_WRITER,
    GEN_SHIFT,
    GRANTED,
    GRANTS_N,
    HANDOFF_TRANSFERS,
    K_MUTEX,
    K_PERCPU,
    K_RWSEM,
    K_SPINLOCK,
    LOCK_OP,
    MAX_WOKEN,
    RSPIN_BASE,
    RSPIN_MAX,
    RSPIN_PER,
    RULE_FIXED,
    RULE_NEED_RESCHED,
    RUNNING,
    SLEEP,
    SLEEPING,
    SLICE_LATENCY,
    SLICE_MIN,
    SMT_SLOWDOWN,
    SMT_SPIN_SLOWDOWN,
    SPIN,
    SPIN_LIMIT,
    SPIN_RULE,
    SPIN_SCALE,
    SPIN_SHAPE,
    SPINNING,
    ST_ACQ,
    ST_ACQ_BOUNCES,
    ST_CON_BOUNCES,
    ST_CONT,
    ST_HANDOFFS,
    ST_HOLD_MAX,
    ST_HOLD_MIN,
    ST_HOLD_TOTAL,
    ST_HOLDS,
    ST_SLEEP_NS,
    ST_SLEEPS,
    ST_SPIN_NS,
    ST_WAIT_MAX,
    ST_WAIT_MIN,
    ST_WAIT_TOTAL,
    ST_WAITS,
    TICK_NS,
    WAIT_TOTAL,
    WAKEUP,
    WAKING,
    WARMUP_NS,
)
from orchestrator.sim.trees import fail

NCALLERS = len(CALLERS)

# ---- small helpers -----------------------------------------------------------------------------

@njit
def in_window(S, start, end):
    """The part of [start, end) inside the measured window."""
    return max(0, min(end, S.reg[END_NS]) - max(start, S.reg[WARMUP_NS]))


@njit
def smt_factor(S, slot):
    """A CPU whose SMT sibling runs shares its core: its work takes longer; a sibling spinning on
    cpu_relax (PAUSE) takes less of the core than one that runs."""
    factor = 1.0
    for sibling in S.siblings[slot]:
        if sibling >= 0:
            if S.state[sibling] == RUNNING:
                return S.fparam[SMT_SLOWDOWN]
            if S.state[sibling] == SPINNING:
                factor = S.fparam[SMT_SPIN_SLOWDOWN]
    return factor


@njit
def critical(S, slot, ns):
    """How long `ns` of work inside a critical section takes: kernel.cost_scale, and a busy SMT
    sibling (the product is formed in this order, so scale 1 changes no result)."""
    return int(ns * smt_factor(S, slot) * S.fparam[COST_SCALE])


@njit
def resume_cpu(S, slot, when, waited):
    """A lock granted `slot` after it waited; it goes on at `when`. A hold that follows at once
    touches no shared state, so it is folded into the same event, saving one heap round trip
    per handoff (the ACQUIRE row says whether its program goes on with a HOLD)."""
    S.reg[WAIT_TOTAL] += waited
    pc = S.pc[slot]
    if pc < S.p_len[slot] and S.prog[slot, pc - 1, 3] == 1 and S.prog[slot, pc, 0] == HOLD:
        when += critical(S, slot, S.prog[slot, pc, 1])
        S.pc[slot] = pc + 1
    push_event(S, when, EV_RUN, slot)


@njit
def spin_time(S, slot):
    """How long a new spinner spins before need_resched() (kernel.spin_rule hazard): Weibull
    with the kernel's mean and shape; the exponential draw is -log(u)."""
    e = -math.log(unit(S.rng, slot))
    shape = S.fparam[SPIN_SHAPE]
    return int(S.fparam[SPIN_SCALE] * (e if shape == 1.0 else e ** (1 / shape)))


@njit
def runnable_beside(S, slot):
    """Other tasks runnable on the slot's CPU: the stated background load, and the run's other
    slots on that CPU that run or spin (a walker beside a copy)."""
    n = S.reg[BACKGROUND]
    for mate in S.mates[slot]:
        if mate >= 0 and S.state[mate] <= SPINNING:
            n += 1
    return n


@njit
def resched_time(S, slot, others):
    """When need_resched() reaches a spinner with `others` tasks runnable beside it
    (kernel.spin_rule need_resched): once its slice is used up, at a tick. The slice is
    max(latency / k, minimum) of run time for k runnable tasks (sim/layout.py, slice_ns); the
    spinner has already run a uniform part of it, and ticks come at a uniform phase."""
    reg = S.reg
    slice_ns = max(reg[SLICE_LATENCY] // (others + 1), reg[SLICE_MIN])
    left = unit(S.rng, slot) * slice_ns
    tick = reg[TICK_NS]
    phase = unit(S.rng, slot) * tick
    if left <= phase:
        return int(phase)
    return int(phase + math.ceil((left - phase) / tick) * tick)


# ---- lock_stat -----------------------------------------------------------------------------------

@njit
def stat_row(S, lock, mode, slot):
    """The statistics row of `slot`'s acquisition of `lock`: its class, mode and caller."""
    return (S.lk_cls[lock] * 2 + mode) * NCALLERS + S.caller[slot]


@njit
def stat_wait(S, row, ns):
    st = S.stats[row]
    st[ST_WAIT_TOTAL] += ns
    st[ST_WAIT_MIN] = min(st[ST_WAIT_MIN], ns)
    st[ST_WAIT_MAX] = max(st[ST_WAIT_MAX], ns)
    st[ST_WAITS] += 1
    S.stats_hist[row, bucket_of(ns)] += 1


@njit
def stat_hold(S, row, ns):
    st = S.stats[row]
    st[ST_HOLDS] += 1
    st[ST_HOLD_TOTAL] += ns
    st[ST_HOLD_MIN] = min(st[ST_HOLD_MIN], ns)
    st[ST_HOLD_MAX] = max(st[ST_HOLD_MAX], ns)


@njit
def charge(S, lock, slot, end):
    """Book the waiter's current spin or sleep, from w_since to end, to its lock class and CPU."""
    ns = in_window(S, S.w_since[slot], end)
    if ns:
        row = stat_row(S, lock, S.w_mode[slot], slot)
        if S.w_state[slot] == SPIN:
            S.stats[row, ST_SPIN_NS] += ns
            S.cpu_ns[SPINNING] += ns
        else:
            S.stats[row, ST_SLEEP_NS] += ns
            S.cpu_ns[SLEEPING] += ns
    S.w_since[slot] = end


# ---- queues: the osq (spinners) and the wait list (sleepers), linked through the slots ---------

@njit
def q_push(S, head, tail, n, lock, slot):
    S.q_next[slot] = -1
    S.q_prev[slot] = tail[lock]
    if tail[lock] >= 0:
        S.q_next[tail[lock]] = slot
    else:
        head[lock] = slot
    tail[lock] = slot
    n[lock] += 1


@njit
def q_remove(S, head, tail, n, lock, slot):
    before, after = S.q_prev[slot], S.q_next[slot]
    if before >= 0:
        S.q_next[before] = after
    else:
        head[lock] = after
    if after >= 0:
        S.q_prev[after] = before
    else:
        tail[lock] = before
    n[lock] -= 1


@njit
def q_take_all(S, head, tail, n, lock):
    """Empty the queue; returns its slots in order."""
    out = np.empty(n[lock], dtype=np.int64)
    slot = head[lock]
    for i in range(len(out)):
        out[i] = slot
        slot = S.q_next[slot]
    head[lock] = tail[lock] = -1
    n[lock] = 0
    return out


@njit
def new_waiter(S, lock, slot, mode, now, state):
    S.w_lock[slot] = lock
    S.w_mode[slot] = mode
    S.w_arrived[slot] = now
    S.w_state[slot] = state
    S.w_since[slot] = now
    S.w_deadline[slot] = BIG
    S.w_queued[slot] = -1
    S.w_gen[slot] += 1


@njit
def waiter_event(S, slot):
    return slot | (S.w_gen[slot] << GEN_SHIFT)


# ---- holding -------------------------------------------------------------------------------------

@njit
def trace_grant(S, lock, slot, mode, start):
    """Keep (lock, slot, mode, start) of each grant while the trace has room (--check only:
    Measurements.grants)."""
    n = S.reg[GRANTS_N]
    if n < len(S.grants):
        S.grants[n, 0] = lock
        S.grants[n, 1] = slot
        S.grants[n, 2] = mode
        S.grants[n, 3] = start
        S.reg[GRANTS_N] = n + 1


@njit
def hold_from(S, lock, slot, mode, start):
    if S.reg[CHECK]:
        if mode == WRITE_MODE and S.lk_holders[lock] > 0:
            fail(S, E_WRITER_BESIDE_HOLDERS, lock, slot)
        if mode == READ_MODE and (S.hold_mode[lock] == WRITE_MODE).any():
            fail(S, E_READER_BESIDE_WRITER, lock, slot)
        if S.hold_mode[lock, slot] >= 0:
            fail(S, E_HOLDS_ALREADY, lock, slot)
        trace_grant(S, lock, slot, mode, start)
    S.hold_mode[lock, slot] = mode
    S.hold_since[lock, slot] = start
    S.hold_row[lock, slot] = stat_row(S, lock, mode, slot)
    S.lk_holders[lock] += 1
    if mode == WRITE_MODE and (S.lk_kind[lock] == K_RWSEM or S.lk_kind[lock] == K_MUTEX):
        n = S.held_n[slot]
        if n == S.held.shape[1]:
            fail(S, E_HELD_TOO_MANY, lock, slot)
        S.held[slot, n] = lock
        S.held_n[slot] = n + 1


@njit
def end_hold(S, lock, slot, mode, now):
    """Count the hold that `slot` ends now; it must hold `lock` in `mode`."""
    if S.hold_mode[lock, slot] != mode:
        fail(S, E_RELEASE_NOT_HELD, lock, slot)
    S.hold_mode[lock, slot] = -1
    S.lk_holders[lock] -= 1
    stat_hold(S, S.hold_row[lock, slot], now - S.hold_since[lock, slot])
    if mode == WRITE_MODE and (S.lk_kind[lock] == K_RWSEM or S.lk_kind[lock] == K_MUTEX):
        held = S.held[slot]
        n = S.held_n[slot]
        for i in range(n):
            if held[i] == lock:
                held[i:n - 1] = held[i + 1:n].copy()
                S.held_n[slot] = n - 1
                break


# ---- acquire -------------------------------------------------------------------------------------

@njit
def acquire(S, lock, slot, mode, now):
    """Cost in ns if the lock is taken at once, else -1: the CPU is parked until granted."""
    if S.lk_kind[lock] == K_PERCPU:
        return percpu_acquire(S, lock, slot, mode, now)
    if free_for(S, lock, mode):
        return take(S, lock, slot, mode, now)
    st = S.stats[stat_row(S, lock, mode, slot)]
    st[ST_CONT] += 1
    line = S.lk_line[lock]
    if S.owner[line] != slot:
        st[ST_CON_BOUNCES] += 1
    # the fast path's cmpxchg (rwsem_write_trylock, the reader's add, the spinlock's) failed, but
    # pulled the lock word's line here: the owner's release must take it back
    atomic(S, line, slot, now)
    new_waiter(S, lock, slot, mode, now, SPIN)
    deadline = spin_deadline(S, lock, slot, mode, now)
    if deadline <= now:
        sleep(S, lock, slot, now)
    else:
        spin(S, lock, slot, deadline, now)
    return -1


@njit
def try_acquire(S, lock, slot, mode, now):
    """down_read_trylock / down_write_trylock: the cost if taken, else -1 - cost of the look.

    A trylock fails on a held lock and also when waiters sleep or a handoff is pending (the
    count's waiters and handoff bits make the cmpxchg fail)."""
    if S.lk_kind[lock] == K_PERCPU:
        return percpu_try_acquire(S, lock, slot, mode, now)
    if free_for(S, lock, mode) and S.lk_sl_n[lock] == 0:
        return take(S, lock, slot, mode, now)
    return -1 - read(S, S.lk_line[lock], slot)


@njit
def free_for(S, lock, mode):
    if S.lk_writer[lock] >= 0 or S.lk_handoff[lock] >= 0:
        return False
    if mode == WRITE_MODE:
        return S.lk_readers[lock] == 0
    if S.lk_kind[lock] != K_RWSEM:
        fail(S, E_NO_READ_MODE, lock, -1)
    return S.lk_readers[lock] == 0 or S.lk_sl_n[lock] == 0


@njit
def take(S, lock, slot, mode, now):
    st = S.stats[stat_row(S, lock, mode, slot)]
    if mode == WRITE_MODE:
        S.lk_writer[lock] = slot
    else:
        S.lk_readers[lock] += 1
    line = S.lk_line[lock]
    if S.owner[line] != slot:
        st[ST_ACQ_BOUNCES] += 1
    st[ST_ACQ] += 1
    cost = atomic(S, line, slot, now) + S.reg[LOCK_OP]
    hold_from(S, lock, slot, mode, now + cost)
    return cost


@njit
def spin_deadline(S, lock, slot, mode, now):
    """When a new waiter stops spinning: now (sleep at once) ... BIG (never)."""
    if S.lk_kind[lock] == K_SPINLOCK:
        return BIG
    if mode == READ_MODE:
        return now  # readers do not spin optimistically in current kernels
    owner = S.lk_writer[lock]
    if owner >= 0 and S.state[owner] == SLEEPING:
        return now  # owner_on_cpu() is false: nothing to spin for
    reg = S.reg
    rule = reg[SPIN_RULE]
    if rule == RULE_NEED_RESCHED:  # the tick asks only when another task wants the CPU
        others = runnable_beside(S, slot)
        deadline = now + resched_time(S, slot, others) if others else BIG
    elif rule == RULE_FIXED:
        deadline = BIG if reg[SPIN_LIMIT] < 0 else now + reg[SPIN_LIMIT]
    else:
        deadline = now + spin_time(S, slot)
    readers = S.lk_readers[lock]
    if readers:  # rwsem_rspin_threshold: a reader-owned lock is spun on for a while only
        cap = min(reg[RSPIN_BASE] + reg[RSPIN_PER] * readers, reg[RSPIN_MAX])
        deadline = min(deadline, now + cap)
    return deadline


@njit
def spin(S, lock, slot, deadline, now):
    # joining the queue (osq_lock, or qspinlock's MCS) swaps its tail, in the lock word's line
    atomic(S, S.lk_line[lock], slot, now)
    S.w_state[slot] = SPIN
    S.w_deadline[slot] = deadline
    q_push(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, lock, slot)
    S.state[slot] = SPINNING
    if deadline < BIG:
        push_event(S, deadline, EV_SPIN_ENDS, waiter_event(S, slot))


@njit
def spin_ends(S, event, now):
    """need_resched() (or the reader-owned cap) ended a spin: the waiter sleeps. A waiter that
    stopped spinning before (granted, or asleep) has no deadline any more."""
    slot = event & ((1 << GEN_SHIFT) - 1)
    if S.w_gen[slot] != event >> GEN_SHIFT or S.w_deadline[slot] != now:
        return
    lock = S.w_lock[slot]
    q_remove(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, lock, slot)
    sleep(S, lock, slot, now)


@njit
def sleep_one(S, lock, slot, now):
    """The waiter stops spinning (or never started) and sleeps, joining the wait list if it is
    not on it yet."""
    charge(S, lock, slot, now)
    S.w_state[slot] = SLEEP
    S.w_deadline[slot] = BIG
    S.state[slot] = SLEEPING
    if S.w_queued[slot] < 0 and S.lk_handoff[lock] != slot:
        S.w_queued[slot] = now
        q_push(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, slot)
        S.stats[stat_row(S, lock, S.w_mode[slot], slot), ST_SLEEPS] += 1
        write(S, S.lk_wait[lock], slot)  # queued under wait_lock


@njit
def sleep(S, lock, slot, now):
    """`slot` sleeps on `lock`; so does, in turn, every spinner on a lock a sleeper owns
    (owner_on_cpu), depth first in the order the locks were taken and the spinners queued."""
    todo = np.empty(len(S.state) + 1, dtype=np.int64)  # slots still to put to sleep, last first
    todo[0] = slot
    n = 1
    while n:
        n -= 1
        sleeper = todo[n]
        sleep_one(S, S.w_lock[sleeper], sleeper, now)
        mark = n
        for i in range(S.held_n[sleeper]):
            owned = S.held[sleeper, i]
            for spinner in q_take_all(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, owned):
                todo[n] = spinner
                n += 1
            reserved = S.lk_handoff[owned]
            if reserved >= 0 and S.w_state[reserved] == SPIN:
                todo[n] = reserved
                n += 1
        todo[mark:n] = todo[mark:n][::-1].copy()  # the first found sleeps first


# ---- release and grant ------------------------------------------------------------------------

@njit
def release(S, lock, slot, mode, now):
    if S.lk_kind[lock] == K_PERCPU:
        return percpu_release(S, lock, slot, mode, now)
    end_hold(S, lock, slot, mode, now)
    if mode == WRITE_MODE:
        S.lk_writer[lock] = -1
    else:
        S.lk_readers[lock] -= 1
    line = S.lk_line[lock]
    # whoever spins on the lock word holds a copy of its line: the release takes it back
    poller = S.lk_sp_head[lock] if S.lk_sp_n[lock] else S.lk_handoff[lock]
    if poller >= 0 and S.w_state[poller] == SPIN:
        read(S, line, poller)
    cost = atomic(S, line, slot, now)
    if S.lk_writer[lock] < 0 and S.lk_readers[lock] == 0:
        sleepers = S.lk_sl_n[lock] > 0
        if sleepers or S.lk_handoff[lock] >= 0:
            # the wake path: rwsem_wake takes wait_lock to look at the wait list
            cost += write(S, S.lk_wait[lock], slot)
        if S.lk_sp_n[lock] or sleepers or S.lk_handoff[lock] >= 0:
            grant(S, lock, now + cost, slot)
    return cost + S.reg[LOCK_OP]


@njit
def grant(S, lock, now, waker):
    """The lock just became free and someone waits: pick who gets it, as rwsem.c does."""
    line = S.lk_line[lock]
    head = S.lk_handoff[lock]
    if head >= 0:
        S.lk_handoff[lock] = -1
        S.lk_writer[lock] = head
        S.stats[stat_row(S, lock, WRITE_MODE, head), ST_HANDOFFS] += 1
        wakeup = S.reg[WAKEUP] if S.w_state[head] == SLEEP else 0
        resume(S, lock, head, now, write(S, line, head) + wakeup)
        return
    first = S.lk_sl_head[lock] if S.lk_sl_n[lock] else -1
    spinners = S.lk_sp_n[lock]
    if first >= 0 and S.w_mode[first] == READ_MODE and (
            not spinners or now - S.w_queued[first] >= S.lk_handoff_ns[lock]):
        if spinners:
            S.stats[stat_row(S, lock, READ_MODE, first), ST_HANDOFFS] += 1
        grant_readers(S, lock, now, waker)
        return
    if spinners:
        head = S.lk_sp_head[lock]
        q_remove(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, lock, head)
        S.lk_writer[lock] = head
        cost = int(write(S, line, head) * S.fparam[HANDOFF_TRANSFERS])
        if S.lk_sp_n[lock]:  # osq_unlock: the new owner hands the osq to the next spinner's MCS node
            cost += between(S, S.lk_sp_head[lock], head)
        resume(S, lock, head, now, cost)
    if first >= 0 and S.w_mode[first] == WRITE_MODE and S.w_state[first] == SLEEP:
        S.w_state[first] = WAKING  # rwsem_mark_wake: the first writer is woken to retry
        push_event(S, now + S.reg[WAKEUP], EV_WOKEN_WRITER, waiter_event(S, first))


@njit
def grant_readers(S, lock, now, waker):
    """Wake up to max_readers_woken sleeping readers, skipping writers: the waker adds them all
    to the count with one atomic; each runs after its wakeup."""
    budget = S.reg[MAX_WOKEN]
    woken = np.empty(S.lk_sl_n[lock], dtype=np.int64)
    count = 0
    waiter = S.lk_sl_head[lock]
    while waiter >= 0:
        after = S.q_next[waiter]
        if S.w_mode[waiter] == READ_MODE and count < budget:
            q_remove(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, waiter)
            woken[count] = waiter
            count += 1
        waiter = after
    S.lk_readers[lock] += count
    cost = atomic(S, S.lk_line[lock], waker, now) + S.reg[WAKEUP]
    for i in range(count):
        resume(S, lock, woken[i], now, cost)


@njit
def woken_writer(S, event, now):
    """A woken writer retries: it takes a free lock, or sleeps again, or reserves the lock
    (handoff) once it has waited long enough and spins on the owner."""
    slot = event & ((1 << GEN_SHIFT) - 1)
    if S.w_gen[slot] != event >> GEN_SHIFT or S.w_state[slot] != WAKING:
        return
    lock = S.w_lock[slot]
    # rwsem_try_write_lock, under wait_lock: a cmpxchg on the count, won or lost
    cost = write(S, S.lk_wait[lock], slot)
    cost += atomic(S, S.lk_line[lock], slot, now)
    if S.lk_writer[lock] < 0 and S.lk_readers[lock] == 0 and S.lk_handoff[lock] < 0:
        q_remove(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, slot)
        S.lk_writer[lock] = slot
        resume(S, lock, slot, now, cost)
    elif now - S.w_queued[slot] >= S.lk_handoff_ns[lock] and S.lk_handoff[lock] < 0:
        q_remove(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, slot)
        S.lk_handoff[lock] = slot
        charge(S, lock, slot, now)
        owner = S.lk_writer[lock]
        if owner >= 0 and S.state[owner] == SLEEPING:
            S.w_state[slot] = SLEEP  # the owner does not run: nothing to spin on
        else:
            S.w_state[slot] = SPIN
            S.state[slot] = SPINNING
    else:
        S.w_state[slot] = SLEEP


@njit
def resume(S, lock, slot, now, cost):
    start = now + cost + S.reg[LOCK_OP]
    charge(S, lock, slot, start)
    mode = S.w_mode[slot]
    S.w_state[slot] = GRANTED
    S.w_deadline[slot] = BIG
    S.state[slot] = RUNNING
    row = stat_row(S, lock, mode, slot)
    S.stats[row, ST_ACQ] += 1
    stat_wait(S, row, start - S.w_arrived[slot])
    hold_from(S, lock, slot, mode, start)
    resume_cpu(S, slot, start, start - S.w_arrived[slot])


@njit
def busy(S, lock):
    """Held or queued for: a lockref cmpxchg loop does not even try (lib/lockref.c)."""
    return S.lk_writer[lock] >= 0 or S.lk_readers[lock] > 0 or S.lk_sp_n[lock] > 0


@njit
def close_all(S, end):
    """Book the waits still going on when the run ends."""
    for lock in range(len(S.lk_kind)):
        for head in (S.lk_sp_head[lock], S.lk_sl_head[lock]):
            slot = head
            while slot >= 0:
                charge(S, lock, slot, end)
                slot = S.q_next[slot]
        pending = S.lk_handoff[lock]
        if pending >= 0 and (S.lk_kind[lock] != K_PERCPU or S.lk_draining[lock]):
            charge(S, lock, pending, end)


# ---- percpu: the mnt_hold_writers() pattern (strategy writer-hold) ------------------------------
# Read side (a tree change): bump this CPU's counter and read the hold flag; if a walker holds or
# is draining, undo the bump and spin until the flag clears. Write side (a walk): walkers queue
# FIFO; the first sets the flag, sums every CPU's counter until they drain to zero, walks, and
# clears the flag, releasing the spinning readers. The flag is the lock word; readers spinning
# on it use the osq list, queued walkers the wait list, and the draining walker the handoff.

@njit
def counter(S, lock, slot):
    return S.pc_lines[S.lk_counters[lock] + slot]


@njit
def percpu_acquire(S, lock, slot, mode, now):
    flag = S.lk_line[lock]
    row = stat_row(S, lock, mode, slot)
    if mode == READ_MODE:
        cost = write(S, counter(S, lock, slot), slot)
        cost += read(S, flag, slot)
        if S.lk_writer[lock] < 0:
            S.lk_readers[lock] += 1
            return percpu_hold(S, lock, slot, mode, now, cost, -1)
        S.stats[row, ST_CONT] += 1
        write(S, counter(S, lock, slot), slot)  # back off: undo the bump, then spin on the flag
        new_waiter(S, lock, slot, mode, now, SPIN)
        q_push(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, lock, slot)
        S.state[slot] = SPINNING
        return -1
    if S.lk_writer[lock] >= 0:
        S.stats[row, ST_CONT] += 1
        new_waiter(S, lock, slot, mode, now, SLEEP)
        q_push(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, slot)
        S.state[slot] = SLEEPING
        return -1
    new_waiter(S, lock, slot, mode, now, SPIN)
    return start_walk(S, lock, slot, now)


@njit
def percpu_try_acquire(S, lock, slot, mode, now):
    """A walk that gives up unless the flag is free and no change is in flight."""
    free = S.lk_writer[lock] < 0
    if free and (mode == READ_MODE or not S.lk_readers[lock]):
        return percpu_acquire(S, lock, slot, mode, now)
    return -1 - read(S, S.lk_line[lock], slot)


@njit
def start_walk(S, lock, slot, now):
    """Set the hold flag and sum the counters; the walk may start once readers drain."""
    S.lk_writer[lock] = slot
    cost = write(S, S.lk_line[lock], slot)
    for other in range(len(S.state)):
        cost += read(S, counter(S, lock, other), slot)
    if S.lk_readers[lock] == 0:
        return percpu_hold(S, lock, slot, WRITE_MODE, now, cost, S.w_arrived[slot])
    S.lk_draining[lock] = 1
    if S.w_arrived[slot] == now:  # one that queued behind another walker was counted then
        S.stats[stat_row(S, lock, WRITE_MODE, slot), ST_CONT] += 1
    charge(S, lock, slot, now)
    S.w_state[slot] = SPIN
    S.state[slot] = SPINNING
    S.lk_handoff[lock] = slot  # the draining walker
    return -1


@njit
def percpu_hold(S, lock, slot, mode, now, cost, arrived):
    """Grant at once (arrived < 0) or after a wait; returns the delay until the hold starts."""
    start = now + cost + S.reg[LOCK_OP]
    row = stat_row(S, lock, mode, slot)
    S.stats[row, ST_ACQ] += 1
    if S.reg[CHECK]:
        if mode == WRITE_MODE and S.lk_readers[lock]:
            fail(S, E_WALK_BESIDE_READERS, lock, slot)
        if mode == READ_MODE and S.lk_writer[lock] >= 0:
            fail(S, E_READER_BESIDE_WALK, lock, slot)
        trace_grant(S, lock, slot, mode, start)
    S.hold_mode[lock, slot] = mode
    S.hold_since[lock, slot] = start
    S.hold_row[lock, slot] = row
    S.lk_holders[lock] += 1
    if arrived >= 0 and arrived != now:
        stat_wait(S, row, start - arrived)
    return start - now


@njit
def percpu_resume(S, lock, slot, now, cost):
    delay = percpu_hold(S, lock, slot, S.w_mode[slot], now, cost, -1)
    stat_wait(S, stat_row(S, lock, S.w_mode[slot], slot), now + delay - S.w_arrived[slot])
    percpu_granted(S, lock, slot, now + delay)


@njit
def percpu_granted(S, lock, slot, start):
    charge(S, lock, slot, start)
    S.state[slot] = RUNNING
    resume_cpu(S, slot, start, start - S.w_arrived[slot])


@njit
def percpu_release(S, lock, slot, mode, now):
    end_hold(S, lock, slot, mode, now)
    if mode == READ_MODE:
        S.lk_readers[lock] -= 1
        mine = counter(S, lock, slot)
        cost = write(S, mine, slot)
        if S.lk_readers[lock] == 0 and S.lk_draining[lock]:
            S.lk_draining[lock] = 0
            walker = S.lk_handoff[lock]
            # the walker's summing loop sees the last counter change
            percpu_resume(S, lock, walker, now + cost, read(S, mine, walker))
        return cost + S.reg[LOCK_OP]
    flag = S.lk_line[lock]
    cost = write(S, flag, slot)  # clear the hold flag
    S.lk_writer[lock] = -1
    for waiter in q_take_all(S, S.lk_sp_head, S.lk_sp_tail, S.lk_sp_n, lock):
        S.lk_readers[lock] += 1
        look = read(S, flag, waiter)
        percpu_resume(S, lock, waiter, now + cost, look + write(S, counter(S, lock, waiter), waiter))
    if S.lk_sl_n[lock]:
        walker = S.lk_sl_head[lock]
        q_remove(S, S.lk_sl_head, S.lk_sl_tail, S.lk_sl_n, lock, walker)
        delay = start_walk(S, lock, walker, now + cost)
        if delay >= 0:
            percpu_granted(S, lock, walker, now + cost + delay)
    return cost + S.reg[LOCK_OP]
