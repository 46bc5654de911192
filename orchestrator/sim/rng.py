"""Seeds of the engine's own random numbers: one splitmix64 generator per CPU slot (the
generator itself is compiled with the engine: sim/locks.py, next_random).

Workload streams come from numpy (streams.py) and are fixed before a run starts; the engine
draws at run time (a spinner's need_resched time), so its draws must be reproducible bit for bit
by any implementation of the engine, compiled or not. splitmix64 (Steele, Lea and Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) needs only 64-bit integer
arithmetic, which every such implementation has.
"""

from __future__ import annotations

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z: int) -> int:
    """splitmix64's output function."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def seed_state(seed: int, purpose: int, slot: int) -> int:
    """Initial state of the generator of (run seed, purpose, slot): distinct inputs, unrelated streams."""
    return mix(mix(mix(seed & MASK) ^ (purpose * GOLDEN & MASK)) ^ (slot * GOLDEN & MASK))
