"""The event loop and the CPU interpreter (compiled; state in sim/state.py).

Events are (time, seq, kind, arg) in a binary heap; seq breaks ties in scheduling order, so a
run is a pure function of its inputs. A CPU whose next step is no later than every pending
event goes on inline instead of through the heap (at a tie it runs first): fewer heap
operations, and still one fixed order.

A copy's iterations are made here, from its chain of programs (sim/iterate.py). The loop returns
to the Python driver when another CPU has run out of encoded operations, or an array is full,
always at an operation boundary; the driver refills or
grows and calls it again, and it carries on exactly where it stopped (reg[RESUME_SLOT] at
reg[RESUME_T]).
"""

from __future__ import annotations

import numpy as np

from orchestrator.sim import ops
from orchestrator.sim.heap import pop_event, push_event
from orchestrator.sim.histogram import bucket_of
from orchestrator.sim.iterate import MADE, next_iteration
from orchestrator.sim.jit import njit
from orchestrator.sim.lines import atomic, cmpxchg, read, read_all, write
from orchestrator.sim.locks import (
    acquire,
    busy,
    critical,
    in_window,
    release,
    smt_factor,
    spin_ends,
    try_acquire,
    woken_writer,
)
from orchestrator.sim.migrate import sched_exec
from orchestrator.sim.state import (
    BIG,
    CHECK,
    DONE,
    E_BAD_OP,
    E_TIME_BACK,
    END_NS,
    ERROR_A,
    ERROR_B,
    EV_END_WARMUP,
    EV_RUN,
    EV_SPIN_ENDS,
    EV_WOKEN_WRITER,
    EVENTS,
    FALLBACKS,
    GROW,
    GROW_HEAP,
    GROW_LINES,
    GROW_TREE,
    HEAP_N,
    IDLE,
    INSERTED,
    LOCAL,
    NEED_OPS,
    NFREE,
    NLINES,
    NOW,
    REMOTE,
    REMOVED,
    RESUME_SLOT,
    RESUME_T,
    RETRY_LIMIT,
    RUNNING,
    ST_HOLD_MIN,
    ST_WAIT_MIN,
    WAIT_TOTAL,
    WINDOW_NS,
)
from orchestrator.sim.trees import fail, insert, query, remove

HASH_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier, as the kernel's hash_64


@njit
def operand(S, slot, value):
    """An operand, or, for INDIRECT + t, entry `subtree register` of table t."""
    if value >= ops.INDIRECT:
        return S.tables[value - ops.INDIRECT, S.subtree[slot]]
    return value


@njit
def stop(S, slot, t, status, what):
    """Pause at an operation boundary: the driver refills or grows, then calls run again."""
    S.reg[RESUME_SLOT] = slot
    S.reg[RESUME_T] = t
    S.reg[ERROR_A] = what
    return status


@njit
def room(S):
    """Whether the heap can take what one operation may schedule (a batch of woken readers)."""
    return S.reg[HEAP_N] + 2 * len(S.state) + 8 <= len(S.h_time)


@njit
def tree_op(S, row, slot, t):
    action = row[2]
    if action == ops.INSERT or action == ops.INSERT_AFTER:
        S.reg[INSERTED] += 1
        return insert(S, operand(S, slot, row[1]), row[3], row[6], row[4], row[5], slot, action == ops.INSERT)
    if action == ops.REMOVE:
        S.reg[REMOVED] += 1
        vma = row[3]
        tree = S.v_tree[vma] if row[1] >= ops.INDIRECT else row[1]  # a run-time choice: where it is
        return remove(S, tree, vma, slot)
    return query(S, operand(S, slot, row[1]), row[3], row[4], slot)[0]


@njit
def needs_room(S, row, slot):
    """GROW_* if an INSERT could not place its VMA, else -1."""
    if row[0] != ops.TREE or (row[2] != ops.INSERT and row[2] != ops.INSERT_AFTER):
        return -1
    if S.reg[NFREE] == 0 and S.reg[NLINES] == len(S.owner):
        return GROW_LINES
    tree = operand(S, slot, row[1])
    if S.tr_size[tree] == S.tr_cap[tree]:
        S.reg[ERROR_B] = tree
        return GROW_TREE
    return -1


