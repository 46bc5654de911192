"""The engine against queueing theory on the zero-cost machine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simhelp import replicate, run_spec

Z, S = 10_000, 1_000      # ns: think and hold
SEEDS = range(1, 7)
# The models below serve waiters first come, first served and lose no time between grants. The
# engine does the same when writers spin until granted (osq order) on the zero-cost machine;
# with the default hazard rule, waiters that sleep are served out of order and come back after
# a wakeup, which these models do not describe.
FCFS = {"spin_rule": "fixed", "spin_limit_ns": None}


def repairman(n: int, z: float, s: float) -> tuple[float, float]:
    """M/M/1//N: throughput per second and mean response (wait + hold) in ns."""
    if n == 0:
        return 0.0, 0.0
    terms = [math.factorial(n) / math.factorial(n - k) * (s / z) ** k for k in range(n + 1)]
    p0 = 1 / sum(terms)
    x = (1 - p0) / s
    return x * 1e9, n / x - z


def within(measured, theory):
    mean, half = measured
    return abs(mean - theory) <= half


@pytest.mark.parametrize("n", [1, 3, 8, 12, 24, 64])
def test_machine_repairman(n):
    spec = run_spec(copies=n, duration_ms=30, warmup_ms=1, kernel=FCFS, workload={"think_ns": Z, "hold_ns": S})
    got = replicate(spec, SEEDS, ["throughput_per_s", "response_mean_ns"])
    x, r = repairman(n, Z, S)
    assert within(got["throughput_per_s"], x), (got, x)
    assert within(got["response_mean_ns"], r), (got, r)


def test_repairman_check_can_fail():
    """The CIs are tight enough to tell N=12 from its neighbours: the test above has teeth."""
    spec = run_spec(copies=12, duration_ms=30, warmup_ms=1, kernel=FCFS, workload={"think_ns": Z, "hold_ns": S})
    got = replicate(spec, SEEDS, ["response_mean_ns"])
    assert not within(got["response_mean_ns"], repairman(11, Z, S)[1])
    assert not within(got["response_mean_ns"], repairman(13, Z, S)[1])


def test_pinned_independent_locks_sum_of_repairmen():
    n, k = 20, 3  # CPU slot i uses lock i % 3: 7, 7 and 6 CPUs
    spec = run_spec(copies=n, duration_ms=30, warmup_ms=1, kernel=FCFS,
                    workload={"think_ns": 4_000, "hold_ns": S, "locks": k, "lock_choice": "pinned"})
    got = replicate(spec, SEEDS, ["throughput_per_s"])
    sizes = [len(range(i, n, k)) for i in range(k)]
    assert within(got["throughput_per_s"], sum(repairman(m, 4_000, S)[0] for m in sizes))


def mva(n: int, z: float, demands: list[float]) -> tuple[float, float]:
    """Exact mean value analysis of a closed network: delay z plus FCFS queues with these demands."""
    queues = [0.0] * len(demands)
    x = r = 0.0
    for m in range(1, n + 1):
        times = [d * (1 + q) for d, q in zip(demands, queues)]
        r = sum(times)
        x = m / (z + r)
        queues = [x * t for t in times]
    return x * 1e9, r


def test_random_lock_per_access_matches_mva():
    n, k = 16, 4
    spec = run_spec(copies=n, duration_ms=30, warmup_ms=1, kernel=FCFS,
                    workload={"think_ns": 3_000, "hold_ns": S, "locks": k, "lock_choice": "random"})
    got = replicate(spec, SEEDS, ["throughput_per_s", "response_mean_ns"])
    x, r = mva(n, 3_000, [S / k] * k)
    assert within(got["throughput_per_s"], x)
    assert within(got["response_mean_ns"], r)


# ---- readers-writer lock: exact CTMC of the implemented semantics ----------------------

