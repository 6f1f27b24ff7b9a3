"""``mlops feedback``, ``mlops monitor``, ``mlops live-data`` and ``mlops simulate``.

What happens after release: labels come back, the monitor reads the prediction log and acts
on breached rules, the labelled rows become retraining data; ``simulate`` plays it offline.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from mlops.cli.common import HelpFormatter, add_params_args, load_params

__all__ = ["register", "cmd_feedback", "cmd_monitor", "cmd_live_data", "cmd_simulate"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``mlops feedback``, ``monitor``, ``live-data`` and ``simulate``."""
    p = subparsers.add_parser(
        "feedback", help="join late ground-truth labels to the prediction log",
        description="Store true labels for logged predictions (by request id) in the "
                    "prediction log (monitoring.log_path), for live accuracy and retraining.",
        epilog="example:\n  mlops feedback labels.csv", formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("file", help="CSV with columns request_id,label")
    p.set_defaults(func=cmd_feedback)

    p = subparsers.add_parser(
        "monitor", help="drift, latency, live accuracy; automatic rollback (--apply)",
        description="Report on the prediction log: input and prediction drift against the "
                    "training data, latency, error rate and live accuracy per version, shadow "
                    "agreement. Writes monitor.json and plots. With --apply, a breached "
                    "rule rolls production back or aborts the running canary.",
        epilog="examples:\n  mlops monitor\n"
               "  mlops monitor --apply --set monitoring.log_path=monitor-data/live/"
               "predictions.sqlite",
        formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--out", default="runs/monitor", help="folder for monitor.json and plots")
    p.add_argument("--log", help="prediction log (default: monitoring.log_path)")
    p.add_argument("--apply", action="store_true",
                   help="roll production back / abort the canary when a rule is breached")
    p.set_defaults(func=cmd_monitor)

    p = subparsers.add_parser(
        "live-data", help="training data plus labelled live rows, to retrain on",
        description="Write the training data (data.path) plus the live predictions whose "
                    "label came back, after the same validation gate as any data.",
        epilog="example:\n  mlops live-data --out data/retrain.csv "
               "--log monitor-data/live/predictions.sqlite",
        formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--log", help="prediction log (default: monitoring.log_path)")
    p.set_defaults(func=cmd_live_data)

    p = subparsers.add_parser(
        "simulate", help="stream data through the router: canary, shadow, automatic rollback",
        description="Train three versions on half of a data file and stream the other half "
                    "through the router as live traffic, offline, in a fresh registry under "
                    "--out: a canary promoted step by step, a shadow comparison and an "
                    "automatic rollback.",
        epilog="examples:\n  mlops simulate\n"
               "  mlops simulate --drift 0.3 --label-noise 0.05 --out runs/simulate-drift",
        formatter_class=HelpFormatter,
    )
    add_params_args(p)
    p.add_argument("--data", help="CSV to stream (default: data.path)")
    p.add_argument("--out", default="runs/simulate", help="fresh folder for the simulation")
    p.add_argument("--drift", type=_number_in(0.0, 10.0), default=0.0,
                   help="scale the schema's non-negative numeric columns up by this share, "
                        "0 to 10 (e.g. 0.3)")
    p.add_argument("--label-noise", type=_number_in(0.0, 1.0), default=0.0,
                   help="share of fed-back labels that are flipped, 0 to 1")
    p.set_defaults(func=cmd_simulate)


def _number_in(low: float, high: float):
    """An argparse type: a finite number in ``[low, high]`` (else exit code 2)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g} to {high:g}")
        return value

    parse.__name__ = f"number from {low:g} to {high:g}"
    return parse


def cmd_feedback(args: argparse.Namespace) -> int:
    """Join ground-truth labels (CSV or Parquet with ``request_id,label``) to the log.

    The command line is a trusted source: its labels are evidence for automatic decisions
    (source ``cli:FILE NAME``). So every row is checked first and nothing is stored unless
    all pass: the request id must be a logged prediction, the label one of the schema's
    (for regression, a finite number).
    """
    import pandas as pd

    from mlops.core.data import is_parquet, read_table
    from mlops.core.exceptions import DataError
    from mlops.core.schema import load_schema
    from mlops.serving.predlog import PredictionLog, known_request_ids

    params, path = load_params(args), args.file
    # The structural checks (encoding, ragged rows, ...) with their messages; a CSV is then
    # read again as text: a request id such as "1e5" must stay what it is.
    frame = read_table(path)
    if is_parquet(path):  # as text, an empty cell empty (as the CSV reads it), never NaN
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
        frame.columns = [str(c).strip() for c in frame.columns]
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        frame.columns = [str(c).strip() for c in frame.columns]
    missing = {"request_id", "label"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: needs columns request_id,label (missing {sorted(missing)})",
                        file=path, rule="columns")
    log_path = params.resolve(params.monitoring.log_path)
    if not log_path.is_file():
        raise DataError(f"{path}: no prediction log at {log_path} to join labels to; set "
                        "monitoring.log_path", file=path, rule="log_exists")
    regression = params.data.regression
    allowed = () if regression else tuple(load_schema(params.resolve(params.data.schema)).labels)
    ids = frame["request_id"].str.strip()
    known = known_request_ids(log_path, set(ids))
    problems: list[tuple[int, str, str]] = []
    labels: list[Any] = []
    for i, (rid, text) in enumerate(zip(ids, frame["label"].str.strip(), strict=True)):
        label = (_finite(text) if regression else _class_named(text, allowed) if allowed
                 else _integer(text))
        if not rid:
            problems.append((i, "request_id", "request id is empty"))
        elif rid not in known:
            problems.append((i, "unknown_request_id",
                             f"request id {rid[:64]!r} is not a logged prediction"))
        if label is None and regression:
            problems.append((i, "label", f"label {text[:32]!r} is not a finite number"))
        elif label is None:
            problems.append((i, "label", f"label {text[:32]!r} is not one of the schema's "
                                         f"labels {list(allowed) or 'integers'}"))
        labels.append(label if label is not None else 0)
    if problems:
        shown = "; ".join(f"row {i + 1}: {msg} (rule {rule})" for i, rule, msg in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        first_row, first_rule, _ = problems[0]
        raise DataError(f"{path}: {len(problems)} bad label row(s), nothing stored: "
                        f"{shown}{more}", file=path, row=first_row + 1, rule=first_rule)
    with PredictionLog(log_path) as log:
        n = log.add_feedback(zip(ids, labels, strict=True), source=f"cli:{Path(path).name}",
                             trusted=True)
    print(f"stored {n} trusted labels (source cli:{Path(path).name})")
    return 0


def _class_named(text: str, classes: tuple[Any, ...]) -> Any:
    """The class of ``classes`` that ``text`` names (``7`` and ``7.0`` both name 7), or
    None."""
    for label in classes:
        if str(label) == text:
            return label
    number = _finite(text)
    return next((label for label in classes if not isinstance(label, str) and number is not None
                 and label == number), None)


def _figure(value: Any, spec: str = ".3f") -> str:
    """A report's number as printed: rounded, or "n/a" where there is none (no labels)."""
    return "n/a" if value is None else format(float(value), spec)


def _integer(text: str) -> int | None:
    """``text`` as an integer label (``1``, ``1.0``), or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and abs(number) < 2**63 else None


def _finite(text: str) -> float | None:
    """``text`` as a finite number (a regression label), or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def cmd_live_data(args: argparse.Namespace) -> int:
    """Write the training data plus the labelled live predictions, for retraining."""
    from mlops.monitoring.live_data import write_live_data

    result = write_live_data(load_params(args), args.out, args.log)
    print(f"{args.out}: {result.training_rows} training rows + {result.live_rows} labelled "
          "live rows")
    if result.labels_without_inputs:
        print(f"{result.labels_without_inputs} trusted labels are on rows of large batches, "
              "logged without their inputs: they count in live quality, not in training")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """Write ``monitor.json`` and plots into ``--out``; with ``--apply`` act on breaches.

    monitor.json is the record of what was decided (and, with ``--apply``, done): it is
    written once, atomically, after the plots, and only read afterwards (the monitoring
    notebook shows it through ``mlops.monitoring.view``)."""
    from mlops.core.lineage import write_json_atomic
    from mlops.monitoring.monitor import monitor_report
    from mlops.monitoring.plots import save_plots

    report, frame, ref_proba = monitor_report(load_params(args), log_path=args.log,
                                              apply=args.apply)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_plots(frame, out_dir, ref_proba)
    report = json.loads(json.dumps(report, default=str))  # numpy and the like, as text
    write_json_atomic(report, out_dir / "monitor.json")
    for v in report["versions"]:
        quality = f"MAE {_figure(v.get('mae'))}" if v.get("regression") else \
            f"accuracy {_figure(v.get('accuracy'))}"
        print(f"v{v['version']}: {v['requests']} requests, error rate {v['error_rate']:.3f}, "
              f"p99 {_figure(v['p99_ms'], '.2f')} ms, {quality} ({v['labelled']} labelled)")
    est = report.get("estimated_performance")
    if est and est.get("accuracy") is not None:
        low, high = est["accuracy_interval"]
        print(f"v{est['version']} estimated accuracy before labels (CBPE): {est['accuracy']:.3f}"
              f" [{low:.3f}, {high:.3f}] over {est['n']} predictions; realised "
              f"{_figure(est['realised_accuracy'])} on {est['labelled']} labelled")
    elif est and est.get("withheld"):
        print(f"v{est['version']}: no estimate of accuracy before labels: {est['withheld']}")
    for a in report["actions"]:
        print(f"{a['target']}: {a['action']} ({'; '.join(a['reasons'])})")
        if a.get("evidence"):
            print(f"  {a['evidence']}")
    print(f"report: {out_dir / 'monitor.json'}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Stream a data file through the router: canary, shadow, automatic rollback."""
    from mlops.core.data import read_table
    from mlops.monitoring.simulation import simulate

    params = load_params(args)
    frame = read_table(args.data or params.resolve(params.data.path))
    summary = simulate(params, frame, args.out, drift=args.drift, label_noise=args.label_noise)
    for entry in summary["ledger"]:
        moved = (f" {entry['alias']}: v{entry['from_version']} -> v{entry['to_version']}"
                 if entry["alias"] else "")
        print(f"#{entry['seq']} {entry['action']}{moved}: {entry['reason'][:110]}")
    print(f"summary: {Path(args.out) / 'simulation.json'}")
    return 0