@njit
def iteration_done(S, slot, cls, t):
    response = t - S.started[slot]
    S.iters[slot] += 1
    S.node_iters[S.node[slot]] += 1
    S.iters_cls[cls] += 1
    S.resp_total[cls] += response
    S.resp_hist[cls, bucket_of(response)] += 1
    window = t // S.reg[WINDOW_NS]
    S.win_iter[window] += 1
    S.win_resp[window] += response


@njit
def smallest(S, slot, trees, lines):
    """split-cpu's smallest_tree_idx: read each subtree's counter until an empty one; the first
    smallest wins."""
    table = S.tables[trees]
    k = 0
    while k < table.shape[0] and table[k] >= 0:
        k += 1
    best = 0
    for i in range(k):
        if S.tr_size[table[i]] < S.tr_size[table[best]]:
            best = i
    scanned = best + 1 if S.tr_size[table[best]] == 0 else k
    S.subtree[slot] = best
    return read_all(S, slot, S.tables[lines], 0, scanned)


@njit
def subtree_of(S, vma, trees):
    """The index in table `trees` of the subtree that holds `vma`."""
    table = S.tables[trees]
    for i in range(table.shape[0]):
        if table[i] == S.v_tree[vma]:
            return i
    fail(S, E_BAD_OP, trees, vma)
    return 0


@njit
def vma_hash(vma, k):
    """hash_64-style spread of a VMA's id over k subtrees (strategies/sharded.py: vma_hashes)."""
    return int(((np.uint64(vma) * HASH_MIX) >> np.uint64(32)) % np.uint64(k))


@njit
def picked(S, slot, code, a, b, c):
    """The subtree a choice op (SUBTREE_OF, CHOOSE) picks for the CPU, without costing anything."""
    if code == ops.SUBTREE_OF:
        return subtree_of(S, a, b)
    if a == ops.BY_NODE:
        return S.node[slot] % b
    if a == ops.BY_CPU:
        return S.slot_cpu[slot] % b
    return vma_hash(c, b)


@njit
def run_cpu(S, slot, t):
    """Execute the CPU's operations from t until it waits on a lock or on the clock; another
    status than DONE pauses the run (stop)."""
    reg = S.reg
    S.state[slot] = RUNNING
    end = reg[END_NS]
    while True:
        pc = S.pc[slot]
        if pc >= S.p_len[slot]:
            if S.ch_at[slot] < 0:  # the driver encodes the CPU's next batch
                return stop(S, slot, t, NEED_OPS, 0)
            made = next_iteration(S, slot)  # a copy's next iteration, from its chain's program
            if made != MADE:
                return stop(S, slot, t, GROW, made)
            pc = 0
        if not room(S):
            return stop(S, slot, t, GROW, GROW_HEAP)
        row = S.prog[slot, pc]
        want = needs_room(S, row, slot)
        if want >= 0:
            return stop(S, slot, t, GROW, want)
        S.pc[slot] = pc + 1
        code = row[0]
        if code == ops.DELAY:
            t += int(row[1] * smt_factor(S, slot))
        elif code == ops.HOLD:
            t += critical(S, slot, row[1])
        elif code == ops.IDLE:
            S.state[slot] = IDLE
            S.cpu_ns[IDLE] += in_window(S, t, t + row[1])
            t += row[1]
            if t <= end:  # through the heap: it runs again (RUNNING) from there
                push_event(S, t, EV_RUN, slot)
            return DONE
        elif code == ops.ACQUIRE:
            S.caller[slot] = row[4]
            cost = acquire(S, operand(S, slot, row[1]), slot, row[2], t)
            if cost < 0:
                return DONE  # parked: the lock resumes this CPU when it grants it
            t += cost
        elif code == ops.RELEASE:
            t += release(S, operand(S, slot, row[1]), slot, row[2], t)
        elif code == ops.TRY_ACQUIRE:
            S.caller[slot] = row[6]
            cost = try_acquire(S, operand(S, slot, row[1]), slot, row[2], t)
            if cost >= 0:
                t += cost
            else:  # give up: drop what was taken, skip the rest (folio_referenced's rwc->contended)
                t += -1 - cost
                pool = S.pool[slot]
                for i in range(row[3] + 2 * row[4] - 2, row[3] - 2, -2):
                    t += release(S, operand(S, slot, pool[i]), slot, pool[i + 1], t)
                S.contended[slot] = 1
                S.pc[slot] = row[5]
        elif code == ops.START:
            S.started[slot] = t
        elif code == ops.MIGRATE:
            t += sched_exec(S, slot, t)
        elif code == ops.END:
            iteration_done(S, slot, row[1], t)
        elif code == ops.WALK_BEGIN:
            S.walk_began[slot] = t
        elif code == ops.WALK_END:
            hist = S.cwalk_hist if S.contended[slot] else S.walk_hist
            hist[bucket_of(t - S.walk_began[slot])] += 1
            S.contended[slot] = 0
        elif code == ops.TREE:  # a critical section's work: a busy SMT sibling slows all of it
            t += critical(S, slot, tree_op(S, row, slot, t))
        elif code == ops.READ:
            t += read(S, operand(S, slot, row[1]), slot)
        elif code == ops.READ_ALL:
            t += read_all(S, slot, S.pool[slot], row[1], row[2])
        elif code == ops.WRITE:
            t += write(S, operand(S, slot, row[1]), slot)
        elif code == ops.ATOMIC:
            t += atomic(S, operand(S, slot, row[1]), slot, t)
        elif code == ops.WRITE_VMA:
            t += write(S, S.v_line[row[1]], slot)
        elif code == ops.CMPXCHG:
            lock = row[2]
            if lock >= 0 and busy(S, lock):
                cost, done = 0, False  # the loop runs only while the spinlock is free
            else:
                cost, done = cmpxchg(S, row[1], slot, t, reg[RETRY_LIMIT] if lock >= 0 else BIG)
            t += cost
            if done:
                S.pc[slot] += row[3]  # skip the fallback
            else:  # lockref falls back to its spinlock: the ACQUIRE and RELEASE that follow
                reg[FALLBACKS] += 1
        elif code == ops.SMALLEST:
            t += smallest(S, slot, row[1], row[2])
        elif code == ops.SUBTREE_OF or code == ops.CHOOSE:
            S.subtree[slot] = picked(S, slot, code, row[1], row[2], row[3])
        elif code == ops.JOIN:  # the next change goes where this one went: stay under its lock
            if picked(S, slot, row[1], row[2], row[3], row[4]) == S.subtree[slot]:
                S.pc[slot] += row[5]
        else:
            fail(S, E_BAD_OP, code, slot)
        if t != reg[NOW]:
            if t > end:
                return DONE
            if reg[HEAP_N] and t > S.h_time[0]:
                push_event(S, t, EV_RUN, slot)
                return DONE
            reg[NOW] = t
            reg[EVENTS] += 1


