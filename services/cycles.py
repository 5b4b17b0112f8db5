"""HR's operations on cycles: create from YAML (validated and frozen), start, status, calibrate, approve."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import yaml
from pydantic import ValidationError
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.base import AUDIT_ROW, audit_params, dumps, jsonb
from activities.cycle import approval_event_key, approval_revision
from activities.reopened import finalize_waits, outstanding_reopens, settled_reopens
from domain.calibration import nine_box
from domain.cycle import CycleConfig
from domain.errors import DomainError
from domain.phases import PhaseName
from domain.text import Text, tr
from domain.validation import error_text, joined
from services.db import Database, as_database
from services.errors import Conflict, NotFound, Rejected, TryLater, UserError, refusal
from services.payout_approval import actor_roles, check_may_approve
from services.temporal import query_status
from workflows.common import REVIEWS_STILL_OPEN
from workflows.correction import IncentiveCorrectionWorkflow
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    ActorRequest,
    CalibrationSummary,
    CycleInput,
    CycleStatus,
    RatingAdjustmentRequest,
    cycle_workflow_id,
    review_id_for,
)
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from workflows.search_attributes import cycle_start_attributes

_log = logging.getLogger(__name__)


class ConfigError(UserError):
    """The cycle configuration is invalid; every problem is listed with the path of its field."""


def format_validation_error(err: ValidationError, source: Text | str, plan: bool = False) -> Text:
    """Every problem of a configuration (or an incentive plan file), one a line, each with its field path."""
    lines: list[Text] = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        msg = error_text(e)
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, DomainError) and cause.path:
            # The domain names the field relative to the model it checks; join without repeating.
            sub = cause.path.split(".")
            overlap = next((n for n in range(min(len(loc), len(sub)), 0, -1) if loc[-n:] == sub[:n]), 0)
            loc = loc + sub[overlap:]
        where = ".".join(loc) if loc else tr("(top level)")
        lines.append(tr("  %(field)s: %(problem)s", field=where, problem=msg))
    if plan:
        return tr("%(source)s: the plan file is invalid (%(count)s problem(s)):\n%(problems)s", source=source,
                  count=err.error_count(), problems=lines)
    return tr("%(source)s: the cycle configuration is invalid (%(count)s problem(s)):\n%(problems)s", source=source,
              count=err.error_count(), problems=lines)


def read_yaml_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(tr("%(file)s: no such file", file=str(path))) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(tr("%(file)s: cannot read it (%(problem)s)", file=str(path), problem=str(err))) from None


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load``, except that an impossible date (2026-02-30, 2026-13-01) stays text.

    PyYAML's timestamp resolver matches such a scalar and then raises ValueError from ``date()``
    inside ``safe_load``, with no field or line; as text it reaches the model, which names the field.
    """


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def parse_yaml_mapping(text: str, source: Text | str) -> dict:
    """YAML text to a mapping; syntax errors name the line and column."""
    try:
        data = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = str(getattr(err, "problem", err))  # PyYAML's words, quoted as they are
        if mark:
            raise ConfigError(tr("%(file)s: not valid YAML at line %(line)s, column %(column)s: %(problem)s",
                                 file=source, line=mark.line + 1, column=mark.column + 1, problem=problem)) from None
        raise ConfigError(tr("%(file)s: not valid YAML: %(problem)s", file=source, problem=problem)) from None
    except ValueError as err:  # an explicit tag that does not fit its value, e.g. !!int ten
        raise ConfigError(tr("%(file)s: not valid YAML: %(problem)s", file=source, problem=str(err))) from None
    except RecursionError:
        raise ConfigError(tr("%(file)s: not valid YAML: nested too deeply", file=source)) from None
    if not isinstance(data, dict):
        raise ConfigError(tr("%(file)s: expected a mapping of settings at the top level", file=source))
    return data


def load_cycle_config(path: Path) -> CycleConfig:
    return parse_cycle_config(read_yaml_file(path), str(path))


def parse_cycle_config(text: str, source: Text | str = "configuration") -> CycleConfig:
    data = parse_yaml_mapping(text, source)
    try:
        return CycleConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def config_digest(config: CycleConfig) -> str:
    # Settings added later are left out while unset, so a configuration frozen before them keeps its digest.
    unset: dict[str, Any] = {"notifications": True} if config.notifications is None else {}
    if config.plan_year is None:
        unset["plan_year"] = True
    if config.peer_feedback is None:
        unset["peer_feedback"] = True
    if config.added_phases is None:
        unset["added_phases"] = True
    if later := config.participants.unset_filters():
        unset["participants"] = later
    return hashlib.sha256(dumps(config.model_dump(mode="json", exclude=unset)).encode()).hexdigest()


