"""``mlops models``: the models of this repository, and which ones a change touches."""

from __future__ import annotations

import argparse
import json

from mlops.cli.common import HelpFormatter

__all__ = ["register"]

DESCRIPTION = """\
List the models of this repository: params.yaml and every models/<folder>/params.yaml, each
with its own data, schema, registry namespace (model.name) and Space settings.

With --changed-since REF, only the models whose run inputs (params, data, schema, stage
notebooks, model code, lock) differ between REF and the working tree: CI runs a pipeline
job for each of them. --json prints a list for a GitHub Actions matrix."""

EXAMPLES = """\
examples:
  mlops models
  mlops models --changed-since origin/main --json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops models``."""
    p = subparsers.add_parser("models", help="list the models of this repository",
                              description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=HelpFormatter)
    p.add_argument("--changed-since", metavar="REF",
                   help="only models whose inputs changed since this git revision")
    p.add_argument("--json", action="store_true",
                   help='print [{"name": ..., "params": ...}] (a CI matrix)')
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    """Print the models (all, or those a change since ``--changed-since`` touches)."""
    from pathlib import Path

    from mlops.pipeline.models import changed_models, model_rows

    root = Path.cwd()
    rows = model_rows(root)
    if args.changed_since:
        changed = changed_models(root, args.changed_since)
        rows = [row for row in rows if row["name"] in changed]
    if args.json:
        print(json.dumps([{"name": r["name"], "params": r["params"]} for r in rows]))
        return 0
    for r in rows:
        print(f"{r['name']:<24} {r['task']:<15} {r['estimator']:<28} {r['params']}")
    if not rows:
        print("no models" + (" changed" if args.changed_since else ""))
    return 0
