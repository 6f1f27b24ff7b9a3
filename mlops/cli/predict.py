"""``mlops predict``: score a data file through the router, as the app's Batch screen does.

The same request checks, routing (canary, shadow), class labels, probabilities and log as a
batch scored in the app, so batch scoring in CI or a cron job needs no browser. The whole file
is checked before any row is scored, and the output appears whole or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.cli.common import HelpFormatter, add_params_args, exit_codes_text, load_params

if TYPE_CHECKING:
    import pandas as pd

    from mlops.serving.router import Router

__all__ = ["register", "cmd_predict", "output_columns"]

EPILOG = """\
examples:
  mlops predict --data new_rows.csv --out scored.csv
  mlops predict --model NAME --data new_rows.parquet --out scored.csv
  mlops predict --data new_rows.csv --out scored.csv --version 3   # pinned, never routed

The output holds request_id (for `mlops feedback`), prediction, the probability columns,
version, then the input columns. Without --version the rows are routed like the app's
traffic (production, or the canary's share); with it, that version alone scores them and
they are logged as pinned, never as routed traffic.

"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops predict``."""
    p = subparsers.add_parser(
        "predict", help="score a CSV or Parquet file through the router",
        description="Score every row of a data file with the served model: the request "
                    "checks of the serving schema, routing, the model's class labels and the "
                    "prediction log, exactly as the app's Batch screen. Columns other than "
                    "the serving columns (the target, ids) are left out of scoring and "
                    "copied to the output.",
        epilog=EPILOG + exit_codes_text((0, 2, 6)), formatter_class=HelpFormatter)
    add_params_args(p)
    p.add_argument("--data", required=True, help="CSV or Parquet file of raw rows to score")
    p.add_argument("--out", required=True, help="CSV file to write the scored rows to")
    p.add_argument("--version", type=int, help="score with this version only (pinned)")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Check the whole file, score it, write ``--out`` atomically; print a one-line summary."""
    import pandas as pd

    from mlops.core.data import read_chunks
    from mlops.serving.router import Router

    params = load_params(args)
    frame = pd.concat(list(read_chunks(args.data)), ignore_index=True)
    with Router.from_params(params) as router:
        serving = list(router.validator.columns)
        extra = [c for c in frame.columns if c not in serving]
        result = router.predict_batch(frame.drop(columns=extra), version=args.version)
        scored = pd.concat([result[output_columns(result, router)], frame], axis=1)
    _write_csv(scored, Path(args.out))
    versions = ", ".join(f"v{v}" for v in sorted(set(result["version"])))
    print(f"{params.model.name}: scored {len(scored):,} rows with {versions}"
          f"{' (pinned)' if args.version is not None else ''} -> {args.out}")
    if extra:
        print(f"not scored, copied to the output: {', '.join(map(str, extra))}",
              file=sys.stderr)
    return 0


def output_columns(result: pd.DataFrame, router: Router) -> list[str]:
    """The result columns a reader needs, renamed in place: the probability columns name
    their class."""
    if router.regression:
        return ["request_id", "prediction", "version"]
    if len(result.attrs["classes"]) <= 2:
        name = f"probability_{router.positive_class}"
        result.rename(columns={"proba": name}, inplace=True)
    else:
        name = "confidence"  # the probability of the predicted class
    return ["request_id", "prediction", name, "version"]


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` next to ``path`` first, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
