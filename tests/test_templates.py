"""Strategy expansions as tables: an i_mmap op is encoded from its shape's template, filled in
with its VMAs, pages and engine ids, exactly as its own expansion would be encoded."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.presets import resolve
from orchestrator.sim import ops
from orchestrator.sim.encoder import WALK_BEGIN, WALK_END, Encoder
from orchestrator.simulate import build
from orchestrator.spec import read_yaml
from orchestrator.strategies.base import FileDecl, Strategy

from simhelp import run_spec

DESIGNS = ["single", "split-tree", "split-node", "split-cpu", "inverted", "writer-hold"]
EXECL = read_yaml(resolve("workloads", "execl"))
OLD = [(1000 + i, 10 * i, 10 * i + 9) for i in range(12)]  # VMAs mapped before, engine ids 5..16


def encoder(strategy: Strategy) -> Encoder:
    enc = Encoder([iter(()), iter(())], strategy.expand)
    enc.vma_ids = {vma[0]: 5 + i for i, vma in enumerate(OLD)}
    enc.vmas = 40
    enc.cpus[1].free[:2], enc.cpus[1].freed = [3, 1], 2  # ids earlier removals freed: an insert takes 1 first
    return enc


def op_of(kind: str, count: int, flag: bool, new: int) -> tuple:
    """An op of `kind` on file 0 over the VMAs of OLD; `new` is the id of a VMA it creates."""
    old = OLD[count % len(OLD)]
    if kind == ops.LINK:
        return (ops.IMMAP, kind, 0, (new, 500, 509))
    if kind == ops.UNLINK_BATCH:
        return (ops.IMMAP, kind, 0, tuple(OLD[:count]))
    if kind == ops.SPLIT:
        return (ops.IMMAP, kind, 0, old, (old[0], old[1], old[1] + 3), (new, old[1] + 4, old[2]), flag)
    if kind == ops.MERGE:
        return (ops.IMMAP, kind, 0, old, (old[0], old[1], old[2] + 7))
    if kind == ops.DUP:
        return (ops.IMMAP, kind, 0, old, (new, old[1], old[2]))
    return (ops.IMMAP, kind, 0, 3 * count, 3 * count + 40, flag)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=st.sampled_from(DESIGNS), choice=st.sampled_from([None, "node", "cpu", "hash", "smallest"]),
       kind=st.sampled_from(sorted(ops.OPERANDS)), count=st.integers(1, 8), flag=st.booleans(),
       release=st.sampled_from(["6.10", "6.12"]))
def test_a_template_filled_in_is_the_ops_expansion_encoded(design, choice, kind, count, flag, release):
    strategy_spec = {"name": design, "subtree_choice": None if design == "single" else choice}
    spec = run_spec("milan-2n-256", workload=EXECL, strategy=strategy_spec, copies=2, duration_ms=0.01,
                    kernel={"release": release})
    _, _, strategy, _ = build(spec)
    tabled, direct = encoder(strategy), encoder(strategy)
    for new in (7001, 7002):  # the second op of the shape is filled in from the first one's template
        op = op_of(kind, count, flag, new)
        got = ([1] * 7, [9, 9])  # rows and pool already there: a template's jumps and pool entries move
        tabled.put(1, op, *got)
        want = ([1] * 7, [9, 9])
        walk = kind == ops.RMAP_WALK
        want[0].extend(WALK_BEGIN if walk else ())
        direct.encode(1, strategy.expand(op), *want)
        want[0].extend(WALK_END if walk else ())
        assert got == want
        freed = [e.cpus[1].free[:e.cpus[1].freed].tolist() for e in (tabled, direct)]
        assert tabled.vma_ids == direct.vma_ids and freed[0] == freed[1]
        for e in (tabled, direct):  # the next op finds the VMAs as they were
            e.vma_ids = {vma[0]: 5 + i for i, vma in enumerate(OLD)}
    assert len(tabled.templates) == 1


class Computing(Strategy):
    """A design that computes with a VMA's id in its expansion (a hash in Python): not a table."""

    name = "test-computing"
    summary = "hashes VMA ids itself"

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        self.trees = eng.table([eng.tree(f"{decl.name}.t{i}", eng.line(f"{decl.name}.l{i}", 0), 0)
                                for i in range(2)])
        return 0

    def expand(self, op: tuple) -> list[tuple]:
        return [(ops.TREE, self.trees[op[3][0] % 2], ops.INSERT, op[3])]

    def memory_per_inode(self) -> int:
        return 0


