"""Describes a version in plain words and tables for the app's screens. No Streamlit here.

Everything comes from a version's record (``version.json`` metadata) and its
``evaluation.json``: the headline for a stakeholder, metric tables with intervals, the gates
with their direction, fairness per group, a params diff, the release timeline from the
ledger and where each piece of lineage lives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops.app.labels import OutcomeWords, fmt_number

if TYPE_CHECKING:  # pandas only for the tables: the first page needs just the headline
    import pandas as pd

    from mlops.registry import LedgerEntry, ModelVersion

__all__ = [
    "compare_metrics",
    "compare_verdict",
    "fairness_frame",
    "fmt_number",
    "gates_frame",
    "headline",
    "lineage_rows",
    "metric_name",
    "metrics_frame",
    "params_frame",
    "timeline_frame",
    "version_entry",
]

_NAMES = {"accuracy": "Accuracy", "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "f1": "F1",
          "precision": "Precision", "recall": "Recall", "brier": "Brier score",
          "log_loss": "Log loss", "mae": "Mean absolute error", "rmse": "Root mean squared error",
          "mse": "Mean squared error", "r2": "R²", "mape": "Mean absolute percentage error"}
_IN_UNITS = frozenset({"mae", "rmse", "max_error"})  # metrics in the target's unit


def metric_name(key: str, labels: Mapping[str, str] | None = None,
                outcome: OutcomeWords | None = None) -> str:
    """A human name: the evaluation's own label (``F1 of class 1``) with the classes in
    ``outcome``'s words (``F1 of <label of 1>``), else a known name."""
    label = (labels or {}).get(key)
    if label and label != key:
        if outcome is not None:
            label = outcome.metric_label(label)
        return label[0].upper() + label[1:]
    return _NAMES.get(key, key.replace("_", " ").capitalize())


def _metric_unit(key: str, unit: str) -> str:
    return unit if key in _IN_UNITS else ""


def metrics_frame(evaluation: Mapping[str, Any], metadata: Mapping[str, Any],
                  unit: str = "", outcome: OutcomeWords | None = None) -> pd.DataFrame:
    """One row per metric: name (classes in ``outcome``'s words), value, 95 % interval and
    whether higher is better."""
    import pandas as pd

    from mlops.stages.metrics import LOWER_IS_BETTER  # with numpy: not on the first page

    metrics = evaluation.get("metrics") or metadata.get("metrics") or {}
    intervals = evaluation.get("confidence_intervals") or {}
    labels = evaluation.get("metric_labels") or {}
    rows = []
    for key, value in metrics.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        ci = intervals.get(key) or {}
        u = _metric_unit(key, unit)
        rows.append({
            "metric": metric_name(key, labels, outcome), "value": fmt_number(value, u),
            "95% interval": (f"{fmt_number(ci['low'], u)} – {fmt_number(ci['high'], u)}"
                             if ci.get("low") is not None else ""),
            "better": "lower" if key in LOWER_IS_BETTER else "higher", "key": key,
        })
    return pd.DataFrame(rows, columns=["metric", "value", "95% interval", "better", "key"])


