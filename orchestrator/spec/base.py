"""Common base for every spec model: unknown keys are errors, not silently ignored."""

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
