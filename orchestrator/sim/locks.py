"""Sleeping and spinning locks after kernel/locking/rwsem.c and mutex.c, with lock_stat counters.

rw_semaphore rules modelled (docs/model.md says why each matters):
- A writer takes a free lock at once, even past sleeping waiters (lock stealing), unless a
  waiter holds the handoff. A reader takes it when no writer holds it, no handoff is pending
  and either nobody holds it or nobody sleeps in the wait list (the read fast path, then
  rwsem_down_read_slowpath's stealing rule); otherwise readers sleep (they do not spin).
- A contended writer spins on the osq (FIFO) while the owner runs. It leaves the osq and joins
  the wait list (sleeps) when need_resched() arrives, at a random time drawn from the slot's
  engine generator (kernel.spin_rule "hazard": Weibull with mean spin_mean_ns and shape
  spin_shape; "fixed": after spin_limit_ns), when the owner stops running (owner_on_cpu,
  checked at arrival and whenever the owner falls asleep), or, on a reader-owned lock, after
  (base + per_reader x readers), capped.
- On release the osq head, which polls the lock word, takes the lock (lock word and MCS node
  transfers); a release that finds sleepers also takes the wait_lock and wakes the first
  sleeper, which retries after the wakeup latency: the lock stays free meanwhile unless a
  spinner or a newcomer steals it. A woken writer that finds the lock taken sleeps again, or,
  once it has waited handoff_ns (a mutex: after one failed wakeup), reserves the lock
  (handoff) and spins on the owner until it is released. Sleeping readers at the head of the
  wait list are woken together, up to 256, skipping writers, with one atomic on the count.
A mutex is a writer-only rwsem with mutex handoff; a spinlock (qspinlock) never sleeps.
PercpuRwsem (below) is the mnt_hold_writers() pattern.
"""

from __future__ import annotations

from collections import deque

from orchestrator.sim.histogram import Histogram, bucket_of
from orchestrator.sim.ops import READ_MODE, WRITE_MODE

RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM = "rwsem", "mutex", "spinlock", "percpu-rwsem"
KINDS = (RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM)
SLEEPING_KINDS = (RWSEM, MUTEX)
# a waiter's state
SPIN, SLEEP, WAKING, GRANTED = 0, 1, 2, 3
# what a CPU slot is doing (Engine.state): the SMT model and the CPU-time shares read it
RUNNING, SPINNING, SLEEPING, IDLE = 0, 1, 2, 3
BIG = 1 << 62


class LockStats:
    """One row of /proc/lock_stat: a lock class in one mode, plus where waiters spent their wait."""

    __slots__ = ("acquisitions", "contentions", "acq_bounces", "con_bounces", "wait_total", "wait_min",
                 "wait_max", "hold_total", "hold_min", "hold_max", "holds", "sleeps", "handoffs",
                 "spin_ns", "sleep_ns", "wait_hist")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.acquisitions = self.contentions = self.acq_bounces = self.con_bounces = 0
        self.wait_total = self.hold_total = self.holds = self.sleeps = self.handoffs = 0
        self.spin_ns = self.sleep_ns = 0
        self.wait_min = self.hold_min = BIG
        self.wait_max = self.hold_max = 0
        self.wait_hist = Histogram()

    def wait(self, ns: int) -> None:
        self.wait_total += ns
        if ns < self.wait_min:
            self.wait_min = ns
        if ns > self.wait_max:
            self.wait_max = ns
        self.wait_hist.counts[bucket_of(ns)] += 1

    def hold(self, ns: int) -> None:
        self.holds += 1
        self.hold_total += ns
        if ns < self.hold_min:
            self.hold_min = ns
        if ns > self.hold_max:
            self.hold_max = ns


class LockClass:
    """Locks of one class share statistics, as lockdep classes do in /proc/lock_stat."""

    def __init__(self, name: str, kind: str):
        self.name = name
        self.kind = kind
        self.stats = (LockStats(), LockStats())  # indexed by mode


