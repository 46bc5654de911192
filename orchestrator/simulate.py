"""One run, composed above the engine room (sim/): machine, strategy and workload into an engine; simulate; measure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from orchestrator.generators import GENERATORS
from orchestrator.generators.base import Context, Generator, World
from orchestrator.sim import ops
from orchestrator.sim.driver import Driver
from orchestrator.sim.encoder import Batch
from orchestrator.sim.engine import Engine
from orchestrator.sim.histogram import Histogram, bucket_high, bucket_low
from orchestrator.sim.machine import Machine
from orchestrator.sim.measurements import Measurements
from orchestrator.sim.steady import steady_throughput
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.spec.run import RunSpec
from orchestrator.strategies import get as get_strategy
from orchestrator.strategies.base import FileDecl, Strategy


class _World(World):
    def __init__(self, engine: Engine, strategy: Strategy):
        self.engine = engine
        self.strategy = strategy

    def lock(self, name: str, cls: str, kind: str, home: int, line: int | None = None) -> int:
        return self.engine.lock(name, cls, kind, home, line)

    def line(self, name: str, home: int) -> int:
        return self.engine.line(name, home)

    def file(self, decl: FileDecl) -> int:
        return self.strategy.add_file(decl)


@dataclass
class RunResult:
    spec: RunSpec
    run_id: str
    metrics: dict[str, Any]
    locks: list[dict[str, Any]]
    timeseries: list[dict[str, Any]]
    histograms: list[dict[str, Any]] = field(default_factory=list)


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when every CPU did the same work, 1/n when one did it all."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return (total * total) / (len(values) * squares) if squares else float("nan")


def _mean(total: float, count: int) -> float:
    return total / count if count else float("nan")


def machine_for(spec: RunSpec) -> Machine:
    """The run's CPUs: its copies, then the workload's kernel threads (walkers)."""
    helpers = GENERATORS[spec.workload.kind].helper_nodes(spec.workload, len(spec.topology.nodes))
    return Machine.build(spec.topology, spec.copies, spec.placement, helpers)


def build(spec: RunSpec, check: bool = False):
    """The world of a run, ready to go: machine, engine, strategy and workload generator.

    Every process that produces or consumes a run's operation streams builds it the same way,
    so the handles inside the ops (locks, lines, files) agree everywhere.
    """
    kind = GENERATORS[spec.workload.kind]
    machine = machine_for(spec)
    engine = Engine(machine, spec.kernel, check=check, end_ns=spec.end_ns, warmup_ns=spec.warmup_ns,
                    seed=spec.seed)
    strategy = get_strategy(spec.strategy.name)(spec.strategy, engine, machine)
    engine.expand = strategy.expand
    generator = kind(spec.workload, Context(spec.copies, machine.nodes, tuple(machine.node), tuple(machine.cpus),
                                               spec.kernel))
    generator.declare(_World(engine, strategy))
    return machine, engine, strategy, generator


def local_streams(spec: RunSpec, generator: Generator) -> Callable[[int], Iterator[Batch]]:
    def batches(slot: int) -> Iterator[Batch]:  # its generator seeded when the slot first runs
        yield from generator.batches(slot, stream(spec.seed, WORKLOAD, slot))
    return batches


def simulate(spec: RunSpec, check: bool = False, streams=None) -> RunResult:
    """Run one configuration. `streams(slot)` may supply the op batches from elsewhere (Ray
    actors); by default this process generates them."""
    machine, engine, strategy, generator = build(spec, check)
    streams = streams or local_streams(spec, generator)
    for slot in range(len(machine.cpus)):
        engine.add_cpu(streams(slot))
    return _collect(spec, machine, strategy, Driver(engine).run())


def cpu_shares(measured: Measurements, spec: RunSpec) -> dict[str, float]:
    """Where the machine's CPU time went while measuring, like a system-wide perf profile."""
    span = spec.end_ns - spec.warmup_ns
    total = spec.topology.cpu_count * span
    spin, sleep, idle = measured.spin_ns, measured.sleep_ns, measured.idle_ns
    work = len(measured.slot_iterations) * span - spin - sleep - idle
    return {"cpu_work_share": work / total, "cpu_spin_share": spin / total, "cpu_sleep_share": sleep / total,
            "cpu_idle_share": max(0.0, 1 - (work + spin + sleep) / total)}


def _collect(spec: RunSpec, machine: Machine, strategy: Strategy, m: Measurements) -> RunResult:
    """The run's tables, from what it measured."""
    metrics = _metrics(spec, machine, strategy, m)
    locks, histograms = _lock_rows(m)
    for cls_index, hist in enumerate(m.response):
        histograms += _hist_rows(f"response:{ops.MODE_NAMES[cls_index]}", hist)
    histograms += _hist_rows("walk", m.walks)
    histograms += _hist_rows("walk:contended", m.contended_walks)
    timeseries = _timeseries(spec, m)
    metrics["steady_throughput_per_s"] = steady_throughput(timeseries)
    return RunResult(spec, spec.run_id(), metrics, locks, timeseries, histograms)


