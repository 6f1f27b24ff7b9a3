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
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops.core.exceptions import ConfigError
from mlops.core.imports import check_import_path
from mlops.core.names import SAFE_NAME
from mlops.core.typed_yaml import build_dataclass, parse_overrides, safe_load_yaml, set_dotted

__all__ = [
    "BaselineConfig",
    "DataConfig",
    "ModelConfig",
    "CHECK_UNITS",
    "DEFAULT_THRESHOLDS",
    "GRADES",
    "Thresholds",
    "BatchChecks",
    "TrainingChecks",
    "ValidationConfig",
    "EvaluationConfig",
    "RegistryConfig",
    "DeploymentConfig",
    "MonitoringConfig",
    "SpaceConfig",
    "Params",
    "load_params",
    "params_file",
    "runs_dir",
    "to_dict",
    "ENV_OVERRIDES",
    "PARAMS_ENV",
    "RUNS_DIR_ENV",
    "SAFE_NAME",
    "SHORT_ESTIMATORS",
]

# Environment variable -> the params key it replaces (see the module docstring).
ENV_OVERRIDES = {"MLOPS_REGISTRY_PATH": "registry.path", "MLOPS_LOG_PATH": "monitoring.log_path"}
RUNS_DIR_ENV = "MLOPS_RUNS_DIR"
PARAMS_ENV = "MLOPS_PARAMS"  # which model's params file the notebooks and the app work on

