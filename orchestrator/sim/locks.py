"""Sleeping and spinning locks after kernel/locking/rwsem.c (DESIGN 4.3), with lock_stat counters.

rw_semaphore rules modelled:
- A writer takes a free lock at once, even past sleeping waiters (lock stealing), unless the
  lock was handed off. A reader takes it when no writer holds it and either nobody holds it or
  nobody sleeps in the wait list (spinners are not on it: the read fast path, then
  rwsem_down_read_slowpath's stealing rule); otherwise readers sleep.
- A contended writer spins (the osq, FIFO) while the owner runs. Rule (a): it gives up and sleeps
  when the owner is asleep at its arrival, after `spin_limit_ns` (need_resched), or, on a
  reader-owned lock, after (base + per_reader x readers), capped.
- On release: a sleeper queued >= handoff_ns gets the lock handed off; else the first spinner
  takes it (lock word + osq node transfers); else the first sleeper is woken: a writer alone
  (it retries after the wakeup latency and may find the lock stolen), or up to 256 readers
  granted at once, skipping queued writers. A release that finds sleepers takes the wait list's
  spinlock (a line transfer from the last CPU that queued or woke).
A mutex is an rwsem with writers only; a spinlock (qspinlock) never sleeps. PercpuRwsem (below)
is the mnt_hold_writers() pattern.
"""

from __future__ import annotations

from bisect import insort
from collections import deque

from orchestrator.sim.histogram import Histogram, bucket_of
from orchestrator.sim.ops import READ_MODE, WRITE_MODE

RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM = "rwsem", "mutex", "spinlock", "percpu-rwsem"
KINDS = (RWSEM, MUTEX, SPINLOCK, PERCPU_RWSEM)
SPIN, SLEEP, WAKING = 0, 1, 2
BIG = 1 << 62


class LockStats:
    """One row of /proc/lock_stat: a lock class in one mode."""

    __slots__ = ("acquisitions", "contentions", "acq_bounces", "con_bounces", "wait_total", "wait_min",
                 "wait_max", "hold_total", "hold_min", "hold_max", "holds", "sleeps", "handoffs",
                 "wait_hist")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.acquisitions = self.contentions = self.acq_bounces = self.con_bounces = 0
        self.wait_total = self.hold_total = self.holds = self.sleeps = self.handoffs = 0
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
    __slots__ = ("slot", "mode", "arrived", "state", "deadline")

    def __init__(self, slot: int, mode: int, arrived: int, state: int, deadline: int = BIG):
        self.slot = slot
        self.mode = mode
        self.arrived = arrived
        self.state = state
        self.deadline = deadline  # a spinner sleeps at this time; for a sleeper, when it fell asleep


def _fell_asleep(waiter: Waiter) -> int:
    return waiter.deadline


class LockViolation(AssertionError):
    """An invariant of mutual exclusion broke: a bug in the model, found by --check."""


def end_hold(lock, slot: int, mode: int, now: int) -> None:
    """Count the hold that `slot` ends now; it must hold `lock` in `mode`."""
    held_mode, since = lock.holders.pop(slot, (None, 0))
    if held_mode != mode:
        raise LockViolation(f"{lock.name}: CPU {slot} released a lock it does not hold in that mode")
    lock.cls.stats[mode].hold(now - since)


