"""python -m orchestrator: the same as the `orch` command (used by submitted Ray jobs)."""

from orchestrator.entry import main

main()
