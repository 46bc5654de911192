"""Speed of orch's engine against SimPy and a bare heapq loop on the same closed system.

Machine-repairman: N=64 CPUs, exponential think 10 us and hold 1 us on one lock, zero-cost
topology. All three draw their times the same way (numpy exponentials, in batches per CPU).
Prints completions per wall second for each and the ratios (goal: orch >= 5x SimPy and
>= 1x the bare loop). orch runs once untimed first, so that loading its compiled engine from
the cache (benchmarks/engine_start.py measures that) is not counted.
Run: .venv/bin/python benchmarks/engine_vs_simpy.py
"""

from __future__ import annotations

import heapq
import time
from collections import deque

import numpy as np

from orchestrator.presets import resolve
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.simulate import simulate
from orchestrator.spec import validate
from orchestrator.spec.loader import read_yaml
from orchestrator.spec.run import RunSpec

N, THINK, HOLD, VIRTUAL_MS = 64, 10_000, 1_000, 200


def draws(seed: int, slot: int, mean: int, count: int) -> list[int]:
    return np.rint(stream(seed, WORKLOAD, slot).exponential(mean, count)).astype(np.int64).tolist()


def bare_loop(end_ns: int) -> int:
    """The fewest operations that can simulate this system: one heap, one FIFO queue."""
    budget = end_ns // (THINK + HOLD) * 2 + 1000
    think = [draws(7, s, THINK, budget) for s in range(N)]
    hold = [draws(8, s, HOLD, budget) for s in range(N)]
    nxt = [0] * N
    heap = [(think[s][0], s, 0) for s in range(N)]  # (time, cpu, kind 0=arrive 1=release)
    heapq.heapify(heap)
    busy, queue, done = False, deque(), 0
    while heap[0][0] <= end_ns:
        t, s, kind = heapq.heappop(heap)
        if kind == 0:
            if busy:
                queue.append(s)
            else:
                busy = True
                heapq.heappush(heap, (t + hold[s][nxt[s]], s, 1))
        else:
            done += 1
            nxt[s] += 1
            heapq.heappush(heap, (t + think[s][nxt[s]], s, 0))
            if queue:
                w = queue.popleft()
                heapq.heappush(heap, (t + hold[w][nxt[w]], w, 1))
            else:
                busy = False
    return done


def simpy_model(end_ns: int) -> int:
    import simpy

    env = simpy.Environment()
    lock = simpy.Resource(env, capacity=1)
    done = [0]
    budget = end_ns // (THINK + HOLD) * 2 + 1000

    def cpu(s: int):
        think, hold = draws(7, s, THINK, budget), draws(8, s, HOLD, budget)
        i = 0
        while True:
            yield env.timeout(think[i])
            with lock.request() as req:
                yield req
                yield env.timeout(hold[i])
            done[0] += 1
            i += 1

    for s in range(N):
        env.process(cpu(s))
    env.run(until=end_ns)
    return done[0]


def orch_engine(end_ms: int) -> int:
    spec = validate(RunSpec, {
        "topology": read_yaml(resolve("topologies", "ideal")), "strategy": {"name": "single"},
        "workload": {"kind": "closed-loop", "think_ns": THINK, "hold_ns": HOLD}, "copies": N,
        # the other two serve waiters first come, first served: so does orch when they spin until granted
        "kernel": {"spin_rule": "fixed", "spin_limit_ns": None},
        "duration_ms": end_ms}, "benchmark")
    return simulate(spec).metrics["iterations"]


def timed(fn, arg) -> tuple[int, float]:
    began = time.perf_counter()
    done = fn(arg)
    return done, time.perf_counter() - began


def main() -> None:
    end_ns = VIRTUAL_MS * 1_000_000
    orch_engine(1)  # load the compiled engine
    rates = {}
    for name, fn, arg in (("orch", orch_engine, VIRTUAL_MS), ("simpy", simpy_model, end_ns),
                          ("bare heapq", bare_loop, end_ns)):
        done, wall = timed(fn, arg)
        rates[name] = done / wall
        print(f"{name:>10}: {done:>8} completions in {wall:6.2f} s = {rates[name]:>10,.0f} per wall second")
    print(f"orch / simpy = {rates['orch'] / rates['simpy']:.2f}x (goal >= 5)")
    print(f"orch / bare  = {rates['orch'] / rates['bare heapq']:.2f}x (goal >= 1)")


if __name__ == "__main__":
    main()
