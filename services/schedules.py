"""Recurring cycles: a Temporal Schedule per cycle template, visible (and pausable) in the Temporal Web UI.

HR writes one template (a cycle configuration whose ``id`` and ``name`` may say ``{period}``) and a cadence
and first period start. The schedule fires at midnight of each period's first day in the template's time
zone and starts ``ScheduledCycleWorkflow``, whose one activity (below) creates the cycle of that period with
the population and org as of that day, and starts it.

Exactly once per period: the cycle's id comes from the period the run was scheduled for, and creating and
starting are idempotent; the schedule catches up a run missed while the server was down (within
``CATCHUP``) once, and a second run for the same period (a catch-up and a "run now", a retry) finds the cycle
there and does nothing.

The activity is a thin shell over the service layer (like the CLI and the web app): cycle creation stays in
one place, ``services.cycles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.base import AUDIT_ROW, audit_params
from domain.cycle import CADENCE_MONTHS, config_for_period, period_label, scheduled_period
from domain.errors import DomainError
from domain.inputs import id_problem
from domain.text import tr
from services.cycles import ConfigError, create_cycle, format_validation_error, parse_yaml_mapping, start_cycle
from services.db import Database, as_database
from services.errors import Conflict, NotFound, Rejected, UserError, message_of
from workflows.common import refuse
from workflows.payloads import OpenScheduledCycle, ScheduledCycleInput, ScheduledCycleResult, cycle_workflow_id
from workflows.schedule import OPEN_SCHEDULED_CYCLE, ScheduledCycleWorkflow

PREFIX = "cycles-"  # schedule ids: cycles-<name>
CATCHUP = timedelta(days=30)  # a run missed for longer is not made up (HR runs it by hand: `cycle schedule run`)
RUN_AT = time(0, 0)  # local midnight of the period's first day


@dataclass
class CycleSchedule:
    name: str
    cadence: str
    first: date
    timezone: str
    paused: bool
    note: str
    next_runs: list[datetime] = field(default_factory=list)
    recent_runs: list[datetime] = field(default_factory=list)
    next_cycle: str = ""


def schedule_id(name: str) -> str:
    return PREFIX + name


def _template(text: str, source: str) -> dict[str, Any]:
    return parse_yaml_mapping(text, source)


def _validated(template: dict[str, Any], cadence: str, start: date, source: str) -> Any:
    try:
        return config_for_period(template, cadence, start)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    except DomainError as err:
        raise ConfigError(message_of(err)) from None


def _spec(cadence: str, first: date, tz: str) -> ScheduleSpec:
    """Midnight of every period's first day: the months are the first's month and every ``cadence`` after it."""
    step = CADENCE_MONTHS[cadence]
    months = sorted({(first.month - 1 + k * step) % 12 + 1 for k in range(12 // step)})
    return ScheduleSpec(
        calendars=[ScheduleCalendarSpec(
            month=[ScheduleRange(m) for m in months], day_of_month=[ScheduleRange(first.day)],
            hour=[ScheduleRange(RUN_AT.hour)], minute=[ScheduleRange(RUN_AT.minute)], second=[ScheduleRange(0)],
            comment=f"{cadence} from {first.isoformat()}")],
        start_at=datetime.combine(first, RUN_AT, ZoneInfo(tz)) - timedelta(seconds=1),
        time_zone_name=tz,
    )


async def create_cycle_schedule(client: Client, db: Database | str, template_text: str, cadence: str, first: date,
                                actor: str, task_queue: str, *, name: str | None = None,
                                source: str = "template") -> CycleSchedule:
    """Make the schedule; the template is checked now, by building the first period's configuration."""
    if cadence not in CADENCE_MONTHS:
        raise Rejected(tr("cadence %(cadence)s is not quarterly, half_yearly or annual", cadence=cadence))
    if first.day > 28:
        raise Rejected(tr("a recurring period cannot start on day %(day)s: not every month has it; start on "
                          "day 1–28", day=first.day))
    template = _template(template_text, source)
    config = _validated(template, cadence, first, source)
    raw_id = str(template.get("id", ""))
    name = name or raw_id.replace("{period}", "").strip("-_.") or config.id
    if problem := id_problem(name):
        raise Rejected(tr("schedule name %(name)s: %(problem)s", name=repr(name), problem=problem))
    inp = ScheduledCycleInput(schedule_id(name), template_text, cadence, first.isoformat(), actor)
    try:
        await client.create_schedule(schedule_id(name), Schedule(
            action=ScheduleActionStartWorkflow(ScheduledCycleWorkflow.run, inp, id=f"scheduled-cycle-{name}",
                                               task_queue=task_queue),
            spec=_spec(cadence, first, config.timezone),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
            state=ScheduleState(note=f"created by {actor}"),
        ))
    except ScheduleAlreadyRunningError:
        raise Conflict(tr("a cycle schedule named %(name)s exists already; delete it first or choose another "
                          "name (--name)", name=name)) from None
    await _audit(db, f"cycle_schedule.created:{name}:{first.isoformat()}", actor, "cycle_schedule.created", name,
                 {"cadence": cadence, "first": first.isoformat(), "first_cycle": config.id})
    return await describe_cycle_schedule(client, name)


