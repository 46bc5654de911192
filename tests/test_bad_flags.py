"""Bad input that is not a spec file (issue 25): every file a flag names is read only when it is
a regular file of bounded size; every float flag takes finite numbers only; a damaged or foreign
dataset is named in one line. Each case: exit 2, one `orch: error:` line, no traceback."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from test_bad_specs import assert_one_error_line

QUICK = ["-t", "laptop-1n-8", "-w", "closed-loop"]
FILE_FLAGS = {  # a command line with {} where the file goes
    "curve": ["calibrate", "{}", "-t", "laptop-1n-8", "-w", "execl"],
    "profile": ["run", *QUICK, "--profile", "{}"],
    "topology": ["run", "-t", "{}", "-w", "closed-loop"],
    "workload": ["run", "-t", "laptop-1n-8", "-w", "{}"],
    "strategy": ["run", *QUICK, "-s", "{}"],
    "sweep": ["sweep", "{}", "--backend", "local"],
    "sweep-profile": ["sweep", "{spec}", "--backend", "local", "--profile", "{}"],
    "numactl": ["topology", "import-numactl", "{}"],
    "validate": ["topology", "validate", "{}"],
}
NOT_READABLE = {  # what the file is -> a fragment of the error
    "fifo": "not a regular file",
    "dev-zero": "not a regular file",
    "too-large": "larger than 1 MiB",
    "folder": "Is a directory",
}


@pytest.fixture
def files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "too-large").write_text("a" * ((1 << 20) + 1))
    (tmp_path / "folder").mkdir()
    (tmp_path / "spec.yaml").write_text("name: s\ntopologies: [laptop-1n-8]\nstrategies: [{name: single}]\n"
                                        "workloads: [{file: closed-loop}]\ncopies: [1]\nduration_ms: 1\n")
    return {"fifo": tmp_path / "fifo", "dev-zero": "/dev/zero", "too-large": tmp_path / "too-large",
            "folder": tmp_path / "folder", "spec": tmp_path / "spec.yaml"}


@pytest.mark.parametrize("what", sorted(NOT_READABLE))
@pytest.mark.parametrize("flag", sorted(FILE_FLAGS))
def test_a_file_flag_reads_only_a_bounded_regular_file(orch, files, tmp_path, monkeypatch, flag, what):
    if flag == "curve" and what == "folder":
        pytest.skip("a folder is a dataset to calibrate on: tests/test_calibrate.py")
    monkeypatch.chdir(tmp_path)
    path = str(files[what])
    args = [path if a == "{}" else str(files["spec"]) if a == "{spec}" else a for a in FILE_FLAGS[flag]]
    assert_one_error_line(orch(*args), path, NOT_READABLE[what])


FLOAT_FLAGS = {  # the command line before the flag
    "--duration-ms": ["run", *QUICK],
    "--warmup-ms": ["run", *QUICK],
    "--part-mb": ["sweep", "-", "--backend", "local"],
    "--part-seconds": ["sweep", "-", "--backend", "local"],
    "--duration-s": ["measure", "execl", "-c", "1"],
}
CALIBRATE_FLOATS = ("--duration-ms", "--warmup-ms", "--noise")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
@pytest.mark.parametrize("flag", sorted(FLOAT_FLAGS) + [f"calibrate {f}" for f in CALIBRATE_FLOATS])
def test_a_float_flag_takes_finite_numbers_only(orch, tmp_path, flag, value):
    if flag.startswith("calibrate "):
        flag = flag.split()[1]
        curve = tmp_path / "curve.csv"
        curve.write_text("copies,throughput_per_s\n1,100\n")
        before = ["calibrate", str(curve), *QUICK]
    else:
        before = FLOAT_FLAGS[flag]
    result = orch(*before, flag, value)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert f"'{flag}': must be a finite number, got {value}" in result.err


@pytest.mark.parametrize(("args", "fragment"), [
    (["measure", "execl", "-c", "1", "--duration-s", "1e300"], "must be at most 86400"),
    (["measure", "execl", "-c", "1", "--duration-s", "0"], "must be at least 0.01"),
    (["calibrate", "curve.csv", *QUICK, "--noise", "3"], "must be at most 1"),
    (["run", *QUICK, "--duration-ms", "ten"], "'ten' is not a number"),
])
def test_a_float_flag_out_of_range_names_its_bound(orch, args, fragment):
    result = orch(*args)
    assert result.code == 2 and result.err.count("\n") == 1 and fragment in result.err, result.err


def quick_dataset(orch, tmp_path):
    out = tmp_path / "data"
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: q\ntopologies: [laptop-1n-8]\nstrategies: [{name: single}]\n"
                    "workloads: [{file: closed-loop}]\ncopies: [1, 2]\nduration_ms: 1\n")
    assert orch("sweep", spec, "--backend", "local", "--out", out).code == 0
    return spec, out


def first_part(out, table):
    return sorted((out / f"table={table}" / "sweep=q").glob("part-*.parquet"))[0]


@pytest.mark.parametrize("table", ["runs", "locks"])
@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_part_is_named_with_the_repair(orch, tmp_path, table, damage):
    spec, out = quick_dataset(orch, tmp_path)
    part = first_part(out, table)
    data = bytearray(part.read_bytes())
    if damage == "truncated":
        part.write_bytes(bytes(data[:100]))
    else:
        middle = len(data) // 2
        data[middle:middle + 200] = b"x" * 200
        part.write_bytes(bytes(data))
    result = orch("report", out, "--out", tmp_path / "report")
    assert_one_error_line(result, str(part), "unreadable part")
    assert "orch sweep --repair" in result.err
    assert orch("sweep", spec, "--backend", "local", "--out", out, "--repair").code == 0
    assert orch("report", out, "--out", tmp_path / "report").code == 0


@pytest.mark.parametrize("kind", [pa.int64(), pa.string()])
def test_a_column_named_like_the_partition_key_is_named(orch, tmp_path, kind):
    _, out = quick_dataset(orch, tmp_path)
    part = first_part(out, "runs")
    table = pq.read_table(part)
    pq.write_table(table.append_column("sweep", pa.array([str(i) if kind == pa.string() else i
                                                          for i in range(len(table))], kind)), part)
    result = orch("report", out, "--out", tmp_path / "report")
    if kind == pa.string():  # pyarrow reads it over the folder's value: only a clash of types is caught
        return
    assert_one_error_line(result, str(part), "sweep: a column named as the dataset's partition key")


def test_a_dataset_of_a_newer_orch_says_so(orch, tmp_path):
    _, out = quick_dataset(orch, tmp_path)
    for part in (out / "table=runs" / "sweep=q").glob("part-*.parquet"):
        table = pq.read_table(part)
        index = table.schema.get_field_index("model_version")
        pq.write_table(table.set_column(index, "model_version", pa.array(["99"] * len(table))), part)
    assert_one_error_line(orch("report", out, "--out", tmp_path / "report"), str(out),
                          "written by a newer orch (model version 99")
