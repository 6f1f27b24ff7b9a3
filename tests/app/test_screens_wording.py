"""Every screen in the stakeholder's words (issue 30): label words, explanations, upload
refusals, the Compare verdict, monitoring for a person, the sidebar and the CLI wording."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mlops.app.batch import to_csv_bytes, validate_batch

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TOKEN = "yfdib1qVvzZ6dLHZWaBiVft5U0RwMeYkK9RtM8wVJwE"  # the test value of conftest
HEADER = ("sex,job,housing,saving_accounts,checking_account,credit_amount,duration,purpose,"
          "age")
ROW = "male,2,own,little,moderate,1000,12,car,35"
# Field names of the code that a person must never read on a screen.
INTERNAL = ("p50_ms", "p95_ms", "p99_ms", "effect_floor", "effect_block", "p_adjusted",
            "untrusted_labels", "predicted_class", "predicted_value", "request_id",
            "error_rate", "effect_name")


def _credit():
    from mlops.app.labels import OutcomeWords

    return OutcomeWords("risk", class_labels={"0": "bad credit", "1": "good credit"},
                        positive_class=1)


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _screen(at: AppTest, name: str) -> AppTest:
    at.radio(key="screen").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _shown_text(at: AppTest) -> str:
    """Every table cell and header, and every text element the run drew."""
    parts = [m.value for kind in ("markdown", "caption", "info", "error", "warning",
                                  "success") for m in getattr(at, kind)]
    for table in at.dataframe:
        frame = table.value
        parts += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    return "\n".join(parts)


def _no_internal_words(at: AppTest) -> None:
    for table in at.dataframe:
        frame = table.value
        assert not frame.isna().to_numpy().any(), f"a None cell in {list(frame.columns)}"
        for name in INTERNAL:
            assert name not in frame.columns, name


# ------------------------------------------------------------------------ labels
def test_batch_results_and_download_use_the_predict_screens_words(schema) -> None:
    frame = validate_batch(f"{HEADER}\n{ROW}\n".encode(), schema).frame
    scored = pd.concat([pd.DataFrame({"request_id": ["a1"], "predicted_class": [1],
                                      "probability": [0.8731], "version": [2]}), frame],
                       axis=1)
    table = _credit().batch_table(scored, binary=True)
    assert list(table.columns[:4]) == ["request id", "predicted risk",
                                       "chance of good credit", "answered by"]
    assert table.iloc[0, 1:4].tolist() == ["good credit", 0.8731, "v2"]
    download = to_csv_bytes(table).decode()
    assert download.startswith("request id,predicted risk,chance of good credit,answered by,")
    assert ",good credit,0.8731,v2," in download
    from mlops.app.labels import OutcomeWords

    regression = OutcomeWords("progression", regression=True, unit="points")
    values = regression.batch_table(pd.DataFrame({"predicted_value": [151.2]}), binary=False)
    assert list(values.columns) == ["predicted progression (points)"]


def test_metric_names_say_the_class_label_not_class_1() -> None:
    from mlops.app.describe import compare_metrics, gates_frame, metrics_frame

    evaluation = {"metrics": {"f1": 0.8, "roc_auc": 0.75},
                  "metric_labels": {"f1": "F1 of class 1", "roc_auc": "ROC-AUC"}}
    names = list(metrics_frame(evaluation, {}, "", _credit())["metric"])
    assert names == ["F1 of good credit", "ROC-AUC"]
    table = compare_metrics(evaluation, evaluation, "v1", "v2", "", _credit())
    assert list(table["metric"]) == names
    gates = gates_frame([{"label": "F1 of class 1", "metric": "f1", "direction": "min",
                          "threshold": 0.5, "value": 0.8, "passed": True}], "", _credit())
    assert list(gates["check"]) == ["F1 of good credit"]


def test_the_batch_screen_shows_labels_and_inputs_as_the_form_labels_them(app_env) -> None:
    at = _screen(_app(), "Batch")
    at.text_area(key="batch_text").set_value(f"{HEADER}\n{ROW}\n")
    next(b for b in at.button if b.key == "batch_score").click().run()
    assert not at.exception, at.exception
    table = next(d for d in at.dataframe if "predicted risk" in d.value.columns)
    assert set(table.value["predicted risk"]) <= {"good credit", "bad credit"}
    _no_internal_words(at)


# ------------------------------------------------------------------ explanations
def test_the_explanation_reads_in_plain_words_and_points_to_fairness(app_env) -> None:
    at = _app()
    next(b for b in at.button if b.key == "predict").click().run()
    assert not at.exception, at.exception
    [chart] = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["x"]["axis"]["title"] == (
        "← pushes away from good credit · pushes towards good credit →")
    import pyarrow as pa

    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()
    inputs = list(data["input"])
    # Values as the form shows them: labels with their unit, categories without "_".
    assert not any("_" in i for i in inputs), inputs
    amount = next((i for i in inputs if i.startswith("Credit amount")), None)
    if amount is not None:
        assert amount.endswith(" DM") and "(DM)" not in amount
    sensitive = [i for i in inputs if i.startswith(("Sex =", "Age ="))]
    notes = [i.value for i in at.info if "Fairness" in i.value]
    assert bool(notes) == bool(sensitive), (inputs, notes)


def test_a_sensitive_input_among_the_top_gets_one_sentence() -> None:
    from mlops.app.public import fairness_note

    note = fairness_note(["sex"])
    assert note.startswith("Sex is among the inputs that moved this prediction most.")
    assert "model card, under Fairness" in note


# ------------------------------------------------------------------ upload errors
def _refusal(text: str, schema):
    from mlops.app.refusals import refusal

    data = text.encode()
    return refusal(data, validate_batch(data, schema), schema, target="risk")


def test_a_renamed_column_names_the_missing_and_the_unknown_one(schema) -> None:
    refused = _refusal(f"{HEADER.replace('age', 'years_old')}\n{ROW}\n", schema)
    assert "Missing column: age (did you mean years_old?)" in refused.message
    assert "does not know the column years_old" in refused.message
    assert not refused.cells
    close = _refusal(f"{HEADER.replace('duration', 'durations')}\n{ROW}\n", schema)
    assert "duration (did you mean durations?)" in close.message


def test_a_file_that_is_not_a_csv_of_this_shape_gets_one_message(schema) -> None:
    note = ("Hi team, here are the numbers from the meeting\n"
            "We agreed to look at the credit files again next week\n")
    refused = _refusal(note, schema)
    assert refused.message.startswith("This file is not a CSV of this model's inputs")
    assert refused.message.count("missing") == 0 and not refused.cells


def test_refusals_have_no_none_and_no_plural_s(schema) -> None:
    refused = _refusal(f"{HEADER}\n{ROW.replace('own', 'castle')}\n", schema)
    assert "1 cell needs fixing" in refused.message
    frame = refused.cells_frame()
    assert not frame.isna().to_numpy().any() and list(frame["column"]) == ["Housing"]
    for text in (refused.message, *map(str, frame.to_numpy().ravel())):
        assert "None" not in text and "(s)" not in text
    two = _refusal(f"{HEADER}\n{ROW.replace('own', 'castle').replace('car', 'boat')}\n",
                   schema)
    assert "2 cells need fixing" in two.message


def test_a_wrong_file_type_is_explained_in_words() -> None:
    from mlops.app.refusals import file_type_problem

    assert file_type_problem("rows.csv") is None and file_type_problem("ROWS.CSV") is None
    message = file_type_problem("notes.txt")
    assert message.startswith("notes.txt is a .txt file, not a CSV file.")
    assert "a file without an extension" in file_type_problem("rows")


def test_the_batch_screen_clears_an_old_error_on_a_new_paste(app_env) -> None:
    at = _screen(_app(), "Batch")
    at.text_area(key="batch_text").set_value(f"{HEADER}\n{ROW.replace('own', 'castle')}\n")
    next(b for b in at.button if b.key == "batch_score").click().run()
    assert at.error and any("problem" in d.value.columns for d in at.dataframe)
    at.text_area(key="batch_text").set_value(f"{HEADER}\n{ROW}\n").run()
    assert not at.error and not any("problem" in d.value.columns for d in at.dataframe)


# ------------------------------------------------------------------------ compare
def test_compare_opens_with_a_verdict_line_that_counts_the_table(app_env) -> None:
    from mlops.app.describe import compare_verdict

    at = _screen(_app(), "Compare")
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    verdicts = list(table["verdict"])
    better = sum(v.endswith("better") for v in verdicts)
    worse = sum(v.endswith("worse") for v in verdicts)
    line = f"v1 against v2: {better} better, {worse} worse, " \
           f"{len(verdicts) - better - worse} within noise"
    assert any(line in m.value for m in at.markdown), [m.value for m in at.markdown]
    assert compare_verdict(pd.DataFrame({"verdict": ["v2 better", "within noise", "same",
                                                     "v2 worse", "v2 worse"]}), "v1", "v2"
                           ) == "v2 against v1: 1 better, 2 worse, 2 within noise"


def test_params_diff_is_the_pr_reports_and_leaves_out_where_state_lives() -> None:
    from mlops.app.describe import params_frame

    a = {"registry": {"path": "a"}, "model": {"C": 1}, "seed": 1}
    b = {"registry": {"path": "b"}, "model": {"C": 1.0}, "seed": 2}
    frame = params_frame(a, b, "v1", "v2")
    assert frame.to_dict("records") == [{"params key": "seed", "v1": "1", "v2": "2"}]


# --------------------------------------------------------------------- monitoring
def test_windows_adapt_to_the_time_span() -> None:
    from mlops.app.live import readable_window

    assert readable_window(8).words == "minute"  # never a 1-second window
    assert readable_window(3 * 3600).words == "15 minutes"
    assert readable_window(20 * 3600).words == "hour"
    assert readable_window(10 * 86400).words == "day"
    assert readable_window(10 * 86400).time_format == "%b %d"


def _predict(app_env, rows: int) -> None:
    from mlops.app.context import AppContext

    ctx = AppContext.create(ROOT)
    frame = validate_batch(f"{HEADER}\n{ROW}\n".encode(), ctx.schema).frame
    result = ctx.predict(pd.concat([frame] * rows, ignore_index=True), version=None,
                         session_key="s")
    ctx.record_feedback(result.frame["request_id"].iloc[0], 1, token=TOKEN)  # trusted
    ctx.log.flush()
    ctx.close()


def _operator() -> AppTest:
    at = _app()
    at.text_input(key="admin_token").set_value(TOKEN)
    return _screen(at, "Operator")


def _chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("arrow_vega_lite_chart")
            or at.get("vega_lite_chart")]


def test_monitoring_tables_charts_and_drift_speak_to_a_person(app_env) -> None:
    _predict(app_env, 7)
    at = _operator()
    _no_internal_words(at)
    table = next(d.value for d in at.dataframe if "latency p99" in d.value.columns)
    row = table.set_index("version").loc["v2"]
    assert row["requests"] == "7" and row["error rate"] == "0 %"
    assert row["latency p50"].endswith(" ms") and row["accuracy"].endswith(" %")
    specs = _chart_specs(at)
    assert specs, "the time charts are drawn"
    for spec in specs:  # every chart names its series
        assert "color" in spec["encoding"], spec["encoding"]
        assert spec["encoding"]["color"].get("legend", {}) is not None
        x = spec["encoding"]["x"]
        assert "minute" in x.get("title", "") and x["axis"]["format"] == "%H:%M"
    shown = _shown_text(at)
    assert "public outcomes (not used)" in shown
    at.toggle(key="mon_drift").set_value(True).run()
    assert not at.exception, at.exception
    shown = _shown_text(at)
    assert "Not enough requests to judge drift (7 of the 30 needed)." in shown
    assert "stable" not in shown and "drifted)" not in shown
    assert not any("drifted" in d.value.columns for d in at.dataframe)  # no bars either


def test_drift_verdict_and_bars_agree_above_the_minimum(app_env) -> None:
    from mlops.app.operator import drift_verdict
    from mlops.monitoring.timeline import MIN_DRIFT_ROWS

    _predict(app_env, MIN_DRIFT_ROWS + 5)
    at = _operator()
    at.toggle(key="mon_drift").set_value(True).run()
    assert not at.exception, at.exception
    _no_internal_words(at)
    table = next(d.value for d in at.dataframe if "drifted" in d.value.columns)
    drifted = int((table["drifted"] == "yes").sum())
    verdict = next(m.value for m in at.markdown if m.value.startswith("Live inputs"))
    assert f"({drifted} of {len(table)} inputs drifted" in verdict
    bars = next(s for s in _chart_specs(at) if s["encoding"]["x"].get("field") == "input")
    assert bars["encoding"]["color"]["field"] == "drifted"
    assert drift_verdict({"drifted_columns": [], "dataset_drift": False, "columns": []},
                         MIN_DRIFT_ROWS - 1).startswith("Not enough requests")


# ------------------------------------------------------------------ sidebar, CLI
def test_the_sidebar_has_one_model_heading_and_whole_version_names(app_env) -> None:
    at = _app()
    assert [h.value for h in at.sidebar.header] == ["Model"]
    assert at.selectbox(key="model_choice").label == "Which model"
    version = next(s for s in at.sidebar.selectbox if s.key.startswith("version_choice@"))
    assert version.options == ["serving now (v2)", "v2 (production)", "v1"]


def test_registry_list_counts_versions_in_words(app_env, capsys) -> None:
    from mlops.cli.main import main

    assert main(["registry", "list"]) == 0
    out = capsys.readouterr().out
    assert "credit-risk\t2 versions\tproduction=v2\tproduction v2 (no staging version)" in out
    assert "staging -" not in out and "1 versions" not in out


# ------------------------------------------------- the regression example, with unit
def _wait_logged(request_id: str) -> None:
    import os
    import time

    from mlops.serving.predlog import read_predictions

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = read_predictions(os.environ["MLOPS_LOG_PATH"], missing_ok=True)
        if request_id in set(log["request_id"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"{request_id} was never logged")


@pytest.fixture
def diabetes_env(app_env, monkeypatch, tmp_path):
    """models/diabetes served by the app: two Ridge versions with evaluations, as a run
    registers them (metric labels with the unit)."""
    from sklearn.linear_model import Ridge

    from mlops.core.config import load_params
    from mlops.core.data import read_csv
    from mlops.core.modelio import save_model
    from mlops.registry.local import LocalRegistry
    from mlops.stages.metrics import metric_label

    params_file = ROOT / "models" / "diabetes" / "params.yaml"
    params = load_params(params_file)
    frame = read_csv(params.resolve(params.data.path))
    x, y = frame.drop(columns=[params.data.target]), frame[params.data.target]
    registry = LocalRegistry(Path(app_env["MLOPS_REGISTRY_PATH"]))
    for version, (alpha, mae) in enumerate(((1.0, 46.0), (0.1, 44.0)), start=1):
        save_model(Ridge(alpha=alpha).fit(x, y), tmp_path / f"ridge{version}.skops")
        metrics = {"mae": mae, "r2": 0.45}
        evaluation = {"metrics": metrics, "n_samples": 111,
                      "confidence_intervals": {k: {"low": v * 0.9, "high": v * 1.1}
                                               for k, v in metrics.items()},
                      "metric_labels": {k: metric_label(k, task="regression", unit="points")
                                        for k in metrics}}
        (tmp_path / f"evaluation{version}.json").write_text(json.dumps(evaluation))
        registry.register(params.model.name, tmp_path / f"ridge{version}.skops",
                          metadata={"gates_passed": True, "metrics": metrics},
                          files={"evaluation.json": tmp_path / f"evaluation{version}.json"})
        registry.promote(params.model.name, version, "production",
                         expected=None if version == 1 else 1, actor="test", reason="test")
    monkeypatch.setenv("MLOPS_PARAMS", str(params_file))
    return params, x


def test_the_regression_example_shows_its_target_with_its_unit(diabetes_env) -> None:
    params, x = diabetes_env
    at = _app()
    next(b for b in at.button if b.key == "predict").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Predicted progression" and m.value.endswith(" points")
               for m in at.metric)
    _screen(at, "Batch")
    at.text_area(key="batch_text").set_value(x.head(3).to_csv(index=False))
    next(b for b in at.button if b.key == "batch_score").click().run()
    assert not at.exception, at.exception
    batch = next(d.value for d in at.dataframe
                 if "predicted progression (points)" in d.value.columns)
    assert len(batch) == 3
    _screen(at, "Compare")
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    mae = table.set_index("metric").loc["Mean absolute error (points)"]
    assert mae["v2"].startswith("44 points") and mae["change"].endswith(" points")
    # Monitoring: an outcome recorded from the CLI's path (trusted), then the table.
    from mlops.app.context import AppContext

    first = batch["request id"].iloc[0]
    _wait_logged(first)  # the app's log writer runs on its own thread
    ctx = AppContext.create(ROOT)
    ctx.log.add_feedback({first: 150.0}, source="cli", trusted=True)
    ctx.log.flush()
    ctx.close()
    at.text_input(key="admin_token").set_value(TOKEN)
    _screen(at, "Operator")
    table = next(d.value for d in at.dataframe if "mean absolute error" in d.value.columns)
    assert table.set_index("version").loc["v2", "mean absolute error"].endswith(" points")
    _no_internal_words(at)
