"""Benchmark: the router (validation, routing, logging) against raw ``predict_proba``.

Same model, same rows, same process, same run, so the ratios hold on any machine. For the
default estimator and for ``hist_gradient_boosting``, side by side:

- single-row p50 through ``Router.predict`` (prediction log on) with the compiled ONNX twin,
  and with scikit-learn (the same version registered without its twin), each over raw
  ``predict_proba`` on a prebuilt one-row DataFrame (target for the default model: the
  compiled router at most 0.3x raw);
- onnxruntime alone on one row, for scale;
- parity of the twin on the held-out rows: the largest probability difference and the
  number of class disagreements.

For the default model only:

- the same single-row p50 with a shadow candidate / without (target: at most 1.10).
  Requests are spaced by a pause of about one prediction, as interactive users are;
  back-to-back saturation is printed too. The two are measured in alternated blocks (the
  shadow started and stopped between them) and each p50 is taken over all its blocks, so
  the machine's drift hits both alike;
- 100,000-row batch: router rows/s / raw rows/s (target: router at least 1.0x raw) as the
  machine runs, on one thread (no parallel slices) and with the other core kept busy by a
  spinning process, each against raw ``predict_proba`` in the same conditions; the log is
  written by the writer thread (one summary record), whose drain time is printed apart.

Usage::

    python bench/bench_serving.py [--estimators logistic_regression hist_gradient_boosting] \
        [--n 300] [--out bench/out/serving.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
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
from mlops.stages.conversion import ONNX_FILE, convert, feed_frame  # noqa: E402
from mlops.stages.training import train  # noqa: E402

SINGLE_ROW_GOAL = 0.3  # compiled router / raw predict_proba, at most (default model)
SHADOW_GOAL = 1.10  # shadow / no shadow with spaced requests, at most
BATCH_GOAL = 1.0  # router rows/s / raw rows/s, at least
DEFAULT = ("logistic_regression", "hist_gradient_boosting")


def timings(fn, n: int, pause: float = 0.0) -> list[float]:
    """Seconds of each of ``n`` calls of ``fn``, with ``pause`` seconds between them."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if pause:
            time.sleep(pause)
    return times


def p50(fn, n: int, pause: float = 0.0) -> float:
    return statistics.median(timings(fn, n, pause)) * 1000


def registry_with(folder: Path, name: str, skops: Path, conversion=None) -> LocalRegistry:
    """A registry holding the model twice (v1 production, v2 for the shadow), with the
    ONNX twin of ``conversion`` (as a pipeline run registers it) or without one."""
    reg = LocalRegistry(folder)
    files, meta = {}, {"gates_passed": True}
    if conversion is not None:
        meta["compiled"] = conversion.record
        if conversion.onnx is not None:
            (folder.parent / ONNX_FILE).write_bytes(conversion.onnx)
            files[ONNX_FILE] = folder.parent / ONNX_FILE
    for _ in range(2):
        reg.register(name, skops, metadata=meta, files=files)
    reg.promote(name, 1, "production", expected=None, reason="bench")
    return reg


