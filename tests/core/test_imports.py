"""``params.yaml`` is configuration, never code: nothing it names runs before it is checked.

Each attack plants a callable that would leave a marker file if it ever ran, and reaches it
the way a user would (``load_params``, ``build_estimator``, ``mlops run``). The marker
must never appear, and the error is a ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from mlops.cli.main import main
from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError
from mlops.core.imports import (
    TRUSTED_IMPORTS,
    TRUSTED_IMPORTS_FILE,
    check_import_path,
    import_allowed,
    read_listed,
)
from mlops.core.typed_yaml import parse_overrides, safe_load_yaml
from mlops.stages.training import build_estimator

ROOT = Path(__file__).resolve().parents[2]
CLASSIFICATION = ROOT / "params.yaml"
REGRESSION = ROOT / "models" / "diabetes" / "params.yaml"
HERE = "tests.core.test_imports"  # this module, by the import path params would give


# --- callables that leave the marker when they run ------------------------------------------

class MarkingTransformer(TransformerMixin, BaseEstimator):
    """A scikit-learn estimator, but not a classifier or a regressor."""

    def __init__(self, mark: str = "") -> None:
        Path(mark).touch()
        self.mark = mark

    def fit(self, features, labels=None):
        return self


class MarkingClassifier(ClassifierMixin, BaseEstimator):
    """A classifier: the wrong kind for a regression target."""

    def __init__(self, mark: str = "") -> None:
        Path(mark).touch()
        self.mark = mark

    def fit(self, features, labels):
        return self


class MarkingLookalike:
    """Has fit, but is no scikit-learn estimator."""

    def __init__(self, mark: str = "") -> None:
        Path(mark).touch()

    def fit(self, features, labels):
        return self


def params_file(tmp_path: Path, estimator: str, hyper: dict, base: Path = CLASSIFICATION,
                ) -> Path:
    """``base`` with ``estimator`` and its hyperparameters block, written to ``tmp_path``."""
    raw = yaml.safe_load(base.read_text())
    raw["model"]["estimator"] = estimator
    raw["model"]["hyperparameters"][estimator] = hyper
    for key in ("path", "schema"):
        raw["data"][key] = str(base.parent / raw["data"][key])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def forced(params, estimator: str, hyper: dict):
    """``params`` naming ``estimator`` past the load-time check, as a stale or hand-built
    object could: ``build_estimator`` must refuse it on its own."""
    model = params.model
    object.__setattr__(model, "estimator", estimator)
    object.__setattr__(model, "hyperparameters", {estimator: hyper})
    return params


# --- the attacks -----------------------------------------------------------------------------

ATTACKS = [
    # (name, estimator, hyperparameters given the marker path, params file)
    ("a module outside the allow-list", "subprocess.Popen",
     lambda m: {"args": ["touch", m]}, CLASSIFICATION),
    ("a function outside the allow-list", "os.system",
     lambda m: {"command": f"touch {m}"}, CLASSIFICATION),
    ("an allow-listed function, not a class", "sklearn.datasets.dump_svmlight_file",
     lambda m: {"X": [[1.0]], "y": [1], "f": m}, CLASSIFICATION),
    ("a transformer, not a classifier", f"{HERE}.MarkingTransformer",
     lambda m: {"mark": m}, CLASSIFICATION),
    ("a classifier for a regression target", f"{HERE}.MarkingClassifier",
     lambda m: {"mark": m}, REGRESSION),
    ("a class that is no estimator", f"{HERE}.MarkingLookalike",
     lambda m: {"mark": m}, CLASSIFICATION),
]


@pytest.fixture
def reviewed_tests(monkeypatch):
    """This test module stands in for a reviewed package (as trusted_imports.txt lists)."""
    monkeypatch.setattr("mlops.core.imports.TRUSTED_IMPORTS", (*TRUSTED_IMPORTS, "tests."))


@pytest.mark.parametrize(("what", "estimator", "hyper", "base"), ATTACKS,
                         ids=[a[0] for a in ATTACKS])
def test_nothing_params_name_runs_before_it_is_checked(tmp_path, reviewed_tests, what,
                                                       estimator, hyper, base):
    mark = tmp_path / "MARK"
    path = params_file(tmp_path, estimator, hyper(str(mark)), base)
    try:
        params = load_params(path)  # the first three are refused here already
    except ConfigError as exc:
        assert exc.fields["key"] == "model.estimator" and "'model.estimator'" in exc.message
        params = forced(load_params(base), estimator, hyper(str(mark)))
    with pytest.raises(ConfigError) as info:
        build_estimator(params)
    assert info.value.fields["key"] == "model.estimator", what
    assert "model.estimator" in info.value.message
    assert not mark.exists(), f"{what}: the planted callable ran"


def test_the_issues_attack_through_mlops_run_creates_no_marker(tmp_path, capsys):
    mark = tmp_path / "MARK"
    path = params_file(tmp_path, "subprocess.Popen", {"args": ["touch", str(mark)]})
    code = main(["run", "--params", str(path), "--no-register",
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "'model.estimator' is 'subprocess.Popen'" in err and "trusted_imports.txt" in err
    assert "short names" in err  # what to do instead
    assert not mark.exists() and not (tmp_path / "runs").exists()  # nothing ran


@pytest.mark.parametrize("estimator", ["sklearn.svm._classes.SVC", "sklearn.__builtins__",
                                       "sklearn.base.__class__"])
def test_private_and_dunder_parts_are_refused_before_import(estimator):
    with pytest.raises(ConfigError, match="private") as info:
        load_params(CLASSIFICATION, [f"model.estimator={estimator}"])
    assert info.value.fields["key"] == "model.estimator"


def test_short_names_and_allow_listed_classes_still_work():
    for name in ("logistic_regression", "random_forest", "sklearn.svm.SVC",
                 "sklearn.tree.DecisionTreeClassifier"):
        build_estimator(load_params(CLASSIFICATION, [f"model.estimator={name}"]))
    build_estimator(load_params(REGRESSION, ["model.estimator=sklearn.svm.SVR"]))


# --- hyperparameters are plain data; YAML builds no objects -----------------------------------

def test_yaml_python_tags_never_build_objects(tmp_path):
    mark = tmp_path / "MARK"
    tag = f'!!python/object/apply:os.system ["touch {mark}"]'
    text = CLASSIFICATION.read_text().replace("{C: 1.0, max_iter: 1000}", f"{{C: {tag}}}")
    assert tag in text
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_overrides([f"model.hyperparameters.logistic_regression.C={tag}"])
    with pytest.raises(yaml.YAMLError):
        safe_load_yaml(f"estimator: !!python/name:subprocess.Popen\nC: {tag}\n")
    code = main(["run", "--params", str(CLASSIFICATION), "--no-register",
                 "--runs-dir", str(tmp_path / "runs"),
                 "--set", f"model.hyperparameters.logistic_regression.C={tag}"])
    assert code == ConfigError.exit_code
    assert not mark.exists()


@pytest.mark.parametrize(("value", "kind"), [
    ("2024-01-31", "datetime.date"),  # YAML reads it as a date
    ("!!binary aGVsbG8=", "bytes"),
    ("!!set {a, b}", "set"),
    ("[1, {a: 2020-01-01}]", "datetime.date"),
])
def test_a_hyperparameter_that_is_not_plain_data_names_its_key(value, kind):
    with pytest.raises(ConfigError, match="plain data") as info:
        load_params(CLASSIFICATION, [f"model.hyperparameters.logistic_regression.C={value}"])
    assert info.value.fields["key"].startswith("model.hyperparameters.logistic_regression.C")
    assert kind in info.value.message


def test_a_callable_hyperparameter_given_from_python_is_refused(tmp_path):
    # A metric is called during fit: an object here would run code the params never showed.
    mark = tmp_path / "MARK"
    params = load_params(CLASSIFICATION, ["model.estimator=sklearn.neighbors.KNeighborsClassifier"])
    with pytest.raises(ConfigError, match="plain data") as info:
        dataclasses.replace(params.model, hyperparameters={
            "sklearn.neighbors.KNeighborsClassifier": {"metric": lambda a, b: mark.touch()}})
    assert info.value.fields["key"] == \
        "model.hyperparameters.sklearn.neighbors.KNeighborsClassifier.metric"
    plain = {"C": 0.5, "class_weight": {0: 1.0, 1: 2.0}, "tol": None, "fit_intercept": True}
    model = dataclasses.replace(load_params(CLASSIFICATION).model,
                                hyperparameters={"logistic_regression": plain})
    assert model.hyperparameters["logistic_regression"] == plain
    assert not mark.exists()


# --- the allow-list: one reviewed file, reusable for other import paths -----------------------

def test_the_allow_list_is_the_committed_file():
    assert TRUSTED_IMPORTS_FILE == ROOT / "mlops" / "core" / "trusted_imports.txt"
    assert read_listed(TRUSTED_IMPORTS_FILE) == TRUSTED_IMPORTS == ("sklearn.", "lightgbm.")


def test_a_project_module_is_imported_only_when_the_caller_allows_it(tmp_path, monkeypatch):
    mark = tmp_path / "MARK"
    (tmp_path / "project_features.py").write_text(
        f"from pathlib import Path\nPath({str(mark)!r}).touch()\n\n"
        "def add_month(frame):\n    return frame\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="outside the reviewed import prefixes") as info:
        import_allowed("project_features.add_month", key="features.functions")
    assert info.value.fields["key"] == "features.functions"
    assert not mark.exists() and "project_features" not in sys.modules  # never imported
    found = import_allowed("project_features.add_month", key="features.functions",
                           extra_prefixes=("project_features.",))
    assert found.__name__ == "add_month" and mark.exists()
    monkeypatch.delitem(sys.modules, "project_features")


def test_a_name_an_allowed_module_only_re_exports_is_refused():
    # sklearn.utils.validation imports inspect.signature: found there, defined elsewhere.
    with pytest.raises(ConfigError, match="'inspect.signature' re-exported"):
        import_allowed("sklearn.utils.validation.signature", key="model.estimator")
    with pytest.raises(ConfigError, match="not a class or a function"):
        import_allowed("sklearn.base.inspect", key="model.estimator")  # a module
    assert check_import_path("sklearn.svm.SVC", key="model.estimator") == "sklearn.svm.SVC"
