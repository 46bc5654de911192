"""Stopping a sweep on SIGINT or SIGTERM (issue 14): the run in progress is dropped, finished
runs stay in the dataset, the Ray that orch started goes away with every process it spawned,
and orch exits 128 + the signal's number (130, 143).

A signal is only noted: the sweep stops at its next safe point (between runs, between batches,
and every POLL_S while it waits for Ray), where check() raises KeyboardInterrupt in orch's own
code, so that every `finally` on the way out runs. Raising from the handler itself could land
inside a library (pydantic serializing a spec, pyarrow writing a part) and surface as that
library's error. A later signal is only noted too, so it cannot cut that clean-up short.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from contextlib import contextmanager
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
OWNER_ENV = "ORCH_RAY_OWNER"  # in the environment of every process of a Ray that orch started

POLL_S = 0.2  # how often a wait for Ray looks at the flag
received: int | None = None  # the first stop signal of this sweep
_deferring = 0  # > 0 while Ray starts or stops: stopping there would leave half a Ray behind
_ignored: set[int] = set()  # SIGINT in a script's background job is ignored: it stays so


def _on_signal(signum: int, frame) -> None:
    global received
    if received is None:
        received = signum


@contextmanager
def handling() -> Iterator[None]:
    """SIGINT and SIGTERM stop the sweep (a no-op outside the main thread, where Python
    cannot take signals)."""
    global received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = None
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    _ignored.clear()
    _ignored.update(signum for signum, handler in previous.items() if handler == signal.SIG_IGN)
    take()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def take() -> None:
    """Route the signals to orch (again): ray.init sets its own SIGTERM handlers, a Python one
    that exits with status 15 and a C++ one that prints a stack and aborts."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            if signum not in _ignored:
                signal.signal(signum, _on_signal)


@contextmanager
def deferred() -> Iterator[None]:
    """A signal inside the block is noted, not raised: call check() after it."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def check() -> None:
    """A safe point: stop now (KeyboardInterrupt) if a stop signal came, unless inside deferred()."""
    if received is not None and not _deferring:
        raise KeyboardInterrupt


def noted_sigterm() -> None:
    """Ray's own SIGTERM handler ran (the signal came while ray.init ran): stop as ours would."""
    global received
    received = received or signal.SIGTERM


def exit_code() -> int:
    return 128 + (received or signal.SIGINT)


def owner_mark() -> str:
    """A fresh OWNER_ENV=value, unique to one Ray instance that orch starts."""
    return f"{OWNER_ENV}={os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex}"


@contextmanager
def marking(mark: str) -> Iterator[None]:
    """Processes started inside the block carry `mark` in their environment, and so do the
    processes they start."""
    key, _, value = mark.partition("=")
    os.environ[key] = value
    try:
        yield
    finally:
        os.environ.pop(key, None)


def marked(mark: str) -> list[int]:
    """Live processes (not this one) whose environment holds `mark`: those that the Ray we
    started spawned, whatever their process group or title (Linux: read from /proc)."""
    needle = mark.encode()
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(os.path.join(entry.path, "environ"), "rb") as f:
                if needle in f.read().split(b"\0"):  # a zombie's reads as empty
                    found.append(int(entry.name))
        except OSError:  # gone, or another user's
            continue
    return found


def reap(mark: str) -> None:
    """Kill what ray.shutdown left of our Ray (an agent whose raylet died under it, a worker
    still busy in a run); they hold nothing: the driver writes every result."""
    for pid in marked(mark):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
