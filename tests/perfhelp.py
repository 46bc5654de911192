"""Tests that record with perf run only where perf may record lock tracepoints (root, perf on
PATH, tracefs with lock:contention_begin); elsewhere they skip."""

from __future__ import annotations

import pytest

from orchestrator.errors import UserError
from orchestrator.measure import perf


def can_record() -> bool:
    try:
        perf.check()
    except UserError:
        return False
    return True


needs_perf = pytest.mark.skipif(not can_record(), reason="perf cannot record lock tracepoints here (root, tracefs)")
