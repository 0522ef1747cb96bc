"""`make bench`: our pipeline against TFX's stock Chicago taxi example, same machine, same rows.

  (a) tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py from the installed tfx,
      unchanged; it reads $HOME/taxi and writes $HOME/tfx, so HOME points at a temporary dir;
  (b) our full run over all 16 quarterly spans (the same 15,002 rows, window 16, fresh store);
  (c) our rerun with nothing new (cached);
  (d) our run after one new span: span 17 is span 16's rows moved forward by 92 days (the
      sample ends in 2016-12, so the next quarter is synthesised; documented in the report);
  (e) our full run again, fresh store, with Transform's analyzer cache off: the cache analyses
      each span separately, which costs more than it saves on spans of ~1,000 rows.
Each is a separate process tree; wall time and peak RSS (sum over the tree, sampled every
0.2 s) are measured from outside. Results: console and build/bench.json.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from pipelines.config import BUILD_DIR, REPO_ROOT
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import cut_spans, span_path

STOCK_DIR = "examples/chicago_taxi_pipeline"
STOCK_PIPELINE = "chicago_taxi_native_keras"
NEW_SPAN_SHIFT_S = 92 * 86400


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Runs cmd; returns (wall seconds, peak RSS of the whole process tree in MB)."""
    peak = 0
    started = time.monotonic()
    with open(log, "w") as out:
        proc = psutil.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        while proc.poll() is None:
            rss = 0
            try:
                for p in [proc, *proc.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a child that has just ended
                        rss += p.memory_info().rss
            except psutil.Error:
                pass
            peak = max(peak, rss)
            time.sleep(0.2)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:4])} ... failed (exit {proc.returncode}); see {log}")
    return seconds, peak / 2**20


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    from pipelines.pipeline.evaluation import read_evaluation

    metrics, _ = read_evaluation(evaluation_uri)
    return metrics.get("candidate", {})


def run_stock(work: Path, logs: Path) -> dict:
    """The stock example, unchanged, with HOME at `work`."""
    import tfx

    package = Path(tfx.__file__).parent / STOCK_DIR
    taxi = work / "taxi"
    (taxi / "data" / "simple").mkdir(parents=True)
    shutil.copy(CHICAGO_TAXI.source_path(), taxi / "data" / "simple" / "data.csv")
    shutil.copy(package / "taxi_utils_native_keras.py", taxi / "taxi_utils_native_keras.py")
    env = dict(os.environ, HOME=str(work))
    seconds, rss = measure([sys.executable, str(package / "taxi_pipeline_native_keras.py")], logs / "stock.log", env)
    evaluations = sorted((work / "tfx" / "pipelines" / STOCK_PIPELINE / "Evaluator" / "evaluation").iterdir())
    return {"seconds": seconds, "rss_mb": rss, "metrics": overall_metrics(str(evaluations[-1]))}


def run_ours(work: Path, logs: Path, name: str, store: str, *extra: str) -> dict:
    """One `openct local run` over work/data with the metadata and artifacts in work/<store>."""
    summary_path = work / f"{name}.summary.json"
    cmd = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "local",
        "run",
        "--no-prepare",
        "--window-spans",
        "16",
        "--data-root",
        str(work / "data"),
        "--pipeline-root",
        str(work / store),
        "--serving-dir",
        str(work / "serving"),
        "--summary-json",
        str(summary_path),
        *extra,
    ]
    seconds, rss = measure(cmd, logs / f"{name}.log")
    summary = json.loads(summary_path.read_text())
    metrics = overall_metrics(summary["evaluation_uri"]) if summary["evaluation_uri"] else {}
    return {
        "seconds": seconds,
        "rss_mb": rss,
        "metrics": metrics,
        "status": summary["status"],
        "node_seconds": summary["node_seconds"],
        "spans": summary["spans"],
    }


