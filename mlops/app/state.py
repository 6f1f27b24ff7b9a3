"""Decisions behind the Streamlit app, kept free of Streamlit so that they are unit-testable.

The app (``app.py`` and ``mlops/app_*.py``) only lays out widgets; everything with a rule
in it lives here: where the registry is, who may act as operator, what the prediction form
looks like, whether an uploaded CSV may be scored, and the operator actions themselves
(always through the registry, with ``actor="app"``). Nothing here imports streamlit.
"""

from __future__ import annotations

import csv
import dataclasses
import hmac
import io
import math
import os
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import AccessDeniedError, DataError
from mlops.core.schema import ColumnSchema, Schema

__all__ = [
    "ACTOR",
    "ADMIN_TOKEN_ENV",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ROWS",
    "BatchIssue",
    "BatchResult",
    "FieldSpec",
    "ServingStatus",
    "TTLCache",
    "abort_release",
    "advance_canary",
    "check_admin_token",
    "form_spec",
    "LiveSummary",
    "ledger_frame",
    "live_summary",
    "load_app_params",
    "open_app_registry",
    "operator_configured",
    "promote_version",
    "require_operator",
    "rollback_alias",
    "row_from_form",
    "score_frame",
    "serving_status",
    "start_release",
    "stop_shadow",
    "validate_batch",
    "validate_frame",
]

ACTOR = "app"  # every registry write made by the app is recorded under this actor
ADMIN_TOKEN_ENV = "MLOPS_ADMIN_TOKEN"
MAX_UPLOAD_BYTES = 2_000_000  # ~20k German-credit rows; keeps a shared Space responsive
MAX_UPLOAD_ROWS = 10_000
MAX_ISSUES_SHOWN = 50  # a broken file would otherwise produce one message per cell


# --------------------------------------------------------------------------- access
def operator_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when ``MLOPS_ADMIN_TOKEN`` is set to a non-blank value."""
    env = os.environ if env is None else env
    return bool((env.get(ADMIN_TOKEN_ENV) or "").strip())


def check_admin_token(entered: str | None, env: Mapping[str, str] | None = None) -> bool:
    """True only if the operator token is configured and ``entered`` equals it.

    The comparison is constant-time (``hmac.compare_digest``) so response time leaks
    nothing about how much of the token was right. Blank tokens never match.
    """
    env = os.environ if env is None else env
    expected = (env.get(ADMIN_TOKEN_ENV) or "").strip()
    if not expected or not isinstance(entered, str) or not entered:
        return False
    return hmac.compare_digest(entered.strip().encode(), expected.encode())


def require_operator(entered: str | None, env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`AccessDeniedError` unless ``entered`` is the operator token.

    Every operator action calls this itself, with the token text, rather than trusting a
    flag in the session state: a forged ``is_operator=True`` therefore unlocks nothing.
    """
    if not operator_configured(env):
        raise AccessDeniedError(
            f"operator actions are disabled: set {ADMIN_TOKEN_ENV} on the server to enable "
            "them", rule="not_configured",
        )
    if not check_admin_token(entered, env):
        raise AccessDeniedError("wrong or missing operator token; enter the token set in "
                                f"{ADMIN_TOKEN_ENV}", rule="bad_token")


# ------------------------------------------------------------------ configuration
def load_app_params(app_dir: str | Path, env: Mapping[str, str] | None = None) -> Any:
    """Params for the app: ``MLOPS_PARAMS`` or ``params.yaml`` next to ``app.py``.

    ``MLOPS_REGISTRY_PATH`` replaces ``registry.path`` (relative to the params folder, or
    absolute), so tests and Spaces can point the same params at another registry.
    """
    from mlops.core.config import load_params

    env = os.environ if env is None else env
    params = load_params(env.get("MLOPS_PARAMS") or Path(app_dir) / "params.yaml")
    override = env.get("MLOPS_REGISTRY_PATH")
    if override:
        registry = dataclasses.replace(params.registry, path=override)
        params = dataclasses.replace(params, registry=registry)
    return params


