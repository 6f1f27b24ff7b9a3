"""``mlops init``: a params file and a schema for your own data, then one command to run.

The decisions and suggestions are made by :mod:`mlops.core.project`; this module parses
the options, checks the written file the way ``mlops run`` will (the data validation stage
included, so a check that would block the first run is named now), adds the warnings of
the validation stage's leakage check, and prints what to do next.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.cli.common import HelpFormatter, exit_codes_text

if TYPE_CHECKING:
    from mlops.core.project import Hint

__all__ = ["LEAK_HINT_AUC", "LEAK_HINT_R2", "register", "cmd_init"]

# Single-feature scores (of the validation stage's leakage check) from which init asks
# whether a column is known at prediction time. Lower than the check's own warning
# (0.98 / 0.95 by default): a column recorded after the outcome often predicts it well,
# not perfectly, and at init a question costs only a review before production.
LEAK_HINT_AUC = 0.9
LEAK_HINT_R2 = 0.8
MAX_LEAK_HINTS = 3  # the strongest are named one by one, the others on one line

DESCRIPTION = """\
Write a params file for your own CSV: the data path (relative to the params file), the
target and the task (binary, multiclass, or regression for a numeric target), the positive
class of a binary target (the minority class; the comment says why), a model name from the
file name, gate thresholds that fit the task, and the schema inferred from the data.
Sensitive features and identifier columns are only SUGGESTED, as comments, for you to
confirm; an unnamed first column of whole numbers (the index pandas' to_csv() writes) is
taken as an identifier. Every other section is copied from the repository's params.yaml.

init warns about columns that make a dangerous first model: one that alone predicts the
target almost perfectly (is it known at prediction time?), text with many distinct values,
and dates stored as text. With a warning, the params file says registry.first_alias:
candidate and lists the warnings: the first version waits for your review instead of
serving at once. On small data the blocking training checks are relaxed to what the data
has (the file says which and why); any other validation check that would block the first
run is named here, with what to do."""

EXAMPLES = """\
examples:
  mlops init --data data/patients.csv --target diagnosis
  mlops init --data data/churn.csv --target churned --name churn --out params-churn.yaml
  mlops init --data data/grades.csv --target grade --task multiclass
  mlops init --data data/houses.csv --target price --task regression"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops init``."""
    p = subparsers.add_parser(
        "init", help="write a params file and a schema for your own data",
        description=DESCRIPTION, epilog=f"{EXAMPLES}\n\n{exit_codes_text((0, 2))}",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--data", required=True, help="your CSV file (header row, one example a row)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--task", default="auto",
                   choices=("auto", "binary", "multiclass", "regression"),
                   help="auto (default) decides from the target's values")
    p.add_argument("--name", help="model name in the registry (default: from the file name)")
    p.add_argument("--out", help="params file to write (default: params-<name>.yaml)")
    p.add_argument("--schema", help="schema file to write (default: <data>.schema.yaml next "
                                    "to the data)")
    p.add_argument("--template", help="params file to copy the other sections from (default: "
                                      "the repository's params.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    """Write the files, load them back as ``mlops run`` would, print the next command."""
    from mlops.core.config import load_params
    from mlops.core.project import init_project
    from mlops.stages.gates import check_config
    from mlops.stages.training import build_estimator

    blocks: list[str] = []
    plan, out, schema = init_project(args.data, args.target, out=args.out, task=args.task,
                                     name=args.name, schema=args.schema,
                                     template=args.template, force=args.force,
                                     screen=lambda path: _screen(path, blocks))
    params = load_params(out)
    check_config(params)
    build_estimator(params)
    if plan.regression and plan.value_range is not None:
        what = f"numbers from {plan.value_range[0]:g} to {plan.value_range[1]:g}"
    else:
        what = ", ".join(map(str, plan.classes))
    print(f"wrote {out}: {plan.task} target {plan.target!r} ({what}), model "
          f"{plan.name!r}, {plan.rows} rows")
    if plan.positive_class is not None:
        print(f"  positive class {plan.positive_class!r}: {plan.positive_reason}")
    print(f"wrote {schema}: the schema inferred from the data; review and commit it")
    if plan.sensitive:
        print(f"  SUGGESTED sensitive features (confirm in {out}): {', '.join(plan.sensitive)}")
    if plan.index_column:
        print(f"  identifier column {plan.index_column!r}: an unnamed first column with a "
              "different whole number in every row (the index pandas' to_csv() writes); "
              "it is in data.id_columns, never a feature nor a request input")
    if plan.id_columns:
        print(f"  SUGGESTED identifier columns (confirm in {out}): "
              + ", ".join(f"{c} ({why})" for c, why in plan.id_columns))
    for key, default, value, why in plan.relaxed:
        print(f"  relaxed validation.training.{key} from {default:g} to {value:g}: {why}")
    for hint in plan.hints:
        print(f"  WARNING {hint.kind}: {hint.message}")
    if plan.hints:
        print(f"  so registry.first_alias is candidate in {out}: the first version waits "
              "for your review (mlops promote VERSION --to production --reason ...)")
    for block in blocks:
        print(f"  BLOCKS the first run, {block}")
    print(f"next:\n  make pipeline PARAMS={out}")
    return 0


def _screen(params_file: Path, blocks: list[str]) -> Sequence[Hint]:
    """Validate the data as the first run will; what would block it goes to ``blocks``,
    with what to do. Returns a warning per feature whose single-feature score reaches
    :data:`LEAK_HINT_AUC` (R²: :data:`LEAK_HINT_R2`), identifiers left out."""
    from mlops.core.config import load_params
    from mlops.core.data import load_split
    from mlops.core.exceptions import MLOpsError
    from mlops.core.project import Hint, leak_hint
    from mlops.core.schema import load_schema
    from mlops.stages.validation import check_drift, validate

    params = load_params(params_file)
    data = load_split(params)
    schema = load_schema(params.resolve(params.data.schema))
    report = validate(data.frame, schema, params.validation, source=params.data.path)
    try:
        report = report.merge(check_drift(data.train, data.test, schema, params.validation,
                                          source="held-out vs training split"))
    except (MLOpsError, ValueError) as exc:  # the split itself fails: so would the run
        blocks.append(f"splitting off data.test_size {params.data.test_size:g}: {exc}. Use "
                      f"more rows, or a data.test_size in {params_file} that leaves every "
                      "class a held-out row")
    blocks.extend(f"validation check {r.check!r}: {r.message}. Fix the data, or change "
                  f"validation.thresholds in {params_file} if the threshold is wrong for "
                  "this data" for r in report.failures)
    skip = {*params.data.id_columns, *params.data.drop_columns}
    measure, floor = ("ROC-AUC", LEAK_HINT_AUC) if schema.classification else \
        ("R²", LEAK_HINT_R2)
    strong = sorted(((float(r.observed), str(r.column)) for r in report.results
                     if r.check in ("leakage_auc", "leakage_r2") and r.column not in skip
                     and r.observed is not None and float(r.observed) >= floor), reverse=True)
    hints = [leak_hint(column, params.data.target, measure, score)
             for score, column in strong[:MAX_LEAK_HINTS]]
    rest = strong[MAX_LEAK_HINTS:]
    if rest:  # one line for the rest: the question is the same
        names = ", ".join(repr(c) for _, c in rest)
        hints.append(Hint("leak", names, f"{len(rest)} more column(s) alone predict "
                          f"{params.data.target!r} with {measure} from {rest[-1][0]:.3f} to "
                          f"{rest[0][0]:.3f}: {names}; the same question for each"))
    return hints
