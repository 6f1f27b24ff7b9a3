"""A traffic simulation: canary promotion, a shadow comparison and an automatic rollback.

Rows of a data file are streamed through a real :class:`~mlops.serving.router.Router` over a fresh
registry in ``out_dir``; their labels come back ``feedback_delay`` requests later (with
``label_noise`` of them flipped), and the monitor runs every ``check_every`` requests, as a
scheduled job would. A settable clock stands in for wall time, so it runs in seconds.

The three releases: v2 (a good model) goes out as a canary and is promoted step by step;
v3 (trained on wrong labels: a silent training bug that passed offline gates) is first
compared in shadow, then released directly, and the monitor rolls production back.

Any task: wrong labels are each class moved to the next one (binary: flipped) or, for a
regression target, the target mirrored around its midrange; a noisy label is another class,
or another row's value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.core.config import Params
from mlops.core.data import split
from mlops.core.modelio import save_model
from mlops.core.schema import load_schema
from mlops.monitoring.monitor import auto_act, build_report
from mlops.registry.local import LocalRegistry
from mlops.serving import deployment
from mlops.serving.predlog import PredictionLog
from mlops.serving.router import Router
from mlops.stages.training import train

__all__ = ["SimClock", "covariate_shift", "send_traffic", "shift_frame", "simulate"]


class SimClock:
    """A clock that the simulation moves forward."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def shift_frame(frame: pd.DataFrame, shift: float, *, seed: int,
                columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` scaled up by ``1 + shift``, with 5 % noise, kept positive
    (whole numbers stay whole)."""
    if shift == 0:
        return frame
    out = frame.copy()
    rng = np.random.default_rng(seed)
    for col in columns:
        scaled = out[col] * (1 + shift) * rng.normal(1.0, 0.05, len(out))
        if pd.api.types.is_integer_dtype(out[col]):
            out[col] = np.maximum(1, scaled.round()).astype("int64")
        else:
            out[col] = np.maximum(np.finfo(float).tiny, scaled)
    return out


def covariate_shift(frame: pd.DataFrame, weight: np.ndarray, *, n: int,
                    seed: int) -> pd.DataFrame:
    """``n`` rows of ``frame`` drawn (with replacement) in proportion to ``weight``: the mix
    of cases moves, how each case's label depends on its inputs does not.

    Unlike :func:`shift_frame`, which pushes values out of the training range, every row
    stays one the model has seen the like of (the shift CBPE is built for).
    """
    w = np.clip(np.asarray(weight, dtype=float), 0, None)
    if len(w) != len(frame) or w.sum() <= 0:
        raise ValueError("weight needs one non-negative value per row, not all zero")
    rng = np.random.default_rng(seed)
    return frame.iloc[rng.choice(len(frame), size=n, p=w / w.sum())].reset_index(drop=True)


def _wrong_labels(target: pd.Series, regression: bool) -> pd.Series:
    """The silent training bug: labels systematically wrong (not random)."""
    if regression:
        return target.max() + target.min() - target
    classes = sorted(target.unique())
    return target.map(dict(zip(classes, classes[1:] + classes[:1], strict=True)))


def _noisy(label: Any, values: np.ndarray, rng: np.random.Generator, noise: float) -> Any:
    """``label``, or with probability ``noise`` another one of ``values`` (another class,
    or another row's value)."""
    if rng.random() >= noise:  # one draw per label, noisy or not: a stable stream
        return label
    others = values[values != label]
    return others[rng.integers(0, len(others))].item() if len(others) else label


class _Stream:
    """Sends rows through the router and delivers their labels later."""

    def __init__(self, router: Router, rows: pd.DataFrame, target: str, params: Params, *,
                 delay: int, noise: float, check_every: int, seed: int) -> None:
        self.router, self.rows, self.target, self.params = router, rows, target, params
        self.delay, self.noise, self.check_every = delay, noise, check_every
        self.rng = np.random.default_rng(seed)
        self.pending: list[tuple[str, Any]] = []
        self.sent = 0
        self.records = rows.drop(columns=[target]).to_dict(orient="records")
        self.labels = rows[target].to_numpy()
        self.values = self.labels if params.data.regression else np.unique(self.labels)

    def run(self, n: int, *, until=None) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        for _ in range(n):
            i = self.sent % len(self.records)
            row = {k: (v.item() if hasattr(v, "item") else v) for k, v in self.records[i].items()}
            pred = self.router.predict(row, f"customer-{self.rng.integers(0, 5000)}")
            label = _noisy(self.labels[i].item(), self.values, self.rng, self.noise)
            self.pending.append((pred.request_id, label))
            self.sent += 1
            self.router.clock.now += 0.5  # two requests a second
            if len(self.pending) > self.delay:
                ready, self.pending = self.pending[:-self.delay], self.pending[-self.delay:]
                # The labels come from the data set itself: a trusted source.
                self.router.feedback(dict(ready), source="simulation", trusted=True)
            if self.sent % self.check_every == 0:
                self.router.flush()
                done = auto_act(self.router.registry, self.router.name,
                                self.router.log.frame(inputs=False), self.params,
                                now=self.router.clock())
                for a in done:
                    a["at_request"] = self.sent
                actions += [a for a in done if a["action"] != "pause"]
                self.router.refresh()
                if until is not None and until():
                    break
        return actions


def send_traffic(router: Router, rows: pd.DataFrame, target: str, *, n: int | None = None,
                 seed: int = 0, label_noise: float = 0.0, feedback: bool = True
                 ) -> dict[str, Any]:
    """Send ``n`` requests (``rows`` cycled, default each once) through ``router`` on its own
    clock, as customers with stable routing keys, then store their true labels (``label_noise``
    of them flipped) and flush the log. Returns the requests per version and the labels.

    Unlike :func:`simulate` nothing acts here: the monitor runs afterwards, as its own job.
    """
    rng = np.random.default_rng(seed)
    records = rows.drop(columns=[target]).to_dict(orient="records")
    labels = rows[target].to_numpy()
    values = labels if router.regression else np.unique(labels)
    served: dict[int, int] = {}
    truth: dict[str, Any] = {}
    for i in range(len(records) if n is None else n):
        row = {k: (v.item() if hasattr(v, "item") else v)
               for k, v in records[i % len(records)].items()}
        pred = router.predict(row, f"customer-{rng.integers(0, 5000)}")
        served[pred.version] = served.get(pred.version, 0) + 1
        truth[pred.request_id] = _noisy(labels[i % len(records)].item(), values, rng,
                                        label_noise)
    # The labels come from the data set itself, as a labels file CI ingests: trusted.
    stored = router.feedback(truth, source="simulation", trusted=True) if feedback else 0
    router.flush()
    return {"requests": sum(served.values()), "by_version": dict(sorted(served.items())),
            "labelled": stored}


def simulate(params: Params, data: pd.DataFrame, out_dir: str | Path, *, drift: float = 0.0,
             label_noise: float = 0.0, feedback_delay: int = 50, check_every: int = 50,
             max_requests: int = 4000, phase_requests: int = 300) -> dict[str, Any]:
    """Run the three releases on ``data`` into ``out_dir``; return (and write) a summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target, name = params.data.target, params.model.name
    train_frame, live = split(data, target, test_size=0.5, seed=params.seed,
                              stratify=not params.data.regression)
    schema = load_schema(params.resolve(params.data.schema))
    # Drift scales the schema's non-negative numbers (amounts, counts, durations).
    scaled = [c for c in schema.serving_columns if schema.by_name[c].numeric
              and schema.by_name[c].min is not None and schema.by_name[c].min >= 0]
    live = shift_frame(live.sample(frac=1.0, random_state=params.seed), drift,
                       seed=params.seed, columns=scaled)
    registry = LocalRegistry(out / "registry", aliases=params.registry.aliases)
    if registry.versions(name):
        raise FileExistsError(f"{out / 'registry'} already holds {name}; use a fresh --out")
    flipped = train_frame.assign(**{target: _wrong_labels(train_frame[target],
                                                          params.data.regression)})
    cheaper = dataclasses.replace(params, model=dataclasses.replace(
        params.model, hyperparameters={**params.model.hyperparameters,
                                       "logistic_regression": {"C": 0.3, "max_iter": 1000}}))
    models = (("baseline", train(params, train_frame)), ("improved", train(cheaper, train_frame)),
              ("flipped-labels", train(params, flipped)))
    for note, pipeline in models:
        path = out / f"{note}.skops"
        save_model(pipeline, path)
        registry.register(name, path, metadata={"gates_passed": True, "simulated": note})
    registry.promote(name, 1, "production", expected=None, reason="simulation: first release")
    clock = SimClock()
    log = PredictionLog(out / "predictions.sqlite")
    router = Router(registry, name, load_schema(params.resolve(params.data.schema)), log,
                    positive_class=params.data.positive_class, refresh_seconds=3600,
                    clock=clock, task=params.data.task)
    stream = _Stream(router, live, target, params, delay=feedback_delay, noise=label_noise,
                     check_every=check_every, seed=params.seed)
    phases: dict[str, Any] = {}
    try:
        stream.run(phase_requests)  # v1's live track record
        deployment.start(registry, name, params.deployment, candidate=2, strategy="canary",
                         now=clock())
        router.refresh()

        def canary_over() -> bool:
            dep, _ = deployment.read_deployment(registry, name)
            return dep is None or not dep.running

        phases["canary"] = {"actions": stream.run(max_requests, until=canary_over),
                            "production_after": registry.aliases(name).get("production")}
        deployment.start(registry, name, params.deployment, candidate=3, strategy="shadow",
                         now=clock())
        router.refresh()
        start_ts = clock()
        stream.run(phase_requests)
        router.flush()
        shadow = build_report(log.frame(since=start_ts), params, reference=train_frame.iloc[:0])
        deployment.finish_shadow(registry, name, promote=False, now=clock(),
                                 reason="shadow comparison done", evidence=shadow["shadow"])
        phases["shadow"] = shadow["shadow"]
        deployment.start(registry, name, params.deployment, candidate=3, strategy="direct",
                         now=clock(), reason="simulation: release a model with a silent bug")
        router.refresh()

        def rolled_back() -> bool:
            return registry.aliases(name).get("production") != 3

        phases["rollback"] = {"actions": stream.run(max_requests, until=rolled_back),
                              "production_after": registry.aliases(name).get("production")}
    finally:
        router.close()
    summary = {
        "requests": stream.sent, "drift": drift, "label_noise": label_noise,
        "phases": phases, "registry": str(out / "registry"),
        "log": str(out / "predictions.sqlite"),
        "ledger": [e.to_dict() for e in registry.history(name)],
    }
    (out / "simulation.json").write_text(json.dumps(summary, indent=1, default=str),
                                         encoding="utf-8")
    return summary