def open_app_registry(params: Any) -> Any:
    """The registry the params (and ``MLOPS_REGISTRY_BACKEND``/``MLOPS_HUB_REPO_ID``) name."""
    from mlops.registry import open_registry

    return open_registry(params.registry, params.root)


class TTLCache:
    """A tiny time-to-live cache: alias reads are re-done after ``ttl`` seconds.

    The app re-reads aliases on every rerun through this cache, so a promotion made
    elsewhere (CLI, CI, another operator) shows up within ``ttl`` seconds, without a
    restart, while a Hub-backed registry is not asked on every widget click.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """Cached value of ``key`` if fresh, else ``load()`` (stored)."""
        now = self.clock()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load()
        self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget everything (after the app itself changed an alias)."""
        self._items.clear()


@dataclass(frozen=True)
class ServingStatus:
    """What is serving: aliases, the production version and, on the Hub, its commit."""

    model: str
    backend: str
    aliases: dict[str, int]
    versions: tuple[int, ...]
    production: int | None
    revision: str | None = None  # Hub commit of the production version's tag

    @property
    def label(self) -> str:
        """``credit-risk v3`` (plus ``@abc123`` on the Hub), or a hint when nothing serves."""
        if self.production is None:
            return f"{self.model}: no production version yet (run `make pipeline`)"
        rev = f" @ {self.revision[:10]}" if self.revision else ""
        return f"{self.model} v{self.production}{rev}"


def serving_status(registry: Any, name: str) -> ServingStatus:
    """Read aliases and versions of ``name`` now (no cache)."""
    aliases = registry.aliases(name)
    versions = tuple(v.version for v in registry.versions(name))
    production = aliases.get("production")
    revision = None
    commit_of = getattr(registry, "_version_commit", None)  # Hub backend only
    if production is not None and registry.backend == "hub" and commit_of is not None:
        revision = commit_of(name, production)
    return ServingStatus(name, registry.backend, aliases, versions, production, revision)


# --------------------------------------------------------------------- the form
@dataclass(frozen=True)
class FieldSpec:
    """One widget of the prediction form.

    ``widget`` is ``number`` (with ``min``/``max``/``step``/``integer``), ``select``
    (with ``options``) or ``checkbox``.
    """

    name: str
    widget: str
    label: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    integer: bool = False
    options: tuple[str, ...] = ()
    help: str = ""


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def form_spec(schema: Schema) -> list[FieldSpec]:
    """One :class:`FieldSpec` per serving column, from the schema's kinds and ranges."""
    specs = []
    for name in schema.serving_columns:
        col = schema.by_name[name]
        if col.kind == "bool":
            specs.append(FieldSpec(name, "checkbox", _label(name), False))
        elif col.numeric:
            integer = col.kind == "int"
            lo, hi = col.min, col.max
            # The median of the training range is unknown here; the midpoint is a valid start.
            mid = (lo + hi) / 2 if lo is not None and hi is not None else (lo or hi or 0)
            default: float | int = int(round(mid)) if integer else float(mid)
            specs.append(FieldSpec(
                name, "number", _label(name), default,
                None if lo is None else (int(lo) if integer else float(lo)),
                None if hi is None else (int(hi) if integer else float(hi)),
                1 if integer else None, integer,
                help=f"allowed range {lo} – {hi}" if lo is not None else "",
            ))
        elif col.categories:
            specs.append(FieldSpec(name, "select", _label(name), col.categories[0],
                                   options=tuple(col.categories)))
        else:  # free text: the schema keeps no category list
            specs.append(FieldSpec(name, "text", _label(name), ""))
    return specs


def row_from_form(values: Mapping[str, Any], schema: Schema) -> pd.DataFrame:
    """A one-row frame of the form's values, checked like a batch (DataError if bad)."""
    missing = [c for c in schema.serving_columns if c not in values]
    if missing:
        raise DataError(f"form is missing fields {missing}", column=missing[0],
                        rule="missing_field")
    frame = pd.DataFrame([{c: values[c] for c in schema.serving_columns}])
    issues = validate_frame(frame, schema)
    if issues:
        raise DataError("; ".join(i.text for i in issues), column=issues[0].column,
                        rule="form")
    return _coerce(frame, schema)


