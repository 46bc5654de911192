"""The global locks of fork, exit and wait, whatever the mm does: every strategy pays them.

- tasklist_lock, an rwlock taken for write (modelled as a spinlock): copy_process links the new
  task (kernel/fork.c), exit_notify reparents and signals the parent, release_task unhashes the
  reaped task (kernel/exit.c).
- pidmap_lock, a spinlock: alloc_pid at fork and free_pid when the task is reaped (kernel/pid.c).

The model takes them one after the other, never nested.
"""

from __future__ import annotations

from orchestrator.generators.base import World
from orchestrator.sim import ops
from orchestrator.sim.ops import SPINLOCK

W = ops.WRITE_MODE


class TaskLocks:
    """Declares the two locks; gives the ops of fork, of the child's exit and of its reaping."""

    def __init__(self, world: World, tasklist_hold_ns: int, pidmap_hold_ns: int):
        self.tasklist = world.lock("tasklist_lock", "tasklist_lock", SPINLOCK, 0)
        self.pidmap = world.lock("pidmap_lock", "pidmap_lock", SPINLOCK, 0)
        self.tasklist_hold_ns = tasklist_hold_ns
        self.pidmap_hold_ns = pidmap_hold_ns

    def _tasklist(self, caller: str) -> list[tuple]:
        return [(ops.ACQUIRE, self.tasklist, W, caller), (ops.HOLD, self.tasklist_hold_ns),
                (ops.RELEASE, self.tasklist, W)]

    def _pidmap(self, caller: str) -> list[tuple]:
        return [(ops.ACQUIRE, self.pidmap, W, caller), (ops.HOLD, self.pidmap_hold_ns),
                (ops.RELEASE, self.pidmap, W)]

    def fork_ops(self) -> list[tuple]:
        """copy_process: alloc_pid, then the new task joins the task list."""
        return self._pidmap("alloc_pid") + self._tasklist("copy_process")

    def exit_ops(self) -> list[tuple]:
        """do_exit's exit_notify."""
        return self._tasklist("exit_notify")

    def reap_ops(self) -> list[tuple]:
        """The parent's wait: release_task, whose pids go back with free_pid."""
        return self._tasklist("release_task") + self._pidmap("free_pid")
