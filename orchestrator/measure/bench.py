"""Run the real benchmarks on this host: copies as separate processes for a fixed wall time.

Every copy follows one start barrier (execl.c, spawn.py): it prints "ready" once started, then
waits for a common START_NS and stops counting at END_NS, so process start-up (a Python worker
takes tens of ms) is not measured and all copies share the same window.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.measure import perf as perf_record
from orchestrator.runners import stopping
from orchestrator.spec.topology import Topology, shape_digest

# workload -> (its C program beside this file, as UnixBench's programs do it; compiler flags)
BUILDS = {"execl": ("execl.c", ()), "spawn": ("spawn.c", ()), "sysexec": ("spawn.c", ('-DEXEC="/bin/true"',))}
WORKLOADS = tuple(BUILDS)
NEEDS = {"sysexec": "/bin/true"}  # a program a workload runs, which the host must have
START_MARGIN_NS = 20_000_000     # time to hand START to every copy before it comes


@dataclass
class Host:
    """What a measurement ran on: recorded in every row."""
    name: str
    kernel_release: str
    cpu_model: str
    topology: Topology
    topology_digest: str


@dataclass
class Point:
    copies: int
    throughputs: list[float] = field(default_factory=list)  # per second, one per repeat

    @property
    def mean(self) -> float:
        return statistics.fmean(self.throughputs)

    @property
    def stdev(self) -> float | None:
        return statistics.stdev(self.throughputs) if len(self.throughputs) > 1 else None

    def summary(self) -> dict:
        return {"copies": self.copies, "mean_per_s": self.mean, "min_per_s": min(self.throughputs),
                "max_per_s": max(self.throughputs), "stdev_per_s": self.stdev,
                "per_copy_per_s": self.mean / self.copies, "repeats_per_s": self.throughputs}


@dataclass
class Repeat:
    """One measurement of one point: every copy's count over the same window."""
    started_at: float            # Unix time of START
    seconds: float
    counts: list[int]

    @property
    def throughput(self) -> float:
        return sum(self.counts) / self.seconds


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    for key in ("model name", "Model", "cpu model", "Hardware"):  # x86, arm64, mips, older arm
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def this_host() -> Host:
    from orchestrator.spec.detect import detect

    topology = detect()
    return Host(socket.gethostname(), platform.release(), cpu_model(), topology,
                shape_digest(topology.model_dump(mode="json")))


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "orch" / "measure"


def source_of(workload: str) -> Path:
    return Path(__file__).with_name(BUILDS[workload][0])


def benchmark_binary(workload: str) -> Path:
    """The workload's C program compiled with the system compiler ($CC, else cc), once per
    version of the source."""
    path, flags = source_of(workload), list(BUILDS[workload][1])
    needed = NEEDS.get(workload)
    if needed is not None and not os.access(needed, os.X_OK):
        raise UserError("measure", workload, f"runs {needed}, which this host does not have")
    source = path.read_bytes() + "\0".join(flags).encode()
    binary = cache_folder() / f"{workload}-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.exists():
        return binary
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise UserError("measure", workload, f"needs a C compiler to build its benchmark: no {compiler} on PATH")
    temp = binary.with_name(f".{binary.name}.{os.getpid()}")  # two builders never write one file
    try:
        binary.parent.mkdir(parents=True, exist_ok=True)
        built = subprocess.run([compiler, "-O2", *flags, "-o", str(temp), str(path)], capture_output=True, text=True)
        if built.returncode != 0:
            temp.unlink(missing_ok=True)
            why = (built.stderr.strip().splitlines() or ["no message"])[0]
            raise UserError("measure", workload, f"{compiler} could not build {path.name}: {why}")
        temp.replace(binary)
    except OSError as exc:
        raise UserError(str(binary.parent), None,
                        f"cannot build the {workload} benchmark there: {exc.strerror or exc}") from None
    return binary


def command(workload: str) -> list[str]:
    return [str(benchmark_binary(workload))]


def pinned_cpus(copies: int, topology: Topology, allowed: set[int]) -> list[int]:
    """One CPU per copy, spread over the nodes in turn (copy i on node i mod N), as the model's
    spread placement does; CPUs this process may not use are left out, and copies beyond the
    CPUs wrap around."""
    nodes = [[c for c in node.cpus if c in allowed] for node in topology.nodes]
    nodes = [cpus for cpus in nodes if cpus] or [sorted(allowed)]
    order = []  # the first CPU of every node, then the second of every node, ...
    for rank in range(max(len(cpus) for cpus in nodes)):
        order += [cpus[rank] for cpus in nodes if rank < len(cpus)]
    return [order[i % len(order)] for i in range(copies)]