class Lock:
    __slots__ = ("name", "cls", "kind", "line", "wait_lock", "writer", "readers", "spinners", "sleepers",
                 "holders", "engine", "next_deadline")

    def __init__(self, name: str, cls: LockClass, line: int, wait_lock: int, engine):
        self.name = name
        self.cls = cls
        self.kind = cls.kind
        self.line = line              # the lock word (count, owner, osq tail)
        self.wait_lock = wait_lock    # the wait list's spinlock: sleepers and wakers write it
        self.engine = engine
        self.writer = -1           # slot of the writer that holds (or was handed) the lock
        self.readers = 0
        self.spinners: deque[Waiter] = deque()
        self.sleepers: list[Waiter] = []
        self.holders: dict[int, tuple[int, int]] = {}  # slot -> (mode, time it started holding)
        self.next_deadline = BIG   # earliest spinner deadline (or earlier): spin timeouts are lazy

    # ---- acquire -------------------------------------------------------------------

    def acquire(self, slot: int, mode: int, now: int) -> int:
        """Cost in ns if the lock is taken at once, else -1: the CPU is parked until granted."""
        eng = self.engine
        stats = self.cls.stats[mode]
        lines = eng.lines
        if self.next_deadline <= now:
            self._expire_spinners(now)  # a writer whose spin ended is in the wait list now
        if mode == WRITE_MODE:
            if self.writer < 0 and self.readers == 0:
                self.writer = slot
                if lines.owner[self.line] != slot:
                    stats.acq_bounces += 1
                return self._took(slot, mode, now, lines.atomic(self.line, slot, now), stats)
        elif self.kind != RWSEM:
            raise LockViolation(f"{self.name}: a {self.kind} has no read mode")
        elif self.writer < 0 and (self.readers == 0 or not self.sleepers):
            self.readers += 1
            if lines.owner[self.line] != slot:
                stats.acq_bounces += 1
            return self._took(slot, mode, now, lines.atomic(self.line, slot, now), stats)
        stats.contentions += 1
        if lines.owner[self.line] != slot:
            stats.con_bounces += 1
        limit = self._spin_limit(mode, now)
        if limit == 0:
            self._sleep(Waiter(slot, mode, now, SLEEP, now), stats)
        else:
            deadline = BIG if limit is None else now + limit
            self.spinners.append(Waiter(slot, mode, now, SPIN, deadline))
            eng.spin_deadline[slot] = deadline
            if deadline < self.next_deadline:
                self.next_deadline = deadline
        return -1

    def _spin_limit(self, mode: int, now: int) -> int | None:
        """How long a new waiter spins before sleeping (0: at once, None: forever)."""
        if self.kind == SPINLOCK:
            return None
        if mode == READ_MODE:
            return 0  # readers do not spin in current kernels
        eng = self.engine
        policy = eng.kernel
        owner = self.writer
        if owner >= 0 and (eng.asleep[owner] or eng.spin_deadline[owner] <= now):
            return 0  # the owner is not running: asleep on another lock
        limit = policy.spin_limit_ns
        if self.readers:
            cap = min(policy.reader_owned_spin_base_ns + policy.reader_owned_spin_per_reader_ns * self.readers,
                      policy.reader_owned_spin_max_ns)
            limit = cap if limit is None else min(limit, cap)
        return limit

    def _took(self, slot: int, mode: int, now: int, transfer: int, stats: LockStats) -> int:
        stats.acquisitions += 1
        cost = transfer + self.engine.costs.lock_op
        self._hold_from(slot, mode, now + cost)
        return cost

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

    def _sleep(self, waiter: Waiter, stats: LockStats) -> None:
        """The waiter fell asleep at waiter.deadline; sleepers stay ordered by that time."""
        waiter.state = SLEEP
        stats.sleeps += 1
        insort(self.sleepers, waiter, key=_fell_asleep)
        self.engine.lines.write(self.wait_lock, waiter.slot)  # queued under wait_lock
        self.engine.asleep[waiter.slot] = True
        self.engine.spin_deadline[waiter.slot] = BIG

    def _expire_spinners(self, now: int) -> None:
        """Spinners whose spin ended before now went to sleep then (rule a, applied lazily)."""
        keep: deque[Waiter] = deque()
        earliest = BIG
        for waiter in self.spinners:
            if waiter.deadline <= now:
                self._sleep(waiter, self.cls.stats[waiter.mode])
            else:
                keep.append(waiter)
                earliest = min(earliest, waiter.deadline)
        self.spinners = keep
        self.next_deadline = earliest

    # ---- release and grant --------------------------------------------------------------

    def release(self, slot: int, mode: int, now: int) -> int:
        eng = self.engine
        end_hold(self, slot, mode, now)
        if self.next_deadline <= now:
            self._expire_spinners(now)
        if mode == WRITE_MODE:
            self.writer = -1
            cost = eng.lines.atomic(self.line, slot, now)
        else:
            self.readers -= 1
            cost = eng.lines.atomic(self.line, slot, now)
        if self.sleepers and self.writer < 0 and self.readers == 0:
            # the wake path: rwsem_wake takes wait_lock to look at the wait list
            cost += eng.lines.write(self.wait_lock, slot)
        if self.writer < 0 and self.readers == 0 and (self.spinners or self.sleepers):
            self._grant(now)
        return cost + eng.costs.lock_op

    def _grant(self, now: int) -> None:
        """The lock just became free and someone waits: pick who gets it, as rwsem.c does."""
        eng = self.engine
        sleepers = self.sleepers
        if sleepers and now - sleepers[0].deadline >= eng.kernel.handoff_ns:  # queued that long
            head = sleepers[0]
            if head.mode == WRITE_MODE:
                sleepers.pop(0)
                self.writer = head.slot
                self.cls.stats[WRITE_MODE].handoffs += 1
                self._resume(head, now, eng.lines.write(self.line, head.slot) + eng.costs.wakeup)
            else:
                self._grant_readers(now)
            return
        if self.spinners:
            head = self.spinners.popleft()
            eng.spin_deadline[head.slot] = BIG
            self.writer = head.slot
            transfer = eng.lines.write(self.line, head.slot)
            self._resume(head, now, int(transfer * eng.kernel.handoff_line_transfers))
            return
        if sleepers:
            head = sleepers[0]
            if head.mode == READ_MODE:
                self._grant_readers(now)
            elif head.state != WAKING:
                head.state = WAKING
                eng.at(now + eng.costs.wakeup, self._woken_writer, head)

    def _grant_readers(self, now: int) -> None:
        """Wake up to max_readers_woken sleeping readers, skipping writers; they hold at once."""
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
        for waiter in woken:
            self._resume(waiter, now, eng.lines.atomic(self.line, waiter.slot, now) + eng.costs.wakeup)

    def _woken_writer(self, waiter: Waiter) -> None:
        """A woken writer runs again and retries; if the lock was stolen meanwhile it sleeps on."""
        if waiter.state != WAKING:
            return  # handed the lock off meanwhile
        now = self.engine.now
        if self.writer < 0 and self.readers == 0:
            self.sleepers.remove(waiter)
            self.writer = waiter.slot
            self._resume(waiter, now, self.engine.lines.write(self.line, waiter.slot))
        else:
            waiter.state = SLEEP

    def _resume(self, waiter: Waiter, now: int, cost: int) -> None:
        eng = self.engine
        start = now + cost + eng.costs.lock_op
        slot, mode = waiter.slot, waiter.mode
        waiter.state = -1
        eng.asleep[slot] = False
        stats = self.cls.stats[mode]
        stats.acquisitions += 1
        stats.wait(start - waiter.arrived)
        self._hold_from(slot, mode, start)
        eng.resume(slot, start, start - waiter.arrived)


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
            return -1
        if self.writer >= 0:
            stats.contentions += 1
            self.walkers.append(Waiter(slot, mode, now, SLEEP))
            return -1
        return self._start_walk(slot, now, now)

    def _start_walk(self, slot: int, arrived: int, now: int) -> int:
        """Set the hold flag and sum the counters; the walk may start once readers drain."""
        lines = self.engine.lines
        self.writer = slot
        cost = lines.write(self.line, slot) + sum(lines.read(c, slot) for c in self.counters)
        if self.readers == 0:
            return self._hold(slot, WRITE_MODE, now, cost, self.cls.stats[WRITE_MODE], arrived)
        self.draining = True
        if arrived == now:  # one that queued behind another walker was counted then
            self.cls.stats[WRITE_MODE].contentions += 1
        self.pending = Waiter(slot, WRITE_MODE, arrived, SPIN)
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
        self.engine.resume(waiter.slot, now + delay, now + delay - waiter.arrived)

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
            delay = self._start_walk(nxt.slot, nxt.arrived, now + cost)
            if delay >= 0:
                self.engine.resume(nxt.slot, now + cost + delay, now + cost + delay - nxt.arrived)
        return cost + eng.costs.lock_op
