"""The serving commands behind ``mlops deploy``, ``feedback``, ``monitor`` and ``simulate``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlops.core.config import Params
from mlops.core.data import read_csv
from mlops.core.exceptions import DataError
from mlops.registry import parse_version
from mlops.serving import deployment

__all__ = ["cmd_deploy", "cmd_feedback", "cmd_live_data", "cmd_monitor", "cmd_simulate"]


def _registry(params: Params):
    from mlops.registry import open_registry

    return open_registry(params.registry, params.root)


def cmd_deploy(params: Params, action: str, *, version: str | None, strategy: str | None,
               reason: str | None, model: str | None = None) -> int:
    """``mlops deploy start|switch|abort|promote-shadow|stop-shadow|analyse|status``."""
    reg, name, now = _registry(params), model or params.model.name, time.time()
    if action == "start":
        if version is None:  # what `mlops run` registered last: the candidate alias
            aliases = reg.aliases(name)
            candidate = aliases.get("candidate")
            last, _ = deployment.read_deployment(reg, name)
            # Release a candidate once: not when it is production already, nor again after
            # its release ended (promoted, aborted or rolled back). CD runs on every push.
            if candidate is None or candidate == aliases.get("production") or (
                    last is not None and last.candidate == candidate):
                print(f"{name}: no new candidate to release; production stays as it is")
                return 0
            version = str(candidate)
        dep = deployment.start(reg, name, params.deployment, candidate=parse_version(version),
                               strategy=strategy, now=now, reason=reason or "")
    elif action == "switch":
        dep = deployment.switch(reg, name, now=now, reason=reason or "")
    elif action == "abort":
        dep = deployment.abort(reg, name, reason=reason or "aborted by hand", now=now)
    elif action in ("promote-shadow", "stop-shadow"):
        dep = deployment.finish_shadow(reg, name, promote=action == "promote-shadow", now=now,
                                       reason=reason or "")
    elif action == "analyse":
        from mlops.serving.predlog import read_predictions

        frame = read_predictions(params.resolve(params.monitoring.log_path), model=name)
        decision = deployment.analyse_and_apply(reg, name, frame, params.deployment,
                                                params.monitoring, now=now)
        print(json.dumps(decision.to_dict() if decision else {"action": "none"}, indent=1,
                         default=str))
        return 0
    else:
        dep, _ = deployment.read_deployment(reg, name)
    print(json.dumps({"production": reg.aliases(name).get("production"),
                      "deployment": dep.to_dict() if dep else None}, indent=1))
    return 0


def cmd_feedback(params: Params, path: str) -> int:
    """Join ground-truth labels (CSV with ``request_id,label``) to the prediction log."""
    from mlops.serving.predlog import PredictionLog

    frame = read_csv(path)
    missing = {"request_id", "label"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: needs columns request_id,label (missing {sorted(missing)})",
                        file=path, rule="columns")
    with PredictionLog(params.resolve(params.monitoring.log_path)) as log:
        n = log.add_feedback(zip(frame["request_id"].astype(str),
                                 frame["label"].astype(int), strict=True))
    print(f"stored {n} labels")
    return 0


def cmd_live_data(params: Params, out: str, log_path: str | None) -> int:
    """Write the training data plus the labelled live predictions, for retraining."""
    import pandas as pd

    from mlops.core.schema import load_schema
    from mlops.serving.predlog import labelled_inputs, read_predictions
    from mlops.stages.validation import validate

    data = read_csv(params.resolve(params.data.path))
    log = read_predictions(log_path or params.resolve(params.monitoring.log_path),
                           model=params.model.name, missing_ok=True)
    live = labelled_inputs(log, params.data.target)
    merged = pd.concat([data, live[data.columns]] if len(live) else [data], ignore_index=True)
    # The new rows pass the same gate as any data before they can reach training.
    report = validate(merged, load_schema(params.resolve(params.data.schema)),
                      params.validation, source=out)
    report.raise_for_failures()
    merged.to_csv(out, index=False)
    print(f"{out}: {len(data)} training rows + {len(live)} labelled live rows")
    return 0


def cmd_monitor(params: Params, *, out: str, log_path: str | None, apply: bool) -> int:
    """Write ``monitor.json`` and plots into ``out``; with ``--apply`` act on breaches."""
    from mlops.monitoring.monitor import monitor_report
    from mlops.monitoring.plots import save_plots

    report, frame, ref_proba = monitor_report(params, log_path=log_path, apply=apply)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "monitor.json").write_text(json.dumps(report, indent=1, default=str),
                                          encoding="utf-8")
    save_plots(frame, out_dir, ref_proba)
    for v in report["versions"]:
        print(f"v{v['version']}: {v['requests']} requests, error rate {v['error_rate']:.3f}, "
              f"p99 {v['p99_ms']} ms, accuracy {v.get('accuracy')} ({v['labelled']} labelled)")
    for a in report["actions"]:
        print(f"{a['target']}: {a['action']} ({'; '.join(a['reasons'])})")
    print(f"report: {out_dir / 'monitor.json'}")
    return 0


def cmd_simulate(params: Params, *, data: str | None, out: str, drift: float,
                 label_noise: float) -> int:
    """Stream a data file through the router: canary, shadow, automatic rollback."""
    from mlops.monitoring.simulation import simulate

    frame = read_csv(data or params.resolve(params.data.path))
    summary = simulate(params, frame, out, drift=drift, label_noise=label_noise)
    for entry in summary["ledger"]:
        moved = (f" {entry['alias']}: v{entry['from_version']} -> v{entry['to_version']}"
                 if entry["alias"] else "")
        print(f"#{entry['seq']} {entry['action']}{moved}: {entry['reason'][:110]}")
    print(f"summary: {Path(out) / 'simulation.json'}")
    return 0
