"""The operator's charts over time (mlops.app.live), from a simulated log, through AppTest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from mlops.core.schema import load_schema
from mlops.monitoring.simulation import SimClock, send_traffic
from mlops.serving import deployment
from mlops.serving.predlog import PredictionLog
from mlops.serving.router import Router

SCRIPT = """
from pathlib import Path
from mlops.app.context import AppContext
from mlops.app.live import show_timeline
from mlops.core.config import load_params
from mlops.core.schema import load_schema
from mlops.registry.local import LocalRegistry

params = load_params({params!r})
ctx = AppContext(params, LocalRegistry({registry!r}), load_schema({schema!r}), Path({log!r}))
show_timeline(ctx)
"""


def _charts(at: AppTest) -> list[pd.DataFrame]:
    return [pa.ipc.open_stream(d.data.data).read_pandas()
            for chart in at.get("vega_lite_chart") for d in chart.proto.datasets]


@pytest.mark.slow
def test_operator_timeline_shows_versions_estimate_and_canary(serving_registry, serving_models,
                                                              tmp_path):
    params = serving_models.params
    name, target = params.model.name, params.data.target
    clock = SimClock()
    log_path = tmp_path / "log.sqlite"
    with Router(serving_registry, name, load_schema(params.resolve(params.data.schema)),
                PredictionLog(log_path), refresh_seconds=3600, clock=clock) as router:
        for i in range(4):  # four minutes of production traffic, labelled
            send_traffic(router, serving_models.test.iloc[i * 40:(i + 1) * 40], target, seed=i)
            clock.now += 60
        deployment.start(serving_registry, name, params.deployment, candidate=2,
                         strategy="canary", now=clock())
        router.refresh()
        send_traffic(router, serving_models.test, target, seed=9)
    script = SCRIPT.format(params=str(Path(params.root) / "params.yaml"),
                           registry=str(serving_registry.root), log=str(log_path),
                           schema=str(params.resolve(params.data.schema)))
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception
    charts = _charts(at)
    assert len(charts) == 5  # requests, error rate, latency, quality, canary weight
    assert set(charts[0].iloc[:, 1]) == {"v1", "v2"}  # long form: time, series, value
    requests = charts[0].groupby(charts[0].columns[1])[charts[0].columns[2]].sum()
    assert requests.sum() == 4 * 40 + len(serving_models.test)
    assert {"v1 measured", "v1 estimated"} <= set(charts[3].iloc[:, 1])
    steps = next(d.value for d in at.dataframe if "decision" in d.value)
    assert steps["decision"].tolist() == ["start"] and steps["candidate"].tolist() == ["v2"]
    assert steps["traffic"].tolist() == [f"{float(params.deployment.canary_steps[0]):g} %"]
    at.toggle(key="mon_timeline_drift").set_value(True).run()
    assert not at.exception
    assert len(_charts(at)) == 6  # and the drift per column


def test_a_time_chart_ticks_at_its_windows_and_draws_the_first_kind_solid():
    """What the browser's Vega can draw: tick values (not an {interval, step} count, which
    it fails on) at the windows' own times, at most MAX_TICKS; the first kind solid."""
    from mlops.app.live import DASHES, MAX_TICKS, _chart, readable_window

    times = pd.to_datetime([1.7e9 + 60 * i for i in range(30)], unit="s")
    wide = pd.DataFrame({"v1 measured": range(30), "v1 estimated": range(30)}, index=times)
    spec = _chart(wide, readable_window(30 * 60), "accuracy",
                  dash={"v1 measured": "measured", "v1 estimated": "estimated"}).to_dict()
    ticks = spec["encoding"]["x"]["axis"]["values"]
    assert 1 < len(ticks) <= MAX_TICKS and "tickCount" not in spec["encoding"]["x"]["axis"]
    assert set(ticks) <= set(times.strftime("%Y-%m-%dT%H:%M:%S"))
    dash = spec["encoding"]["strokeDash"]["scale"]
    assert dash["domain"] == ["measured", "estimated"] and dash["range"][0] == DASHES[0]
