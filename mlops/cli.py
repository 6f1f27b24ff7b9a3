"""The ``mlops`` command line. It parses arguments and calls into the package; no logic here.

Every ``MLOpsError`` becomes a one-line message on stderr and the error's exit code.
Subcommands import what they need when they run, so ``mlops --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlops.exceptions import MLOpsError

__all__ = ["main"]


def _params_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameters file (params.yaml)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter, e.g. --set model.estimator=random_forest (repeatable)",
    )


def _load(args: argparse.Namespace):
    from mlops.config import load_params

    return load_params(args.params, args.overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from mlops.runner import run_pipeline

    result = run_pipeline(
        _load(args), params_file=args.params, overrides=args.overrides,
        runs_dir=args.runs_dir, register=not args.no_register,
    )
    print(f"run {result.run_id}: {result.status} -> {result.run_dir}")
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the notebooks in order into runs/<run-id>/")
    _params_args(p)
    p.add_argument("--runs-dir", default="runs", help="where run folders go (runs)")
    p.add_argument("--no-register", action="store_true", help="do not register the model")
    p.set_defaults(func=_cmd_run)


def _cmd_registry(args: argparse.Namespace) -> int:
    from mlops.registry import commands

    params = _load(args)
    if args.registry_command == "list":
        return commands.cmd_list(params, as_json=args.json)
    if args.registry_command == "show":
        return commands.cmd_show(params, args.name, args.version, as_json=args.json)
    return commands.cmd_history(params, args.name, as_json=args.json)


def _cmd_promote(args: argparse.Namespace) -> int:
    from mlops.registry import commands

    return commands.cmd_promote(
        _load(args), args.version, args.to, name=args.model, expected=args.expected,
        latest_validated=args.latest_validated, force=args.force, reason=args.reason,
    )


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlops.registry import commands

    return commands.cmd_rollback(_load(args), name=args.model, alias=args.alias,
                                 reason=args.reason)


def _add_registry(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("registry", help="list models, show versions, print the ledger")
    rsub = p.add_subparsers(dest="registry_command", required=True)
    for cmd, text in (("list", "every model with its aliases"),
                      ("show", "versions of a model, or one version in full"),
                      ("history", "the promotion ledger of a model")):
        c = rsub.add_parser(cmd, help=text)
        _params_args(c)
        c.add_argument("--json", action="store_true", help="print JSON")
        if cmd != "list":
            c.add_argument("name", nargs="?", help="model name (params model.name)")
        if cmd == "show":
            c.add_argument("version", nargs="?", help="version number or alias")
        c.set_defaults(func=_cmd_registry)
    p = sub.add_parser("promote", help="move an alias to a version (compare-and-swap)")
    _params_args(p)
    p.add_argument("version", nargs="?", help="version to promote (or --latest-validated)")
    p.add_argument("--to", required=True, metavar="ALIAS", help="alias, e.g. production")
    p.add_argument("--model", help="model name (params model.name)")
    p.add_argument("--expected", metavar="N|none",
                   help="version the alias must point to now (default: its current version)")
    p.add_argument("--latest-validated", action="store_true",
                   help="promote the newest version whose gates passed")
    p.add_argument("--force", action="store_true",
                   help="allow a version whose gates failed into production (needs --reason)")
    p.add_argument("--reason", help="why; recorded in the ledger")
    p.set_defaults(func=_cmd_promote)
    p = sub.add_parser("rollback", help="move production back to its previous version")
    _params_args(p)
    p.add_argument("--model", help="model name (params model.name)")
    p.add_argument("--alias", default="production", help="alias to roll back (production)")
    p.add_argument("--reason", help="why; recorded in the ledger")
    p.set_defaults(func=_cmd_rollback)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_registry(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlops`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MLOpsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
