"""Seeded random streams, one per purpose and per CPU slot.

The stream of (seed, purpose, slot) is numpy's SeedSequence(seed).spawn(...)[purpose].spawn(...)[slot],
built directly from its spawn key, so any process can produce it alone: a CPU's operations never
depend on timing, on the strategy, or on where the stream is generated.
"""

from __future__ import annotations

import numpy as np

WORKLOAD = 0   # operation streams of the workload generators
ENGINE = 1     # the engine's run-time draws (spin times), made by its own generator (rng.py)


def stream(seed: int, purpose: int, slot: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(purpose, slot))))
