"""The data contract: every table's columns, types, units and meaning, in one place.

Datasets are hive-partitioned as ROOT/table=NAME/sweep=SWEEP/part-BATCH.parquet, one part per
table for each batch of runs written together (many runs: a sweep buffers them, see
`orch docs analysis` for the commit rule); the partition keys `table` and `sweep` are not stored in
the files (readers get them from the path). The `runs` table is the commit record: a row of
another table counts only if its `run_id` is in `runs`, so join on `runs`. Each file's metadata
holds the sweep spec (`orch.sweep_spec`) and what wrote it (`orch.provenance`: orch version, git
commit, model version, host, Python, UTC time).
`orch measure --perf` adds a `symbols` table (only in its own batches) and keeps perf's raw output
beside the tables, under ROOT/perf/HOST/COPIES-REPEAT/RUN_ID/ (lock-contention.txt, report.txt,
and each perf.data file under 64 MiB), so that its rows can be checked against perf itself.
This page (`orch docs schema`) is generated from these lists (`orch schema data`); a test keeps it in
step.
"""

from __future__ import annotations

import pyarrow as pa

F, I, S, B = pa.float64(), pa.int64(), pa.string(), pa.bool_()  # noqa: E741 - I is int64, beside F, S and B

RUNS = [
    ("run_id", S, "hash of the run's canonical config and the model version (measured: of host, workload, "
                  "copies, repeat and start time)"),
    ("sweep_id", S, "hash of the sweep spec that produced the run (null for orch run and orch measure)"),
    ("model_version", S, "version of the simulation model; a change invalidates old run ids (null when measured)"),
    ("source", S, "model (simulated) or measured (orch measure on a real machine); null in datasets written "
                  "before orch measure: model"),
    ("status", S, "ok or failed"),
    ("error", S, "why a failed run failed (one line); null when ok"),
    ("topology", S, "topology name"),
    ("nodes", I, "NUMA nodes of the topology"),
    ("cpus", I, "CPUs of the topology"),
    ("strategy", S, "strategy label (name and parameters): the comparison key"),
    ("strategy_name", S, "registered strategy name"),
    ("shards", I, "subtrees asked for (null: the design's default)"),
    ("subtree_choice", S, "subtree choice asked for (null: the design's default)"),
    ("workload", S, "workload name"),
    ("workload_kind", S, "workload generator"),
    ("copies", I, "copies run (UnixBench -c)"),
    ("seed", I, "seed of every random stream of the run"),
    ("sample", I, "uncertainty sample of the run (a sweep's uncertainty:); null when the sweep draws none"),
    ("parameters_json", S, "a sampled run's uncertain parameters (orch params) and their values, as JSON"),
    ("duration_ms", F, "virtual milliseconds measured"),
    ("warmup_ms", F, "virtual milliseconds run before measuring"),
    ("placement", S, "spread or compact (measured: spread when pinned, else unpinned)"),
    ("steady_throughput_per_s", F, "iterations per virtual second after the warm-up, the configured one or "
                                   "longer where MSER-5 finds the windows still settling: the throughput "
                                   "orch run, orch sweep and orch report print (measured: per wall second "
                                   "over the whole window, as throughput_per_s)"),
    ("throughput_per_s", F, "iterations per virtual second over the whole measured window"),
    ("iterations", I, "iterations completed while measuring"),
    ("response_mean_ns", F, "mean iteration time, ns (closed-loop: wait + hold; execl: one exec)"),
    ("response_write_mean_ns", F, "mean time of write iterations, ns"),
    ("response_read_mean_ns", F, "mean time of read iterations, ns"),
    ("response_p50_ns", F, "median iteration time, ns (log-bucket histogram, <= 12.5% error)"),
    ("response_p99_ns", F, "99th percentile iteration time, ns"),
    ("wait_mean_ns", F, "lock wait per acquisition over all lock classes, ns"),
    ("lock_acquisitions", I, "acquisitions of every lock class while measuring"),
    ("walks", I, "rmap walks completed while measuring"),
    ("walk_p50_ns", F, "median rmap walk latency (locks + walk), ns"),
    ("walk_p99_ns", F, "99th percentile rmap walk latency, ns"),
    ("walks_contended", I, "reclaim walks that gave up on a contended lock (folio_referenced's try-lock)"),
    ("walker_cpus", S, "where walker threads ran: none, free (CPUs no copy uses) or shared (with copies)"),
    ("lockref_fallbacks", I, "lockref updates that took the spinlock after the cmpxchg retry limit"),
    ("migrations", I, "copies sched_exec moved to another CPU at exec, over the whole run (placement migrate)"),
    ("cpu_work_share", F, "share of the machine's CPU time (all CPUs x measured time) spent working (measured "
                          "with --perf: profile samples in any symbol neither spin nor idle, other processes' "
                          "included)"),
    ("cpu_spin_share", F, "share spent spinning on locks (osq, qspinlock, handoff, flag waits; measured: samples in "
                          "osq_lock, rwsem_spin_on_owner, the qspinlock slow paths, ...)"),
    ("cpu_sleep_share", F, "share of CPU time whose thread slept on a lock (the CPU idles meanwhile; measured: "
                           "time the benchmark's tasks were switched out inside a lock slow path, taken out of "
                           "the idle share)"),
    ("cpu_idle_share", F, "share with nothing to run: CPUs without a copy, walkers between walks (measured: samples "
                          "in the idle loop's functions, less the sleep share); the four shares sum to 1"),
    ("transfers_local", I, "cache-line transfers within a node"),
    ("transfers_remote", I, "cache-line transfers between nodes (perf c2c HITM analog)"),
    ("remote_share", F, "transfers_remote / all transfers"),
    ("memory_per_inode_bytes", I, "bytes per inode the design spends on i_mmap"),
    ("memory_per_million_inodes_mib", F, "the same for a million inodes, MiB"),
    ("fairness_jain", F, "Jain's index of per-copy iterations (1 = all equal; measured too)"),
    ("throughput_per_node", pa.list_(F),
     "iterations per virtual second that ended on each node (a copy may migrate at exec)"),
    ("events", I, "engine events processed"),
    ("wall_s", F, "wall-clock seconds of the simulation, from the compiled loop's start (measured: of the "
                  "measuring window)"),
    ("events_per_s", F, "engine events per wall-clock second"),
    ("host", S, "measured: host name of the machine measured (null for model rows)"),
    ("kernel_release", S, "measured: the host's kernel release (uname -r)"),
    ("cpu_model", S, "measured: the host's CPU model (/proc/cpuinfo)"),
    ("topology_digest", S, "measured: digest of the shape of the host's detected topology (orch topology "
                           "detect): its nodes, CPUs, distances and caches"),
    ("config_json", S, "the full run spec as JSON (topology, strategy, workload, kernel policy; measured: "
                       "workload, copies, repeat, seconds, pinning, start time)"),
]

