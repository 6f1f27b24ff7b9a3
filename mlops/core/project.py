"""Starting from your own data: what ``mlops init`` infers and the params file it writes.

:func:`plan_project` reads a CSV and decides what it can (the task, the positive class, a
model name, gate thresholds that fit the task) and what it can only suggest (sensitive
features, identifier columns): suggestions go into the file as comments for a person to
confirm. It also warns (:class:`Hint`) about columns that make a dangerous first model:
many distinct text values, dates stored as text, and (found by the caller with the
validation stage's leakage check) a column that alone predicts the target almost
perfectly. With such a warning the params file says ``registry.first_alias: candidate``
and lists the warnings: the first version waits for a person instead of going straight
to production. Small data gets the blocking training checks relaxed to what it has, with a
note saying which and why. :func:`render_params` writes the ``data``, ``model`` and
``evaluation`` sections and copies every other section from a template params file, so a
change to those sections (validation, registry, deployment, monitoring) needs no change
here beyond the keys init sets in them (``registry.first_alias``, the relaxed limits).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlops.core.data import INDEX_COLUMN
from mlops.core.exceptions import ConfigError, DataError
from mlops.core.names import SAFE_NAME
from mlops.core.schema import is_number

__all__ = [
    "FREQUENT_ROWS",
    "HIGH_CARDINALITY",
    "ID_NAMES",
    "MAX_NUMERIC_CLASSES",
    "SENSITIVE_NAMES",
    "TASKS",
    "Hint",
    "ProjectPlan",
    "detect_task",
    "leak_hint",
    "model_name",
    "plan_project",
    "positive_class",
    "init_project",
    "relax_training_checks",
    "render_params",
    "suggest_date_columns",
    "suggest_high_cardinality",
    "suggest_id_columns",
    "suggest_sensitive",
]

TASKS = ("auto", "binary", "multiclass", "regression")
# A numeric target with more distinct values than this looks like a quantity, not classes.
MAX_NUMERIC_CLASSES = 20
# A text target with more classes than this is more likely the wrong column.
MAX_TEXT_CLASSES = 100
# Demographic attribute names: a column whose name holds one as a word is suggested as a
# sensitive feature (never chosen: a person confirms).
SENSITIVE_NAMES = frozenset({
    "sex", "gender", "age", "race", "ethnicity", "ethnic", "nationality", "religion",
    "marital", "disability",
})
# Words that name an identifier column.
ID_NAMES = frozenset({"id", "uuid", "guid", "index", "unnamed"})
_NAME = SAFE_NAME  # a registry model name
_COMMENT_COLUMN = 33  # where comments start, as in the bundled params.yaml
_OWN_SECTIONS = ("seed", "data", "model", "evaluation")
# The repository's own params file: the template for the sections init does not write.
_REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
_DEFAULT_HYPERPARAMETERS = {
    "logistic_regression": {"C": 1.0, "max_iter": 1000},
    "hist_gradient_boosting": {"learning_rate": 0.05, "max_iter": 200, "max_leaf_nodes": 15},
    "random_forest": {"n_estimators": 200, "max_depth": 8, "min_samples_leaf": 5},
}
# Short names that name a classifier only, and the regressor blocks init adds.
_CLASSIFIER_ONLY = ("logistic_regression",)
_REGRESSOR_HYPERPARAMETERS = {"ridge": {"alpha": 1.0}}
# Regression gate: share of the target's variance the model must explain (R²).
_MIN_R2 = 0.1
# A text column with more frequent values than this loses most of them to the feature
# stage's "infrequent" group (its MAX_CATEGORIES, which a test keeps equal).
HIGH_CARDINALITY = 50
# Rows a value needs to get its own one-hot column (as the feature stage's min_frequency
# was when this was written; a hint, so it need not follow every change there).
FREQUENT_ROWS = 5
# Share of a text column's values that must read as dates for it to look like a date.
_DATE_SHARE = 0.95
_DATE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
    r"|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?")
# The blocking training checks (validation.training) and their defaults.
_TRAINING_DEFAULTS = {"min_rows": 100, "min_class_rows": 20, "min_class_share": 0.01}


@dataclass(frozen=True)
class Hint:
    """A warning of ``mlops init`` about one column: what it found and what to do.

    ``kind`` is ``leak`` (alone predicts the target almost perfectly),
    ``high_cardinality`` (many distinct text values) or ``date`` (dates stored as text).
    """

    kind: str
    column: str
    message: str


@dataclass(frozen=True)
class ProjectPlan:
    """What ``mlops init`` found out about a data set, before anything is written."""

    data_path: str  # relative to the params file's folder
    schema_path: str  # likewise
    target: str
    task: str
    classes: tuple[Any, ...]
    counts: tuple[int, ...]  # rows per class, in ``classes`` order
    positive_class: Any
    positive_reason: str
    name: str
    rows: int
    sensitive: tuple[str, ...]  # suggested, not chosen
    id_columns: tuple[tuple[str, str], ...]  # suggested: (column, why)
    max_brier: float
    prior_brier: float
    bins: dict[str, list[float]]  # suggested bands of numeric sensitive columns
    # Regression: the target's range and the MAE of always predicting its median.
    value_range: tuple[float, float] | None = None
    median_mae: float | None = None
    # Warnings that keep the first version a candidate; relaxed training checks
    # (key under validation.training, default, written value, why); the pandas index.
    hints: tuple[Hint, ...] = ()
    relaxed: tuple[tuple[str, float, float, str], ...] = ()
    index_column: str | None = None

    @property
    def first_alias(self) -> str:
        """``candidate`` when a warning needs a person's review first, else ``production``."""
        return "candidate" if self.hints else "production"

    @property
    def regression(self) -> bool:
        """True for a numeric target to predict."""
        return self.task == "regression"