# ------------------------------------------------------------------- batch scoring
@dataclass(frozen=True)
class BatchIssue:
    """One problem with an uploaded file: ``row`` is the 1-based data row, or None."""

    message: str
    column: str | None = None
    row: int | None = None

    @property
    def text(self) -> str:
        """Human-readable line: ``row 3, column age: ...``."""
        where = [f"row {self.row}" if self.row is not None else "",
                 f"column {self.column!r}" if self.column else ""]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass
class BatchResult:
    """Outcome of :func:`validate_batch`: the clean frame, or the issues that stop it."""

    frame: pd.DataFrame | None
    issues: list[BatchIssue] = field(default_factory=list)
    total_issues: int = 0  # before truncation to MAX_ISSUES_SHOWN
    ignored_columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the frame may be scored."""
        return self.frame is not None and not self.issues


def validate_batch(
    data: bytes, schema: Schema, *, max_bytes: int = MAX_UPLOAD_BYTES,
    max_rows: int = MAX_UPLOAD_ROWS,
) -> BatchResult:
    """Check an uploaded CSV against the serving schema before any row is scored.

    Limits size and rows first (cheap, before parsing), then reports every missing
    column and every bad cell with its row number, so the user can fix the file in one go.
    The target column and unknown columns are dropped and listed, not rejected.
    """
    if len(data) > max_bytes:
        return _fail_batch(f"file is {len(data):,} bytes; the limit is {max_bytes:,} bytes. "
                           "Split it into smaller files")
    if not data.strip():
        return _fail_batch("file is empty; upload a CSV with a header row")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _fail_batch(f"file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV")
    try:
        # Read everything as text: types are checked per cell below, with row numbers.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        return _fail_batch(f"cannot be read as CSV: {exc}")
    # pandas renames duplicate headers ("a", "a.1"), so check the raw header row instead.
    header = [c.strip() for c in next(csv.reader(io.StringIO(text)), [])]
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        return _fail_batch(f"duplicate column names {dupes}; each column may appear once")
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        return _fail_batch("file has a header but no data rows")
    if len(frame) > max_rows:
        return _fail_batch(f"file has {len(frame):,} rows; the limit is {max_rows:,}")
    ignored = tuple(c for c in frame.columns if c not in schema.serving_columns)
    frame = frame.replace({"": None})
    issues = validate_frame(frame, schema)
    if issues:
        return BatchResult(None, issues[:MAX_ISSUES_SHOWN], len(issues), ignored)
    return BatchResult(_coerce(frame[list(schema.serving_columns)], schema), [], 0, ignored)


def _fail_batch(message: str) -> BatchResult:
    return BatchResult(None, [BatchIssue(message)], 1)


def validate_frame(frame: pd.DataFrame, schema: Schema) -> list[BatchIssue]:
    """Every missing serving column and every bad cell (type, range, category, null)."""
    issues = [BatchIssue(f"required column is missing (expected: "
                         f"{', '.join(schema.serving_columns)})", column=c)
              for c in schema.serving_columns if c not in frame.columns]
    for name in schema.serving_columns:
        if name in frame.columns:
            issues += _column_issues(frame[name], schema.by_name[name])
    return sorted(issues, key=lambda i: (i.row is not None, i.row or 0, i.column or ""))


def _column_issues(series: pd.Series, col: ColumnSchema) -> list[BatchIssue]:
    issues = []
    for pos, value in enumerate(series.tolist(), start=1):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if not col.nullable:
                issues.append(BatchIssue("value is missing", col.name, pos))
            continue
        problem = _cell_problem(value, col)
        if problem:
            issues.append(BatchIssue(problem, col.name, pos))
    return issues


def _cell_problem(value: Any, col: ColumnSchema) -> str | None:
    if col.numeric:
        try:
            number = float(str(value).strip())
        except ValueError:
            return f"{value!r} is not a number"
        if not math.isfinite(number):
            return f"{value!r} is not a finite number"
        if col.kind == "int" and number != round(number):
            return f"{value!r} is not a whole number"
        if col.min is not None and number < col.min:
            return f"{value!r} is below the allowed minimum {col.min}"
        if col.max is not None and number > col.max:
            return f"{value!r} is above the allowed maximum {col.max}"
        return None
    if col.kind == "bool":
        return None if str(value).strip().lower() in {"true", "false", "1", "0"} else (
            f"{value!r} is not true/false")
    if col.categories is not None and str(value).strip() not in col.categories:
        shown = ", ".join(col.categories[:10])
        return f"{value!r} is not an allowed category (allowed: {shown})"
    return None


def _coerce(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Cast validated text cells to the schema's dtypes, as the model was trained on."""
    out = pd.DataFrame(index=range(len(frame)))
    for name in schema.serving_columns:
        col, values = schema.by_name[name], frame[name].reset_index(drop=True)
        if col.kind == "int":
            out[name] = pd.to_numeric(values.astype(str).str.strip()).round().astype("int64")
        elif col.kind == "float":
            out[name] = pd.to_numeric(values.astype(str).str.strip()).astype("float64")
        elif col.kind == "bool":
            out[name] = values.astype(str).str.strip().str.lower().isin({"true", "1"})
        else:
            out[name] = values.astype(str).str.strip()
    return out


