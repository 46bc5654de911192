"""Cache lines with a home node, an owner and sharers (compiled; state in sim/state.py).

A write or atomic by CPU c costs the transfer from the line's owner to c (and invalidation of
sharers) and makes c the owner; a read costs the transfer unless c already holds a copy.
Atomics serialize on the line; a cmpxchg loop also pays a failed attempt, and one more
transfer, for every other CPU's RMW in flight on the line, so its cost grows with the number
of contenders without a bound, until the caller's retry limit (lib/lockref.c) sends it to the
fallback spinlock.
"""

from __future__ import annotations

from orchestrator.sim.jit import njit
from orchestrator.sim.state import (
    BITS,
    HOME_EFFECT,
    LOCAL,
    MEMORY,
    NFREE,
    NLINES,
    REMOTE,
)


@njit
def is_sharer(S, line, slot):
    return (S.sharers[line, slot // BITS] >> (slot % BITS)) & 1 == 1


@njit
def add_sharer(S, line, slot):
    S.sharers[line, slot // BITS] |= 1 << (slot % BITS)


@njit
def has_sharers(S, line):
    for word in S.sharers[line]:
        if word != 0:
            return True
    return False


@njit
def count(S, src_node, dst_node):
    if src_node == dst_node:
        S.reg[LOCAL] += 1
    else:
        S.reg[REMOTE] += 1


@njit
def transfer(S, line, src, dst):
    """Cost of moving `line` from src (a slot or MEMORY) to slot dst; counts it."""
    home = S.home[line]
    dst_node = S.node[dst]
    if src == MEMORY:
        src_node = home
        cost = S.to_node[dst, home]
    else:
        src_node = S.node[src]
        cost = S.latency[src, dst]
        # AMD: between two CPUs both away from the home node, the probe goes through home
        if S.reg[HOME_EFFECT] and src_node != home and dst_node != home:
            cost = max(cost, S.to_node[src, home], S.to_node[dst, home])
    S.transfers[line] += 1
    count(S, src_node, dst_node)
    return cost


@njit
def between(S, src, dst):
    """A transfer of a line that belongs to no shared structure (a CPU's own MCS node)."""
    if src == dst:
        return 0
    count(S, S.node[src], S.node[dst])
    return S.latency[src, dst]


@njit
def read(S, line, slot):
    owner = S.owner[line]
    if owner == slot or is_sharer(S, line, slot):
        return 0
    add_sharer(S, line, slot)
    return transfer(S, line, owner, slot)


@njit
def read_all(S, slot, lines, first, n):
    """Read lines[first:first + n] back to back; only the ones this CPU does not hold cost."""
    cost = 0
    for i in range(first, first + n):
        line = lines[i]
        owner = S.owner[line]
        if owner != slot and not is_sharer(S, line, slot):
            add_sharer(S, line, slot)
            cost += transfer(S, line, owner, slot)
    return cost


@njit
def write(S, line, slot):
    owner = S.owner[line]
    shared = has_sharers(S, line)
    if owner == slot and not shared:
        return 0
    cost = 0 if owner == slot else transfer(S, line, owner, slot)
    if shared:  # invalidations go out in parallel: the farthest one counts
        words = S.sharers[line]
        words[slot // BITS] &= ~(1 << (slot % BITS))
        for w in range(len(words)):
            word = words[w]
            if word == 0:
                continue
            for bit in range(BITS):
                if (word >> bit) & 1:
                    cost = max(cost, S.latency[slot, w * BITS + bit])
            words[w] = 0
    S.owner[line] = slot
    return cost


@njit
def atomic(S, line, slot, now):
    """A locked RMW: waits for earlier RMWs on the line, then takes it exclusively."""
    start = max(now, S.busy[line])
    done = start + write(S, line, slot)
    S.busy[line] = done
    return done - now


@njit
def cmpxchg(S, line, slot, now, retry_limit):
    """A cmpxchg retry loop: (cost, done). Each RMW in flight on the line lands between this
    CPU's read and its cmpxchg once, failing an attempt: one more transfer of the line to this
    CPU per contender, without a cap. The reloads overlap the wait for the line's earlier RMWs;
    only the winning cmpxchg occupies the line. With retry_limit or more in flight the loop
    gives up after retry_limit failures (done is False: take the fallback lock)."""
    k = S.cx_of[line]
    ends, slots = S.cx_end[k], S.cx_slot[k]
    kept = 0
    for i in range(S.cx_n[k]):  # RMWs still in flight, by other CPUs, in the order they began
        if ends[i] > now and slots[i] != slot:
            ends[kept] = ends[i]
            slots[kept] = slots[i]
            kept += 1
    S.cx_n[k] = kept
    retries = 0
    for i in range(min(kept, retry_limit)):
        retries += transfer(S, line, slots[i], slot)
    if kept >= retry_limit:
        return retries, False
    start = max(S.busy[line], now + retries)
    done = start + write(S, line, slot)
    S.busy[line] = done
    ends[kept] = done
    slots[kept] = slot
    S.cx_n[k] = kept + 1
    return done - now, True


@njit
def new_line(S, home):
    """A line for a new VMA's node: a freed one if there is one (the engine has checked room)."""
    if S.reg[NFREE] > 0:
        S.reg[NFREE] -= 1
        line = S.free[S.reg[NFREE]]
    else:
        line = S.reg[NLINES]
        S.reg[NLINES] += 1
    S.home[line] = home
    S.owner[line] = MEMORY
    S.busy[line] = 0
    return line


@njit
def free_line(S, line):
    S.sharers[line, :] = 0
    if S.cx_of[line] >= 0:
        S.cx_n[S.cx_of[line]] = 0
    S.free[S.reg[NFREE]] = line
    S.reg[NFREE] += 1