def test_an_expansion_that_computes_with_its_op_is_refused():
    spec = run_spec("milan-2n-256", copies=1, duration_ms=0.01)
    machine, engine, _, _ = build(spec)
    strategy = Computing(spec.strategy, engine, machine)
    strategy.add_file(FileDecl("f", 0))
    enc = Encoder([iter(())], strategy.expand)
    with pytest.raises(ValueError, match="Computing.expand of a link op depends on the op's values"):
        enc.put(0, (ops.IMMAP, ops.LINK, 0, (7, 0, 9)), [], [])


def test_an_unknown_op_kind_is_named():
    with pytest.raises(ValueError, match="'mremap' is not an i_mmap op kind"):
        Encoder([iter(())], None).put(0, (ops.IMMAP, "mremap", 0, (7, 0, 9)), [], [])


def test_a_run_makes_one_template_per_shape():
    """Reclaim's walks on two nodes: hundreds of rmap walks, a few shapes."""
    from orchestrator.sim.driver import Driver
    from orchestrator.simulate import local_streams

    spec = run_spec("milan-2n-256", workload=read_yaml(resolve("workloads", "execl-reclaim")),
                    strategy={"name": "split-node"}, copies=8, duration_ms=1)
    machine, engine, _, generator = build(spec)
    for slot in range(len(machine.cpus)):
        engine.add_cpu(local_streams(spec, generator)(slot))
    driver = Driver(engine)
    put = driver.encoder.put
    count = 0

    def counted(*args):
        nonlocal count
        count += 1
        put(*args)

    driver.encoder.put = counted  # type: ignore[method-assign]  # the walkers' ops come this way
    driver.run()
    walks = len([key for key in driver.encoder.templates if key[0] == ops.RMAP_WALK])
    assert count > 10 * walks > 0


class Spanning(Computing):
    """A design whose walk costs by its span, computed from the op's pages: the same for every
    placeholder shifted alike, so the check uses other gaps too."""

    name = "test-spanning"

    def expand(self, op: tuple) -> list[tuple]:
        return [(ops.DELAY, 10 * (op[4] - op[3] + 1)), (ops.TREE, self.trees[0], ops.QUERY, op[3:5])]


def test_an_expansion_that_computes_with_the_gaps_between_its_operands_is_refused():
    spec = run_spec("milan-2n-256", copies=1, duration_ms=0.01)
    machine, engine, _, _ = build(spec)
    strategy = Spanning(spec.strategy, engine, machine)
    strategy.add_file(FileDecl("f", 0))
    with pytest.raises(ValueError, match="Spanning.expand of a rmap_walk op depends on the op's values"):
        Encoder([iter(())], strategy.expand).put(0, (ops.IMMAP, ops.RMAP_WALK, 0, 3, 9, False), [], [])


def test_a_join_names_the_choice_it_compares_with():
    trees = build(run_spec("milan-2n-256", workload=EXECL, strategy={"name": "split-cpu"}, copies=1,
                           duration_ms=0.01))[2].spaces[0].trees
    with pytest.raises(ValueError, match="a JOIN compares with a SUBTREE_OF or a CHOOSE"):
        Encoder([iter(())], None).encode(0, [(ops.JOIN, (ops.SMALLEST, trees, trees), 3)], [], [])
