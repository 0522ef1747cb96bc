"""The `openct` command, grouped by what a person is doing.

    openct local run                       run the pipeline on this machine, print a summary
    openct data spans | schema             cut the CSV into time spans; draft a candidate schema
    openct kfp compile | upload | submit | schedule | unschedule | runs     Kubeflow Pipelines
    openct ct trigger | status | history | replay    continuous training, from ML Metadata
    openct serving predict                 TF Serving predictions on rows of the newest span
    openct compile-ir | step               orchestrator tasks (what compiled KFP specs run)

Each command shows only the settings it reads (`openct <group> <command> --help`); any setting can
also come from the environment (OPENCT_<NAME>). One error policy: a problem the user can fix
(a missing file, a bad value, an unreachable service) is one `error:` line and exit 1; a usage
error exits 2; `local run` and `ct trigger` exit 3 when the data validation gate stopped the run.
Library output (TensorFlow, Beam, absl) goes to a log file under <pipeline_root>/../logs
(OPENCT_LOG_DIR overrides; `-` keeps it on stderr, quieted), shown when a command fails;
--verbose puts it on the terminal instead.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipelines import process
from pipelines.cli import console

EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED = 1, 2, 3
EXIT_NOTHING = 4  # `ct trigger`: nothing to do (no new data, or the trigger policy says not now)
EXIT_USER_ERROR = -1  # internal: a one-line error (exit 1) whose log tail would only repeat it
# What the user can fix: one line, no traceback (the traceback goes to the library log).
USER_ERRORS = (LookupError, OSError, ValueError, TimeoutError)
TASKS = ("compile-ir", "step", "alert")  # orchestrator tasks: output stays on the pod's stderr
LOG_DIR_ENV = "OPENCT_LOG_DIR"  # where library logs go; "-": stay on stderr

Command = Callable[[Any, argparse.Namespace], int]


class Commands:
    """Adds the commands of one group; `settings` picks the configuration flags each one shows."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub

    def add(
        self, name: str, fn: Command, help_text: str, settings: Iterable[str] | None = None
    ) -> argparse.ArgumentParser:
        from pipelines.config import PipelineConfig

        parser = self.sub.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(fn=fn, command=name)
        parser.add_argument("-v", "--verbose", action="store_true", help="library logs at INFO on the terminal")
        PipelineConfig.add_arguments(parser, settings)
        return parser


def build_parser() -> argparse.ArgumentParser:
    from pipelines.cli import ct, data, kfp, local, serving, tasks

    parser = argparse.ArgumentParser(
        prog="openct", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for module in (local, data, kfp, ct, serving):
        group = groups.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.register(Commands(group.add_subparsers(dest="command", required=True, metavar="COMMAND")))
    tasks.register(Commands(groups))
    return parser


def entry() -> None:
    """The `openct` program (`python -m pipelines.cli`, the `openct` script): main(), then exit.

    Two start-up and shut-down costs of a process that imports TensorFlow, TFX and Beam (about
    8,600 modules, 1.1 million objects), measured on `openct step` for a resolver node, whose own
    work is 0.1 s of its 6.5 s:
    - the cyclic garbage collector runs about 1 s during those imports, scanning objects that live
      as long as the process; it is off until the first node starts, 20 s at most
      (pipelines.process): imports 4.8 s -> 3.8 s;
    - interpreter teardown (finalising every module and TensorFlow's C++ objects) takes 1.8 s
      after the last line of output; after the exit handlers run and the output is flushed, the
      process ends without it (os._exit). Nothing of ours is pending by then: ML Metadata commits
      each call, and our files are closed.
    An exception (a crash, argparse's usage exit) takes the normal way out, traceback and all.
    """
    process.pause_collection()
    # argparse asks the terminal's size for every argument it adds (HelpFormatter), and Beam builds
    # a parser for each PipelineOptions.view_as, tens of thousands of times a run: 3.3 s of a full
    # run sampled in shutil.get_terminal_size. Set once to the size it finds, it is an env lookup.
    size = shutil.get_terminal_size()
    os.environ.setdefault("COLUMNS", str(size.columns))
    os.environ.setdefault("LINES", str(size.lines))
    code = main()
    atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter runs first at exit (logging's flush included)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    from pipelines.config import PipelineConfig

    args = build_parser().parse_args(argv)
    try:
        config = PipelineConfig.from_args(args)
        _ = config.spec  # resolve the dataset early: a bad --dataset is a one-line error
    except ValueError as exc:
        console.error(f"error: {exc}")
        return EXIT_USAGE
    log_dir = _log_dir(config)
    if args.verbose:
        console.verbose_logging()
    elif args.command in TASKS or log_dir is None:
        console.quiet_libraries()
    if args.verbose or args.command in TASKS or log_dir is None:
        return _run(args, config)
    log = console.log_path(log_dir, args.command)
    try:
        with console.library_output_to(log):
            code = _run(args, config)
    except BaseException:  # a bug or Ctrl-C: the traceback follows; say where the library output is
        console.show_log_tail(log)
        raise
    if code not in (0, EXIT_USER_ERROR, EXIT_NOTHING):
        console.show_log_tail(log)  # a failed run: the cause is usually at the end of the log
    return EXIT_FAILED if code == EXIT_USER_ERROR else code


def _run(args: argparse.Namespace, config: Any) -> int:
    try:
        return args.fn(config, args)
    except USER_ERRORS as exc:
        kind = f"{type(exc).__name__}: " if isinstance(exc, (KeyError, IndexError)) else ""  # usually bugs
        console.error(f"error: {kind}{exc}")
        console.log_exception(exc)  # into the log, or on stderr when there is none: never lost
        if console.has_log():
            console.error(f"  (details in {console.current_log()})")
            return EXIT_USER_ERROR
        return EXIT_FAILED


def _log_dir(config: Any) -> Path | None:
    """OPENCT_LOG_DIR, else <pipeline_root>/../logs (build/logs by default); `-` keeps library
    output on stderr, quieted (the trigger CronJob: its output is the pod's log)."""
    chosen = os.environ.get(LOG_DIR_ENV, "")
    if chosen == "-":
        return None
    if chosen:
        return Path(chosen)
    if "://" in config.pipeline_root:
        return Path(tempfile.gettempdir()) / "openct-logs"
    return Path(config.pipeline_root).parent / "logs"


if __name__ == "__main__":
    sys.exit(main())
