"""The event heap (compiled): events are (time, seq, kind, arg) in four parallel arrays, a binary
heap ordered by (time, seq); seq counts schedulings, so ties go in scheduling order and a run is
a pure function of its inputs."""

from __future__ import annotations

from orchestrator.sim.jit import njit
from orchestrator.sim.state import HEAP_N, SEQ


@njit
def earlier(S, i, time, seq):
    """Whether heap entry i comes before (time, seq)."""
    return S.h_time[i] < time or (S.h_time[i] == time and S.h_seq[i] < seq)


@njit
def move(S, dst, src):
    S.h_time[dst] = S.h_time[src]
    S.h_seq[dst] = S.h_seq[src]
    S.h_kind[dst] = S.h_kind[src]
    S.h_arg[dst] = S.h_arg[src]


@njit
def place(S, i, time, seq, kind, arg):
    S.h_time[i] = time
    S.h_seq[i] = seq
    S.h_kind[i] = kind
    S.h_arg[i] = arg


@njit
def push_event(S, when, kind, arg):
    """Schedule an event (the caller has made sure there is room)."""
    i = S.reg[HEAP_N]
    seq = S.reg[SEQ]
    S.reg[SEQ] = seq + 1
    S.reg[HEAP_N] = i + 1
    while i > 0:  # sift up
        parent = (i - 1) >> 1
        if earlier(S, parent, when, seq):
            break
        move(S, i, parent)
        i = parent
    place(S, i, when, seq, kind, arg)


@njit
def pop_event(S):
    """Remove the earliest event; returns (time, kind, arg)."""
    when, kind, arg = S.h_time[0], S.h_kind[0], S.h_arg[0]
    n = S.reg[HEAP_N] - 1
    S.reg[HEAP_N] = n
    if n:
        t, q, k, a = S.h_time[n], S.h_seq[n], S.h_kind[n], S.h_arg[n]
        i = 0
        while 2 * i + 1 < n:  # sift the last entry down from the root
            child = 2 * i + 1
            if child + 1 < n and earlier(S, child + 1, S.h_time[child], S.h_seq[child]):
                child += 1
            if not earlier(S, child, t, q):
                break
            move(S, i, child)
            i = child
        place(S, i, t, q, k, a)
    return when, kind, arg