async def _audit(db: Database | str, key: str, actor: str, action: str, name: str, after: dict[str, Any]) -> None:
    async with as_database(db).connection() as conn:
        await conn.execute(AUDIT_ROW, audit_params(key, actor, action, "cycle_schedule", name, after=after))


def _not_found(name: str) -> NotFound:
    return NotFound(tr("no cycle schedule named %(name)s (see `kamreview cycle schedule list`)", name=name))


async def describe_cycle_schedule(client: Client, name: str) -> CycleSchedule:
    try:
        desc = await client.get_schedule_handle(schedule_id(name)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(name) from None
        raise
    action = desc.schedule.action
    inp = action.args[0] if isinstance(action, ScheduleActionStartWorkflow) and action.args else None
    if not isinstance(inp, ScheduledCycleInput):  # raw payloads from the server: decode them as ours
        inp = await client.data_converter.decode([action.args[0]], [ScheduledCycleInput])  # type: ignore[union-attr]
        inp = inp[0]
    tz = desc.schedule.spec.time_zone_name or "UTC"
    next_runs = list(desc.info.next_action_times[:4])
    first = date.fromisoformat(inp.first)
    next_cycle = ""
    if next_runs:
        start, _ = scheduled_period(inp.cadence, first, next_runs[0].astimezone(ZoneInfo(tz)).date())
        template = _template(inp.template, "template")
        raw_id = str(template.get("id", ""))
        label = period_label(inp.cadence, start)
        next_cycle = raw_id.replace("{period}", label) if "{period}" in raw_id else f"{raw_id}-{label}"
    return CycleSchedule(
        name=name, cadence=inp.cadence, first=first, timezone=tz, paused=desc.schedule.state.paused,
        note=desc.schedule.state.note or "", next_runs=next_runs,
        recent_runs=[a.scheduled_at for a in desc.info.recent_actions], next_cycle=next_cycle)


async def list_cycle_schedules(client: Client) -> list[CycleSchedule]:
    names = sorted([s.id[len(PREFIX):] async for s in await client.list_schedules() if s.id.startswith(PREFIX)])
    return [await describe_cycle_schedule(client, n) for n in names]


async def pause_cycle_schedule(client: Client, db: Database | str, name: str, actor: str, note: str = "") -> None:
    await describe_cycle_schedule(client, name)
    await client.get_schedule_handle(schedule_id(name)).pause(note=note or f"paused by {actor}")
    await _audit(db, f"cycle_schedule.paused:{name}:{datetime.now().isoformat()}", actor, "cycle_schedule.paused",
                 name, {"note": note})


async def resume_cycle_schedule(client: Client, db: Database | str, name: str, actor: str, note: str = "") -> None:
    await describe_cycle_schedule(client, name)
    await client.get_schedule_handle(schedule_id(name)).unpause(note=note or f"resumed by {actor}")
    await _audit(db, f"cycle_schedule.resumed:{name}:{datetime.now().isoformat()}", actor, "cycle_schedule.resumed",
                 name, {"note": note})


async def delete_cycle_schedule(client: Client, db: Database | str, name: str, actor: str) -> None:
    """Cycles it created stay as they are; only future runs are gone."""
    await describe_cycle_schedule(client, name)
    await client.get_schedule_handle(schedule_id(name)).delete()
    await _audit(db, f"cycle_schedule.deleted:{name}:{datetime.now().isoformat()}", actor, "cycle_schedule.deleted",
                 name, {})


async def run_cycle_schedule_now(client: Client, db: Database | str, name: str, actor: str) -> None:
    """One run now (e.g. after a longer outage than the catch-up window): it opens the period of today."""
    await describe_cycle_schedule(client, name)
    await client.get_schedule_handle(schedule_id(name)).trigger(overlap=ScheduleOverlapPolicy.SKIP)
    await _audit(db, f"cycle_schedule.triggered:{name}:{datetime.now().isoformat()}", actor,
                 "cycle_schedule.triggered", name, {})


class ScheduleActivities:
    """The schedule's one activity: create and start the cycle of the period a run was scheduled for."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=OPEN_SCHEDULED_CYCLE)
    async def open_scheduled_cycle(self, req: OpenScheduledCycle) -> ScheduledCycleResult:
        s = req.schedule
        template = _template(s.template, s.schedule_id)
        tz = ZoneInfo(str(template.get("timezone") or "Asia/Shanghai"))
        on = datetime.fromisoformat(req.on).astimezone(tz).date()
        try:
            start, _ = scheduled_period(s.cadence, date.fromisoformat(s.first), on)
            config = _validated(template, s.cadence, start, s.schedule_id)
            created = await create_cycle(self.db, config, actor=s.actor)
        except (DomainError, UserError) as err:
            raise refuse(message_of(err)) from None
        client = activity.client()
        started = not await _running(client, config.id)
        if started:
            try:
                await start_cycle(client, self.db, config.id, activity.info().task_queue)
            except UserError as err:
                if not await _running(client, config.id):
                    raise refuse(message_of(err)) from None
                started = False  # another run for this period started it a moment ago
        return ScheduledCycleResult(config.id, created.created, started, created.participants)


async def _running(client: Client, cycle_id: str) -> bool:
    try:
        await client.get_workflow_handle(cycle_workflow_id(cycle_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
