"""The router: validates requests, picks a model version, scores, and logs every prediction.

Routing is this module; scoring a loaded version is :mod:`mlops.serving.scoring`, the shadow
worker :mod:`mlops.serving.shadow`, and what the log keeps of a refused request
:mod:`mlops.serving.refusal`.

What serves is decided by the registry: the ``production`` alias, plus the ``deployment``
state (canary weight, shadow share, blue-green slots; see :mod:`mlops.serving.deployment`). The
router caches that decision for ``deployment.refresh_seconds`` and keeps every version it
may need loaded (verified by hash and trusted types), so a switch or a rollback is a pointer
swap, not a load.

Canary routing is sticky: a routing key (user or session id) hashes to a bucket in
[0, 100) salted with the candidate version, and the candidate serves buckets below the
canary weight. Raising the weight only adds buckets, so nobody flips back and forth.

A failure of the candidate (missing or corrupt file, an exception while scoring) never
reaches the user: production answers, the error is logged, and the canary is aborted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.exceptions import MLOpsError, RequestError, ServingError
from mlops.core.schema import Schema
from mlops.registry.base import Registry
from mlops.serving import deployment
from mlops.serving.predlog import LogRecord, PredictionLog
from mlops.serving.refusal import (
    MAX_KEY_CHARS,
    MAX_REFUSAL_CHARS,
    loggable_text,
    refusal_summary,
)
from mlops.serving.request_check import CheckedBatch, RequestValidator
from mlops.serving.scoring import LoadedModel, load_version, plain
from mlops.serving.shadow import ShadowWorker
from mlops.serving.summary import SUMMARY_ROWS, reference_profiles
from mlops.stages.reference import ReferenceSummary

__all__ = ["MAX_KEY_CHARS", "MAX_REFUSAL_CHARS", "Prediction", "Router", "bucket",
           "batch_request_ids", "refusal_summary"]

# What drift profiles of the inputs are made from: the training features, or a version's
# stored summary of them (reference.json).
Reference = pd.DataFrame | ReferenceSummary

log = logging.getLogger(__name__)


def bucket(key: str, salt: int | str) -> float:
    """Stable position of ``key`` in [0, 100): the same key and salt, the same bucket."""
    # surrogatepass: any Python text hashes (a lone surrogate is no reason to fail).
    digest = hashlib.blake2b(f"{salt}:{key}".encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100.0


def batch_request_ids(batch_id: str, n: int) -> list[str]:
    """Request ids of the rows of a scored batch (``{batch_id}-{row number}``)."""
    return [f"{batch_id}-{i}" for i in range(n)]


def _request_id_array(batch_id: str, n: int) -> pd.api.extensions.ExtensionArray:
    """:func:`batch_request_ids` as a text array, made by Arrow without a Python string
    per row (a 100,000-row batch would spend a tenth of its scoring time on them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    joined = pc.binary_join_element_wise(pa.scalar(f"{batch_id}-", text),
                                         pc.cast(pa.array(np.arange(n)), text),
                                         pa.scalar("", text))
    return pd.array(joined.to_pandas(types_mapper=lambda _: pd.StringDtype(
        "pyarrow", na_value=np.nan)))


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a caller gets back for one request."""

    request_id: str
    version: int
    proba: float | None  # probability of the positive class; None for regression
    label: Any  # the class, or the predicted value (a float) for regression
    latency_ms: float  # validation, routing and scoring; never a model load
    variant: str  # "production" or "candidate"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Table:
    """One immutable routing decision; swapped whole so readers never see half of one."""

    production: LoadedModel | None
    candidate: LoadedModel | None
    weight: float  # canary percent
    shadow: LoadedModel | None
    shadow_share: float


class Router:
    """Serves ``name`` from ``registry``; thread-safe. Use :meth:`from_params` normally."""

    def __init__(self, registry: Registry, name: str, schema: Schema,
                 log: PredictionLog | None = None, *, positive_class: Any = 1,
                 refresh_seconds: float = 2.0, clock: Callable[[], float] = time.time,
                 strict_categories: bool = True, shadow_queue: int = 10_000,
                 task: str = "classification",
                 reference: Reference | Callable[[], Reference | None] | None = None) -> None:
        self.registry = registry
        self.name = name
        self.validator = RequestValidator(schema, strict_categories=strict_categories)
        self.log = log
        self.positive_class = positive_class
        self.regression = task == "regression"
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.deployment: deployment.Deployment | None = None
        self.load_errors: dict[int, str] = {}
        self.load_ms: dict[int, float] = {}  # per version: kept out of latency_ms
        self.scoring: dict[int, dict[str, Any]] = {}  # per version: engine, and why not ONNX
        self._models: dict[int, LoadedModel] = {}
        self._table = _Table(None, None, 0.0, None, 0.0)
        self._refresh_lock = threading.Lock()
        self._next_refresh = 0.0
        self._shadow = ShadowWorker(log, name, capacity=shadow_queue)
        # The training features (or how to read them): large batches are logged as
        # histograms on their drift profile's edges (see mlops.serving.summary).
        self._reference = reference
        self._profiles: dict[str, Any] | None = None
        self._profiles_lock = threading.Lock()
        self.refresh()

    @classmethod
    def from_params(cls, params: Any, *, registry: Registry | None = None,
                    log_path: str | None = None, **kwargs: Any) -> Router:
        """A router for ``params.model.name`` logging to ``monitoring.log_path``."""
        from mlops.core.data import load_split
        from mlops.core.schema import request_schema
        from mlops.registry import open_registry

        registry = registry or open_registry(params.registry, params.root)
        plog = PredictionLog(log_path or params.resolve(params.monitoring.log_path))
        kwargs.setdefault("refresh_seconds", params.deployment.refresh_seconds)
        kwargs.setdefault("reference", lambda: load_split(params).train)
        return cls(registry, params.model.name, request_schema(params), plog,
                   positive_class=params.data.positive_class, task=params.data.task,
                   **kwargs)

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        """Re-read aliases and deployment state; load what is needed; drop the rest."""
        with self._refresh_lock:
            self._refresh()
            self._next_refresh = time.monotonic() + self.refresh_seconds

    def _maybe_refresh(self) -> None:
        # Only one thread refreshes; the others keep serving from the current table.
        if self._refresh_lock.acquire(blocking=False):
            try:
                self._refresh()
            except Exception as exc:  # a registry hiccup must not stop serving
                log.warning("router refresh failed, serving the cached state: %s", exc)
            finally:
                self._next_refresh = time.monotonic() + self.refresh_seconds
                self._refresh_lock.release()

    def _refresh(self) -> None:
        production_v = self.registry.aliases(self.name).get("production")
        dep, _ = deployment.read_deployment(self.registry, self.name)
        self.deployment = dep
        production = self._load(production_v, role="production") if production_v else None
        if production is None and self._table.production is not None:
            production = self._table.production  # keep the last good one rather than nothing
        candidate = shadow = None
        weight = share = 0.0
        if dep is not None:
            for v in dep.slots.values():  # blue-green: both slots stay warm
                if v != production_v:
                    self._load(v, role="slot")
            if dep.running and dep.candidate is not None:
                model = self._load(dep.candidate, role="candidate")
                if model is None:
                    self._abort_candidate(dep)
                elif dep.strategy == "canary":
                    candidate, weight = model, dep.weight
                elif dep.strategy == "shadow":
                    shadow, share = model, dep.shadow_share
        keep = {m.version for m in (production, candidate, shadow) if m is not None}
        if self._table.production is not None:  # the previous production: instant rollback
            keep.add(self._table.production.version)
        if dep is not None:
            keep |= dep.loaded_versions()
        self._models = {v: m for v, m in self._models.items() if v in keep}
        self._table = _Table(production, candidate, weight, shadow, share)
        if shadow is not None:
            self._shadow.start()

    def _load(self, version: int, *, role: str) -> LoadedModel | None:
        if version in self._models:
            return self._models[version]
        start = time.perf_counter()
        try:
            model, scoring = load_version(self.registry, self.name, version,
                                          regression=self.regression,
                                          positive_class=self.positive_class,
                                          schema=self.validator.schema)
        except Exception as exc:  # missing file, hash mismatch, untrusted types, ...
            message = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
            self.load_errors[version] = message
            log.error("cannot load %s v%s (%s): %s", self.name, version, role, message)
            if self.log is not None:
                self.log.event(self.name, version, "load_error", f"{role}: {message}",
                               ts=self.clock())
            return None
        self.scoring[version] = scoring
        if scoring["refused"] and self.log is not None:
            self.log.event(self.name, version, "compiled_refused",
                           f"{role}: {scoring['reason']}", ts=self.clock())
        self._models[version] = model
        # The load is timed apart: a request that waits for it is not slower to score.
        self.load_ms[version] = (time.perf_counter() - start) * 1000.0
        return model

    def _abort_candidate(self, dep: deployment.Deployment) -> None:
        error = self.load_errors.get(dep.candidate, "unknown error")
        try:
            deployment.abort(
                self.registry, self.name, now=self.clock(), actor="mlops-router",
                reason=f"candidate v{dep.candidate} failed to load: {error}",
                evidence={"error": error, "candidate": dep.candidate, "ts": self.clock()})
        except MLOpsError as exc:  # someone else may have aborted it first
            log.warning("could not abort the %s of v%s: %s", dep.strategy, dep.candidate, exc)

    def input_profiles(self) -> dict[str, Any] | None:
        """The reference's drift profiles of the serving columns, made once on first use
        (None without a reference, or when it cannot be read: then a large batch's numeric
        columns are summarised on their own quantiles)."""
        with self._profiles_lock:
            if self._profiles is None and self._reference is not None:
                try:
                    ref = self._reference() if callable(self._reference) else self._reference
                    if ref is None:  # no data next to the app (a Space may ship without)
                        self._reference = None
                        return None
                    self._profiles = reference_profiles(ref, self.validator.schema)
                except Exception as exc:  # logging must not fail for want of a reference
                    log.warning("no reference for batch summaries (%s: %s)",
                                type(exc).__name__, exc)
                    self._reference = None
            return self._profiles

    # ------------------------------------------------------------------ scoring
    def predict(self, row: Mapping[str, Any], routing_key: str | None = None, *,
                request_id: str | None = None) -> Prediction:
        """Score one request; RequestError if it does not fit the schema.

        ``routing_key`` (a user or session id) keeps a caller on the same version during a
        canary; without it each request is routed on its own.
        """
        if time.monotonic() >= self._next_refresh:
            self._maybe_refresh()  # may load a version: not part of this request's latency
        start = time.perf_counter()
        rid = request_id or uuid.uuid4().hex
        ts = self.clock()
        routing_key = loggable_text(routing_key, MAX_KEY_CHARS)
        try:
            clean, warnings = self.validator.check(row)
        except RequestError as exc:
            self._log_refusal(rid, ts, routing_key, row, exc)
            raise
        table = self._table
        model, variant = table.production, "production"
        if table.candidate is not None and bucket(routing_key or rid,
                                                  table.candidate.version) < table.weight:
            model, variant = table.candidate, "candidate"
        if model is None:
            raise ServingError(f"{self.name}: no production model can be loaded "
                               f"({self.load_errors or 'production alias not set'}); "
                               "promote a version: mlops promote VERSION --to production")
        inputs = json.dumps(clean)
        try:
            proba, labels = model.score_row(clean)
        except Exception as exc:
            self._log_error(rid, ts, model.version, routing_key, inputs, start, exc)
            if variant == "candidate" and table.production is not None:
                # The user still gets production's answer; the failure counts against the
                # candidate (error-rate rule) and stays in the log.
                model, variant = table.production, "production"
                proba, labels = model.score_row(clean)
            else:
                raise ServingError(f"{self.name} v{model.version} failed to score: {exc}",
                                   version=model.version) from exc
        latency = (time.perf_counter() - start) * 1000.0
        result = Prediction(rid, model.version, None if proba is None else float(proba[0]),
                            plain(labels[0]), latency, variant, warnings)
        if self.log is not None:
            self.log.log(LogRecord(rid, ts, self.name, model.version, "primary", routing_key,
                                   inputs, result.proba, result.label, latency))
        if table.shadow is not None and (table.shadow_share >= 1.0 or
                                         bucket(rid, "shadow") < table.shadow_share * 100):
            self._shadow.submit_row(table.shadow, rid, ts, routing_key, inputs, clean)
        return result

    def predict_batch(self, frame: pd.DataFrame | CheckedBatch, *,
                      routing_keys: Sequence[str] | None = None,
                      batch_id: str | None = None, version: int | None = None
                      ) -> pd.DataFrame:
        """Score a batch; returns ``request_id``, ``prediction``, ``proba``, ``confidence``,
        ``version`` and ``variant`` per row, on ``frame``'s index.

        ``proba`` is what the log keeps (the positive class's probability; NaN for
        regression), ``confidence`` the predicted class's; ``variant`` says who answered
        (``production``, ``candidate`` or ``pinned``). Row ``i`` gets request id
        ``{batch_id}-{i}`` (also ``result.attrs["batch_id"]``); ``result.attrs["classes"]``
        are the answering models' classes (empty for regression), so a caller words the
        answer without asking the router again. A pinned ``version`` is
        scored by that version alone and logged with role ``pinned``: never routed traffic,
        so trying a version can never push it through a canary. Logging happens on the
        writer thread.
        """
        if time.monotonic() >= self._next_refresh:
            self._maybe_refresh()  # may load a version: not part of the batch's latency
        start = time.perf_counter()
        X = self.validator.check_frame(frame)
        table = self._table
        if version is not None:
            pinned = self._load(version, role="pinned")
            if pinned is None:
                raise ServingError(f"{self.name} v{version} cannot be loaded: "
                                   f"{self.load_errors.get(version, 'unknown error')}",
                                   version=version)
            table = _Table(pinned, None, 0.0, None, 0.0)
        elif table.production is None:
            raise ServingError(f"{self.name}: no production model can be loaded")
        n = len(X)
        batch_id = batch_id or uuid.uuid4().hex[:16]
        to_candidate = np.zeros(n, dtype=bool)
        if n and table.candidate is not None and table.weight > 0:
            if routing_keys is not None:
                if len(routing_keys) != n:
                    raise RequestError(f"{len(routing_keys)} routing keys for {n} rows",
                                       rule="routing_keys")
                # Each distinct key is hashed once (an upload often has one session key).
                codes, keys = pd.factorize(pd.Series(routing_keys, dtype=object).astype(str))
                salt = table.candidate.version
                to_candidate = np.array([bucket(k, salt) < table.weight for k in keys],
                                        dtype=bool)[codes]
            else:
                to_candidate = np.random.default_rng().random(n) * 100 < table.weight
        proba = np.full(n, np.nan)  # stays NaN for a regression model
        confidence = np.full(n, np.nan)
        labels = np.empty(n, dtype=np.float64 if self.regression else object)
        versions = np.full(n, table.production.version, dtype=np.int64)
        # A large batch of more than two classes keeps every class's probability: its
        # inputs are not logged, and CBPE needs them all (see mlops.monitoring.cbpe).
        k = len(table.production.classes)
        matrix = np.full((n, k), np.nan) if n > SUMMARY_ROWS and k > 2 else None
        answered: dict[Any, None] = {}  # the classes of the versions that answered, in order
        for model, mask in ((table.production, ~to_candidate), (table.candidate, to_candidate)):
            if model is None or not mask.any():
                continue
            answered.update(dict.fromkeys(model.classes))
            whole = bool(mask.all())
            p, y = model.score(X if whole else X[mask], all_classes=True)
            if whole:  # one model scored every row: its classes as they are, not boxed
                labels = y
            else:
                labels[mask] = y
            versions[mask] = model.version
            if p is None:
                continue
            if matrix is not None and model.classes == table.production.classes:
                matrix[mask] = p
            elif model is table.candidate:  # other classes: no common columns to keep
                matrix = None
            proba[mask], confidence[mask] = p[:, model.positive], p.max(axis=1)
        if not self.regression and (labels.dtype == object or not n):
            # One dtype for the classes: text, integers or booleans.
            labels = np.asarray(labels.tolist()) if n else np.asarray(
                table.production.classes)[:0]
        latency = (time.perf_counter() - start) * 1000.0
        if self.log is not None and n:
            self.log.log_batch(batch_id=batch_id, ts=self.clock(), model=self.name,
                               versions=versions, frame=X,
                               proba=None if self.regression else proba, prediction=labels,
                               latency_ms=latency, schema=self.validator.schema,
                               profiles=self.input_profiles, class_proba=matrix,
                               role="primary" if version is None else "pinned")
        if table.shadow is not None and n:
            self._shadow.submit_batch(table.shadow, batch_id, self.clock(), X)
        # Categorical: 0.3 ms for 100k rows where an object array of text costs 11 ms.
        variant = pd.Categorical.from_codes(
            to_candidate.astype(np.int8),
            ["production" if version is None else "pinned", "candidate"])
        result = pd.DataFrame({"request_id": _request_id_array(batch_id, n),
                               "prediction": labels, "proba": proba,
                               "confidence": confidence, "version": versions,
                               "variant": variant}, index=X.index)
        result.attrs["batch_id"] = batch_id
        result.attrs["classes"] = tuple(answered)
        return result

    def feedback(self, labels: Mapping[str, Any], *, source: str = "api",
                 trusted: bool = False) -> int:
        """Record ground-truth labels by request id; returns how many were stored.

        A label is one of the model's classes, or a finite number for regression; any other
        label is a RequestError and nothing is stored. Labels are untrusted unless the
        caller vouches for ``source`` (``trusted=True``): only trusted labels feed the
        rollback and canary rules. Never pass ``trusted=True`` for labels that an anonymous
        user can send.
        """
        if self.log is None:
            raise ServingError("this router has no prediction log to store feedback in")
        clean = {str(rid): self._label(str(rid), value) for rid, value in labels.items()}
        return self.log.add_feedback(clean, ts=self.clock(), source=source, trusted=trusted)

    def _label(self, rid: str, value: Any) -> Any:
        value = plain(value)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.regression:
            if not number or not np.isfinite(value):
                raise RequestError(f"feedback for {rid[:64]!r}: label {value!r} is not a "
                                   "finite number (data.task is regression)", rule="label")
            return float(value)
        classes = {c for m in self._models.values() for c in m.classes}
        if (classes and value not in classes) or (not classes and not number):
            raise RequestError(f"feedback for {rid[:64]!r}: label {value!r} is not one of "
                               f"the classes {sorted(classes) or 'integers'}", rule="label")
        return value

    def classes(self, version: int) -> tuple[Any, ...]:
        """The classes of a loaded ``version`` (empty for regression or when not loaded)."""
        model = self._models.get(version)
        return () if model is None else model.classes

    def loaded_pipeline(self, version: int) -> Any | None:
        """The verified scikit-learn pipeline of ``version`` if the router has it loaded, so a
        caller that needs the model too (explanations) does not load it a second time."""
        model = self._models.get(version)
        return None if model is None else model.pipeline

    def status(self) -> dict[str, Any]:
        """What serves now: production, candidate, weights, loaded versions, load errors."""
        t = self._table
        return {
            "model": self.name,
            "production": t.production.version if t.production else None,
            "canary": t.candidate.version if t.candidate else None,
            "canary_weight": t.weight,
            "shadow": t.shadow.version if t.shadow else None,
            "shadow_share": t.shadow_share,
            "loaded": sorted(self._models),
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "load_errors": dict(self.load_errors),
            "load_ms": dict(self.load_ms),
            "scoring": {v: dict(self.scoring[v]) for v in sorted(self._models)
                        if v in self.scoring},
            "shadow_dropped": self.shadow_dropped,
        }

    @property
    def shadow_dropped(self) -> int:
        """Shadow jobs dropped because the shadow worker was too far behind."""
        return self._shadow.dropped

    def close(self) -> None:
        """Finish shadow work and flush and close the log."""
        self._shadow.close()
        if self.log is not None:
            self.log.close()

    def flush(self) -> None:
        """Wait for queued shadow scoring and log writes."""
        self._shadow.flush()
        if self.log is not None:
            self.log.flush()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ logging, shadow
    def _log_refusal(self, rid: str, ts: float, key: str | None, row: Any,
                     exc: RequestError) -> None:
        if self.log is None:
            return
        self.log.log(LogRecord(rid, ts, self.name, None, "primary", key, refusal_summary(row),
                               None, None, None,
                               loggable_text(f"RequestError: {exc.message}", MAX_REFUSAL_CHARS)))

    def _log_error(self, rid: str, ts: float, version: int, key: str | None, inputs: str,
                   start: float, exc: Exception) -> None:
        log.error("%s v%s failed on request %s: %s", self.name, version, rid, exc)
        if self.log is not None:
            self.log.log(LogRecord(rid, ts, self.name, version, "primary", key, inputs, None,
                                   None, (time.perf_counter() - start) * 1000.0,
                                   f"{type(exc).__name__}: {exc}"))