def single_rows(estimator: str, args, frame: pd.DataFrame, tmp: Path) -> dict:
    params = load_params(ROOT / "params.yaml", [f"model.estimator={estimator}"])
    target = params.data.target
    train_frame, test = split(frame, target, test_size=params.data.test_size, seed=params.seed)
    pipeline = train(params, train_frame)
    features = test.drop(columns=target)
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in features.iloc[0].items()}
    one = pd.DataFrame([row])
    schema = load_schema(params.resolve(params.data.schema))
    save_model(pipeline, tmp / "m.skops")
    conversion = convert(pipeline, features)  # what registering a run does
    fast_reg = registry_with(tmp / "compiled", "bench", tmp / "m.skops", conversion)
    plain_reg = registry_with(tmp / "plain", "bench", tmp / "m.skops")
    fast = Router(fast_reg, "bench", schema, PredictionLog(tmp / "fast.sqlite"),
                  refresh_seconds=3600, reference=train_frame)  # as from_params does
    plain = Router(plain_reg, "bench", schema, PredictionLog(tmp / "plain.sqlite"),
                   refresh_seconds=3600)
    engine = fast.status()["scoring"][1]["engine"]
    session = fast._models[1].compiled.session if fast._models[1].compiled else None
    for _ in range(30):  # warm-up
        pipeline.predict_proba(one)
        fast.predict(row, "u")
        plain.predict(row, "u")
    raw = p50(lambda: pipeline.predict_proba(one), args.n)
    routed = p50(lambda: fast.predict(row, "u"), args.n)
    routed_sk = p50(lambda: plain.predict(row, "u"), args.n)
    raw = min(raw, p50(lambda: pipeline.predict_proba(one), args.n))  # drift of the machine
    onnx_alone = None
    if session is not None:
        feed = feed_frame(one, dict(conversion.record["inputs"]))
        onnx_alone = p50(lambda: session.run(None, feed), args.n)
    parity = conversion.record.get("parity") or {}
    out = {
        "estimator": estimator, "engine": engine, "reason": conversion.record.get("reason"),
        "raw_p50_ms": round(raw, 3), "router_onnx_p50_ms": round(routed, 3),
        "router_sklearn_p50_ms": round(routed_sk, 3),
        "onnx_alone_p50_ms": None if onnx_alone is None else round(onnx_alone, 4),
        "single_row_ratio": round(routed / raw, 3),
        "single_row_sklearn_ratio": round(routed_sk / raw, 3),
        "parity_max_proba_diff": parity.get("max_proba_diff"),
        "parity_class_disagreements": parity.get("class_disagreements"),
        "parity_rows": parity.get("rows"),
    }
    print(f"[{estimator}] single row p50: raw predict_proba {raw:.3f} ms | router+log via "
          f"{engine} {routed:.3f} ms ({out['single_row_ratio']:.3f}x) | router+log via "
          f"scikit-learn {routed_sk:.3f} ms ({out['single_row_sklearn_ratio']:.3f}x)"
          + (f" | onnxruntime alone {onnx_alone:.3f} ms" if onnx_alone is not None else ""))
    print(f"[{estimator}] parity on {parity.get('rows')} held-out rows: largest probability "
          f"difference {parity.get('max_proba_diff')}, class disagreements "
          f"{parity.get('class_disagreements')}"
          + (f" (not compiled: {out['reason']})" if out["reason"] else ""))
    plain.close()
    if estimator == args.estimators[0]:
        out.update(shadow_and_batch(args, params, fast, fast_reg, pipeline, row, features, raw))
    fast.close()
    return out