def detect_task(labels: pd.Series, requested: str = "auto") -> str:
    """``binary``, ``multiclass`` or ``regression`` for the target values ``labels``.

    ``auto`` decides from the values: two classes are binary; a numeric target with
    fractions, or with more than :data:`MAX_NUMERIC_CLASSES` values, is regression;
    otherwise multiclass.
    """
    if requested not in TASKS:
        raise ConfigError(f"--task {requested!r}: expected one of {list(TASKS)}", key="task")
    name = str(labels.name)
    values = labels.dropna()
    n = values.nunique()
    numeric = is_number(values)
    if requested == "regression":
        if not numeric:
            raise DataError(f"--task regression: target {name!r} is not numeric (for "
                            f"example {values.iloc[0]!r}); a regression target is a number. "
                            "Use --task auto for classes", column=name, rule="labels")
        if n < 2:
            raise DataError(f"target {name!r} has {n} distinct value(s); there is nothing to "
                            "predict", column=name, rule="labels")
        return "regression"
    if n < 2:
        raise DataError(f"target {name!r} has {n} distinct value(s); a classifier needs at "
                        "least two classes", column=name, rule="labels")
    fractional = numeric and not bool((values == values.round()).all())
    if requested == "binary":
        if n != 2:
            raise DataError(f"--task binary: target {name!r} has {n} classes, not 2; use "
                            "--task multiclass or auto", column=name, rule="labels")
        return "binary"
    if requested == "multiclass":
        if n == 2:
            raise DataError(f"--task multiclass: target {name!r} has 2 classes; that is "
                            "--task binary", column=name, rule="labels")
        return "multiclass"
    if fractional or (numeric and n > MAX_NUMERIC_CLASSES):
        return "regression"
    if not numeric and n > MAX_TEXT_CLASSES:
        raise DataError(f"target {name!r} has {n} distinct values in {len(values)} rows: is "
                        "it the right column? Pass --task multiclass to use it anyway",
                        column=name, rule="labels")
    return "binary" if n == 2 else "multiclass"


def positive_class(labels: pd.Series) -> tuple[Any, str]:
    """The minority class of a binary target (the larger label on a tie), and why."""
    counts = labels.dropna().value_counts()
    ordered = sorted(counts.index, key=lambda v: (counts[v], _sort_key(v)))
    low, high = ordered[0], ordered[-1]
    total = int(counts.sum())
    if counts[low] == counts[high]:
        return _plain(high), f"the larger label: both classes have {int(counts[high])} rows"
    return _plain(low), f"the minority class: {int(counts[low])} of {total} rows"


