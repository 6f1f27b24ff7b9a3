"""``mlops validate`` and ``mlops schema infer``: the file and terminal edge of validation.

Exit codes (via the exceptions' ``exit_code``): 0 the data passed, 1 a blocking check failed
(:class:`DataValidationError`), 2 the input is unusable (:class:`DataError`: missing,
empty or malformed file, or a missing schema; :class:`ConfigError`: bad params).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.cli.common import HelpFormatter, add_params_args, exit_codes_text, load_params
from mlops.core.exceptions import DataError

if TYPE_CHECKING:
    from mlops.core.config import Params
    from mlops.stages.validation_report import ValidationReport

__all__ = ["register", "run_validate", "cmd_validate", "cmd_schema_infer"]

VALIDATE_EPILOG = """\
examples:
  mlops validate --data data/new_batch.csv
  mlops validate --data data/new_batch.csv --reference data/train.csv --all
  mlops validate --data data/next_training_set.csv --training --json report.json
  mlops validate --data big_batch.parquet

Each check passes, warns, or blocks (exit 1), by its thresholds in params.yaml
(validation.thresholds.<check>: {warn: x, block: y}).

"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops validate`` and ``mlops schema infer``."""
    p = subparsers.add_parser(
        "validate", help="check a data file against the schema and for drift",
        description="Check a CSV or Parquet file against the data schema (data.schema: "
                    "columns, types, missing values, ranges, hard bounds, categories) and for "
                    "drift against "
                    "the training data (data.path), without training. By default the file is "
                    "a batch to score (the target may be absent); --training checks it as "
                    "training data (rows, classes, duplicates, leaked columns). Prints the "
                    "checks that warn or block, with observed values and thresholds, and the "
                    "verdict.",
        epilog=VALIDATE_EPILOG + exit_codes_text((0, 1, 2)), formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--data", required=True,
                   help="CSV or Parquet file to check (Parquet is always read in chunks)")
    p.add_argument("--chunked", action="store_true",
                   help="read the file in chunks, in bounded memory (for files larger than "
                        "memory; skips duplicates and leakage, see docs/validation.md)")
    p.add_argument("--reference", help="CSV to test drift against (default: data.path)")
    p.add_argument("--no-drift", action="store_true", help="skip the drift checks")
    p.add_argument("--training", action="store_true",
                   help="check the file as training data, not as a batch to score")
    p.add_argument("--no-target", action="store_true",
                   help="ignore the target column even if present (label checks skipped)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--all", action="store_true", help="print every check, not only failures")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser("schema", help="infer the data schema (data/schema.yaml)",
                              description="Write the data schema on purpose, so that a "
                                          "schema change is a reviewed diff.")
    ssub = p.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    c = ssub.add_parser(
        "infer", help="infer the schema from data and write it as YAML",
        description="Infer column types, ranges and categories from a reference CSV and "
                    "write them as YAML; review the result with `git diff` and commit it.",
        epilog="examples:\n  mlops schema infer\n"
               "  mlops schema infer --data data/train.csv --out data/schema.yaml",
        formatter_class=HelpFormatter,
    )
    add_params_args(c)
    c.add_argument("--data", help="reference CSV (default: data.path)")
    c.add_argument("--out", help="schema file to write (default: data.schema)")
    c.set_defaults(func=cmd_schema_infer)


def run_validate(
    params: Params,
    data: str | Path,
    *,
    reference: str | Path | None = None,
    drift: bool = True,
    purpose: str = "batch",
    labels: bool = True,
    chunked: bool = False,
) -> ValidationReport:
    """Validate the CSV or Parquet ``data`` against the params' schema and drift vs ``reference``.

    ``purpose`` is ``batch`` (data to score) or ``training``. ``reference`` defaults to
    the training data (``data.path`` in params); pass ``drift=False`` to skip drift and
    ``labels=False`` to ignore the target column. ``chunked`` (always for Parquet) reads
    ``data`` in chunks in bounded memory; the reference is read whole. Raises
    :class:`DataError` for unusable files.
    """
    from mlops.core.data import is_parquet, read_chunks, read_csv, read_table
    from mlops.core.schema import load_schema
    from mlops.stages.validation import validate, validate_chunks

    schema = load_schema(params.resolve(params.data.schema))
    ref_frame = None
    if drift:
        ref_frame = read_table(reference if reference is not None
                               else params.resolve(params.data.path))
    kind = "training" if purpose == "training" else "batch"
    if chunked or is_parquet(data):
        chunks = read_chunks(data)
        if not labels:
            chunks = (c.drop(columns=[schema.target], errors="ignore") for c in chunks)
        return validate_chunks(chunks, schema, params.validation, reference=ref_frame,
                               source=str(data), purpose=kind)
    frame = read_csv(data)
    if not labels and schema.target in frame.columns:
        frame = frame.drop(columns=[schema.target])
    return validate(frame, schema, params.validation, reference=ref_frame, source=str(data),
                    purpose=kind)


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the checks that warn or block (all with ``--all``) and the verdict; 0 if passed.

    Raises :class:`DataValidationError` (exit code 1) when a check blocks.
    """
    import pandas as pd

    report = run_validate(load_params(args), args.data, reference=args.reference,
                          drift=not args.no_drift,
                          purpose="training" if args.training else "batch",
                          labels=not args.no_target, chunked=args.chunked)
    if args.json is not None:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n",
                                   encoding="utf-8")
    table = report.to_frame(failed_only=not args.all, readable=True)
    if len(table):
        cols = ["grade", "check", "column", "rule", "observed", "warn", "block"]
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            print(table[cols].fillna("").to_string(index=False))
    print(report.summary())
    report.raise_for_failures()
    return 0


def cmd_schema_infer(args: argparse.Namespace) -> int:
    """Infer the schema from ``--data`` (default ``data.path``) and write it to ``--out``."""
    from mlops.core.data import read_table
    from mlops.core.schema import infer_schema, keep_hand_written, load_schema, save_schema

    params = load_params(args)
    data_path = Path(args.data) if args.data is not None else params.resolve(params.data.path)
    out_path = Path(args.out) if args.out is not None else params.resolve(params.data.schema)
    frame = read_table(data_path)
    source = data_path.as_posix() if args.data is not None else params.data.path
    schema = infer_schema(frame, target=params.data.target, source=source,
                          regression=params.data.regression)
    kept = ""
    if out_path.is_file():
        try:
            previous = load_schema(out_path)
        except DataError as exc:
            # Overwriting would lose every description, unit and pin written in it.
            raise DataError(f"{exc.message}; fix the file (or delete it) before re-inferring",
                            **exc.fields) from None
        schema = keep_hand_written(schema, previous)
        kept = "; descriptions, units and pinned rules kept from the previous file"
    save_schema(schema, out_path)
    print(f"wrote {out_path}: {len(schema.columns)} columns, target {schema.target!r}, "
          f"{len(schema.serving_columns)} serving columns{kept}; review it with `git diff`")
    return 0
