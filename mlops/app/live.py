"""Live figures for the operator screen, from the prediction log.

The per-version statistics are :func:`mlops.serving.rules.version_stats`, the same numbers
the canary analysis and the rollback monitor judge; this module only lays them out as a
table and adds predictions per minute. Drift is not here: the operator screen shows
:func:`mlops.monitoring.monitor.monitor_report`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from mlops.serving.rules import VersionStats

__all__ = ["LiveSummary", "live_summary"]


@dataclass(frozen=True)
class LiveSummary:
    """Per-version live figures for the operator's charts."""

    stats: tuple[VersionStats, ...]  # one per version in the log, in version order
    over_time: pd.DataFrame  # index minute, one column per version (``vN``): predictions

    @property
    def per_version(self) -> pd.DataFrame:
        """One row per version (``vN``), one column per :class:`VersionStats` field.

        Figures that cannot be computed yet (no timed or labelled request) are NaN.
        """
        from mlops.serving.rules import VersionStats

        columns = [f.name for f in fields(VersionStats)]
        table = pd.DataFrame([s.to_dict() for s in self.stats], columns=columns)
        table["version"] = [f"v{s.version}" for s in self.stats]
        for name in ("p50_ms", "p95_ms", "p99_ms", "accuracy"):
            table[name] = table[name].astype(float)  # None -> NaN, so charts get numbers
        return table


def live_summary(log_path: str | Path, model: str) -> LiveSummary:
    """Summarise the prediction log of ``model`` per version (primary predictions only)."""
    from mlops.serving.predlog import read_predictions
    from mlops.serving.rules import version_stats

    log = read_predictions(log_path, model=model, inputs=False)
    log = log[log["role"] == "primary"]
    versions = sorted(int(v) for v in log["version"].dropna().unique())
    stats = tuple(version_stats(log, v) for v in versions)
    if log.empty:
        return LiveSummary(stats, pd.DataFrame())
    minute = pd.to_datetime(log["ts"], unit="s").dt.floor("min")
    over_time = (log.assign(minute=minute, v="v" + log["version"].astype(str))
                 .pivot_table(index="minute", columns="v", values="request_id",
                              aggfunc="count", fill_value=0))
    return LiveSummary(stats, over_time)
