"""A sweep's dataset: hive-partitioned Parquet parts, written atomically, read back for resume.

Layout: ROOT/table=NAME/sweep=SWEEP/part-RUNID.parquet. A part is written under a hidden temp
name and moved into place; the runs part goes last, so a run listed in `runs` has all its
parts. ROOT is a local path or any URI pyarrow.fs understands (file://, s3://, gs://, ...).

A temp name is hidden, ends in .tmp (so no reader's `**/*.parquet` glob matches it) and names
its owner: .tmp~HOST~PID~START~RANDOM~part-RUNID.parquet.tmp, START being the process's start
time, so that a reused pid is not taken for the owner. Start-up cleanup removes a temp file of
this host only once its owner is gone, and another host's only once it is STALE_AFTER_S old:
two sweeps may write into one dataset at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from functools import lru_cache

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.errors import UserError
from orchestrator.results import provenance
from orchestrator.results.schema import SCHEMAS, TABLES

TEMP_PREFIX = ".tmp~"
TEMP_SUFFIX = ".tmp"
OLD_TEMP_PREFIX = ".tmp-"        # orch before owner names: .tmp-UUID-part-RUNID.parquet
STALE_AFTER_S = 24 * 3600        # no part write takes a day: by then its writer is gone


def start_time(pid: int) -> str:
    """When a process started, in clock ticks since boot (field 22 of /proc/PID/stat); "0" if
    that cannot be read: no such process, or no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]  # after "(comm)" come fields 3, 4, ...
    except (OSError, IndexError):
        return "0"


@lru_cache
def _owner(pid: int) -> str:
    return f"{socket.gethostname()}~{pid}~{start_time(pid)}"


def temp_name(name: str) -> str:
    return f"{TEMP_PREFIX}{_owner(os.getpid())}~{uuid.uuid4().hex[:8]}~{name}{TEMP_SUFFIX}"


def _alive(pid: int, start: str) -> bool:
    if start != "0":
        return start_time(pid) == start
    try:  # the writer had no /proc: a pid that exists is taken for the owner
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def is_orphan(info: pafs.FileInfo, now: float) -> bool:
    """A temp file no live writer owns: its owner on this host is gone, or, for another host's
    or an old-style name, it is older than STALE_AFTER_S."""
    host, pid, start, *_ = info.base_name[len(TEMP_PREFIX):].split("~") + ["", "", ""]
    if info.base_name.startswith(TEMP_PREFIX) and host == socket.gethostname() and pid.isdigit():
        return not _alive(int(pid), start)
    return info.mtime is not None and now - info.mtime.timestamp() > STALE_AFTER_S


def write_parquet_atomic(fs: pafs.FileSystem, folder: str, name: str, table: pa.Table, meta: dict) -> None:
    """Write under a hidden temp name in the same folder, then move into place: readers see no
    file or the whole file, and a killed writer leaves only a hidden temp file. A write that
    fails (a full disk) removes its temp file and is a UserError naming the file and the cause."""
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    path, temp = f"{folder}/{name}", f"{folder}/{temp_name(name)}"
    try:
        with fs.open_output_stream(temp) as out:
            pq.write_table(table, out)
        fs.move(temp, path)
    except (OSError, pa.ArrowException) as exc:
        try:
            fs.delete_file(temp)
        except (OSError, pa.ArrowException):
            pass  # never created, or already moved
        raise UserError(path, None, f"cannot write: {getattr(exc, 'strerror', None) or exc}") from None


def write_run_folder(folder: str, tables: dict[str, pa.Table], spec: dict) -> None:
    """orch run --out: one Parquet file per table in a plain folder."""
    fs = pafs.LocalFileSystem()
    fs.create_dir(folder, recursive=True)
    for name, table in tables.items():
        write_parquet_atomic(fs, folder, f"{name}.parquet", table, {"orch.spec": json.dumps(spec, sort_keys=True),
                                                                    provenance.KEY: provenance.stamp()})


