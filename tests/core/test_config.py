"""params.yaml loads into frozen, typed config; mistakes name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from mlops.core.config import DEFAULT_THRESHOLDS, Thresholds, load_params, to_dict
from mlops.core.exceptions import ConfigError
from mlops.core.typed_yaml import parse_overrides

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params.yaml"


def write_params(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(PARAMS.read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bundled_params_load_and_are_frozen():
    params = load_params(PARAMS)
    assert params.data.target == "risk"
    assert params.data.sensitive_features == ("sex", "age")
    assert params.resolve(params.data.path) == ROOT / "data" / "german.csv"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.seed = 1  # type: ignore[misc]


def test_overrides_are_parsed_as_yaml_and_applied():
    params = load_params(PARAMS, ["model.estimator=random_forest", "seed=7",
                                  "evaluation.gates.min_accuracy=0.9"])
    assert params.model.estimator == "random_forest"
    assert params.seed == 7
    assert params.evaluation.gates["min_accuracy"] == 0.9
    assert params.hyperparameters == params.model.hyperparameters["random_forest"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.estimatr=x"], "model.estimatr"),
        (["seed=abc"], "seed"),
        (["data.test_size=[1]"], "data.test_size"),
        (["model.estimator=svm"], "model.estimator"),
        (["data.sensitive_features=sex"], "data.sensitive_features"),
        (["validation.thresholds.range.warn=high"], "validation.thresholds.range.warn"),
        (["validation.thresholds.range.block=1.5"], "validation.thresholds.range.block"),
        (["validation.thresholds.range.warn=0.5"], "validation.thresholds.range"),
        (["validation.thresholds.drift_psi.block=-1"], "validation.thresholds.drift_psi.block"),
        (["validation.thresholds.range.wran=0.1"], "validation.thresholds.range.wran"),
        (["validation.thresholds.range={warm: 0.1}"], "validation.thresholds.range.warm"),
        (["validation.thresholds.drfit={warn: 0.1}"], "validation.thresholds.drfit"),
        (["validation.thresholds.range=loud"], "validation.thresholds.range"),
        (["validation.thresholds.range.off=maybe"], "validation.thresholds.range.off"),
        (["validation.training.min_class_share=2"], "validation.training.min_class_share"),
        (["validation.training.min_rows=-1"], "validation.training.min_rows"),
        (["validation.batch.min_rows=x"], "validation.batch.min_rows"),
        (["validation.drift_alpha=0"], "validation.drift_alpha"),
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        load_params(PARAMS, overrides)
    assert info.value.fields["key"] == key
    assert repr(key) in str(info.value)


def test_missing_key_is_named(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["data"].pop("target"))
    with pytest.raises(ConfigError, match="missing key 'data.target'"):
        load_params(path)


def test_unknown_top_level_section_is_refused(tmp_path):
    path = write_params(tmp_path, lambda raw: raw.update(extra={"a": 1}))
    with pytest.raises(ConfigError, match="unknown key 'extra'"):
        load_params(path)


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match="'seed'"):
        load_params(PARAMS, ["seed=true"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        parse_overrides(["seed"])
    with pytest.raises(ConfigError, match="not a section"):
        load_params(PARAMS, ["seed.x=1"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_to_dict_round_trips(tmp_path):
    params = load_params(PARAMS)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(to_dict(params)))
    again = load_params(path)
    assert to_dict(again) == to_dict(params)


def test_unquoted_off_in_yaml_means_off(tmp_path):
    """YAML 1.1 reads `off` as False; a check set to off must still be off."""
    params = load_params(PARAMS, ["validation.thresholds.drift_psi=off"])
    assert not params.validation.on("drift_psi")
    path = write_params(tmp_path, lambda raw: raw["validation"]["thresholds"].update(
        constant="off"))
    path.write_text(path.read_text().replace("constant: 'off'", "constant: off"))
    assert "constant: off" in path.read_text()
    assert load_params(path).validation.thresholds["constant"] == Thresholds(off=True)


def test_thresholds_grade_and_default_when_left_out(tmp_path):
    params = load_params(PARAMS, ["validation.thresholds.range={warn: 0.01}"])
    t = params.validation.thresholds["range"]
    assert (t.warn, t.block) == (0.01, None), "a grade left out is never given"
    assert [t.grade(x) for x in (0.0, 0.01, 0.5)] == ["pass", "pass", "warn"]
    limits = Thresholds(warn=0.005, block=0.02)
    assert [limits.grade(x) for x in (0.004, 0.01, 0.03)] == ["pass", "warn", "block"]
    path = write_params(tmp_path, lambda raw: raw["validation"]["thresholds"].pop("range"))
    assert load_params(path).validation.thresholds["range"] == DEFAULT_THRESHOLDS["range"]
    path = write_params(tmp_path, lambda raw: raw["validation"].pop("thresholds"))
    assert load_params(path).validation.thresholds == DEFAULT_THRESHOLDS


def test_drift_settings_come_from_the_thresholds():
    cfg = load_params(PARAMS).validation
    assert (cfg.drift_min_psi, cfg.drift_min_js, cfg.max_drifted_share) == (0.005, 0.01, 0.3)
    off = load_params(PARAMS, ["validation.thresholds.drifted_share=off"]).validation
    assert off.max_drifted_share == float("inf")


def test_evaluation_baseline_bins_and_group_floor_load_with_defaults(tmp_path):
    params = load_params(PARAMS)
    assert params.evaluation.baseline.metric == "roc_auc"
    assert params.evaluation.baseline.margin == 0.02
    assert params.evaluation.group_bins == {"age": (0.0, 25.0, 40.0, 60.0, 120.0)}
    assert params.evaluation.min_group_size == 30

    def drop(raw):
        for key in ("baseline", "group_bins", "min_group_size"):
            raw["evaluation"].pop(key)
        for key in ("id_columns", "drop_columns"):
            raw["data"].pop(key)

    defaults = load_params(write_params(tmp_path, drop))
    # null: the task's default, ROC-AUC for classification (R² for regression)
    assert defaults.evaluation.baseline.metric is None
    assert defaults.evaluation.baseline.metric_for(False) == params.evaluation.baseline.metric
    assert defaults.evaluation.baseline.margin == params.evaluation.baseline.margin
    assert defaults.evaluation.group_bins == {} and defaults.data.id_columns == ()
    with pytest.raises(ConfigError, match="'evaluation.baseline.metric'"):
        load_params(PARAMS, ["evaluation.baseline.metric=log_loss"])
    with pytest.raises(ConfigError, match="unknown key 'evaluation.age_bins'"):
        load_params(PARAMS, ["evaluation.age_bins=[0, 25]"])


def test_estimator_is_a_short_name_or_an_import_path():
    assert load_params(PARAMS, ["model.estimator=sklearn.svm.SVC"]).hyperparameters == {}
    for bad in ("svm", "sklearn.", "os.system; rm", "1abc.Model"):
        with pytest.raises(ConfigError, match="'model.estimator'.*import path"):
            load_params(PARAMS, [f"model.estimator={bad}"])


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "x" * 101])
def test_model_name_is_one_safe_path_component_when_params_load(name):
    # The registry keeps a model in a folder of this name: refused before any stage runs.
    with pytest.raises(ConfigError, match="'model.name'.*letters, digits") as info:
        load_params(PARAMS, [f"model.name={name!r}"])
    assert info.value.fields["key"] == "model.name"
    assert load_params(PARAMS, ["model.name=credit-risk_v2.1"]).model.name == "credit-risk_v2.1"


def test_an_override_reaches_a_block_named_with_dots(tmp_path):
    path = write_params(tmp_path, lambda raw: raw["model"]["hyperparameters"].update(
        {"sklearn.svm.SVC": {"C": 1.0}}))
    params = load_params(path, ["model.estimator=sklearn.svm.SVC",
                                "model.hyperparameters.sklearn.svm.SVC.C=3"])
    assert params.hyperparameters == {"C": 3}
    with pytest.raises(ConfigError, match="not a section"):
        load_params(path, ["model.hyperparameters.sklearn.svm.NuSVC.C=3"])


def test_positive_class_may_be_null_and_roles_exclude_the_target():
    assert load_params(PARAMS, ["data.positive_class=null"]).data.positive_class is None
    params = load_params(PARAMS, ["data.id_columns=[job]", "data.drop_columns=[sex, age]"])
    assert params.data.id_columns == ("job",) and params.data.drop_columns == ("sex", "age")
    with pytest.raises(ConfigError, match="data.id_columns lists the target 'risk'"):
        load_params(PARAMS, ["data.id_columns=[risk]"])
