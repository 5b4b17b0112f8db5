"""What every command shares: the lazy context (servers, actor), argument parsers, JSON output and exit codes.

Nothing heavy is imported here at module level: a read command must answer in well under 0.3 s, so each
command imports the services it needs inside its body.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

ROOT = Path(__file__).resolve().parent.parent

# -- exit codes (documented in the README; mapped from the error types in exit_code() only) ---------------
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug or a broken install: the details are in the error log
EXIT_USAGE = 2  # a usage error or invalid input (a changed request could succeed)
EXIT_NOT_FOUND = 3  # the cycle, employee, task or message named does not exist
EXIT_REFUSED = 4  # valid, but the state or the person's role forbids it now (conflict, wrong phase, not allowed)
EXIT_UNAVAILABLE = 5  # a server cannot be reached, or is not ready yet: retrying later may succeed
EXIT_INTERRUPTED = 130


def exit_code(err: BaseException) -> int:
    """The one mapping from a refusal to the process exit code: the error types say which kind it is
    (services.errors; a Temporal refusal's ApplicationError type). Anything else is internal (1)."""
    from domain.errors import DomainError
    from services.errors import Conflict, Forbidden, NotFound, TryLater, UserError

    if isinstance(err, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(err, Conflict | Forbidden):
        return EXIT_REFUSED
    if isinstance(err, TryLater):
        return EXIT_UNAVAILABLE
    if isinstance(err, UserError | DomainError):
        return EXIT_USAGE
    if "temporalio" in sys.modules:  # a Temporal refusal a service passed on unconverted; never imported for this
        from temporalio.exceptions import ApplicationError
        from temporalio.service import RPCError, RPCStatusCode

        from workflows.common import CONFLICT, REJECTED

        if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
            return EXIT_NOT_FOUND
        cause: BaseException | None = err
        while cause is not None:
            if isinstance(cause, ApplicationError) and cause.type in (CONFLICT, REJECTED):
                return EXIT_REFUSED if cause.type == CONFLICT else EXIT_USAGE
            cause = cause.__cause__ or getattr(cause, "cause", None)
    return EXIT_INTERNAL


def report(err: BaseException) -> int:
    """Say what went wrong on stderr, in one message and never a traceback; return the exit code."""
    if isinstance(err, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(err, BrokenPipeError):  # output piped into `head` and closed: not an error
        return EXIT_OK
    try:
        code = exit_code(err)
    except Exception:  # noqa: BLE001 - a half-finished install: treat as internal below
        code = EXIT_INTERNAL
    if code != EXIT_INTERNAL:
        from services.errors import message_of

        text = str(message_of(err))
        print(f"error: {text}" if "\n" not in text else f"error:\n{text}", file=sys.stderr)
        return code
    message = _known_failure(err)
    if message:
        print(f"error: {message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    log = error_log()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(err)) + "\n")
        where = f"; details in {log}"
    except OSError:
        where = ""
    print(f"internal error ({type(err).__name__}: {err}){where}", file=sys.stderr)
    return EXIT_INTERNAL


def error_log() -> Path:
    """The error log under the configured data directory, even when the settings themselves cannot load."""
    try:
        from services.settings import get_settings

        return get_settings().data_path / "kamreview-errors.log"
    except Exception:  # noqa: BLE001 - a broken install or settings: fall back to the environment
        return Path(os.environ.get("KAMREVIEW_DATA_DIR", "data")).expanduser().resolve() / "kamreview-errors.log"


def _known_failure(err: BaseException) -> str | None:
    """Failures of the surroundings (a server down), said plainly; None for anything else."""
    try:
        import psycopg
        from temporalio.service import RPCError, RPCStatusCode

        from services.embedded import EmbeddedServerError
        from services.temporal import timed_out
    except Exception:  # noqa: BLE001 - a half-finished install: nothing is known about the failure
        return None
    if isinstance(err, EmbeddedServerError):
        return str(err)
    if isinstance(err, psycopg.OperationalError):
        return f"cannot reach PostgreSQL: {str(err).strip().splitlines()[0]}"
    if isinstance(err, RPCError) and err.status == RPCStatusCode.UNAVAILABLE:
        return f"cannot reach Temporal at {_temporal_named()}: {err}"
    if isinstance(err, RPCError) and timed_out(err):
        return _temporal_unanswered(err)
    return None


def _temporal_named() -> str:
    from services.settings import get_settings

    settings = get_settings()
    if settings.temporal_address:
        return f"{settings.temporal_address} (KAMREVIEW_TEMPORAL_ADDRESS)"
    return f"127.0.0.1:{settings.temporal_port} (the embedded dev server)"


def _temporal_unanswered(err: BaseException) -> str:
    """What to look at when Temporal accepted the call and answered nothing in time: its workers, or (embedded) a
    server that another, deleted checkout left running on the same port, which accepts connections and then answers
    nothing."""
    from services.settings import get_settings

    said = f"Temporal at {_temporal_named()} did not answer in time ({err}): its workers may be overloaded or stopped"
    if get_settings().temporal_address:
        return said
    return (f"{said}, or the server on that port is not this installation's (one left running by another checkout): "
            f"stop it, or run `kamreview servers stop`, and try again")


# -- the context: servers and the acting identity, resolved only when a command needs them ---------------------


class Context:
    """Lazily resolves servers, so a command starts only what it needs."""

    def __init__(self) -> None:
        from services.settings import get_settings

        self.settings = get_settings()
        self._db: str | None = None
        self._client = None

    def db(self, upgrade: bool = False) -> str:
        """The database URL once the schema is known to be current.

        Only ``db upgrade`` migrates a configured database; every other command checks the revision and refuses
        when it is behind. The embedded default is started here and upgraded when needed, as before.
        """
        if self._db is None:
            if self.settings.database_url is None:
                from services.embedded import database_url

                self._db = database_url(self.settings)
            elif upgrade:
                from services.db import migrate

                migrate(self.settings.database_admin_url or self.settings.database_url)
                self._db = self.settings.database_url
            else:
                check_schema(self.settings.database_url)
                self._db = self.settings.database_url
        return self._db

    async def client(self, need_worker: bool = True):
        if self._client is None:
            from services.embedded import ensure_worker, temporal_address
            from services.temporal import connect_client

            address = temporal_address(self.settings)
            try:
                self._client = await connect_client(address, self.settings.temporal_namespace)
            except RuntimeError as err:
                from services.errors import TryLater

                raise TryLater(f"cannot reach Temporal at {address}: {err}") from None
            if need_worker:
                self.db()
                ensure_worker(self.settings)
        return self._client

    def actor(self, override: str | None = None) -> str:
        """Who is acting, for the audit log: ``--actor``, else KAMREVIEW_ACTOR, else the user's config file."""
        return override or resolve_actor(self.settings.actor)


def check_schema(url: str) -> None:
    """One query: refuse when the schema is not the newest migration (a read must not migrate)."""
    from services.db import connect, head_revision, schema_revision
    from services.errors import Conflict

    head = head_revision()
    with connect(url, autocommit=True) as conn:
        current = schema_revision(conn)
    if head is not None and current != head:
        raise Conflict(f"database schema is behind; run `kamreview db upgrade` (it is at {current or 'no revision'}, "
                       f"this version of kamreview needs {head})")


def config_file() -> Path:
    """The per-user configuration, ``$XDG_CONFIG_HOME/kamreview/config.toml`` (default ~/.config)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "kamreview" / "config.toml"


def resolve_actor(configured: str | None) -> str:
    from domain.inputs import id_problem
    from services.errors import UserError

    where = "KAMREVIEW_ACTOR"
    actor = configured or None  # KAMREVIEW_ACTOR= (empty) is unset
    if actor is None:
        path = config_file()
        if path.exists():
            import tomllib

            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
                raise UserError(f"{path}: not valid TOML ({err})") from None
            value = data.get("actor")
            if value is not None and not isinstance(value, str):
                raise UserError(f"{path}: actor must be a string, e.g. actor = \"HR1\"")
            actor, where = value, f"{path}: actor"
    if not actor:
        raise UserError(
            "this command records who did it, and no acting identity is configured: set KAMREVIEW_ACTOR to your "
            f"employee id (e.g. KAMREVIEW_ACTOR=HR1), or write actor = \"HR1\" in {config_file()}, "
            "or pass --actor ID")
    problem = id_problem(actor)
    if problem is not None:
        raise UserError(f"{where}: {problem}")
    return actor


# -- argument parsers (a ValueError becomes a usage error naming the argument, exit 2) -------------------------


def id_arg(value: str) -> str:
    """An id (cycle, employee, contact, actor): the one id grammar, checked before anything runs."""
    from domain.inputs import check_id

    return check_id(value)


def whole_arg(value: str) -> int:
    """A whole number in ASCII digits (``int()`` would also take full-width ones such as "３")."""
    from domain.inputs import parse_whole

    return parse_whole(value)


def parse_pairs(text: str, what: str) -> dict[str, int]:
    from domain.inputs import parse_whole
    from services.errors import UserError

    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"{what}: write id=level pairs separated by commas, e.g. communication=2 (got {part!r})")
        try:
            out[key.strip()] = parse_whole(value)
        except ValueError:
            raise UserError(f"{what}: {key.strip()} must be a whole number in ASCII digits (got {value.strip()!r})") from None
    return out


Cycle = Annotated[str, typer.Argument(parser=id_arg, metavar="CYCLE", show_default=False)]
Employee = Annotated[str, typer.Argument(parser=id_arg, metavar="EMPLOYEE", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout (keys: see the README)")]
Actor = Annotated[str | None, typer.Option(
    "--actor", parser=id_arg, show_default=False,
    help="act as this id instead of the configured one (KAMREVIEW_ACTOR or ~/.config/kamreview/config.toml)")]


# -- JSON output ---------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """The services' dataclasses and pydantic objects as JSON values: decimals as strings (exact), times as
    ISO 8601 with their offset, messages in English."""
    from dataclasses import fields, is_dataclass

    from domain.text import Text

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Text):  # a message: its English words (the web app translates; the CLI is English)
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)  # a Text, a Path


def emit_json(value: Any) -> None:
    import json

    print(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


# -- commands: a function (context, parameters) -> exit code, registered on a Typer group --------------------


def command(group: typer.Typer, name: str, *, hidden: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(ctx, **params)`` (sync or async) as a command; its docstring is its help.

    Typer sees the parameters after ``ctx``; every failure is turned into a message and an exit code by
    ``report`` here, so no command can print a traceback.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def run(**params: Any) -> None:
            raise typer.Exit(execute(fn, params))

        run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
        group.command(name, hidden=hidden)(run)
        return fn

    return decorate


def execute(fn: Callable[..., Any], params: dict[str, Any]) -> int:
    if params.get("json_output"):
        from services.console import quiet

        quiet()
    try:
        ctx = Context()
        result = fn(ctx, **params)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - the last line of defence: a message, an exit code
        return report(err)