def add_next_quarter(data_root: Path) -> None:
    """span-17: span 16's rows, 92 days later (see module docstring)."""
    with open(span_path(data_root, 16), newline="") as f:
        rows = list(csv.reader(f))
    ts = rows[0].index(CHICAGO_TAXI.timestamp_column)
    staging = data_root / ".span-17"
    staging.mkdir()
    with open(staging / "data.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(rows[0])
        for r in rows[1:]:
            w.writerow(r[:ts] + [str(int(r[ts]) + NEW_SPAN_SHIFT_S)] + r[ts + 1 :])
    staging.rename(data_root / "span-17")


def main() -> int:

    logs = BUILD_DIR / "bench"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="openct-bench-"))
    try:
        print(f"bench: working in {work}; logs in {logs}", flush=True)
        print("bench: (a) stock TFX taxi example (taxi_pipeline_native_keras.py, unchanged) ...", flush=True)
        stock = run_stock(work / "stock", logs)
        print(f"bench:     {stock['seconds']:.1f} s", flush=True)
        ours_dir = work / "ours"
        cut_spans(CHICAGO_TAXI.source_path(), ours_dir / "data", CHICAGO_TAXI.timestamp_column, 3)
        print("bench: (b) our full run, 16 spans, fresh metadata ...", flush=True)
        full = run_ours(ours_dir, logs, "ours_full", "store")
        print(f"bench:     {full['seconds']:.1f} s ({full['status']})", flush=True)
        print("bench: (c) our rerun, nothing new ...", flush=True)
        cached = run_ours(ours_dir, logs, "ours_cached", "store")
        print(f"bench:     {cached['seconds']:.1f} s ({cached['status']})", flush=True)
        add_next_quarter(ours_dir / "data")
        print("bench: (d) our run after one new span ...", flush=True)
        new_span = run_ours(ours_dir, logs, "ours_new_span", "store")
        print(f"bench:     {new_span['seconds']:.1f} s ({new_span['status']})", flush=True)
        (ours_dir / "data" / "span-17").rename(ours_dir / "span-17.aside")
        print("bench: (e) our full run, fresh metadata, analyzer cache off ...", flush=True)
        nocache = run_ours(ours_dir, logs, "nocache_full", "store-nocache", "--no-analyzer-cache")
        print(f"bench:     {nocache['seconds']:.1f} s ({nocache['status']})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "stock_s": round(stock["seconds"], 1),
        "ours_s": round(full["seconds"], 1),
        "ours_cached_s": round(cached["seconds"], 1),
        "ours_new_span_s": round(new_span["seconds"], 1),
        "stock_accuracy": round(stock["metrics"].get("binary_accuracy", float("nan")), 4),
        "ours_accuracy": round(full["metrics"].get("binary_accuracy", float("nan")), 4),
        "stock_auc": stock["metrics"].get("auc"),  # the stock EvalConfig has no AUC metric: null
        "ours_auc": round(full["metrics"].get("auc", float("nan")), 4),
        "stock_rss_mb": round(stock["rss_mb"]),
        "ours_rss_mb": round(max(full["rss_mb"], cached["rss_mb"], new_span["rss_mb"])),
        "ratios": {
            "ours_vs_stock": round(full["seconds"] / stock["seconds"], 3),
            "cached_vs_ours": round(cached["seconds"] / full["seconds"], 3),
            "new_span_vs_ours": round(new_span["seconds"] / full["seconds"], 3),
        },
        "targets": {
            "ours_vs_stock": 0.5,
            "cached_vs_ours": 0.15,
            "new_span_vs_ours": 0.5,
            "accuracy": "ours >= stock - 0.005",
            "rss": "ours <= stock",
        },
        "ours_full_component_s": full["node_seconds"],
        "ours_new_span_component_s": new_span["node_seconds"],
        "new_span_note": "span 17 = span 16's rows moved forward by 92 days (the sample ends 2016-12)",
        "ours_no_analyzer_cache": {
            "full_s": round(nocache["seconds"], 1),
            "rss_mb": round(nocache["rss_mb"]),
            "accuracy": round(nocache["metrics"].get("binary_accuracy", float("nan")), 4),
            "auc": round(nocache["metrics"].get("auc", float("nan")), 4),
            "vs_stock": round(nocache["seconds"] / stock["seconds"], 3),
            "component_s": nocache["node_seconds"],
        },
    }
    out = BUILD_DIR / "bench.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    r = result["ratios"]
    print(
        f"""
benchmark (same machine, same 15,002 rows)      wall s   peak RSS MB   accuracy   AUC
  stock taxi_pipeline_native_keras.py         {result["stock_s"]:8.1f}   {result["stock_rss_mb"]:11}   {result["stock_accuracy"]:8.4f}   n/a
  ours, full run (16 spans, fresh)            {result["ours_s"]:8.1f}   {round(full["rss_mb"]):11}   {result["ours_accuracy"]:8.4f}   {result["ours_auc"]:.4f}
  ours, cached rerun                          {result["ours_cached_s"]:8.1f}   {round(cached["rss_mb"]):11}
  ours, one new span                          {result["ours_new_span_s"]:8.1f}   {round(new_span["rss_mb"]):11}
  ours, full run, analyzer cache off          {nocache["seconds"]:8.1f}   {round(nocache["rss_mb"]):11}   {result["ours_no_analyzer_cache"]["accuracy"]:8.4f}   {result["ours_no_analyzer_cache"]["auc"]:.4f}
ratios: ours/stock {r["ours_vs_stock"]:.2f} (target <= 0.5), cached/ours {r["cached_vs_ours"]:.2f} (<= 0.15), new span/ours {r["new_span_vs_ours"]:.2f} (<= 0.5)
accuracy: ours - stock = {result["ours_accuracy"] - result["stock_accuracy"]:+.4f} (target >= -0.005); RSS ours/stock {result["ours_rss_mb"] / result["stock_rss_mb"]:.2f} (target <= 1)
full run, seconds per component: {json.dumps(full["node_seconds"])}
written: {out}""",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
