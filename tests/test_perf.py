"""orch measure --perf: perf's text read back (fixtures: this machine's output and the layouts the
kernel's perf sources and their authors' posts show, each citing its source in `#!` lines), the
shares and rows made of it, the errors without perf, and a real recording where perf may record."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from perfhelp import needs_perf

from orchestrator.errors import UserError
from orchestrator.measure import bench, perf, perf_text

FIXTURES = Path(__file__).parent / "fixtures" / "perf"


def fixture(name: str) -> str:
    """A fixture's perf output, its `#!` source lines left out."""
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#!"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "cache_folder", lambda: tmp_path / "cache")


def test_tracepoint_output_of_this_machine():
    rows = perf_text.parse_contention(fixture("contention-tracepoint-6.1-this-machine.txt"), "f")
    assert len(rows) == 52 and all(r.kind == "spinlock" and r.mode == "write" for r in rows)
    first = rows[0]
    assert (first.contended, first.total_ns, first.max_ns, first.avg_ns) == (42, 500_760, 21_160, 11_920)
    assert first.caller == "call_timer_fn"


def test_bpf_layouts_of_two_perf_versions():
    rows = perf_text.parse_contention(fixture("contention-bpf-6.1-aarch64.txt"), "f")
    assert [r.total_ns for r in rows[:3]] == [6_030_000_000, 811_740_000, 201_760_000]
    rwsem = rows[4]
    assert (rwsem.kind, rwsem.mode, rwsem.caller, rwsem.contended) == ("rwsem", "write", "__btrfs_tree_lock", 1)
    assert {r.kind for r in rows} == {"spinlock", "mutex", "rwsem"}
    first = perf_text.parse_contention(fixture("contention-bpf-5.20-first.txt"), "f")
    assert len(first) == 10 and ("rwlock", "write", "sys_epoll_wait") in {(r.kind, r.mode, r.caller) for r in first}


def test_verbose_call_stacks_and_the_debug_footer_are_not_rows():
    row, = perf_text.parse_contention(fixture("contention-verbose-6.5.txt"), "f")
    assert (row.kind, row.mode, row.caller, row.contended, row.total_ns) == ("rwlock", "read", "ep_poll_callback",
                                                                           3, 76_790)


def test_quiet_and_csv_layouts():
    row, = perf_text.parse_contention(fixture("contention-quiet-selftest.txt"), "f")
    assert row.contended == 42 and row.caller == "call_timer_fn"
    rows = perf_text.parse_contention(fixture("contention-csv-6.5.txt"), "f")
    assert [(r.kind, r.mode, r.caller, r.total_ns) for r in rows] == [
        ("rwlock", "read", "ep_poll_callback", 76_790), ("percpu-rwsem", "write", "percpu_down_write", 1500),
        ("rwsem", "write", "vma_prepare", 2_000_000)]


def test_report_of_this_machine():
    rows = perf_text.parse_report(fixture("report-6.1-this-machine.txt"), "f", "cpu-clock")
    assert len(rows) == 41 and rows[0].symbol == "_PyEval_EvalFrameDefault" and not rows[0].kernel
    assert rows[0].percent == pytest.approx(11.86)
    assert any(r.kernel for r in rows) and all(r.symbol and " " not in r.symbol.strip() for r in rows)


def test_switches_of_this_machine():
    switches = perf_text.parse_switches(fixture("sched-6.1-this-machine.txt"), "f")
    assert len(switches) == 40
    first = switches[0]
    assert (first.prev_comm, first.prev_pid, first.prev_state, first.next_pid) == ("perf", 27396, "D", 18)
    assert first.stack[:2] == ("__schedule", "schedule")


@pytest.mark.parametrize("reader", [
    lambda text: perf_text.parse_contention(text, "lock-contention.txt"),
    lambda text: perf_text.parse_report("# Samples: 1K of event 'cpu-clock'\n" + text, "lock-contention.txt",
                                        "cpu-clock"),
    lambda text: perf_text.parse_switches(text, "lock-contention.txt"),
])
def test_malformed_output_is_one_line_naming_the_file(reader):
    with pytest.raises(UserError) as caught:
        reader("Segmentation fault (core dumped)\nmore\n")
    message = str(caught.value)
    assert message.startswith("lock-contention.txt: line ") and "\n" not in message


def test_an_unknown_lock_type_is_refused():
    with pytest.raises(UserError, match="unknown lock type 'ticket'"):
        perf_text.parse_contention("  1   1.00 us   1.00 us   1.00 us   ticket   foo+0x1\n", "f")


