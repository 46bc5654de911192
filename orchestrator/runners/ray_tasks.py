"""Ray tasks: one task per work item, on a Ray started for the command or the cluster at an address.

Ray retries a task whose worker died (crash, OOM kill, lost node) RETRIES times; after that the
item comes back as a crash. Tasks still in flight when the stream stops are not cancelled:
ray.cancel races their completion and can abort the driver (a Ray check failure); leaving the
session ends our job instead, and Ray kills a finished job's tasks.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Iterator

from orchestrator.runners import stopping
from orchestrator.runners.executor import Done, Executor, Placement, as_stream
from orchestrator.runners.ray_cluster import check_raylet

RETRIES = 3


class RayTasks(Executor):
    def __init__(self, address: str | None, workers: int | None, nodes: int = 1):
        from orchestrator.runners.ray_cluster import ray_session

        self.workers = workers or 1
        self.session = ExitStack()
        self.session.enter_context(ray_session(address, workers, nodes))

    def stream(self, fn, items, placement=None, in_flight=None) -> Iterator[Done]:
        import ray

        task = ray.remote(num_cpus=1, max_retries=RETRIES)(_call)
        shipped = ray.put(fn)  # once, not with every item
        work = as_stream(items)
        running: dict = {}  # ref -> (index, item); bounded, so the driver's memory stays flat
        while True:
            while len(running) < (in_flight or 2 * self.workers) and (taken := work.take()) is not None:
                where = placement(taken[1]) if placement else None
                running[(task.options(**_options(where)) if where else task).remote(shipped, taken[1])] = taken
            if not running:
                return
            done, _ = ray.wait(list(running), num_returns=1, timeout=stopping.POLL_S)
            stopping.check()
            check_raylet()
            for ref in done:
                index, item = running.pop(ref)
                try:
                    yield Done(index, item, value=ray.get(ref))
                except ray.exceptions.RayTaskError as exc:  # the item's own exception, as it was raised
                    yield Done(index, item, error=exc.cause if isinstance(exc.cause, BaseException) else exc)
                except ray.exceptions.RayError as exc:      # its worker kept dying, or its node was lost
                    yield Done(index, item, crash=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")

    def machines(self) -> list[tuple[str, Placement]]:
        """(host name, a placement on all of its CPUs) of each alive machine of the cluster (Ray nodes
        on one host are one machine)."""
        import ray

        hosts = {n["NodeManagerHostname"]: n for n in ray.nodes() if n["Alive"]}
        return [(host, Placement(node["NodeID"], node["Resources"].get("CPU", 0))) for host, node in hosts.items()]

    def close(self) -> None:
        self.session.close()


def _call(fn, item):
    return fn(item)


def _options(where: Placement) -> dict:
    """Pinned to the machine (node affinity, not soft), holding the CPUs it asks for: no other task
    shares them, and it is not retried elsewhere."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"num_cpus": where.cpus, "max_retries": 0,
            "scheduling_strategy": NodeAffinitySchedulingStrategy(where.node, soft=False)}