def score_frame(model: Any, frame: pd.DataFrame, *, positive_class: Any) -> pd.DataFrame:
    """``frame`` plus ``predicted_class`` and ``probability`` (of the positive class)."""
    names = getattr(model, "feature_names_in_", None)
    features = frame[list(names)] if names is not None else frame
    classes = np.asarray(model.classes_).tolist()
    if positive_class not in classes:
        raise DataError(f"positive class {positive_class!r} is not one of the model's "
                        f"classes {classes}; check data.positive_class", rule="positive_class")
    proba = np.asarray(model.predict_proba(features), dtype=float)
    out = frame.copy()
    out["predicted_class"] = np.asarray(model.predict(features))
    out["probability"] = proba[:, classes.index(positive_class)].round(4)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV bytes for the download button."""
    return frame.to_csv(index=False).encode("utf-8")


# ------------------------------------------------------------------ operator actions
def promote_version(
    registry: Any, name: str, version: int, alias: str, *, token: str | None,
    expected: int | None, reason: str, env: Mapping[str, str] | None = None,
) -> Any:
    """Point ``alias`` at ``version`` as actor ``app`` (token checked, compare-and-swap).

    ``expected`` is the version the operator saw on screen, so a move made by someone else
    meanwhile makes this fail with ConflictError instead of being silently overwritten.
    """
    require_operator(token, env)
    return registry.promote(name, version, alias, expected=expected, actor=ACTOR,
                            reason=reason.strip() or f"promoted from the app to {alias}")


def rollback_alias(
    registry: Any, name: str, *, token: str | None, alias: str = "production",
    reason: str = "", env: Mapping[str, str] | None = None, expected: int | None = None,
) -> Any:
    """One-click rollback of ``alias`` to its previous version, as actor ``app``.

    ``expected`` is the version the operator saw: if it moved since, the rollback fails.
    """
    require_operator(token, env)
    return registry.rollback(name, alias=alias, actor=ACTOR, expected=expected,
                             reason=reason.strip() or "one-click rollback from the app")


def ledger_frame(entries: list[Any]) -> pd.DataFrame:
    """The promotion ledger, newest first, as a table."""
    rows = [{
        "seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action,
        "alias": e.alias or e.key or "", "from": e.from_version, "to": e.to_version,
        "reason": e.reason,
    } for e in reversed(entries)]
    columns = ["seq", "time", "actor", "action", "alias", "from", "to", "reason"]
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------- monitoring
@dataclass(frozen=True)
class LiveSummary:
    """Per-version live figures for the operator's charts."""

    per_version: pd.DataFrame  # version, predictions, errors, latency p50/p99, accuracy
    over_time: pd.DataFrame  # index minute, one column per version: predictions


