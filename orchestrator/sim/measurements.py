"""What a run measured, read out of the engine's state when the run ends: what simulate.py
turns into tables, without reaching into the state's arrays."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from orchestrator.sim import ops, state
from orchestrator.sim.histogram import Histogram
from orchestrator.sim.state import IDLE, SLEEPING, SPINNING, State

if TYPE_CHECKING:
    from orchestrator.sim.engine import Engine


@dataclass
class LockStats:
    """One row of /proc/lock_stat: a lock class in one mode, plus where waiters spent their wait."""

    acquisitions: int
    contentions: int
    acq_bounces: int
    con_bounces: int
    wait_total: int
    wait_min: int
    wait_max: int
    hold_total: int
    hold_min: int
    hold_max: int
    holds: int
    sleeps: int
    handoffs: int
    spin_ns: int
    sleep_ns: int
    wait_hist: Histogram


# the columns of state.stats, in the order of LockStats
STAT_COLUMNS = (state.ST_ACQ, state.ST_CONT, state.ST_ACQ_BOUNCES, state.ST_CON_BOUNCES, state.ST_WAIT_TOTAL,
                state.ST_WAIT_MIN, state.ST_WAIT_MAX, state.ST_HOLD_TOTAL, state.ST_HOLD_MIN, state.ST_HOLD_MAX,
                state.ST_HOLDS, state.ST_SLEEPS, state.ST_HANDOFFS, state.ST_SPIN_NS, state.ST_SLEEP_NS)


@dataclass
class LockClassStats:
    """Locks of one class share statistics, as lockdep classes do in /proc/lock_stat; each mode's
    are kept per caller too (the function that took the lock, as perf lock contention shows)."""

    name: str
    kind: str
    stats: tuple[LockStats, LockStats]  # by mode: ops.WRITE_MODE, ops.READ_MODE; every caller
    callers: dict[tuple[int, str], LockStats]  # (mode, caller) -> its share, where it was taken or contended


@dataclass
class Measurements:
    """Counts and histograms cover the measured time (from the end of the warm-up); the windows
    (the time series) cover the whole run."""

    iterations: list[int]                  # by class (ops.END): write, read
    response_total_ns: list[int]           # by class
    response: tuple[Histogram, Histogram]  # by class
    slot_iterations: list[int]             # by CPU slot: the copies, then the walkers
    node_iterations: list[int]             # by the node the CPU that ended them is on
    lock_classes: dict[str, LockClassStats]  # in the order declared
    wait_total_ns: int                     # what every grant after a wait waited
    transfers_local: int                   # cache-line transfers within a node ...
    transfers_remote: int                  # ... and between nodes
    lockref_fallbacks: int                 # cmpxchg loops that took their spinlock
    migrations: int                        # moves at exec (placement migrate)
    walks: Histogram                       # rmap walk latency
    contended_walks: Histogram             # ... of the walks that gave up at a contended trylock
    spin_ns: int                           # CPU time spinning, sleeping and idle, summed over slots
    sleep_ns: int
    idle_ns: int
    window_ns: int
    window_iterations: list[int]
    window_response_ns: list[int]
    events: int
    wall_s: float
    grants: list[tuple[int, int, int, int]]  # under --check: (lock, slot, mode, start) of the first grants


def read(S: State, world: Engine, wall_s: float) -> Measurements:
    reg = S.reg.tolist()
    cpu_ns = S.cpu_ns.tolist()
    return Measurements(
        iterations=S.iters_cls.tolist(), response_total_ns=S.resp_total.tolist(),
        response=(Histogram(S.resp_hist[0].tolist()), Histogram(S.resp_hist[1].tolist())),
        slot_iterations=S.iters.tolist(), node_iterations=S.node_iters.tolist(), lock_classes=lock_classes(S, world),
        wait_total_ns=reg[state.WAIT_TOTAL], transfers_local=reg[state.LOCAL], transfers_remote=reg[state.REMOTE],
        lockref_fallbacks=reg[state.FALLBACKS], migrations=reg[state.MIGRATIONS],
        walks=Histogram(S.walk_hist.tolist()), contended_walks=Histogram(S.cwalk_hist.tolist()),
        spin_ns=cpu_ns[SPINNING], sleep_ns=cpu_ns[SLEEPING], idle_ns=cpu_ns[IDLE],
        window_ns=world.window_ns, window_iterations=S.win_iter.tolist(), window_response_ns=S.win_resp.tolist(),
        events=reg[state.EVENTS], wall_s=wall_s,
        grants=[tuple(row) for row in S.grants[:reg[state.GRANTS_N]].tolist()],
    )


def lock_classes(S: State, world: Engine) -> dict[str, LockClassStats]:
    out = {}
    for index, (name, kind) in enumerate(world.lock_classes.items()):
        callers = {}
        for mode in (0, 1):
            for code, caller in enumerate(ops.CALLERS):
                found = lock_stats(S, (2 * index + mode) * len(ops.CALLERS) + code)
                if found.acquisitions or found.contentions:
                    callers[mode, caller] = found
        out[name] = LockClassStats(name, kind, (summed(S, [s for (m, _), s in callers.items() if m == 0]),
                                                summed(S, [s for (m, _), s in callers.items() if m == 1])), callers)
    return out


def summed(S: State, parts: list[LockStats]) -> LockStats:
    """One class and mode's statistics over its callers."""
    hist = Histogram([0] * S.stats_hist.shape[1])
    for part in parts:
        hist.merge(part.wait_hist)
    total = {f.name: sum(getattr(p, f.name) for p in parts) for f in fields(LockStats) if f.name != "wait_hist"}
    total["wait_min"] = min((p.wait_min for p in parts), default=state.BIG)
    total["hold_min"] = min((p.hold_min for p in parts), default=state.BIG)
    total["wait_max"] = max((p.wait_max for p in parts), default=0)
    total["hold_max"] = max((p.hold_max for p in parts), default=0)
    return LockStats(**total, wait_hist=hist)


def lock_stats(S: State, row: int) -> LockStats:
    counts = S.stats[row, list(STAT_COLUMNS)].tolist()
    return LockStats(**{f.name: n for f, n in zip(fields(LockStats), counts)},
                     wait_hist=Histogram(S.stats_hist[row].tolist()))
