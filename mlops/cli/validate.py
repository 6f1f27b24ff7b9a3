"""``mlops validate`` and ``mlops schema infer``: the file and terminal edge of validation.

Exit codes (via the exceptions' ``exit_code``): 0 the data passed, 1 a blocking check failed
(:class:`DataValidationError`), 2 the input is unusable (:class:`DataError`: missing,
empty or malformed file, or a missing schema; :class:`ConfigError`: bad params).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mlops.core.config import Params
from mlops.core.data import read_csv
from mlops.core.schema import infer_schema, load_schema, save_schema
from mlops.stages.validation import ValidationReport, validate

__all__ = ["run_validate", "cmd_validate", "cmd_schema_infer"]


def run_validate(
    params: Params,
    data: str | Path,
    *,
    reference: str | Path | None = None,
    drift: bool = True,
    require_target: bool = True,
) -> ValidationReport:
    """Validate the CSV ``data`` against the params' schema and drift vs ``reference``.

    ``reference`` defaults to the training data (``data.path`` in params); pass
    ``drift=False`` to skip drift. Raises :class:`DataError` for unusable files.
    """
    frame = read_csv(data)
    schema = load_schema(params.resolve(params.data.schema))
    ref_frame: pd.DataFrame | None = None
    if drift:
        ref_frame = read_csv(reference if reference is not None
                             else params.resolve(params.data.path))
    return validate(frame, schema, params.validation, reference=ref_frame, source=str(data),
                    require_target=require_target)


def cmd_validate(
    params: Params,
    data: str | Path,
    *,
    reference: str | Path | None = None,
    drift: bool = True,
    require_target: bool = True,
    json_out: str | Path | None = None,
    show_all: bool = False,
) -> int:
    """Print the failed checks (all with ``show_all``) and the verdict; 0 if passed.

    Raises :class:`DataValidationError` (exit code 1) when a blocking check failed.
    """
    report = run_validate(params, data, reference=reference, drift=drift,
                          require_target=require_target)
    if json_out is not None:
        Path(json_out).write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n",
                                  encoding="utf-8")
    table = report.to_frame(failed_only=not show_all)
    if len(table):
        cols = ["check", "column", "rule", "observed", "threshold", "severity", "passed"]
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            print(table[cols].to_string(index=False))
    print(report.summary())
    report.raise_for_failures()
    return 0


def cmd_schema_infer(params: Params, data: str | Path | None = None,
                     out: str | Path | None = None) -> int:
    """Infer the schema from ``data`` (default ``data.path``) and write it to ``out``."""
    data_path = Path(data) if data is not None else params.resolve(params.data.path)
    out_path = Path(out) if out is not None else params.resolve(params.data.schema)
    frame = read_csv(data_path)
    source = data_path.as_posix() if data is not None else params.data.path
    schema = infer_schema(frame, target=params.data.target, source=source)
    save_schema(schema, out_path)
    print(f"wrote {out_path}: {len(schema.columns)} columns, target {schema.target!r}, "
          f"{len(schema.serving_columns)} serving columns; review it with `git diff`")
    return 0