# The estimators named by a short name; any other is given by import path (``a.b.Class``).
# ``logistic_regression`` is for classification only and ``ridge`` for regression only; the
# other two name a classifier or a regressor, as ``data.task`` says.
SHORT_ESTIMATORS = ("logistic_regression", "hist_gradient_boosting", "random_forest", "ridge")
# What a hyperparameter may be: data, never an object that YAML or Python code built.
_PLAIN_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and what it means.

    ``task`` is ``classification`` (binary or multiclass, told apart by the number of
    classes) or ``regression`` (a numeric target; there are no classes, so
    ``positive_class`` and ``class_labels`` must be empty). ``positive_class`` may be null
    for a multiclass target (a binary one needs it).
    ``id_columns`` and ``drop_columns`` are never features; neither is any column outside
    the schema's ``serving_columns``. ``class_labels`` names the classes for people (the
    app shows ``1 (good)`` instead of a bare ``1``).
    """

    path: str
    target: str
    positive_class: int | str | None
    sensitive_features: tuple[str, ...]
    test_size: float
    schema: str
    id_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    class_labels: dict[str, str] = field(default_factory=dict)
    task: Literal["classification", "regression"] = "classification"
    unit: str = ""  # the target's unit (regression), shown next to predicted values
    # Train on a seeded uniform sample of this many rows of ``path`` (CSV or Parquet), read
    # in chunks: for data larger than memory. None reads the whole file.
    sample_rows: int | None = None

    @property
    def regression(self) -> bool:
        """True when the target is a number to predict, not a class."""
        return self.task == "regression"

    def __post_init__(self) -> None:
        if self.regression and (self.positive_class is not None or self.class_labels):
            raise ConfigError("data.task is regression: a numeric target has no classes; set "
                              "data.positive_class: null and data.class_labels: {}",
                              key="data.positive_class")
        if self.sample_rows is not None and self.sample_rows < 1:
            raise ConfigError(f"data.sample_rows is {self.sample_rows}; expected a positive "
                              "number of rows, or null to read the whole file",
                              key="data.sample_rows")
        for key in ("id_columns", "drop_columns"):
            if self.target in getattr(self, key):
                raise ConfigError(f"data.{key} lists the target {self.target!r}; the target "
                                  "is never a feature anyway, remove it", key=f"data.{key}")


@dataclass(frozen=True)
class ModelConfig:
    """Which estimator to train; ``hyperparameters`` holds one block per estimator.

    ``estimator`` is one of :data:`SHORT_ESTIMATORS` or the import path of a
    scikit-learn classifier or regressor, as ``data.task`` needs (``sklearn.svm.SVC``),
    under a prefix of the reviewed list (:mod:`mlops.core.imports`); its block is
    ``hyperparameters["sklearn.svm.SVC"]``. Hyperparameters are plain data. ``name`` is
    the registry's folder for the model: one safe path component (:data:`SAFE_NAME`).
    """

    name: str
    estimator: str
    hyperparameters: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not SAFE_NAME.fullmatch(self.name):
            raise ConfigError(
                f"'model.name' is {self.name!r}; the registry keeps a model in a folder of "
                "that name, so use letters, digits, '.', '_' or '-', starting with a letter "
                "or digit (no '/', no '..', at most 100 characters)", key="model.name")
        if self.estimator not in SHORT_ESTIMATORS:
            # Refused here, when params load, before any stage imports anything.
            check_import_path(self.estimator, key="model.estimator", hint=(
                f"use one of the short names {list(SHORT_ESTIMATORS)}"))
        for estimator, block in self.hyperparameters.items():
            key = f"model.hyperparameters.{estimator}"
            if not isinstance(block, Mapping):
                raise ConfigError(f"{key!r} is {block!r}; expected a mapping of "
                                  "hyperparameter names to values", key=key)
            for name, value in block.items():
                _plain(value, f"{key}.{name}")


def _plain(value: Any, key: str) -> None:
    """Refuse anything but plain data: numbers, strings, booleans, null, lists, mappings.

    Exact types, not subclasses: an object that merely behaves like a string is still an
    object that Python code built.
    """
    if type(value) in _PLAIN_SCALARS:
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _plain(item, f"{key}[{i}]")
        return
    if type(value) is dict:
        for k, item in value.items():
            _plain(k, f"{key} (a key)")
            _plain(item, f"{key}.{k}")
        return
    raise ConfigError(
        f"{key!r} is a {type(value).__module__}.{type(value).__qualname__} ({value!r:.80}); "
        "a hyperparameter must be plain data: a number, a string, true/false, null, or a "
        "list or mapping of these (quote a value that YAML reads as a date or a time)",
        key=key)


# Every validation check and what its thresholds measure: ``share`` of rows (0-1), a
# ``count`` of problems, or an effect size (``psi`` >= 0; ``score`` in [0, 1]).
CHECK_UNITS: dict[str, str] = {
    "schema": "count",            # missing or extra columns, columns of the wrong type
    "missing": "share",           # missing values in a column
    "constant": "count",          # a column that varied in the reference is constant
    "infinite": "share",          # inf / -inf in a numeric column
    "range": "share",             # outside the reference [min, max]
    "far_range": "share",         # beyond the reference range by more than its own spread
    "sign": "share",              # a sign the reference never had (negatives where min >= 0)
    "hard_bounds": "share",       # outside the schema's pinned bounds or allowed categories
    "unseen_category": "share",   # categories the reference never had
    "labels": "share",            # missing or unknown labels (when the data has labels)
    "duplicates": "share",        # exact duplicate rows (training data only)
    "drift_psi": "psi",           # numeric column drift (PSI), when also significant
    "drift_js": "score",          # categorical column drift (Jensen-Shannon), when significant
    "label_drift": "score",       # label distribution drift (Jensen-Shannon), when significant
    "drifted_share": "share",     # share of columns that drifted
    "leakage_auc": "score",       # best single-feature ROC-AUC (classification training data)
    "leakage_r2": "score",        # best single-feature R^2 (numeric target training data)
    "features": "count",          # fitted feature pipeline: finite, stable names, parity
}
GRADES = ("pass", "warn", "block")


@dataclass(frozen=True)
class Thresholds:
    """When one check warns and when it blocks.

    The check blocks when what it observes is above ``block`` and warns when it is above
    ``warn``; ``None`` never gives that grade, so ``{warn: 0}`` only ever warns and
    ``{block: 0}`` blocks on the first problem. ``off`` skips the check (no record).
    """

    warn: float | None = None
    block: float | None = None
    off: bool = False

    def grade(self, observed: float) -> str:
        """``pass``, ``warn`` or ``block`` for an observed value."""
        if self.off:
            return "pass"
        if self.block is not None and observed > self.block:
            return "block"
        if self.warn is not None and observed > self.warn:
            return "warn"
        return "pass"

    def flag(self, failed: bool) -> str:
        """The grade of a yes/no finding: the strictest grade this check can give."""
        if self.off or not failed:
            return "pass"
        return "block" if self.block is not None else "warn" if self.warn is not None \
            else "pass"


# Used for a check that params.yaml does not list; the bundled params.yaml lists them all.
DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "schema": Thresholds(block=0),
    "missing": Thresholds(warn=0.01, block=0.05),
    "constant": Thresholds(warn=0),
    "infinite": Thresholds(block=0),
    "range": Thresholds(warn=0.005, block=0.02),
    "far_range": Thresholds(warn=0, block=0.001),
    "sign": Thresholds(warn=0, block=0.001),
    "hard_bounds": Thresholds(block=0),
    "unseen_category": Thresholds(warn=0.01, block=0.10),
    "labels": Thresholds(block=0),
    "duplicates": Thresholds(warn=0.01),
    "drift_psi": Thresholds(warn=0.005, block=0.25),
    "drift_js": Thresholds(warn=0.01, block=0.2),
    "label_drift": Thresholds(warn=0.01, block=0.2),
    "drifted_share": Thresholds(block=0.3),
    "leakage_auc": Thresholds(warn=0.98),
    "leakage_r2": Thresholds(warn=0.95),
    "features": Thresholds(block=0),
}


@dataclass(frozen=True)
class BatchChecks:
    """Checks of a batch to score (``mlops validate --data``)."""

    min_rows: int = 30  # fewer rows block: too few to judge a distribution


@dataclass(frozen=True)
class TrainingChecks:
    """Checks of training data only; every one of them blocks."""

    min_rows: int = 100
    min_class_rows: int = 20  # classification: rows of every class
    min_class_share: float = 0.01  # classification: share of the rarest class


@dataclass(frozen=True)
class ValidationConfig:
    """Graded checks of the data validation gate.

    ``thresholds`` maps a check of :data:`CHECK_UNITS` to its :class:`Thresholds`
    (a mapping ``{warn, block, off}`` or ``off`` in YAML); checks it leaves out take
    :data:`DEFAULT_THRESHOLDS`. Values are checked here, and errors name the dotted key.
    """

    thresholds: dict[str, Any] = field(default_factory=dict)
    drift_alpha: float = 0.01  # family-wise, Holm-corrected over all columns
    batch: BatchChecks = field(default_factory=BatchChecks)
    training: TrainingChecks = field(default_factory=TrainingChecks)

    def __post_init__(self) -> None:
        merged = dict(DEFAULT_THRESHOLDS)
        for name, raw in self.thresholds.items():
            key = f"validation.thresholds.{name}"
            if name not in CHECK_UNITS:
                raise ConfigError(f"{key!r} is not a check; known checks: "
                                  f"{', '.join(CHECK_UNITS)}", key=key)
            merged[name] = _thresholds(raw, CHECK_UNITS[name], key)
        object.__setattr__(self, "thresholds", merged)
        _share(self.drift_alpha, "validation.drift_alpha", open_interval=True)
        for name in ("min_rows", "min_class_rows"):
            value = getattr(self.training, name)
            if value < 0:
                raise ConfigError(f"'validation.training.{name}' is {value}; expected a "
                                  "count >= 0", key=f"validation.training.{name}")
        if self.batch.min_rows < 0:
            raise ConfigError(f"'validation.batch.min_rows' is {self.batch.min_rows}; "
                              "expected a count >= 0", key="validation.batch.min_rows")
        _share(self.training.min_class_share, "validation.training.min_class_share")

    def limits(self, check: str) -> Thresholds:
        """The thresholds of ``check``."""
        return self.thresholds[check]

    def on(self, check: str) -> bool:
        """False when ``check`` is switched off."""
        return not self.thresholds[check].off

    # Drift settings as the drift functions take them (the monitor uses these too).
    @property
    def drift_min_psi(self) -> float:
        """Effect floor for numeric drift: the ``drift_psi`` warn (else block) threshold."""
        return _first(self.thresholds["drift_psi"], "warn", "block")

    @property
    def drift_min_js(self) -> float:
        """Effect floor for categorical drift: the ``drift_js`` warn (else block) threshold."""
        return _first(self.thresholds["drift_js"], "warn", "block")

    @property
    def max_drifted_share(self) -> float:
        """Share of drifted columns above which the data set has drifted."""
        return _first(self.thresholds["drifted_share"], "block", "warn")


def _first(t: Thresholds, *grades: str) -> float:
    """The first set threshold among ``grades``; infinity when none is (never fires)."""
    values = [getattr(t, g) for g in grades if getattr(t, g) is not None]
    return math.inf if t.off or not values else values[0]


def _share(value: float, key: str, *, open_interval: bool = False) -> None:
    ok = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not ok:
        bounds = "between 0 and 1 (exclusive)" if open_interval else "a share in [0, 1]"
        raise ConfigError(f"{key!r} is {value}; expected {bounds}", key=key)


def _thresholds(raw: Any, unit: str, key: str) -> Thresholds:
    """A :class:`Thresholds` from YAML (a mapping, ``off``) or an instance; checked."""
    if isinstance(raw, Thresholds):
        values = dataclasses.asdict(raw)
    elif raw is False or raw == "off":  # YAML 1.1 reads an unquoted `off` as False
        return Thresholds(off=True)
    elif isinstance(raw, Mapping):
        unknown = sorted(set(raw) - {"warn", "block", "off"})
        if unknown:
            raise ConfigError(f"unknown key {f'{key}.{unknown[0]}'!r} (known: block, off, "
                              "warn)", key=f"{key}.{unknown[0]}")
        values = dict(raw)
    else:
        raise ConfigError(f"{key!r} is {raw!r}; expected {{warn: x, block: y}} or off",
                          key=key)
    off = values.get("off", False)
    if not isinstance(off, bool):
        raise ConfigError(f"'{key}.off' is {off!r}; expected true or false", key=f"{key}.off")
    checked: dict[str, float | None] = {}
    for grade in ("warn", "block"):
        value, where = values.get(grade), f"{key}.{grade}"
        if value is None:
            checked[grade] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ConfigError(f"{where!r} is {value!r}; expected a number or null", key=where)
        if unit in ("share", "score"):
            _share(float(value), where)
        elif value < 0:
            raise ConfigError(f"{where!r} is {value}; expected a value >= 0", key=where)
        checked[grade] = float(value)
    warn, block = checked["warn"], checked["block"]
    if warn is not None and block is not None and warn > block:
        raise ConfigError(f"'{key}': warn {warn:g} is above block {block:g}; a check must "
                          "warn before it blocks (warn <= block)", key=key)
    return Thresholds(warn, block, off)


@dataclass(frozen=True)
class BaselineConfig:
    """The trivial model to beat: scikit-learn's ``DummyClassifier`` or ``DummyRegressor``.

    Classification: ``most_frequent`` for accuracy and F1, ``prior`` (the class shares) for
    ROC-AUC and Brier. Regression: the training median for MAE and MAPE, the mean for RMSE
    and R². ``metric`` null means ROC-AUC for classification and R² for regression (both
    free of the target's scale, so the default ``margin`` fits any data); the model must
    be better by ``margin``.
    """

    metric: Literal["accuracy", "f1", "roc_auc", "brier", "mae", "rmse", "r2", "mape"] | None \
        = None
    margin: float = 0.02

    def metric_for(self, regression: bool) -> str:
        """``metric``, or the default of the task when it is null."""
        return self.metric or ("r2" if regression else "roc_auc")


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
    # Keep each version's training data in the registry, once per content hash, so that
    # `mlops reproduce` works after the working data changed. Turn it off for data that
    # must not leave its home, and say why: the version records the reason.
    snapshot_data: bool = True
    no_snapshot_reason: str = ""
    # Where the first version whose gates pass goes: production, or candidate when a person
    # must review it first (mlops init writes candidate when it found a warning).
    first_alias: Literal["production", "candidate"] = "production"


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
    # Regression: how far live MAE may rise above the reference (share, 0.2 = 20 %).
    max_mae_rise: float = 0.2


@dataclass(frozen=True)
class SpaceConfig:
    """The Hugging Face Space's README front matter (``mlops space build``); optional.

    ``models`` and ``datasets`` list Hub repo ids (``owner/name``) the Space page links to;
    left empty they are the registry's model repo (``--repo-id``) and the dataset repo the
    app pushes its prediction log to (``--dataset-repo``).
    """

    license: str = "mit"
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()


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
    space: SpaceConfig = field(default_factory=SpaceConfig)
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
        raw = safe_load_yaml(path.read_text(encoding="utf-8"))
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
        set_dotted(raw, key, value, path)
    try:
        params = build_dataclass(Params, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", file=str(path), **exc.fields) from None
    return dataclasses.replace(params, root=str(path.resolve().parent))


def params_file(default: str | Path = "params.yaml") -> Path:
    """The params file to work on: ``MLOPS_PARAMS`` when it is set (another model of the
    repository, as for the app), else ``default``."""
    return Path(os.environ.get(PARAMS_ENV) or default)


def runs_dir(default: str | Path = "runs") -> Path:
    """Where run folders go: ``MLOPS_RUNS_DIR`` when it is set, else ``default``."""
    return Path(os.environ.get(RUNS_DIR_ENV) or default)


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
