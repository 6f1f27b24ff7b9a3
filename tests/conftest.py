"""Shared pytest fixtures. Several test modules append their fixtures here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis: a few examples for an answer in minutes ("dev", `make test`), the full search in
# CI ("ci", `make test-slow` and `make test-all`). A test's own @settings set no example count.
settings.register_profile("dev", max_examples=25)
settings.register_profile("ci", max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# huggingface_hub reads these when it is first imported, so they are set before any test
# module can import it: nothing may reach huggingface.co from the tests. The Hub fixture
# passes its own endpoint explicitly; this placeholder only makes stray calls fail fast.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Where the project keeps its state (see mlops.core.config), relative to a session folder.
STATE_ENV = {"MLOPS_REGISTRY_PATH": "registry",
             "MLOPS_LOG_PATH": "logs/predictions.sqlite",
             "MLOPS_RUNS_DIR": "runs"}
# The app's operator token in the tests: a strong one, as the docs make it
# (secrets.token_urlsafe(32)); test_app.py, test_trust.py and test_app_browser.py type it.
OPERATOR_TOKEN = "yfdib1qVvzZ6dLHZWaBiVft5U0RwMeYkK9RtM8wVJwE"


# --------------------------------------------------------------------------- isolation
@pytest.fixture(scope="session", autouse=True)
def project_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry, prediction log and runs folder of the session's own, never the working copy's.

    Every test, and every kernel and subprocess it starts (they inherit the environment),
    loads ``params.yaml`` with ``registry.path`` and ``monitoring.log_path`` moved here and
    puts default run folders here: a model that ``make pipeline`` registered in
    ``registry/`` cannot change a champion gate in a test. A test's own ``--set
    registry.path=...`` still wins. ``notebooks/conftest.py`` does the same for nbval.
    """
    folder = tmp_path_factory.mktemp("project-state")
    with pytest.MonkeyPatch.context() as mp:
        for var, rel in STATE_ENV.items():
            mp.setenv(var, str(folder / rel))
        yield folder


