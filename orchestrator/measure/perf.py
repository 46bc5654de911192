"""`orch measure --perf`: the kernel's own evidence around each measured repeat.

Three system-wide perf sessions run while the copies count (started with their events disabled
and enabled through perf's control FIFO just before the start barrier, disabled after the last
copy stops):

- `perf lock record -a`: lock:contention_begin/end; `perf lock contention` turns them into
  rows by caller, which become locks rows (lock_class null: perf names no class for a lock
  embedded in a structure).
- `perf record -a -g -e cpu-clock`: a profile of every CPU, idle included (cpu-clock is a timer,
  so a halted CPU is sampled in its idle function, which a cycles event would not count); its
  kernel symbols are classified as spin, idle or work (CLASSES below).
- `perf record -a -g -e sched:sched_switch`: when a task of the benchmark leaves its CPU asleep
  inside a lock's slow path (SLEEP_FRAMES in its callchain), it sleeps on that lock until it is
  switched in again. That time, over CPUs x recorded time, is the sleep share; the CPU idles
  meanwhile, so the share is taken out of the idle share (a profile cannot tell it from idle).

The four shares sum to 1: work and spin from the profile, sleep and idle from the profile's
idle share split by the sleep time.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.measure import perf_text

TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
KEEP_DATA_BYTES = 64 << 20   # a perf.data file is kept beside its text only below this size
TOP_SYMBOLS = 30             # rows of the symbols table per run
PROFILE_HZ = 999             # samples per second per CPU (odd, off the scheduler tick)
START_TIMEOUT_S = 30         # perf record -a -g reads every process's maps as it starts
STOP_TIMEOUT_S = 120         # ... and writes its file (build ids of every mapped object) as it stops

# Kernel symbols (suffixes such as .isra.0 or .constprop.0 dropped) whose samples are CPU time
# spent waiting for a lock by spinning: the rwsem and mutex optimistic spinning (osq_lock, then
# spinning on the owner), the qspinlock and qrwlock slow paths, and the paravirt wait a guest's
# vCPU does instead of spinning.
SPIN = frozenset({
    "osq_lock", "rwsem_spin_on_owner", "rwsem_optimistic_spin", "mutex_spin_on_owner",
    "mutex_optimistic_spin", "native_queued_spin_lock_slowpath", "__pv_queued_spin_lock_slowpath",
    "queued_spin_lock_slowpath", "queued_read_lock_slowpath", "queued_write_lock_slowpath",
    "virt_spin_lock", "pv_wait", "kvm_wait", "__raw_spin_lock_slowpath",
})
# Where an idle CPU is sampled: the cpuidle drivers and the architectures' halt/poll loops.
IDLE = frozenset({
    "intel_idle", "intel_idle_irq", "intel_idle_ibrs", "intel_idle_xstate", "acpi_idle_do_entry",
    "acpi_idle_enter", "acpi_safe_halt", "acpi_processor_ffh_cstate_enter", "cpu_idle_poll", "default_idle",
    "default_idle_call", "poll_idle", "native_safe_halt", "pv_native_safe_halt", "arch_cpu_idle",
    "mwait_idle", "mwait_idle_with_hints", "amd_e400_idle", "cpuidle_enter_state", "do_idle",
    "cpu_do_idle", "psci_cpu_suspend_enter", "arch_cpu_idle_enter", "cpu_startup_entry",
})
# A task switched out with one of these in its callchain is asleep on a lock.
SLEEP_FRAMES = frozenset({
    "rwsem_down_write_slowpath", "rwsem_down_read_slowpath", "__mutex_lock", "__mutex_lock_slowpath",
    "mutex_lock_killable_slowpath", "mutex_lock_interruptible_slowpath", "percpu_rwsem_wait",
    "__percpu_down_read", "percpu_down_write", "rt_mutex_slowlock", "rt_mutex_slowlock_block", "__down",
    "__down_common", "__down_killable", "__down_interruptible",
})
CLASSES = ("work", "spin", "idle")
SESSIONS = {  # name -> perf record command (each adds -o NAME.data and its control FIFO)
    "lock": ["perf", "lock", "record", "-a"],
    "profile": ["perf", "record", "-a", "-g", "-e", "cpu-clock", "-F", str(PROFILE_HZ)],
    "sched": ["perf", "record", "-a", "-g", "-e", "sched:sched_switch"],
}


def check() -> None:
    """perf is there and may record system-wide lock tracepoints, else a one-line UserError
    naming what is missing and how to get it."""
    if shutil.which("perf") is None:
        raise UserError("measure", "--perf", "needs perf on PATH: install it (Debian: apt-get install "
                                             "linux-perf; Ubuntu: linux-tools-$(uname -r); Fedora: dnf install perf)")
    paranoid = _read(Path("/proc/sys/kernel/perf_event_paranoid"))
    if os.geteuid() != 0 and (paranoid is None or int(paranoid) > -1):
        raise UserError("measure", "--perf", f"needs root, or kernel.perf_event_paranoid -1 (it is {paranoid}) "
                                             "and a readable tracefs: run as root")
    if not any((root / "events/lock/contention_begin").is_dir() for root in TRACEFS):
        raise UserError("measure", "--perf", "no lock:contention_begin tracepoint under /sys/kernel/tracing/events/"
                                             "lock: needs Linux 5.19 or later with tracefs mounted "
                                             "(mount -t tracefs nodev /sys/kernel/tracing)")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def symbol_class(symbol: str, kernel: bool) -> str:
    """spin, idle or work (a user-space symbol is always work)."""
    name = symbol.split(".", 1)[0]
    if kernel and name in SPIN:
        return "spin"
    if kernel and name in IDLE:
        return "idle"
    return "work"


@dataclass
class Evidence:
    """What perf saw around one repeat: the rows it gives and the raw files a reviewer rechecks."""
    locks: list[dict]
    symbols: list[dict]
    shares: dict[str, float]                          # cpu_work_share, ... (the runs columns)
    files: dict[str, bytes] = field(default_factory=dict)


def lock_rows(run_id: str, rows: list[perf_text.Contention]) -> list[dict]:
    """perf's rows summed by (kind, mode, caller): perf prints a row per call stack, so one
    caller can have several. Columns as the model's rows mean them (docs/schema.md)."""
    by_site: dict[tuple[str, str, str], list[perf_text.Contention]] = {}
    for row in rows:
        by_site.setdefault((row.kind, row.mode, row.caller), []).append(row)
    out = []
    for (kind, mode, caller), found in sorted(by_site.items()):
        contended = sum(r.contended for r in found)
        total = sum(r.total_ns for r in found)
        out.append({"run_id": run_id, "lock_class": None, "kind": kind, "mode": mode, "caller": caller or None,
                    "contentions": contended, "wait_total_ns": total, "wait_max_ns": max(r.max_ns for r in found),
                    "wait_avg_ns": total / contended if contended else None})
    return out