@dataclass
class CreatedCycle:
    cycle_id: str
    participants: int
    created: bool
    excluded: list[str] = field(default_factory=list)


async def create_cycle(db: Database | str, config: CycleConfig, actor: str = "hr") -> CreatedCycle:
    """Freeze the configuration and the participant list; creating the same cycle again is a no-op."""
    digest = config_digest(config)
    async with as_database(db).connection() as conn, conn.transaction():
        row = await (await conn.execute(
            "SELECT config_sha256, participant_count FROM review_cycle WHERE id = %s", (config.id,)
        )).fetchone()
        if row is not None:
            if row[0] != digest:
                raise UserError(tr(
                    "cycle %(cycle)s already exists with a different configuration; a cycle's configuration "
                    "is frozen at creation, so create a new cycle id for the changed one", cycle=config.id))
            return CreatedCycle(config.id, row[1], created=False)
        participants, excluded = await _resolve_participants(conn, config)
        if not participants:
            raise UserError(tr("cycle %(cycle)s: the participant selection matches nobody", cycle=config.id))
        await _check_incentive_coverage(conn, config, [p for p, _ in participants])
        await conn.execute(
            """INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone, config,
                                         config_sha256, participant_count, status, workflow_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'created', %s)""",
            (config.id, config.name, config.cadence, config.period.label, config.period.start, config.period.end,
             config.timezone, jsonb(config.model_dump(mode="json")), digest, len(participants),
             cycle_workflow_id(config.id)),
        )
        async with conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO review (id, cycle_id, employee_id, reviewer_id, seq, status)
                   VALUES (%s, %s, %s, %s, %s, 'pending')""",
                [(review_id_for(config.id, emp), config.id, emp, mgr, seq)
                 for seq, (emp, mgr) in enumerate(participants)],
            )
        await conn.execute(AUDIT_ROW, audit_params(
            f"cycle.created:{config.id}", actor, "cycle.created", "review_cycle", config.id,
            after={"config_sha256": digest, "participants": len(participants), "excluded": excluded}))
    return CreatedCycle(config.id, len(participants), created=True, excluded=excluded)


@dataclass
class ParticipantPreview:
    """Who a configuration would review, before the cycle exists: how many, the first ids, who is left out and why."""

    cycle_id: str
    participants: int
    employees: list[str]
    excluded: list[str]


async def preview_participants(db: Database | str, config: CycleConfig, shown: int = 50) -> ParticipantPreview:
    """The checks ``create_cycle`` makes of the participants (filters, managers, target incentives); writes nothing."""
    async with as_database(db).connection() as conn:
        participants, excluded = await _resolve_participants(conn, config)
        if not participants:
            raise UserError(tr("cycle %(cycle)s: the participant selection matches nobody", cycle=config.id))
        await _check_incentive_coverage(conn, config, [p for p, _ in participants])
    return ParticipantPreview(config.id, len(participants), [p for p, _ in participants[:shown]], excluded)


# Filters combine with AND across kinds, OR within one (domain.cycle.Participants); an empty kind does not filter.
# ``under`` walks the reporting lines down from each named manager (a loop is impossible: the import refuses one).
_PARTICIPANTS = """
    WITH RECURSIVE below AS (
        SELECT id FROM employee WHERE manager_id = ANY(%(under)s)
        UNION
        SELECT e.id FROM employee e JOIN below b ON e.manager_id = b.id
    )
    SELECT e.id, e.role, e.manager_id, e.hire_date, e.termination_date FROM employee e
    WHERE e.id = ANY(%(employees)s)
       OR (%(filtered)s AND e.role = 'kam'
           AND (cardinality(%(managers)s::text[]) = 0 OR e.manager_id = ANY(%(managers)s))
           AND (cardinality(%(under)s::text[]) = 0 OR e.id IN (SELECT id FROM below))
           AND (cardinality(%(grades)s::text[]) = 0 OR lower(e.grade) = ANY(%(grades)s))
           AND (cardinality(%(regions)s::text[]) = 0 OR lower(e.region) = ANY(%(regions)s))
           AND (cardinality(%(cost_centres)s::text[]) = 0 OR lower(e.cost_centre) = ANY(%(cost_centres)s)))
    ORDER BY e.id"""


async def _check_filter_values(conn: psycopg.AsyncConnection, sel: Any) -> None:
    """A filter value nobody has is a typo far more often than an intention: say so instead of matching nobody."""
    known = {r[0] for r in await (await conn.execute(
        "SELECT id FROM employee WHERE id = ANY(%s)", (sel.managers + sel.under,))).fetchall()}
    if missing := sorted(set(sel.managers) - known):
        raise UserError(tr("participants.managers: unknown manager(s) %(ids)s", ids=", ".join(missing)))
    if missing := sorted(set(sel.under) - known):
        raise UserError(tr("participants.under: unknown manager(s) %(ids)s", ids=", ".join(missing)))
    for kind, column in (("grades", "grade"), ("regions", "region"), ("cost_centres", "cost_centre")):
        wanted = getattr(sel, kind)
        if not wanted:
            continue
        have = {r[0] for r in await (await conn.execute(
            f"SELECT DISTINCT lower({column}) FROM employee WHERE lower({column}) = ANY(%s)",
            ([w.lower() for w in wanted],))).fetchall()}
        if missing := [w for w in wanted if w.lower() not in have]:
            raise UserError(tr("participants.%(kind)s: no employee has %(column)s %(values)s", kind=kind,
                               column=column, values=", ".join(f"'{m}'" for m in missing)))


async def _resolve_participants(conn: psycopg.AsyncConnection, config: CycleConfig) -> tuple[list[tuple[str, str]], list[str]]:
    sel = config.participants
    await _check_filter_values(conn, sel)
    rows = await (await conn.execute(_PARTICIPANTS, {
        "employees": sel.employees, "filtered": sel.filtered, "managers": sel.managers, "under": sel.under,
        "grades": [g.lower() for g in sel.grades], "regions": [r.lower() for r in sel.regions],
        "cost_centres": [c.lower() for c in sel.cost_centres]})).fetchall()
    found = {r[0] for r in rows}
    unknown = sorted(set(sel.employees) - found)
    if unknown:
        raise UserError(tr("participants.employees: unknown employee(s) %(ids)s", ids=", ".join(unknown)))
    participants, excluded, no_manager = [], [], []
    for emp, _role, manager, hired, left in rows:
        if (hired and hired > config.period.end) or (left and left < config.period.start):
            excluded.append(f"{emp} (not employed during {config.period.label})")
            continue
        if not manager:
            no_manager.append(emp)
            continue
        participants.append((emp, manager))
    if no_manager:
        raise UserError(tr("participants without a manager to score them: %(ids)s; "
                           "set manager_id in the organisation import first", ids=", ".join(no_manager)))
    return participants, excluded


async def _check_incentive_coverage(conn: psycopg.AsyncConnection, config: CycleConfig, employees: list[str]) -> None:
    """Every participant needs a target incentive; find out now rather than at payout time."""
    plan = config.incentive_plan
    target = plan.target_incentive
    if target.is_empty():  # a plan of commission only (per period or deal by deal) has no target to cover
        return
    rows = await (await conn.execute("SELECT id, grade FROM employee WHERE id = ANY(%s)", (employees,))).fetchall()
    uncovered = [(emp, grade) for emp, grade in rows
                 if emp not in target.by_employee and (grade or "") not in target.by_grade]
    if uncovered:
        who = [tr("%(employee)s (grade %(grade)s)", employee=emp, grade=grade) if grade
               else tr("%(employee)s (grade none)", employee=emp) for emp, grade in uncovered[:20]]
        raise UserError(tr("incentive_plan.target_incentive: no target incentive for %(who)s", who=joined(who)))


async def search_attributes_registered(client: Client) -> bool:
    """Whether the namespace knows every search attribute the workflows carry (one call, once per cycle start).

    A server without them (a cluster set up before issue 11) would refuse the start; the cycle then runs
    without them, and the operator is told how to add them.
    """
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
    except RPCError as err:
        _log.warning("could not list the namespace's search attributes (%s); starting without them", err.message)
        return False
    known = {**response.custom_attributes, **response.system_attributes}
    missing = [key.name for key in SEARCH_ATTRIBUTES if key.name not in known]
    if missing:
        _log.warning("search attributes %s are not registered in namespace %s; the cycle's workflows will not carry "
                     "them (add them: temporal operator search-attribute create --name NAME --type Keyword)",
                     ", ".join(missing), client.namespace)
    return not missing


async def start_cycle(client: Client, db: Database | str, cycle_id: str, task_queue: str) -> str:
    async with as_database(db).connection() as conn:
        row = await (await conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist; create it first with `kamreview cycle create`", cycle=cycle_id))
    if row[0] == "cancelled":
        raise UserError(tr("cycle %(cycle)s was cancelled; create a new cycle instead", cycle=cycle_id))
    workflow_id = cycle_workflow_id(cycle_id)
    registered = await search_attributes_registered(client)
    try:
        await client.start_workflow(
            CycleWorkflow.run, CycleInput(cycle_id), id=workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            # The cycle, and through it its reviews, carry them only where the server knows them.
            search_attributes=cycle_start_attributes(cycle_id, "starting") if registered else None,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            raise UserError(_already_started(cycle_id, workflow_id)) from None
        raise
    except Exception as err:  # WorkflowAlreadyStartedError
        if type(err).__name__ == "WorkflowAlreadyStartedError":
            raise UserError(_already_started(cycle_id, workflow_id)) from None
        raise
    return workflow_id


def _already_started(cycle_id: str, workflow_id: str) -> Text:
    return tr("cycle %(cycle)s was already started (workflow %(workflow)s)", cycle=cycle_id, workflow=workflow_id)


async def cancel_cycle(client: Client, db: Database | str, cycle_id: str, actor: str, reason: str) -> str:
    """Cancel a cycle before its payouts are approved: open reviews are cancelled, nothing is paid.

    What was submitted stays recorded. Returns the cycle's status afterwards ('cancelled').
    """
    reason = (reason or "").strip()
    if not reason:
        raise Rejected(tr("cancelling a cycle needs a reason"))
    if len(reason) > 2000:
        raise Rejected(tr("the reason is longer than 2000 characters"))
    async with as_database(db).connection() as conn:
        row = await (await conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
        if row is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        status = row[0]
        if (blocked := _cancel_blocked(cycle_id, status)) is not None:
            raise Conflict(blocked)
        await conn.execute(AUDIT_ROW, audit_params(
            f"cycle.cancel_requested:{cycle_id}", actor, "cycle.cancel_requested", "review_cycle", cycle_id,
            {"status": status}, {"reason": reason}))
        if status == "created":  # never started: nothing runs, so the row is all there is
            await conn.execute("UPDATE review_cycle SET status = 'cancelled' WHERE id = %s AND status = 'created'",
                               (cycle_id,))
            return "cancelled"
    handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
    try:
        await handle.cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(tr("cycle %(cycle)s is not running", cycle=cycle_id)) from None
        raise
    try:
        await asyncio.wait_for(handle.result(), timeout=60)
    except WorkflowFailureError:
        pass  # cancelled: the expected ending
    except TimeoutError:
        raise TryLater(tr("cycle %(cycle)s: cancellation requested; it has not finished after 60 s "
                          "(is a worker running?)", cycle=cycle_id)) from None
    async with as_database(db).connection() as conn:
        return (await (await conn.execute("SELECT status FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone())[0]


def _cancel_blocked(cycle_id: str, status: str) -> Text | None:
    if status == "cancelled":
        return tr("cycle %(cycle)s is already cancelled", cycle=cycle_id)
    if status == "locked":
        return tr("cycle %(cycle)s is locked: its payouts were approved; corrections go through a rating "
                  "correction, not a cancellation", cycle=cycle_id)
    return None


@dataclass
class CancelSummary:
    """What cancelling a cycle will do, for the confirmation page."""

    cycle_id: str
    cycle_name: str
    status: str
    timezone: str
    participants: int
    open_reviews: int  # these are cancelled
    open_tasks: int  # nobody can submit these any more
    submitted: int  # kept as recorded
    blocked: Text | None


async def cancel_summary(db: Database | str, cycle_id: str) -> CancelSummary:
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT c.name, c.status, c.timezone, c.participant_count,
                      (SELECT count(*) FROM review r WHERE r.cycle_id = c.id AND r.status IN ('pending', 'open')),
                      (SELECT count(*) FROM task t WHERE t.cycle_id = c.id AND t.status = 'open'),
                      (SELECT count(*) FROM task t WHERE t.cycle_id = c.id AND t.status = 'done')
               FROM review_cycle c WHERE c.id = %s""", (cycle_id,))).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    name, status, zone, participants, reviews, open_tasks, done = row
    return CancelSummary(cycle_id, name, status, zone, participants, reviews, open_tasks, done,
                         _cancel_blocked(cycle_id, status))


