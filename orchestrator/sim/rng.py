"""The engine's own random numbers: one splitmix64 generator per CPU slot (compiled).

Workload streams come from numpy (streams.py) and are fixed before a run starts; the engine
draws at run time (a spinner's need_resched time), so its draws must be reproducible bit for bit
by any implementation of the engine, compiled or not. splitmix64 (Steele, Lea and Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) needs only 64-bit integer
arithmetic, which every such implementation has. Everything here is uint64, wrapping on overflow
(numpy warns of the wrap when the JIT is off: callers silence it).
"""

from __future__ import annotations

import numpy as np

from orchestrator.sim.jit import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


@njit
def mix(z):
    """splitmix64's output function."""
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


@njit
def next_random(S, slot):
    """The next draw of the slot's generator (its state is S.rng[slot])."""
    s = S.rng[slot] + GOLDEN
    S.rng[slot] = s
    return mix(s)


@njit
def seed_states(seed, purpose, slots):
    """Initial states of the generators of (run seed, purpose, slot) for each slot: distinct
    inputs, unrelated streams. `seed` is a uint64."""
    out = np.empty(slots, dtype=np.uint64)
    base = mix(mix(seed) ^ (np.uint64(purpose) * GOLDEN))
    for slot in range(slots):
        out[slot] = mix(base ^ (np.uint64(slot) * GOLDEN))
    return out
