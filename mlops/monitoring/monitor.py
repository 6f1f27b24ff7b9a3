"""Monitoring of live predictions, and the automatic rollback and abort that act on it.

``build_report`` is pure: the prediction log (a frame), the training reference and the
params go in, a JSON-ready dict comes out. It covers input drift (the validation drift code,
:mod:`mlops.stages.drift`), prediction drift, per-version latency, throughput, error rate, live
accuracy (or, for regression, MAE) and other metrics where labels exist, shadow agreement,
and the production model's estimated performance before labels (CBPE,
:mod:`mlops.monitoring.cbpe`) with a check of its calibration on the held-out set.

``auto_act`` is the edge: it aborts a failing canary (or advances a healthy one) and rolls
production back when a rule of ``monitoring:`` is breached, writing the evidence into the
ledger entry. A cool-down (``monitoring.cooldown_seconds``) keeps it from flapping.
Evidence is routed traffic and trusted labels only (:mod:`mlops.serving.rules`); every
automatic action names what it used (``routed requests=N, trusted labels=M from ...``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from mlops.core.config import Params
from mlops.monitoring import cbpe
from mlops.registry.base import Registry
from mlops.serving.deployment import Releases, analyse_and_apply
from mlops.serving.predlog import LogRead, inputs_frame
from mlops.serving.rules import (
    breaches,
    check_rules,
    correct,
    early_warning,
    evidence,
    held_out_metric,
    production_refusals,
    routed,
    version_stats,
)
from mlops.serving.summary import input_drift, summary_rows
from mlops.stages.drift import DriftThresholds, detect_drift

__all__ = ["build_report", "auto_act", "estimated_performance", "monitor_report",
           "reference_scores", "stored_calibration", "versions_table"]

ACTOR = "mlops-monitor"


def reference_scores(model: Any, frame: pd.DataFrame, params: Params) -> np.ndarray:
    """What the log records per prediction, for ``frame``: the probability of the positive
    class (the router's choice of column), or the predicted value for regression."""
    if params.data.regression:
        return np.asarray(model.predict(frame), dtype=float)
    from mlops.stages.metrics import positive_column

    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    return model.predict_proba(frame)[:, positive_column(classes, params.data.positive_class)]


def _labelled_metrics(rows: pd.DataFrame, regression: bool = False, *,
                      positive_class: Any = None) -> dict[str, float | int | None]:
    """Live metrics of ``rows`` that have a trusted label.

    Classification: accuracy and macro-F1 for any classes; with two classes also F1,
    precision, recall (of ``positive_class``), Brier and ROC-AUC, from the logged
    probability of that class.
    """
    ok = rows[rows["error"].isna() & rows["label"].notna()]
    out: dict[str, float | int | None] = {"labelled": len(ok)}
    if ok.empty:
        return out
    if regression:
        y, pred = ok["label"].to_numpy(dtype=float), ok["prediction"].to_numpy(dtype=float)
        out.update(mae=float(metrics.mean_absolute_error(y, pred)),
                   rmse=float(np.sqrt(metrics.mean_squared_error(y, pred))))
        out["r2"] = float(metrics.r2_score(y, pred)) if len(ok) > 1 else None
        return out
    # Keys, not the stored values: a text class and an integer one never compare as equal
    # by accident, and scikit-learn gets one type of label.
    y = np.array([repr(_logged(v)) for v in ok["label"]])
    pred = np.array([repr(_logged(v)) for v in ok["prediction"]])
    out.update(accuracy=float(correct(ok).mean()),
               macro_f1=float(metrics.f1_score(y, pred, average="macro", zero_division=0)))
    classes = {*y, *pred}
    positive = repr(_logged(positive_class))
    binary = len(classes) <= 2 and positive in classes and ok["proba"].notna().all()
    if binary:
        hit, called, proba = y == positive, pred == positive, ok["proba"].to_numpy(float)
        out.update(f1=float(metrics.f1_score(hit, called, zero_division=0)),
                   precision=float(metrics.precision_score(hit, called, zero_division=0)),
                   recall=float(metrics.recall_score(hit, called, zero_division=0)),
                   brier=float(metrics.brier_score_loss(hit, proba)))
    out["roc_auc"] = (float(metrics.roc_auc_score(hit, proba))
                      if binary and len(set(hit)) == 2 else None)
    return out


def _logged(value: Any) -> Any:
    """``value`` as the log stores a class (a boolean class is 0 or 1)."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, bool) else value


def _per_version(frame: pd.DataFrame, regression: bool = False, production: int | None = None,
                 refused: int = 0, positive_class: Any = None) -> list[dict[str, Any]]:
    """Per routed version; production's row counts the ``refused`` requests as errors."""
    primary = frame[(frame["role"] == "primary") & frame["version"].notna()]
    versions = {int(v) for v in primary["version"].unique()}
    if production is not None and refused:
        versions.add(production)  # a production that refused every request still has a row
    out = []
    for version in sorted(versions):
        rows = primary[primary["version"] == version]
        s = version_stats(frame, version, regression=regression,
                          refused=refused if version == production else 0)
        span = float(rows["ts"].max() - rows["ts"].min()) if len(rows) else 0.0
        out.append({**s.to_dict(), "throughput_rps": len(rows) / span if span > 0 else None,
                    **_labelled_metrics(rows, regression, positive_class=positive_class)})
    return out


def _shadow(frame: pd.DataFrame, regression: bool = False) -> dict[str, Any] | None:
    shadow = frame[(frame["role"] == "shadow") & frame["error"].isna()]
    if shadow.empty:
        return None
    primary = frame[(frame["role"] == "primary") & frame["error"].isna()]
    pairs = shadow.merge(primary, on="request_id", suffixes=("_shadow", "_primary"))
    if regression:  # agreement of values: how far apart, and who is closer to the label
        diff = (pairs["prediction_shadow"].astype(float)
                - pairs["prediction_primary"].astype(float)).abs()
        out = {"shadow_versions": sorted(int(v) for v in shadow["version"].unique()),
               "pairs": len(pairs), "mean_abs_prediction_diff":
               float(diff.mean()) if len(pairs) else None}
        labelled = pairs[pairs["label_primary"].notna()]
        if len(labelled):
            y = labelled["label_primary"].astype(float)
            out["labelled"] = len(labelled)
            for role in ("shadow", "primary"):
                out[f"mae_{role}"] = float((labelled[f"prediction_{role}"].astype(float)
                                            - y).abs().mean())
        return out
    out: dict[str, Any] = {
        "shadow_versions": sorted(int(v) for v in shadow["version"].unique()),
        "pairs": len(pairs),
        "agreement": float((pairs["prediction_shadow"] == pairs["prediction_primary"]).mean())
        if len(pairs) else None,
        "mean_abs_proba_diff": float((pairs["proba_shadow"] - pairs["proba_primary"]).abs()
                                     .mean()) if len(pairs) else None,
    }
    labelled = pairs[pairs["label_primary"].notna()]
    if len(labelled):
        out["labelled"] = len(labelled)
        for role in ("shadow", "primary"):
            out[f"accuracy_{role}"] = float(correct(labelled.rename(columns={
                "label_primary": "label", f"prediction_{role}": "prediction"})).mean())
    return out


def _feedback_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Labels joined to the log by trust and source: shown, but only trusted ones are used."""
    if "feedback_label" not in frame:
        return {"trusted": int(frame["label"].notna().sum()), "untrusted": 0, "sources": {}}
    labelled = frame[frame["feedback_label"].notna()].drop_duplicates("request_id")
    trusted = labelled["label_trusted"].astype(bool)
    sources = labelled["label_source"].fillna("unknown").astype(str) + \
        trusted.map({True: " (trusted)", False: " (untrusted)"})
    return {"trusted": int(trusted.sum()), "untrusted": int((~trusted).sum()),
            "sources": {str(k): int(v) for k, v in sources.value_counts().items()}}


def build_report(frame: pd.DataFrame, params: Params, *, reference: pd.DataFrame,
                 reference_proba: np.ndarray | None = None, production: int | None = None,
                 previous: int | None = None, categorical: Sequence[str] = (),
                 numeric: Sequence[str] = (), held_out_mae: float | None = None,
                 summaries: pd.DataFrame | None = None,
                 canary: int | None = None) -> dict[str, Any]:
    """The monitoring report of ``frame`` (the log joined with feedback) as a dict.

    ``reference`` holds the training features; ``reference_proba`` the production model's
    scores on them (:func:`reference_scores`: probabilities, or predicted values for
    regression; for prediction drift); ``numeric``/``categorical`` name the columns;
    ``held_out_mae`` is production's MAE on its held-out set (regression rules);
    ``summaries`` the input summaries of the routed batches logged as one record
    (:func:`~mlops.serving.predlog.read_input_summaries`), for input drift; ``canary``
    the candidate of a running canary. Requests refused before routing count against
    ``production`` (its error rate and the rules; see :func:`production_refusals`).
    """
    regression = params.data.regression
    refused = production_refusals(frame, production, canary=canary)
    primary_ok = frame[(frame["role"] == "primary") & frame["error"].isna()]
    thresholds = DriftThresholds.from_config(params.validation)
    report: dict[str, Any] = {
        "rows": len(frame), "primary": int((frame["role"] == "primary").sum()),
        "shadow_rows": int((frame["role"] == "shadow").sum()),
        "refused": int(frame["version"].isna().sum()),
        "pinned_rows": int((frame["role"] == "pinned").sum()),
        "feedback": _feedback_summary(frame),
        "window": [float(frame["ts"].min()), float(frame["ts"].max())] if len(frame) else None,
        "production": production, "previous_production": previous,
        "versions": _per_version(frame, regression, production, refused,
                                 params.data.positive_class),
        "shadow": _shadow(frame, regression),
    }
    # Requests logged row by row bring their inputs; large batches their summaries.
    live = inputs_frame(primary_ok)
    batches = [] if summaries is None else list(summaries["summary"])
    report["input_summaries"] = {"batches": len(batches), "rows": summary_rows(batches)}
    if (len(live) or batches) and len(reference):
        drift = input_drift(reference, live, batches, numeric=list(numeric) or None,
                            categorical=list(categorical) or None, thresholds=thresholds)
        report["input_drift"] = drift.to_dict()
    if reference_proba is not None and len(primary_ok):
        score = "prediction" if regression else "proba"
        pred = detect_drift(pd.DataFrame({score: np.asarray(reference_proba, dtype=float)}),
                            pd.DataFrame({score: primary_ok[score].astype(float)}),
                            numeric=[score], categorical=[], thresholds=thresholds)
        report["prediction_drift"] = pred.to_dict()
    if production is not None:
        cur = version_stats(frame, production, regression=regression, refused=refused)
        ref = version_stats(frame, previous, regression=regression) \
            if previous is not None else None
        report["rules"] = [r.to_dict() for r in check_rules(cur, ref, params.monitoring,
                                                            held_out_mae=held_out_mae)]
    return report


def stored_calibration(registry: Registry, name: str, version: int | None
                       ) -> dict[str, Any] | None:
    """The version's ``calibration.json`` (checked against its recorded hash), or None when
    it has none (a regression model, or one registered before calibrators). A file changed
    after registration is not trusted: the estimate is withheld, saying so."""
    import json

    from mlops.core.exceptions import IntegrityError
    from mlops.stages.calibration import CALIBRATION_FILE

    if version is None or CALIBRATION_FILE not in registry.get(name, version).files:
        return None
    try:
        return json.loads(registry.read_verified(name, version, CALIBRATION_FILE))
    except IntegrityError:
        return {"trusted": False, "calibrator": None,
                "reason": f"its {CALIBRATION_FILE} was changed after registration (its hash "
                          "does not match the recorded one)"}


def estimated_performance(frame: pd.DataFrame, version: int | None, *, model: Any = None,
                          seed: int = 0, calibration: dict[str, Any] | None = None
                          ) -> dict[str, Any] | None:
    """CBPE of ``version``'s routed predictions, next to the realised accuracy on the
    labelled ones (None for regression models: see :mod:`mlops.monitoring.cbpe`).

    ``model`` (the version's pipeline) is needed for more than two classes. ``calibration``
    (the version's :func:`stored_calibration`) calibrates the estimate; when its check
    failed there is no estimate, and ``withheld`` says why.
    """
    from mlops.stages.calibration import Calibrator

    rows = routed(frame, version)
    rows = rows[rows["error"].isna()]
    if rows.empty or rows["proba"].isna().all():
        return None
    labelled = rows[rows["label"].notna()]
    realised = float(correct(labelled).mean()) if len(labelled) else None
    if calibration is not None and not (calibration.get("trusted")
                                        and calibration.get("calibrator")):
        return {"version": version, "n": len(rows), "accuracy": None,
                "accuracy_interval": None, "roc_auc": None, "roc_auc_interval": None,
                "labelled": len(labelled), "realised_accuracy": realised,
                "withheld": calibration.get("reason") or "its calibration check failed"}
    proba = cbpe.log_probabilities(rows, model)
    if proba is None:
        return None
    calibrator = Calibrator.from_dict(calibration["calibrator"]) if calibration else None
    est = cbpe.estimate(proba, seed=seed, calibrator=calibrator)
    return {"version": version, **est.to_dict(), "labelled": len(labelled),
            "realised_accuracy": realised, "calibrated": calibrator is not None}


def _early_warning(registry: Registry, name: str, frame: pd.DataFrame, params: Params,
                   production: int, model: Any) -> dict[str, Any] | None:
    """An ``alert`` action when CBPE says production's accuracy is surely too low."""
    if params.data.regression:
        return None
    try:
        calibration = stored_calibration(registry, name, production)
        est = estimated_performance(frame, production, model=model, calibration=calibration)
        if est is None and model is None:  # more than two classes: score the inputs again
            est = estimated_performance(frame, production, calibration=calibration,
                                        model=registry.load_model(name, production))
    except Exception as exc:  # an estimate must never stop the rules that act
        return {"target": "production", "version": production, "action": "alert",
                "reasons": [f"estimated_accuracy: cannot estimate ({exc})"], "evidence": None}
    if est is None or est.get("withheld"):  # no trusted estimate: nothing to warn on
        return None
    upper = est["accuracy_interval"][1] if est["accuracy_interval"] else None
    result = early_warning(est["accuracy"], upper, est["n"], cfg=params.monitoring,
                           reference=held_out_metric(registry, name, production, "accuracy"))
    if result.status != "alert":
        return None
    return {"target": "production", "version": production, "action": "alert",
            "reasons": [f"{result.rule}: {result.detail}; limit {result.threshold:.3f}"],
            "evidence": f"evidence: {est['n']} routed predictions of v{production}, no labels "
                        "needed (CBPE, assumes calibrated probabilities)"}


def auto_act(registry: Registry, name: str, frame: pd.DataFrame, params: Params, *,
             now: float, apply: bool = True, model: Any = None,
             releases: Releases | None = None) -> list[dict[str, Any]]:
    """Apply the rules: analyse a running canary; roll production back on a breach.

    Returns what was decided (and, with ``apply``, done). Within ``cooldown_seconds`` of
    the last automatic rollback or abort nothing is rolled back again. The early warning
    (estimated accuracy before labels; ``model``: production's pipeline, loaded when
    needed) only adds an ``alert``: it never rolls back or aborts. ``releases``: the
    registry as the caller read it (read here when None).
    """
    actions: list[dict[str, Any]] = []
    regression = params.data.regression
    releases = releases or Releases.read(registry, name)
    dep = releases.deployment
    canary = releases.canary  # the log's traffic was routed with it, whatever is decided now
    if canary is not None:
        if apply:
            decision = analyse_and_apply(registry, name, frame, params.deployment,
                                         params.monitoring, now=now, actor=ACTOR,
                                         regression=regression)
        else:
            from mlops.serving.deployment import analyse_canary

            decision = analyse_canary(
                dep, frame, params.deployment, params.monitoring, now=now,
                regression=regression, held_out_mae=held_out_metric(registry, name,
                                                                    dep.candidate)
                if regression else None)
        if decision is not None:
            actions.append({"target": "canary", "candidate": dep.candidate,
                            "action": decision.action, "reasons": list(decision.reasons),
                            "evidence": decision.evidence.get("evidence_text")})
            if apply:  # the decision moved the deployment, and maybe production
                moved = Releases.read(registry, name)
                if moved.production != releases.production:
                    model = None  # production's pipeline is another one now
                releases = moved
    production = releases.production
    if production is None:
        return actions
    previous = releases.previous_production
    cur = version_stats(frame, production, regression=regression,
                        refused=production_refusals(frame, production, canary=canary))
    ref = version_stats(frame, previous, regression=regression) if previous is not None \
        else None
    results = check_rules(cur, ref, params.monitoring,
                          held_out_mae=held_out_metric(registry, name, production)
                          if regression else None)
    broken = breaches(results)
    if not broken:
        if not regression and not routed(frame, production).empty:
            warning = _early_warning(registry, name, frame, params, production, model)
            if warning is not None:
                actions.append(warning)
        return actions
    used = [evidence(frame, production)]
    if previous is not None:
        used.append(evidence(frame, previous))
    action: dict[str, Any] = {"target": "production", "version": production,
                              "action": "rollback", "to": previous,
                              "reasons": [f"{r.rule}: {r.detail}" for r in broken],
                              "evidence": "evidence: " + "; ".join(e.text for e in used)}
    last = releases.last_auto_action
    if last is not None and now - last < params.monitoring.cooldown_seconds:
        action["action"] = "hold"
        action["reasons"].append(f"cool-down: last automatic action {now - last:.0f} s ago")
    elif previous is None:
        action["action"] = "alert"
        action["reasons"].append("no previous production version to roll back to")
    elif apply:
        facts = {"auto": True, "kind": "rollback", "ts": now, "current": cur.to_dict(),
                 "previous": ref.to_dict() if ref else None,
                 "rules": [r.to_dict() for r in results], "evidence": used[0].to_dict(),
                 "previous_evidence": used[1].to_dict() if len(used) > 1 else None}
        registry.rollback(name, alias="production", actor=ACTOR, expected=production,
                          reason="automatic rollback: " + "; ".join(action["reasons"])
                          + "; " + action["evidence"], evidence=facts)
    actions.append(action)
    return actions


def monitor_report(params: Params, *, log_path: str | Path | None = None,
                   logged: LogRead | None = None, registry: Any = None,
                   releases: Releases | None = None, apply: bool = False,
                   now: float | None = None) -> tuple[dict[str, Any], Any, Any]:
    """The monitoring report of the live log; ``apply`` also rolls back / aborts.

    ``logged`` (the model's log) and ``releases`` (the registry's aliases, ledger and
    deployment) are what the caller has read already; each is read here when None.

    Returns ``(report, log frame, reference scores)`` for tables and plots.
    """
    from mlops.core.data import load_split
    from mlops.core.schema import request_schema
    from mlops.registry import open_registry
    from mlops.serving.predlog import read_log

    reg = registry or open_registry(params.registry, params.root)
    name = params.model.name
    path = log_path or params.resolve(params.monitoring.log_path)
    # Nothing served yet is a valid state (a fresh clone): the report says 0 predictions.
    if logged is None:  # one read: rows and summaries
        logged = read_log(path, model=name, missing_ok=True)
    frame, summaries = logged.predictions, logged.summaries
    data = load_split(params)  # read and split once: train is the reference, test calibrates
    reference = data.train.drop(columns=[params.data.target])
    schema = request_schema(params)  # the columns the log holds
    releases = releases or Releases.read(reg, name)
    production = releases.production
    ref_proba = model = None
    if production is not None:
        model = reg.load_model(name, production)
        ref_proba = reference_scores(model, reference, params)
    cols = list(schema.serving_columns)
    report = build_report(frame, params, reference=reference[cols], reference_proba=ref_proba,
                          production=production, previous=releases.previous_production,
                          numeric=[c for c in cols if schema.by_name[c].numeric],
                          categorical=[c for c in cols if schema.by_name[c].categorical],
                          held_out_mae=held_out_metric(reg, name, production)
                          if params.data.regression else None, summaries=summaries,
                          canary=releases.canary)
    # None for regression: no sound estimate before labels (see mlops.monitoring.cbpe).
    report["estimated_performance"] = None
    if model is not None and not params.data.regression:
        calibration = stored_calibration(reg, name, production)
        est = estimated_performance(frame, production, model=model, calibration=calibration)
        if est is not None and not est.get("withheld"):
            # CBPE assumes calibrated probabilities: how well that holds on held-out rows.
            test = data.test
            est["calibration"] = cbpe.calibration_check(
                model.predict_proba(test.drop(columns=[params.data.target])),
                test[params.data.target].to_numpy(), model.classes_,
                calibration=calibration)
        report["estimated_performance"] = est
    # CI retrains when the live inputs drifted as a data set (see monitor.yml).
    report["retrain"] = bool((report.get("input_drift") or {}).get("dataset_drift"))
    report["actions"] = auto_act(reg, name, frame, params,
                                 now=time.time() if now is None else now, apply=apply,
                                 model=model, releases=releases)
    return report, frame, ref_proba



def versions_table(report: dict[str, Any]) -> pd.DataFrame:
    """Per-version figures of a report as a table indexed by version (empty: no traffic)."""
    table = pd.DataFrame(report["versions"])
    return table.set_index("version").round(3) if len(table) else table