def action_key(*parts: object) -> str:
    """A short digest of what an HR action says: the same request, the same key (and Update id)."""
    return hashlib.sha256(dumps(list(parts)).encode()).hexdigest()[:16]


async def cycle_update(client: Client, cycle_id: str, update: Any, arg: Any, update_id: str) -> Any:
    """Run an HR Update on the cycle workflow and turn failures into messages a person can act on.

    ``update_id`` is the action's idempotency key: the same request sent twice (a double click, a
    retry after a lost response) is applied once and both get the first answer.
    """
    handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
    try:
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(_not_running(cycle_id)) from None
        raise
    except FailureError as err:
        raise refusal(err) from None


def _not_running(cycle_id: str) -> Text:
    return tr("cycle %(cycle)s is not running (not started, or already locked)", cycle=cycle_id)


async def _audit_row(db: Database | str, event_key: str) -> tuple[str, datetime, dict] | None:
    """(actor, when, after) of one audit row: the record of an action that was already applied."""
    async with as_database(db).connection() as conn:
        return await (await conn.execute(
            "SELECT actor, occurred_at, after FROM audit_log WHERE event_key = %s", (event_key,))).fetchone()


async def _cycle_zone(db: Database | str, cycle_id: str) -> str:
    async with as_database(db).connection() as conn:
        row = await (await conn.execute("SELECT timezone FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    return row[0] if row else "UTC"


async def _first_answer(db: Database | str, cycle_id: str, event_key: str, actor: str,
                        done: Callable[[datetime, str], Text]) -> dict | None:
    """An HR action already applied: its audit row's ``after`` when ``actor`` did it (a retry gets the first
    answer); a Conflict saying who did it and when for anyone else; None when it was never applied."""
    row = await _audit_row(db, event_key)
    if row is None:
        return None
    by, at, after = row
    if by != actor:
        raise Conflict(done(at.astimezone(ZoneInfo(await _cycle_zone(db, cycle_id))), by))
    return after


async def adjust_rating(client: Client, db: Database | str, cycle_id: str, employee_id: str, level: int, reason: str,
                        actor: str, request_id: str | None = None) -> int:
    """Set a participant's level during calibration; a repeat of the same adjustment is applied once."""
    review_id = review_id_for(cycle_id, employee_id)
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT c.final_level, (SELECT count(*) FROM rating_adjustment WHERE review_id = c.review_id),
                      (SELECT json_build_array(a.to_level, a.reason, a.actor) FROM rating_adjustment a
                       WHERE a.review_id = c.review_id ORDER BY a.adjusted_at DESC, a.id DESC LIMIT 1),
                      (SELECT count(*) FROM rating_adjustment a JOIN calibrated_rating r ON r.review_id = a.review_id
                       WHERE r.cycle_id = %s)
               FROM calibrated_rating c WHERE c.review_id = %s""",
            (cycle_id, review_id),
        )).fetchone()
    if row is not None:
        current, earlier, last, in_cycle = row
        if current == level and last == [level, (reason or "").strip(), actor]:
            return in_cycle  # this very adjustment was applied already (a retry after a lost answer)
        key = request_id or f"{employee_id}:{earlier}:{action_key(level, (reason or '').strip(), actor)}"
    else:
        key = request_id or f"{employee_id}:{action_key(level, (reason or '').strip(), actor)}"
    return await cycle_update(
        client, cycle_id, CycleWorkflow.adjust_rating,
        RatingAdjustmentRequest(actor_id=actor, employee_id=employee_id, to_level=level, reason=reason),
        f"adjust:{key}",
    )


async def finalize_calibration(client: Client, db: Database | str, cycle_id: str, actor: str) -> CalibrationSummary:
    """Finalize once; a retry by the same person gets the first answer, anyone else is told who did it.

    Refused while a submission HR reopened after its review closed is outstanding (docs/reopen-and-sign-off.md):
    here, before the Update, and by the activity under the cycle's lock. The Update id counts the reopens settled so
    far, so a finalize refused in a race with a reopen is a new request once that reopen has settled.
    """
    async with as_database(db).connection() as conn, conn.cursor() as cur:
        if reopened := await outstanding_reopens(cur, cycle_id):
            raise Conflict(finalize_waits(reopened))
        settled = await settled_reopens(cur, cycle_id)
    try:
        return await cycle_update(client, cycle_id, CycleWorkflow.finalize_calibration, ActorRequest(actor),
                                  f"finalize:{cycle_id}:{actor}" + (f":r{settled}" if settled else ""))
    except (Rejected, Conflict, NotFound):
        after = await _first_answer(db, cycle_id, f"calibration.finalized:{cycle_id}", actor,
                                    lambda at, by: tr("calibration of cycle %(cycle)s was already finalized on %(at)s "
                                                      "by %(who)s", cycle=cycle_id, at=at, who=by))
        if after is None:
            raise
    async with as_database(db).connection() as conn:
        (ratings,) = await (await conn.execute(
            "SELECT count(*) FROM calibrated_rating WHERE cycle_id = %s", (cycle_id,))).fetchone()
    return CalibrationSummary(ratings=ratings, within_guideline=bool(after.get("within_guideline")),
                              violations=list(after.get("violations") or []))


async def approve_payouts(client: Client, db: Database | str, cycle_id: str, actor: str,
                          roles: Collection[str] | None = None, hr_may_approve: bool | None = None) -> int:
    """Approve the cycle's payouts, or, after lock, the pending correction's delta lines.

    Only payroll approves (HR too where ``KAMREVIEW_HR_MAY_APPROVE_PAYOUTS`` allows it): ``roles`` are the
    acting user's (the web app passes the session's); without them the actor's own are looked up (the CLI's
    ``--actor``: a sign-in's roles, else the employee's role from the org import).
    Approved once whatever happens to the request: a retry by the same person gets the first answer
    (the number of lines locked), anyone else is told who approved and when.
    """
    if roles is None:
        async with as_database(db).connection() as conn:
            roles = await actor_roles(conn, actor)
    check_may_approve(actor, roles, hr_may_approve)
    pending = await _pending_correction(db, cycle_id)
    if pending is not None:
        workflow_id, revision = pending
        handle = client.get_workflow_handle(workflow_id)
        try:
            return await handle.execute_update(IncentiveCorrectionWorkflow.approve_payouts, ActorRequest(actor),
                                               id=f"approve:{workflow_id}:{actor}")
        except WorkflowUpdateFailedError as err:
            refused: UserError = refusal(err)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            refused = NotFound(tr("correction %(workflow)s is not running", workflow=workflow_id))
    else:
        async with as_database(db).connection() as conn:
            revision = await approval_revision(conn, cycle_id)
        try:
            return await cycle_update(client, cycle_id, CycleWorkflow.approve_payouts, ActorRequest(actor),
                                      f"approve:{cycle_id}:{actor}")
        except (Rejected, Conflict, NotFound) as err:
            refused = err
    after = await _first_answer(db, cycle_id, approval_event_key(cycle_id, revision), actor,
                                lambda at, by: tr("the payouts of cycle %(cycle)s were already approved on %(at)s "
                                                  "by %(who)s", cycle=cycle_id, at=at, who=by))
    if after is None:
        raise refused
    return int(after.get("total") or sum((after.get("locked_lines") or {}).values()))


async def retry_incentives(client: Client, cycle_id: str, actor: str) -> str:
    """After HR fixed what blocked the incentives: compute them again (once per block)."""
    try:
        status: CycleStatus = await query_status(client.get_workflow_handle(cycle_workflow_id(cycle_id)),
                                                 CycleWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(_not_running(cycle_id)) from None
        raise
    return await cycle_update(client, cycle_id, CycleWorkflow.retry_incentives, ActorRequest(actor),
                              f"retry:{cycle_id}:{status.blocks}")


def _correction_id(cycle_id: str, revision: int) -> str:
    return f"correction:{cycle_id}:r{revision}"


async def _pending_correction(db: Database | str, cycle_id: str) -> tuple[str, int] | None:
    """The correction workflow (and its revision) whose delta lines await approval, if any."""
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT c.status, max(p.revision) FILTER (WHERE p.status = 'computed')
               FROM review_cycle c LEFT JOIN payout_line p ON p.cycle_id = c.id WHERE c.id = %s GROUP BY c.status""",
            (cycle_id,),
        )).fetchone()
    if row is None or row[0] != "locked" or row[1] is None:
        return None
    return _correction_id(cycle_id, row[1]), row[1]


