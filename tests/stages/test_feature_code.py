"""A model's own feature code: from the notebook's ``#| features`` cell into the saved model,
and from the registry into serving, on raw request columns only."""

from __future__ import annotations

import linecache
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops.core.config import load_params
from mlops.core.exceptions import ConfigError, DataError, IntegrityError, RequestError
from mlops.core.feature_code import FEATURE_FILE, MARK, module_name
from mlops.core.modelio import load_model, save_model
from mlops.core.schema import infer_schema, load_schema, save_schema
from mlops.registry.local import LocalRegistry
from mlops.serving.predlog import PredictionLog
from mlops.serving.router import Router
from mlops.stages.derived import date_parts
from mlops.stages.training import train

ROOT = Path(__file__).resolve().parents[2]

MONTHS = f"""{MARK}
import pandas as pd

from mlops.api import date_parts


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    return date_parts(frame, "day")
"""


def cell(source: str, n: int = [0]) -> object:  # noqa: B006 - a counter of cells
    """``add_features`` as a notebook cell defines it: the cell's text is in linecache."""
    n[0] += 1
    filename = f"/tmp/ipykernel_test/{n[0]}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, object] = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the test's own text
    return namespace["add_features"]


def seasonal(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A target that depends on the month of a date column, which only feature code sees."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    noise = rng.normal(size=n)
    late = day.month >= 7
    return pd.DataFrame({"day": day.strftime("%Y-%m-%d"), "noise": noise,
                         "busy": np.where(late, "yes", "no")})


@pytest.fixture
def project(tmp_path):
    frame = seasonal()
    frame.to_csv(tmp_path / "data.csv", index=False)
    save_schema(infer_schema(frame, target="busy"), tmp_path / "schema.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(path="data.csv", target="busy", schema="schema.yaml",
                       positive_class="yes", sensitive_features=[], class_labels={})
    raw["model"]["name"] = "seasons"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return load_params(tmp_path / "params.yaml"), frame


@pytest.mark.filterwarnings("ignore:date column")  # this data's date is not the point
def test_feature_code_reaches_the_served_model_for_a_raw_request(project, tmp_path):
    params, frame = project
    plain = train(params, frame)
    model = train(params, frame, features=cell(MONTHS))
    assert [name for name, _ in model.steps] == ["derive", "features", "model"]
    raw = frame.drop(columns="busy")
    assert (model.predict(raw) == frame["busy"]).mean() > 0.95  # the month is learned
    assert (plain.predict(raw) == frame["busy"]).mean() < 0.9  # a date string is not
    path = tmp_path / "run" / "model.skops"
    path.parent.mkdir()
    save_model(model, path)
    saved = (path.parent / FEATURE_FILE).read_text()
    assert saved == MONTHS and model[0].module == module_name(MONTHS)

    registry = LocalRegistry(tmp_path / "registry")
    registry.register("seasons", path, files={FEATURE_FILE: path.parent / FEATURE_FILE},
                      metadata={"gates_passed": True})
    registry.promote("seasons", 1, "production", expected=None, reason="test")
    sys.modules.pop(model[0].module)  # a fresh server has only what the registry gives
    schema = infer_schema(frame, target="busy")
    with Router(registry, "seasons", schema, PredictionLog(tmp_path / "log.sqlite"),
                positive_class="yes") as router:
        served = router.predict_batch(raw.head(50))
        one = router.predict(raw.iloc[0].to_dict())
    assert list(served["prediction"]) == list(model.predict(raw.head(50)))
    assert one.label == model.predict(raw.head(1))[0]
    assert list(schema.serving_columns) == ["day", "noise"]  # the request stays raw


@pytest.mark.filterwarnings("ignore:date column")  # this data's date is not the point
def test_an_identifier_column_next_to_feature_code_is_left_out_not_refused(tmp_path):
    """The held-out rows still carry data.id_columns: the model takes the raw columns it was
    trained with from them, as its column encoder does, in the notebook's checks too."""
    from mlops.stages.feature_checks import check_features

    frame = seasonal().assign(ticket=[f"T{i:05d}" for i in range(400)])
    frame.to_csv(tmp_path / "data.csv", index=False)
    save_schema(infer_schema(frame, target="busy"), tmp_path / "schema.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(path="data.csv", target="busy", schema="schema.yaml", id_columns=["ticket"],
                       positive_class="yes", sensitive_features=[], class_labels={})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    model = train(load_params(tmp_path / "params.yaml"), frame, features=cell(MONTHS))
    assert list(model[0].feature_names_in_) == ["day", "noise"]
    assert all(c.grade != "block" for c in check_features(model, frame, target="busy"))
    assert (model.predict(frame) == frame["busy"]).mean() > 0.95
    with pytest.raises(DataError, match=r"needs the raw column\(s\) \['noise'\]"):
        model.predict(frame.drop(columns="noise"))


def test_tampered_feature_code_is_refused_before_it_runs(project, tmp_path):
    params, frame = project
    model = train(params, frame, features=cell(MONTHS))
    path = tmp_path / "model.skops"
    save_model(model, path)
    registry = LocalRegistry(tmp_path / "registry")
    mv = registry.register("seasons", path, files={FEATURE_FILE: tmp_path / FEATURE_FILE},
                           metadata={"gates_passed": True})
    stored = registry.file_path("seasons", mv.version, FEATURE_FILE)
    marker = tmp_path / "ran"
    stored.write_text(f"open({str(marker)!r}, 'w').close()\n" + MONTHS)
    sys.modules.pop(model[0].module)
    with pytest.raises(IntegrityError):
        registry.load_model("seasons", mv.version)
    assert not marker.exists()


def test_a_model_runs_no_code_that_was_not_stored_with_it(project, tmp_path):
    params, frame = project
    model = train(params, frame, features=cell(MONTHS))
    path = tmp_path / "model.skops"
    save_model(model, path)
    (tmp_path / FEATURE_FILE).unlink()
    sys.modules.pop(model[0].module)
    loaded = load_model(path)  # loading itself runs nothing
    with pytest.raises(IntegrityError, match="feature code .* is not loaded"):
        loaded.predict(frame.drop(columns="busy").head(2))


@pytest.mark.filterwarnings("ignore:date column")  # this data's date is not the point
def test_columns_the_model_cannot_use_are_named_never_dropped_silently(project):
    params, frame = project
    dated = cell(f"""{MARK}
import pandas as pd


def add_features(frame):
    return frame.assign(when=pd.to_datetime(frame["day"]), double=frame["noise"] * 2)
""")
    with pytest.warns(UserWarning, match=r"\['when'\] that the model cannot use"):
        model = train(params, frame, features=dated)
    used = " ".join(model["features"].get_feature_names_out())
    assert "when" not in used and "double" in used
    with pytest.warns(UserWarning, match=r"\['month'\] of the training rows are not in the sch"):
        train(params, frame.assign(month=1))


@pytest.mark.filterwarnings("ignore:date column")  # this data's date is not the point
def test_feature_code_must_come_from_its_marked_cell_and_keep_its_contract(project):
    params, frame = project
    with pytest.raises(ConfigError, match="cell that starts with"):
        train(params, frame, features=cell(MONTHS.replace(MARK, "# features")))
    with pytest.raises(DataError, match="one row per input row"):
        train(params, frame, features=cell(f"{MARK}\ndef add_features(frame):\n"
                                           "    return frame.head(3)\n"))
    flaky = cell(f"""{MARK}
def add_features(frame):
    return frame.assign(seen=1) if len(frame) > 10 else frame.assign(extra=1)
""")
    model = train(params, frame, features=flaky)
    with pytest.raises(DataError, match=r"missing \['seen'\], unexpected \['extra'\]"):
        model.predict(frame.drop(columns="busy").head(2))


def test_unchanged_rows_mean_no_feature_step_and_the_same_model(project, tmp_path):
    params, frame = project
    same = cell(f"{MARK}\ndef add_features(frame):\n    return frame\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "date column")
        model = train(params, frame, features=same)
        plain = train(params, frame)
    assert [name for name, _ in model.steps] == ["features", "model"]
    assert save_model(model, tmp_path / "a.skops") == save_model(plain, tmp_path / "b.skops")
    assert not (tmp_path / FEATURE_FILE).exists()


def test_date_parts_gives_numbers_and_missing_for_bad_dates():
    out = date_parts(pd.DataFrame({"d": ["2024-03-05", "not a date"], "x": [1, 2]}), "d")
    assert list(out.columns) == ["x", "d_year", "d_month", "d_day_of_year", "d_weekday"]
    assert out.iloc[0, 1:].tolist() == [2024, 3, 65, 1] and out.iloc[1, 1:].isna().all()


# --------------------------------------------------------------------------- date columns
def test_a_date_column_has_its_own_schema_type(tmp_path):
    frame = pd.DataFrame({"day": ["2024-01-05", "2024-03-01", "2024-02-10"],
                          "stamp": ["2024-01-05 10:30", "2024-01-05T11:00:00", None],
                          "bad": ["2024-02-30", "2024-01-01", "2024-01-02"],
                          "code": ["A-1", "B-2", "C-3"]})
    schema = infer_schema(frame, target=None)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"day": "date", "stamp": "date", "bad": "category", "code": "category"}
    day = schema.by_name["day"]
    assert day.categories is None and day.typical == "2024-02-10" and not day.categorical
    save_schema(schema, tmp_path / "schema.yaml")
    from mlops.core.schema import load_schema

    assert load_schema(tmp_path / "schema.yaml") == schema


def test_requests_with_new_dates_are_served_and_bad_dates_are_named(project, tmp_path):
    from datetime import date

    from mlops.core.cells import check_cell

    params, frame = project
    schema = infer_schema(frame, target="busy")
    day = schema.by_name["day"]
    assert check_cell("2031-12-24", day, text=True) == ("2031-12-24", None)  # never seen
    assert check_cell(date(2031, 12, 24), day)[0] == "2031-12-24"
    with pytest.raises(RequestError, match="a date such as 2024-03-05"):
        check_cell("24/12/2031", day, text=True)
    model = train(params, frame, features=cell(MONTHS))
    path = tmp_path / "model.skops"
    save_model(model, path)
    registry = LocalRegistry(tmp_path / "registry")
    registry.register("seasons", path, files={FEATURE_FILE: tmp_path / FEATURE_FILE},
                      metadata={"gates_passed": True})
    registry.promote("seasons", 1, "production", expected=None, reason="test")
    with Router(registry, "seasons", schema, positive_class="yes") as router:
        assert router.predict({"day": "2031-08-01", "noise": 0.0}).label == "yes"
        assert router.predict({"day": "2031-02-01", "noise": 0.0}).label == "no"


def test_a_prediction_on_a_date_is_explained_against_a_typical_day(project, tmp_path):
    """The reference summary profiles numbers and categories, not dates: the explanation's
    background takes the schema's typical day there (it failed with a KeyError, so the
    public Predict screen showed "something went wrong")."""
    from mlops.app.context import AppContext

    params, frame = project
    model = train(params, frame, features=cell(MONTHS))
    save_model(model, tmp_path / "model.skops")
    registry = LocalRegistry(tmp_path / "registry")
    registry.register("seasons", tmp_path / "model.skops",
                      files={FEATURE_FILE: tmp_path / FEATURE_FILE},
                      metadata={"gates_passed": True})
    registry.promote("seasons", 1, "production", expected=None, reason="test")
    schema = load_schema(params.resolve(params.data.schema))
    assert schema.by_name["day"].typical is not None
    ctx = AppContext(params, registry, schema, tmp_path / "log.sqlite")
    try:
        summer = pd.DataFrame({"day": ["2031-08-01"], "noise": [0.0]})
        explanation = ctx.explain(1, summer)
        assert explanation.columns and "day" in explanation.columns
        typical = pd.DataFrame({"day": [schema.by_name["day"].typical], "noise": [0.0]})
        same = ctx.explain(1, typical)
        same_day = dict(zip(same.columns, same.values, strict=True))
        assert same_day["day"] == pytest.approx(0.0, abs=1e-9)  # compared with itself
    finally:
        ctx.close()
    # A schema without a typical day says so, in words the Predict screen shows.
    import dataclasses

    bare = dataclasses.replace(schema, columns=tuple(
        dataclasses.replace(c, typical=None) for c in schema.columns))
    ctx = AppContext(params, registry, bare, tmp_path / "log.sqlite")
    try:
        with pytest.raises(DataError, match=r"no typical value of \['day'\]"):
            ctx.explain(1, summer)
    finally:
        ctx.close()


def test_a_date_used_as_text_is_a_warning_and_the_form_offers_a_date(project):
    from mlops.app.form import form_spec

    params, frame = project
    with pytest.warns(UserWarning, match=r"date column\(s\) \['day'\] reach the model as text"):
        train(params, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(params, frame, features=cell(MONTHS))
    spec = {f.name: f for f in form_spec(infer_schema(frame, target="busy"))}
    assert spec["day"].widget == "date" and len(spec["day"].default) == 10


def test_the_notebook_shows_what_the_code_makes_without_showing_rows():
    from mlops.stages.derived import feature_table

    frame = pd.DataFrame({"day": ["2024-01-05", "2024-03-01"], "x": [1.0, None]})
    table = feature_table(lambda f: date_parts(f, "day", drop=False)
                          .assign(when=pd.to_datetime(f["day"])), frame)
    new = table["made by add_features"]
    assert new["day_month"] and not new["x"]
    assert table.loc["x", "missing"] == 1 and not table.loc["when", "usable"]
    assert "2024-01-05" not in table.to_string()  # statistics, never a row


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_models_own_training_notebook_brings_its_features_to_the_served_model(tmp_path):
    """A data scientist copies 02_train.ipynb into their model's folder, writes
    add_features there, and runs: only that model changes, and it serves raw requests."""
    import json

    from mlops.pipeline.runner import run_pipeline

    folder = tmp_path / "models" / "seasons"
    (folder / "notebooks").mkdir(parents=True)
    frame = seasonal()
    frame.to_csv(folder / "data.csv", index=False)
    save_schema(infer_schema(frame, target="busy"), folder / "schema.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(path="data.csv", target="busy", schema="schema.yaml",
                       positive_class="yes", sensitive_features=[], class_labels={})
    raw["model"]["name"] = "seasons"
    raw["evaluation"]["gates"] = {}
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    notebook = json.loads((ROOT / "notebooks" / "02_train.ipynb").read_text())
    (cell_json,) = [c for c in notebook["cells"] if "".join(c["source"]).startswith(MARK)]
    cell_json["source"] = MONTHS.splitlines(keepends=True)
    (folder / "notebooks" / "02_train.ipynb").write_text(json.dumps(notebook))

    overrides = [f"registry.path={tmp_path / 'registry'}"]
    params = load_params(folder / "params.yaml", overrides)
    said: list[str] = []
    result = run_pipeline(params, params_file=folder / "params.yaml", overrides=overrides,
                          runs_dir=tmp_path / "runs", progress=said.append)
    assert any("the model's own" in line and "02_train" in line for line in said)
    assert not any("the model's own" in line and "03_evaluate" in line for line in said)
    assert (result.run_dir / FEATURE_FILE).read_text() == MONTHS
    registry = LocalRegistry(tmp_path / "registry")
    assert FEATURE_FILE in registry.get("seasons", 1).files
    with Router.from_params(params, log_path=str(tmp_path / "log.sqlite")) as router:
        assert router.predict({"day": "2031-08-01", "noise": 0.0}).label == "yes"
        assert router.predict({"day": "2031-02-01", "noise": 0.0}).label == "no"