def test_rows_sum_each_call_site():
    found = perf_text.parse_contention(fixture("contention-tracepoint-6.1-this-machine.txt"), "f")
    rows = perf.lock_rows("r", found)
    assert len({(r["kind"], r["mode"], r["caller"]) for r in rows}) == len(rows) < len(found)
    assert sum(r["contentions"] for r in rows) == sum(r.contended for r in found)
    assert sum(r["wait_total_ns"] for r in rows) == sum(r.total_ns for r in found)
    assert all(r["lock_class"] is None and r["wait_avg_ns"] == r["wait_total_ns"] / r["contentions"] for r in rows)


def test_symbols_are_classified_and_shares_sum_to_one():
    assert perf.symbol_class("osq_lock", True) == "spin"
    assert perf.symbol_class("native_queued_spin_lock_slowpath", True) == "spin"
    assert perf.symbol_class("intel_idle.constprop.0", True) == "idle"
    assert perf.symbol_class("osq_lock", False) == "work"  # a user-space function of that name
    rows = [perf_text.Overhead(50.0, True, "osq_lock"), perf_text.Overhead(30.0, True, "default_idle"),
            perf_text.Overhead(20.0, False, "main")]
    profile, top = perf.profile_shares(rows)
    assert profile == pytest.approx({"spin": 0.5, "idle": 0.3, "work": 0.2})
    assert top[0] == ("osq_lock", "spin", 0.5)
    shares = perf.shares(profile, slept_ns=int(0.1 * 2e9), span_s=1.0, cpus=2)
    assert shares["cpu_sleep_share"] == pytest.approx(0.1) and shares["cpu_idle_share"] == pytest.approx(0.2)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_sleep_counts_the_benchmarks_tasks_asleep_in_a_lock_slowpath():
    down = ("__schedule", "schedule", "rwsem_down_write_slowpath", "down_write")
    waiting = ("__schedule", "schedule", "do_wait")
    switches = [perf_text.Switch(1.0, "spawn-x", 10, "D", 0, down),
                perf_text.Switch(1.5, "spawn-x", 11, "S", 0, waiting),     # asleep, not on a lock
                perf_text.Switch(1.2, "other", 12, "D", 0, down),          # not the benchmark
                perf_text.Switch(1.25, "swapper/0", 0, "R", 10, ()),      # 10 back after 0.25 s
                perf_text.Switch(2.0, "swapper/1", 0, "R", 11, ())]
    slept, span = perf.sleep_ns(switches, {"spawn-x"})
    assert slept == 250_000_000 and span == pytest.approx(1.0)


def test_perf_needs_out(orch):
    result = orch("measure", "execl", "--copies", "1", "--duration-s", "0.2", "--perf")
    assert result.code == 2 and result.err.count("\n") == 1 and "--perf: needs --out" in result.err


