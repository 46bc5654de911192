"""Strategy specs: which i_mmap lock design to run, with its parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from orchestrator.spec.base import MAX_SHARDS, Spec


class StrategySpec(Spec):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="registered strategy, e.g. single")
    label: str | None = Field(None, description="name in reports; defaults to name and parameters")
    shards: PositiveInt | None = Field(None, le=MAX_SHARDS, description="subtrees; unset = the design's own default")
    subtree_choice: Literal["cpu", "hash", "node", "smallest"] | None = Field(
        None, description="how a VMA picks its subtree; unset = the design's own default")

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        params = [f"{k}={v}" for k, v in (("shards", self.shards), ("choice", self.subtree_choice)) if v]
        return self.name + (f"[{','.join(params)}]" if params else "")
