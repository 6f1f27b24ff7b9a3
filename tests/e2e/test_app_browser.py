"""End to end in a real browser: `streamlit run app.py` driven by Debian's Chromium.

Needs `/usr/bin/chromium` (`apt-get install -y chromium`; `.ci/run` does it). Waits for the
app's own elements, never for a fixed time: Streamlit renders over a websocket.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops.core.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
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


# ----------------------------------------------------------- every screen, in words
# Field names of the code a person must never read in a table; a user's own column names
# are shown as the schema labels them.
INTERNAL_NAMES = ("p50_ms", "p95_ms", "p99_ms", "effect_floor", "effect_block", "p_adjusted",
                  "untrusted_labels", "predicted_class", "predicted_value", "request_id",
                  "error_rate", "effect_name", "saving_accounts", "checking_account",
                  "credit_amount")
TABLES_JS = """Array.from(document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stDataFrame"] table[role=grid]')).map(t => ({
    headers: Array.from(t.querySelectorAll('th[role=columnheader]')).map(h => h.innerText),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(
        r => Array.from(r.querySelectorAll('td')).map(c => c.innerText))}))"""
# Screenshots the README and docs/app.md show (docs/screenshots/NAME.png).
DOC_SHOTS = {"prediction-explained", "batch-renamed-column", "batch-wrong-type",
             "compare-verdict", "operator-monitoring", "operator-drift"}


class _Charts:
    """The Vega-Lite charts the server sends, read from the websocket (a chart is drawn on
    a canvas: its spec and data are what a test can check)."""

    def __init__(self) -> None:
        self.by_hash: dict[str, object] = {}
        self.seen: list[object] = []
        self.checked = 0  # charts that went through _check_screen
        # What the browser's Vega said while drawing: a spec it cannot draw leaves an empty
        # chart (gridlines only) and an error here, and nothing on the websocket.
        self.errors: list[str] = []

    def listen(self, page) -> None:
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("console", lambda m: m.type == "error" and m.text.startswith("ERROR")
                and self.errors.append(m.text[:300]))

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        if msg.ref_hash:  # a message the browser has cached: the server sends its hash
            msg = self.by_hash.get(msg.ref_hash, msg)
        elif msg.hash:
            self.by_hash[msg.hash] = msg
        if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element" \
                and msg.delta.new_element.WhichOneof("type") == "vega_lite_chart":
            self.seen.append(msg.delta.new_element.vega_lite_chart)

    def take(self) -> list[tuple[dict, object]]:
        """The charts sent since the last call: (spec, data frame of all its datasets)."""
        import json

        import pandas as pd
        import pyarrow as pa

        out = []
        for chart in self.seen:
            frames = [pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.datasets]
            if chart.data.data:
                frames.append(pa.ipc.open_stream(chart.data.data).read_pandas())
            out.append((json.loads(chart.spec),
                        pd.concat(frames) if frames else pd.DataFrame()))
        self.seen = []
        self.checked += len(out)
        return out


GRIDS_DRAWN = """Array.from(document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stDataFrame"]')).every(
    d => d.querySelector('table[role=grid] th[role=columnheader]'))"""


def _tables(page) -> list[dict]:
    page.wait_for_function(GRIDS_DRAWN, timeout=20_000)  # a grid draws after the script
    return page.evaluate(TABLES_JS)


def _check_screen(page, charts: _Charts, where: str) -> list[dict]:
    """No None cell or internal field name in a visible table, a legend on every chart
    that shows several series; returns the tables."""
    page.wait_for_selector(READY)
    tables = _tables(page)
    for table in tables:
        for text in table["headers"] + [c for row in table["rows"] for c in row]:
            assert text.strip() not in ("None", "nan", "NaN", "<NA>"), (where, table)
            assert text.strip() not in INTERNAL_NAMES, (where, text, table["headers"])
    for spec, data in charts.take():
        color = (spec.get("encoding") or {}).get("color") or {}
        field = color.get("field")
        series = set(data[field]) if field and field in data else set()
        if len(series) > 1:
            assert color.get("legend", {}) is not None, (where, "no legend", series)
        dash = (spec.get("encoding") or {}).get("strokeDash")
        if dash:  # the captions say "measured (solid) ... estimated (dashed)", p50 and p99
            assert dash["scale"]["domain"][0] in ("measured", "p50"), (where, dash)
            assert dash["scale"]["range"][0] == [1, 0], (where, dash)
        for layer in spec.get("layer") or []:  # several marks and no colour to tell them
            assert "color" in (layer.get("encoding") or {}), (where, "layer without colour")
    main = page.get_by_test_id("stMain").inner_text()
    assert "went wrong" not in main and "(s)" not in main, (where, main[:500])
    assert not charts.errors, (where, "a chart the browser cannot draw", charts.errors)
    return tables


def _table_with(tables: list[dict], header: str, page=None) -> dict:
    """The table with ``header``; with ``page``, waits for it to be drawn first."""
    if page is not None:
        page.locator('[data-testid="stDataFrame"] th[role=columnheader]').filter(
            has_text=header).first.wait_for(state="attached", timeout=20_000)
        tables = _tables(page)
    return next(t for t in tables if header in t["headers"])


def _column(table: dict, header: str) -> list[str]:
    i = table["headers"].index(header)
    return [row[i] for row in table["rows"]]


def _upload(page, path: Path) -> None:
    from playwright.sync_api import expect

    uploader = page.get_by_test_id("stFileUploader")
    uploader.locator('input[type="file"]').set_input_files(str(path))
    expect(uploader).to_contain_text(path.name)
    # The upload's rerun starts a moment after the file shows; a click before it ends
    # would be lost in it (the pause only orders events, no assertion depends on it).
    page.wait_for_timeout(500)
    page.wait_for_selector(READY)


def _score(page) -> None:
    page.get_by_role("button", name="Score", exact=True).click()
    page.wait_for_selector(READY)


def _traffic(app_env: dict[str, str], rows: int) -> None:
    """``rows`` routed predictions, some with a trusted outcome, as the app logs them."""
    import pandas as pd

    from mlops.app.batch import validate_batch
    from mlops.app.context import AppContext

    ctx = AppContext.create(ROOT)
    frame = validate_batch(GOOD_ROWS.encode(), ctx.schema).frame
    # Over three minutes, so the time charts have several points and time ticks.
    now = time.time()
    for minute in (2, 1, 0):
        ctx.router.clock = lambda minute=minute: now - 60 * minute
        result = ctx.predict(pd.concat([frame] * (rows // 6), ignore_index=True),
                             version=None, session_key="walk")
    head = result.frame.head(10)
    for i, (request, predicted) in enumerate(zip(head["request_id"],
                                                 head["predicted_class"], strict=True)):
        # Most outcomes as predicted, one in four not: a live accuracy of 70 %.
        ctx.record_feedback(request, int(predicted) if i % 4 else 1 - int(predicted),
                            token=TOKEN)
    ctx.log.flush()
    ctx.close()


def test_every_screen_speaks_plainly_with_a_bad_upload_of_each_kind(
        app_server: str, app_env, tmp_path: Path) -> None:
    """Walks every screen as a stakeholder and an operator, with a bad upload of each kind:
    no None cell or internal field name in a table, a legend wherever a chart shows several
    series, verdicts that agree with their numbers, every refusal in words."""
    from playwright.sync_api import expect, sync_playwright

    _traffic(app_env, 200)  # over 30 a minute: drift over time is judged
    files = tmp_path / "uploads"
    files.mkdir()
    header = GOOD_ROWS.splitlines()[0]
    (files / "good.csv").write_text(GOOD_ROWS)
    (files / "renamed.csv").write_text(GOOD_ROWS.replace(",age\n", ",years_old\n", 1))
    (files / "note.csv").write_text("Dear team, the numbers you asked for are below\n"
                                    "We will send the rest next week\nThanks\n")
    (files / "bad-cells.csv").write_text(
        f"{header}\nmale,2,castle,little,moderate,1000,12,car,35\n"
        "female,1,rent,little,little,,36,boat,23\n")
    (files / "notes.txt").write_text("some notes\n")
    shots = _Shots(_artifact_dir(tmp_path))
    docs = ROOT / "docs" / "screenshots" if os.environ.get("MLOPS_UPDATE_SCREENSHOTS") \
        else None
    charts = _Charts()

    def shot(page, name: str) -> None:
        shots(page, name)
        if docs is not None and name in DOC_SHOTS:
            docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shots.paths[-1], docs / f"{name}.png")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            charts.listen(page)
            page.goto(app_server)
            page.wait_for_selector(READY, timeout=30_000)

            # --- Predict: the explanation in plain words
            page.get_by_role("button", name="Predict", exact=True).click()
            expect(page.get_by_text("Why?", exact=False)).to_be_visible(timeout=20_000)
            _check_screen(page, charts, "predict")
            shot(page, "prediction-explained")

            # --- Batch: a good file, then a bad upload of each kind
            _screen(page, "Batch")
            _upload(page, files / "good.csv")
            _score(page)
            expect(page.get_by_text("Scored 2 rows with v2")).to_be_visible(timeout=20_000)
            tables = _check_screen(page, charts, "batch scored")
            results = _table_with(tables, "predicted risk", page)
            assert set(_column(results, "predicted risk")) <= {"good credit", "bad credit"}
            assert results["headers"][:4] == ["request id", "predicted risk",
                                              "chance of good credit", "answered by"]
            shot(page, "batch-scored")

            _upload(page, files / "renamed.csv")
            _score(page)
            error = page.get_by_test_id("stAlert").filter(has_text="cannot be scored")
            expect(error).to_contain_text("Missing column: age (did you mean years_old?)",
                                          timeout=20_000)
            expect(error).to_contain_text("does not know the column years_old")
            _check_screen(page, charts, "renamed column")
            shot(page, "batch-renamed-column")

            _upload(page, files / "note.csv")
            _score(page)
            expect(page.get_by_text("This file is not a CSV of this model's inputs")
                   ).to_be_visible(timeout=20_000)
            assert page.get_by_test_id("stAlert").count() == 1  # one message, not nine
            _check_screen(page, charts, "prose note")

            _upload(page, files / "bad-cells.csv")
            _score(page)
            expect(page.get_by_text("3 cells need fixing", exact=False)).to_be_visible(
                timeout=20_000)
            problems = _table_with(_check_screen(page, charts, "bad cells"), "problem", page)
            assert set(_column(problems, "column")) == {"Housing", "Credit amount (DM)",
                                                        "Purpose"}
            shot(page, "batch-bad-cells")

            _upload(page, files / "notes.txt")  # no Score: the type is refused at once
            expect(page.get_by_text("notes.txt is a .txt file, not a CSV file", exact=False)
                   ).to_be_visible(timeout=20_000)
            assert not any("problem" in t["headers"] for t in _tables(page)), \
                "the last file's problems are gone"
            _check_screen(page, charts, "wrong type")
            shot(page, "batch-wrong-type")

            # --- Model card, every part
            _screen(page, "Model card")
            for part in ("Summary", "Plots", "Fairness", "Lineage", "Model card text"):
                _part(page, part)
                _check_screen(page, charts, f"card {part}")

            # --- Compare: the verdict line agrees with the table
            _screen(page, "Compare")
            tables = _check_screen(page, charts, "compare")
            verdicts = _column(_table_with(tables, "verdict", page), "verdict")
            better = sum(v.endswith("better") for v in verdicts)
            worse = sum(v.endswith("worse") for v in verdicts)
            expect(page.get_by_text(
                f"v1 against v2: {better} better, {worse} worse, "
                f"{len(verdicts) - better - worse} within noise")).to_be_visible()
            shot(page, "compare-verdict")
            for part in ("Gates", "Fairness", "Plots", "Params", "Lineage", "Timeline"):
                _part(page, part)
                _check_screen(page, charts, f"compare {part}")

            # --- Operator: monitoring for a person
            token = page.get_by_label("Operator token")
            token.fill(TOKEN)
            token.press("Enter")
            page.wait_for_selector(READY)
            _screen(page, "Operator")
            expect(page.get_by_text("Promotion ledger")).to_be_visible()
            page.get_by_text("Drift per input over time", exact=False).click()
            page.wait_for_selector(READY)
            before = charts.checked
            tables = _check_screen(page, charts, "operator")
            assert charts.checked - before >= 4, "the time charts were read and checked"
            figures = _table_with(tables, "latency p99", page)
            assert all(v.endswith(" ms") for v in _column(figures, "latency p50"))
            shot(page, "operator-monitoring")
            page.get_by_text("Drift against the training data", exact=True).click()
            page.wait_for_selector(READY)
            expect(page.get_by_text("Live inputs:", exact=False)).to_be_visible(
                timeout=30_000)
            tables = _check_screen(page, charts, "operator drift")
            drift = _table_with(tables, "drifted", page)
            drifted = _column(drift, "drifted").count("yes")
            expect(page.get_by_text(f"({drifted} of {len(drift['rows'])} inputs drifted",
                                    exact=False)).to_be_visible()
            shot(page, "operator-drift")
        finally:
            browser.close()
