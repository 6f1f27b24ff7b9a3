"""End to end in a real browser: `streamlit run app.py` driven by Debian's Chromium.

Needs `/usr/bin/chromium` (`apt-get install -y chromium`; `.ci/run` does it). Waits for the
app's own elements, never for a fixed time: Streamlit renders over a websocket.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops.core.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
# Debian's Chromium (.ci/run); CI on GitHub points CHROMIUM_PATH at the runner's Chrome.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# A strong token as the docs make one (secrets.token_urlsafe(32)); a test value, no secret.
TOKEN = "yfdib1qVvzZ6dLHZWaBiVft5U0RwMeYkK9RtM8wVJwE"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Every image element of the page has its picture (a slow machine serves them late).
IMAGES_LOADED = """Array.from(document.querySelectorAll('[data-testid="stImage"]')).every(
    e => { const i = e.querySelector('img'); return i && i.complete && i.naturalWidth > 0; })"""

pytestmark = [
    pytest.mark.slow,
    # Skipped on a developer machine without Chromium; in CI (which installs it) it must run.
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                       reason="needs Debian's Chromium: apt-get install -y chromium"),
]



def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@pytest.fixture
def app_server(app_env: dict[str, str], tmp_path: Path):
    """`streamlit run app.py` on a free port against the test registry; stopped by PID."""
    port = free_port()
    env = {**os.environ, **app_env, "PYTHONUNBUFFERED": "1"}
    out = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        stop(proc)
        out.close()


def _artifact_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``runs/artifacts/app/`` (CI uploads ``runs/``), or tmp."""
    folder = Path(os.environ.get("MLOPS_TEST_ARTIFACTS") or ROOT / "runs" / "artifacts") / "app"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = tmp_path
    return folder


