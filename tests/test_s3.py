"""Writers near the workers (issue 15, item 3): a sweep into s3:// on an S3-compatible server on
loopback (moto's server mode, started here), read back through pyarrow and DuckDB over pyarrow."""

from __future__ import annotations

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import yaml

from test_parts import SPEC, rows

moto_server = pytest.importorskip("moto.server")


@pytest.fixture
def s3(monkeypatch):
    """A bucket on a server of our own on 127.0.0.1; the usual AWS variables point at it. (moto keeps
    its buckets per process: each test writes under its own prefix.)"""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                        "RAY_AUTH_MODE": "token"}.items():
        monkeypatch.setenv(name, value)
    fs = pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True)
    fs.create_dir("orch")
    yield fs
    server.stop()


def s3_rows(fs: pafs.S3FileSystem, prefix: str, table: str) -> list[dict]:
    data = ds.dataset(f"orch/{prefix}/table={table}", filesystem=fs, format="parquet", partitioning="hive")
    return data.to_table().to_pylist()


@pytest.mark.parametrize("backend", ["ray", "local"])  # ray: the tasks write their parts; local: the sweep does
def test_a_sweep_into_s3_reads_back_through_pyarrow_and_duckdb(orch, tmp_path, s3, backend):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "local").code == 0
    result = orch("sweep", spec, "--backend", backend, "--out", f"s3://orch/{backend}")
    assert result.code == 0, result.err
    for table in ("runs", "locks", "timeseries", "histograms"):  # the same rows as on a local disk
        local = ds.dataset(tmp_path / "local" / f"table={table}", partitioning="hive").to_table()
        remote = ds.dataset(f"orch/{backend}/table={table}", filesystem=s3, format="parquet",
                            partitioning="hive").to_table()
        wall = [c for c in ("wall_s", "events_per_s") if c in local.column_names]
        key = [(c, "ascending") for c in local.column_names if c not in wall and c != "throughput_per_node"]
        assert remote.drop_columns(wall).sort_by(key).equals(local.drop_columns(wall).sort_by(key)), table
    runs = ds.dataset(f"orch/{backend}/table=runs", filesystem=s3, format="parquet", partitioning="hive")
    locks = ds.dataset(f"orch/{backend}/table=locks", filesystem=s3, format="parquet", partitioning="hive")
    con = duckdb.connect()
    con.register("runs", runs)
    con.register("locks", locks)
    count = con.execute("select count(*), count(distinct run_id) from runs").fetchone()
    assert count == (len(rows(tmp_path / "local")["runs"]),) * 2
    joined = con.execute("select count(*) from locks join runs using (run_id) where status = 'ok'").fetchone()[0]
    assert joined == len(s3_rows(s3, backend, "locks")) > 0
    again = orch("sweep", spec, "--backend", backend, "--out", f"s3://orch/{backend}")
    assert again.code == 0 and f"0 run(s) done now, {count[0]} already" in again.out
    objects = s3.get_file_info(pafs.FileSelector(f"orch/{backend}", recursive=True))
    assert not [i for i in objects if i.base_name.startswith(".")]  # written under their final names
    parts = [i for i in objects if "table=runs/" in i.path and i.base_name.endswith(".parquet")]
    # on Ray each task wrote its batch (the first batches are of one run); in-process, one buffer
    assert len(parts) > 1 if backend == "ray" else len(parts) == 1, [i.path for i in parts]
    before = {t: sorted(map(str, s3_rows(s3, backend, t))) for t in ("runs", "locks", "timeseries", "histograms")}
    compacted = orch("compact", f"s3://orch/{backend}")
    assert compacted.code == 0 and compacted.out.endswith("-> 4\n"), compacted.err
    assert {t: sorted(map(str, s3_rows(s3, backend, t))) for t in before} == before


def test_a_report_of_a_dataset_in_s3_is_the_report_of_its_local_copy(orch, tmp_path, s3):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert orch("sweep", spec, "--backend", "local", "--out", "s3://orch/report").code == 0
    pafs.copy_files("orch/report", str(tmp_path / "copy"), source_filesystem=s3,
                    destination_filesystem=pafs.LocalFileSystem())
    for dataset, out in (("s3://orch/report", tmp_path / "remote"), (tmp_path / "copy", tmp_path / "local")):
        result = orch("report", dataset, "--out", out)
        assert result.code == 0, result.err
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert {"report.md", "index.html", "lkml.txt"} <= {str(f) for f in files}
    for name in files:  # the same report, but for the dataset's name in its intro
        local = (tmp_path / "local" / name).read_text().replace(str(tmp_path / "copy"), "DATASET")
        assert (tmp_path / "remote" / name).read_text().replace("s3://orch/report", "DATASET") == local, name
    assert "| single |" in (tmp_path / "remote" / "report.md").read_text()

    missing = orch("report", "s3://orch/nothing", "--out", tmp_path / "r")
    assert missing.code == 2 and "s3://orch/nothing: no such dataset folder" in missing.err
    assert missing.err.count("\n") == 1
