"""What every activity shares: the pool, the frozen-config cache, audit rows and JSON encoding."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.cycle import CycleConfig
from domain.errors import DomainError
from domain.text import Text, tr
from workflows.common import refuse


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False, sort_keys=True)


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)


HEARTBEAT_EVERY_S = 5.0  # well inside BULK's 30 s heartbeat timeout


@contextlib.asynccontextmanager
async def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[None]:
    """Heartbeat on a timer while a step that cannot report progress runs (one transaction queueing 22,000
    messages): without heartbeats, an attempt lost with its killed worker is retried only at the start-to-close
    timeout, ten minutes later, and the cycle waits that long (tests/test_worker_crash.py)."""
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every_s)

    beats = asyncio.create_task(beat())
    try:
        yield
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats


P = ParamSpec("P")
R = TypeVar("R")


def heartbeats(step: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """An activity that runs long statements without reporting progress (the cycle's bulk steps under BULK's
    heartbeat timeout) heartbeats on a timer while it runs: at 10,000 participants such a step outlasts the
    timeout and is cancelled and repeated, and without heartbeats a killed worker's attempt waits ten minutes."""
    @functools.wraps(step)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        async with heartbeating():
            return await step(*args, **kwargs)
    return run


def new_token() -> str:
    """A random secret for a link or a session; only its hash is ever stored."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def rejected(message: Text | str, conflict: bool = False) -> ApplicationError:
    """The user asked for something impossible (or impossible now): report it, never retry it."""
    return refuse(message, conflict)


# The audit row: its columns and named values (``audit_params``). ``AUDIT_ROW`` writes one on its own;
# AUDIT_INSERT with ``SELECT AUDIT_VALUES`` makes it part of a larger statement, so a state change and
# its audit row travel in one round trip. The natural event key makes a retry write it once.
AUDIT_INSERT = "INSERT INTO audit_log (event_key, actor, action, entity_type, entity_id, before, after)"
AUDIT_VALUES = "%(a_key)s, %(a_actor)s, %(a_action)s, %(a_type)s, %(a_id)s, %(a_before)s, %(a_after)s"
AUDIT_ROW = f"{AUDIT_INSERT} VALUES ({AUDIT_VALUES}) ON CONFLICT (event_key) DO NOTHING"


def audit_params(event_key: str, actor: str, action: str, entity_type: str, entity_id: str,
                 before: Any = None, after: Any = None) -> dict[str, Any]:
    return {
        "a_key": event_key, "a_actor": actor, "a_action": action, "a_type": entity_type, "a_id": entity_id,
        "a_before": None if before is None else jsonb(before), "a_after": None if after is None else jsonb(after),
    }


async def audit(
    cur: AsyncCursor,
    event_key: str,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """One audit row per state change, written once however often the activity is retried."""
    await cur.execute(AUDIT_ROW, audit_params(event_key, actor, action, entity_type, entity_id, before, after))


class DbActivities:
    """Base for activity classes: holds the worker's pool and caches frozen cycle configurations."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._configs: dict[str, CycleConfig] = {}

    async def cycle_config(self, conn: AsyncConnection, cycle_id: str) -> CycleConfig:
        # Safe to cache: a cycle's configuration is frozen at creation and never edited.
        config = self._configs.get(cycle_id)
        if config is None:
            row = await (await conn.execute("SELECT config FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
            if row is None:
                raise rejected(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
            config = CycleConfig.model_validate(row[0])
            self._configs[cycle_id] = config
        return config


# Errors that no retry can fix: the data or the configuration must change first. Retrying them for
# ever would leave a cycle stuck with nothing to show for it (a NumericValueOutOfRange on every
# attempt); refused instead, they reach the workflow, which blocks the cycle with this message for HR.
UNFIXABLE_BY_RETRY = (psycopg.errors.DataError, psycopg.errors.CheckViolation, psycopg.errors.NotNullViolation,
                      DomainError)
STEP_NAMES = {"compute_incentives": tr("incentives cannot be computed")}


def unfixable_message(step: str, err: BaseException) -> Text:
    """What HR reads when a step is blocked; the database's own words (English) are quoted as they are."""
    what = STEP_NAMES.get(step) or tr("step %(step)s failed", step=step)
    if isinstance(err, psycopg.errors.NumericValueOutOfRange):
        detail = f"{err.diag.message_primary}. {err.diag.message_detail or ''}".strip().removesuffix(".")
        return tr("%(what)s: a computed number is too large to store (%(detail)s); "
                  "check the figures and the plan's targets, rates and factors", what=what, detail=detail)
    if isinstance(err, psycopg.Error):
        return tr("%(what)s: the database refused a value (%(detail)s); correct the data", what=what,
                  detail=str(err.diag.message_primary or err))
    problem = err.as_text() if isinstance(err, DomainError) else str(err)
    return tr("%(what)s: %(problem)s", what=what, problem=problem)


class _RefuseUnfixable(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except UNFIXABLE_BY_RETRY as err:
            raise rejected(unfixable_message(activity.info().activity_type, err)) from err


class RefuseUnfixableErrors(Interceptor):
    """Worker interceptor: every activity's unfixable errors become refusals (non-retryable, with a message)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RefuseUnfixable(next)