class _Shots:
    """Saves a full-page screenshot of every screen, numbered in journey order."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n, self.paths, self.height = folder, 0, [], 1000

    def __call__(self, page, name: str) -> None:
        page.wait_for_selector(READY)
        # Streamlit scrolls inside its own container, so a full-page shot stops at the
        # viewport: a tall viewport of the same width shows the whole screen.
        width = page.viewport_size["width"]
        page.set_viewport_size({"width": width, "height": 2400})
        page.wait_for_function(IMAGES_LOADED, timeout=30_000)
        page.wait_for_timeout(300)  # charts draw after the script ends (a fixed pause is
        # for the picture only; no assertion depends on it)
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        page.set_viewport_size({"width": width, "height": self.height})


def _screen(page, name: str) -> None:
    page.get_by_test_id("stRadio").first.get_by_text(name, exact=True).click()
    page.wait_for_selector(READY)


def _part(page, name: str) -> None:
    page.get_by_test_id("stRadio").nth(1).get_by_text(name, exact=True).click()
    page.wait_for_selector(READY)


def test_stakeholder_and_operator_journeys_in_a_browser(app_server: str, app_env,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from mlops.core.config import RegistryConfig
    from mlops.registry import open_registry

    shots = _Shots(_artifact_dir(tmp_path))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_server)
            page.wait_for_selector(READY, timeout=30_000)
            expect(page.get_by_text("credit-risk v2", exact=False).first).to_be_visible()

            # --- the stakeholder: what it does, a prediction and why
            expect(page.get_by_text("This model predicts")).to_be_visible()
            shots(page, "predict-form")
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(page.get_by_text("v2 (production)")).to_be_visible(timeout=20_000)
            expect(page.get_by_text("Why?", exact=False)).to_be_visible()
            shots(page, "prediction-explained")

            _screen(page, "Batch")
            area = page.get_by_role("textbox", name="…or paste CSV text")
            area.fill(GOOD_ROWS)
            area.press("Control+Enter")
            page.wait_for_selector(READY)
            page.get_by_role("button", name="Score", exact=True).click()
            expect(page.get_by_text("Scored 2 rows with v2")).to_be_visible(timeout=20_000)
            shots(page, "batch-scored")

            _screen(page, "Model card")
            expect(page.get_by_text("Quality gates")).to_be_visible()
            shots(page, "card-summary")
            _part(page, "Plots")
            expect(page.get_by_text("ROC", exact=True)).to_be_visible()
            shots(page, "card-plots")
            _part(page, "Lineage")
            shots(page, "card-lineage")

            _screen(page, "Compare")
            expect(page.get_by_text("within noise").or_(page.get_by_text("better")).first
                   ).to_be_visible()
            shots(page, "compare-metrics")
            _part(page, "Plots")
            shots(page, "compare-plots")
            _part(page, "Timeline")
            shots(page, "compare-timeline")

            # --- the operator: a wrong token, then a confirmed rollback with a reason
            token = page.get_by_label("Operator token")
            token.fill("not-the-token")
            token.press("Enter")
            page.wait_for_selector(READY)
            _screen(page, "Operator")
            expect(page.get_by_text("That operator token is not right")).to_be_visible()
            shots(page, "operator-wrong-token")
            token.fill(TOKEN)
            token.press("Enter")
            page.wait_for_selector(READY)
            expect(page.get_by_text("Promotion ledger")).to_be_visible()
            shots(page, "operator")
            page.get_by_role("button", name=re.compile(r"Roll back production")).click()
            dialog = page.get_by_role("dialog")
            expect(dialog.get_by_text("goes back from v2 to")).to_be_visible(timeout=20_000)
            expect(dialog.get_by_role("button", name="Confirm")).to_be_disabled()
            shots(page, "operator-confirm")
            reason = dialog.get_by_label("Reason (required, recorded in the ledger)")
            reason.fill("v2 misbehaves in the browser test")
            reason.press("Enter")
            page.wait_for_selector(READY)
            dialog.get_by_role("button", name="Confirm").click()
            expect(page.get_by_text("Roll back production from v2 to v1: ledger entry")
                   ).to_be_visible(timeout=20_000)
            expect(page.get_by_text("credit-risk v1").first).to_be_visible()
            # The sidebar's selector says the same as the header: no stale "production".
            sidebar = page.get_by_test_id("stSidebar")
            version = sidebar.get_by_role("combobox", name="Version (read-only: try or compare)")
            expect(version).to_have_value("serving now (v1)")
            expect(page.get_by_role("combobox", name="Version", exact=True)).to_have_value(
                re.compile(r"^v2 · logistic_regression · "))  # no alias any more
            shots(page, "operator-after-rollback")

            # --- a phone-sized screen: the same first page, nothing wider than the screen
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            shots.height = 844
            phone.goto(app_server)
            phone.wait_for_selector(READY, timeout=30_000)
            phone.get_by_role("button", name="Predict", exact=True).click()
            expect(phone.get_by_text("Why?", exact=False)).to_be_visible(timeout=20_000)
            shots(phone, "phone-prediction")
            assert phone.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth + 1")
        finally:
            browser.close()
    registry = open_registry(RegistryConfig("local", app_env["MLOPS_REGISTRY_PATH"], "",
                                            ("production", "candidate")))
    assert registry.aliases("credit-risk")["production"] == 1
    last = registry.history("credit-risk")[-1]
    assert (last.actor, last.reason) == ("app", "v2 misbehaves in the browser test")
    assert len(shots.paths) == 14 and all(p.stat().st_size > 10_000 for p in shots.paths)
    print(f"screenshots: {shots.folder}")


GOOD_ROWS = ("sex,job,housing,saving_accounts,checking_account,credit_amount,duration,"
             "purpose,age\nmale,2,own,little,moderate,1000,12,car,35\n"
             "female,1,rent,little,little,4000,36,car,23\n")


@pytest.fixture
def text_label_server(tmp_path: Path):
    """The app serving a three-class model with text labels, registered by a real
    `mlops init` and pipeline run on data the repository does not ship."""
    import pandas as pd
    from sklearn.datasets import load_wine

    from mlops.cli.main import main
    from mlops.core.config import load_params
    from mlops.pipeline.runner import run_pipeline

    wine = load_wine(as_frame=True)
    frame = wine.frame.drop(columns="target").iloc[:, :6]
    frame["cultivar"] = pd.Series(["barolo", "grignolino", "barbera"]).iloc[wine.target].values
    frame.to_csv(tmp_path / "wines.csv", index=False)
    params_file = tmp_path / "params-wines.yaml"
    assert main(["init", "--data", str(tmp_path / "wines.csv"), "--target", "cultivar",
                 "--out", str(params_file)]) == 0
    overrides = [f"registry.path={tmp_path / 'registry'}"]
    run_pipeline(load_params(params_file, overrides), params_file=params_file,
                 overrides=overrides, runs_dir=tmp_path / "runs", progress=lambda _: None)
    env = {"MLOPS_PARAMS": str(params_file), "MLOPS_REGISTRY_PATH": str(tmp_path / "registry"),
           "MLOPS_REGISTRY_BACKEND": "local", "MLOPS_LOG_PATH": str(tmp_path / "log.sqlite")}
    port = free_port()
    out = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=out,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, frame, tmp_path / "log.sqlite"
    finally:
        stop(proc)
        out.close()


def test_a_model_with_text_labels_predicts_scores_and_downloads(text_label_server,
                                                                tmp_path: Path) -> None:
    """Predict, Batch and its download with text classes, in a real browser."""
    from playwright.sync_api import expect, sync_playwright

    from mlops.serving.predlog import read_predictions

    url, frame, log_path = text_label_server
    classes = {"barolo", "grignolino", "barbera"}
    rows = frame.drop(columns="cultivar").head(3).to_csv(index=False)
    shots = _Shots(_artifact_dir(tmp_path))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(READY, timeout=30_000)
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(page.get_by_text("v1 (production)")).to_be_visible(timeout=20_000)
            shown = page.get_by_test_id("stMain").inner_text()
            assert any(c in shown for c in classes), shown
            assert "went wrong" not in shown
            shots(page, "text-labels-predict")

            _screen(page, "Batch")
            area = page.get_by_role("textbox", name="…or paste CSV text")
            area.fill(rows)
            area.press("Control+Enter")
            page.wait_for_selector(READY)
            page.get_by_role("button", name="Score", exact=True).click()
            expect(page.get_by_text("Scored 3 rows with v1")).to_be_visible(timeout=20_000)
            shots(page, "text-labels-batch")
            with page.expect_download() as download:
                page.get_by_role("button", name="Download results").click()
            scored = (tmp_path / "scored.csv")
            download.value.save_as(scored)
        finally:
            browser.close()
    import pandas as pd

    result = pd.read_csv(scored)
    assert len(result) == 3 and set(result.iloc[:, 1]) <= classes
    logged = read_predictions(log_path)
    assert set(logged["prediction"]) <= classes and len(logged) == 4
