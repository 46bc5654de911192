"""Errors a user can cause, and how they are reported: one line, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a spec, a flag, a dataset): never a traceback."""

    def __init__(self, source: str, field: str | None, message: str):
        super().__init__(message)
        self.source = source
        self.field = field
        self.message = message

    def __str__(self) -> str:
        parts = [self.source, self.field, self.message]
        return ": ".join(p for p in parts if p)

    def __reduce__(self):  # raised in a worker process or a Ray task, it reaches the CLI intact
        return type(self), (self.source, self.field, self.message)


class RunCrashed(RuntimeError):
    """A worker died (killed, out of memory, a fault in compiled code) running the run named in
    the message: one line, exit code 1."""


def one_line(message: str) -> str:
    """A message as one printable line: runs of whitespace (a library's multi-line message) become
    one space, and any other character that is not printable (a NUL or an escape code in a path
    or a label) is shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(message.split()))


def error_line(message: str) -> str:
    return f"orch: error: {one_line(message)}"


class FieldError(ValueError):
    """Raised inside a model validator to blame a nested field, not the whole model.

    Pydantic keeps the original exception in the error context, so the loader
    can append ``path`` to the location of the model that raised it.
    """

    def __init__(self, path: str | int | tuple, message: str):
        super().__init__(message)
        self.path = path if isinstance(path, tuple) else (path,)
        self.message = message

    def __reduce__(self):
        return type(self), (self.path, self.message)