def suggest_sensitive(frame: pd.DataFrame, target: str) -> list[str]:
    """Columns whose name holds a demographic attribute as a word (``age_group``,
    ``Gender``), for a person to confirm as ``data.sensitive_features``."""
    return [c for c in frame.columns if c != target and _words(c) & SENSITIVE_NAMES]


def suggest_id_columns(frame: pd.DataFrame, target: str) -> list[tuple[str, str]]:
    """``(column, why)`` for columns that look like identifiers rather than features: named
    like one (``customer_id``, ``Unnamed: 0``) or an integer or text value unique per row.
    The pandas index (:data:`~mlops.core.data.INDEX_COLUMN`) is not suggested: it is taken."""
    found = []
    for column in frame.columns:
        if column in (target, INDEX_COLUMN):
            continue
        values = frame[column]
        integral = pd.api.types.is_integer_dtype(values) or (
            not is_number(values) and not pd.api.types.is_bool_dtype(values))
        unique = len(frame) > 1 and values.notna().all() and values.nunique() == len(frame)
        why = [w for w, hit in (("named like an identifier", bool(_words(column) & ID_NAMES)),
                                ("a different value in every row", unique and integral)) if hit]
        if why:
            found.append((column, " and ".join(why)))
    return found


def suggest_high_cardinality(frame: pd.DataFrame, target: str,
                             skip: Sequence[str] = ()) -> list[Hint]:
    """A hint per text column with more than :data:`HIGH_CARDINALITY` values seen at least
    :data:`FREQUENT_ROWS` times: the model keeps only the most frequent ones apart, which
    is seldom what a column of ids or timestamps means (``skip``: columns already suggested
    as identifiers)."""
    hints = []
    for column in frame.columns:
        values = frame[column]
        if column == target or column in skip or is_number(values) \
                or pd.api.types.is_bool_dtype(values):
            continue
        counts = values.value_counts()
        frequent = int((counts >= FREQUENT_ROWS).sum())
        if frequent > HIGH_CARDINALITY:
            hints.append(Hint("high_cardinality", str(column),
                              f"{column!r} has {len(counts):,} distinct text values: the model "
                              f"keeps the {HIGH_CARDINALITY - 1} most frequent apart and groups "
                              f"the other {len(counts) - HIGH_CARDINALITY + 1:,} as one; if it "
                              "identifies a row, a unit or a time, list it in "
                              "data.drop_columns or make features of it (docs/features.md)"))
    return hints


def suggest_date_columns(frame: pd.DataFrame, target: str) -> list[Hint]:
    """A hint per text column whose values read as dates (``2024-05-01``, ``1/5/2024``,
    ``2024-05-01 13:00``): as text, every date is a category of its own."""
    hints = []
    for column in frame.columns:
        values = frame[column].dropna()
        if column == target or values.empty or is_number(values) \
                or pd.api.types.is_bool_dtype(values):
            continue
        sample = values.astype(str).str.strip().head(1000)
        dates = sample[sample.str.fullmatch(_DATE)]
        parsed = pd.to_datetime(dates, errors="coerce", format="mixed").notna().sum()
        if parsed >= _DATE_SHARE * len(sample):
            hints.append(Hint("date", str(column),
                              f"{column!r} holds dates as text (e.g. {sample.iloc[0]!r}): "
                              "as text, every date is its own value. Turn it into numbers "
                              "(year, month, day of year, weekday) in the training notebook's "
                              f"add_features cell with date_parts(frame, {str(column)!r}) "
                              "(docs/features.md; ISO dates such as 2024-05-01 also get the "
                              "schema's date type), or list it in data.drop_columns"))
    return hints


