"""What a person sees: progress lines and our messages on the terminal, library noise in a log file.

TensorFlow writes its start-up notices (oneDNN, "failed call to cuInit" on a machine without a
GPU) from C++ straight to file descriptor 2, before and regardless of Python's logging; Beam,
absl and TFX log through Python. `library_output_to` therefore points descriptor 2 at a log file
for the whole command (child processes inherit it), and keeps a handle on the real terminal for
our own error lines (`error`). When a command fails, the log's tail is shown (`show_log_tail`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import faulthandler
import logging
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the launcher imports TFX: not at start-up of every command
    from pipelines.runners.launcher import NodeResult

LIBRARY_LOGGERS = ("apache_beam", "tensorflow", "absl", "tensorflow_transform", "tfx", "ml_metadata")
KEEP_LOGS = 20  # library logs kept per directory (the newest); older ones are deleted
_terminal: TextIO | None = None  # the real stderr while library output goes to a log file
_log: TextIO | None = None  # the library log while it is open


def error(message: str) -> None:
    """Our own error line: always on the terminal, never in the library log."""
    print(message, file=_terminal or sys.stderr, flush=True)


def log_exception(exc: BaseException) -> None:
    """The traceback of an error reported in one line: into the library log when there is one,
    else on stderr (a pod's log), so that it is never lost."""
    text = "".join(traceback.format_exception(exc))
    if _log is not None:
        _log.write(text)
        _log.flush()
    else:
        sys.stderr.write(text)


def has_log() -> bool:
    return _log is not None


def current_log() -> str:
    return _log.name if _log is not None else ""


def verbose_logging() -> None:
    """--verbose: every library at INFO on the terminal."""
    logging.basicConfig(level=logging.INFO)


def quiet_libraries() -> None:
    """Where library output stays on stderr (orchestrator tasks, OPENCT_LOG_DIR=-): errors only,
    as before the log file existed. TensorFlow, Beam and absl log thousands of INFO lines a run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def log_path(directory: Path, command: str) -> Path:
    """<directory>/<time>-<pid>-<command>.log; a temporary directory when `directory` cannot be
    written (a read-only tree, a bucket path), so that logging never stops a command."""
    name = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}-{command}.log"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory / name
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / "openct-logs"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback / name


def _prune(directory: Path, keep: int = KEEP_LOGS) -> None:
    logs = sorted(directory.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-keep]:
        old.unlink(missing_ok=True)


@contextlib.contextmanager
def library_output_to(log_path: Path) -> Iterator[Path]:
    """Sends descriptor 2, Python logging and warnings to `log_path` (removed on exit if nothing
    was written; the directory keeps the newest KEEP_LOGS logs). A hard crash (a C++ abort, a
    fatal Python error) is reported on the terminal by faulthandler, with the log's path."""
    global _terminal, _log
    if _terminal is not None:
        raise RuntimeError("library output is already redirected")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ INFO lines only; warnings and errors kept
    sys.stdout.flush()
    sys.stderr.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed in finally
    saved_fd = os.dup(2)
    root = logging.getLogger()
    handler = logging.StreamHandler(log)
    try:
        os.dup2(log.fileno(), 2)
        _terminal = os.fdopen(os.dup(saved_fd), "w", buffering=1)
        _log = log
        faulthandler.enable(_terminal)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        from absl import logging as absl_logging  # absl's handler writes to sys.stderr: descriptor 2

        absl_logging.set_verbosity(absl_logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _to_log(log)
            yield log_path
    finally:
        sys.stderr.flush()
        root.removeHandler(handler)
        if faulthandler.is_enabled():
            faulthandler.disable()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        if _terminal is not None:
            _terminal.close()
        _terminal = _log = None
        log.close()
        if log_path.stat().st_size == 0:
            log_path.unlink()
        _prune(log_path.parent)


def _to_log(log: TextIO):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        log.write(warnings.formatwarning(message, category, filename, lineno, line))

    return show


def show_log_tail(log_path: Path, lines: int = 30) -> None:
    """After a failure: the end of the library log, where the cause usually is."""
    if not log_path.is_file():
        return
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    error(f"--- last {len(tail)} lines of the library log {log_path} ---")
    for line in tail:
        error(f"  {line}")


def progress(node_id: str, index: int, total: int, result: NodeResult | None) -> None:
    """One line when a node starts and one when it ends: status, seconds, first output's URI."""
    if total == 0:  # a section header
        print(node_id, flush=True)
    elif result is None:
        print(f"[{index:2}/{total}] {node_id:<17} started", flush=True)
    else:
        where = ""
        for artifacts in result.outputs.values():
            if artifacts and artifacts[0].uri:
                where = f"-> {artifacts[0].uri}"
                if len(artifacts) > 1:  # a back-fill's one artifact per span, or a window
                    where += f" (+{len(artifacts) - 1} more)"
                break
        print(f"[{index:2}/{total}] {node_id:<17} {result.status:<8} {result.seconds:6.1f} s  {where}", flush=True)
