"""The `kamreview` command line (Typer): every command group, the process entry, and the usage-error format.

Every command prints a clear message and exits with a documented code on a mistake, never a traceback:
0 ok, 1 internal error (details in data/kamreview-errors.log), 2 usage error or invalid input, 3 not found,
4 refused (conflict, wrong phase, not allowed), 5 a server unavailable, 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from cli import accounts, calibration, crm, cycle, goals, kpi, money, notifications, ops, peers, people, trends
from cli.common import EXIT_INTERRUPTED, EXIT_USAGE, command, error_log, report

PROG = "kamreview"

app = typer.Typer(
    name=PROG,
    help="kamreview: review cycles for Key Account Managers",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(ops.db_app, name="db")
command(app, "migrate", hidden=True)(ops.upgrade)  # the old name of `db upgrade`
command(app, "import")(ops.import_)
command(app, "import-org")(ops.import_org)
app.add_typer(crm.app, name="crm")
app.add_typer(kpi.app, name="kpi")
app.add_typer(cycle.app, name="cycle")
app.add_typer(people.review_app, name="review")
app.add_typer(accounts.app, name="people")
command(app, "tasks")(people.tasks)
app.add_typer(people.submit_app, name="submit")
app.add_typer(calibration.app, name="calibration")
app.add_typer(money.payouts_app, name="payouts")
app.add_typer(money.incentives_app, name="incentives")
app.add_typer(notifications.app, name="notifications")
app.add_typer(goals.app, name="goals")
app.add_typer(peers.app, name="peers")
app.add_typer(money.payroll_app, name="payroll")
command(app, "trends")(trends.trends)
command(app, "demo")(ops.demo)
command(app, "servers")(ops.servers)


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process and return its exit code (the tests call this; ``run`` exits)."""
    from typer._click.exceptions import UsageError

    try:
        cli = typer.main.get_command(app)
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
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