@dataclass
class CorrectionOutcome:
    delta_lines: int
    workflow_id: str


async def recompute_incentives(client: Client, db: Database | str, cycle_id: str, task_queue: str) -> CorrectionOutcome:
    """After lock: recompute from today's inputs; differences become delta lines awaiting approval."""
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT c.status, coalesce(max(p.revision), 0) FROM review_cycle c
               LEFT JOIN payout_line p ON p.cycle_id = c.id WHERE c.id = %s GROUP BY c.status""", (cycle_id,)
        )).fetchone()
    if row is None:
        raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
    if row[0] != "locked":
        raise UserError(tr("cycle %(cycle)s is not locked yet (status %(status)s); corrections apply to locked cycles",
                           cycle=cycle_id, status=row[0]))
    if (pending := await _pending_correction(db, cycle_id)) is not None:
        raise UserError(tr("a correction of cycle %(cycle)s already awaits approval (%(workflow)s); approve it first",
                           cycle=cycle_id, workflow=pending[0]))
    workflow_id = _correction_id(cycle_id, row[1] + 1)
    handle = await client.start_workflow(
        IncentiveCorrectionWorkflow.run, cycle_id, id=workflow_id, task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    for _ in range(1200):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            try:
                await handle.result()
            except WorkflowFailureError as err:
                raise refusal(err) from None
            break
        # Not answered (a loaded worker): asked again, for a minute at most.
        if await query_status(handle, IncentiveCorrectionWorkflow.status, patience_s=60) != "computing":
            break
        await asyncio.sleep(0.1)
    async with as_database(db).connection() as conn:
        (new,) = await (await conn.execute(
            "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'computed'", (cycle_id,)
        )).fetchone()
    return CorrectionOutcome(new, workflow_id)


@dataclass
class CycleReport:
    cycle_id: str
    name: str
    status: str
    period: str
    participants: int
    workflow: CycleStatus | None
    tasks: dict[str, dict[str, int]]
    late: list[tuple[str, str, str, str, datetime]]  # task kind, assignee, subject, task id, due
    blockers: list[Blocker]
    reviews: dict[str, int]

    @property
    def blocking(self) -> list[str]:
        return [str(b.message) for b in self.blockers]


@dataclass
class Blocker:
    """What keeps a cycle from its next phase, and which action clears it (the shells name the command or button)."""

    kind: str  # open_tasks | unrated | finalize | approve | not_started | incentives_blocked | step_failing
    message: Text | str


async def cycle_report(client: Client | None, db: Database | str, cycle_id: str) -> CycleReport:
    """Live status: the workflow's phase (source of truth) with counts and lists from PostgreSQL."""
    async with as_database(db).connection() as conn:
        row = await (await conn.execute(
            "SELECT name, status, period_label, participant_count FROM review_cycle WHERE id = %s", (cycle_id,)
        )).fetchone()
        if row is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        name, status, period, participants = row
        tasks: dict[str, dict[str, int]] = {}
        for kind, st, n in await (await conn.execute(
            "SELECT kind, status, count(*) FROM task WHERE cycle_id = %s GROUP BY 1, 2 ORDER BY 1, 2", (cycle_id,)
        )).fetchall():
            tasks.setdefault(kind, {})[st] = n
        late = [tuple(r) for r in await (await conn.execute(
            """SELECT kind, assignee_id, subject_employee_id, id, due_at FROM task
               WHERE cycle_id = %s AND status = 'open' AND due_at < %s
                 AND kind <> 'peer_feedback' -- a late peer is never named (docs/peer-feedback.md)
               ORDER BY due_at, id LIMIT 50""",
            (cycle_id, datetime.now(UTC)),
        )).fetchall()]
        reviews = dict(await (await conn.execute(
            "SELECT status, count(*) FROM review WHERE cycle_id = %s GROUP BY 1", (cycle_id,)
        )).fetchall())
        unrated = [r[0] for r in await (await conn.execute(
            """SELECT employee_id FROM calibrated_rating WHERE cycle_id = %s AND final_level IS NULL
               ORDER BY employee_id LIMIT 20""", (cycle_id,))).fetchall()]
    wf: CycleStatus | None = None
    failing: list[str] = []
    if client is not None and status not in ("created",):
        handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
        try:
            wf = await query_status(handle, CycleWorkflow.status)
            failing = await _failing_activities(handle)
        except (RPCError, TryLater):  # the page shows what PostgreSQL knows
            wf = None
    phase = wf.phase if wf else status
    blockers: list[Blocker] = []
    if wf is not None and wf.blocked_reason:
        blockers.append(Blocker("incentives_blocked", tr("%(reason)s; fix it, then compute the incentives again",
                                                         reason=wf.blocked_reason)))
    blockers += [Blocker("step_failing", message) for message in failing]
    if phase in ("starting", "reviews", "running"):
        open_tasks = {k: v.get("open", 0) for k, v in tasks.items() if v.get("open")}
        if open_tasks:
            blockers.append(Blocker("open_tasks", tr("open tasks: %(tasks)s", tasks=_Listing(tuple(
                (PhaseName(k), n) for k, n in sorted(open_tasks.items()))))))
    elif phase == "calibration":
        if unrated:
            blockers.append(Blocker("unrated", tr("participants without a rating (HR must adjust): %(who)s",
                                                  who=", ".join(unrated))))
        blockers.append(Blocker("finalize", tr("HR must finalize calibration")))
    elif phase == "awaiting_approval":
        blockers.append(Blocker("approve", tr("payouts await approval")))
    elif status == "created":
        blockers.append(Blocker("not_started", tr("the cycle is not started")))
    return CycleReport(cycle_id, name, status, period, participants, wf, tasks, late, blockers, reviews)


