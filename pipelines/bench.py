"""`make bench`: our pipeline against TFX's stock Chicago taxi example, same machine, same rows.

  stock: tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py from the installed tfx,
      unchanged; it reads $HOME/taxi and writes $HOME/tfx, so HOME points at a temporary dir;
  then ours, each with Transform's analyzer cache on and off (two stores, same data):
  full: a run over all 16 quarterly spans (the same 15,002 rows, window 16) from an empty store;
  cached: the same again with nothing new;
  new span: a run after one new span: span 17 is span 16's rows moved into the next quarter (the
      sample ends in 2016-12, so it is synthesised; rows past that quarter's end are dropped; each
      trip's trip_seconds moved by 1-59 s, or it would be a re-delivery, which the checks block);
  blocked: a run whose new span fails the data checks (span 18, fares in cents): time to verdict;
  kubeflow shape: the next good span (19), run as a compiled KFP spec runs it: `openct compile-ir`,
      then one `openct step` process per node in the IR's order (cache off), so that each node's
      process start-up (wall - the node's own seconds) is measured.
Each is a separate process tree; wall time and peak RSS (sum over the tree, sampled every
0.2 s) are measured from outside. Results: a table on the console and build/bench.json.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from pipelines.config import BUILD_DIR, REPO_ROOT
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import LAYOUT_FILE, cut_spans, span_path

STOCK_DIR = "examples/chicago_taxi_pipeline"
STOCK_PIPELINE = "chicago_taxi_native_keras"


def measure(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
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
    if proc.returncode not in ok:
        raise SystemExit(f"bench: {' '.join(cmd[:4])} ... failed (exit {proc.returncode}); see {log}")
    return seconds, peak / 2**20


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    from pipelines.pipeline.evaluation import read_evaluation

    metrics, _ = read_evaluation(evaluation_uri)
    return metrics.get("candidate", {})


def run_stock(work: Path, logs: Path, source: Path | None = None, name: str = "stock") -> dict:
    """The stock example, unchanged, with HOME at `work`, on `source` (default: the taxi sample)."""
    import tfx

    package = Path(tfx.__file__).parent / STOCK_DIR
    taxi = work / "taxi"
    (taxi / "data" / "simple").mkdir(parents=True)
    shutil.copy(source or CHICAGO_TAXI.source_path(), taxi / "data" / "simple" / "data.csv")
    shutil.copy(package / "taxi_utils_native_keras.py", taxi / "taxi_utils_native_keras.py")
    # Its Beam args make TFX leave a 52 MB copy of itself per Beam component in $TMPDIR
    # (pipelines/config.py, beam_args): keep those under `work`, which the bench deletes.
    (work / "tmp").mkdir()
    env = dict(os.environ, HOME=str(work), TMPDIR=str(work / "tmp"))
    seconds, rss = measure([sys.executable, str(package / "taxi_pipeline_native_keras.py")], logs / f"{name}.log", env)
    evaluations = sorted((work / "tfx" / "pipelines" / STOCK_PIPELINE / "Evaluator" / "evaluation").iterdir())
    return {"seconds": seconds, "rss_mb": rss, "metrics": overall_metrics(str(evaluations[-1]))}


def run_ours(work: Path, logs: Path, name: str, store: str, *extra: str, ok: tuple[int, ...] = (0,)) -> dict:
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
    seconds, rss = measure(cmd, logs / f"{name}.log", ok=ok)
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


def add_span(data_root: Path, number: int, change: Callable[[dict[str, str]], None] | None = None) -> None:
    """span-<number>: span 16's rows moved into span <number>'s period (from the data root's
    layout), rows past its end dropped; `change` edits each row (a corruption). Each trip's
    trip_seconds moves by 1-59 s, as the cluster e2e's new spans do: the same rows again would be a
    re-delivered span, which the data checks block (DUPLICATION)."""
    from components.checks import span_period

    layout = json.loads((data_root / LAYOUT_FILE).read_text())
    source, period = span_period(layout, 16), span_period(layout, number)
    assert source and period, f"{data_root / LAYOUT_FILE}: no span periods"
    (start, _), (target, end) = source, period
    with open(span_path(data_root, 16), newline="") as f:
        rows = list(csv.DictReader(f))
    staging = data_root / f".span-{number}"
    staging.mkdir()
    ts = CHICAGO_TAXI.timestamp_column
    with open(staging / "data.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for i, row in enumerate(rows):
            row[ts] = str(int(row[ts]) + int(target - start))
            if row["trip_seconds"]:
                row["trip_seconds"] = str(int(float(row["trip_seconds"])) + 1 + (number * 31 + i) % 59)
            if int(row[ts]) < end:
                if change:
                    change(row)
                w.writerow(row)
    staging.rename(data_root / f"span-{number}")


STEP_LINE = re.compile(r"^\[\s*1/1\] (\S+)\s+(\w+)\s+([\d.]+) s")


def run_kubeflow_shape(work: Path, logs: Path, store: str, *extra: str) -> dict:
    """compile-ir, then each node of the IR as its own `openct step` process, in order (what every
    task of the compiled KFP spec runs; pipelines.runners.kubeflow)."""
    from pipelines.runners.launcher import nodes, read_ir

    flags = [
        "--window-spans", "16", "--data-root", str(work / "data"), "--pipeline-root", str(work / store),
        "--serving-dir", str(work / "serving"), *extra,
    ]  # fmt: skip
    cli = [sys.executable, "-m", "pipelines.cli"]
    ir_path = work / "kubeflow-ir.json"
    compile_s, peak = measure([*cli, "compile-ir", "--out", str(ir_path), *flags], logs / "kubeflow-compile.log")
    steps = []
    for node in nodes(read_ir(ir_path)):
        node_id = node.node_info.id
        log = logs / f"kubeflow-step-{node_id}.log"
        cmd = [*cli, "step", "--ir", str(ir_path), "--node", node_id, "--run-id", "bench-kubeflow-shape"]
        seconds, rss = measure([*cmd, "--metadata", str(work / store / "metadata.sqlite")], log)
        found = [m for m in map(STEP_LINE.match, log.read_text().splitlines()) if m]
        own = float(found[-1].group(3)) if found else 0.0
        steps.append(
            {"node": node_id, "wall_s": round(seconds, 1), "node_s": own, "startup_s": round(seconds - own, 1)}
        )
        peak = max(peak, rss)
    return {
        "seconds": compile_s + sum(s["wall_s"] for s in steps),
        "rss_mb": peak,
        "compile_s": round(compile_s, 1),
        "steps": steps,
        "status": "ok",
    }


def in_cents(row: dict[str, str]) -> None:
    for column in ("fare", "tips"):
        if row[column]:
            row[column] = f"{float(row[column]) * 100:.0f}"


VARIANTS = {"cache on": ("store-cache", "--analyzer-cache"), "cache off": ("store-nocache", "--no-analyzer-cache")}


def main() -> int:
    logs = BUILD_DIR / "bench"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="openct-bench-"))
    runs: dict[str, dict] = {}

    def ours(scenario: str, variant: str, ok: tuple[int, ...] = (0,)) -> None:
        store, flag = VARIANTS[variant]
        print(f"bench: ours, {scenario}, analyzer {variant} ...", flush=True)
        name = f"{scenario}-{variant}".replace(" ", "_")
        runs[f"{scenario}, {variant}"] = result = run_ours(work / "ours", logs, name, store, flag, ok=ok)
        print(f"bench:     {result['seconds']:.1f} s ({result['status']})", flush=True)

    try:
        print(f"bench: working in {work}; logs in {logs}", flush=True)
        print("bench: stock TFX taxi example (taxi_pipeline_native_keras.py, unchanged) ...", flush=True)
        runs["stock"] = stock = run_stock(work / "stock", logs)
        print(f"bench:     {stock['seconds']:.1f} s", flush=True)
        data = work / "ours" / "data"
        cut_spans(CHICAGO_TAXI.source_path(), data, CHICAGO_TAXI.timestamp_column, 3)
        for variant in VARIANTS:
            ours("full", variant)
            ours("cached", variant)
        add_span(data, 17)
        for variant in VARIANTS:
            ours("new span", variant)
        add_span(data, 18, in_cents)
        for variant in VARIANTS:
            ours("blocked", variant, ok=(3,))
        add_span(data, 19)
        print("bench: ours, kubeflow shape (compile-ir, then one step process per node), cache off ...", flush=True)
        runs["kubeflow shape, cache off"] = kfp = run_kubeflow_shape(work / "ours", logs, *VARIANTS["cache off"])
        print(f"bench:     {kfp['seconds']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report(runs)


def report(runs: dict[str, dict]) -> int:
    """The table (the issue's shape) and build/bench.json."""
    stock = runs["stock"]
    rows = []
    for name, run in runs.items():
        base = runs[name.replace("cached", "full")] if name.startswith("cached") else stock
        ratio_of = "x ours full" if name.startswith("cached") else "x stock"
        metrics = run.get("metrics", {})
        rows.append(
            {
                "scenario": name,
                "seconds": round(run["seconds"], 1),
                "ratio": round(run["seconds"] / base["seconds"], 3),
                "ratio_of": ratio_of,
                "rss_mb": round(run["rss_mb"]),
                "auc": round(metrics["auc"], 4) if "auc" in metrics else None,
                "accuracy": round(metrics["binary_accuracy"], 4) if "binary_accuracy" in metrics else None,
                "status": run.get("status", "ok"),
                "component_s": run.get("node_seconds", {}),
            }
        )
    kfp = runs.get("kubeflow shape, cache off", {})
    out = BUILD_DIR / "bench.json"
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "kubeflow_steps": kfp.get("steps", []),
                "new_span_note": "span 17 = span 16's rows moved into 2017-Q1; span 19 likewise into 2017-Q3",
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "| scenario | wall s | ratio | peak RSS MB | AUC | accuracy | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['seconds']} | {r['ratio']:.2f} {r['ratio_of']} | {r['rss_mb']} | "
            f"{r['auc'] if r['auc'] is not None else '-'} | {r['accuracy'] if r['accuracy'] is not None else '-'} | "
            f"{r['status']} |"
        )
    print("\n".join(lines), flush=True)
    for r in rows:
        if r["component_s"]:
            top = sorted(r["component_s"].items(), key=lambda kv: -kv[1])[:6]
            print(f"  {r['scenario']}: " + ", ".join(f"{k} {v:.1f}" for k, v in top), flush=True)
    if kfp:
        steps = kfp["steps"]
        startup = [s["startup_s"] for s in steps]
        print(
            f"kubeflow shape: compile-ir {kfp['compile_s']} s; {len(steps)} step processes, start-up per node "
            f"{min(startup)}-{max(startup)} s (median {sorted(startup)[len(startup) // 2]}), sum {sum(startup):.1f} s; "
            f"nodes' own seconds {sum(s['node_s'] for s in steps):.1f} s",
            flush=True,
        )
        for step in steps:
            print(f"  {step['node']:<17} wall {step['wall_s']:6.1f} s  node {step['node_s']:6.1f} s  "
                  f"start-up {step['startup_s']:5.1f} s", flush=True)  # fmt: skip
    print(f"written: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
