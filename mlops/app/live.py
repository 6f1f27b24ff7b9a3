"""Live figures for the operator screen, from the prediction log.

The per-version statistics are :func:`mlops.serving.rules.version_stats`, the same numbers
the canary analysis and the rollback monitor judge; this module only lays them out as a
table and adds predictions per minute. Drift is not here: the operator screen shows
:func:`mlops.monitoring.monitor.monitor_report`'s. Next to what the rules use (routed
requests, trusted labels) the table shows what they leave out: ``pinned`` predictions
(the version selector) and ``untrusted_labels`` (public feedback).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from mlops.serving.rules import Evidence, VersionStats

__all__ = ["LiveSummary", "live_summary"]


@dataclass(frozen=True)
class LiveSummary:
    """Per-version live figures for the operator's charts."""

    stats: tuple[VersionStats, ...]  # one per version in the log, in version order
    over_time: pd.DataFrame  # index minute, one column per version (``vN``): predictions
    evidence: tuple[Evidence, ...] = ()  # per version, as ``stats``

    @property
    def per_version(self) -> pd.DataFrame:
        """One row per version (``vN``), one column per :class:`VersionStats` field.

        Figures that cannot be computed yet (no timed or labelled request) are NaN.
        """
        from mlops.serving.rules import VersionStats

        columns = [f.name for f in fields(VersionStats)]
        table = pd.DataFrame([s.to_dict() for s in self.stats], columns=columns)
        table["version"] = [f"v{s.version}" for s in self.stats]
        if len(self.evidence) == len(self.stats):
            table["untrusted_labels"] = [e.untrusted_labels for e in self.evidence]
            table["pinned"] = [e.pinned_requests for e in self.evidence]
        for name in ("p50_ms", "p95_ms", "p99_ms", "accuracy"):
            table[name] = table[name].astype(float)  # None -> NaN, so charts get numbers
        return table


def live_summary(log_path: str | Path, model: str) -> LiveSummary:
    """Summarise the prediction log of ``model`` per version (routed predictions; pinned
    ones are counted apart)."""
    from mlops.serving.predlog import read_predictions
    from mlops.serving.rules import evidence, version_stats

    log = read_predictions(log_path, model=model, inputs=False)
    log = log[log["role"].isin(("primary", "pinned"))]
    versions = sorted(int(v) for v in log["version"].dropna().unique())
    stats = tuple(version_stats(log, v) for v in versions)
    used = tuple(evidence(log, v) for v in versions)
    log = log[log["role"] == "primary"]
    if log.empty:
        return LiveSummary(stats, pd.DataFrame(), used)
    minute = pd.to_datetime(log["ts"], unit="s").dt.floor("min")
    over_time = (log.assign(minute=minute, v="v" + log["version"].astype(str))
                 .pivot_table(index="minute", columns="v", values="request_id",
                              aggfunc="count", fill_value=0))
    return LiveSummary(stats, over_time, used)