def compare_metrics(a: Mapping[str, Any], b: Mapping[str, Any], label_a: str, label_b: str,
                    unit: str = "", outcome: OutcomeWords | None = None) -> pd.DataFrame:
    """Metrics of two evaluations side by side, with the change from ``a`` to ``b``.

    ``verdict`` says whether ``b`` is better, worse or the same, in the metric's direction;
    "within noise" when the change is inside both 95 % intervals.
    """
    import pandas as pd

    from mlops.stages.metrics import LOWER_IS_BETTER

    ma, mb = a.get("metrics") or {}, b.get("metrics") or {}
    ia, ib = a.get("confidence_intervals") or {}, b.get("confidence_intervals") or {}
    labels = {**(a.get("metric_labels") or {}), **(b.get("metric_labels") or {})}
    rows = []
    for key in [k for k in ma if k in mb] + [k for k in mb if k not in ma]:
        va, vb = ma.get(key), mb.get(key)
        u = _metric_unit(key, unit)
        row = {"metric": metric_name(key, labels, outcome),
               label_a: _with_interval(va, ia.get(key), u),
               label_b: _with_interval(vb, ib.get(key), u), "change": "", "verdict": ""}
        if isinstance(va, int | float) and isinstance(vb, int | float):
            delta = vb - va
            row["change"] = f"{delta:+.3f}" if not u else f"{delta:+,.3g} {u}"
            better = delta < 0 if key in LOWER_IS_BETTER else delta > 0
            overlap = _inside(vb, ia.get(key)) and _inside(va, ib.get(key))
            row["verdict"] = ("same" if delta == 0 else "within noise" if overlap
                              else f"{label_b} better" if better else f"{label_b} worse")
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric", label_a, label_b, "change", "verdict"])


def compare_verdict(table: pd.DataFrame, label_a: str, label_b: str) -> str:
    """The Compare screen's first line, counted from :func:`compare_metrics`' verdicts:
    ``v1 against v2: 1 better, 3 worse, 4 within noise``."""
    verdicts = [str(v) for v in table["verdict"] if v]
    if not verdicts:
        return f"{label_b} against {label_a}: no metric recorded for both to compare."
    better = sum(v.endswith(" better") for v in verdicts)
    worse = sum(v.endswith(" worse") for v in verdicts)
    noise = len(verdicts) - better - worse  # "within noise", and "same"
    return f"{label_b} against {label_a}: {better} better, {worse} worse, {noise} within noise"


def _with_interval(value: Any, ci: Mapping[str, Any] | None, unit: str) -> str:
    if value is None:
        return "–"
    text = fmt_number(value, unit)
    if ci and ci.get("low") is not None:
        text += f" ({fmt_number(ci['low'])}–{fmt_number(ci['high'])})"
    return text


def _inside(value: float, ci: Mapping[str, Any] | None) -> bool:
    return bool(ci and ci.get("low") is not None and ci["low"] <= value <= ci["high"])


def gates_frame(gates: Sequence[Mapping[str, Any]], unit: str = "",
                outcome: OutcomeWords | None = None) -> pd.DataFrame:
    """The quality gates as people read them: check, rule (``≥ 0.70``), value, result."""
    import pandas as pd

    rows = []
    for g in gates:
        direction = g.get("direction")
        sign = "≥" if direction == "min" else "≤" if direction == "max" else ""
        metric = str(g.get("metric") or "")
        u = _metric_unit(metric, unit)
        label = g.get("label") or metric_name(metric) or g.get("gate") or g.get("key")
        if label and outcome is not None:
            label = outcome.metric_label(str(label))
        rows.append({
            "check": str(label)[0].upper() + str(label)[1:] if label else "",
            "rule": f"{sign} {fmt_number(g.get('threshold'), u)}".strip(),
            "value": fmt_number(g.get("value"), u),
            "result": "✅ passed" if g.get("passed") else "❌ failed",
            "note": g.get("note") or "",
        })
    table = pd.DataFrame(rows, columns=["check", "rule", "value", "result", "note"])
    return table if table["note"].astype(bool).any() else table.drop(columns="note")


