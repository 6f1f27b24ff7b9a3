"""``mlops run``: the pipeline (the stage notebooks through papermill), then registration."""

from __future__ import annotations

import argparse

from mlops.cli.common import HelpFormatter, add_params_args, exit_codes_text

__all__ = ["register"]

DESCRIPTION = """\
Run the stage notebooks in order with papermill (validate the data, train, evaluate
against the gates) into runs/<run-id>/, then register the model when every gate passed:
the first version becomes production, later ones candidate. A run whose inputs (data,
code, params, notebooks, lock) match a registered version reuses it and says so.

The report (runs/<run-id>/report.md) compares the run with production, read-only from
MLOPS_CHAMPION_REGISTRY (hub:owner/name or a folder) or else the params' registry; with
no production version, with --base-report FILE (a committed report.md), if given."""

EXAMPLES = """\
examples:
  mlops run
  mlops run --set model.estimator=random_forest --set seed=7
  mlops run --model my-model
  mlops run --all
  mlops run --no-register --runs-dir /tmp/runs
  MLOPS_CHAMPION_REGISTRY=hub:owner/my-model mlops run --no-register
  mlops run --no-register --base-report base/reports/my-model/latest.md"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops run``."""
    p = subparsers.add_parser(
        "run", help="run the pipeline notebooks into runs/<run-id>/ and register the model",
        description=DESCRIPTION, epilog=f"{EXAMPLES}\n\n{exit_codes_text()}",
        formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--runs-dir", help="where run folders go (default: $MLOPS_RUNS_DIR, else "
                                      "runs)")
    p.add_argument("--all", action="store_true",
                   help="run every model of the repository (params.yaml and "
                        "models/*/params.yaml) one after another; stops at the first failure")
    p.add_argument("--no-register", action="store_true", help="do not register the model")
    p.add_argument("--force", action="store_true",
                   help="train even when a version with the same inputs is registered")
    p.add_argument("--run-id", help="name the run (default: UTC time and random digits); "
                                     "mlops reproduce passes the recorded one")
    p.add_argument("--require-clean", action="store_true",
                   help="refuse to run when an input (params, data, schema, notebooks, code, "
                        "lock) is not committed; CD sets it")
    p.add_argument("--base-report", metavar="FILE",
                   help="a report.md to compare with when there is no production version "
                        "(CI: the base branch's reports/<model>/latest.md)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the pipeline (of one model, or of each with ``--all``) and print where it went."""
    from pathlib import Path

    from mlops.core.config import load_params as load
    from mlops.core.config import runs_dir
    from mlops.core.exceptions import ConfigError
    from mlops.core.models import model_files
    from mlops.pipeline.run_summary import run_summary
    from mlops.pipeline.runner import run_pipeline

    if args.all and (args.model or args.run_id or args.params != "params.yaml"):
        raise ConfigError("--all runs every model: it takes no --params, --model or --run-id")
    files = list(model_files(Path.cwd()).values()) if args.all else [Path(args.params)]
    if not files:
        raise ConfigError("--all: no params.yaml and no models/*/params.yaml here")
    for params_file in files:
        result = run_pipeline(
            load(params_file, args.overrides), params_file=params_file,
            overrides=args.overrides, runs_dir=args.runs_dir or runs_dir(),
            register=not args.no_register, force=args.force,
            require_clean=args.require_clean, run_id=args.run_id,
            base_report=args.base_report,
        )
        print(run_summary(result.manifest, result.run_dir))
    return 0
