"""Atomic Parquet writes: a reader sees no file or the whole file, never half of one."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_table_atomic(table: pa.Table, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write to a hidden temp name in the same folder, fsync, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if metadata:
        merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        table = table.replace_schema_metadata(merged)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_run_tables(tables: dict[str, pa.Table], folder: Path, spec_json: dict) -> list[Path]:
    """One Parquet file per table in `folder`; the run's spec goes into each file's metadata."""
    written = []
    meta = {"orch.spec": json.dumps(spec_json, sort_keys=True)}
    for name, table in tables.items():
        path = folder / f"{name}.parquet"
        write_table_atomic(table, path, meta)
        written.append(path)
    return written