def shadow_and_batch(args, params, router: Router, reg: LocalRegistry, pipeline, row: dict,
                     features: pd.DataFrame, raw: float) -> dict:
    pause = raw / 1000 * 1.5
    blocks = 10
    times: dict[tuple[bool, bool], list[float]] = {}
    for _ in range(blocks):  # alternated: without a shadow, then with one
        for shadow in (False, True):
            if shadow:
                deployment.start(reg, "bench", params.deployment, candidate=2,
                                 strategy="shadow", now=time.time())
                router.refresh()
            for spaced in (True, False):
                times.setdefault((shadow, spaced), []).extend(timings(
                    lambda: router.predict(row, "u"), max(1, args.n // blocks),
                    pause if spaced else 0.0))
            if shadow:
                router.flush()
                deployment.abort(reg, "bench", reason="bench", now=time.time())
                router.refresh()
    plain_spaced, routed, shadow_spaced, shadow_saturated = (
        statistics.median(times[key]) for key in ((False, True), (False, False),
                                                  (True, True), (True, False)))
    big = features.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    out = {
        "shadow_p50_ratio_spaced": round(shadow_spaced / plain_spaced, 3),
        "shadow_p50_ratio_saturated": round(shadow_saturated / routed, 3),
        "batch_rows": args.rows,
    }
    print(f"shadow: p50 {out['shadow_p50_ratio_spaced']:.3f}x with spaced requests "
          f"(target <= {SHADOW_GOAL}), {out['shadow_p50_ratio_saturated']:.3f}x back-to-back")
    # The same batch three ways, each against raw predict_proba in the same conditions:
    # as it runs, on one thread (no slices: what the router does without a free core),
    # and with the other core kept busy by a spinning process.
    for label, key, one_thread, busy in (("as run", "", False, False),
                                         ("one thread", "_one_thread", True, False),
                                         ("other core busy", "_busy_core", False, True)):
        raw_s, routed_s, drain_s = batch_run(router, pipeline, big, args.batch_reps,
                                             one_thread=one_thread, busy=busy)
        out[f"batch_raw_rows_per_s{key}"] = round(args.rows / raw_s)
        out[f"batch_router_rows_per_s{key}"] = round(args.rows / routed_s)
        out[f"batch_throughput_ratio{key}"] = round(raw_s / routed_s, 3)
        out[f"batch_log_drain_s{key}"] = round(drain_s, 3)
        print(f"batch {args.rows:,} ({label}): raw {raw_s:.3f} s, router {routed_s:.3f} s "
              f"(best of {args.batch_reps}) -> throughput "
              f"{out[f'batch_throughput_ratio{key}']:.3f}x raw (target >= {BATCH_GOAL}); "
              f"log drained {drain_s:.3f} s later on the writer thread")
    return out


@contextlib.contextmanager
def busy_core():
    """A process spinning on one core for the duration (stopped by its own pid)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def batch_run(router: Router, pipeline, big: pd.DataFrame, reps: int, *, one_thread: bool,
              busy: bool) -> tuple[float, float, float]:
    """(best raw s, best router s, slowest log drain s) over ``reps`` alternated runs."""
    previous = os.environ.get("OMP_NUM_THREADS")
    if one_thread:  # the router's thread budget: no parallel slices
        os.environ["OMP_NUM_THREADS"] = "1"
    raw_runs, routed_runs, drains = [], [], []
    try:
        with busy_core() if busy else contextlib.nullcontext():
            for _ in range(reps):  # alternate, so machine drift hits both alike
                start = time.perf_counter()
                pipeline.predict_proba(big)
                raw_runs.append(time.perf_counter() - start)
                start = time.perf_counter()
                router.predict_batch(big)
                routed_runs.append(time.perf_counter() - start)
                start = time.perf_counter()
                router.log.flush()
                drains.append(time.perf_counter() - start)
    finally:
        if one_thread:
            if previous is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = previous
    return min(raw_runs), min(routed_runs), max(drains)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--estimators", nargs="+", default=list(DEFAULT))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "serving.json"))
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    frame = read_csv(params.resolve(params.data.path))
    results = []
    for estimator in args.estimators:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(single_rows(estimator, args, frame, Path(tmp)))
    first = results[0]
    for res in results:
        est = res["estimator"]
        default = est == args.estimators[0]
        single = res["single_row_ratio"]
        name = "serving.single_row_p50" if default else f"serving.{est}.single_row_p50"
        record(name, single, "x", f"<= {SINGLE_ROW_GOAL}x" if default else "reported",
               single <= SINGLE_ROW_GOAL if default else True,
               peer=f"raw predict_proba ({est}; router serves via {res['engine']})",
               ratio=single)
        record(f"serving.{est}.single_row_p50_sklearn", res["single_row_sklearn_ratio"], "x",
               "reported", True, peer=f"raw predict_proba ({est}), router via scikit-learn",
               ratio=res["single_row_sklearn_ratio"])
        if res["parity_max_proba_diff"] is not None:
            diff, wrong = res["parity_max_proba_diff"], res["parity_class_disagreements"]
            record(f"serving.{est}.parity_max_proba_diff", diff, "probability", "<= 1e-05",
                   diff <= 1e-5, peer=f"scikit-learn on {res['parity_rows']} held-out rows")
            record(f"serving.{est}.parity_class_disagreements", wrong, "rows", "0",
                   wrong == 0, peer=f"scikit-learn on {res['parity_rows']} held-out rows")
    shadow, batch = first["shadow_p50_ratio_spaced"], first["batch_throughput_ratio"]
    record("serving.shadow_p50_spaced", shadow, "x", f"<= {SHADOW_GOAL}x",
           shadow <= SHADOW_GOAL, peer="the router without a shadow", ratio=shadow)
    record("serving.shadow_p50_saturated", first["shadow_p50_ratio_saturated"], "x",
           "reported", True, peer="the router without a shadow",
           ratio=first["shadow_p50_ratio_saturated"])
    record("serving.batch_throughput", batch, "x", f">= {BATCH_GOAL}x", batch >= BATCH_GOAL,
           peer=f"raw predict_proba on {args.rows:,} rows", ratio=batch)
    for key, words in (("_one_thread", "one thread, no slices"),
                       ("_busy_core", "the other core busy")):
        ratio = first[f"batch_throughput_ratio{key}"]
        record(f"serving.batch_throughput{key}", ratio, "x", f">= {BATCH_GOAL}x",
               ratio >= BATCH_GOAL, ratio=ratio,
               peer=f"raw predict_proba on {args.rows:,} rows, {words}")
    drain = max(first[k] for k in first if k.startswith("batch_log_drain_s"))
    record("serving.batch_log_drain", drain, "s", "reported", True,
           peer=f"the writer thread, after a {args.rows:,}-row batch returned")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
