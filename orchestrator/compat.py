"""Every private or undocumented API of a dependency that orch uses, in one place.

Each entry names the attribute, why orch needs it and the versions it was checked with.
tests/test_compat.py fails loudly when an installed version lacks one, so an upgrade that drops
it is caught in CI; at run time a missing name costs the feature it serves, with a note, never
a crash.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import version
from typing import Any, Iterator


@dataclass(frozen=True)
class Private:
    package: str      # the distribution
    module: str
    name: str
    checked: str      # versions it was checked with
    why: str

    def get(self) -> Any:
        """The attribute, or None (with a note) when this version of the package lacks it."""
        try:
            return getattr(import_module(self.module), self.name)
        except (ImportError, AttributeError):
            print(f"orch: note: {self.package} {version(self.package)} has no {self.module}.{self.name} "
                  f"(checked with {self.checked}): {self.why} is off", file=sys.stderr)
            return None


CLICK_EXCEPTIONS = Private(
    "typer", "typer._click", "exceptions", ">= 0.20 (0.29.2)",
    "telling usage errors from other errors (Typer vendors click, and exports neither)")
FLAG_TYPES = Private(
    "typer", "typer.core", "TyperOption", ">= 0.20 (0.29.2)",
    "help without a <bool> type after flags, which take no value")
RAY_POPEN = Private(
    "ray", "ray._private.services", "ConsolePopen", "2.52 - 2.60",
    "starting Ray's processes in sessions of their own, so a Ctrl-C reaches orch alone")
NUMBA_LOCATOR = Private(
    "numba", "numba.core.caching", "_CacheLocator", "0.68",
    "one compile cache for every install of orch on a machine (numba files its cache by source path)")
NUMBA_CACHE_IMPL = Private(
    "numba", "numba.core.caching", "CacheImpl", "0.68",
    "one compile cache for every install of orch on a machine (the list of locators numba tries)")

ALL = (CLICK_EXCEPTIONS, FLAG_TYPES, RAY_POPEN, NUMBA_LOCATOR, NUMBA_CACHE_IMPL)


def click_exceptions():
    """The click exceptions Typer raises (Typer >= 0.20 ships its own copy of click)."""
    found = CLICK_EXCEPTIONS.get()
    if found is None:  # older Typer uses click itself
        from click import exceptions as found
    return found


def hide_flag_types() -> None:
    """Typer's help shows every flag as taking a <bool> value, though a flag takes none: show nothing."""
    option = FLAG_TYPES.get()
    shown = getattr(option, "display_type_rich", None)
    if shown is None:
        return
    option.display_type_rich = lambda self, ctx: "" if self.is_flag else shown(self, ctx)


@contextmanager
def ray_in_own_sessions() -> Iterator[None]:
    """Processes Ray starts inside the block run in sessions of their own (Ray has no option for
    it: this wraps the Popen its process starter uses)."""
    popen: Any = RAY_POPEN.get()  # a class of Ray's, found at run time: what OwnSession derives from
    if popen is None:
        yield
        return
    services = import_module(RAY_POPEN.module)

    class OwnSession(popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, start_new_session=True, **kwargs)

    setattr(services, RAY_POPEN.name, OwnSession)
    try:
        yield
    finally:
        setattr(services, RAY_POPEN.name, popen)


def numba_locator_base() -> type:
    """The class numba's cache locators derive from (object when this numba lacks it)."""
    return NUMBA_LOCATOR.get() or object


def first_numba_locator(locator: type) -> None:
    """Have numba ask `locator` first where a function's compiled code is cached."""
    impl = NUMBA_CACHE_IMPL.get()
    if impl is not None and locator not in impl._locator_classes:
        impl._locator_classes.insert(0, locator)
