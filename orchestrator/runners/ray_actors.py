"""--layout actors: a run as Ray actors.

One NodeStreams actor per virtual NUMA node, placed by the custom resource vnode_<i>, hosts
that node's CPU actors: it generates their operation streams. One TreeOwner actor owns the
trees, locks, cache lines and the clock: it runs the engine, pulling each CPU's op batches
from its node's actor. Both sides build the run's world the same way (simulate.build), so the
ops and therefore the results are bit-identical to the task layout and to --backend local.
"""

from __future__ import annotations

import os
from typing import Iterator

from orchestrator.errors import UserError
from orchestrator.runners.ray_tasks import RETRIES
from orchestrator.results.tables import failed_tables
from orchestrator.runners.work import Batch, run_one
from orchestrator.simulate import build, local_streams, machine_for
from orchestrator.spec.run import RunSpec

PREFETCH = 8  # batches pulled per remote call


class NodeStreams:
    """The CPU actors of one virtual node: their operation streams."""

    def __init__(self, spec_json: dict, slots: list[int]):
        spec = RunSpec.model_validate(spec_json)
        _, _, _, generator = build(spec)
        make = local_streams(spec, generator)
        self.streams = {slot: make(slot) for slot in slots}

    def next_batches(self, slot: int, count: int) -> list[list[tuple]]:
        stream = self.streams[slot]
        return [next(stream) for _ in range(count)]


def _pull(handle, slot: int) -> Iterator[list[tuple]]:
    import ray

    while True:
        yield from ray.get(handle.next_batches.remote(slot, PREFETCH))


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
    node_actor = ray.remote(num_cpus=0)(NodeStreams)
    owners = OwnerFactory(sweep_id)
    try:
        yield from _each_run(specs, sweep_id, node_actor, owners)
    finally:
        owners.kill()


class OwnerFactory:
    """The tree-owner actor, made again when it dies (a crash, a lost node, ray.kill). It is
    named (orch-tree-owner-<sweep>-<pid>-<n>) so that ray list actors shows whose it is."""

    def __init__(self, sweep_id: str):
        import ray

        self.remote = ray.remote(num_cpus=1)(TreeOwner)
        self.prefix = f"orch-tree-owner-{sweep_id}-{os.getpid()}"
        self.made = 0
        self.actor = None

    def get(self):
        if self.actor is None:
            self.made += 1
            self.actor = self.remote.options(name=f"{self.prefix}-{self.made}").remote()
        return self.actor

    def kill(self) -> None:
        import ray

        if self.actor is not None:
            ray.kill(self.actor)
            self.actor = None


def _each_run(specs, sweep_id, node_actor, owners: OwnerFactory) -> Iterator[Batch]:
    import ray

    for spec in specs:
        spec_json = spec.model_dump(mode="json")
        machine = machine_for(spec)
        by_node: dict[int, list[int]] = {}
        for slot, node in enumerate(machine.node):
            by_node.setdefault(node, []).append(slot)
        for attempt in range(RETRIES + 1):  # as the task layout: a run whose actors died is run again
            handles = {node: node_actor.options(resources={f"vnode_{node}": 1}).remote(spec_json, slots)
                       for node, slots in by_node.items()}
            try:
                run_id, tables, error = ray.get(owners.get().run.remote(spec_json, sweep_id, handles, machine.node))
                break
            except ray.exceptions.RayError as exc:  # an actor died: run_one reports the model's own errors
                owners.kill()  # whichever actor died, the next attempt starts from fresh ones
                if attempt == RETRIES:
                    run_id, tables, error = spec.run_id(), None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            finally:
                for handle in handles.values():
                    ray.kill(handle)
        yield Batch([(run_id, error)], 0.0, tables if error is None else failed_tables(spec, error, sweep_id))