def profile_shares(rows: list[perf_text.Overhead]) -> tuple[dict[str, float], list[tuple[str, str, float]]]:
    """Share of each class and the top symbols (symbol, class, share), over all samples."""
    total = sum(r.percent for r in rows)
    if total <= 0:
        return {"work": 1.0, "spin": 0.0, "idle": 0.0}, []
    shares = dict.fromkeys(CLASSES, 0.0)
    symbols: dict[tuple[str, str], float] = {}
    for r in rows:
        cls = symbol_class(r.symbol, r.kernel)
        shares[cls] += r.percent / total
        symbols[r.symbol, cls] = symbols.get((r.symbol, cls), 0.0) + r.percent / total
    top = sorted(symbols.items(), key=lambda item: (-item[1], item[0]))[:TOP_SYMBOLS]
    return shares, [(s, c, share) for (s, c), share in top]


def sleep_ns(switches: list[perf_text.Switch], comms: set[str]) -> tuple[int, float]:
    """(ns the benchmark's tasks slept inside a lock slow path, seconds the samples span)."""
    asleep: dict[int, float] = {}
    total = 0.0
    for s in switches:
        if s.next_pid in asleep:
            total += s.time_s - asleep.pop(s.next_pid)
        if s.prev_comm in comms and not s.prev_state.startswith("R") and SLEEP_FRAMES.intersection(s.stack):
            asleep[s.prev_pid] = s.time_s
    span = switches[-1].time_s - switches[0].time_s if switches else 0.0
    return round(total * 1e9), span


def shares(profile: dict[str, float], slept_ns: int, span_s: float, cpus: int) -> dict[str, float]:
    """The runs columns: sleep is taken out of the profile's idle share (and never exceeds it)."""
    sleep = min(profile["idle"], slept_ns / (cpus * span_s * 1e9)) if span_s > 0 else 0.0
    work = 1.0 - profile["spin"] - profile["idle"]  # so the four sum to 1 exactly
    return {"cpu_work_share": work, "cpu_spin_share": profile["spin"], "cpu_sleep_share": sleep,
            "cpu_idle_share": profile["idle"] - sleep}


