"""Every malformed topology gives one line `orch: error: FILE: field: message` and exit 2."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID = {
    "name": "two",
    "nodes": [{"cpus": "0-3"}, {"cpus": [4, 5, 6, 7]}],
    "distance": [[10, 21], [21, 10]],
    "hierarchy": {"sockets": [[0], [1]], "l3_groups": ["0-3", "4-7"], "smt_siblings": ["0,1", "4,5"]},
    "latency_ns": {"smt": 10, "l3": 30, "node": 120, "remote": {21: 300}},
}


def mutate(path, value):
    spec = copy.deepcopy(VALID)
    *parents, last = path
    target = spec
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return spec


DELETE = object()

CASES = [
    # (what, spec, field named, words of the message)
    ("unknown key", mutate(["nodes", 0, "cpuz"], "0"), "nodes.0.cpuz", "unknown field"),
    ("wrong type", mutate(["distance", 0, 1], "far"), "distance.0.1", "integer"),
    ("non-square", mutate(["distance", 1], [21]), "distance.1", "square"),
    ("too few rows", mutate(["distance"], [[10, 21]]), "distance", "expected 2"),
    ("bad diagonal", mutate(["distance", 1, 1], 11), "distance.1.1", "diagonal must be 10"),
    ("below 10", mutate(["distance", 0, 1], 9), "distance.0.1", ">= 10"),
    ("duplicate CPU", mutate(["nodes", 0, "cpus"], [0, 1, 1]), "nodes.0.cpus", "listed twice"),
    ("CPU in two nodes", mutate(["nodes", 1, "cpus"], "3-7"), "nodes.1.cpus", "also in node 0"),
    ("negative latency", mutate(["latency_ns", "node"], -5), "latency_ns.node", "greater than or equal to 0"),
    ("negative CPU", mutate(["nodes", 0, "cpus"], [-1, 0]), "nodes.0.cpus.0", "greater than or equal to 0"),
    ("missing tier latency", mutate(["latency_ns", "remote"], {22: 300}), "latency_ns.remote",
     "no latency for SLIT distance 21"),
    ("missing SMT latency", mutate(["latency_ns", "smt"], DELETE), "latency_ns.smt", "required"),
    ("missing node latency", mutate(["latency_ns", "node"], DELETE), "latency_ns.node", "required"),
    ("empty node list", mutate(["nodes"], []), "nodes", "at least 1"),
    ("empty CPU list", mutate(["nodes", 0, "cpus"], ""), "nodes.0.cpus", "at least 1"),
    ("bad cpulist", mutate(["nodes", 0, "cpus"], "0-x"), "nodes.0.cpus", "bad cpulist"),
    ("missing field", mutate(["distance"], DELETE), "distance", "Field required"),
    ("L3 group across nodes", mutate(["hierarchy", "l3_groups"], ["0-7"]), "hierarchy.l3_groups.0",
     "spans several nodes"),
    ("SMT pair across nodes", mutate(["hierarchy", "smt_siblings"], ["3,4"]), "hierarchy.smt_siblings.0",
     "spans several nodes"),
    ("SMT pair across L3", {**mutate(["hierarchy", "l3_groups"], ["0-1", "2-3", "4-7"]),
                            "hierarchy": {"l3_groups": ["0-1", "2-3", "4-7"], "smt_siblings": ["1,2"]}},
     "hierarchy.smt_siblings.0", "spans several L3 groups"),
    ("unknown CPU in group", mutate(["hierarchy", "l3_groups"], ["0-3", "4-8"]), "hierarchy.l3_groups.1",
     "CPU 8 is in no node"),
    ("node in two sockets", mutate(["hierarchy", "sockets"], [[0, 1], [1]]), "hierarchy.sockets.1",
     "node 1 is also in socket 0"),
    ("matrix and tiers", mutate(["latency_matrix_ns"], [[1, 2], [2, 1]]), "latency_ns.node", "not both"),
]


@pytest.mark.parametrize("what,spec,field,words", CASES, ids=[c[0] for c in CASES])
def test_invalid_spec_is_one_line_exit_2(orch, tmp_path, what, spec, field, words):
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = orch("topology", "validate", path)
    assert result.code == 2
    assert result.err.startswith(f"orch: error: {path}: {field}: "), result.err
    assert words in result.err
    assert result.err.count("\n") == 1


def test_yaml_syntax_error_names_the_line(orch, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nnodes: [\n  - cpus: 0\n")
    result = orch("topology", "show", path)
    assert result.code == 2
    assert result.err.startswith(f"orch: error: {path}: line ")
    assert "invalid YAML" in result.err and result.err.count("\n") == 1


def test_unreadable_file(orch, tmp_path):
    result = orch("topology", "validate", tmp_path / "missing.yaml")
    assert result.code == 2
    assert "missing.yaml: cannot read file" in result.err


def test_directory_is_unreadable(orch, tmp_path):
    result = orch("topology", "show", f"{tmp_path}/")
    assert result.code == 2 and "cannot read file" in result.err


def test_not_a_mapping(orch, tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    result = orch("topology", "validate", path)
    assert result.code == 2 and "(top level)" in result.err


def test_explicit_latency_matrix_is_accepted(orch, tmp_path):
    spec = mutate(["latency_ns"], {"smt": 10, "l3": 30})
    spec["latency_matrix_ns"] = [[100, 300], [300, 100]]
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert orch("topology", "validate", path).code == 0
    shown = orch("topology", "show", path)
    assert shown.code == 0 and "Latency matrix" in shown.out


# ---- no traceback, whatever the mutation ---------------------------------------------

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.integers(-3, 40), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just([[10, 21], [21]]), st.just("0-3,2"), st.just({21: -1}),
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, prefix + (i,))


ALL_PATHS = [p for p in paths(VALID) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.one_of(junk, st.just(DELETE))),
                      min_size=1, max_size=3),
       extra=st.booleans())
def test_random_mutations_never_traceback(orch, tmp_path, edits, extra):
    spec = copy.deepcopy(VALID)
    for path, value in edits:
        try:
            target = spec
            for key in path[:-1]:
                target = target[key]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
    if extra:
        spec["unexpected"] = 1
    file = tmp_path / "mutant.yaml"
    file.write_text(yaml.safe_dump(spec))
    result = orch("topology", "validate", file)
    assert result.code in (0, 2)
    assert "Traceback" not in result.err and "internal error" not in result.err
    if result.code == 2:
        assert result.err.startswith(f"orch: error: {file}: ") and result.err.count("\n") == 1
