"""A sweep's dataset: hive-partitioned Parquet parts, written atomically, read back for resume,
repair, compact and the report (the one reader of the layout, local or in an object store).

Layout: ROOT/table=NAME/sweep=SWEEP/part-BATCH.parquet, one part per table for each batch of
runs. BATCH is WRITER~DIGEST: the sweep process that owns the batch (HOST~PID~START, as in temp
names below) and a digest of its run ids. ROOT is a local path or any URI pyarrow.fs
understands (file://, s3://, gs://, ...).

The commit protocol: a batch's locks, timeseries and histograms parts are written first, its
runs part last; the runs part is the commit record. On a filesystem each part is written under
a hidden temp name and moved into place; on an object store, where a move is a copy, under its
final name (a PUT is atomic). So a run listed in `runs` has all its rows, and a reader that
joins the other tables on runs never sees a run half written. At start-up (reconcile) the parts
of a batch whose runs part never came are deleted once their writer is gone, and rows of runs
that `runs` no longer lists (an interrupted --force) are dropped: after a kill -9 at any point
no table holds a duplicate or an orphan.

A temp name is hidden, ends in .tmp (so no reader's `**/*.parquet` glob matches it) and names
its owner: .tmp~HOST~PID~START~RANDOM~part-BATCH.parquet.tmp, START being the process's start
time, so that a reused pid is not taken for the owner. Start-up cleanup removes a temp file of
this host only once its owner is gone, and another host's only once it is STALE_AFTER_S old:
two sweeps may write into one dataset at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.errors import UserError, one_line
from orchestrator.results import provenance, swap
from orchestrator.results.schema import ADDED, MEASURED_ONLY, SCHEMAS, TABLES

TEMP_PREFIX = ".tmp~"
TEMP_SUFFIX = ".tmp"
OLD_TEMP_PREFIX = ".tmp-"        # orch before owner names: .tmp-UUID-part-RUNID.parquet
STALE_AFTER_S = 24 * 3600        # no part write takes a day: by then its writer is gone
OTHERS = tuple(t for t in TABLES if t != "runs")  # written before runs, in this order
OBJECT_STORES = ("s3", "gcs")    # pyarrow filesystems whose move is a copy
WRITER_LOCK = ".orch-writer.lock"  # in ROOT: hidden, no reader's glob takes it
SWEEP_COLUMN = pa.schema([("sweep", pa.string())])  # what a reader of every sweep gets from sweep=SWEEP


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


def owner() -> str:
    """This process as a writer: HOST~PID~START."""
    return _owner(os.getpid())


def temp_name(name: str) -> str:
    return f"{TEMP_PREFIX}{owner()}~{uuid.uuid4().hex[:8]}~{name}{TEMP_SUFFIX}"


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


def writer_gone(writer: str, info: pafs.FileInfo, now: float) -> bool:
    """Whether the writer HOST~PID~START~... of a file is gone: on this host, its process has
    ended; on another, the file is older than STALE_AFTER_S."""
    host, pid, start, *_ = writer.split("~") + ["", "", ""]
    if host == socket.gethostname() and pid.isdigit():
        return not _alive(int(pid), start)
    return info.mtime is not None and now - info.mtime.timestamp() > STALE_AFTER_S


def is_orphan(info: pafs.FileInfo, now: float) -> bool:
    """A temp file no live writer owns (see writer_gone); an old-style name by its age."""
    if info.base_name.startswith(TEMP_PREFIX):
        return writer_gone(info.base_name[len(TEMP_PREFIX):], info, now)
    return writer_gone("", info, now)


def write_parquet(fs: pafs.FileSystem, folder: str, name: str, table: pa.Table, meta: dict,
                  move: bool = True) -> None:
    """Write a part so that readers see no file or the whole file: under a hidden temp name in
    the same folder, then moved into place (move=False: under its final name, for object stores,
    where a PUT is atomic). A killed writer leaves only a hidden temp file. A write that fails (a
    full disk) removes its temp file and is a UserError naming the file and the cause."""
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    path = f"{folder}/{name}"
    temp = f"{folder}/{temp_name(name)}" if move else path
    try:
        with fs.open_output_stream(temp) as out:
            pq.write_table(table, out)
        if move:
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
        write_parquet(fs, folder, f"{name}.parquet", table, {"orch.spec": json.dumps(spec, sort_keys=True),
                                                             provenance.KEY: provenance.stamp()})


def batch_name(run_ids: list[str], writer: str | None = None) -> str:
    """WRITER~DIGEST: the same runs from the same sweep process get the same name, so a task
    that Ray retries after its worker died replaces what the dead attempt wrote."""
    digest = hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()[:16]
    return f"{writer or owner()}~{digest}"


def is_part(info: pafs.FileInfo) -> bool:
    return info.base_name.startswith("part-") and info.base_name.endswith(".parquet")


def destination(uri: str, source: str = "--out", field: str | None = None) -> str:
    """A dataset's address as written: `~` expanded; an empty one, a filesystem's root or one
    pyarrow cannot resolve refused (a dataset written into / mixes with everything there).
    source, field: where the address was given (a flag, or a spec file and its field)."""
    text = uri.strip()
    if not text:
        raise UserError(source, field, "empty: name a folder or a URI for the dataset")
    if "://" not in text:
        text = os.path.expanduser(text)
    try:
        _, path = pafs.FileSystem.from_uri(text if "://" in text else os.path.abspath(text))
    except (pa.ArrowInvalid, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(source, field, f"{uri!r}: not a folder or URI pyarrow can open ({reason})") from None
    if not path.strip("/"):
        raise UserError(source, field, f"{uri!r} is the root of a filesystem: name a folder for the dataset")
    return text


class Dataset:
    """ROOT and one sweep in it: what a sweep writes, resumes and repairs. sweep=None is the
    whole dataset, for the readers of every sweep (sweeps, read, file_metadata)."""

    def __init__(self, uri: str, sweep: str | None = None):
        self.uri = uri
        self.sweep = sweep
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, ValueError):
            self.fs, self.root = pafs.LocalFileSystem(), str(uri)
        except OSError as exc:
            raise UserError(uri, None, f"cannot open: {exc}") from None  # a sweep's --out or a report's dataset
        self.root = self.root.rstrip("/") or "/"

    @property
    def object_store(self) -> bool:
        return self.fs.type_name in OBJECT_STORES

    @property
    def local(self) -> bool:
        return self.fs.type_name == "local"

    def folder(self, table: str) -> str:
        return f"{self.root}/table={table}/sweep={self.sweep}"

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the dataset's writer lock while writing into it: a second orch writing into the
        same local dataset at once (the same spec started twice, a compact beside a sweep) is
        refused with one line. An advisory lock (flock on ROOT/.orch-writer.lock): the kernel
        drops it when the holder dies, so a killed writer never leaves it behind. Object stores
        have no such lock: two writers there must not run at once (docs/analysis.md)."""
        if not self.local:
            yield
            return
        try:
            self.fs.create_dir(self.root, recursive=True)
        except OSError as exc:
            raise UserError(self.uri, "output", f"cannot write there: {exc.strerror or exc}") from None
        with self._lock() as holder:
            if holder:
                raise UserError(self.uri, None, f"{holder} is writing into this dataset: wait for it to finish, "
                                                "or write elsewhere (--out)")
            swap.recover(self.root)  # a compact killed half way: finished (or undone) before anything else
            yield

    def settle(self) -> None:
        """For readers: finish a compact that a kill interrupted, unless a writer is at work."""
        if self.local and os.path.exists(os.path.join(self.root, swap.JOURNAL)):
            with self._lock() as holder:
                if not holder:
                    swap.recover(self.root)

    @contextmanager
    def _lock(self) -> Iterator[str | None]:
        """Take the writer lock, yielding None, or yield who holds it (taking nothing)."""
        import fcntl

        try:
            handle = open(os.path.join(self.root, WRITER_LOCK), "a+")
        except OSError as exc:
            raise UserError(self.uri, "output", f"cannot write there: {exc.strerror or exc}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                yield handle.read().strip() or "another orch"
                return
            handle.seek(0)
            handle.truncate()
            handle.write(f"orch pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            try:
                yield None
            finally:
                handle.seek(0)
                handle.truncate()

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

    def _files(self, table: str) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(pafs.FileSelector(self.folder(table), allow_not_found=True))

    def parts(self, table: str) -> list[pafs.FileInfo]:
        return [info for info in self._files(table) if is_part(info)]

    def remove_temp_files(self) -> int:
        """Temp parts killed writers left behind (see is_orphan); those of live writers stay."""
        removed, now = 0, time.time()
        for table in TABLES:
            for info in self._files(table):
                if info.base_name.startswith((TEMP_PREFIX, OLD_TEMP_PREFIX)) and is_orphan(info, now):
                    removed += self._delete(info.path)
        return removed

    def _delete(self, path: str) -> int:
        try:
            self.fs.delete_file(path)
            return 1
        except FileNotFoundError:
            return 0  # another sweep's cleanup removed it first

    def runs(self, columns: list[str] | None = None) -> pa.Table:
        """This sweep's runs table as written so far."""
        paths = [i.path for i in self.parts("runs")]
        try:
            import pyarrow.dataset as ds  # pulls in pandas: only where a dataset is scanned
            data = ds.dataset(paths, filesystem=self.fs, format="parquet", schema=SCHEMAS["runs"])
            return data.to_table(columns=columns)
        except (OSError, pa.ArrowException) as exc:  # a truncated or junk part
            raise self._unreadable("runs", paths, exc) from None

    def repair(self) -> list[str]:
        """Move every part of this sweep that pyarrow cannot read into ROOT/unreadable/ (renamed so
        that no *.parquet glob matches it); returns their new paths. The runs they held are then
        missing (a batch whose other part went aside loses its runs part too), so the sweep
        computes them again."""
        moved, lost = [], set()
        for table in TABLES:
            for info in self.parts(table):
                try:
                    with self.fs.open_input_file(info.path) as handle:
                        pq.read_table(handle)  # footer and every page: what a reader would need
                except (OSError, pa.ArrowException):
                    moved.append(self._aside(table, info))
                    lost.add(info.base_name)
        for info in self.parts("runs"):
            if info.base_name in lost:
                moved.append(self._aside("runs", info))
        return moved

    def _unreadable(self, table: str, paths: list[str], exc: Exception) -> UserError:
        """The error for a read that failed: naming the first part that cannot be read whole (the
        error path alone pays for reading each part), and the repair."""
        reason = one_line(str(exc).split(". ")[0]) or type(exc).__name__
        for path in paths:
            try:
                with self.fs.open_input_file(path) as handle:
                    if "sweep" in pq.read_schema(handle).names:
                        return UserError(path, "sweep", "a column named as the dataset's partition key "
                                                                  "(the folder sweep=...): rename or drop it")
                    pq.read_table(handle)
            except (OSError, pa.ArrowException) as bad:
                reason = one_line(str(bad).split(". ")[0]) or type(bad).__name__
                return UserError(path, None, f"unreadable part ({reason[:200]}): orch sweep --repair, with the "
                                             "sweep's spec and this --out, moves it aside and computes its runs again")
        return UserError(self.uri, f"table={table}", f"unreadable: {reason[:300]}")

    def _aside(self, table: str, info: pafs.FileInfo) -> str:
        aside = f"{self.root}/unreadable/table={table}/sweep={self.sweep}"
        self.fs.create_dir(aside, recursive=True)
        target = f"{aside}/{info.base_name}.{int(time.time())}.unreadable"
        self.fs.move(info.path, target)
        return target

    def finished(self) -> dict[str, str]:
        """run id -> status of every run already in this sweep's runs table."""
        rows = self.runs(["run_id", "status"]).to_pylist()
        return {row["run_id"]: row["status"] for row in rows}

    def drop(self, run_ids: set[str]) -> int:
        """Remove these runs from the runs table (to compute them again); reconcile then drops
        their rows in the other tables. Returns the runs dropped."""
        dropped = 0
        for info in self.parts("runs") if run_ids else []:
            dropped += self._filter(info, set(run_ids), keep=False)
            if not self.fs.get_file_info(info.path).is_file:  # a batch of nothing but these runs
                self.remove_batch(info.base_name)
        return dropped

    def run_ids(self) -> dict[str, list[str]]:
        """Part name -> the run ids of its runs part."""
        found = {}
        for info in self.parts("runs"):
            with self.fs.open_input_file(info.path) as handle:
                found[info.base_name] = pq.read_table(handle, columns=["run_id"]).column(0).to_pylist()
        return found

    def reconcile(self) -> int:
        """Make the tables agree with runs, the commit record: a batch whose runs all sit in
        another batch too (orch compact was interrupted) goes; the parts of a batch whose runs
        part never came go once their writer is gone; rows of runs that no runs part lists (an
        interrupted --force) are dropped. Returns the parts deleted or rewritten."""
        batches = self.run_ids()
        changed = self._drop_superseded(batches)
        committed = set(batches)
        ids = {run_id for run_ids in batches.values() for run_id in run_ids}
        now = time.time()
        for table in OTHERS:
            for info in self.parts(table):
                if info.base_name not in committed:
                    writer = info.base_name[len("part-"):-len(".parquet")]
                    if "~" not in writer or writer_gone(writer, info, now):  # no writer named: an older orch
                        changed += self._delete(info.path)
                else:
                    changed += self._filter(info, ids, keep=True) > 0
        return changed

    def _drop_superseded(self, batches: dict[str, list[str]]) -> int:
        """Remove batches whose every run another batch lists too. A runs part with no rows in
        the other tables under its name (a copy a user made, whatever its name) goes first, and
        alone: a batch that holds its runs' rows is removed only where another batch holding
        them lists every one of its runs (an interrupted orch compact), so no row of a run that
        runs lists is ever lost."""
        holds = self._holding_rows(batches)
        where: dict[str, set[str]] = {}
        for name, run_ids in batches.items():
            for run_id in run_ids:
                where.setdefault(run_id, set()).add(name)
        gone = 0
        for name, run_ids in sorted(batches.items(), key=lambda item: (item[0] in holds, len(item[1]), item[0])):
            others = [{b for b in where[run_id] if b != name} for run_id in run_ids]
            covered = all(others) and (name not in holds or all(b & holds for b in others))
            if run_ids and covered:
                if name in holds:
                    self.remove_batch(name)
                else:  # a copy of a runs part: its name owns no rows elsewhere
                    self._delete(f"{self.folder('runs')}/{name}")
                for run_id in run_ids:
                    where[run_id].discard(name)
                del batches[name]
                gone += 1
        return gone

    def _holding_rows(self, batches: dict[str, list[str]]) -> set[str]:
        """The batches with a part in another table: those whose runs' rows live under their name
        (a batch of failed runs alone has none, and stands for no rows)."""
        named = {info.base_name for table in OTHERS for info in self.parts(table)}
        return {name for name in batches if name in named}

    def remove_batch(self, name: str) -> None:
        """Remove a batch, its runs part first: its other parts are then no one's rows."""
        for table in ("runs", *OTHERS):
            self._delete(f"{self.folder(table)}/{name}")

    def _filter(self, info: pafs.FileInfo, run_ids: set[str], keep: bool) -> int:
        """Rewrite a part with only the rows whose run id is (keep) or is not in run_ids, in place
        and atomically; a part left empty is deleted. Returns the rows removed."""
        import pyarrow.compute as pc

        def wanted(table: pa.Table) -> pa.Array:
            found = pc.is_in(table.column("run_id"), pa.array(list(run_ids), pa.string()))
            return found if keep else pc.invert(found)

        with self.fs.open_input_file(info.path) as handle:  # the run ids first: most parts stay as they are
            if pc.all(wanted(pq.read_table(handle, columns=["run_id"]))).as_py() is not False:
                return 0
        with self.fs.open_input_file(info.path) as handle:
            table = pq.read_table(handle)
        rest = table.filter(wanted(table))
        if rest.num_rows == 0:
            self._delete(info.path)
        else:
            meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
            write_parquet(self.fs, info.path.rsplit("/", 1)[0], info.base_name, rest, meta,
                          move=not self.object_store)
        return table.num_rows - rest.num_rows

    def write_batch(self, tables: dict[str, pa.Table], spec: dict, writer: str | None = None,
                    spec_key: str = "orch.sweep_spec") -> str:
        """Commit a batch of runs: its parts of the other tables, then its runs part (see the
        module's commit protocol). spec_key names the spec in the file metadata: orch measure
        writes its own (orch.measure). Returns the part name."""
        meta = {spec_key: json.dumps(spec, sort_keys=True), provenance.KEY: provenance.stamp()}
        name = f"part-{batch_name(tables['runs'].column('run_id').to_pylist(), writer)}.parquet"
        self.commit(name, tables, meta)
        return name

    def write_file(self, path: str, data: bytes) -> None:
        """A file beside the tables (orch measure --perf's raw output), at ROOT/path."""
        target = f"{self.root}/{path}"
        try:
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            with self.fs.open_output_stream(target) as out:
                out.write(data)
        except (OSError, pa.ArrowException) as exc:
            raise UserError(target, None, f"cannot write: {getattr(exc, 'strerror', None) or exc}") from None

    def commit(self, name: str, tables: dict[str, pa.Table], meta: dict) -> None:
        measured_only = [t for t in MEASURED_ONLY if t in tables]  # a batch of orch measure --perf
        for table in measured_only:  # check_writable made the others' folders
            self.fs.create_dir(self.folder(table), recursive=True)
        for table in (*OTHERS, *measured_only, "runs"):  # runs last: it marks the batch done
            write_parquet(self.fs, self.folder(table), name, tables[table], meta, move=not self.object_store)

    # ---- every sweep of the dataset: orch report, orch compact --------------------------------

    def sweeps(self) -> list[str]:
        """The sweeps the runs table has a folder for, by name."""
        self.settle()
        selector = pafs.FileSelector(f"{self.root}/table=runs", allow_not_found=True)
        names = [i.base_name.removeprefix("sweep=") for i in self.fs.get_file_info(selector)
                 if i.type == pafs.FileType.Directory and i.base_name.startswith("sweep=")]
        if not names:
            raise UserError(self.uri, "table=runs", "not an orch dataset (no sweep in it)")
        return sorted(names)

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A table's rows in every sweep, with a `sweep` column. Runs parts written before a
        column was added (schema.ADDED) read it as null."""
        data = self._scan(table)
        try:
            return data.to_table(columns=columns)
        except (OSError, pa.ArrowException) as exc:  # a truncated or junk part
            raise self._unreadable(table, data.files, exc) from None

    def file_metadata(self, table: str) -> list[dict[bytes, bytes]]:
        """Each part's file metadata (the sweep spec, provenance), in path order."""
        data = self._scan(table)
        try:
            return [fragment.physical_schema.metadata or {} for fragment in data.get_fragments()]
        except (OSError, pa.ArrowException) as exc:
            raise self._unreadable(table, data.files, exc) from None

    def _scan(self, table: str):
        """A table of every sweep as a pyarrow dataset, refusing anything that is not one: each
        refusal a one-line UserError naming the dataset and the table."""
        import pyarrow.dataset as ds  # pulls in pandas: only where a dataset is scanned

        folder = f"{self.root}/table={table}"
        self.settle()
        try:
            root, found = self.fs.get_file_info([self.root, folder])
        except OSError as exc:  # a local name too long; a bucket we may not list
            raise UserError(self.uri, None, f"no such dataset folder ({exc})") from None
        if root.type != pafs.FileType.Directory:
            raise UserError(self.uri, None, "no such dataset folder")
        if found.type != pafs.FileType.Directory:
            raise UserError(self.uri, f"table={table}", "not an orch dataset (no such table folder)")
        try:
            data = ds.dataset(folder, filesystem=self.fs, format="parquet",
                              partitioning=ds.partitioning(SWEEP_COLUMN, flavor="hive"))
        except (OSError, pa.ArrowException) as exc:
            selector = pafs.FileSelector(folder, recursive=True)
            parts = sorted(i.path for i in self.fs.get_file_info(selector) if i.base_name.endswith(".parquet"))
            raise self._unreadable(table, parts, exc) from None
        if not data.files:
            raise UserError(self.uri, f"table={table}", "empty: no runs written yet")
        expected = SCHEMAS[table]
        added = ADDED.get(table, set())
        missing = [f.name for f in expected if f.name not in data.schema.names and f.name not in added]
        if missing:
            raise UserError(self.uri, f"table={table}", f"another schema: missing columns {', '.join(missing[:5])}")
        if added:  # parts written before a column was added read it as null, whichever part comes first
            data = ds.dataset(data.files, filesystem=self.fs, format="parquet", partitioning=data.partitioning,
                              schema=pa.unify_schemas([expected, SWEEP_COLUMN]))
        return data
