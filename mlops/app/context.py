"""The app's long-lived state: registry, schema, loaded models, prediction log, live push.

One :class:`AppContext` lives per server process (the app caches it with
``st.cache_resource``); it has no Streamlit in it, so tests drive it directly. Versions are
immutable, so a loaded model is cached for good; aliases are re-read through a short TTL
cache, so a promotion made anywhere shows up without a restart.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.app.cache import TTLCache
from mlops.app.config import load_app_params
from mlops.app.status import ServingStatus, serving_status
from mlops.core.exceptions import DataError, NotFoundError
from mlops.core.schema import Schema, request_schema

if TYPE_CHECKING:  # imported when first used, not on the app's first page
    import pandas as pd
    from huggingface_hub import CommitScheduler

    from mlops.core.config import Params
    from mlops.registry import ModelVersion, Registry
    from mlops.serving.predlog import PredictionLog
    from mlops.serving.request_check import CheckedBatch
    from mlops.serving.router import Router
    from mlops.stages.explain import Explainer, Explanation
    from mlops.stages.reference import ReferenceSummary

__all__ = ["ALIAS_TTL_SECONDS", "AppContext", "ScoredRequest", "context_key"]

ALIAS_TTL_SECONDS = 2.0  # how stale "what is serving" may be; one Hub round-trip per 2 s
_ENV_KEYS = ("MLOPS_PARAMS", "MLOPS_REGISTRY_PATH", "MLOPS_REGISTRY_BACKEND",
             "MLOPS_HUB_REPO_ID", "MLOPS_LOG_PATH", "MLOPS_DATASET_REPO")


def context_key(env: Mapping[str, str] | None = None) -> str:
    """Fingerprint of the settings that make a context; a change builds a new one."""
    env = os.environ if env is None else env
    return "|".join(f"{k}={env.get(k, '')}" for k in _ENV_KEYS)


@dataclass(frozen=True)
class ScoredRequest:
    """Predictions of one request: the scored rows, which version answered, the ids."""

    # request_id, the prediction columns (batch.prediction_columns), version, then inputs
    frame: pd.DataFrame
    version: int
    routed: str  # "production", "canary" or "pinned" (a version chosen by the user)


class AppContext:
    """Everything the app needs that outlives one script run.

    ``clock`` (monotonic seconds) times the alias cache; tests inject one.
    """

    def __init__(self, params: Params, registry: Registry, schema: Schema, log_path: Path,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.params = params
        self.registry = registry
        self.schema = schema
        self.name: str = params.model.name
        self.log_path = log_path
        self._status: TTLCache[ServingStatus] = TTLCache(ALIAS_TTL_SECONDS, clock=clock)
        self._models: dict[int, Any] = {}  # fitted scikit-learn pipelines by version
        self._records: dict[int, ModelVersion] = {}  # versions are immutable: read once
        self._evaluations: dict[int, dict[str, Any]] = {}
        self._calibrations: dict[int, dict[str, Any] | None] = {}
        self._explainers: dict[int, Explainer] = {}
        self._summary: ReferenceSummary | None = None
        self._summary_read = False
        self._summary_lock = threading.Lock()  # apart: the router calls reference() later
        self._lock = threading.Lock()
        self._log: PredictionLog | None = None
        self._router: Router | None = None
        self.scheduler: CommitScheduler | None = None  # set when pushing live data

    @classmethod
    def create(cls, app_dir: str | Path, env: Mapping[str, str] | None = None, *,
               clock: Callable[[], float] = time.monotonic) -> AppContext:
        """Build the context from params and the environment (see ``docs/app.md``)."""
        env = os.environ if env is None else env
        params = load_app_params(app_dir, env)
        from mlops.registry import open_registry

        registry = open_registry(params.registry, params.root)
        schema = request_schema(params)  # id and dropped columns are no request input
        log_path = Path(env.get("MLOPS_LOG_PATH") or params.resolve(params.monitoring.log_path))
        ctx = cls(params, registry, schema, log_path, clock=clock)
        if env.get("MLOPS_DATASET_REPO"):
            from mlops.space.logpush import start_push

            ctx.scheduler = start_push(log_path, env["MLOPS_DATASET_REPO"])
        return ctx

    # ------------------------------------------------------------------ reading
    def status(self, *, fresh: bool = False) -> ServingStatus:
        """What is serving now (re-read at most every ``ALIAS_TTL_SECONDS``)."""
        if fresh:
            self._status.clear()
        return self._status.get("status", lambda: serving_status(self.registry, self.name))

    def invalidate(self) -> None:
        """Forget cached aliases and routing now (after the app itself changed them)."""
        self._status.clear()
        if self._router is not None:
            self._router.refresh()

    def model(self, version: int) -> Any:
        """The loaded model of ``version`` (verified once, then kept: versions never change).

        The router's copy when it serves that version: one load per process, not two.
        """
        with self._lock:
            if version not in self._models:
                served = self._router.loaded_pipeline(version) if self._router else None
                self._models[version] = (served if served is not None
                                         else self.registry.load_model(self.name, version))
            return self._models[version]

    def version_info(self, version: int) -> ModelVersion:
        """The :class:`ModelVersion` record of ``version`` (read once: versions never change)."""
        if version not in self._records:
            self._records[version] = self.registry.get(self.name, version)
        return self._records[version]

    def evaluation(self, version: int) -> dict[str, Any]:
        """The version's ``evaluation.json`` (empty when it has none), read once."""
        if version not in self._evaluations:
            import json

            mv = self.version_info(version)
            data: dict[str, Any] = {}
            if "evaluation.json" in mv.files:
                path = self.registry.file_path(self.name, version, "evaluation.json")
                data = json.loads(path.read_text("utf-8"))
            self._evaluations[version] = data
        return self._evaluations[version]

    def calibration(self, version: int) -> dict[str, Any] | None:
        """The version's ``calibration.json``, hash-checked once and kept as the model is
        (:func:`~mlops.monitoring.monitor.stored_calibration`: withheld when changed), or
        None when it has none or is not in this registry."""
        if version not in self._calibrations:
            from mlops.monitoring.monitor import stored_calibration

            try:
                self._calibrations[version] = stored_calibration(self.registry, self.name,
                                                                 version)
            except NotFoundError:
                self._calibrations[version] = None
        return self._calibrations[version]

    @property
    def regression(self) -> bool:
        """True when the target is a number (``data.task: regression``)."""
        return bool(self.params.data.regression)

    def reference(self) -> ReferenceSummary | None:
        """What the app knows of the training data, read once: the production version's
        summary (``reference.json`` in the registry: typical values, drift profiles, never
        a row), else one made from ``data.path`` when the data is next to the app (a
        version registered before summaries existed), else None. A Space ships no data."""
        with self._summary_lock:
            if not self._summary_read:
                self._summary = self._read_reference()
                self._summary_read = True
            return self._summary

    def _read_reference(self) -> ReferenceSummary | None:
        from mlops.core.exceptions import MLOpsError
        from mlops.stages.reference import REFERENCE_FILE, read_reference, summarize_reference

        production = self.status().production
        try:
            if production is not None and REFERENCE_FILE in self.version_info(production).files:
                return read_reference(self.registry.file_path(self.name, production,
                                                              REFERENCE_FILE))
        except (OSError, MLOpsError) as exc:  # fall back on the data, if it is here
            import logging

            logging.getLogger(__name__).warning("reference summary of v%s unreadable: %s",
                                                production, exc)
        from mlops.core.data import load_split

        try:
            return summarize_reference(load_split(self.params).train, self.schema)
        except (OSError, DataError):
            return None

    def typical(self) -> dict[str, Any]:
        """Typical values of the serving columns from the training data (empty without)."""
        summary = self.reference()
        return {} if summary is None else dict(summary.typical)

    def explain(self, version: int, row: pd.DataFrame) -> Explanation:
        """Why ``version`` said what it said about ``row`` (the explainer is kept per version).

        DataError when there is no reference data to explain against.
        """
        with self._lock:
            explainer = self._explainers.get(version)
        if explainer is None:
            from mlops.stages.explain import BACKGROUND_ROWS, Explainer

            reference = self.reference()
            if reference is None:
                raise DataError("no reference summary in the registry and no data next to "
                                f"the app ({self.params.data.path}): explanations need one",
                                rule="reference")
            # Background rows drawn from each column's distribution: no training row. A
            # column the summary has no profile of (a date) takes the schema's typical value:
            # there the explanation compares with a typical case, as the form starts from one.
            background = reference.background(BACKGROUND_ROWS, seed=self.params.seed)
            columns = list(self.schema.serving_columns)
            missing = [c for c in columns if c not in background.columns]
            if any(self.schema.by_name[c].typical is None for c in missing):
                raise DataError(f"no typical value of {missing} in the schema to compare "
                                "with: add `typical:` to those columns of the schema",
                                column=missing[0], rule="reference")
            background = background.assign(
                **{c: self.schema.by_name[c].typical for c in missing})[columns]
            explainer = Explainer(self.model(version), background,
                                  positive_class=self.params.data.positive_class,
                                  seed=self.params.seed)
            with self._lock:
                self._explainers[version] = explainer
        return explainer.explain(row)

    # ------------------------------------------------------------------ predicting
    @property
    def log(self) -> PredictionLog:
        """The prediction log (opened on first use, so a read-only visit creates nothing)."""
        with self._lock:
            return self._log_locked()

    def _log_locked(self) -> PredictionLog:
        if self._log is None:
            from mlops.serving.predlog import PredictionLog

            self._log = PredictionLog(self.log_path)
        return self._log

    @property
    def router(self) -> Router:
        """The serving router (canary, shadow, blue-green), built on first use.

        Built lazily so that a first page view does not wait for a model load.
        """
        with self._lock:
            if self._router is None:
                from mlops.serving.router import Router

                log = self._log_locked()
                self._router = Router(self.registry, self.name, self.schema, log,
                                      positive_class=self.params.data.positive_class,
                                      refresh_seconds=ALIAS_TTL_SECONDS,
                                      task=self.params.data.task,
                                      reference=self.reference)
            return self._router

    def predict(self, frame: pd.DataFrame | CheckedBatch, *, version: int | None,
                session_key: str) -> ScoredRequest:
        """Score rows through the router, or with a pinned ``version``; log them. A
        :class:`~mlops.serving.request_check.CheckedBatch` (an upload or the form, already
        judged cell by cell) is not checked again.

        ``session_key`` is the routing key, so a canary keeps one browser session on one
        version. A pinned version (the read-only selector) is scored by the router with that
        version alone and logged with role ``pinned``: it is shown, but it is never
        production or canary traffic, so trying a version can never push it through a canary.
        """
        import pandas as pd

        from mlops.serving.request_check import CheckedBatch

        if len(frame) == 0:
            raise DataError("nothing to score: no rows", rule="empty")
        if version is None and self.status().production is None:
            raise NotFoundError(
                f"{self.name} has no production version yet; run `make pipeline` or "
                "promote a version in the operator view")
        result = self.router.predict_batch(frame, routing_keys=[session_key] * len(frame),
                                           version=version)
        rows = frame.frame if isinstance(frame, CheckedBatch) else frame
        ids = result["request_id"].tolist()
        predictions = pd.DataFrame(index=range(len(frame)))
        if self.regression:
            predictions["predicted_value"] = result["prediction"].to_numpy(dtype=float)
        else:
            predictions["predicted_class"] = result["prediction"].to_numpy()
            # Two classes: the chance of the positive class; more: of the predicted one.
            binary = len(result.attrs["classes"]) == 2
            chance = result["proba"] if binary else result["confidence"]
            predictions["probability"] = chance.to_numpy().round(4)
        versions = result["version"].to_numpy()
        answered = int(versions[0])
        routed = {"candidate": "canary"}.get(result["variant"].iloc[0],
                                             result["variant"].iloc[0])
        # Prediction columns first: they are what a reader of the results looks for.
        scored = pd.concat([predictions.reset_index(drop=True),
                            rows.reset_index(drop=True)], axis=1)
        scored.insert(len(predictions.columns), "version", [int(v) for v in versions])
        scored.insert(0, "request_id", ids)
        return ScoredRequest(scored, answered, routed)

    def record_feedback(self, request_id: str, label: Any, *, token: str | None = None
                        ) -> bool:
        """Store the true outcome of a logged prediction; returns whether it is trusted.

        Anyone may send an outcome: it is stored and shown with source ``app:public``, but
        it is evidence for the automatic rules only when ``token`` is the operator token
        (source ``app:operator``). A public outcome never replaces a trusted one.
        """
        from mlops.app.auth import check_admin_token

        if label not in self.schema.labels and self.schema.labels:
            raise DataError(f"label {label!r} is not one of {list(self.schema.labels)}",
                            rule="label")
        trusted = check_admin_token(token)
        self.log.add_feedback({str(request_id): label},
                              source="app:operator" if trusted else "app:public",
                              trusted=trusted)
        self.log.flush()
        return trusted

    def close(self) -> None:
        """Flush and stop the log writer and the push scheduler."""
        if self._router is not None:
            self._router.close()  # finishes shadow work, closes the log
        elif self._log is not None:
            self._log.close()
        if self.scheduler is not None:
            self.scheduler.stop()

