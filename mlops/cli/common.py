"""What the command modules share: the params options, loading params, the exit codes.

Kept light (no pandas, no scikit-learn) because every command module imports it when
``mlops --help`` builds the parser.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mlops.core.exceptions import (
    AccessDeniedError,
    DataError,
    DataValidationError,
    GateFailedError,
    ModelMismatchError,
    PublishError,
    RegistryError,
    ServingError,
    StageError,
)

if TYPE_CHECKING:
    from mlops.core.config import Params

__all__ = ["EXIT_CODES", "HelpFormatter", "actor_of", "add_actor_arg", "add_params_args",
           "exit_codes_text", "load_params", "resolve_model"]

# The one table of exit codes. The numbers come from the exceptions' ``exit_code``; `mlops
# --help`, `mlops run --help` and `mlops validate --help` print it; the tests check it
# against every exception class and against the table in docs/cli.md.
EXIT_CODES: dict[int, str] = dict(sorted({
    0: "success",
    DataValidationError.exit_code: "a blocking data validation check failed",
    DataError.exit_code: "unusable input: a bad parameter, a missing or malformed data file",
    GateFailedError.exit_code: "an evaluation gate failed",
    RegistryError.exit_code:
        "the registry refused the operation (conflict, integrity, Hub unreachable)",
    StageError.exit_code: "a stage failed for another reason (see the executed notebook)",
    ServingError.exit_code: "serving refused (for example a model that cannot be loaded)",
    PublishError.exit_code: "publishing to the Hub failed",
    AccessDeniedError.exit_code: "an operator action without the operator token",
    ModelMismatchError.exit_code: "the production model of model.name is another model "
                                  "(target, classes or columns differ): set model.name",
}.items()))


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the prose of descriptions and epilogs, keeps indented lines as written.

    Runs of unindented lines are one paragraph, filled to the terminal width; an indented
    line (an example, an exit code, a table row) and a blank line are printed unchanged.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.append(textwrap.fill(" ".join(prose), width, initial_indent=indent,
                                         subsequent_indent=indent, break_long_words=False,
                                         break_on_hyphens=False))
                prose.clear()

        for line in text.splitlines():
            if line.strip() and not line[0].isspace():
                prose.append(line.strip())
                continue
            flush()
            out.append(indent + line if line.strip() else "")
        flush()
        return "\n".join(out)


def exit_codes_text(codes: Iterable[int] | None = None) -> str:
    """The exit codes (all, or only ``codes``) as an indented block for a help epilog."""
    chosen = list(EXIT_CODES) if codes is None else list(codes)
    return "exit codes:\n" + "\n".join(f"  {code}  {EXIT_CODES[code]}" for code in chosen)


def add_params_args(parser: argparse.ArgumentParser, *, any_model: bool = False) -> None:
    """``--params FILE`` or ``--model NAME``, and the repeatable ``--set KEY=VALUE``.

    ``any_model``: the command acts on a registry namespace, so ``--model`` may also name a
    model that is not one of this repository's (its registry is then the params').
    """
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--params", default="params.yaml", help="parameters file (params.yaml)")
    which.add_argument("--model", metavar="NAME",
                       help="the model NAME of this repository instead of --params: "
                            "models/<folder>/params.yaml or params.yaml whose model.name is "
                            "NAME (mlops models lists them)"
                            + ("; or any model of the registry" if any_model else ""))
    parser.set_defaults(any_model=any_model)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter, e.g. --set model.estimator=random_forest (repeatable)",
    )


def resolve_model(args: argparse.Namespace) -> None:
    """Point ``args.params`` at the params file of ``--model NAME`` when it was given."""
    if getattr(args, "model", None):
        from pathlib import Path

        from mlops.core.exceptions import ConfigError
        from mlops.core.models import find_model

        try:
            args.params = str(find_model(Path.cwd(), args.model))
        except ConfigError:
            if not getattr(args, "any_model", False):
                raise


def load_params(args: argparse.Namespace) -> Params:
    """The parameters named by ``--params`` with the ``--set`` overrides applied."""
    from mlops.core.config import load_params as load

    return load(args.params, args.overrides)


def add_actor_arg(parser: argparse.ArgumentParser) -> None:
    """``--actor NAME``: who acts, recorded in the ledger."""
    parser.add_argument("--actor", metavar="NAME",
                        help="who acts, recorded in the ledger (default: MLOPS_ACTOR, else "
                             "GITHUB_ACTOR in CI, else the OS user)")


def actor_of(args: argparse.Namespace) -> str | None:
    """The ``--actor`` given, else None (the registry then asks ``default_actor``)."""
    actor = (getattr(args, "actor", None) or "").strip()
    return actor or None