def leak_hint(column: str, target: str, measure: str, score: float) -> Hint:
    """The warning for a column that alone predicts ``target`` with ``score`` (a
    single-feature ROC-AUC or R², from the validation stage's leakage check)."""
    return Hint("leak", column,
                f"{column!r} alone predicts {target!r} with {measure} {score:.3f}: is "
                f"{column!r} known at prediction time? If it is recorded after the outcome "
                "(or derived from it), list it in data.drop_columns")


def relax_training_checks(counts: Sequence[int], rows: int,
                          defaults: Mapping[str, Any] | None = None
                          ) -> tuple[tuple[str, float, float, str], ...]:
    """The blocking training checks (``validation.training``) that this data would fail
    with ``defaults``, lowered to what the data has: ``(key, default, value, why)``.

    ``counts`` are rows per class (empty for a numeric target). Small data can still train
    a first model; the note in the params file says more data is the real fix.
    """
    limits = {**_TRAINING_DEFAULTS, **(defaults or {})}
    relaxed = []
    if rows < limits["min_rows"]:
        relaxed.append(("min_rows", limits["min_rows"], rows,
                        f"the data has {rows} rows"))
    if counts:
        rarest, total = min(counts), sum(counts)
        if rarest < limits["min_class_rows"]:
            relaxed.append(("min_class_rows", limits["min_class_rows"], rarest,
                            f"the rarest class has {rarest} rows"))
        share = math.floor(rarest / total * 10_000) / 10_000
        if share < limits["min_class_share"]:
            relaxed.append(("min_class_share", limits["min_class_share"], share,
                            f"the rarest class is {rarest} of {total} rows"))
    return tuple(relaxed)


def model_name(data_path: str | Path, name: str | None = None) -> str:
    """``name`` if it is a valid registry name, else the data file's name made into one."""
    if name is not None:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"--name {name!r}: use letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit", key="model.name")
        return name
    slug = re.sub(r"[^a-z0-9._-]+", "-", Path(data_path).stem.lower()).strip("-._")
    return slug[:100] or "model"


def plan_project(frame: pd.DataFrame, *, data_path: str, schema_path: str, target: str,
                 task: str = "auto", name: str | None = None) -> ProjectPlan:
    """Everything ``mlops init`` decides or suggests for ``frame`` (the whole data set).

    ``data_path`` and ``schema_path`` are written as given (relative to the params file).
    """
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data; columns are "
                        f"{list(frame.columns)}", column=target, rule="target")
    labels = frame[target]
    chosen = detect_task(labels, task)
    sensitive = tuple(suggest_sensitive(frame, target))
    bins = {c: _quartile_edges(frame[c]) for c in sensitive
            if is_number(frame[c]) and frame[c].nunique() > 10}
    ids = tuple(suggest_id_columns(frame, target))
    index = INDEX_COLUMN if INDEX_COLUMN in frame.columns and target != INDEX_COLUMN else None
    hints = (*suggest_high_cardinality(frame, target, [c for c, _ in ids]),
             *suggest_date_columns(frame, target))
    if chosen == "regression":
        values = labels.dropna().astype(float)
        return ProjectPlan(
            data_path=data_path, schema_path=schema_path, target=target, task=chosen,
            classes=(), counts=(), positive_class=None, positive_reason="",
            name=model_name(data_path, name), rows=len(frame), sensitive=sensitive,
            id_columns=ids, max_brier=0.0, prior_brier=0.0, bins=bins,
            value_range=(float(values.min()), float(values.max())),
            median_mae=float((values - values.median()).abs().mean()), hints=hints,
            index_column=index)
    counts = {_plain(k): int(v) for k, v in labels.dropna().value_counts().items()}
    classes = tuple(sorted(counts, key=_sort_key))
    rare = [c for c in classes if counts[c] < 2]
    if rare:
        raise DataError(f"target {target!r}: classes {rare} have a single row; the split is "
                        "stratified by class, so every class needs at least two rows (more "
                        "to learn anything)", column=target, rule="labels")
    positive, why = positive_class(labels) if chosen == "binary" else (None, "")
    if isinstance(positive, bool):  # params hold an int or a string: "True" matches True
        positive = str(positive)
    elif isinstance(positive, float) and positive.is_integer():  # 1.0 matches 1
        positive = int(positive)
    total = sum(counts.values())
    prior_brier = (1.0 - sum((n / total) ** 2 for n in counts.values())) / 2.0
    return ProjectPlan(
        data_path=data_path, schema_path=schema_path, target=target, task=chosen,
        classes=classes, counts=tuple(counts[c] for c in classes),
        positive_class=positive, positive_reason=why, name=model_name(data_path, name),
        rows=len(frame), sensitive=sensitive, id_columns=ids,
        max_brier=_round_up(prior_brier, 3), prior_brier=prior_brier, bins=bins,
        hints=hints, index_column=index,
    )


