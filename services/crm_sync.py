"""The daily CRM sync: a Temporal Schedule per CRM (off until someone enables it) that pulls the CRM through its
API and applies what changed, as `kamreview crm pull` does.

``crm sync enable zoho --at 02:00`` makes the schedule ``crm-sync-zoho``; ``disable`` deletes it. Its runs are
visible in the Temporal Web UI. A run missed while the server was down is made up once (within a day); runs
never overlap (a slow pull makes the next one wait for the day after). The import is idempotent, so a run that
finds nothing new writes nothing.

The activity is a thin shell over the service layer (services.imports.crm), like the CLI and the web app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from domain.text import tr
from services.db import Database, as_database
from services.errors import Conflict, NotFound, Rejected, TryLater, UserError, message_of
from services.imports.mapping import SOURCES, load_mapping
from workflows.common import refuse
from workflows.crm_sync import SYNC_CRM, CrmSyncWorkflow
from workflows.payloads import CrmSyncInput, CrmSyncResult

PREFIX = "crm-sync-"
CATCHUP = timedelta(days=1)
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass
class CrmSync:
    source: str
    at: str
    timezone: str
    paused: bool
    next_runs: list[datetime] = field(default_factory=list)
    recent_runs: list[datetime] = field(default_factory=list)


def sync_id(source: str) -> str:
    return PREFIX + source


def _source(source: str) -> str:
    if source not in SOURCES:
        raise Rejected(tr("unknown CRM %(source)s; one of %(known)s", source=source, known=", ".join(SOURCES)))
    return source


async def enable_crm_sync(client: Client, db: Database | str, source: str, actor: str, task_queue: str, *,
                          at: str = "02:00", timezone: str = "Asia/Shanghai",
                          mapping_text: str | None = None, mapping_name: str | None = None) -> CrmSync:
    """Make the daily schedule; the mapping is checked now and kept with it (the worker needs no file)."""
    _source(source)
    if not (m := _AT.match(at)):
        raise Rejected(tr("--at %(at)s is not a time of day (HH:MM, e.g. 02:00)", at=repr(at)))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Rejected(tr("unknown time zone %(value)s; use an IANA name such as Asia/Shanghai",
                          value=repr(timezone))) from None
    if mapping_text is not None:
        load_mapping(source, text=mapping_text, name=mapping_name)  # refused now rather than at 2 a.m.
    spec = ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(int(m[1]))], minute=[ScheduleRange(int(m[2]))],
                                                        second=[ScheduleRange(0)], comment=f"daily at {at}")],
                        time_zone_name=timezone)
    try:
        await client.create_schedule(sync_id(source), Schedule(
            action=ScheduleActionStartWorkflow(CrmSyncWorkflow.run, CrmSyncInput(source, mapping_text, actor),
                                               id=f"crm-sync-run-{source}", task_queue=task_queue),
            spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
            state=ScheduleState(note=f"enabled by {actor}")))
    except ScheduleAlreadyRunningError:
        raise Conflict(tr("the %(source)s sync is enabled already (disable it first to change it)",
                          source=source)) from None
    await _audit(db, f"crm_sync.enabled:{source}:{datetime.now().isoformat()}", actor, "crm_sync.enabled", source,
                 {"at": at, "timezone": timezone, "mapping": mapping_name})
    return await crm_sync_status(client, source)


async def _audit(db: Database | str, key: str, actor: str, action: str, source: str, after: dict) -> None:
    async with as_database(db).connection() as conn:
        await conn.execute(AUDIT_ROW, audit_params(key, actor, action, "crm_sync", source, after=after))


async def crm_sync_status(client: Client, source: str) -> CrmSync:
    try:
        desc = await client.get_schedule_handle(sync_id(_source(source))).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(tr("the %(source)s sync is not enabled (`kamreview crm sync enable %(source)s`)",
                              source=source)) from None
        raise
    cal = desc.schedule.spec.calendars[0] if desc.schedule.spec.calendars else None
    at = f"{cal.hour[0].start:02d}:{cal.minute[0].start:02d}" if cal else "?"
    return CrmSync(source, at, desc.schedule.spec.time_zone_name or "UTC", desc.schedule.state.paused,
                   list(desc.info.next_action_times[:3]), [a.scheduled_at for a in desc.info.recent_actions])


async def crm_syncs(client: Client) -> list[CrmSync]:
    enabled = [s.id[len(PREFIX):] async for s in await client.list_schedules() if s.id.startswith(PREFIX)]
    return [await crm_sync_status(client, s) for s in sorted(enabled) if s in SOURCES]


async def disable_crm_sync(client: Client, db: Database | str, source: str, actor: str) -> None:
    await crm_sync_status(client, source)
    await client.get_schedule_handle(sync_id(source)).delete()
    await _audit(db, f"crm_sync.disabled:{source}:{datetime.now().isoformat()}", actor, "crm_sync.disabled", source, {})


async def run_crm_sync_now(client: Client, db: Database | str, source: str, actor: str) -> None:
    await crm_sync_status(client, source)
    await client.get_schedule_handle(sync_id(source)).trigger(overlap=ScheduleOverlapPolicy.SKIP)
    await _audit(db, f"crm_sync.triggered:{source}:{datetime.now().isoformat()}", actor, "crm_sync.triggered",
                 source, {})


class CrmSyncActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=SYNC_CRM)
    async def sync_crm(self, inp: CrmSyncInput) -> CrmSyncResult:
        from services.imports.crm import apply_crm_pull

        try:
            mapping = load_mapping(inp.source, text=inp.mapping, name="sync mapping") if inp.mapping else None
            summary = await apply_crm_pull(self.database_url, inp.source, mapping, actor=inp.actor)  # type: ignore[arg-type]
        except TryLater:
            raise  # an outage, rate limits that did not end: retried by the workflow's policy
        except UserError as err:
            raise refuse(message_of(err)) from None
        # Accounts the CRM moved to another KAM reach the running cycles (docs/org-changes.md); a failure here is
        # retried with the run, and the changes stay pending until applied (the pull itself writes nothing new).
        from services.org_changes import apply_pending

        applied = await apply_pending(activity.client(), self.database_url, inp.actor)
        # Deals or cases that changed recompute the KPI figures of their periods (docs/kpis.md); a locked cycle's
        # figure then waits for `payouts recompute`, as after a hand-run import.
        notes: list[str] = []
        if summary.kpi_dates:
            from services.kpis import recompute_after_import

            for run in await recompute_after_import(self.database_url, summary.kpi_dates, inp.actor):
                notes.append(f"KPI figures of {run.period.label} recomputed: {len(run.changes)} changed"
                             + (f"; locked cycles to recompute: {', '.join(run.locked_cycles)}" if run.locked_cycles
                                else ""))
        counts = summary.tables.values()
        return CrmSyncResult(inp.source, summary.changed, sum(c.inserted for c in counts),
                             sum(c.updated for c in counts), notes, org_changes=len(applied.changes))
