"""The ``mlops`` command line itself: its help, exit codes and structure (no command runs)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.cli.common import EXIT_CODES
from mlops.cli.main import build_parser, main
from mlops.core import exceptions

ROOT = Path(__file__).resolve().parents[2]


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def _tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
          ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser under ``parser`` (itself first) with its command path, e.g. ("deploy",
    "start")."""
    yield path, parser
    sub = _subparsers(parser)
    if sub is not None:
        for name, child in sub.choices.items():
            yield from _tree(child, (*path, name))


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return out.getvalue()


def test_the_tree_has_every_command_group() -> None:
    paths = {path for path, _ in _tree(build_parser())}
    for expected in [("run",), ("validate",), ("schema", "infer"), ("registry", "list"),
                     ("registry", "show"), ("registry", "history"), ("promote",), ("rollback",),
                     ("deploy", "start"), ("deploy", "switch"), ("deploy", "abort"),
                     ("deploy", "analyse"), ("deploy", "status"), ("deploy", "promote-shadow"),
                     ("deploy", "stop-shadow"), ("feedback",), ("monitor",), ("live-data",),
                     ("simulate",), ("space", "build"), ("space", "push"),
                     ("space", "fetch-log")]:
        assert expected in paths


def test_every_command_at_every_level_has_a_one_line_help() -> None:
    checked = 0
    for path, parser in _tree(build_parser()):
        sub = _subparsers(parser)
        if sub is None:
            assert callable(parser.get_default("func")), f"mlops {' '.join(path)}: no handler"
            continue
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name in sub.choices:
            text = helps.get(name)
            assert text and text.strip(), f"mlops {' '.join((*path, name))}: no help= line"
            assert "\n" not in text, f"mlops {' '.join((*path, name))}: help is not one line"
            checked += 1
    assert checked >= 22


def test_parent_help_shows_each_childs_help_line() -> None:
    for path, parser in _tree(build_parser()):
        sub = _subparsers(parser)
        if sub is None:
            continue
        text = " ".join(_help(list(path)).split())  # undo argparse's wrapping
        for action in sub._choices_actions:
            assert f"{action.dest} {' '.join(action.help.split())}" in text, (path, action.dest)


def test_root_help_says_what_the_tool_is() -> None:
    text = _help([])
    assert "no logic" not in text.lower()
    first = " ".join(text.split("\n\n")[1].split())  # the description, after the usage line
    assert first.startswith("mlops: validate data, train, evaluate, register, deploy and "
                            "monitor a model")


def test_run_help_lists_every_exit_code() -> None:
    text = _help(["run"])
    assert "exit codes:" in text
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"(?m)^ +{code} +{re.escape(meaning)}$", text), (code, meaning)


def test_validate_help_lists_its_exit_codes_from_the_same_table() -> None:
    text = _help(["validate"])
    for code in (0, 1, 2):
        assert f"  {code}  {EXIT_CODES[code]}" in text
    assert f"  3  {EXIT_CODES[3]}" not in text


def test_exit_code_table_matches_the_exceptions_and_the_docs() -> None:
    classes = [c for c in vars(exceptions).values()
               if isinstance(c, type) and issubclass(c, exceptions.MLOpsError)
               and c is not exceptions.MLOpsError]
    assert {c.exit_code for c in classes} | {0} == set(EXIT_CODES)
    table = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"(?m)^\| (\d+) \| (.+?) \|$", table))
    assert {int(k): v for k, v in rows.items()} == EXIT_CODES


def test_help_examples_fit_the_command_they_are_shown_on() -> None:
    parser = build_parser()
    seen = 0
    for path, node in _tree(parser):
        for line in (node.epilog or "").splitlines():
            if not line.strip().startswith("mlops "):
                continue
            example = re.split(r"\s{2,}", line.strip())[0]  # drop a trailing comment column
            argv = shlex.split(example)[1:]
            assert tuple(argv[:len(path)]) == path, f"`{example}` shown on mlops {path}"
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err):
                    parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"`{example}` (on mlops {' '.join(path)}): {err.getvalue()}")
            seen += 1
    assert seen >= 25


def test_mlops_error_becomes_one_line_on_stderr_and_its_exit_code(tmp_path, capsys) -> None:
    assert main(["registry", "list", "--params", str(tmp_path / "nope.yaml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "parameters file not found" in captured.err


def test_deploy_strategy_choices_are_the_serving_strategies() -> None:
    from mlops.cli.deploy import STRATEGIES
    from mlops.serving.deployment import STRATEGIES as SERVING

    assert STRATEGIES == SERVING


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from mlops.cli.main import build_parser; build_parser(); "
            "print(' '.join(m for m in ('pandas', 'numpy', 'sklearn', 'mlops.registry', "
            "'mlops.serving', 'mlops.stages', 'mlops.pipeline') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=True)
    assert result.stdout.strip() == ""


def test_only_the_cli_imports_the_cli() -> None:
    for path in (ROOT / "mlops").rglob("*.py"):
        if "cli" in path.relative_to(ROOT / "mlops").parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?m)^\s*(from|import) mlops\.cli\b", text), path
