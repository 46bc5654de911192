"""A copy's next iteration, made by the compiled loop from its chain's program (sim/programs.py):
the values that change from one iteration to the next (its think time drawn from the copy's
generator, sim/rng.py), the engine VMA ids its inserts take and
its removals free, its rows with every placeholder put in and its zone-lock holds repeated.

Chain.iterations is the same arithmetic in Python; sim/encoder.py encodes the programs and
sim/driver.py lays them out in the state (pg_*): per program, sections of pg_code (and the
DELAYs' factors in pg_steps), each a (start, length) in pg_at. A program's rows hold 0 where a
value goes; `values` are, in order: the ids of the VMAs it makes, those of its process's VMAs,
its DELAYs, then the engine id of each VMA event.
"""

from __future__ import annotations

import numpy as np

from orchestrator.sim.jit import njit
from orchestrator.sim.ops import ROW
from orchestrator.sim.rng import think_scale
from orchestrator.sim.state import (
    ERROR_B,
    GROW_FREED,
    GROW_PROGRAM,
    GROW_VMAS,
    PCP_BATCH,
    SEC_COUNTS,
    SEC_DELAYS,
    SEC_EVENTS,
    SEC_FINALS,
    SEC_JUMPS,
    SEC_POOL,
    SEC_PUT_AT,
    SEC_PUT_SOURCE,
    SEC_REPEATS,
    SEC_ROWS,
    SEC_SIZES,
    THINK_CV,
    VMAS,
)

INSERTS, NAMES, REMOVES = 0, 1, 2  # what an op does with a VMA, in a program's events
REFILL, DRAIN = 0, 1               # a count's kind (sim/programs.py, REFILLS, DRAINS)
MADE = -1                           # what next_iteration returns when it made the iteration


@njit
def section(S, program, which):
    """The section of the program's tables in pg_code."""
    start, length = S.pg_at[program, which, 0], S.pg_at[program, which, 1]
    return S.pg_code[start:start + length]


@njit
def holds(kind, pages, counted, batch):
    """zone->lock holds for `pages` more pages on a copy's per-CPU lists (generators/pages.py),
    counted: pages allocated, freed so far. A refill whenever the list runs empty (it starts
    empty), a drain per batch freed."""
    if kind == REFILL:
        before = (counted[0] + batch - 1) // batch
        counted[0] += pages
        return (counted[0] + batch - 1) // batch - before
    before = counted[1] // batch
    counted[1] += pages
    return counted[1] // batch - before