# --------------------------------------------------------------------------- registry
@pytest.fixture(scope="session")
def registry_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with a small fitted skops pipeline (``model.skops``) and a ``README.md``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops.core.modelio import save_model

    folder = tmp_path_factory.mktemp("registry-model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=60) > 0).astype(int)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    save_model(pipeline.fit(x, y), folder / "model.skops")
    (folder / "README.md").write_text("# model card\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def hub_server():
    """A local Hub-protocol server on 127.0.0.1 (see tests/hubserver.py); yields its URL."""
    from hubserver import HubServer  # tests/ is on sys.path (pytest rootdir conftest)

    with HubServer() as server:
        yield server


# Tokens of the authenticating local Hub (test values, no secrets): alice writes, reads, bob.
HUB_TOKENS = {"hf_alice_write": ("alice", "write"), "hf_alice_read": ("alice", "read"),
              "hf_bob_write": ("bob", "write")}


@pytest.fixture(scope="session")
def hub_auth_server():
    """A local Hub that enforces tokens and private repositories (:data:`HUB_TOKENS`)."""
    from hubserver import HubServer, HubToken

    with HubServer({t: HubToken(u, r) for t, (u, r) in HUB_TOKENS.items()}) as server:
        yield server


# --------------------------------------------------------------------------- app
@pytest.fixture(scope="session")
def app_registry_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local registry with two real German-credit versions: v1 then v2 in production.

    v2 replaced v1, so a rollback is possible. Each version carries metrics, a model card,
    evaluation.json and one plot, as a pipeline run would register them.
    """
    import dataclasses
    import json

    from mlops.core.config import load_params
    from mlops.core.data import read_csv, split
    from mlops.core.modelio import save_model
    from mlops.registry import open_registry
    from mlops.stages.metrics import classification_metrics, predict
    from mlops.stages.plots import plot_roc
    from mlops.stages.training import train

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target, test_size=params.data.test_size,
                                    seed=params.seed)
    folder = tmp_path_factory.mktemp("app-registry")
    # path spelled out: the session's MLOPS_REGISTRY_PATH (project_state) must not move it.
    registry = open_registry(dataclasses.replace(params.registry, backend="local",
                                                 path="registry"), folder)
    name = params.model.name
    for version, c in ((1, 0.05), (2, 1.0)):
        hyper = {**params.model.hyperparameters,
                 "logistic_regression": {"C": c, "max_iter": 1000}}
        p = dataclasses.replace(params, model=dataclasses.replace(params.model,
                                                                  hyperparameters=hyper))
        model = train(p, train_frame)
        work = folder.parent / f"work-v{version}"
        work.mkdir()
        save_model(model, work / "model.skops")
        pred = predict(model, test_frame, p)
        metrics = {k: v for k, v in classification_metrics(pred).items() if v is not None}
        intervals = {k: {"low": v - 0.05, "high": v + 0.05, "level": 0.95}
                     for k, v in metrics.items()}
        (work / "evaluation.json").write_text(json.dumps({
            "metrics": metrics, "confidence_intervals": intervals, "classes": [0, 1],
            "positive_class": 1, "n_samples": len(test_frame)}))
        gates = [{"direction": "min", "gate": "min_roc_auc", "label": "ROC-AUC",
                  "key": "evaluation.gates.min_roc_auc", "metric": "roc_auc", "note": "",
                  "passed": True, "threshold": 0.7, "value": metrics["roc_auc"]}]
        lineage = {"params": {"model": {"estimator": "logistic_regression",
                                        "hyperparameters": {"logistic_regression": {"C": c}}}},
                   "git_commit": "0" * 40, "git_dirty": False, "data_sha256": "1" * 64}
        (work / "README.md").write_text(f"# {name} v{version}\n\nA test model card.\n")
        fig = plot_roc(pred.y_true, pred.proba, list(pred.classes), 1)
        fig.savefig(work / "roc.png")
        registry.register(name, work / "model.skops",
                          metadata={"gates_passed": True, "metrics": metrics,
                                    "gates": gates, "lineage": lineage},
                          files={"README.md": work / "README.md",
                                 "evaluation.json": work / "evaluation.json",
                                 "plots/roc.png": work / "roc.png"})
        registry.promote(name, version, "production", expected=None if version == 1 else 1,
                         actor="fixture", reason="test fixture")
    return folder / "registry"


@pytest.fixture
def app_env(app_registry_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> dict[str, str]:
    """A private copy of the app registry and the env that points the app at it."""
    import shutil

    registry = tmp_path / "registry"
    shutil.copytree(app_registry_template, registry)
    env = {"MLOPS_REGISTRY_PATH": str(registry), "MLOPS_REGISTRY_BACKEND": "local",
           "MLOPS_LOG_PATH": str(tmp_path / "predictions.sqlite"),
           "MLOPS_ADMIN_TOKEN": OPERATOR_TOKEN}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLOPS_DATASET_REPO", raising=False)
    return env


# --------------------------------------------------------------------------- serving
@pytest.fixture(scope="session")
def serving_models(tmp_path_factory: pytest.TempPathFactory):
    """Real model files trained on the bundled data: two good ones and a bad one.

    ``bad`` learned from flipped labels: it passes as a valid file but predicts badly, the
    way a silent training bug would. Also returns the held-out rows and the params.
    """
    from types import SimpleNamespace

    from mlops.core.config import load_params
    from mlops.core.data import read_csv, split
    from mlops.core.modelio import save_model
    from mlops.stages.training import train

    root = Path(__file__).resolve().parent.parent
    params = load_params(root / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target, test_size=params.data.test_size,
                                    seed=params.seed)
    other = load_params(root / "params.yaml", ["model.hyperparameters.logistic_regression.C=0.3"])
    flipped = train_frame.assign(**{params.data.target: 1 - train_frame[params.data.target]})
    folder = tmp_path_factory.mktemp("serving-models")
    files = {}
    for key, pipeline in (("good", train(params, train_frame)),
                          ("good2", train(other, train_frame)),
                          ("bad", train(params, flipped))):
        files[key] = folder / f"{key}.skops"
        save_model(pipeline, files[key])
    return SimpleNamespace(files=files, params=params, train=train_frame, test=test_frame)


@pytest.fixture
def serving_registry(tmp_path: Path, serving_models):
    """A local registry with v1 good (production), v2 good, v3 bad; returns the registry."""
    from mlops.registry.local import LocalRegistry

    registry = LocalRegistry(tmp_path / "registry")
    name = serving_models.params.model.name
    for key in ("good", "good2", "bad"):
        registry.register(name, serving_models.files[key],
                          metadata={"gates_passed": True, "source": key})
    registry.promote(name, 1, "production", expected=None, reason="first release")
    return registry


@pytest.fixture(scope="session")
def schema(serving_models):
    """The bundled model's request schema."""
    from mlops.core.schema import load_schema

    p = serving_models.params
    return load_schema(p.resolve(p.data.schema))


@pytest.fixture
def clock():
    """The router's clock; a test module overrides it to move time by hand."""
    import time

    return time.time


@pytest.fixture
def router(serving_registry, serving_models, schema, clock, tmp_path: Path):
    """A router on ``serving_registry`` that logs to a fresh SQLite file."""
    from mlops.serving.predlog import PredictionLog
    from mlops.serving.router import Router

    r = Router(serving_registry, serving_models.params.model.name, schema,
               PredictionLog(tmp_path / "log.sqlite"), refresh_seconds=3600, clock=clock)
    yield r
    r.close()


# --------------------------------------------------------------------------- tiers
FAST_TIER_BUDGET_S = 10.0
_over_budget: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration > FAST_TIER_BUDGET_S:
        _over_budget.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Name the fast tier's tests over budget: they belong in the slow tier (docs/testing.md).

    Reported, not failed: a timing depends on the machine's load, and a red build that a
    busy runner causes teaches people to rerun (timings are judged by `make bench`).
    """
    if config.getoption("markexpr") != "not slow" or not _over_budget:
        return
    terminalreporter.section("fast tier: tests over budget")
    for nodeid, seconds in _over_budget:
        terminalreporter.write_line(f"{seconds:5.1f} s > {FAST_TIER_BUDGET_S:.0f} s  {nodeid}  "
                                    "(mark it @pytest.mark.slow or make it faster)")
