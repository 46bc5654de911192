"""An iteration's rows, filled in from its program's (sim/encoder.py), compiled: the engine VMA ids
its inserts take and its removals free, then every placeholder's value."""

from __future__ import annotations

from orchestrator.sim.jit import njit

INSERTS, NAMES, REMOVES = 0, 1, 2  # what an op does with a VMA, in a template's events


@njit
def fill(rows, put_at, put_source, events, values, first_engine, vmas, free, free_n, fresh):
    """`rows` with values[put_source] put at put_at. values[first_engine + e] is the engine id of
    event e, given out here as the Python encoder would (Encoder.new_vma, free_vma): an insert
    takes the CPU's last freed id (free[:free_n]) or the next fresh one, a removal frees it.
    vmas[i] is the engine id of the VMA whose id is values[i] (-1: not in a tree).
    Returns (rows, free_n, fresh)."""
    for e in range(events.shape[0]):
        kind, source = events[e, 0], events[e, 1]
        vma = vmas[source]
        if kind == INSERTS:
            if vma >= 0:
                raise ValueError("a program inserts a VMA twice")
            if free_n > 0:
                free_n -= 1
                vma = free[free_n]
            else:
                vma = fresh
                fresh += 1
            vmas[source] = vma
        elif vma < 0:
            raise ValueError("a program names a VMA that is not in a tree")
        elif kind == REMOVES:
            free[free_n] = vma
            free_n += 1
            vmas[source] = -1
        values[first_engine + e] = vma
    out = rows.copy()
    for i in range(put_at.shape[0]):
        out[put_at[i]] = values[put_source[i]]
    return out, free_n, fresh