def test_without_perf_on_path_it_is_one_line(orch, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no perf there
    result = orch("measure", "spawn", "--copies", "1", "--duration-s", "0.2", "--perf", "--out", tmp_path / "d")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--perf: needs perf on PATH" in result.err and "Traceback" not in result.err


def test_without_the_tracepoint_it_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(perf, "TRACEFS", (tmp_path,))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/perf")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(UserError, match="no lock:contention_begin tracepoint"):
        perf.check()


def table(root: Path, name: str) -> list[dict]:
    return ds.dataset(root / f"table={name}", format="parquet", partitioning="hive").to_table().to_pylist()


@needs_perf
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_measured_rows_are_what_perf_says_of_the_kept_recording(orch, tmp_path):
    out = tmp_path / "d"
    result = orch("measure", "execl", "--copies", "1,2", "--duration-s", "1", "--repeats", "1", "--perf", "--out", out)
    assert result.code == 0, result.err
    runs, locks, symbols = table(out, "runs"), table(out, "locks"), table(out, "symbols")
    assert len(runs) == 2
    for run in runs:
        shares = [run[f"cpu_{name}_share"] for name in ("work", "spin", "sleep", "idle")]
        assert sum(shares) == pytest.approx(1.0) and run["cpu_work_share"] > 0 and min(shares) >= 0
        folder = out / "perf" / run["host"] / f"{run['copies']}-0" / run["run_id"]
        assert {"lock-contention.txt", "report.txt", "lock.data"} <= {p.name for p in folder.iterdir()}
        fresh = subprocess.run(["perf", "lock", "contention", "-i", str(folder / "lock.data")], capture_output=True,
                               text=True, check=True).stderr
        expected = perf.lock_rows(run["run_id"], perf_text.parse_contention(fresh, "fresh"))
        kept = sorted(({k: v for k, v in r.items() if v is not None and k != "sweep"} for r in locks
                       if r["run_id"] == run["run_id"]), key=lambda r: (r["kind"], r["mode"], r["caller"] or ""))
        assert kept == [{k: v for k, v in r.items() if v is not None} for r in expected]
        samples = subprocess.run(["perf", "script", "-i", str(folder / "lock.data")], capture_output=True,
                                 text=True, check=True).stdout
        if "contention_begin" in samples:
            assert kept
        mine = [s for s in symbols if s["run_id"] == run["run_id"]]
        assert mine and all(s["class"] in ("work", "spin", "idle") for s in mine)


def test_model_and_perf_stand_side_by_side(monkeypatch):
    """Shares per copy count, call sites matched on (kind, mode, caller), the differences listed."""
    from orchestrator.analysis.measured import differences, pair

    def model_run(seed: int) -> dict:
        return {"run_id": f"m{seed}", "topology": "here", "workload": "spawn", "workload_kind": "spawn", "copies": 2,
                "strategy": "single", "steady_throughput_per_s": 1000.0, "duration_ms": 100.0,
                "cpu_work_share": 0.6, "cpu_spin_share": 0.3, "cpu_sleep_share": 0.1, "cpu_idle_share": 0.0,
                "config_json": '{"topology": {"name": "here"}, "workload": {"name": "spawn"}}'}

    measured = [{"run_id": "p", "host": "h", "kernel_release": "k", "cpu_model": "c", "topology_digest": "d",
                 "workload": "spawn", "copies": 2, "throughput_per_s": 900.0, "duration_ms": 1000.0,
                 "cpu_work_share": 0.9, "cpu_spin_share": 0.02, "cpu_sleep_share": 0.0, "cpu_idle_share": 0.08}]
    locks = [{"run_id": f"m{seed}", "kind": "rwsem", "mode": "write", "caller": "dup_mmap", "contentions": 50,
              "sleeps": 10, "sleep_ns": 2_000_000, "wait_total_ns": 9_000_000} for seed in (1, 2)]
    perf_locks = [{"run_id": "p", "kind": "rwsem", "mode": "write", "caller": "dup_mmap", "contentions": 40,
                   "wait_total_ns": 4_000_000},
                  {"run_id": "p", "kind": "spinlock", "mode": "write", "caller": "call_timer_fn", "contentions": 7,
                   "wait_total_ns": 70_000},
                  {"run_id": "p", "kind": "rwlock", "mode": "write", "caller": "copy_process", "contentions": 3,
                   "wait_total_ns": 30_000}]
    locks += [{"run_id": "m1", "kind": "spinlock", "mode": "write", "caller": "copy_process", "contentions": 8,
               "sleeps": 0, "sleep_ns": 0, "wait_total_ns": 80_000}]
    monkeypatch.setattr("orchestrator.analysis.measured._model_key", lambda run: ("d", "spawn"))  # shape "d"
    (beside,), unmatched = pair(measured, [model_run(1), model_run(2)], [], "single", locks, perf_locks)
    point, = beside.points
    assert unmatched == 0 and point.model_shares == pytest.approx({"work": 0.6, "spin": 0.3, "sleep": 0.1, "idle": 0})
    assert point.measured_shares["idle"] == pytest.approx(0.08)
    dup, copy_model, timer, copy_perf = beside.sites
    assert (copy_model.kind, copy_model.model_per_s, copy_perf.kind) == ("spinlock", pytest.approx(40), "rwlock")
    assert (dup.caller, dup.model_per_s, dup.measured_per_s) == ("dup_mmap", pytest.approx(100), pytest.approx(40))
    assert dup.model_wait_ms_per_s == pytest.approx(20) and dup.measured_wait_ms_per_s == pytest.approx(4)
    assert (timer.caller, timer.model_per_s, timer.measured_per_s) == ("call_timer_fn", None, pytest.approx(7))
    lines = differences(beside)
    assert "2 copies: spin share 30% in the model, 2% measured (+28 points)" in lines
    assert "call_timer_fn (spinlock write): 7 contended/s measured, not modelled" in lines
    assert "copy_process (write): a spinlock in the model, rwlock measured; 40 contended/s in the model, 3 measured" \
        in lines and not any(line.startswith("copy_process (") and "not modelled" in line for line in lines)
    assert not any("dup_mmap" in line for line in lines)



def test_perfs_messages_before_the_table_are_not_rows():
    rows = perf_text.parse_contention(fixture("contention-warning-preamble.txt"), "f")
    assert [(r.caller, r.contended) for r in rows] == [("call_timer_fn", 42), ("swake_up_one", 32)]