class Session:
    """One `perf ... record` started with its events off, switched on and off through its
    control FIFO (perf record --control fifo:CTL,ACK -D -1: each command is acknowledged)."""

    def __init__(self, folder: Path, name: str, argv: list[str]):
        self.data = folder / f"{name}.data"
        self.log = folder / f"{name}.log"
        control, ack = folder / f"{name}.ctl", folder / f"{name}.ack"
        os.mkfifo(control)
        os.mkfifo(ack)
        self.ack = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)  # perf opens the other ends
        # perf stops on SIGINT: a Ray worker's thread may block it, and a child inherits the mask
        blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        try:
            with open(self.log, "wb") as log:
                # a session of its own: a Ctrl-C at the terminal reaches orch alone, which stops perf
                self.proc = subprocess.Popen([*argv, "-o", str(self.data), "--control", f"fifo:{control},{ack}",
                                              "-D", "-1"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.control = -1
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.control < 0:  # a writer's open fails (ENXIO) until perf opens the FIFO to read
            try:
                self.control = os.open(control, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    why = self.why() if self.proc.poll() is not None else f"no answer in {START_TIMEOUT_S} s"
                    self.proc.kill()  # not in the recorder's sessions yet: nothing else would stop it
                    self.proc.wait()
                    os.close(self.ack)
                    raise RuntimeError(f"perf record did not start: {why}") from None
                time.sleep(0.01)

    def command(self, word: str) -> None:
        try:
            os.write(self.control, (word + "\n").encode())
        except OSError:  # perf has gone (EPIPE): its log says why
            raise RuntimeError(f"perf record did not take {word!r}: {self.why()}") from None
        ready, _, _ = select.select([self.ack], [], [], START_TIMEOUT_S)
        if not ready or not os.read(self.ack, 64).startswith(b"ack"):
            raise RuntimeError(f"perf record did not acknowledge {word!r}: {self.why()}")

    def stop(self) -> None:
        """Ends perf (SIGINT: it writes its file and exits) and closes the FIFOs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"perf record did not stop on SIGINT within {STOP_TIMEOUT_S} s") from None
        for fd in (self.control, self.ack):
            if fd >= 0:
                os.close(fd)
        self.control = self.ack = -1
        if self.proc.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"perf record failed: {self.why()}")

    def why(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self.proc.returncode}"


class Recorder:
    """Around one repeat (a context manager entered just before the start barrier and left when
    the copies have stopped): records, then reads what perf recorded."""

    def __init__(self, comms: set[str]):
        self.comms = comms
        self.folder = Path(tempfile.mkdtemp(prefix="orch-perf-"))
        self.sessions: list[Session] = []

    def __enter__(self) -> Recorder:
        try:
            for name, argv in SESSIONS.items():
                self.sessions.append(Session(self.folder, name, argv))
            for session in self.sessions:
                session.command("enable")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is not None:  # the copies failed or were interrupted: nothing to read
            self.close()
            return
        try:
            for session in self.sessions:
                session.command("disable")
            for session in self.sessions:
                session.stop()
        except BaseException:
            self.close()
            raise

    def evidence(self, run_id: str, cpus: int) -> Evidence:
        """Read the recordings (perf's own reports, kept as text) into rows; removes the folder."""
        try:
            lock_text = _perf(["lock", "contention", "-i", str(self.folder / "lock.data")], stderr=True)
            report = _perf(["report", "-i", str(self.folder / "profile.data"), "--stdio", "--no-children", "-g",
                            "none", "--sort", "symbol", "--percent-limit", "0"])
            script = _perf(["script", "-i", str(self.folder / "sched.data"), "-F",
                            "comm,tid,cpu,time,event,trace,ip,sym"])
            files = {"lock-contention.txt": lock_text, "report.txt": report}  # sched.data gives sched.txt again
            locks = lock_rows(run_id, perf_text.parse_contention(lock_text, "lock-contention.txt"))
            profile, top = profile_shares(perf_text.parse_report(report, "report.txt", "cpu-clock"))
            slept, span = sleep_ns(perf_text.parse_switches(script, "sched.txt"), self.comms)
            kept = {name: text.encode() for name, text in files.items()}
            for session in self.sessions:
                if session.data.stat().st_size < KEEP_DATA_BYTES:
                    kept[session.data.name] = session.data.read_bytes()
            symbols = [{"run_id": run_id, "symbol": s, "class": c, "share": share} for s, c, share in top]
            return Evidence(locks, symbols, shares(profile, slept, span, cpus), kept)
        finally:
            self.close()

    def close(self) -> None:
        for session in self.sessions:
            if session.proc.poll() is None:
                session.proc.kill()
            try:
                session.stop()
            except RuntimeError:
                pass  # killed on the way out of an error: that error is the one to report
        shutil.rmtree(self.folder, ignore_errors=True)


def _perf(args: list[str], stderr: bool = False) -> str:
    """A perf report command's text (perf lock contention prints its table to stderr)."""
    done = subprocess.run(["perf", *args], capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RuntimeError(f"perf {args[0]} failed: {why}")
    return done.stderr if stderr else done.stdout