class Waiter:
    __slots__ = ("slot", "mode", "arrived", "state", "since", "deadline", "queued")

    def __init__(self, slot: int, mode: int, arrived: int, state: int = SPIN):
        self.slot = slot
        self.mode = mode
        self.arrived = arrived     # when it asked for the lock
        self.state = state
        self.since = arrived       # when its current spin or sleep began
        self.deadline = BIG        # a spinner leaves the osq at this time
        self.queued = -1           # when it joined the wait list (the handoff clock)


class LockViolation(AssertionError):
    """An invariant of mutual exclusion broke: a bug in the model, found by --check."""


def end_hold(lock, slot: int, mode: int, now: int) -> None:
    """Count the hold that `slot` ends now; it must hold `lock` in `mode`."""
    held_mode, since = lock.holders.pop(slot, (None, 0))
    if held_mode != mode:
        raise LockViolation(f"{lock.name}: CPU {slot} released a lock it does not hold in that mode")
    lock.cls.stats[mode].hold(now - since)
    if mode == WRITE_MODE and lock.kind in SLEEPING_KINDS:
        lock.engine.held[slot].remove(lock)


def charge(lock, waiter: Waiter, end: int) -> None:
    """Book waiter's current spin or sleep, from waiter.since to end, to its lock class and CPU."""
    eng = lock.engine
    ns = eng.in_window(waiter.since, end)
    if ns:
        stats = lock.cls.stats[waiter.mode]
        if waiter.state == SPIN:
            stats.spin_ns += ns
            eng.cpu_ns[SPINNING] += ns
        else:
            stats.sleep_ns += ns
            eng.cpu_ns[SLEEPING] += ns
    waiter.since = end


