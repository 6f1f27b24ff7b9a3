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
from procs import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
# Debian's Chromium (.ci/run); CI on GitHub points CHROMIUM_PATH at the runner's Chrome.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "s3cret-operator-token"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'

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
    folder = Path(os.environ.get("MLOPS_TEST_ARTIFACTS") or ROOT / "runs" / "artifacts")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = tmp_path
    return folder


def test_predict_switch_version_and_roll_back_in_a_browser(app_server: str, app_env,
                                                           tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from mlops.core.config import RegistryConfig
    from mlops.registry import open_registry

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(app_server)
            page.wait_for_selector(READY, timeout=30_000)
            expect(page.get_by_text("credit-risk v2", exact=False).first).to_be_visible()

            # 1. a prediction from the serving version
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(page.get_by_text("v2 (production)")).to_be_visible(timeout=20_000)

            # 2. switch to v1 in the read-only version selector and predict again
            page.get_by_test_id("stSidebar").get_by_role("combobox").first.click()
            page.get_by_role("option", name="v1", exact=True).click()
            page.wait_for_selector(READY)
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(page.get_by_text("v1 (pinned)")).to_be_visible(timeout=20_000)

            # 3. roll back production with the operator token
            token = page.get_by_label("Operator token")
            token.fill(TOKEN)
            token.press("Enter")
            page.wait_for_selector(READY)
            page.get_by_test_id("stRadio").get_by_text("Operator", exact=True).click()
            page.wait_for_selector(READY)
            page.get_by_role("button", name=re.compile(r"Roll back production")).click()
            expect(page.get_by_text("rollback: ledger entry")).to_be_visible(timeout=20_000)
            expect(page.get_by_text("credit-risk v1").first).to_be_visible()
            page.wait_for_selector(READY)

            shot = _artifact_dir(tmp_path) / "app-browser.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
    registry = open_registry(RegistryConfig("local", app_env["MLOPS_REGISTRY_PATH"], "",
                                            ("production", "candidate")))
    assert registry.aliases("credit-risk")["production"] == 1
    assert registry.history("credit-risk")[-1].actor == "app"
    assert shot.stat().st_size > 10_000
