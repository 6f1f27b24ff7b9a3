"""No two commands share a name (issue 29): `mlops promote` moves an alias,
`mlops registry advance` moves a version on to the next environment. The old name
`mlops registry promote` still works, unlisted, so scripts written for it keep running."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections import Counter

import pytest

from mlops.cli.main import RENAMED, build_parser, main


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, (*path, name))


def test_no_two_commands_end_in_the_same_verb_promote() -> None:
    names = Counter(path[-1] for path in _leaves(build_parser()))
    assert names["promote"] == 1
    assert ("registry", "advance") in set(_leaves(build_parser()))


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def test_the_old_name_still_works_and_is_not_listed() -> None:
    assert RENAMED[("registry", "promote")] == ("registry", "advance")
    assert _help(["registry", "promote"]) == _help(["registry", "advance"])
    listed = _help(["registry"])
    assert "advance" in listed and "promote" not in listed


def test_each_promote_help_points_to_the_other() -> None:
    assert "mlops registry advance" in " ".join(_help(["promote"]).split())
