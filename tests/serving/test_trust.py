"""What counts as evidence for an automatic decision, replayed end to end.

A public visitor of the app (no operator token) can predict, pin a version in the read-only
selector and record "the true outcome". None of that may move production: automatic
decisions (`mlops monitor --apply`) read only ROUTED predictions and labels of a TRUSTED
source (the operator in the app, or `mlops feedback FILE`). The positive controls show that
the same rules still act on trusted evidence.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mlops.cli.main import main
from mlops.core.schema import load_schema
from mlops.registry import open_registry

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
NAME = "credit-risk"
# A strong token as the docs make one (secrets.token_urlsafe(32)); a test value, no secret.
TOKEN = "yfdib1qVvzZ6dLHZWaBiVft5U0RwMeYkK9RtM8wVJwE"
N = 12  # predictions per attack round; the rules below need 10 of them
RULES = ["--set", "monitoring.min_labelled=10", "--set", "deployment.min_samples_per_step=10",
         "--set", "monitoring.cooldown_seconds=0"]


def _registry(env: dict[str, str]):
    from mlops.core.config import RegistryConfig

    return open_registry(RegistryConfig("local", env["MLOPS_REGISTRY_PATH"], "",
                                        ("production", "candidate")))


def _cli(env: dict[str, str], tmp_path: Path) -> list[str]:
    """Options that point the CLI at the app's registry and prediction log."""
    return ["--set", f"registry.path={env['MLOPS_REGISTRY_PATH']}",
            "--set", f"monitoring.log_path={env['MLOPS_LOG_PATH']}", *RULES]


def _monitor(env: dict[str, str], tmp_path: Path) -> int:
    return main(["monitor", "--apply", "--out", str(tmp_path / "monitor"), *_cli(env, tmp_path)])


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _public_app(version: int | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    if version is not None:
        # The selector's widget key carries the aliases (``version_choice@production=2``).
        next(s for s in at.selectbox if s.key.startswith("version_choice@")).set_value(version)
        at.run()
    return at


def _predict_and_label(at: AppTest, n: int, *, lie: bool) -> list[str]:
    """Predict ``n`` times; record the opposite (``lie``) or the predicted class as outcome."""
    ids = []
    for i in range(n):
        at.number_input(key="field_credit-risk_age").set_value(20 + i)
        _button(at, "predict").click()
        at.run()
        assert not at.exception, at.exception
        last = at.session_state["last_prediction"]
        ids.append(last["request_id"])
        predicted = int(last["value"])
        at.radio(key="feedback_label").set_value(1 - predicted if lie else predicted)
        _button(at, "feedback_submit").click()
        at.run()
        assert not at.exception, at.exception
    return ids


def _feedback_rows(env: dict[str, str]) -> pd.DataFrame:
    with sqlite3.connect(env["MLOPS_LOG_PATH"]) as conn:
        return pd.read_sql_query("SELECT * FROM feedback", conn)


@pytest.mark.slow
def test_anonymous_feedback_never_rolls_production_back(app_env, tmp_path) -> None:
    registry = _registry(app_env)
    at = _public_app()
    before = len(registry.history(NAME))
    ids = _predict_and_label(at, N, lie=True)
    assert _monitor(app_env, tmp_path) == 0
    assert registry.aliases(NAME)["production"] == 2
    assert len(registry.history(NAME)) == before
    # Collected and shown, but marked untrusted.
    assert any("not used for automatic decisions" in s.value for s in at.caption)
    rows = _feedback_rows(app_env)
    assert len(rows) == N and set(rows["trusted"]) == {0}
    assert set(rows["source"]) == {"app:public"}

    # Positive control: the same wrong answers, now as labels from a trusted file (CI),
    # do roll production back, and the ledger says which evidence it used.
    with sqlite3.connect(app_env["MLOPS_LOG_PATH"]) as conn:
        predicted = dict(conn.execute("SELECT request_id, prediction FROM predictions"))
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"{r},{1 - predicted[r]}\n" for r in ids))
    assert main(["feedback", str(labels), *_cli(app_env, tmp_path)]) == 0
    rows = _feedback_rows(app_env)
    assert set(rows["trusted"]) == {1}  # a trusted label replaces an untrusted one
    assert _monitor(app_env, tmp_path) == 0
    assert registry.aliases(NAME)["production"] == 1
    last = registry.history(NAME)[-1]
    assert (last.actor, last.action) == ("mlops-monitor", "rollback")
    assert f"routed requests={N}" in last.reason and f"trusted labels={N}" in last.reason
    assert "cli:labels.csv" in last.reason
    assert last.evidence["evidence"]["trusted_labels"] == N