class Lock:
    __slots__ = ("name", "cls", "kind", "line", "wait_lock", "writer", "readers", "spinners", "sleepers",
                 "holders", "engine", "handoff", "handoff_ns")

    def __init__(self, name: str, cls: LockClass, line: int, wait_lock: int, engine):
        self.name = name
        self.cls = cls
        self.kind = cls.kind
        self.line = line              # the lock word (count, owner, osq tail)
        self.wait_lock = wait_lock    # the wait list's spinlock: sleepers and wakers write it
        self.engine = engine
        self.writer = -1              # slot of the writer that holds the lock
        self.readers = 0
        self.spinners: deque[Waiter] = deque()   # the osq, FIFO
        self.sleepers: list[Waiter] = []         # the wait list, in the order waiters joined it
        self.holders: dict[int, tuple[int, int]] = {}  # slot -> (mode, time it started holding)
        self.handoff: Waiter | None = None       # the waiter the lock is reserved for
        # rwsem: RWSEM_WAIT_TIMEOUT; a mutex hands off after the first failed wakeup
        self.handoff_ns = engine.kernel.handoff_ns if self.kind == RWSEM else 0

    # ---- acquire -------------------------------------------------------------------

    def acquire(self, slot: int, mode: int, now: int) -> int:
        """Cost in ns if the lock is taken at once, else -1: the CPU is parked until granted."""
        if self._free_for(mode):
            return self._take(slot, mode, now)
        eng = self.engine
        stats = self.cls.stats[mode]
        stats.contentions += 1
        if eng.lines.owner[self.line] != slot:
            stats.con_bounces += 1
        waiter = Waiter(slot, mode, now)
        deadline = self._spin_deadline(slot, mode, now)
        if deadline <= now:
            self._sleep(waiter, now)
        else:
            self._spin(waiter, deadline, now)
        return -1

    def try_acquire(self, slot: int, mode: int, now: int) -> int:
        """down_read_trylock / down_write_trylock: the cost if taken, else -1 - cost of the look.

        A trylock fails on a held lock and also when waiters sleep or a handoff is pending (the
        count's waiters and handoff bits make the cmpxchg fail)."""
        if self._free_for(mode) and not self.sleepers:
            return self._take(slot, mode, now)
        return -1 - self.engine.lines.read(self.line, slot)

    def _free_for(self, mode: int) -> bool:
        if self.writer >= 0 or self.handoff is not None:
            return False
        if mode == WRITE_MODE:
            return self.readers == 0
        if self.kind != RWSEM:
            raise LockViolation(f"{self.name}: a {self.kind} has no read mode")
        return self.readers == 0 or not self.sleepers

    def _take(self, slot: int, mode: int, now: int) -> int:
        eng = self.engine
        stats = self.cls.stats[mode]
        if mode == WRITE_MODE:
            self.writer = slot
        else:
            self.readers += 1
        if eng.lines.owner[self.line] != slot:
            stats.acq_bounces += 1
        stats.acquisitions += 1
        cost = eng.lines.atomic(self.line, slot, now) + eng.costs.lock_op
        self._hold_from(slot, mode, now + cost)
        return cost

    def _spin_deadline(self, slot: int, mode: int, now: int) -> int:
        """When a new waiter stops spinning: now (sleep at once) ... BIG (never)."""
        if self.kind == SPINLOCK:
            return BIG
        if mode == READ_MODE:
            return now  # readers do not spin optimistically in current kernels
        eng = self.engine
        owner = self.writer
        if owner >= 0 and eng.state[owner] == SLEEPING:
            return now  # owner_on_cpu() is false: nothing to spin for
        policy = eng.kernel
        if policy.spin_rule == "fixed":
            deadline = BIG if policy.spin_limit_ns is None else now + policy.spin_limit_ns
        else:
            deadline = now + eng.spin_time(slot)
        if self.readers:  # rwsem_rspin_threshold: a reader-owned lock is spun on for a while only
            cap = min(policy.reader_owned_spin_base_ns + policy.reader_owned_spin_per_reader_ns * self.readers,
                      policy.reader_owned_spin_max_ns)
            deadline = min(deadline, now + cap)
        return deadline

    def _spin(self, waiter: Waiter, deadline: int, now: int) -> None:
        eng = self.engine
        # joining the queue (osq_lock, or qspinlock's MCS) swaps its tail, in the lock word's line
        eng.lines.atomic(self.line, waiter.slot, now)
        waiter.state = SPIN
        waiter.deadline = deadline
        self.spinners.append(waiter)
        eng.state[waiter.slot] = SPINNING
        if deadline < BIG:
            eng.at(deadline, self._spin_ends, waiter)

    def _spin_ends(self, waiter: Waiter) -> None:
        """need_resched() (or the reader-owned cap) ended a spin: the waiter sleeps. A waiter
        that stopped spinning before (granted, or asleep) has no deadline any more."""
        if waiter.deadline == self.engine.now:
            self.spinners.remove(waiter)
            self._sleep(waiter, self.engine.now)

    def _sleep(self, waiter: Waiter, now: int) -> None:
        """The waiter stops spinning (or never started) and sleeps, joining the wait list if it
        is not on it yet; spinners on the locks it owns stop spinning too (owner_on_cpu)."""
        eng = self.engine
        charge(self, waiter, now)
        waiter.state = SLEEP
        waiter.deadline = BIG
        eng.state[waiter.slot] = SLEEPING
        if waiter.queued < 0 and waiter is not self.handoff:
            waiter.queued = now
            self.sleepers.append(waiter)
            self.cls.stats[waiter.mode].sleeps += 1
            eng.lines.write(self.wait_lock, waiter.slot)  # queued under wait_lock
        for lock in list(eng.held[waiter.slot]):
            lock._owner_slept(now)

    def _owner_slept(self, now: int) -> None:
        spinners, self.spinners = self.spinners, deque()
        for waiter in spinners:
            self._sleep(waiter, now)
        if self.handoff is not None and self.handoff.state == SPIN:
            self._sleep(self.handoff, now)

    # ---- release and grant --------------------------------------------------------------

    def release(self, slot: int, mode: int, now: int) -> int:
        eng = self.engine
        lines = eng.lines
        end_hold(self, slot, mode, now)
        if mode == WRITE_MODE:
            self.writer = -1
        else:
            self.readers -= 1
        # whoever spins on the lock word holds a copy of its line: the release takes it back
        poller = self.spinners[0] if self.spinners else self.handoff
        if poller is not None and poller.state == SPIN:
            lines.read(self.line, poller.slot)
        cost = lines.atomic(self.line, slot, now)
        if self.writer < 0 and self.readers == 0:
            if self.sleepers or self.handoff is not None:
                # the wake path: rwsem_wake takes wait_lock to look at the wait list
                cost += lines.write(self.wait_lock, slot)
            if self.spinners or self.sleepers or self.handoff is not None:
                self._grant(now + cost, slot)
        return cost + eng.costs.lock_op

    def _grant(self, now: int, waker: int) -> None:
        """The lock just became free and someone waits: pick who gets it, as rwsem.c does."""
        eng = self.engine
        lines = eng.lines
        head = self.handoff
        if head is not None:
            self.handoff = None
            self.writer = head.slot
            self.cls.stats[WRITE_MODE].handoffs += 1
            wakeup = eng.costs.wakeup if head.state == SLEEP else 0
            self._resume(head, now, lines.write(self.line, head.slot) + wakeup)
            return
        sleepers = self.sleepers
        first = sleepers[0] if sleepers else None
        if first is not None and first.mode == READ_MODE and (
                not self.spinners or now - first.queued >= self.handoff_ns):
            if self.spinners:
                self.cls.stats[READ_MODE].handoffs += 1
            self._grant_readers(now, waker)
            return
        if self.spinners:
            head = self.spinners.popleft()
            self.writer = head.slot
            cost = int(lines.write(self.line, head.slot) * eng.kernel.handoff_line_transfers)
            if self.spinners:  # osq_unlock: the new owner hands the osq to the next spinner's MCS node
                cost += lines.between(self.spinners[0].slot, head.slot)
            self._resume(head, now, cost)
        if first is not None and first.mode == WRITE_MODE and first.state == SLEEP:
            first.state = WAKING  # rwsem_mark_wake: the first writer is woken to retry
            eng.at(now + eng.costs.wakeup, self._woken_writer, first)

    def _grant_readers(self, now: int, waker: int) -> None:
        """Wake up to max_readers_woken sleeping readers, skipping writers: the waker adds them
        all to the count with one atomic; each runs after its wakeup."""
        eng = self.engine
        budget = eng.kernel.max_readers_woken
        keep: list[Waiter] = []
        woken: list[Waiter] = []
        for waiter in self.sleepers:
            if waiter.mode == READ_MODE and len(woken) < budget:
                woken.append(waiter)
            else:
                keep.append(waiter)
        self.sleepers = keep
        self.readers += len(woken)
        cost = eng.lines.atomic(self.line, waker, now) + eng.costs.wakeup
        for waiter in woken:
            self._resume(waiter, now, cost)

    def _woken_writer(self, waiter: Waiter) -> None:
        """A woken writer retries: it takes a free lock, or sleeps again, or reserves the lock
        (handoff) once it has waited long enough and spins on the owner."""
        if waiter.state != WAKING:
            return
        eng = self.engine
        now = eng.now
        # rwsem_try_write_lock, under wait_lock: a cmpxchg on the count, won or lost
        cost = eng.lines.write(self.wait_lock, waiter.slot) + eng.lines.atomic(self.line, waiter.slot, now)
        if self.writer < 0 and self.readers == 0 and self.handoff is None:
            self.sleepers.remove(waiter)
            self.writer = waiter.slot
            self._resume(waiter, now, cost)
        elif now - waiter.queued >= self.handoff_ns and self.handoff is None:
            self.sleepers.remove(waiter)
            self.handoff = waiter
            charge(self, waiter, now)
            owner = self.writer
            if owner >= 0 and eng.state[owner] == SLEEPING:
                waiter.state = SLEEP  # the owner does not run: nothing to spin on
            else:
                waiter.state = SPIN
                eng.state[waiter.slot] = SPINNING
        else:
            waiter.state = SLEEP

    def _resume(self, waiter: Waiter, now: int, cost: int) -> None:
        eng = self.engine
        start = now + cost + eng.costs.lock_op
        charge(self, waiter, start)
        slot, mode = waiter.slot, waiter.mode
        waiter.state = GRANTED
        waiter.deadline = BIG
        eng.state[slot] = RUNNING
        stats = self.cls.stats[mode]
        stats.acquisitions += 1
        stats.wait(start - waiter.arrived)
        self._hold_from(slot, mode, start)
        eng.resume(slot, start, start - waiter.arrived)

    def _hold_from(self, slot: int, mode: int, start: int) -> None:
        holders = self.holders
        if self.engine.check:
            if mode == WRITE_MODE and holders:
                raise LockViolation(f"{self.name}: writer {slot} granted while held by {sorted(holders)}")
            if mode == READ_MODE and any(m == WRITE_MODE for m, _ in holders.values()):
                raise LockViolation(f"{self.name}: reader {slot} granted beside a writer")
            if slot in holders:
                raise LockViolation(f"{self.name}: CPU {slot} acquired a lock it holds")
        holders[slot] = (mode, start)
        if mode == WRITE_MODE and self.kind in SLEEPING_KINDS:
            self.engine.held[slot].append(self)

    def busy(self) -> bool:
        """Held or queued for: a lockref cmpxchg loop does not even try (lib/lockref.c)."""
        return self.writer >= 0 or self.readers > 0 or bool(self.spinners)

    def close(self, end: int) -> None:
        """Book the waits still going on when the run ends."""
        for waiter in (*self.spinners, *self.sleepers, *((self.handoff,) if self.handoff else ())):
            charge(self, waiter, end)