class Dataset:
    def __init__(self, uri: str, sweep: str):
        self.uri = uri
        self.sweep = sweep
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, ValueError):
            self.fs, self.root = pafs.LocalFileSystem(), str(uri)
        except OSError as exc:
            raise UserError(uri, "output", f"cannot open: {exc}") from None
        self.root = self.root.rstrip("/") or "/"

    def folder(self, table: str) -> str:
        return f"{self.root}/table={table}/sweep={self.sweep}"

    def check_writable(self) -> None:
        """Fail before any run starts if the output cannot be written."""
        probe = f"{self.folder('runs')}/{temp_name('probe')}"
        try:
            for table in TABLES:
                self.fs.create_dir(self.folder(table), recursive=True)
            with self.fs.open_output_stream(probe) as out:
                out.write(b"ok")
            self.fs.delete_file(probe)
        except (OSError, pa.ArrowException) as exc:
            raise UserError(self.uri, "output", f"cannot write there: {exc}") from None

    def remove_temp_files(self) -> int:
        """Temp parts killed writers left behind (see is_orphan); those of live writers stay."""
        removed, now = 0, time.time()
        for table in TABLES:
            selector = pafs.FileSelector(self.folder(table), allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if info.base_name.startswith((TEMP_PREFIX, OLD_TEMP_PREFIX)) and is_orphan(info, now):
                    try:
                        self.fs.delete_file(info.path)
                        removed += 1
                    except FileNotFoundError:
                        pass  # another sweep's cleanup removed it first
        return removed

    def runs(self, columns: list[str] | None = None) -> pa.Table:
        """This sweep's runs table as written so far."""
        selector = pafs.FileSelector(self.folder("runs"), allow_not_found=True)
        paths = [i.path for i in self.fs.get_file_info(selector)
                 if i.base_name.startswith("part-") and i.base_name.endswith(".parquet")]
        try:
            import pyarrow.dataset as ds  # pulls in pandas: only where a dataset is scanned
            data = ds.dataset(paths, filesystem=self.fs, format="parquet", schema=SCHEMAS["runs"])
            return data.to_table(columns=columns)
        except (OSError, pa.ArrowException) as exc:  # a truncated or junk part; arrow names it
            raise UserError(self.folder("runs"), None, f"unreadable part: {exc}; orch sweep --repair moves "
                                                       "it aside and computes its runs again") from None

    def repair(self) -> list[str]:
        """Move every part of this sweep that pyarrow cannot read into ROOT/unreadable/ (renamed so
        that no *.parquet glob matches it); returns their new paths. The runs they held are then
        missing, so the sweep computes them again."""
        moved = []
        for table in TABLES:
            selector = pafs.FileSelector(self.folder(table), allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if not (info.base_name.startswith("part-") and info.base_name.endswith(".parquet")):
                    continue
                try:
                    with self.fs.open_input_file(info.path) as handle:
                        pq.read_table(handle)  # footer and every page: what a reader would need
                except (OSError, pa.ArrowException):
                    aside = f"{self.root}/unreadable/table={table}/sweep={self.sweep}"
                    self.fs.create_dir(aside, recursive=True)
                    target = f"{aside}/{info.base_name}.{int(time.time())}.unreadable"
                    self.fs.move(info.path, target)
                    moved.append(target)
        return moved

    def finished(self) -> dict[str, str]:
        """run id -> status of every run already in this sweep's runs table."""
        rows = self.runs(["run_id", "status"]).to_pylist()
        return {row["run_id"]: row["status"] for row in rows}

    def write_run(self, run_id: str, tables: dict[str, pa.Table], spec: dict,
                  spec_key: str = "orch.sweep_spec") -> None:
        """spec_key names the spec in the file metadata: orch measure writes its own (orch.measure)."""
        meta = {spec_key: json.dumps(spec, sort_keys=True), provenance.KEY: provenance.stamp()}
        for name in (*[t for t in TABLES if t != "runs"], "runs"):  # runs last: it marks the run done
            write_parquet_atomic(self.fs, self.folder(name), f"part-{run_id}.parquet", tables[name], meta)