def render_params(plan: ProjectPlan, template: str) -> str:
    """The params file for ``plan``: its own ``seed``, ``data``, ``model`` and ``evaluation``
    sections, and every other top-level section copied from ``template`` (YAML text)."""
    raw = yaml.safe_load(template) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("the template params file is not a YAML mapping", key="template")
    hyper = (raw.get("model") or {}).get("hyperparameters") or _DEFAULT_HYPERPARAMETERS
    if plan.regression:  # regressor blocks only: a classifier-only name would not train
        hyper = {**{k: v for k, v in hyper.items() if k not in _CLASSIFIER_ONLY},
                 **_REGRESSOR_HYPERPARAMETERS}
    evaluation = raw.get("evaluation") or {}
    lines = [
        f"# Parameters for {plan.data_path}, written by `mlops init`. Review the lines marked",
        "# SUGGESTED, then run: make pipeline PARAMS=<this file>",
        f"seed: {_yaml(raw.get('seed', 42))}",
        "",
        *_data_section(plan, raw.get("data") or {}),
        "",
        *_model_section(plan, hyper),
        "",
        *_evaluation_section(plan, evaluation),
    ]
    for block in _other_sections(template):  # params need a registry section: it is there
        if block[0].startswith("registry:"):
            block = _registry_block(plan, block)
        elif block[0].startswith("validation:") and plan.relaxed:
            block = _validation_block(plan, block)
        lines += ["", *block]
    return "\n".join(lines).rstrip() + "\n"


Screen = Callable[[Path], Sequence[Hint]]


