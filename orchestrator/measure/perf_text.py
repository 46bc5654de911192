"""Readers of perf's text output: `perf lock contention` (by caller), `perf report --stdio`
(overhead by symbol) and `perf script` of sched:sched_switch with callchains.

perf prints these for people, so each reader accepts the layouts perf's versions print (see
tests/fixtures/perf/ for each, with its source) and refuses anything else: a line it cannot read
is a UserError naming the file and the line, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.errors import UserError

# tools/perf/builtin-lock.c, lock_type_table: perf's type column -> (kind, mode) as the locks
# table names them. Exclusive locks are taken in write mode, as the model's rows say.
LOCK_TYPES = {
    "spinlock": ("spinlock", "write"),
    "rwlock:R": ("rwlock", "read"), "rwlock:W": ("rwlock", "write"),
    "rwsem:R": ("rwsem", "read"), "rwsem:W": ("rwsem", "write"),
    "mutex": ("mutex", "write"), "mutex-spin": ("mutex", "write"),
    "semaphore": ("semaphore", "write"),
    "rtmutex": ("rt-mutex", "write"), "rt-mutex": ("rt-mutex", "write"),
    "rwlock-rt:R": ("rwlock-rt", "read"), "rwlock-rt:W": ("rwlock-rt", "write"),
    "pcpu-sem:R": ("percpu-rwsem", "read"), "pcpu-sem:W": ("percpu-rwsem", "write"),
    "unknown": ("unknown", "write"),
}
UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}  # lock_stat_key_print_time


@dataclass(frozen=True)
class Contention:
    """One row of `perf lock contention` (one caller and call stack)."""
    contended: int
    total_ns: int
    max_ns: int
    avg_ns: int
    kind: str
    mode: str
    caller: str          # the function, its +0x offset stripped ("" where perf names none)


def _bad(source: str, number: int, line: str, why: str) -> UserError:
    shown = line.strip()
    return UserError(source, f"line {number}", f"{why}: {shown[:80]!r}")


def _duration(value: str, unit: str | None) -> int:
    """'447.87' 'us' -> 447870 ns; a CSV field has no unit and is in ns."""
    return round(float(value) * UNITS[unit]) if unit else int(value)


def strip_offset(symbol: str) -> str:
    """'vma_prepare+0x1c4' -> 'vma_prepare' (perf's caller column and callchains)."""
    return symbol.split("+0x", 1)[0]


def _lock_type(text: str, source: str, number: int, line: str) -> tuple[str, str]:
    if text not in LOCK_TYPES:
        raise _bad(source, number, line, f"unknown lock type {text!r}")
    return LOCK_TYPES[text]


STDIO_ROW = re.compile(r"^\s*(\d+)" + r"\s+(\d+(?:\.\d+)?) (ns|us|ms|s)" * 3 + r"\s+(\S+)(?:\s+(\S+))?\s*$")
CALLSTACK = re.compile(r"^\s+0x[0-9a-f]+\s+\S")  # -v: "\t\t\t0xffffffff9a23f4b5  _raw_read_lock_irqsave+0x45"
STDIO_HEADER = re.compile(r"^\s*contended\s+total wait\s+max wait\s+avg wait\s+type\s+caller\s*$")
CSV_HEADER = re.compile(r"^# output: contended(.)\s*total wait\1\s*max wait\1\s*avg wait\1\s*type\1\s*caller")


def parse_contention(text: str, source: str) -> list[Contention]:
    """Rows of `perf lock contention` by caller (the default), in the stdio layout (with or
    without the header, -q; with or without -v call stacks; tracepoint or BPF -b, which print
    alike) or the CSV layout (-x SEP, times in ns). perf's messages before the header are not
    rows; the debug footer ("=== output for debug ===") ends them."""
    rows: list[Contention] = []
    separator = None
    lines = text.splitlines()
    # perf's messages while it reads the file (a warning of lost chunks) come before the header
    start = next((i for i, line in enumerate(lines) if STDIO_HEADER.match(line) or CSV_HEADER.match(line)), 0)
    for number, line in enumerate(lines[start:], start + 1):
        if not line.strip() or CALLSTACK.match(line) or STDIO_HEADER.match(line):
            continue
        if line.startswith("=== output for debug"):
            break
        header = CSV_HEADER.match(line)
        if header:
            separator = header.group(1)
            continue
        if separator is not None:
            rows.append(_csv_row(line, separator, source, number))
            continue
        match = STDIO_ROW.match(line)
        if not match:
            raise _bad(source, number, line, "not a perf lock contention row (caller layout)")
        contended, total, tu, most, mu, avg, au, kind_text, caller = match.groups()
        kind, mode = _lock_type(kind_text, source, number, line)
        rows.append(Contention(int(contended), _duration(total, tu), _duration(most, mu), _duration(avg, au),
                               kind, mode, strip_offset(caller or "")))
    return rows


def _csv_row(line: str, separator: str, source: str, number: int) -> Contention:
    fields = [f.strip() for f in line.split(separator)]
    try:
        contended, total, most, avg = (int(f) for f in fields[:4])
    except ValueError:
        raise _bad(source, number, line, "not a perf lock contention CSV row") from None
    if len(fields) < 6:
        raise _bad(source, number, line, "not a perf lock contention CSV row")
    kind, mode = _lock_type(fields[4], source, number, line)
    return Contention(contended, total, most, avg, kind, mode, strip_offset(fields[5].split()[0] if fields[5] else ""))


@dataclass(frozen=True)
class Overhead:
    """One row of `perf report --stdio --sort symbol`: a symbol's share of the event's samples."""
    percent: float
    kernel: bool         # [k]: a kernel symbol; [.] user, [g]/[u] guest, [H] hypervisor
    symbol: str


REPORT_ROW = re.compile(r"^\s*(\d+\.\d+)%\s+\[([k.guH])\]\s+(.*)$")  # on the line right-stripped
IPC_TAIL = re.compile(r"\s+(?:-|\d+\.\d+)\s+(?:-|\[\s*\d+\.\d+%\])$")  # "  -      -" or " 1.23  [ 45.6%]"
SECTION = re.compile(r"^# Samples: \S+\s+of event '([^']+)'")  # "921  of", "2K of"


def parse_report(text: str, source: str, event: str) -> list[Overhead]:
    """The rows of `event`'s section of `perf report --stdio --no-children -g none --sort symbol`
    (perf prints one section per recorded event). Percents are of that event's samples."""
    rows: list[Overhead] = []
    section = None
    found = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            header = SECTION.match(line)
            if header:
                section = header.group(1)
                found = found or section == event
            continue
        if not line.strip() or section != event:
            continue
        match = REPORT_ROW.match(line.rstrip())  # perf pads the symbol column to its widest
        if not match:
            raise _bad(source, number, line, "not a perf report row (overhead, [k] symbol)")
        percent, where, symbol = match.groups()
        rows.append(Overhead(float(percent), where == "k", IPC_TAIL.sub("", symbol)))
    if not found:
        raise UserError(source, None, f"no section of event {event!r} (perf report --stdio)")
    return rows


@dataclass(frozen=True)
class Switch:
    """A sched:sched_switch sample: prev_pid leaves the CPU in prev_state, next_pid runs."""
    time_s: float
    prev_comm: str
    prev_pid: int
    prev_state: str
    next_pid: int
    stack: tuple[str, ...]   # the switched-out task's kernel callchain, innermost first, offsets stripped


SWITCH = re.compile(r"^\s*\S.*?\s+(\d+\.\d+):\s+sched:sched_switch:\s+prev_comm=(.*) prev_pid=(\d+) "
                    r"prev_prio=-?\d+ prev_state=(\S+) ==> next_comm=.* next_pid=(\d+) next_prio=-?\d+\s*$")
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(\S+)")  # "\tffffffff8224a1b3 schedule" (+ " (dso)" in some layouts)


def parse_switches(text: str, source: str) -> list[Switch]:
    """sched:sched_switch samples of `perf script` (perf record -g -e sched:sched_switch), each
    with the callchain that follows it; other events' samples are refused."""
    switches: list[Switch] = []
    header: re.Match | None = None
    stack: list[str] = []

    def close() -> None:
        if header is not None:
            time_s, comm, prev, state, nxt = header.groups()
            switches.append(Switch(float(time_s), comm, int(prev), state, int(nxt), tuple(stack)))

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = SWITCH.match(line)
        if match:
            close()
            header, stack = match, []
            continue
        frame = FRAME.match(line)
        if not frame or header is None:
            raise _bad(source, number, line, "not a sched:sched_switch sample of perf script")
        stack.append(strip_offset(frame.group(1)))
    close()
    return switches