def live_summary(log_path: str | Path, model: str) -> LiveSummary:
    """Summarise the prediction log of ``model`` per version (primary predictions only).

    Drift is not here: the operator view shows :func:`mlops.monitoring.monitor.monitor_report`'s.
    """
    from mlops.serving.predlog import read_predictions

    log = read_predictions(log_path, model=model, inputs=False)
    log = log[log["role"] == "primary"]
    columns = ["version", "predictions", "errors", "latency_p50_ms", "latency_p99_ms",
               "labelled", "live_accuracy"]
    if log.empty:
        return LiveSummary(pd.DataFrame(columns=columns), pd.DataFrame())
    rows = []
    for version, part in log.groupby("version"):
        ok = part[part["error"].isna()]
        labelled = ok[ok["label"].notna()]
        accuracy = (float((labelled["label"] == labelled["prediction"]).mean())
                    if len(labelled) else float("nan"))
        rows.append({
            "version": f"v{int(version)}", "predictions": len(part),
            "errors": int(part["error"].notna().sum()),
            "latency_p50_ms": float(ok["latency_ms"].quantile(0.5)) if len(ok) else 0.0,
            "latency_p99_ms": float(ok["latency_ms"].quantile(0.99)) if len(ok) else 0.0,
            "labelled": len(labelled), "live_accuracy": accuracy,
        })
    minute = pd.to_datetime(log["ts"], unit="s").dt.floor("min")
    over_time = (log.assign(minute=minute, v="v" + log["version"].astype(str))
                 .pivot_table(index="minute", columns="v", values="request_id",
                              aggfunc="count", fill_value=0))
    return LiveSummary(pd.DataFrame(rows, columns=columns), over_time)


# ------------------------------------------------------------- release strategies
def start_release(
    registry: Any, name: str, cfg: Any, *, candidate: int, strategy: str,
    token: str | None, reason: str = "", env: Mapping[str, str] | None = None,
) -> Any:
    """Start a canary or shadow (or other) release of ``candidate`` as actor ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.start(registry, name, cfg, candidate=candidate, strategy=strategy,
                            now=time.time(), reason=reason.strip(), actor=ACTOR)


def advance_canary(registry: Any, name: str, *, token: str | None, reason: str = "",
                   env: Mapping[str, str] | None = None) -> Any:
    """Move a running canary to its next step (the last step promotes it), as ``app``.

    This is the operator overruling the automatic analysis, so it is recorded as a manual
    decision in the ledger.
    """
    from mlops.serving import deployment

    require_operator(token, env)
    dep, _ = deployment.read_deployment(registry, name)
    if dep is None or not dep.running or dep.strategy != "canary":
        from mlops.core.exceptions import RegistryError

        raise RegistryError(f"{name}: no running canary to advance; start one first")
    decision = deployment.Decision(
        "promote", (reason.strip() or "advanced by an operator in the app",), {"manual": True})
    return deployment.apply_decision(registry, name, decision, now=time.time(), actor=ACTOR)


def abort_release(registry: Any, name: str, *, token: str | None, reason: str = "",
                  env: Mapping[str, str] | None = None) -> Any:
    """Abort a running canary or shadow: all traffic back to production, as ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.abort(registry, name, reason=reason.strip() or "aborted in the app",
                            now=time.time(), actor=ACTOR)


def stop_shadow(registry: Any, name: str, *, token: str | None, promote: bool = False,
                reason: str = "", env: Mapping[str, str] | None = None) -> Any:
    """End a running shadow release (optionally promoting the candidate), as ``app``."""
    from mlops.serving import deployment

    require_operator(token, env)
    return deployment.finish_shadow(registry, name, promote=promote, now=time.time(),
                                    reason=reason.strip(), actor=ACTOR)
