"""Named cache lines with a home node, an owner and sharers.

A write or atomic by CPU c costs the transfer from the line's owner to c (and invalidation of
sharers) and makes c the owner; a read costs the transfer unless c already holds a copy.
Atomics serialize on the line; a cmpxchg loop also pays a failed attempt, and one more
transfer, for every other CPU's RMW in flight on the line, so its cost grows with the
number of contenders without a bound, until the caller's retry limit (lib/lockref.c) sends it
to the fallback spinlock.
"""

from __future__ import annotations

from orchestrator.sim.machine import Machine

MEMORY = -1  # owner of a line no CPU has touched yet: it comes from its home node's memory
VMA_LINE = "vma"  # the one name given to lines of VMA tree nodes, which are recycled


class CacheLines:
    def __init__(self, machine: Machine):
        self.latency = machine.latency
        self.to_node = machine.to_node
        self.node = machine.node
        self.home_effect = machine.home_node_effect
        self.names: list[str] = []
        self.home: list[int] = []
        self.owner: list[int] = []
        self.sharers: list[set[int]] = []
        self.busy_until: list[int] = []
        self.inflight: list[list[tuple[int, int]]] = []  # (end time, slot) of RMWs in flight
        self.transfers: list[int] = []
        self.local = 0
        self.remote = 0
        self.free_ids: list[int] = []  # lines of erased VMAs, reused for new ones

    def free(self, line: int) -> None:
        self.sharers[line].clear()
        self.inflight[line].clear()
        self.free_ids.append(line)

    def add(self, name: str, home: int) -> int:
        if self.free_ids and name == VMA_LINE:
            line = self.free_ids.pop()
            self.home[line] = home
            self.owner[line] = MEMORY
            self.busy_until[line] = 0
            return line
        self.names.append(name)
        self.home.append(home)
        self.owner.append(MEMORY)
        self.sharers.append(set())
        self.busy_until.append(0)
        self.inflight.append([])
        self.transfers.append(0)
        return len(self.names) - 1

    def _transfer(self, line: int, src: int, dst: int) -> int:
        """Cost of moving `line` from src (a slot or MEMORY) to slot dst; counts it."""
        home = self.home[line]
        dst_node = self.node[dst]
        if src == MEMORY:
            src_node = home
            cost = self.to_node[dst][home]
        else:
            src_node = self.node[src]
            cost = self.latency[src][dst]
            # AMD: between two CPUs both away from the home node, the probe goes through home
            if self.home_effect and src_node != home and dst_node != home:
                cost = max(cost, self.to_node[src][home], self.to_node[dst][home])
        self.transfers[line] += 1
        self._count(src_node, dst_node)
        return cost

    def _count(self, src_node: int, dst_node: int) -> None:
        if src_node == dst_node:
            self.local += 1
        else:
            self.remote += 1

    def between(self, src: int, dst: int) -> int:
        """A transfer of a line that belongs to no shared structure (a CPU's own MCS node)."""
        if src == dst:
            return 0
        self._count(self.node[src], self.node[dst])
        return self.latency[src][dst]

    def read(self, line: int, slot: int) -> int:
        owner = self.owner[line]
        if owner == slot:
            return 0
        sharers = self.sharers[line]
        if slot in sharers:
            return 0
        sharers.add(slot)
        return self._transfer(line, owner, slot)

    def read_all(self, lines: tuple[int, ...], slot: int) -> int:
        """Read several lines back to back; only the ones this CPU does not hold cost."""
        owner, sharers = self.owner, self.sharers
        cost = 0
        for line in lines:
            if owner[line] != slot and slot not in sharers[line]:
                sharers[line].add(slot)
                cost += self._transfer(line, owner[line], slot)
        return cost

    def write(self, line: int, slot: int) -> int:
        owner = self.owner[line]
        sharers = self.sharers[line]
        if owner == slot and not sharers:
            return 0
        cost = 0 if owner == slot else self._transfer(line, owner, slot)
        if sharers:
            sharers.discard(slot)
            if sharers:  # invalidations go out in parallel: the farthest one counts
                row = self.latency[slot]
                cost = max(cost, max(row[s] for s in sharers))
            sharers.clear()
        self.owner[line] = slot
        return cost

    def atomic(self, line: int, slot: int, now: int) -> int:
        """A locked RMW: waits for earlier RMWs on the line, then takes it exclusively."""
        start = max(now, self.busy_until[line])
        done = start + self.write(line, slot)
        self.busy_until[line] = done
        return done - now

    def cmpxchg(self, line: int, slot: int, now: int, retry_limit: int) -> tuple[int, bool]:
        """A cmpxchg retry loop: (cost, done). Each RMW in flight on the line lands between this
        CPU's read and its cmpxchg once, failing an attempt: one more transfer of the line to
        this CPU per contender, without a cap. The reloads overlap the wait for the line's
        earlier RMWs; only the winning cmpxchg occupies the line. With retry_limit or more in
        flight the loop gives up after retry_limit failures (done is False: take the fallback lock)."""
        inflight = self.inflight[line]
        inflight[:] = [(end, other) for end, other in inflight if end > now and other != slot]
        failures = inflight[:retry_limit]
        retries = sum(self._transfer(line, other, slot) for _, other in failures)
        if len(inflight) >= retry_limit:
            return retries, False
        start = max(self.busy_until[line], now + retries)
        done = start + self.write(line, slot)
        self.busy_until[line] = done
        inflight.append((done, slot))
        return done - now, True
