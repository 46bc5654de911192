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
from itertools import islice
from typing import TYPE_CHECKING, Iterator, cast

from orchestrator.errors import UserError
from orchestrator.runners import stopping
from orchestrator.runners.executor import Done, as_stream
from orchestrator.runners.ray_cluster import check_raylet
from orchestrator.runners.ray_tasks import RETRIES, RayTasks
from orchestrator.runners.work import Retry
from orchestrator.sim.encoder import Batch
from orchestrator.simulate import build, local_streams, machine_for
from orchestrator.spec.run import RunSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle, ActorProxy  # ray loads only when the actors layout runs

PREFETCH = 8  # batches pulled per remote call


class NodeStreams:
    """The CPU actors of one virtual node: their operation streams, for one run at a time."""

    def __init__(self) -> None:
        self.streams: dict[int, Iterator[Batch]] = {}

    def load(self, spec_json: dict, slots: list[int]) -> None:
        spec = RunSpec.model_validate(spec_json)
        _, _, _, generator = build(spec)
        make = local_streams(spec, generator)
        self.streams = {slot: make(slot) for slot in slots}

    def next_batches(self, slot: int, count: int) -> list[Batch]:
        return list(islice(self.streams[slot], count))  # fewer: the stream ended (a copy's Chain is its last)


class NodeLost(Retry):
    """A node actor died while the owner pulled from it: the run is retried, not failed."""


def _pull(handle, slot: int) -> Iterator[Batch]:
    import ray

    while True:
        try:
            batches = ray.get(handle.next_batches.remote(slot, PREFETCH))
        except ray.exceptions.RayActorError as exc:
            raise NodeLost(str(exc).splitlines()[0]) from None
        if not batches:
            return
        yield from batches


class TreeOwner:
    """Owns trees, locks and the clock of one run; pulls op batches from the node actors."""

    def run(self, fn, item, handles: dict[int, object], slot_node: list[int]):
        return fn(item, streams=lambda slot: _pull(handles[slot_node[slot]], slot))


class RayActors(RayTasks):
    """--layout actors: each item is a batch of one run, run by the crew; fn(item, streams=...)
    runs in the tree owner with the op streams its node actors generate. Runs go one at a time
    (each already spans a CPU per virtual node); a run whose actors died is run again by a fresh
    crew, RETRIES times."""

    def stream(self, fn, items, placement=None, in_flight=None) -> Iterator[Done]:

        work = as_stream(items)
        crew = Crew(os.getpid())
        try:
            while (taken := work.take()) is not None:
                stopping.check()
                check_raylet()
                index, item = taken
                (spec_json,) = item
                spec = RunSpec.model_validate(spec_json)
                _check_resources(spec)
                yield self._run(crew, fn, index, item, spec)
        finally:
            crew.kill()

    @staticmethod
    def _run(crew: "Crew", fn, index: int, item, spec: RunSpec) -> Done:
        import ray

        by_node: dict[int, list[int]] = {}
        machine = machine_for(spec)
        for slot, node in enumerate(machine.node):
            by_node.setdefault(node, []).append(slot)
        for _attempt in range(RETRIES + 1):
            try:
                handles = {node: crew.get_node(node) for node in by_node}
                # loaded before the owner pulls: calls from two callers keep no order between them
                ray.get([handles[node].load.remote(item[0], slots) for node, slots in by_node.items()])
                return Done(index, item, value=waited(crew.get_owner().run.remote(fn, item, handles, machine.node)))
            except ray.exceptions.RayTaskError as exc:
                if not isinstance(exc.cause, NodeLost):  # the run's own error: no retry helps
                    return Done(index, item, error=exc.cause if isinstance(exc.cause, BaseException) else exc)
                reason = str(exc.cause)
            except ray.exceptions.RayError as exc:  # an actor died
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            crew.kill()  # whichever actor died, the next attempt starts from fresh ones
        return Done(index, item, crash=reason)


def _check_resources(spec: RunSpec) -> None:
    import ray

    needed = {f"vnode_{n}" for n in set(machine_for(spec).node)}
    missing = sorted(needed - set(ray.cluster_resources()))
    if missing:
        raise UserError("--layout actors", "resources", f"the cluster declares no {', '.join(missing)}: start "
                        "its nodes with e.g. ray start --resources='{\"vnode_0\": 1000}' (orch docs cluster)")


class Crew:
    """The actors: the tree owner and one NodeStreams per virtual node, made when first needed and
    all again after any of them dies (a crash, a lost node, ray.kill). They are named
    (orch-tree-owner-<pid>-<n>, orch-node-streams-<pid>-<n>-<node>, n counting the crews) so that
    ray list actors shows whose they are."""

    def __init__(self, owner_pid: int):
        import ray

        self.owner_class = ray.remote(num_cpus=1)(TreeOwner)
        self.node_class = ray.remote(num_cpus=0)(NodeStreams)
        self.suffix = str(owner_pid)
        self.made = 1
        self.owner: ActorProxy[TreeOwner] | None = None
        self.nodes: dict[int, ActorProxy[NodeStreams]] = {}

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
                ray.kill(cast("ActorHandle", actor))  # an ActorProxy is a handle, typed as its class too
        self.owner, self.nodes = None, {}
        self.made += 1


def waited(ref):
    """ray.get of a run that may last long, stopping at a stop signal while it waits."""
    import ray

    while not ray.wait([ref], timeout=stopping.POLL_S)[0]:
        stopping.check()
        check_raylet()
    return ray.get(ref)
