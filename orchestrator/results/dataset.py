"""A sweep's dataset: hive-partitioned Parquet parts, written atomically, read back for resume.

Layout: ROOT/table=NAME/sweep=SWEEP/part-RUNID.parquet. A part is written under a hidden temp
name and moved into place; the runs part goes last, so a run listed in `runs` has all its
parts. ROOT is a local path or any URI pyarrow.fs understands (file://, s3://, gs://, ...).
"""

from __future__ import annotations

import json
import uuid

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.errors import UserError
from orchestrator.results import provenance
from orchestrator.results.schema import SCHEMAS, TABLES

TEMP_PREFIX = ".tmp-"


def write_parquet_atomic(fs: pafs.FileSystem, folder: str, name: str, table: pa.Table, meta: dict) -> None:
    """Write under a hidden temp name in the same folder, then move into place: readers see no
    file or the whole file, and a killed writer leaves only a hidden temp file."""
    table = table.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    temp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}-{name}"
    with fs.open_output_stream(temp) as out:
        pq.write_table(table, out)
    fs.move(temp, f"{folder}/{name}")


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
        probe = f"{self.folder('runs')}/{TEMP_PREFIX}probe-{uuid.uuid4().hex}"
        try:
            for table in TABLES:
                self.fs.create_dir(self.folder(table), recursive=True)
            with self.fs.open_output_stream(probe) as out:
                out.write(b"ok")
            self.fs.delete_file(probe)
        except (OSError, pa.ArrowException) as exc:
            raise UserError(self.uri, "output", f"cannot write there: {exc}") from None

    def remove_temp_files(self) -> int:
        """Temp parts a killed driver left behind; never visible to readers, removed on restart."""
        removed = 0
        for table in TABLES:
            selector = pafs.FileSelector(self.folder(table), allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if info.base_name.startswith(TEMP_PREFIX):
                    self.fs.delete_file(info.path)
                    removed += 1
        return removed

    def runs(self, columns: list[str] | None = None) -> pa.Table:
        """This sweep's runs table as written so far."""
        selector = pafs.FileSelector(self.folder("runs"), allow_not_found=True)
        paths = [i.path for i in self.fs.get_file_info(selector)
                 if i.base_name.startswith("part-") and i.base_name.endswith(".parquet")]
        data = ds.dataset(paths, filesystem=self.fs, format="parquet", schema=SCHEMAS["runs"])
        return data.to_table(columns=columns)

    def finished(self) -> dict[str, str]:
        """run id -> status of every run already in this sweep's runs table."""
        rows = self.runs(["run_id", "status"]).to_pylist()
        return {row["run_id"]: row["status"] for row in rows}

    def write_run(self, run_id: str, tables: dict[str, pa.Table], spec: dict) -> None:
        meta = {"orch.sweep_spec": json.dumps(spec, sort_keys=True), provenance.KEY: provenance.stamp()}
        for name in (*[t for t in TABLES if t != "runs"], "runs"):  # runs last: it marks the run done
            write_parquet_atomic(self.fs, self.folder(name), f"part-{run_id}.parquet", tables[name], meta)