def _metrics(spec: RunSpec, machine: Machine, strategy: Strategy, m: Measurements) -> dict[str, Any]:
    seconds = spec.duration_ms / 1e3
    by_class = m.iterations
    response_total = m.response_total_ns
    iterations = sum(by_class)
    response = Histogram()
    for hist in m.response:
        response.merge(hist)
    per_cpu = m.slot_iterations[:spec.copies]  # the rest are walker threads
    per_node = [count / seconds for count in m.node_iterations]  # walker threads end no iterations
    acquisitions = sum(s.acquisitions for c in m.lock_classes.values() for s in c.stats)
    local, remote = m.transfers_local, m.transfers_remote
    transfers = local + remote
    memory = strategy.memory_per_inode()
    return {
        "throughput_per_s": iterations / seconds,
        "iterations": iterations,
        "response_mean_ns": _mean(sum(response_total), iterations),
        "response_write_mean_ns": _mean(response_total[0], by_class[0]),
        "response_read_mean_ns": _mean(response_total[1], by_class[1]),
        "response_p50_ns": response.quantile(0.5),
        "response_p99_ns": response.quantile(0.99),
        "wait_mean_ns": _mean(m.wait_total_ns, acquisitions),
        "lock_acquisitions": acquisitions,
        "walks": m.walks.total,
        "walk_p50_ns": m.walks.quantile(0.5),
        "walk_p99_ns": m.walks.quantile(0.99),
        "walks_contended": m.contended_walks.total,
        "walker_cpus": machine.walker_cpus,
        "lockref_fallbacks": m.lockref_fallbacks,
        "migrations": m.migrations,
        **cpu_shares(m, spec),
        "transfers_local": local,
        "transfers_remote": remote,
        "remote_share": remote / transfers if transfers else 0.0,
        "memory_per_inode_bytes": memory,
        "memory_per_million_inodes_mib": memory * 1e6 / 2**20,
        "fairness_jain": jain(per_cpu),
        "throughput_per_node": per_node,
        "events": m.events,
        "wall_s": m.wall_s,
        "events_per_s": m.events / m.wall_s if m.wall_s > 0 else float("nan"),
    }


def _lock_rows(m: Measurements) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """lock_stat rows, one per class, mode and caller that was taken or contended, and the
    class and mode's wait histograms (over its callers)."""
    locks = []
    histograms = []
    for cls in m.lock_classes.values():
        for (mode, caller), s in cls.callers.items():
            locks.append({"lock_class": cls.name, "kind": cls.kind, "mode": ops.MODE_NAMES[mode],
                          "caller": None if caller == "-" else caller, **_lock_stat(s)})
        for mode, s in enumerate(cls.stats):
            if s.acquisitions or s.contentions:
                histograms += _hist_rows(f"wait:{cls.name}:{ops.MODE_NAMES[mode]}", s.wait_hist)
    return locks, histograms


def _lock_stat(s) -> dict[str, Any]:
    return {"acquisitions": s.acquisitions, "contentions": s.contentions,
            "acq_bounces": s.acq_bounces, "con_bounces": s.con_bounces,
            "sleeps": s.sleeps, "handoffs": s.handoffs, "spin_ns": s.spin_ns, "sleep_ns": s.sleep_ns,
            "wait_min_ns": s.wait_min if s.wait_hist.total else 0, "wait_max_ns": s.wait_max,
            "wait_total_ns": s.wait_total, "wait_avg_ns": _mean(s.wait_total, s.wait_hist.total),
            "wait_p50_ns": s.wait_hist.quantile(0.5), "wait_p99_ns": s.wait_hist.quantile(0.99),
            "hold_min_ns": s.hold_min if s.holds else 0, "hold_max_ns": s.hold_max,
            "hold_total_ns": s.hold_total, "hold_avg_ns": _mean(s.hold_total, s.holds)}


def _timeseries(spec: RunSpec, m: Measurements) -> list[dict[str, Any]]:
    rows = []
    width = m.window_ns
    for w, count in enumerate(m.window_iterations):
        begin = w * width
        span = min(width, spec.end_ns - begin)
        if span <= 0:
            continue
        rows.append({"window": w, "start_ns": begin, "width_ns": span,
                     "warmup": begin < spec.warmup_ns, "iterations": count,
                     "throughput_per_s": count / (span / 1e9),
                     "response_mean_ns": _mean(m.window_response_ns[w], count)})
    return rows


def _hist_rows(metric: str, hist: Histogram) -> list[dict[str, Any]]:
    return [{"metric": metric, "bucket": b, "low_ns": bucket_low(b), "high_ns": bucket_high(b), "count": c}
            for b, c in hist.nonzero()]
