"""The ``mlops`` command line. It parses arguments and calls into the package; no logic here.

Every ``MLOpsError`` becomes a one-line message on stderr and the error's exit code.
Subcommands import what they need when they run, so ``mlops --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlops.core.exceptions import MLOpsError

__all__ = ["main"]


def _params_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="parameters file (params.yaml)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter, e.g. --set model.estimator=random_forest (repeatable)",
    )


def _load(args: argparse.Namespace):
    from mlops.core.config import load_params

    return load_params(args.params, args.overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from mlops.pipeline.runner import run_pipeline

    result = run_pipeline(
        _load(args), params_file=args.params, overrides=args.overrides,
        runs_dir=args.runs_dir, register=not args.no_register, force=args.force,
    )
    print(f"run {result.run_id}: {result.status} -> {result.run_dir}")
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the notebooks in order into runs/<run-id>/")
    _params_args(p)
    p.add_argument("--runs-dir", default="runs", help="where run folders go (runs)")
    p.add_argument("--no-register", action="store_true", help="do not register the model")
    p.add_argument("--force", action="store_true",
                   help="train even when a version with the same inputs is registered")
    p.set_defaults(func=_cmd_run)


def _cmd_registry(args: argparse.Namespace) -> int:
    from mlops.cli import registry as commands

    params = _load(args)
    if args.registry_command == "list":
        return commands.cmd_list(params, as_json=args.json)
    if args.registry_command == "show":
        return commands.cmd_show(params, args.name, args.version, as_json=args.json)
    return commands.cmd_history(params, args.name, as_json=args.json)


def _cmd_promote(args: argparse.Namespace) -> int:
    from mlops.cli import registry as commands

    return commands.cmd_promote(
        _load(args), args.version, args.to, name=args.model, expected=args.expected,
        latest_validated=args.latest_validated, force=args.force, reason=args.reason,
    )


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlops.cli import registry as commands

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


def _cmd_validate(args: argparse.Namespace) -> int:
    from mlops.cli.validate import cmd_validate

    return cmd_validate(_load(args), args.data, reference=args.reference,
                        drift=not args.no_drift, require_target=not args.no_target,
                        json_out=args.json, show_all=args.all)


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="check a data file against the schema and for drift",
        description="Exit codes: 0 passed, 1 a blocking check failed, 2 unusable input.",
    )
    _params_args(p)
    p.add_argument("--data", required=True, help="CSV file to check")
    p.add_argument("--reference", help="CSV to test drift against (default: data.path)")
    p.add_argument("--no-drift", action="store_true", help="skip the drift checks")
    p.add_argument("--no-target", action="store_true",
                   help="the file has no target column (a serving batch)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--all", action="store_true", help="print every check, not only failures")
    p.set_defaults(func=_cmd_validate)


def _cmd_schema_infer(args: argparse.Namespace) -> int:
    from mlops.cli.validate import cmd_schema_infer

    return cmd_schema_infer(_load(args), args.data, args.out)


def _add_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="infer the data schema (data/schema.yaml)")
    ssub = p.add_subparsers(dest="schema_command", required=True)
    c = ssub.add_parser("infer", help="infer the schema from data and write it as YAML")
    _params_args(c)
    c.add_argument("--data", help="reference CSV (default: data.path)")
    c.add_argument("--out", help="schema file to write (default: data.schema)")
    c.set_defaults(func=_cmd_schema_infer)


def _cmd_space(args: argparse.Namespace) -> int:
    from mlops.cli import space as space_cli

    if args.space_command == "build":
        return space_cli.cmd_build(_load(args), args.out, repo_id=args.repo_id,
                                   bundle_registry=args.bundle_registry,
                                   dataset_repo=args.dataset_repo)
    if args.space_command == "push":
        return space_cli.cmd_push(args.repo_id, args.folder, private=args.private,
                                  message=args.message)
    return space_cli.cmd_fetch_log(args.repo_id, args.out, patterns=args.include)


def _add_space(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="build and push the Hugging Face Space (Docker) bundle")
    ssub = p.add_subparsers(dest="space_command", required=True)
    c = ssub.add_parser("build", help="write the exact folder that would be uploaded")
    _params_args(c)
    c.add_argument("--out", default="space", help="folder to write, replaced (space)")
    where = c.add_mutually_exclusive_group(required=True)
    where.add_argument("--repo-id", metavar="MODEL_REPO", help="Hub model repo of the registry")
    where.add_argument("--bundle-registry", action="store_true",
                       help="copy the local registry folder into the bundle")
    c.add_argument("--dataset-repo", metavar="DATASET_REPO",
                   help="Hub dataset repo the app pushes its prediction log to")
    c.set_defaults(func=_cmd_space)
    c = ssub.add_parser("push", help="upload the folder to a Docker Space in one commit "
                                     "(token from HF_TOKEN)")
    c.add_argument("--repo-id", required=True, metavar="SPACE_REPO", help="e.g. user/credit")
    c.add_argument("--folder", default="space", help="bundle made by `space build` (space)")
    c.add_argument("--private", action="store_true", help="create the Space private")
    c.add_argument("--message", help="commit message")
    c.set_defaults(func=_cmd_space)
    c = ssub.add_parser("fetch-log", help="download the Space's prediction log and feedback "
                                          "from a Hub dataset repo")
    c.add_argument("--repo-id", required=True, metavar="DATASET_REPO")
    c.add_argument("--out", default="monitor-data", help="folder to fill (monitor-data)")
    c.add_argument("--include", action="append", metavar="GLOB",
                   help="only files matching GLOB (repeatable)")
    c.set_defaults(func=_cmd_space)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from mlops.cli.serving import cmd_deploy

    return cmd_deploy(_load(args), args.action, version=args.version, strategy=args.strategy,
                      reason=args.reason, model=args.model)


def _cmd_feedback(args: argparse.Namespace) -> int:
    from mlops.cli.serving import cmd_feedback

    return cmd_feedback(_load(args), args.file)


def _cmd_live_data(args: argparse.Namespace) -> int:
    from mlops.cli.serving import cmd_live_data

    return cmd_live_data(_load(args), args.out, args.log)


def _cmd_monitor(args: argparse.Namespace) -> int:
    from mlops.cli.serving import cmd_monitor

    return cmd_monitor(_load(args), out=args.out, log_path=args.log, apply=args.apply)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from mlops.cli.serving import cmd_simulate

    return cmd_simulate(_load(args), data=args.data, out=args.out, drift=args.drift,
                        label_noise=args.label_noise)


def _add_serving(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="release a version: canary, blue-green, shadow, direct")
    _params_args(p)
    p.add_argument("action", choices=["start", "switch", "abort", "analyse", "status",
                                      "promote-shadow", "stop-shadow"])
    p.add_argument("version", nargs="?",
                   help="version to release (start; default: the candidate alias)")
    p.add_argument("--strategy", choices=["direct", "blue_green", "canary", "shadow"],
                   help="default: deployment.strategy")
    p.add_argument("--model", help="model name (params model.name)")
    p.add_argument("--reason", help="why; recorded in the ledger")
    p.set_defaults(func=_cmd_deploy)
    p = sub.add_parser("feedback", help="join late ground-truth labels to the prediction log")
    _params_args(p)
    p.add_argument("file", help="CSV with columns request_id,label")
    p.set_defaults(func=_cmd_feedback)
    p = sub.add_parser("live-data", help="training data plus labelled live rows, to retrain on")
    _params_args(p)
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--log", help="prediction log (default: monitoring.log_path)")
    p.set_defaults(func=_cmd_live_data)
    p = sub.add_parser("monitor", help="drift, latency, live accuracy; automatic rollback")
    _params_args(p)
    p.add_argument("--out", default="runs/monitor", help="folder for monitor.json and plots")
    p.add_argument("--log", help="prediction log (default: monitoring.log_path)")
    p.add_argument("--apply", action="store_true",
                   help="roll production back / abort the canary when a rule is breached")
    p.set_defaults(func=_cmd_monitor)
    p = sub.add_parser("simulate", help="stream data through the router: canary, shadow, "
                                        "automatic rollback")
    _params_args(p)
    p.add_argument("--data", help="CSV to stream (default: data.path)")
    p.add_argument("--out", default="runs/simulate", help="fresh folder for the simulation")
    p.add_argument("--drift", type=float, default=0.0,
                   help="scale credit_amount and duration up by this share (e.g. 0.3)")
    p.add_argument("--label-noise", type=float, default=0.0,
                   help="share of fed-back labels that are flipped")
    p.set_defaults(func=_cmd_simulate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_registry(sub)
    _add_validate(sub)
    _add_schema(sub)
    _add_space(sub)
    _add_serving(sub)
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
