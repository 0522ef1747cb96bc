"""The command line: groups, per-command settings, one error policy, library output in a log file."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import cli
from pipelines.cli import console, ct, docs, tasks
from pipelines.config import REPO_ROOT


def test_the_trigger_cronjob_calls_a_command_the_cli_still_has():
    """kustomize/base/trigger-cronjob.yaml runs `python3 -m pipelines.cli ct trigger --kfp ...`."""
    docs = yaml.safe_load_all((REPO_ROOT / "kustomize/base/trigger-cronjob.yaml").read_text())
    [cronjob] = [d for d in docs if d and d.get("kind") == "CronJob"]
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    shell, flag, script = container["command"]
    call, exit_mapping = script.split(";", 1)
    command = shlex.split(call)
    assert (shell, flag) == ("sh", "-c") and command[:3] == ["python3", "-m", "pipelines.cli"]
    args = cli.build_parser().parse_args(command[3:])
    assert args.fn is ct.cmd_trigger and args.kfp and args.metadata.startswith("grpc://")
    # "nothing to do" (exit 4) is a Job that succeeded; any other failure stays a failure
    for code, expected in ((0, 0), (cli.EXIT_NOTHING, 0), (1, 1), (cli.EXIT_BLOCKED, cli.EXIT_BLOCKED)):
        assert subprocess.run(["sh", "-c", f"(exit {code});{exit_mapping}"]).returncode == expected, code


def test_python_dash_m_runs_the_task_commands():
    """`python -m pipelines.cli` (the module's __main__) reaches the task commands."""
    for command in ("compile-ir", "step"):
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", command, "--help"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and f"openct {command}" in proc.stdout, proc.stderr


def test_each_command_shows_only_its_own_settings(capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["step", "--ir", "i", "--node", "n", "--run-id", "r"]).fn is tasks.cmd_step
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["ct", "history", "--data-root", "/x"])  # history reads no spans
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "unrecognized arguments: --data-root" in capsys.readouterr().err
    history = parser.parse_args(["ct", "history", "--pipeline-root", "/p"])
    assert history.pipeline_root == "/p"
    run = parser.parse_args(["local", "run", "--train-steps", "5", "--no-warm-start"])
    assert run.train_steps == 5 and run.warm_start is False


def test_one_error_policy_one_line_and_exit_codes(tmp_path, capfd):
    """capfd: our error lines go to the terminal's descriptor even while descriptor 2 is the log."""
    assert cli.main(["data", "spans", "--dataset", str(tmp_path / "none.json")]) == cli.EXIT_USAGE
    assert capfd.readouterr().err.startswith("error: ")
    code = cli.main(["ct", "history", "--pipeline-root", str(tmp_path / "pipeline")])
    err = capfd.readouterr().err
    assert code == cli.EXIT_FAILED
    assert err.splitlines()[0].startswith("error: no ML Metadata store at ")
    assert "Traceback" not in err and len(err.splitlines()) == 2  # the error, and where the details are
    [log] = (tmp_path / "logs").glob("*-history.log")
    assert "Traceback" in log.read_text() and "FileNotFoundError" in log.read_text()


def test_library_output_goes_to_the_log_and_its_tail_is_shown_on_failure(tmp_path):
    """Descriptor 2 (TensorFlow's C++ logging writes there) and Python logging go to the log file;
    our own error lines stay on the terminal."""
    program = f"""
import logging, os, sys
from pathlib import Path
from pipelines.cli import console
log = Path({str(tmp_path / "logs" / "cmd.log")!r})
with console.library_output_to(log):
    os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")
    logging.getLogger("tensorflow").warning("a library warning")
    print("progress line", flush=True)
    console.error("error: ours")
console.show_log_tail(log)
"""
    proc = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "progress line\n"
    terminal = proc.stderr.splitlines()
    assert terminal[0] == "error: ours"  # during the command: only our line
    assert "oneDNN" in (tmp_path / "logs" / "cmd.log").read_text()
    assert "a library warning" in (tmp_path / "logs" / "cmd.log").read_text()
    assert any("oneDNN" in line for line in terminal[1:])  # the tail, shown after a failure


def test_an_empty_library_log_is_removed(tmp_path):
    log = tmp_path / "logs" / "quiet.log"
    with console.library_output_to(log):
        print("only progress")
    assert not log.exists()


def test_the_configuration_page_is_current():
    """docs/configuration.md is generated (make docs); regenerate it when a setting changes."""
    assert (REPO_ROOT / "docs" / "configuration.md").read_text() == docs.configuration_markdown(), "run `make docs`"


def test_help_does_not_import_tensorflow():
    """`openct --help` and parsing stay fast and quiet: TensorFlow is imported by commands only."""
    program = "import sys; from pipelines import cli; cli.build_parser(); print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_an_unwritable_log_directory_never_stops_a_command(tmp_path):
    assert console.log_path(tmp_path / "logs", "run").parent == tmp_path / "logs"
    fallback = console.log_path(Path("/proc/nope/logs"), "history")  # cannot be created, even by root
    assert fallback.parent.name == "openct-logs" and fallback.parent.is_dir()