def rw_ctmc(n: int, q: float, z: float, sw: float, sr: float, writers_spin: bool):
    """Stationary solution of the rwsem semantics for n CPUs on one lock, zero costs.

    State: (writer holds, readers holding, spinners (writers, FIFO), sleepers (modes, FIFO)).
    Rules (orchestrator/sim/locks.py): a writer takes a free lock, else spins (writers_spin) or
    sleeps; a reader takes the lock if no writer holds it and (nobody holds it or nobody
    sleeps), else sleeps. On release: the first spinner, else the first sleeper: a writer
    alone, or every sleeping reader (skipping writers).
    Returns throughput (write, read) per second and mean response (write, read) in ns.
    """
    def grant(spin, sleep):
        if spin:
            return (1, 0, spin - 1, sleep)
        if sleep:
            if sleep[0] == "W":
                return (1, 0, spin, sleep[1:])
            readers = sum(1 for m in sleep if m == "R")
            return (0, readers, spin, tuple(m for m in sleep if m == "W"))
        return (0, 0, spin, sleep)

    def moves(state):
        w, r, spin, sleep = state
        thinking = n - w - r - spin - len(sleep)
        out = []
        if thinking:
            rate = thinking / z
            # a writer arrives
            if not w and not r:
                out.append(((1, r, spin, sleep), rate * (1 - q)))
            elif writers_spin:
                out.append(((w, r, spin + 1, sleep), rate * (1 - q)))
            else:
                out.append(((w, r, spin, sleep + ("W",)), rate * (1 - q)))
            # a reader arrives
            if not w and (r == 0 or not sleep):  # spinners are not on the wait list
                out.append(((w, r + 1, spin, sleep), rate * q))
            else:
                out.append(((w, r, spin, sleep + ("R",)), rate * q))
        if w:
            out.append((grant(spin, sleep), 1 / sw))
        if r:
            nxt = (0, r - 1, spin, sleep) if r > 1 else grant(spin, sleep)
            out.append((nxt, r / sr))
        return out

    start = (0, 0, 0, ())
    index, order, edges = {start: 0}, [start], []
    for state in order:
        for nxt, rate in moves(state):
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            edges.append((index[state], index[nxt], rate))
    size = len(order)
    gen = np.zeros((size, size))
    for a, b, rate in edges:
        gen[a, b] += rate
        gen[a, a] -= rate
    system = np.vstack([gen.T, np.ones(size)])
    rhs = np.zeros(size + 1)
    rhs[-1] = 1
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    xw = sum(p * s[0] / sw for p, s in zip(pi, order))
    xr = sum(p * s[1] / sr for p, s in zip(pi, order))
    in_w = sum(p * (s[0] + s[2] + s[3].count("W")) for p, s in zip(pi, order))
    in_r = sum(p * (s[1] + s[3].count("R")) for p, s in zip(pi, order))
    return (xw * 1e9, xr * 1e9), (in_w / xw, in_r / xr)


NEVER = 10**15  # ns: a spin or hand-off timer that never fires in a test run
MARKOV_KERNEL = {"handoff_ns": NEVER, "reader_owned_spin_base_ns": NEVER, "reader_owned_spin_max_ns": NEVER}


@pytest.mark.parametrize("writers_spin", [True, False], ids=["writers-spin", "writers-sleep"])
def test_readers_writer_lock_matches_ctmc(writers_spin):
    n, q, z, sw, sr = 4, 0.6, 3_000, 1_000, 2_000
    kernel = {**MARKOV_KERNEL, "spin_rule": "fixed", "spin_limit_ns": None if writers_spin else 0}
    spec = run_spec(copies=n, duration_ms=40, warmup_ms=1, kernel=kernel,
                    workload={"think_ns": z, "hold_ns": sw, "read_hold_ns": sr, "read_fraction": q})
    got = replicate(spec, SEEDS, ["throughput_per_s", "response_write_mean_ns", "response_read_mean_ns"])
    (xw, xr), (rw, rr) = rw_ctmc(n, q, z, sw, sr, writers_spin)
    assert within(got["throughput_per_s"], xw + xr)
    assert within(got["response_write_mean_ns"], rw)
    assert within(got["response_read_mean_ns"], rr)


def test_ctmc_tells_the_two_semantics_apart():
    """Readers join past spinning writers but queue behind sleeping ones: the two solutions
    differ beyond the CIs, so the match above is not luck."""
    args = (4, 0.6, 3_000, 1_000, 2_000)
    (_, _), (_, rr_spin) = rw_ctmc(*args, writers_spin=True)
    (_, _), (_, rr_sleep) = rw_ctmc(*args, writers_spin=False)
    spec = run_spec(copies=4, duration_ms=40, warmup_ms=1,
                    kernel={**MARKOV_KERNEL, "spin_rule": "fixed", "spin_limit_ns": None},
                    workload={"think_ns": 3_000, "hold_ns": 1_000, "read_hold_ns": 2_000, "read_fraction": 0.6})
    got = replicate(spec, SEEDS, ["response_read_mean_ns"])
    assert within(got["response_read_mean_ns"], rr_spin)
    assert not within(got["response_read_mean_ns"], rr_sleep)
