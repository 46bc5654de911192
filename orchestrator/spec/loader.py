"""Read YAML specs into pydantic models, turning every failure into a UserError."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from orchestrator.errors import FieldError, UserError

if TYPE_CHECKING:
    from typing_extensions import TypeForm  # a model class or an annotated union (WorkloadSpec)

T = TypeVar("T")


# Hard bounds on a spec file, checked before anything is built from it: a small file must not
# be able to hang orch or exhaust memory (a FIFO, /dev/zero, a "billion laughs" of aliases).
MAX_SPEC_BYTES = 1 << 20
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64
TOO_LARGE = f"larger than {MAX_SPEC_BYTES >> 20} MiB, the most orch reads of an input file"


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file ("-": stdin): a regular file of at most MAX_SPEC_BYTES of UTF-8."""
    source = "<stdin>" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            text = sys.stdin.read(MAX_SPEC_BYTES + 1)
        else:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then rejects it
            with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), encoding="utf-8") as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise UserError(source, None, "cannot read file: not a regular file")
                if info.st_size > MAX_SPEC_BYTES:
                    raise UserError(source, None, TOO_LARGE)
                text = file.read(MAX_SPEC_BYTES + 1)
    except UnicodeDecodeError:
        raise UserError(source, None, "cannot read file: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(source, None, f"cannot read file: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the path
        raise UserError(source, None, "cannot read file: NUL byte in the path") from None
    if len(text) > MAX_SPEC_BYTES:  # stdin, or a file that grew: bounded in characters
        raise UserError(source, None, TOO_LARGE)
    return text


def read_yaml(path: str | Path) -> Any:
    return parse_yaml(read_spec_text(path), str(path))


class SpecLoader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys, deep nesting and documents of more than
    MAX_YAML_NODES nodes once aliases are expanded. Nodes are counted as they are composed (an
    alias counts as the nodes it stands for), so a "billion laughs" stops before it is built."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._size: dict[int, int] = {}  # id(node) -> nodes it expands to
        self._nodes = 0
        self._depth = 0

    def _count(self, nodes: int, mark) -> None:
        self._nodes += nodes
        if self._nodes > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_YAML_NODES:,} nodes once "
                                                          "aliases are expanded", mark)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self._size:
                    raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor} refers to a "
                                                                  "node that contains it", event.start_mark)
                self._count(self._size[id(target)], event.start_mark)
            return super().compose_node(parent, index)
        self._count(1, event.start_mark)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                              event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        self._size[id(node)] = 1 + sum(self._size[id(child)] for child in children)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *base" keys may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                            key_node.start_mark)
        return super().construct_mapping(node, deep)


# YAML 1.1 reads 1e6 as a string (it wants 1.0e+6); strict fields would then reject it, so
# read it as the number YAML 1.2 and a reader both see.
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))


def load_yaml_text(text: str) -> Any:
    """YAML through SpecLoader; raises yaml.YAMLError."""
    return yaml.load(text, Loader=SpecLoader)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(source, where, f"invalid YAML: {problem}") from None
    except ValueError as exc:  # a value its constructor rejects: a date 2020-13-01, an int of 5000 digits
        raise UserError(source, "YAML", f"invalid value: {exc}") from None


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


@overload
def validate(model: TypeAdapter[T], data: Any, source: str) -> T: ...
@overload
def validate(model: TypeForm[T], data: Any, source: str) -> T: ...
def validate(model: TypeForm[T] | TypeAdapter[T], data: Any, source: str) -> T:
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise validation_to_user_error(exc, source, data) from None


def load(model: TypeForm[T], path: str | Path) -> T:
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