@dataclass(frozen=True)
class _Listing:
    """(phase, count) pairs as a message parameter: "self-review 3, manager scoring 1" / "自评 3，经理评分 1"."""

    items: tuple[tuple[PhaseName, int], ...]

    def localized(self, locale: str) -> str:
        sep = "，" if locale == "zh-CN" else ", "
        return sep.join(f"{p.localized(locale)} {n}" for p, n in self.items)


async def _failing_activities(handle: Any) -> list[str]:
    """Steps of the cycle that fail and are being retried (PostgreSQL down, a bug): HR sees it, not an empty list."""
    desc = await handle.describe()
    out = []
    for act in desc.raw_description.pending_activities:
        waiting = act.last_failure.application_failure_info.type == REVIEWS_STILL_OPEN  # a polling round, not a failure
        if act.attempt > 1 and act.last_failure.message and not waiting:
            out.append(f"step {act.activity_type.name} is failing and being retried (attempt {act.attempt}): "
                       f"{act.last_failure.message[:300]}")
    return out


async def correct_rating_after_lock(db: Database | str, cycle_id: str, employee_id: str, level: int, reason: str,
                              actor: str) -> int | None:
    """After lock, a reopened review can change a final rating; `payouts recompute` then pays the delta.

    The locked payout lines are untouched; the change is an adjustment row and an audit entry.
    """
    if not reason or not reason.strip():
        raise UserError(tr("a rating correction needs a reason"))
    async with as_database(db).connection() as conn, conn.transaction():
        cycle = await (await conn.execute("SELECT status, config FROM review_cycle WHERE id = %s FOR UPDATE", (cycle_id,))).fetchone()
        if cycle is None:
            raise NotFound(tr("cycle %(cycle)s does not exist", cycle=cycle_id))
        if cycle[0] != "locked":
            raise UserError(tr("cycle %(cycle)s is not locked (status %(status)s); "
                               "during calibration use `calibration adjust`", cycle=cycle_id, status=cycle[0]))
        levels = [lv["level"] for lv in cycle[1]["calibration"]["levels"]]
        if level not in levels:
            raise UserError(tr("rating level %(level)s does not exist; levels are %(levels)s", level=str(level),
                               levels=", ".join(map(str, sorted(levels)))))
        review_id = review_id_for(cycle_id, employee_id)
        row = await (await conn.execute("SELECT final_level FROM calibrated_rating WHERE review_id = %s FOR UPDATE",
                           (review_id,))).fetchone()
        if row is None:
            raise NotFound(tr("%(employee)s is not a participant of cycle %(cycle)s", employee=employee_id, cycle=cycle_id))
        before = row[0]
        if before == level:
            return before
        # Named by what it says and what it changes: a retried correction is recorded once.
        adjustment_id = f"correction:{review_id}:{action_key(before, level, reason.strip(), actor)}"
        await conn.execute(
            """INSERT INTO rating_adjustment (id, review_id, from_level, to_level, reason, actor, adjusted_at)
               VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO NOTHING""",
            (adjustment_id, review_id, before, level, reason.strip(), actor),
        )
        (potential,) = await (await conn.execute("SELECT potential FROM calibrated_rating WHERE review_id = %s",
                                                 (review_id,))).fetchone()
        box = nine_box(level, potential, CycleConfig.model_validate(cycle[1]).calibration)
        await conn.execute(
            "UPDATE calibrated_rating SET final_level = %s, nine_box = %s, updated_at = now() WHERE review_id = %s",
            (level, box, review_id))
        await conn.execute(AUDIT_ROW, audit_params(
            f"rating.corrected:{adjustment_id}", actor, "rating.corrected_after_lock", "calibrated_rating", review_id,
            {"final_level": before}, {"final_level": level, "reason": reason.strip()}))
    return before
