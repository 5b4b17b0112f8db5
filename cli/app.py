"""The `kamreview` command line (Typer): every command group, the process entry, and the usage-error format.

Every command prints a clear message and exits with a documented code on a mistake, never a traceback:
0 ok, 1 internal error (details in data/kamreview-errors.log), 2 usage error or invalid input, 3 not found,
4 refused (conflict, wrong phase, not allowed), 5 a server unavailable, 130 interrupted.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from cli.common import EXIT_INTERRUPTED, EXIT_USAGE, command, error_log, report

PROG = "kamreview"

# Every command group and top-level command: (name, module, attribute, a group?, hidden?), in the order --help lists
# them. A call imports only the module of the command it runs (a read such as `cycle list` does not import the
# other ten); --help, a mistyped name and shell completion register them all.
COMMANDS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("db", "cli.ops", "db_app", True, False),
    ("migrate", "cli.ops", "upgrade", False, True),  # the old name of `db upgrade`
    ("import", "cli.ops", "import_", False, False),
    ("import-org", "cli.ops", "import_org", False, False),
    ("crm", "cli.crm", "app", True, False),
    ("kpi", "cli.kpi", "app", True, False),
    ("cycle", "cli.cycle", "app", True, False),
    ("review", "cli.people", "review_app", True, False),
    ("people", "cli.accounts", "app", True, False),
    ("tasks", "cli.people", "tasks", False, False),
    ("submit", "cli.people", "submit_app", True, False),
    ("calibration", "cli.calibration", "app", True, False),
    ("payouts", "cli.money", "payouts_app", True, False),
    ("incentives", "cli.money", "incentives_app", True, False),
    ("notifications", "cli.notifications", "app", True, False),
    ("goals", "cli.goals", "app", True, False),
    ("peers", "cli.peers", "app", True, False),
    ("payroll", "cli.money", "payroll_app", True, False),
    ("trends", "cli.trends", "trends", False, False),
    ("demo", "cli.ops", "demo", False, False),
    ("servers", "cli.ops", "servers", False, False),
)


def _root() -> None:
    """kamreview: review cycles for Key Account Managers"""


def build_app(names: set[str] | None = None) -> typer.Typer:
    """The Typer app with the named commands registered (None: all of them)."""
    app = typer.Typer(
        name=PROG,
        help="kamreview: review cycles for Key Account Managers",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # A root callback keeps the app a group even with one command registered (Typer would make it that command).
    app.callback()(_root)
    for name, module, attribute, group, hidden in COMMANDS:
        if names is None or name in names:
            target = getattr(importlib.import_module(module), attribute)
            if group:
                app.add_typer(target, name=name)
            else:
                command(app, name, hidden=hidden)(target)
    return app


def _needed(args: list[str]) -> set[str] | None:
    """The one command this call runs, when its first word names one; else None (help, completion, a typo)."""
    if not args or args[0].startswith("-") or any(key.endswith("_COMPLETE") for key in os.environ):
        return None
    return {args[0]} if any(args[0] == entry[0] for entry in COMMANDS) else None


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process and return its exit code (the tests call this; ``run`` exits)."""
    from typer._click.exceptions import UsageError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli = typer.main.get_command(build_app(_needed(args)))
        code = cli.main(args=args, prog_name=PROG, standalone_mode=False)
    except UsageError as err:
        if type(err).__name__ != "NoArgsIsHelpError":  # a group named alone: its help was printed already
            print(_usage_error(err), file=sys.stderr)
        return EXIT_USAGE
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as done:  # shell completion answers, then exits
        return done.code if isinstance(done.code, int) else 0
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - parsing itself failed: a message, not a trace
        return report(err)
    return code if isinstance(code, int) else 0


def _usage_error(err) -> str:
    """Click's usage error, naming the argument as ``argument NAME: why`` (the id and number checks' words)."""
    from typer._click.exceptions import BadParameter, MissingParameter

    message = err.format_message()
    param = getattr(err, "param", None)
    if isinstance(err, BadParameter) and not isinstance(err, MissingParameter) and param is not None:
        name = param.opts[0] if param.param_type_name == "option" and param.opts else param.name
        message = f"argument {name}: {err.message.removeprefix('Value error, ')}"
    lines = []
    if err.ctx is not None:
        lines.append(err.ctx.get_usage())
        lines.append(f"Try '{err.ctx.command_path} --help' for help.")
    lines.append(f"error: {message}")
    return "\n".join(lines)


def worker_log() -> None:
    """The embedded worker's diagnostics (an activity attempt that failed and is retried, with its traceback) go to a
    log file beside the error log, not between the command's own lines; what fails for good reaches the person as a
    refusal or a blocked cycle, said in one line."""
    path = error_log().with_name("kamreview-worker.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    temporal = logging.getLogger("temporalio")
    temporal.addHandler(handler)
    temporal.propagate = False


def run(argv: list[str] | None = None) -> None:
    """The process entry (`kamreview`, `python -m cli`, `starter.py`): runs a command and exits."""
    logging.basicConfig(level=logging.WARNING)
    worker_log()
    code = main(argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.stderr.flush()
    os._exit(code)  # temporal-notes: skip interpreter finalization, which can abort after a client was used