# runs columns added after datasets were first written: a reader takes them as null where absent
ADDED_RUNS = {"source", "host", "kernel_release", "cpu_model", "topology_digest", "sample", "parameters_json",
              "steady_throughput_per_s", "migrations"}  # older rows: analysis/data.py computes it from their timeseries

LOCKS = [
    ("run_id", S, "the run"),
    ("lock_class", S, "lock class, as lockdep names it (i_mmap_rwsem, i_mmap_tree.rwsem, ...); null in measured "
                      "rows (perf names no class for a lock embedded in a structure)"),
    ("kind", S, "rwsem, mutex, spinlock or percpu-rwsem (measured: also rwlock, semaphore, rt-mutex, ...: perf "
                "lock contention's type without its :R/:W)"),
    ("mode", S, "write or read (measured: read for perf's :R types, else write)"),
    ("caller", S, "the kernel function that took the lock (vma_link_file, vma_prepare, dup_mmap, ...: sim/ops.py "
                  "CALLERS), as perf lock contention names callers; a row per class, mode and caller, so a "
                  "class's figures are the sum of its rows; null before model version 4 (one row per class "
                  "and mode) or where the taker is not said"),
    ("acquisitions", I, "acquisitions while measuring"),
    ("contentions", I, "acquisitions that had to wait (measured: perf lock contention's contended, which for "
                       "rwsem and mutex counts waiters that gave up spinning and queued to sleep: compare those "
                       "with the model's sleeps)"),
    ("acq_bounces", I, "uncontended acquisitions whose lock line came from another CPU"),
    ("con_bounces", I, "contended acquisitions whose lock line came from another CPU"),
    ("sleeps", I, "waiters that joined the wait list (slept) instead of spinning to the end"),
    ("handoffs", I, "grants to a waiter the lock was reserved for (handoff), or to readers past spinners"),
    ("spin_ns", I, "time waiters spent spinning while measuring, ns"),
    ("sleep_ns", I, "time waiters spent asleep (wakeups included) while measuring, ns"),
    ("wait_min_ns", I, "shortest contended wait, ns"),
    ("wait_max_ns", I, "longest contended wait, ns (measured: perf's max wait)"),
    ("wait_total_ns", I, "sum of contended waits, ns (measured: perf's total wait, to the 3 digits it prints; for "
                         "rwsem and mutex the sleeping waiters' time: compare with the model's sleep_ns)"),
    ("wait_avg_ns", F, "mean contended wait, ns (measured: total over contended; the measured rows fill only "
                       "kind, mode, caller, contentions and the wait total, max and mean)"),
    ("wait_p50_ns", F, "median contended wait, ns"),
    ("wait_p99_ns", F, "99th percentile contended wait, ns"),
    ("hold_min_ns", I, "shortest hold, ns"),
    ("hold_max_ns", I, "longest hold, ns"),
    ("hold_total_ns", I, "sum of holds, ns"),
    ("hold_avg_ns", F, "mean hold, ns"),
]

