"""The private APIs orch uses (orchestrator/compat.py) exist in the installed dependencies: an
upgrade that drops one fails here, loudly, instead of silently losing what it served."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version

import pytest

from orchestrator import compat


@pytest.mark.parametrize("entry", compat.ALL, ids=lambda e: f"{e.module}.{e.name}")
def test_each_private_name_is_there(entry):
    module = import_module(entry.module)
    assert hasattr(module, entry.name), (f"{entry.package} {version(entry.package)} has no {entry.module}."
                                         f"{entry.name} (checked with {entry.checked}): {entry.why} needs another way")


def test_a_missing_name_is_a_note_not_a_crash(capsys):
    gone = compat.Private("ray", "ray", "no_such_name", "2.52", "something")
    assert gone.get() is None
    err = capsys.readouterr().err
    assert err.startswith("orch: note: ray ") and "has no ray.no_such_name" in err and "something is off" in err


def test_flags_show_no_type_in_help(orch):
    result = orch("sweep", "--help")
    assert "--force" in result.out and "--force <bool>" not in result.out


def test_click_exceptions_are_typers_own():
    errors = compat.click_exceptions()
    assert hasattr(errors, "UsageError") and hasattr(errors, "NoArgsIsHelpError")