def test_anonymous_feedback_never_replaces_a_trusted_label(app_env, tmp_path) -> None:
    at = _public_app()
    [rid] = _predict_and_label(at, 1, lie=False)
    labels = tmp_path / "labels.csv"
    with sqlite3.connect(app_env["MLOPS_LOG_PATH"]) as conn:
        [(predicted,)] = conn.execute("SELECT prediction FROM predictions").fetchall()
    labels.write_text(f"request_id,label\n{rid},{predicted}\n")
    assert main(["feedback", str(labels), *_cli(app_env, tmp_path)]) == 0
    at.radio(key="feedback_label").set_value(1 - predicted)  # the visitor tries again
    _button(at, "feedback_submit").click()
    at.run()
    [row] = _feedback_rows(app_env).to_dict("records")
    assert (row["label"], row["trusted"], row["source"]) == (predicted, 1, "cli:labels.csv")


@pytest.mark.slow
def test_pinned_predictions_never_push_a_canary_to_production(app_env, tmp_path) -> None:
    from mlops.core.config import load_params
    from mlops.serving import deployment

    registry = _registry(app_env)
    registry.rollback(NAME, actor="fixture", reason="v2 becomes a candidate again")  # prod v1
    params = load_params(ROOT / "params.yaml")
    dep = deployment.start(registry, NAME, params.deployment, candidate=2, strategy="canary",
                           now=0.0, actor="operator")
    assert dep.weight == 5.0
    at = _public_app(version=2)  # the read-only selector: "try this version"
    for _ in dep.steps:  # one round per canary step: enough to promote it before the fix
        _predict_and_label(at, N, lie=False)
        assert _monitor(app_env, tmp_path) == 0
    assert registry.aliases(NAME)["production"] == 1
    now, _ = deployment.read_deployment(registry, NAME)
    assert (now.status, now.step, now.weight) == ("running", 0, 5.0)
    with sqlite3.connect(app_env["MLOPS_LOG_PATH"]) as conn:
        roles = dict(conn.execute("SELECT role, count(*) FROM predictions GROUP BY role"))
    assert roles == {"pinned": N * len(dep.steps)}


def test_operator_feedback_in_the_app_is_trusted(app_env) -> None:
    at = _public_app()
    at.text_input(key="admin_token").set_value(TOKEN)
    at.run()
    _predict_and_label(at, 1, lie=False)
    assert any("Recorded as operator feedback" in c.value for c in at.caption)
    [row] = _feedback_rows(app_env).to_dict("records")
    assert (row["source"], row["trusted"]) == ("app:operator", 1)


@pytest.mark.slow
def test_routed_canary_traffic_with_trusted_labels_advances_and_names_its_evidence(
        serving_registry, serving_models, tmp_path) -> None:
    """The positive control of the canary: routed requests plus labels from a file."""
    import dataclasses

    from mlops.serving import deployment
    from mlops.serving.predlog import PredictionLog
    from mlops.serving.router import Router

    params = serving_models.params
    name, target = params.model.name, params.data.target
    cfg = dataclasses.replace(params.deployment, canary_steps=(50, 100))
    deployment.start(serving_registry, name, cfg, candidate=2, strategy="canary", now=0.0)
    log_path = tmp_path / "log.sqlite"
    router = Router(serving_registry, name, load_schema(params.resolve(params.data.schema)),
                    PredictionLog(log_path), refresh_seconds=3600)
    truth = {}
    with router:
        for i, row in enumerate(serving_models.test.head(120).to_dict("records")):
            label = int(row.pop(target))
            pred = router.predict({k: getattr(v, "item", lambda v=v: v)() for k, v in
                                   row.items()}, f"user-{i}")
            truth[pred.request_id] = label
        router.feedback(truth)  # untrusted (no source vouched for): not evidence
    env = {"MLOPS_REGISTRY_PATH": str(serving_registry.root), "MLOPS_LOG_PATH": str(log_path)}
    assert _monitor(env, tmp_path) == 0
    assert deployment.read_deployment(serving_registry, name)[0].step == 0  # paused
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"{r},{y}\n" for r, y in truth.items()))
    assert main(["feedback", str(labels), *_cli(env, tmp_path)]) == 0
    assert _monitor(env, tmp_path) == 0
    dep, _ = deployment.read_deployment(serving_registry, name)
    assert (dep.step, dep.weight) == (1, 100.0)
    entry = serving_registry.history(name)[-1]
    assert entry.reason.startswith("canary step 1: 100 % (step 0 (50 %) healthy; evidence: ")
    assert "candidate v2: routed requests=" in entry.reason
    assert "from cli:labels.csv" in entry.reason and "0 pinned predictions" in entry.reason
    assert entry.evidence["evidence"]["candidate"]["label_sources"] == {
        "cli:labels.csv": entry.evidence["evidence"]["candidate"]["trusted_labels"]}
