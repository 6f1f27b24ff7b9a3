"""The root of the ``mlops`` command line: builds the parser, runs the chosen command.

Each command group lives in its own module (``init``, ``run``, ``models``, ``sweep``,
``validate``, ``predict``, ``registry``, ``reproduce``, ``deploy``, ``monitor``, ``space``,
``report``, ``loop``), which adds its parsers with ``register(subparsers)`` and holds their
handlers. Every ``MLOpsError`` becomes a one-line message on stderr and the error's exit
code. Handlers import what they need when they run, so ``mlops --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlops.cli import (
    cicd,
    deploy,
    init,
    loop,
    models,
    monitor,
    predict,
    registry,
    report,
    reproduce,
    run,
    space,
    sweep,
    validate,
)
from mlops.cli.common import HelpFormatter, exit_codes_text, resolve_model
from mlops.core.exceptions import MLOpsError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# In the order `mlops --help` lists their commands.
COMMAND_MODULES = (init, run, models, sweep, validate, predict, registry, reproduce, deploy,
                   monitor, space, report, cicd, loop)

DESCRIPTION = """\
mlops: validate data, train, evaluate, register, deploy and monitor a model -- the command
line of the notebook-first ML template. Every command reads params.yaml (--params FILE)
and takes overrides (--set KEY=VALUE); `mlops COMMAND --help` shows its options."""

EPILOG = """\
the loop:
  mlops init --data mine.csv --target y      a params file for your own data
  mlops validate --data data/new_batch.csv   check a new batch, no training
  mlops run                                  validate, train, evaluate, register
  mlops deploy start                         release the new candidate (canary)
  mlops monitor --apply                      watch live traffic; roll back
  mlops loop                                 rehearse CI, CD and monitoring, offline

"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command and action."""
    parser = argparse.ArgumentParser(prog="mlops", description=DESCRIPTION,
                                     epilog=EPILOG + exit_codes_text(),
                                     formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       title="commands")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


# Old command names that still work but are no longer listed: old -> new (argv prefixes).
# ``mlops registry promote`` became ``mlops registry advance`` so that no two commands
# share the name promote (``mlops promote`` moves any alias with compare-and-swap).
RENAMED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("registry", "promote"): ("registry", "advance"),
}


def _renamed(argv: Sequence[str]) -> list[str]:
    """``argv`` with an old command name replaced by its new one."""
    argv = list(argv)
    for old, new in RENAMED.items():
        if tuple(argv[:len(old)]) == old:
            return [*new, *argv[len(old):]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlops`` console script; returns the exit code."""
    args = build_parser().parse_args(_renamed(sys.argv[1:] if argv is None else argv))
    try:
        resolve_model(args)
        return int(args.func(args) or 0)
    except MLOpsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