def fairness_frame(evaluation: Mapping[str, Any]) -> pd.DataFrame:
    """Per sensitive feature and group: rows, accuracy, selection rate, TPR, FPR."""
    import pandas as pd

    rows = []
    for feature, info in (evaluation.get("fairness") or {}).items():
        for group, stats in (info.get("groups") or {}).items():
            row = {"feature": feature.replace("_", " "), "group": str(group)}
            # Formatted here: a figure a group lacks reads as a dash, never "None".
            row.update({k.replace("_", " "): fmt_number(v) for k, v in stats.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def params_frame(a: Mapping[str, Any], b: Mapping[str, Any], label_a: str, label_b: str
                 ) -> pd.DataFrame:
    """The params keys whose values differ between two versions (dotted keys), from
    :func:`mlops.core.params_diff.params_diff`: where a run kept its state (registry, log
    path) is left out, and ``1`` equals ``1.0``."""
    import pandas as pd

    from mlops.core.params_diff import params_diff

    rows = params_diff(a, b)
    return pd.DataFrame({"params key": [r["key"] for r in rows],
                         label_a: [_show(r["production"]) for r in rows],
                         label_b: [_show(r["candidate"]) for r in rows]},
                        columns=["params key", label_a, label_b])


def _show(value: Any) -> str:
    if value is None:
        return "–"
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def timeline_frame(entries: Sequence[LedgerEntry]) -> pd.DataFrame:
    """The release timeline, newest first: when, who, what changed, why, on what evidence."""
    import pandas as pd

    rows = []
    for e in reversed(entries):
        rows.append({"when": e.time.replace("T", " ").removesuffix("+00:00"), "who": e.actor,
                     "what": _what(e), "why": e.reason, "evidence": _evidence(e.evidence)})
    return pd.DataFrame(rows, columns=["when", "who", "what", "why", "evidence"])


def _what(e: LedgerEntry) -> str:
    if e.action == "set-state":
        value = e.value or {}
        strategy = str(value.get("strategy", e.key)).replace("_", "-")
        status, cand = value.get("status", ""), value.get("candidate")
        extra = f" at {value['weight']:g} %" if value.get("weight") and status == "running" \
            and value.get("strategy") == "canary" else ""
        return f"{strategy} of v{cand}: {status}{extra}" if cand else f"{e.key} changed"
    moved = (f"v{e.from_version} → v{e.to_version}" if e.from_version
             else f"→ v{e.to_version}")
    verb = {"promote": "promoted", "force-promote": "force-promoted",
            "rollback": "rolled back"}.get(e.action, e.action)
    return f"{e.alias}: {verb} {moved}"


def _evidence(evidence: Mapping[str, Any] | None) -> str:
    if not evidence:
        return ""
    from mlops.core.params_diff import flatten

    items = list(flatten(evidence).items())[:4]
    return "; ".join(f"{k}: {_brief(v)}" for k, v in items)


def _brief(value: Any, limit: int = 60) -> str:
    """One piece of evidence in a few words: numbers formatted, gate lists counted."""
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, list) and value and all(isinstance(v, Mapping) and "passed" in v
                                                 for v in value):
        return f"{sum(bool(v['passed']) for v in value)} of {len(value)} passed"
    text = _show(value)
    return text if len(text) <= limit else text[:limit] + "…"


def version_entry(mv: ModelVersion, aliases: Mapping[str, int]) -> str:
    """A selector entry: ``v2 · production · logistic_regression · 2026-11-29``."""
    held = [a for a, v in sorted(aliases.items()) if v == mv.version]
    params = (mv.metadata.get("lineage") or {}).get("params") or {}
    estimator = str((params.get("model") or {}).get("estimator") or "")
    parts = [f"v{mv.version}", *held, estimator.rsplit(".", 1)[-1], mv.created[:10]]
    return " · ".join(p for p in parts if p)


def headline(mv: ModelVersion, evaluation: Mapping[str, Any], *, target: str,
             task: str, class_labels: Mapping[str, str], unit: str = "",
             n_inputs: int = 0) -> str:
    """What the model does and how good it is, in words a non-specialist reads (markdown)."""
    metrics = evaluation.get("metrics") or mv.metadata.get("metrics") or {}
    intervals = evaluation.get("confidence_intervals") or {}
    n = evaluation.get("n_samples")
    cases = f"{n:,} past cases it never saw in training" if n else "held-out past cases"
    inputs = f" from {n_inputs} facts about each case" if n_inputs else ""
    if task == "regression":
        what = f"This model estimates **{target}**{f' (in {unit})' if unit else ''}{inputs}."
        err = metrics.get("mae")
        if err is not None:
            ci = intervals.get("mae") or {}
            rng = (f" (95 % interval {fmt_number(ci['low'], unit)} to "
                   f"{fmt_number(ci['high'], unit)})" if ci.get("low") is not None else "")
            how = (f"On {cases}, its estimates were off by **{fmt_number(err, unit)}** on "
                   f"average{rng}.")
        elif metrics.get("r2") is not None:
            how = (f"On {cases}, it explained **{metrics['r2']:.0%}** of the variation in "
                   f"{target}.")
        else:
            how = "No quality figures were recorded for this version."
    else:
        names = [class_labels.get(str(c), str(c)) for c in (evaluation.get("classes") or
                                                              class_labels.keys())]
        kinds = f": {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else ""
        what = f"This model predicts **{target}**{kinds}{inputs}."
        acc = metrics.get("accuracy")
        if acc is not None:
            ci = intervals.get("accuracy") or {}
            rng = (f" (95 % interval {ci['low']:.0%} to {ci['high']:.0%})"
                   if ci.get("low") is not None else "")
            how = (f"On {cases}, it was right **{round(acc * 100)} times in 100**{rng}.")
            auc = metrics.get("roc_auc")
            if auc is not None and len(names) == 2:
                pos = class_labels.get(str(evaluation.get("positive_class")), "")
                other = next((n for n in names if n != pos), "")
                if pos and other:
                    how += (f" Given one {pos} case and one {other} case, it tells which is "
                            f"which **{round(auc * 100)} times in 100** (50 would be "
                            "guessing).")
        else:
            how = "No quality figures were recorded for this version."
    gates = ("It passed every quality check before release." if mv.gates_passed
             else "⚠️ It did **not** pass every quality check.")
    return f"{what} {how} {gates}"


def lineage_rows(mv: ModelVersion, *, backend: str, hub_url: str | None = None
                 ) -> pd.DataFrame:
    """Where each piece of a version's lineage lives: data, code, params, evidence files.

    ``hub_url`` is ``{endpoint}/{repo_id}`` for a Hub registry; files then get links to the
    version's tagged commit.
    """
    import pandas as pd

    lineage = mv.metadata.get("lineage") or {}
    rows: list[dict[str, str]] = []

    def add(what: str, value: Any, where: str = "") -> None:
        text = str(value) if value not in (None, "") else "–"
        if len(text) == 64:  # a SHA-256: its start identifies it; version.json has it all
            text = text[:16] + "…"
        rows.append({"what": what, "value": text, "where": where})

    snap = lineage.get("data_snapshot") or {}
    add("training data (sha256)", lineage.get("data_sha256"),
        "snapshot: " + str(snap.get("where")) if snap.get("stored")
        else f"not kept: {snap.get('reason')}" if snap else "not recorded")
    dirty = lineage.get("git_dirty")
    files = lineage.get("git_dirty_files") or []
    add("git commit", lineage.get("git_commit"),
        "clean" if dirty is False else f"dirty: {', '.join(files) or 'uncommitted changes'}"
        if dirty else "unknown")
    add("run", lineage.get("run_id"), f"params file {lineage.get('params_file') or '–'}")
    add("python", lineage.get("python"), f"seed {lineage.get('seed', '–')}")
    add("model file (sha256)", mv.sha256, _link(hub_url, mv, mv.model_file, backend))
    for fname, sha in sorted(mv.files.items()):
        add(fname, sha, _link(hub_url, mv, fname, backend))
    return pd.DataFrame(rows, columns=["what", "value", "where"])


def _link(hub_url: str | None, mv: ModelVersion, fname: str, backend: str) -> str:
    if backend == "hub" and hub_url:
        return f"{hub_url}/blob/{mv.name}--v{mv.version}/{mv.name}/versions/{mv.version}/{fname}"
    return f"registry: {mv.name}/versions/{mv.version}/{fname}"