class PercpuRwsem:
    """The mnt_hold_writers() pattern as a lock (strategy writer-hold).

    Read side (a tree change): bump this CPU's counter and read the hold flag; if a walker
    holds or is draining, undo the bump and spin until the flag clears. Write side (a walk):
    walkers queue FIFO; the first sets the flag, sums every CPU's counter until they drain
    to zero, walks, and clears the flag, releasing the spinning readers.
    """

    kind = PERCPU_RWSEM

    def __init__(self, name: str, cls: LockClass, flag: int, counters: list[int], engine):
        self.name = name
        self.cls = cls
        self.line = flag
        self.counters = counters
        self.engine = engine
        self.readers = 0
        self.writer = -1          # the walker holding or draining
        self.draining = False
        self.blocked: list[Waiter] = []          # readers spinning on the flag
        self.walkers: deque[Waiter] = deque()    # walkers queued behind the active one
        self.pending: Waiter | None = None       # the walker waiting for readers to drain
        self.holders: dict[int, tuple[int, int]] = {}

    def acquire(self, slot: int, mode: int, now: int) -> int:
        lines = self.engine.lines
        stats = self.cls.stats[mode]
        if mode == READ_MODE:
            cost = lines.write(self.counters[slot], slot) + lines.read(self.line, slot)
            if self.writer < 0:
                self.readers += 1
                return self._hold(slot, mode, now, cost, stats)
            stats.contentions += 1
            lines.write(self.counters[slot], slot)  # back off: undo the bump, then spin on the flag
            self.blocked.append(Waiter(slot, mode, now, SPIN))
            self.engine.state[slot] = SPINNING
            return -1
        if self.writer >= 0:
            stats.contentions += 1
            self.walkers.append(Waiter(slot, mode, now, SLEEP))
            self.engine.state[slot] = SLEEPING
            return -1
        return self._start_walk(Waiter(slot, mode, now), now)

    def try_acquire(self, slot: int, mode: int, now: int) -> int:
        """A walk that gives up unless the flag is free and no change is in flight."""
        if mode == READ_MODE and self.writer < 0 or mode == WRITE_MODE and self.writer < 0 and not self.readers:
            return self.acquire(slot, mode, now)
        return -1 - self.engine.lines.read(self.line, slot)

    def _start_walk(self, walker: Waiter, now: int) -> int:
        """Set the hold flag and sum the counters; the walk may start once readers drain."""
        lines = self.engine.lines
        slot = walker.slot
        self.writer = slot
        cost = lines.write(self.line, slot) + sum(lines.read(c, slot) for c in self.counters)
        if self.readers == 0:
            return self._hold(slot, WRITE_MODE, now, cost, self.cls.stats[WRITE_MODE], walker.arrived)
        self.draining = True
        if walker.arrived == now:  # one that queued behind another walker was counted then
            self.cls.stats[WRITE_MODE].contentions += 1
        charge(self, walker, now)
        walker.state = SPIN
        self.engine.state[slot] = SPINNING
        self.pending = walker
        return -1

    def _hold(self, slot: int, mode: int, now: int, cost: int, stats: LockStats, arrived: int = -1) -> int:
        """Grant at once (arrived < 0) or after a wait; returns the cost for an immediate grant."""
        start = now + cost + self.engine.costs.lock_op
        stats.acquisitions += 1
        if self.engine.check:
            if mode == WRITE_MODE and self.readers:
                raise LockViolation(f"{self.name}: walk granted with {self.readers} readers in flight")
            if mode == READ_MODE and self.writer >= 0:
                raise LockViolation(f"{self.name}: reader {slot} granted while a walker holds")
        self.holders[slot] = (mode, start)
        if arrived >= 0 and arrived != now:
            stats.wait(start - arrived)
        return start - now

    def _resume(self, waiter: Waiter, now: int, cost: int) -> None:
        stats = self.cls.stats[waiter.mode]
        delay = self._hold(waiter.slot, waiter.mode, now, cost, stats)
        stats.wait(now + delay - waiter.arrived)
        self._granted(waiter, now + delay)

    def _granted(self, waiter: Waiter, start: int) -> None:
        charge(self, waiter, start)
        self.engine.state[waiter.slot] = RUNNING
        self.engine.resume(waiter.slot, start, start - waiter.arrived)

    def close(self, end: int) -> None:
        for waiter in (*self.blocked, *self.walkers, *((self.pending,) if self.draining else ())):
            charge(self, waiter, end)

    def release(self, slot: int, mode: int, now: int) -> int:
        eng = self.engine
        lines = eng.lines
        end_hold(self, slot, mode, now)
        if mode == READ_MODE:
            self.readers -= 1
            cost = lines.write(self.counters[slot], slot)
            if self.readers == 0 and self.draining:
                self.draining = False
                walker = self.pending
                # the walker's summing loop sees the last counter change
                self._resume(walker, now + cost, lines.read(self.counters[slot], walker.slot))
            return cost + eng.costs.lock_op
        cost = lines.write(self.line, slot)  # clear the hold flag
        self.writer = -1
        blocked, self.blocked = self.blocked, []
        for waiter in blocked:
            self.readers += 1
            self._resume(waiter, now + cost, lines.read(self.line, waiter.slot) +
                         lines.write(self.counters[waiter.slot], waiter.slot))
        if self.walkers:
            nxt = self.walkers.popleft()
            delay = self._start_walk(nxt, now + cost)
            if delay >= 0:
                self._granted(nxt, now + cost + delay)
        return cost + eng.costs.lock_op
