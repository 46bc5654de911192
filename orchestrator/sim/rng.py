"""The engine's own random numbers: splitmix64 generators, one per CPU slot and purpose (compiled).

Workload streams come from numpy (streams.py) and are fixed before a run starts; the engine
draws at run time (a spinner's need_resched time, a copy's think time as it starts an
iteration), so its draws must be reproducible bit for bit by any implementation of the engine,
compiled or not. splitmix64 (Steele, Lea and Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014) needs only 64-bit integer
arithmetic, which every such implementation has. Everything here is uint64, wrapping on overflow
(numpy warns of the wrap when the JIT is off: callers silence it).
"""

from __future__ import annotations

import math

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
def draw(states, i):
    """The next draw of generator i of `states`."""
    s = states[i] + GOLDEN
    states[i] = s
    return mix(s)


@njit
def next_random(S, slot):
    """The next draw of the slot's engine generator (its state is S.rng[slot])."""
    return draw(S.rng, slot)


@njit
def unit(states, i):
    """A draw uniform in (0, 1], of 53 bits."""
    return float((draw(states, i) >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740992.0)


@njit
def normal(states, i):
    """A standard normal draw: Marsaglia's polar method (its second value is not kept)."""
    while True:
        u = 2.0 * unit(states, i) - 1.0
        v = 2.0 * unit(states, i) - 1.0
        s = u * u + v * v
        if 0.0 < s < 1.0:
            return u * math.sqrt(-2.0 * math.log(s) / s)


@njit
def gamma(states, i, shape):
    """A Gamma(shape, 1) draw: Marsaglia and Tsang, "A simple method for generating gamma
    variables" (ACM TOMS 26(3), 2000); below shape 1, a Gamma(shape + 1) draw times U^(1/shape)."""
    boost = 1.0
    if shape < 1.0:
        boost = unit(states, i) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(states, i)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = unit(states, i)
        if u < 1.0 - 0.0331 * (x * x) * (x * x) or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@njit
def think_scale(states, i, cv):
    """A think-time multiplier: mean 1 and coefficient of variation cv (gamma; 1 when cv is 0)."""
    if cv == 0.0:
        return 1.0
    shape = 1.0 / (cv * cv)
    return gamma(states, i, shape) / shape


@njit
def think_scales(states, i, cv, count):
    """`count` think-time multipliers in a row."""
    out = np.empty(count)
    for k in range(count):
        out[k] = think_scale(states, i, cv)
    return out


@njit
def seed_states(seed, purpose, slots):
    """Initial states of the generators of (run seed, purpose, slot) for each slot: distinct
    inputs, unrelated streams. `seed` is a uint64."""
    out = np.empty(slots, dtype=np.uint64)
    base = mix(mix(seed) ^ (np.uint64(purpose) * GOLDEN))
    for slot in range(slots):
        out[slot] = mix(base ^ (np.uint64(slot) * GOLDEN))
    return out