def run_copies(argv: list[str], copies: int, seconds: float, cpus: list[int] | None,
               around: contextlib.AbstractContextManager | None = None) -> Repeat:
    """Start the copies, wait until each is ready, run them over one window, collect counts.
    `around` (perf's recorder) is entered once every copy is ready and left when all have
    stopped."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for i in range(copies):
            # a session of its own: a Ctrl-C at the terminal reaches orch alone, which stops the
            # copies (the finally below) and says what it kept
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
            procs.append(proc)
            if cpus is not None:  # before START: the copy has not begun counting yet
                os.sched_setaffinity(proc.pid, {cpus[i]})
        for proc in procs:
            assert proc.stdout is not None  # PIPE, above (and for stdin, stderr)
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(_failure(proc, "did not start"))
        with around or contextlib.nullcontext():
            start = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + START_MARGIN_NS
            end = start + int(seconds * 1e9)
            started_at = time.time() + START_MARGIN_NS / 1e9
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(f"{start} {end}\n")
                proc.stdin.close()
            counts = []
            for proc in procs:
                _wait(proc)
                assert proc.stdout is not None
                text = proc.stdout.read().strip()
                if proc.returncode != 0 or not text.isdigit():
                    raise RuntimeError(_failure(proc, "failed"))
                counts.append(int(text))
        return Repeat(started_at, (end - start) / 1e9, counts)
    finally:
        for proc in procs:  # only on an error or an interrupt are any still running
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _wait(proc: subprocess.Popen[str]) -> None:
    """Wait for a copy to end, looking at the stop flag meanwhile: a SIGTERM to orch ends every
    copy now (the finally above), not at the end of the window. A copy prints one number, so its
    pipe cannot fill while it is not read."""
    while True:
        try:
            proc.wait(timeout=stopping.POLL_S)
            return
        except subprocess.TimeoutExpired:
            stopping.check()


def _failure(proc: subprocess.Popen[str], what: str) -> str:
    proc.kill()
    proc.wait()
    assert proc.stderr is not None
    why = (proc.stderr.read().strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return f"a copy {what}: {why}"


def run_id(host: Host, workload: str, copies: int, repeat: int, started_at: float) -> str:
    key = f"measured\n{host.name}\n{workload}\n{copies}\n{repeat}\n{started_at:.6f}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def row(host: Host, workload: str, copies: int, repeat: int, result: Repeat, pinned: bool, perf: bool = False) -> dict:
    """A runs-table row of one measured repeat (results/schema.py): model fields stay null."""
    counts = result.counts
    config = {"workload": workload, "copies": copies, "repeat": repeat, "seconds": result.seconds,
              "pinned": pinned, "started_at": result.started_at, "command": command_label(workload),
              "perf": perf}
    return {
        "run_id": run_id(host, workload, copies, repeat, result.started_at),
        "source": "measured",
        "status": "ok",
        "topology": host.topology.name,
        "topology_digest": host.topology_digest,
        "nodes": len(host.topology.nodes),
        "cpus": host.topology.cpu_count,
        "workload": workload,
        "workload_kind": workload,
        "copies": copies,
        "duration_ms": result.seconds * 1e3,
        "warmup_ms": 0.0,
        "placement": "spread" if pinned else "unpinned",
        "steady_throughput_per_s": result.throughput,
        "throughput_per_s": result.throughput,
        "iterations": sum(counts),
        "fairness_jain": sum(counts) ** 2 / (len(counts) * sum(c * c for c in counts)) if any(counts) else None,
        "wall_s": result.seconds,
        "host": host.name,
        "kernel_release": host.kernel_release,
        "cpu_model": host.cpu_model,
        "config_json": json.dumps(config, sort_keys=True),
    }


def command_label(workload: str) -> str:
    return " ".join([source_of(workload).name, "built with -O2", *BUILDS[workload][1]])


def measure_host(workload: str, counts: list[int], seconds: float, repeats: int, pin: bool,
                 on_repeat=lambda copies, repeat: None, on_row=lambda found: None, perf: bool = False
                 ) -> tuple[Host, list[Point], list[dict]]:
    """The whole measurement on the machine this runs on (the driver, or a Ray task pinned to a
    node): (host, points, what each repeat found, each also handed to on_row as it is made).
    What a repeat found is its tables' rows ({"runs": [row], "locks": [...], "symbols": [...]})
    and, with perf, the raw files perf wrote ({"files": {name: bytes}}). A copy that fails
    raises RuntimeError."""
    if perf:
        perf_record.check()
    argv = command(workload)  # builds execl first: without a compiler nothing runs
    host = this_host()
    comms = {Path(argv[0]).name[:15]}  # the benchmark's tasks, as the kernel names them (15 characters)
    comms |= {Path(NEEDS[workload]).name} if workload in NEEDS else set()
    points, found = [Point(n) for n in counts], []
    for point in points:
        cpus = pinned_cpus(point.copies, host.topology, os.sched_getaffinity(0)) if pin else None
        for repeat in range(repeats):
            on_repeat(point.copies, repeat)
            recorder = perf_record.Recorder(comms) if perf else None
            result = run_copies(argv, point.copies, seconds, cpus, recorder)
            point.throughputs.append(result.throughput)
            runs_row = row(host, workload, point.copies, repeat, result, pin, perf)
            tables: dict = {"runs": [runs_row], "locks": [], "symbols": [], "files": {}}
            if recorder is not None:
                evidence = recorder.evidence(runs_row["run_id"], host.topology.cpu_count)
                runs_row.update(evidence.shares)
                tables.update(locks=evidence.locks, symbols=evidence.symbols, files=evidence.files)
            found.append(tables)
            on_row(tables)
    return host, points, found