def init_project(data: str | Path, target: str, *, out: str | Path | None = None,
                 task: str = "auto", name: str | None = None, schema: str | Path | None = None,
                 template: str | Path | None = None, force: bool = False,
                 screen: Screen | None = None) -> tuple[ProjectPlan, Path, Path]:
    """Write the params file and the schema for the CSV ``data``; return the plan and paths.

    ``out`` defaults to ``params-<name>.yaml`` in the current folder, ``schema`` to
    ``<data stem>.schema.yaml`` next to the data, ``template`` to the repository's
    ``params.yaml``. Existing files are kept unless ``force``. ``screen`` is called with
    the written params file and returns more warnings (the leakage check of the
    validation stage, which this layer cannot import); with any, the file is written
    again with them.
    """
    from mlops.core.data import read_table
    from mlops.core.schema import infer_schema, schema_to_yaml

    data = Path(data)
    frame = read_table(data)
    out = Path(out) if out is not None else Path(f"params-{model_name(data, name)}.yaml")
    schema = Path(schema) if schema is not None else data.with_name(f"{data.stem}.schema.yaml")
    template = Path(template) if template is not None else _REPO_PARAMS
    if not template.is_file():
        raise ConfigError(f"template params file {template} not found; pass --template "
                          "with a params.yaml to copy the other sections from",
                          file=str(template))
    for path in (out, schema):
        if path.exists() and not force:
            raise ConfigError(f"{path} exists; pass --force to overwrite it, or choose "
                              "another --out", file=str(path))
    folder = out.resolve().parent
    plan = plan_project(frame, data_path=relative_path(data, folder),
                        schema_path=relative_path(schema, folder), target=target, task=task,
                        name=name)
    template_text = template.read_text(encoding="utf-8")
    raw = yaml.safe_load(template_text) or {}
    training = ((raw.get("validation") or {}).get("training") or {}) \
        if isinstance(raw, Mapping) else {}
    plan = replace(plan, relaxed=relax_training_checks(plan.counts, plan.rows, training))
    text = render_params(plan, template_text)
    found = infer_schema(frame, target=target, source=plan.data_path,
                         regression=plan.regression)
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text(schema_to_yaml(found), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    more = tuple(screen(out)) if screen is not None else ()
    if more:
        plan = replace(plan, hints=(*plan.hints, *more))
        out.write_text(render_params(plan, template_text), encoding="utf-8")
    return plan, out, schema


def relative_path(path: str | Path, folder: str | Path) -> str:
    """``path`` relative to ``folder``, with forward slashes (as params files spell it)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(folder).resolve())).as_posix()


# --------------------------------------------------------------------------- sections
def _data_section(plan: ProjectPlan, template: Mapping[str, Any]) -> list[str]:
    if plan.regression:
        return _regression_data_section(plan, template)
    if plan.task == "binary":
        counts = dict(zip(plan.classes, plan.counts, strict=True))
        positive = _line("positive_class", plan.positive_class,
                         f"chosen by mlops init: {plan.positive_reason} "
                         f"(classes {counts}). Precision, recall and F1 score this class and "
                         "fairness treats it as the outcome; change it if you care about "
                         "the other one")
    else:
        positive = _line("positive_class", None,
                         f"multiclass ({len(plan.classes)} classes): metrics are macro "
                         "averages; name a class to measure fairness for it")
    sensitive = list(plan.sensitive)
    return [
        "data:",
        _line("path", plan.data_path, "CSV with a header row; relative to this file's folder"),
        _line("target", plan.target, f"{plan.task}, classes {list(plan.classes)}"),
        positive,
        _line("sensitive_features", [],
              f"SUGGESTED: {_yaml(sensitive)} (named like a demographic attribute); "
              "confirm by listing them here" if sensitive else
              "fairness is reported per group of each; none found by name"),
        _line("test_size", template.get("test_size", 0.25),
              "held-out share, stratified by target"),
        _line("schema", plan.schema_path, "written by mlops init; review and commit it"),
        _id_columns_line(plan),
        _line("drop_columns", [], "other columns that must not be features (nor inputs "
              "of a request)"),
    ]


def _regression_data_section(plan: ProjectPlan, template: Mapping[str, Any]) -> list[str]:
    low, high = plan.value_range or (0.0, 0.0)
    sensitive = list(plan.sensitive)
    return [
        "data:",
        _line("path", plan.data_path, "CSV with a header row; relative to this file's folder"),
        _line("target", plan.target, f"a number to predict, from {low:g} to {high:g}"),
        _line("task", "regression", "chosen by mlops init: a numeric target with fractions "
              f"or more than {MAX_NUMERIC_CLASSES} values"),
        _line("unit", "", "the target's unit (e.g. EUR), shown next to predicted values"),
        _line("positive_class", None, "regression: no classes"),
        _line("sensitive_features", [],
              f"SUGGESTED: {_yaml(sensitive)} (named like a demographic attribute); "
              "confirm by listing them here" if sensitive else
              "error is reported per group of each; none found by name"),
        _line("test_size", template.get("test_size", 0.25), "held-out share (random rows)"),
        _line("schema", plan.schema_path, "written by mlops init; review and commit it"),
        _id_columns_line(plan),
        _line("drop_columns", [], "other columns that must not be features (nor inputs "
              "of a request)"),
        _line("class_labels", {}, "regression: no classes"),
    ]


def _model_section(plan: ProjectPlan, hyper: Mapping[str, Any]) -> list[str]:
    estimator, others = (("ridge", "or hist_gradient_boosting, random_forest (as regressors), "
                          "or an import path such as sklearn.svm.SVR") if plan.regression
                         else ("logistic_regression", "or hist_gradient_boosting, "
                               "random_forest, or an import path such as sklearn.svm.SVC"))
    lines = [
        "model:",
        _line("name", plan.name, "registry namespace: one name per target, classes and "
              "columns"),
        _line("estimator", estimator, others),
        "  hyperparameters:",
    ]
    lines += [f"    {_yaml(k)}: {_yaml(v)}" for k, v in hyper.items()]
    return lines


def _evaluation_section(plan: ProjectPlan, template: Mapping[str, Any]) -> list[str]:
    if plan.regression:
        return _regression_evaluation_section(plan, template)
    brier = ("Brier score of always predicting the class shares on this data: "
             f"{plan.prior_brier:.4f}" + (" (summed over classes, halved)"
                                          if plan.task == "multiclass" else ""))
    fairness_hint = ("    # with data.sensitive_features (and, multiclass, a positive_class) "
                     "set, add e.g.")
    lines = [
        "evaluation:",
        "  gates:                         # a run fails when any gate fails",
        _line("min_roc_auc", 0.7, "one-vs-rest macro average for multiclass", indent=4),
        _line("max_brier", plan.max_brier, brier, indent=4),
        fairness_hint,
        "    #   min_demographic_parity_ratio: 0.8",
        "    #   max_equalized_odds_difference: 0.2",
        "  baseline:                      # the model must beat scikit-learn's DummyClassifier",
        _line("metric", "roc_auc", "accuracy, f1, roc_auc or brier", indent=4),
        _line("margin", 0.02, "by at least this much", indent=4),
        *_evaluation_tail(plan, template, groups="smaller fairness groups",
                          tolerance="candidate may be this much worse than production",
                          expect="decrease"),
    ]
    return lines


def _regression_evaluation_section(plan: ProjectPlan, template: Mapping[str, Any]
                                   ) -> list[str]:
    mae = f"{plan.median_mae:.4g}" if plan.median_mae is not None else "n/a"
    return [
        "evaluation:",
        "  gates:                         # a run fails when any gate fails",
        _line("min_r2", _MIN_R2, "share of the target's variance explained (0: no better "
              "than the mean)", indent=4),
        f"    # max_mae: {mae}".ljust(_COMMENT_COLUMN - 1) + " # in the target's unit: "
        f"always predicting the median gives MAE {mae} on this data; set your own",
        "    # max_rmse, max_mape (a share) work the same way",
        "    # with data.sensitive_features set, add e.g.",
        "    #   max_mae_ratio: 1.5           # largest group MAE over the smallest",
        "  baseline:                      # the model must beat scikit-learn's DummyRegressor",
        _line("metric", "r2", "mae, rmse, r2 or mape", indent=4),
        _line("margin", 0.02, "by at least this much", indent=4),
        *_evaluation_tail(plan, template, groups="smaller groups",
                          tolerance="candidate's R² may be this much lower than production's",
                          expect="increase"),
    ]


def _evaluation_tail(plan: ProjectPlan, template: Mapping[str, Any], *, groups: str,
                     tolerance: str, expect: str) -> list[str]:
    """The evaluation settings after the gates and the baseline, for either task."""
    return [
        _line("bootstrap_samples", template.get("bootstrap_samples", 200),
              "resamples for the confidence intervals"),
        _line("group_bins", {}, f"SUGGESTED: {_yaml(plan.bins)}; numeric sensitive columns in bands"
              if plan.bins else "numeric sensitive columns are reported in these bands"),
        _line("min_group_size", template.get("min_group_size", 30),
              f"{groups} are reported, never gated"),
        _line("champion_tolerance", template.get("champion_tolerance", 0.02), tolerance),
        _line("top_features", template.get("top_features", 5), ""),
        _line("invariance", [], "columns whose change must not change the prediction"),
        _line("directional", {}, f"e.g. {{column: {{increase_by: 10, expect: {expect}}}}}"),
    ]


def _other_sections(template: str) -> list[list[str]]:
    """The template's top-level blocks other than :data:`_OWN_SECTIONS`, as written."""
    blocks: list[list[str]] = []
    keep = False
    for line in template.splitlines():
        match = re.match(r"([A-Za-z_]\w*):", line)
        if match:
            keep = match.group(1) not in _OWN_SECTIONS
            if keep:
                blocks.append([])
        if keep and blocks and (line.strip() and (line[0].isspace() or match)):
            blocks[-1].append(line)
    return blocks


def _id_columns_line(plan: ProjectPlan) -> str:
    """``data.id_columns``: the pandas index taken, other identifiers only suggested."""
    taken = [plan.index_column] if plan.index_column else []
    ids = [c for c, _ in plan.id_columns]
    why = "; ".join(f"{c}: {w}" for c, w in plan.id_columns)
    notes = []
    if taken:
        notes.append(f"{plan.index_column!r} taken by mlops init: an unnamed first column "
                     "with a different whole number in every row, the index that pandas' "
                     "to_csv() writes")
    if ids:
        notes.append(f"SUGGESTED: {_yaml(ids)} ({why}); identifiers are never features, "
                     "confirm by listing them here")
    return _line("id_columns", taken, "; ".join(notes) if notes else
                 "identifiers: kept in the data, never features nor request inputs")


def _registry_block(plan: ProjectPlan, block: list[str]) -> list[str]:
    """The template's registry section with ``first_alias`` (and why) set for ``plan``."""
    kept = [line for line in block if not re.match(r"\s+first_alias:", line)]
    if plan.first_alias == "production":
        return [*kept, _line("first_alias", "production", "the first version whose gates "
                             "pass serves at once; mlops init found nothing to review")]
    return [
        *kept,
        _line("first_alias", "candidate", "mlops init found what a person must review "
              "first (below): the first version waits as a candidate"),
        "  # Warnings of mlops init. When each is resolved (column dropped, or confirmed",
        "  # known at prediction time), set first_alias: production, or promote the",
        "  # candidate: mlops promote VERSION --to production --reason \"reviewed: ...\"",
        *(f"  #   - {hint.kind}: {' '.join(hint.message.split())}" for hint in plan.hints),
    ]


def _validation_block(plan: ProjectPlan, block: list[str]) -> list[str]:
    """The template's validation section with the training checks ``plan`` relaxed."""
    relaxed = {key: (value, why) for key, _, value, why in plan.relaxed}
    out, section = [], None
    for line in block:
        sub = re.match(r"  ([A-Za-z_]\w*):", line)
        if sub:
            section = sub.group(1)
        key = re.match(r"    ([A-Za-z_]\w*):", line)
        if section == "training" and key and key.group(1) in relaxed:
            out.append(_relaxed_line(key.group(1), *relaxed.pop(key.group(1)), plan))
            continue
        out.append(line)
    if relaxed:  # the template does not list them: add them to its training section
        if not any(re.match(r"  training:", line) for line in out):
            out.append("  training:")
        at = max(i for i, line in enumerate(out) if re.match(r"  training:", line)) + 1
        out[at:at] = [_relaxed_line(k, v, why, plan) for k, (v, why) in relaxed.items()]
    return out


def _relaxed_line(key: str, value: float, why: str, plan: ProjectPlan) -> str:
    default = next(d for k, d, _, _ in plan.relaxed if k == key)
    return _line(key, value, f"relaxed by mlops init from {_yaml(default)}: {why}. More "
                 "data is the real fix", indent=4)


# --------------------------------------------------------------------------- helpers
def _line(key: str, value: Any, comment: str, *, indent: int = 2) -> str:
    text = f"{' ' * indent}{key}: {_yaml(value)}"
    if not comment:
        return text
    return f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}"


def _yaml(value: Any) -> str:
    """One YAML value on one line."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000,
                          sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _words(name: Any) -> set[str]:
    """Lower-case words of a column name: ``maritalStatus`` -> {marital, status}."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return set(re.findall(r"[a-z]+", spaced.lower()))


def _sort_key(value: Any) -> tuple[int, Any]:
    value = _plain(value)
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else (1, str(value))


def _quartile_edges(values: pd.Series) -> list[float]:
    edges = values.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).round().tolist()
    edges[-1] += 1  # bands are [lo, hi): the largest value belongs in the last one
    unique = sorted(set(edges))
    return [int(e) if float(e).is_integer() else e for e in unique]


def _round_up(value: float, places: int) -> float:
    factor = 10**places
    return math.ceil(round(value * factor, 9)) / factor
