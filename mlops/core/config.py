"""Typed, frozen parameters loaded from ``params.yaml``: the single source of truth.

``load_params`` reads the file, applies ``key.path=value`` overrides, and builds frozen
dataclasses. Unknown keys, missing keys and wrong types fail at once with the key's
dotted name. Secrets never live here: they come from the environment.

Where the project keeps its state can be moved without editing the file, so that tests,
benchmarks and Spaces point the same params somewhere else: ``MLOPS_REGISTRY_PATH`` replaces
``registry.path`` and ``MLOPS_LOG_PATH`` replaces ``monitoring.log_path`` (relative to the
params file's folder, or absolute); an explicit override of the same key still wins.
``MLOPS_RUNS_DIR`` is where run folders go by default (:func:`runs_dir`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops.core.exceptions import ConfigError

__all__ = [
    "BaselineConfig",
    "DataConfig",
    "ModelConfig",
    "ValidationConfig",
    "EvaluationConfig",
    "RegistryConfig",
    "DeploymentConfig",
    "MonitoringConfig",
    "Params",
    "load_params",
    "parse_overrides",
    "runs_dir",
    "to_dict",
    "ENV_OVERRIDES",
    "RUNS_DIR_ENV",
    "SHORT_ESTIMATORS",
]

# Environment variable -> the params key it replaces (see the module docstring).
ENV_OVERRIDES = {"MLOPS_REGISTRY_PATH": "registry.path", "MLOPS_LOG_PATH": "monitoring.log_path"}
RUNS_DIR_ENV = "MLOPS_RUNS_DIR"

Severity = Literal["blocking", "warning", "off"]
# The estimators named by a short name; any other is given by import path (``a.b.Class``).
SHORT_ESTIMATORS = ("logistic_regression", "hist_gradient_boosting", "random_forest")
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and what it means.

    ``positive_class`` may be null for a multiclass target (a binary one needs it).
    ``id_columns`` and ``drop_columns`` are never features; neither is any column outside
    the schema's ``serving_columns``.
    """

    path: str
    target: str
    positive_class: int | str | None
    sensitive_features: tuple[str, ...]
    test_size: float
    schema: str
    id_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in ("id_columns", "drop_columns"):
            if self.target in getattr(self, key):
                raise ConfigError(f"data.{key} lists the target {self.target!r}; the target "
                                  "is never a feature anyway, remove it", key=f"data.{key}")