@njit
def next_iteration(S, slot):
    """Make the copy's next iteration its program (S.prog[slot], S.pool[slot]). Returns MADE,
    or what must come first: a GROW_* with the room it needs in reg[ERROR_B]. Nothing changes
    before the room is there."""
    step = S.ch_at[slot]
    p = S.ch_program[slot, step]
    sizes = section(S, p, SEC_SIZES)
    new, olds, removals = sizes[0], sizes[1], sizes[2]
    counts_of = section(S, p, SEC_COUNTS)
    counted = S.it_pages[slot].copy()
    counts = np.empty(counts_of.shape[0] // 2, dtype=np.int64)
    for i in range(counts.shape[0]):
        counts[i] = holds(counts_of[2 * i], counts_of[2 * i + 1], counted, S.reg[PCP_BATCH])
    repeats = section(S, p, SEC_REPEATS)
    template = section(S, p, SEC_ROWS)
    length = template.shape[0] // ROW
    for r in range(0, repeats.shape[0], 3):
        length += (counts[repeats[r + 2]] - 1) * (repeats[r + 1] - repeats[r])
    if S.reg[VMAS] + new > S.v_orig.shape[0]:
        S.reg[ERROR_B] = S.reg[VMAS] + new
        return GROW_VMAS
    if S.freed_n[slot] + removals > S.freed.shape[1]:
        S.reg[ERROR_B] = S.freed_n[slot] + removals
        return GROW_FREED
    if length > S.prog.shape[1]:
        S.reg[ERROR_B] = length
        return GROW_PROGRAM

    scale = think_scale(S.think, slot, S.fparam[THINK_CV])  # the copy's own generator: not the lock timing's
    S.it_pages[slot] = counted
    delays = section(S, p, SEC_DELAYS)
    events = section(S, p, SEC_EVENTS)
    first_engine = new + olds + delays.shape[0] // 2
    values = np.empty(first_engine + events.shape[0] // 2, dtype=np.int64)
    vmas = np.full(new + olds, -1, dtype=np.int64)  # the engine id of each VMA among the values
    base = S.it_base[slot]
    for j in range(new):
        values[j] = base + 1 + j
    S.it_base[slot] = base + new
    for k in range(olds):
        values[new + k] = S.proc_ids[slot, k]
        vmas[new + k] = S.proc_vmas[slot, k]
    for d in range(delays.shape[0] // 2):
        value = scale
        for i in range(delays[2 * d], delays[2 * d] + delays[2 * d + 1]):
            x = S.pg_steps[2 * i + 1]
            value = value / x if S.pg_steps[2 * i] else value * x
        values[new + olds + d] = int(value)
    give_out(S, slot, events, values, vmas, first_engine)
    finals = section(S, p, SEC_FINALS)
    for i in range(finals.shape[0]):
        S.proc_ids[slot, i] = values[finals[i]]
        S.proc_vmas[slot, i] = vmas[finals[i]]

    filled = template.copy()
    put_at, put_source = section(S, p, SEC_PUT_AT), section(S, p, SEC_PUT_SOURCE)
    for i in range(put_at.shape[0]):
        filled[put_at[i]] = values[put_source[i]]
    rows = filled.reshape(-1, ROW)
    out = S.prog[slot]
    done, at = 0, 0
    for r in range(0, repeats.shape[0], 3):  # the rows before a block, then the block count times
        start, end = repeats[r], repeats[r + 1]
        out[at:at + start - done] = rows[done:start]
        at += start - done
        for _ in range(counts[repeats[r + 2]]):
            out[at:at + end - start] = rows[start:end]
            at += end - start
        done = end
    out[at:at + rows.shape[0] - done] = rows[done:]
    jumps = section(S, p, SEC_JUMPS)
    for i in range(0, jumps.shape[0], 2):  # a trylock and its target move by the repeats before them
        row, column = jumps[i] // ROW, jumps[i] % ROW
        out[moved(row, repeats, counts), column] = moved(jumps[i + 1], repeats, counts)
    pool = section(S, p, SEC_POOL)
    S.pool[slot, :pool.shape[0]] = pool
    S.p_len[slot] = length
    S.pc[slot] = 0
    S.ch_at[slot] = S.ch_then[slot, step]
    return MADE


@njit
def moved(row, repeats, counts):
    """Where a row of the program is once the repeats before it are made."""
    out = row
    for r in range(0, repeats.shape[0], 3):
        if repeats[r + 1] <= row:
            out += (counts[repeats[r + 2]] - 1) * (repeats[r + 1] - repeats[r])
    return out


@njit
def give_out(S, slot, events, values, vmas, first_engine):
    """values[first_engine + e]: the engine id of event e's VMA. An insert takes the copy's last
    freed id or the next fresh one, a removal frees it (as sim/encoder.py's new_vma, free_vma)."""
    for e in range(events.shape[0] // 2):
        kind, source = events[2 * e], events[2 * e + 1]
        vma = vmas[source]
        if kind == INSERTS:
            if vma >= 0:
                raise ValueError("a program inserts a VMA twice")
            n = S.freed_n[slot]
            if n > 0:
                vma = S.freed[slot, n - 1]
                S.freed_n[slot] = n - 1
            else:
                vma = S.reg[VMAS]
                S.reg[VMAS] = vma + 1
            vmas[source] = vma
        elif vma < 0:
            raise ValueError("a program names a VMA that is not in a tree")
        elif kind == REMOVES:
            S.freed[slot, S.freed_n[slot]] = vma
            S.freed_n[slot] += 1
            vmas[source] = -1
        values[first_engine + e] = vma
