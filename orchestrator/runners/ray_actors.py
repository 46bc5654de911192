"""--layout actors: a run as Ray actors.

One NodeStreams actor per virtual NUMA node, placed by the custom resource vnode_<i>, hosts
that node's CPU actors: it generates their operation streams. One TreeOwner actor owns the
trees, locks, cache lines and the clock: it runs the engine, pulling each CPU's op batches
from its node's actor. Both sides build the run's world the same way (simulate.build), so the
ops and therefore the results are bit-identical to the task layout and to --backend local.

The actors live for the whole sweep: each run loads its spec into them. (A new actor is a new
worker process that imports orch and loads the compiled engine, about a second each; building
a run's world is 20 - 40 ms even on 384 CPUs.)
"""

from __future__ import annotations

import os
from typing import Iterator

from orchestrator.errors import UserError
from orchestrator.results.tables import failed_tables
from orchestrator.runners import stopping
from orchestrator.runners.ray_tasks import RETRIES
from orchestrator.runners.work import Batch, run_one
from orchestrator.simulate import build, local_streams, machine_for
from orchestrator.spec.run import RunSpec

PREFETCH = 8  # batches pulled per remote call


class NodeStreams:
    """The CPU actors of one virtual node: their operation streams, for one run at a time."""

    def __init__(self):
        self.streams: dict[int, Iterator[list[tuple]]] = {}

    def load(self, spec_json: dict, slots: list[int]) -> None:
        spec = RunSpec.model_validate(spec_json)
        _, _, _, generator = build(spec)
        make = local_streams(spec, generator)
        self.streams = {slot: make(slot) for slot in slots}

    def next_batches(self, slot: int, count: int) -> list[list[tuple]]:
        stream = self.streams[slot]
        return [next(stream) for _ in range(count)]


class NodeLost(RuntimeError):
    """A node actor died while the owner pulled from it: the run is retried, not failed."""


def _pull(handle, slot: int) -> Iterator[list[tuple]]:
    import ray

    while True:
        try:
            batches = ray.get(handle.next_batches.remote(slot, PREFETCH))
        except ray.exceptions.RayActorError as exc:
            raise NodeLost(str(exc).splitlines()[0]) from None
        yield from batches


class TreeOwner:
    """Owns trees, locks and the clock of one run; pulls op batches from the node actors."""

    def run(self, spec_json: dict, sweep_id: str, handles: dict[int, object], slot_node: list[int]):
        return run_one(spec_json, sweep_id, streams=lambda slot: _pull(handles[slot_node[slot]], slot))


def run_actors(specs: list[RunSpec], sweep_id: str) -> Iterator[Batch]:
    import ray

    needed = {f"vnode_{n}" for spec in specs for n in set(machine_for(spec).node)}
    missing = sorted(needed - set(ray.cluster_resources()))
    if missing:
        raise UserError("--layout actors", "resources", f"the cluster declares no {', '.join(missing)}: start "
                        "its nodes with e.g. ray start --resources='{\"vnode_0\": 1000}' (docs/cluster.md)")
    crew = Crew(sweep_id)
    try:
        yield from _each_run(specs, sweep_id, crew)
    finally:
        crew.kill()


class Crew:
    """The sweep's actors: the tree owner and one NodeStreams per virtual node, made when first
    needed and all again after any of them dies (a crash, a lost node, ray.kill). They are named
    (orch-tree-owner-<sweep>-<pid>-<n>, orch-node-streams-<sweep>-<pid>-<n>-<node>, n counting
    the crews) so that ray list actors shows whose they are."""

    def __init__(self, sweep_id: str):
        import ray

        self.owner_class = ray.remote(num_cpus=1)(TreeOwner)
        self.node_class = ray.remote(num_cpus=0)(NodeStreams)
        self.suffix = f"{sweep_id}-{os.getpid()}"
        self.made = 1
        self.owner = None
        self.nodes: dict[int, object] = {}

    def get_owner(self):
        if self.owner is None:
            self.owner = self.owner_class.options(name=f"orch-tree-owner-{self.suffix}-{self.made}").remote()
        return self.owner

    def get_node(self, node: int):
        if node not in self.nodes:
            self.nodes[node] = self.node_class.options(name=f"orch-node-streams-{self.suffix}-{self.made}-{node}",
                                                       resources={f"vnode_{node}": 1}).remote()
        return self.nodes[node]

    def kill(self) -> None:
        import ray

        for actor in [self.owner, *self.nodes.values()]:
            if actor is not None:
                ray.kill(actor)
        self.owner, self.nodes = None, {}
        self.made += 1


def _each_run(specs, sweep_id, crew: Crew) -> Iterator[Batch]:
    import ray

    for spec in specs:
        spec_json = spec.model_dump(mode="json")
        machine = machine_for(spec)
        by_node: dict[int, list[int]] = {}
        for slot, node in enumerate(machine.node):
            by_node.setdefault(node, []).append(slot)
        for attempt in range(RETRIES + 1):  # as the task layout: a run whose actors died is run again
            try:
                handles = {node: crew.get_node(node) for node in by_node}
                # loaded before the owner pulls: calls from two callers keep no order between them
                ray.get([handles[node].load.remote(spec_json, slots) for node, slots in by_node.items()])
                run_id, tables, error = waited(crew.get_owner().run.remote(spec_json, sweep_id, handles,
                                                                            machine.node))
                if error is None or not error.startswith(NodeLost.__name__) or attempt == RETRIES:
                    yield _batch(spec, sweep_id, run_id, tables, error)
                    break
                crew.kill()  # run_one reported the lost node as the run's error: run it again
            except ray.exceptions.RayTaskError as exc:  # the spec itself failed to load: no retry helps
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                yield _batch(spec, sweep_id, spec.run_id(), None,
                             f"{type(cause).__name__}: {str(cause).splitlines()[0]}")
                break
            except ray.exceptions.RayError as exc:  # an actor died: run_one reports the model's own errors
                crew.kill()  # whichever actor died, the next attempt starts from fresh ones
                if attempt == RETRIES:
                    yield _batch(spec, sweep_id, spec.run_id(), None,
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def waited(ref):
    """ray.get of a run that may last long, stopping at a stop signal while it waits."""
    import ray

    while not ray.wait([ref], timeout=stopping.POLL_S)[0]:
        stopping.check()
    return ray.get(ref)


def _batch(spec: RunSpec, sweep_id: str, run_id: str, tables, error: str | None) -> Batch:
    """One run as the sweep takes it: a batch of one, a failed run as its row of runs."""
    return Batch([(run_id, error)], 0.0, tables if error is None else failed_tables(spec, error, sweep_id))