@dataclass(frozen=True)
class ModelConfig:
    """Which estimator to train; ``hyperparameters`` holds one block per estimator.

    ``estimator`` is one of :data:`SHORT_ESTIMATORS` or the import path of any
    scikit-learn-compatible classifier (``sklearn.svm.SVC``), whose block is
    ``hyperparameters["sklearn.svm.SVC"]``.
    """

    name: str
    estimator: str
    hyperparameters: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        if self.estimator not in SHORT_ESTIMATORS and not _IMPORT_PATH.fullmatch(
                self.estimator):
            raise ConfigError(
                f"'model.estimator' is {self.estimator!r}; expected one of "
                f"{list(SHORT_ESTIMATORS)} or the import path of a scikit-learn classifier "
                "such as sklearn.svm.SVC", key="model.estimator")


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds and severities of the data validation gate."""

    severity: dict[str, Severity]
    max_missing_share: float
    max_unseen_category_share: float
    max_duplicate_share: float
    drift_alpha: float
    drift_min_psi: float
    drift_min_js: float
    max_drifted_share: float


@dataclass(frozen=True)
class BaselineConfig:
    """The trivial model to beat: scikit-learn's ``DummyClassifier`` on ``metric``.

    ``most_frequent`` for accuracy and F1, ``prior`` (the class shares) for ROC-AUC and
    Brier; the model must be better by ``margin``.
    """

    metric: Literal["accuracy", "f1", "roc_auc", "brier"] = "roc_auc"
    margin: float = 0.02


@dataclass(frozen=True)
class EvaluationConfig:
    """Gate thresholds (``gates``), the baseline, fairness and behavioural settings.

    ``group_bins`` cuts a numeric sensitive column into half-open bands ``[lo, hi)``;
    fairness groups with fewer than ``min_group_size`` held-out rows are reported but never
    decide a gate.
    """

    gates: dict[str, float]
    bootstrap_samples: int
    champion_tolerance: float
    top_features: int
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    group_bins: dict[str, tuple[float, ...]] = field(default_factory=dict)
    min_group_size: int = 30
    invariance: tuple[str, ...] = ()
    directional: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryConfig:
    """Where models are registered; ``backend`` is ``local`` or ``hub``."""

    backend: Literal["local", "hub"]
    path: str
    hub_repo_id: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class DeploymentConfig:
    """How a new production candidate is released."""

    strategy: Literal["direct", "blue_green", "canary", "shadow"]
    canary_steps: tuple[int, ...]
    min_samples_per_step: int
    min_bake_seconds: float
    shadow_sample_share: float
    # Seconds a router trusts its cached deployment state before re-reading the registry.
    refresh_seconds: float = 2.0


@dataclass(frozen=True)
class MonitoringConfig:
    """Prediction log and automatic rollback rules."""

    log_path: str
    min_labelled: int
    accuracy_floor: float
    max_accuracy_drop: float
    significance: float
    max_error_rate: float
    max_p99_latency_ms: float
    cooldown_seconds: float
    # Requests a version needs before the error-rate and latency rules judge it.
    min_samples: int = 100


@dataclass(frozen=True)
class Params:
    """Everything in ``params.yaml``."""

    seed: int
    data: DataConfig
    model: ModelConfig
    validation: ValidationConfig
    evaluation: EvaluationConfig
    registry: RegistryConfig
    deployment: DeploymentConfig
    monitoring: MonitoringConfig
    # Folder of the params file: relative paths in it resolve against this, not the cwd.
    root: str = field(default=".", metadata={"yaml": False})

    def resolve(self, path: str | Path) -> Path:
        """``path`` made absolute against the params file's folder."""
        return (Path(self.root) / path).resolve()

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Hyperparameters of the chosen estimator."""
        return dict(self.model.hyperparameters.get(self.model.estimator, {}))


def load_params(path: str | Path = "params.yaml", overrides: Iterable[str] = ()) -> Params:
    """Load ``path``, apply ``key.path=value`` overrides and return frozen :class:`Params`.

    Precedence, lowest first: the file, the environment (:data:`ENV_OVERRIDES`), the
    overrides.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found", file=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", file=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", file=str(path))
    given = parse_overrides(overrides)
    for var, key in ENV_OVERRIDES.items():
        section, leaf = key.split(".")
        # A missing section is reported by _build below, as the file's mistake.
        if os.environ.get(var) and key not in given and isinstance(raw.get(section), dict):
            raw[section][leaf] = os.environ[var]
    for key, value in given.items():
        _set_dotted(raw, key, value, path)
    try:
        params = _build(Params, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", file=str(path), **exc.fields) from None
    return dataclasses.replace(params, root=str(path.resolve().parent))


def runs_dir(default: str | Path = "runs") -> Path:
    """Where run folders go: ``MLOPS_RUNS_DIR`` when it is set, else ``default``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or default)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["model.estimator=random_forest", "seed=7"]`` into a dict; values are YAML."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key.path=value", key=item)
        try:
            result[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
    return result


def to_dict(params: Params) -> dict[str, Any]:
    """Plain, YAML/JSON-friendly dict of ``params`` (tuples become lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data = plain(dataclasses.asdict(params))
    data.pop("root")
    return data


def _set_dotted(raw: dict[str, Any], key: str, value: Any, path: Path) -> None:
    """Set ``key`` in ``raw``. A section whose own name has dots (the hyperparameters of
    ``sklearn.svm.SVC``) is matched whole: the longest existing name wins."""
    node = raw
    *parents, leaf = key.split(".")
    i = 0
    while i < len(parents):
        for j in range(len(parents), i, -1):
            child = node.get(".".join(parents[i:j]))
            if isinstance(child, dict):
                node, i = child, j
                break
        else:
            where = ".".join(parents[: i + 1])
            raise ConfigError(f"override {key!r}: {where!r} is not a section of {path}", key=key)
    node[leaf] = value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'top level'}: expected a mapping", key=prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        name = f"{prefix}{unknown[0]}"
        raise ConfigError(
            f"unknown key {name!r} (known: {', '.join(sorted(fields))})", key=name
        )
    values = {}
    for name, f in fields.items():
        dotted = f"{prefix}{name}"
        if name not in raw:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing key {dotted!r}", key=dotted)
        values[name] = _coerce(hints[name], raw[name], dotted)
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".")
    if tp is Any:
        return value
    if origin is Literal:
        if value is False and "off" in args:  # YAML 1.1 reads an unquoted `off` as False
            value = "off"
        if value not in args:
            raise ConfigError(f"{key!r} is {value!r}; expected one of {list(args)}", key=key)
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key!r} is {value!r}; expected {_describe(tp)}", key=key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key!r} is {value!r}; expected a list", key=key)
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key!r} is {value!r}; expected a mapping", key=key)
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key!r} is {value!r}; expected {_describe(tp)}", key=key)


def _describe(tp: Any) -> str:
    args = typing.get_args(tp)
    if args:
        return " or ".join(_describe(a) for a in args)
    return getattr(tp, "__name__", str(tp))
