"""Which executor a command's flags ask for (runners/executor.py says what executors do)."""

from __future__ import annotations

from orchestrator.runners.executor import Executor, InProcess, ProcessPool
from orchestrator.sim.cache import say_if_compiling


def open_executor(backend: str, workers: int, address: str | None = None, layout: str = "task",
                  nodes: int = 1) -> Executor:
    """The executor a command's --backend, --workers, --address and --layout ask for. Use it as a
    context manager: a Ray executor leaves its session on exit."""
    if address is None:  # the engine runs here: its first compile is worth a word
        say_if_compiling()
    if backend == "ray":
        if layout == "actors":
            from orchestrator.runners.ray_actors import RayActors

            return RayActors(address, workers, nodes)
        from orchestrator.runners.ray_tasks import RayTasks

        return RayTasks(address, workers, nodes)
    return InProcess() if workers == 1 else ProcessPool(workers)
