"""``mlops init``: a params file and a schema for your own data, then one command to run.

The decisions and suggestions are made by :mod:`mlops.core.project`; this module parses
the options, checks the written file the way ``mlops run`` will, and prints what to do next.
"""

from __future__ import annotations

import argparse

from mlops.cli.common import HelpFormatter, exit_codes_text

__all__ = ["register", "cmd_init"]

DESCRIPTION = """\
Write a params file for your own CSV: the data path (relative to the params file), the
target and the task (binary, multiclass, or regression for a numeric target), the positive
class of a binary target (the minority class; the comment says why), a model name from the
file name, gate thresholds that fit the task, and the schema inferred from the data.
Sensitive features and identifier columns are only SUGGESTED, as comments, for you to
confirm. Every other section is copied from the repository's params.yaml."""

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

    plan, out, schema = init_project(args.data, args.target, out=args.out, task=args.task,
                                     name=args.name, schema=args.schema,
                                     template=args.template, force=args.force)
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
    if plan.id_columns:
        print(f"  SUGGESTED identifier columns (confirm in {out}): "
              + ", ".join(f"{c} ({why})" for c, why in plan.id_columns))
    print(f"next:\n  make pipeline PARAMS={out}")
    return 0