TIMESERIES = [
    ("run_id", S, "the run"),
    ("window", I, "window index from virtual time 0 (warm-up included)"),
    ("start_ns", I, "virtual time the window starts, ns"),
    ("width_ns", I, "window width, ns"),
    ("warmup", B, "the window starts inside the warm-up"),
    ("iterations", I, "iterations completed in the window"),
    ("throughput_per_s", F, "iterations per virtual second in the window"),
    ("response_mean_ns", F, "mean iteration time of iterations ending in the window, ns"),
]

HISTOGRAMS = [
    ("run_id", S, "the run"),
    ("metric", S, "wait:CLASS:MODE, response:write, response:read, walk or walk:contended"),
    ("bucket", I, "log bucket index (8 sub-buckets per power of two; mergeable across runs)"),
    ("low_ns", I, "smallest value in the bucket, ns"),
    ("high_ns", I, "largest value in the bucket, ns"),
    ("count", I, "samples in the bucket"),
]

SYMBOLS = [
    ("run_id", S, "the measured run (orch measure --perf)"),
    ("symbol", S, "a function perf report names (kernel or user space), as perf prints it"),
    ("class", S, "work, spin or idle: how the shares in runs count it (measure/perf.py says which kernel symbols "
                 "are spin and which idle; everything else is work)"),
    ("share", F, "its share of the machine's CPU time (perf record -a -e cpu-clock samples); the run's top symbols"),
]

# columns added after datasets were first written, per table: a reader takes them as null where absent
ADDED = {"runs": ADDED_RUNS, "locks": {"caller"}}

COLUMNS = {"runs": RUNS, "locks": LOCKS, "timeseries": TIMESERIES, "histograms": HISTOGRAMS, "symbols": SYMBOLS}
SCHEMAS = {name: pa.schema([(col, kind) for col, kind, _ in cols]) for name, cols in COLUMNS.items()}
MEASURED_ONLY = ("symbols",)  # written only by orch measure --perf, in batches that have rows of it
TABLES = tuple(name for name in COLUMNS if name not in MEASURED_ONLY)  # every batch has a part of each
