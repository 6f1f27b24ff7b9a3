"""Benchmark: the router (validation, routing, logging) against raw ``predict_proba``.

Same model, same rows, same process, same run, so the ratios hold on any machine:

- single-row p50 through ``Router.predict`` (prediction log on) / raw ``predict_proba`` on
  a prebuilt one-row DataFrame (target: at most 1.15);
- the same with a shadow candidate / without (target: at most 1.10). Requests are spaced by
  a pause of about one prediction, as interactive users are; back-to-back saturation is
  printed too, since on a saturated CPU a shadow costs a second prediction;
- 100,000-row batch: raw rows/s / router rows/s (target: router at least 0.9x raw); the
  log is written by the writer thread, whose drain time is printed separately.

Usage::

    python bench/bench_serving.py [--estimator logistic_regression] [--n 300] \
        [--out bench/out/serving.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _summary import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlops.core.config import load_params  # noqa: E402
from mlops.core.data import read_csv, split  # noqa: E402
from mlops.core.modelio import save_model  # noqa: E402
from mlops.core.schema import load_schema  # noqa: E402
from mlops.registry.local import LocalRegistry  # noqa: E402
from mlops.serving import deployment  # noqa: E402
from mlops.serving.predlog import PredictionLog  # noqa: E402
from mlops.serving.router import Router  # noqa: E402
from mlops.stages.training import train  # noqa: E402

SINGLE_ROW_GOAL = 1.15  # router / raw, at most
SHADOW_GOAL = 1.10  # shadow / no shadow with spaced requests, at most
BATCH_GOAL = 0.9  # router rows/s / raw rows/s, at least


def p50(fn, n: int, pause: float = 0.0) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if pause:
            time.sleep(pause)
    return statistics.median(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--estimator", default="logistic_regression")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "serving.json"))
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml", [f"model.estimator={args.estimator}"])
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test = split(frame, "risk", test_size=0.25, seed=params.seed)
    pipeline = train(params, train_frame)
    features = test.drop(columns="risk")
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in features.iloc[0].items()}
    one = pd.DataFrame([row])
    with tempfile.TemporaryDirectory() as tmp:
        reg = LocalRegistry(Path(tmp) / "registry")
        save_model(pipeline, Path(tmp) / "m.skops")
        for _ in range(2):
            reg.register("bench", Path(tmp) / "m.skops", metadata={"gates_passed": True})
        reg.promote("bench", 1, "production", expected=None, reason="bench")
        schema = load_schema(params.resolve(params.data.schema))
        router = Router(reg, "bench", schema, PredictionLog(Path(tmp) / "log.sqlite"),
                        refresh_seconds=3600)
        for _ in range(30):  # warm-up
            pipeline.predict_proba(one)
            router.predict(row, "u")
        raw = p50(lambda: pipeline.predict_proba(one), args.n)
        routed = p50(lambda: router.predict(row, "u"), args.n)
        raw2 = p50(lambda: pipeline.predict_proba(one), args.n)  # drift of the machine
        raw = min(raw, raw2)
        pause = raw / 1000 * 1.5
        plain_spaced = p50(lambda: router.predict(row, "u"), args.n, pause)
        deployment.start(reg, "bench", params.deployment, candidate=2, strategy="shadow",
                         now=time.time())
        router.refresh()
        shadow_spaced = p50(lambda: router.predict(row, "u"), args.n, pause)
        shadow_saturated = p50(lambda: router.predict(row, "u"), args.n)
        router.flush()
        deployment.abort(reg, "bench", reason="bench", now=time.time())
        router.refresh()
        big = features.sample(100_000, replace=True, random_state=0).reset_index(drop=True)
        start = time.perf_counter()
        pipeline.predict_proba(big)
        raw_s = time.perf_counter() - start
        start = time.perf_counter()
        router.predict_batch(big)
        routed_s = time.perf_counter() - start
        start = time.perf_counter()
        router.log.flush()
        drain_s = time.perf_counter() - start
        router.close()
    result = {
        "estimator": args.estimator,
        "raw_p50_ms": round(raw, 3), "router_p50_ms": round(routed, 3),
        "single_row_ratio": round(routed / raw, 3),
        "shadow_p50_ratio_spaced": round(shadow_spaced / plain_spaced, 3),
        "shadow_p50_ratio_saturated": round(shadow_saturated / routed, 3),
        "batch_raw_rows_per_s": round(100_000 / raw_s),
        "batch_router_rows_per_s": round(100_000 / routed_s),
        "batch_throughput_ratio": round(raw_s / routed_s, 3),
        "batch_log_drain_s": round(drain_s, 3),
    }
    print(f"single row p50: raw {raw:.2f} ms, router+log {routed:.2f} ms -> "
          f"{result['single_row_ratio']:.3f}x (target <= {SINGLE_ROW_GOAL})")
    print(f"shadow: p50 {result['shadow_p50_ratio_spaced']:.3f}x with spaced requests "
          f"(target <= {SHADOW_GOAL}), {result['shadow_p50_ratio_saturated']:.3f}x "
          "back-to-back")
    print(f"batch 100k: raw {raw_s:.3f} s, router {routed_s:.3f} s -> throughput "
          f"{result['batch_throughput_ratio']:.3f}x raw (target >= {BATCH_GOAL}); log drained "
          f"{drain_s:.2f} s later on the writer thread")
    single, shadow = result["single_row_ratio"], result["shadow_p50_ratio_spaced"]
    batch = result["batch_throughput_ratio"]
    record("serving.single_row_p50", single, "x", f"<= {SINGLE_ROW_GOAL}x",
           single <= SINGLE_ROW_GOAL, peer="raw predict_proba", ratio=single)
    record("serving.shadow_p50_spaced", shadow, "x", f"<= {SHADOW_GOAL}x",
           shadow <= SHADOW_GOAL, peer="the router without a shadow", ratio=shadow)
    record("serving.shadow_p50_saturated", result["shadow_p50_ratio_saturated"], "x",
           "reported", True, peer="the router without a shadow",
           ratio=result["shadow_p50_ratio_saturated"])
    record("serving.batch_throughput", batch, "x", f">= {BATCH_GOAL}x", batch >= BATCH_GOAL,
           peer="raw predict_proba on 100k rows", ratio=batch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