def test_without_a_log_file_the_traceback_stays_on_stderr(tmp_path, monkeypatch, capfd):
    """OPENCT_LOG_DIR=- (the trigger CronJob): library output and tracebacks stay in the pod's log."""
    monkeypatch.setenv("OPENCT_LOG_DIR", "-")
    assert cli.main(["ct", "history", "--pipeline-root", str(tmp_path / "pipeline")]) == cli.EXIT_FAILED
    err = capfd.readouterr().err
    assert err.startswith("error: no ML Metadata store") and "Traceback" in err and "FileNotFoundError" in err
    assert not (tmp_path / "logs").exists()


def test_logs_are_pruned_and_nesting_is_refused(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(console.KEEP_LOGS + 5):
        (logs / f"old-{n:02d}.log").write_text("x")
    with console.library_output_to(logs / "new.log"):
        with pytest.raises(RuntimeError, match="already redirected"), console.library_output_to(logs / "inner.log"):
            pass
        os.write(2, b"x\n")  # descriptor 2: into new.log, which is kept
    kept = sorted(p.name for p in logs.glob("*.log"))
    assert len(kept) == console.KEEP_LOGS and "new.log" in kept and "old-00.log" not in kept


def test_the_program_exits_with_the_commands_code_and_its_output_flushed(tmp_path):
    """entry() ends the process with os._exit after the exit handlers: the command's exit code,
    every line printed (block-buffered into pipes) and the handlers' work must still arrive."""
    program = (
        "import atexit, sys; from pipelines import cli; atexit.register(print, 'handler ran'); "
        f"sys.argv = ['openct', 'ct', 'history', '--pipeline-root', {str(tmp_path / 'p')!r}]; cli.entry()"
    )
    env = dict(os.environ, OPENCT_LOG_DIR="-")
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == cli.EXIT_FAILED
    assert proc.stderr.rstrip().endswith(": nothing has run yet")  # the last line, after TF's notices
    assert "error: no ML Metadata store at " in proc.stderr
    assert proc.stdout.rstrip().endswith("handler ran")
    proc = subprocess.run(  # the module form, as compiled specs call it
        [sys.executable, "-m", "pipelines.cli", "ct", "history", "--pipeline-root", str(tmp_path / "p")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == cli.EXIT_FAILED and "no ML Metadata store" in proc.stderr


def test_compile_ir_fixes_the_newest_span_so_runs_with_and_without_it_share_the_cache(tmp_path):
    """CsvExampleGen's exec properties include its range config: an IR for "the newest span" and
    one for that span by number made KFP runs on the same data miss TFX's cache (a real KFP 2.17
    scheduled run after a triggered one retrained). compile-ir now fixes the span, so both IRs are
    the same."""
    for span in (1, 2):
        (tmp_path / "data" / f"span-{span}").mkdir(parents=True)
        (tmp_path / "data" / f"span-{span}" / "data.csv").write_text("a\n1\n")
    flags = ["--data-root", str(tmp_path / "data"), "--pipeline-root", str(tmp_path / "p")]
    assert cli.main(["compile-ir", "--out", str(tmp_path / "newest.json"), *flags]) == 0
    assert cli.main(["compile-ir", "--out", str(tmp_path / "two.json"), "--span", "2", *flags]) == 0
    assert (tmp_path / "newest.json").read_text() == (tmp_path / "two.json").read_text()
    assert cli.main(["compile-ir", "--out", str(tmp_path / "one.json"), "--span", "1", *flags]) == 0
    assert (tmp_path / "one.json").read_text() != (tmp_path / "two.json").read_text()


def test_status_reads_artifacts_where_the_cluster_volume_is_mounted_here():
    """Runs on KFP record artifact URIs at the pods' mount (/mnt/openct/...); `ct status` on the
    host reads the same files from the volume's directory (make status)."""
    from pipelines.lineage import local_uri

    mapping = ("/mnt/openct", "/work/build/kind-volumes/pipeline")
    assert local_uri("/mnt/openct/tfx/Evaluator/evaluation/7", mapping) == (
        "/work/build/kind-volumes/pipeline/tfx/Evaluator/evaluation/7"
    )
    assert local_uri("/mnt/openct2/x", mapping) == "/mnt/openct2/x"  # a prefix of a name is not a parent
    assert local_uri("/elsewhere/x", None) == "/elsewhere/x"


def test_a_serving_change_writes_nothing_when_tf_serving_does_not_answer(tmp_path, capfd):
    import socket

    (tmp_path / "serving" / "taxi" / "1").mkdir(parents=True)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    flags = ["--serving-dir", str(tmp_path / "serving"), "--pipeline-root", str(tmp_path / "p")]
    assert cli.main(["serving", "pin", "1", "--reason", "try", "--url", closed, *flags]) == 1
    assert "did not answer" in capfd.readouterr().err
    assert not (tmp_path / "serving" / "models.config").exists()
    assert cli.main(["serving", "pin", "1", "--reason", "try", "--url", "", *flags]) == 0  # no server: at once
    assert (tmp_path / "serving" / "models.config").exists()
