"""Read YAML specs into pydantic models, turning every failure into a UserError."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.errors import FieldError, UserError

T = TypeVar("T")


def read_yaml(path: str | Path) -> Any:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(source, None, f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(source, None, "cannot read file: not UTF-8 text") from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(source, where, f"invalid YAML: {problem}") from None


def dotted(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _without_union_tags(loc: tuple, data: Any) -> tuple:
    """Drop the tag pydantic puts in a location inside a tagged union (workload.execl.x -> workload.x)."""
    kept = []
    for part in loc:
        if isinstance(data, dict) and part not in data and data.get("kind") == part:
            continue
        kept.append(part)
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(kept)


def validation_to_user_error(exc: ValidationError, source: str, data: Any = None) -> UserError:
    """Report the first error of a ValidationError as one line naming the field."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _without_union_tags(tuple(first["loc"]), data)
    message = first["msg"]
    original = (first.get("ctx") or {}).get("error")
    if isinstance(original, FieldError):
        loc += original.path
        message = original.message
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return UserError(source, dotted(loc), message)


def validate(model: type[T] | TypeAdapter, data: Any, source: str) -> T:
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise validation_to_user_error(exc, source, data) from None


def load(model: type[T] | TypeAdapter, path: str | Path) -> T:
    return validate(model, read_yaml(path), str(path))


class _SpecDumper(yaml.SafeDumper):
    """Block style, except lists of plain values (a distance row, a cpulist group) stay on one line."""


def _represent_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
    flat = all(isinstance(item, (int, float, str)) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


_SpecDumper.add_representer(list, _represent_list)


def dump_yaml(model: BaseModel) -> str:
    """YAML of a model, omitting unset optional fields so generated specs stay short."""
    data = model.model_dump(exclude_none=True)
    return yaml.dump(data, Dumper=_SpecDumper, sort_keys=False, width=100)
