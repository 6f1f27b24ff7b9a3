"""monitor.yml's steps in order: the decision file is written once, by the monitor that acted.

`mlops monitor --apply` rolls production back and writes monitor.json; the monitoring
notebook that runs after it (papermill, as in the workflow) shows that report and leaves
the file byte for byte as it was.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.core.schema import load_schema
from mlops.monitoring.simulation import send_traffic
from mlops.monitoring.view import monitor_view
from mlops.serving.predlog import PredictionLog
from mlops.serving.router import Router

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _workflow_steps(path: Path) -> list[str]:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step.get("name", "") for step in doc["jobs"]["monitor"]["steps"]]


def test_monitor_yml_runs_the_monitor_before_the_notebook() -> None:
    names = _workflow_steps(ROOT / ".github" / "workflows" / "monitor.yml")
    monitor = names.index("Monitor and apply the rollback rules")
    notebook = names.index("Monitoring notebook (papermill)")
    decide = names.index("Decide on retraining")
    assert monitor < notebook < decide


def test_notebook_never_writes_the_decision_file() -> None:
    text = (ROOT / "notebooks" / "04_monitor.ipynb").read_text(encoding="utf-8")
    assert "write_text" not in text and "write_json" not in text and "open(" not in text
    assert "monitor_view" in text and "apply=False)" not in text.replace("(`apply=False`)", "")


@pytest.mark.slow
def test_the_decision_file_is_the_one_that_acted(tmp_path: Path, serving_registry,
                                                 serving_models) -> None:
    params, name = serving_models.params, serving_models.params.model.name
    # v3 (trained on flipped labels) reaches production after v1; the monitor must undo it.
    serving_registry.promote(name, 3, "production", expected=1, reason="a silent bug ships")
    log_path = tmp_path / "monitor-data" / "predictions.sqlite"
    router = Router(serving_registry, name, load_schema(params.resolve(params.data.schema)),
                    PredictionLog(log_path), positive_class=params.data.positive_class)
    try:
        sent = send_traffic(router, serving_models.test, params.data.target, n=160, seed=1)
    finally:
        router.close()
    assert sent["by_version"] == {3: 160} and sent["labelled"] == 160

    sets = [f"registry.path={serving_registry.root}", f"monitoring.log_path={log_path}"]
    out = tmp_path / "runs" / "monitor"
    # Step "Monitor and apply the rollback rules" of monitor.yml.
    done = subprocess.run(
        [str(BIN / "mlops"), "monitor", "--params", str(ROOT / "params.yaml"),
         *[a for s in sets for a in ("--set", s)], "--out", str(out), "--apply"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "production: rollback" in done.stdout
    assert serving_registry.aliases(name)["production"] == 1
    decision = out / "monitor.json"
    before = decision.read_bytes()
    report = json.loads(before)
    assert report["production"] == 3
    assert [a["action"] for a in report["actions"]] == ["rollback"]

    # Step "Monitoring notebook (papermill)", the same arguments as the workflow.
    executed = out / "04_monitor.ipynb"
    done = subprocess.run(
        [str(BIN / "papermill"), str(ROOT / "notebooks" / "04_monitor.ipynb"), str(executed),
         "--cwd", str(ROOT / "notebooks"), "-p", "params_path", str(ROOT / "params.yaml"),
         "-p", "run_dir", str(out), "-y", json.dumps({"overrides": sets})],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert decision.read_bytes() == before, "the notebook rewrote the decision file"
    assert not list(out.glob(".monitor.json.*")), "no temporary file left behind"
    outputs = json.dumps(json.loads(executed.read_text())["cells"])
    assert "the report that `mlops monitor` wrote and acted on" in outputs
    assert "production was v3" in outputs and "rollback" in outputs
    # A second look now would see v1 in production and nothing to do: the notebook did not
    # recompute, it showed the decision that was taken.
    view = monitor_view(params, tmp_path / "elsewhere", log_path=log_path)
    assert not view.recorded


def test_view_without_a_recorded_report_is_a_dry_run(tmp_path: Path, serving_registry,
                                                     serving_models, monkeypatch) -> None:
    params = serving_models.params
    monkeypatch.setenv("MLOPS_REGISTRY_PATH", str(serving_registry.root))
    from mlops.core.config import load_params

    params = load_params(ROOT / "params.yaml")
    view = monitor_view(params, tmp_path, log_path=tmp_path / "none.sqlite")
    assert not view.recorded and "dry run" in view.source
    assert view.report["actions"] == [] and view.report["primary"] == 0
    assert not (tmp_path / "monitor.json").exists()
    assert serving_registry.history(params.model.name)[-1].action == "promote"


@pytest.mark.slow
def test_refused_requests_alone_fire_the_error_rate_rule(tmp_path: Path, serving_registry,
                                                         serving_models, capsys) -> None:
    from mlops.cli.main import main
    from mlops.core.exceptions import RequestError

    params, name = serving_models.params, serving_models.params.model.name
    target = params.data.target
    # v2 follows v1 into production, so the rollback the rule calls for has somewhere to go.
    serving_registry.promote(name, 2, "production", expected=1, reason="second release")
    log_path = tmp_path / "monitor-data" / "predictions.sqlite"
    router = Router(serving_registry, name, load_schema(params.resolve(params.data.schema)),
                    PredictionLog(log_path), positive_class=params.data.positive_class)
    try:
        sent = send_traffic(router, serving_models.test, target, n=150, seed=1)
        rows = serving_models.test.drop(columns=[target]).head(10).to_dict(orient="records")
        for i, row in enumerate(rows):  # a client that writes one number the wrong way
            plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            with pytest.raises(RequestError):
                router.predict({**plain, "age": "3_5"}, f"customer-{i}")
        router.flush()
    finally:
        router.close()
    assert sent["by_version"] == {2: 150}

    out = tmp_path / "runs" / "monitor"
    sets = [f"registry.path={serving_registry.root}", f"monitoring.log_path={log_path}"]
    code = main(["monitor", "--params", str(ROOT / "params.yaml"),
                 *[a for s in sets for a in ("--set", s)], "--out", str(out), "--apply"])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads((out / "monitor.json").read_text(encoding="utf-8"))
    assert report["refused"] == 10
    v2 = next(v for v in report["versions"] if v["version"] == 2)
    assert (v2["requests"], v2["errors"], v2["refused"]) == (160, 10, 10)
    assert "v2: 160 requests, error rate 0.062" in printed  # was 150 requests, 0.000
    # Figures as people read them: rounded, never a float's sixteen digits.
    line = next(x for x in printed.splitlines() if x.startswith("v2:"))
    assert re.fullmatch(r"v2: 160 requests, error rate 0\.062, p99 \d+\.\d\d ms, accuracy "
                        r"0\.\d{3} \(150 labelled\)", line), line
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["error_rate"]["status"] == "breach"
    assert rules["error_rate"]["detail"] == "10 errors in 160 requests (10 refused before routing)"
    [action] = report["actions"]
    assert action["action"] == "rollback" and any(
        r.startswith("error_rate: 10 errors in 160") for r in action["reasons"])
    assert serving_registry.aliases(name)["production"] == 1