@njit
def end_warmup(S):
    """Steady-state figures count from here (the time series keeps the warm-up)."""
    S.stats[:] = 0
    S.stats[:, ST_WAIT_MIN] = BIG
    S.stats[:, ST_HOLD_MIN] = BIG
    S.stats_hist[:] = 0
    S.reg[LOCAL] = S.reg[REMOTE] = 0
    S.transfers[:] = 0
    reset_measurements(S)


@njit
def reset_measurements(S):
    S.resp_hist[:] = 0
    S.resp_total[:] = 0
    S.iters_cls[:] = 0
    S.reg[WAIT_TOTAL] = 0
    S.walk_hist[:] = 0
    S.cwalk_hist[:] = 0
    S.cpu_ns[:] = 0
    S.reg[FALLBACKS] = 0
    S.iters[:] = 0
    S.node_iters[:] = 0


@njit
def run(S):
    """Run towards END_NS; returns DONE, or the reason it paused (NEED_OPS, GROW)."""
    reg = S.reg
    slot = reg[RESUME_SLOT]
    if slot >= 0:
        reg[RESUME_SLOT] = -1
        status = run_cpu(S, slot, reg[RESUME_T])
        if status != DONE:
            return status
    end = reg[END_NS]
    check = reg[CHECK]
    while reg[HEAP_N] and S.h_time[0] <= end:
        if not room(S):
            return stop(S, -1, 0, GROW, GROW_HEAP)
        when, kind, arg = pop_event(S)
        if check and when < reg[NOW]:
            fail(S, E_TIME_BACK, reg[NOW], when)
        reg[NOW] = when
        reg[EVENTS] += 1
        if kind == EV_RUN:
            status = run_cpu(S, arg, when)
            if status != DONE:
                return status
        elif kind == EV_SPIN_ENDS:
            spin_ends(S, arg, when)
        elif kind == EV_WOKEN_WRITER:
            woken_writer(S, arg, when)
        elif kind == EV_END_WARMUP:
            end_warmup(S)
    reg[NOW] = end
    return DONE

