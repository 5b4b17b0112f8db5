"""Org changes reaching running cycles: the diff an import shows, and the same changes applied through the workflows.

An import's writer knows each changed row's before and after (its plan; its audit rows once written). The
changes that matter to a review (joiner, leaver, manager change, account reassigned; ``domain.org_changes``)
are listed with the running cycles each affects before anything is written (``describe``), and applied after
the write (``apply_pending``), each through the workflow that owns the review:

- a joiner in a cycle's population: the cycle's ``add_participant`` Update opens their review;
- a leaver: the review's ``end_review`` Update ends the open tasks and closes it with what was submitted;
- a manager change: the review's ``reassign_reviewer`` Update moves the open scoring task (a score given stays);
- an account reassigned: ``withdraw_survey`` on the old KAM's review, ``invite_survey`` on the new KAM's.

Pending changes are read back from the import's own audit rows and each is marked with an ``org.change_applied``
audit row when done, so a crash between the write and the apply loses nothing (the next import, even of the same
files, applies what is left) and applying twice changes nothing. Update ids are derived from the change's audit
key: a retry applies once; the same move made again later is a new change with a new id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.base import AUDIT_ROW, audit_params
from domain.cycle import CycleConfig
from domain.money import proration_days
from domain.org_changes import OrgChange, classify, in_population
from domain.text import Text, tr
from services.db import Database, as_database
from services.errors import TryLater, UserError, refusal
from services.temporal import query_status
from workflows.payloads import (
    MANAGER_SCORING,
    AddParticipant,
    ContactRef,
    EndReview,
    ReassignReviewer,
    ReviewStatus,
    SurveyMove,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
)

TABLES = ("employee", "key_account")


@dataclass(frozen=True)
class OrgDiff:
    """What an import would change in the org: the changes with each row as imported, and the employee ids the
    file lists (None when the source has no org file, as a CRM export)."""

    changes: list[tuple[OrgChange, dict[str, Any]]]
    file_employee_ids: frozenset[str] | None = None


def diff_from_plans(plans: dict[str, Any], file_employee_ids: frozenset[str] | None) -> OrgDiff:
    """The org changes in the writer's plan (the same comparison the write makes)."""
    changes: list[tuple[OrgChange, dict[str, Any]]] = []
    for table in TABLES:
        plan = plans.get(table)
        if plan is None:
            continue
        for row in plan.changed:
            rc = plan.change(row)
            changes += [(c, rc.after) for c in classify(table, rc.key, rc.before, rc.after)]
    return OrgDiff(changes, file_employee_ids)


@dataclass
class CycleEffect:
    cycle_id: str
    what: Text  # in a preview what will happen; after applying what did
    applied: bool = False


@dataclass
class ChangeReport:
    change: OrgChange
    name: str | None
    effects: list[CycleEffect] = field(default_factory=list)

    def lines(self) -> list[Text]:
        c, who = self.change, _named(self.change.subject, self.name)
        if c.kind == "joiner":
            head = tr("joiner %(who)s (manager %(manager)s)", who=who, manager=c.after or "-")
        elif c.kind == "leaver":
            head = tr("leaver %(who)s, leaving on %(date)s", who=who, date=c.after)
        elif c.kind == "manager_change":
            head = tr("manager change %(who)s: %(before)s -> %(after)s", who=who, before=c.before or "-",
                      after=c.after)
        else:
            head = tr("account reassigned %(account)s: KAM %(before)s -> %(after)s", account=who,
                      before=c.before or "-", after=c.after)
        out = [head]
        out += [tr("  cycle %(cycle)s: %(what)s", cycle=e.cycle_id, what=e.what) for e in self.effects]
        if not self.effects:
            out.append(tr("  no running cycle is affected"))
        return out


@dataclass
class OrgChangesReport:
    changes: list[ChangeReport]
    notes: list[Text] = field(default_factory=list)

    def lines(self) -> list[Text]:
        if not self.changes and not self.notes:
            return []
        out = [tr("org changes: %(count)s", count=str(len(self.changes)))]
        for report in self.changes:
            out += report.lines()
        return out + self.notes

    def __str__(self) -> str:
        return "\n".join(str(line) for line in self.lines())


def _named(entity: str, name: str | None) -> str:
    return f"{entity} {name}" if name else entity


# -- which running cycles a change reaches ----------------------------------------------------------


@dataclass
class _Target:
    cycle_id: str
    config: CycleConfig
    review_id: str | None  # the review the change acts on (None for a joiner: it has none yet)
    detail: Any = None


Cycles = dict[datetime | None, list[tuple[str, CycleConfig, bool]]]


async def _running_cycles(conn: AsyncConnection, since: datetime | None,
                          cache: Cycles) -> list[tuple[str, CycleConfig, bool]]:
    """(id, config, reviews still open) of the running cycles created before the change (a cycle created after
    it froze its participants and reviewers from the changed org already). Read once per import (``cache``)."""
    if since in cache:
        return cache[since]
    rows = await (await conn.execute(
        """SELECT c.id, c.config, EXISTS (SELECT FROM review r WHERE r.cycle_id = c.id
                                            AND r.status IN ('pending', 'open'))
           FROM review_cycle c WHERE c.status = 'running' AND (%s::timestamptz IS NULL OR c.created_at < %s)
           ORDER BY c.id""", (since, since))).fetchall()
    cache[since] = [(cid, CycleConfig.model_validate(cfg), open_) for cid, cfg, open_ in rows]
    return cache[since]


async def _targets(conn: AsyncConnection, change: OrgChange, row: dict[str, Any], since: datetime | None,
                   cache: Cycles) -> list[_Target]:
    out: list[_Target] = []
    for cycle_id, config, reviews_open in await _running_cycles(conn, since, cache):
        if change.kind == "leaver" and change.after and date.fromisoformat(change.after) > config.period.end:
            continue  # employed for the whole period: the review goes on as usual
        if change.kind == "joiner":
            if not reviews_open or not row.get("manager_id"):
                continue
            above: frozenset[str] = frozenset()
            if config.participants.under:  # everyone the joiner reports to, at any depth
                above = frozenset(r[0] for r in await (await conn.execute(
                    """WITH RECURSIVE up AS (SELECT id, manager_id FROM employee WHERE id = %s
                                             UNION SELECT e.id, e.manager_id FROM employee e JOIN up ON e.id = up.manager_id)
                       SELECT id FROM up""", (row.get("manager_id"),))).fetchall())
            if not in_population(config.participants, config.period, change.subject, row.get("role"),
                                 row.get("manager_id"), row.get("hire_date"), row.get("termination_date"),
                                 grade=row.get("grade"), region=row.get("region"),
                                 cost_centre=row.get("cost_centre"), above=above):
                continue
            exists = await (await conn.execute("SELECT 1 FROM review WHERE id = %s",
                                               (review_id_for(cycle_id, change.subject),))).fetchone()
            if exists is None:
                out.append(_Target(cycle_id, config, None))
            continue
        kam = change.before if change.kind == "account_reassigned" else change.subject
        if kam is None:
            continue
        review_id = review_id_for(cycle_id, kam)
        status = await (await conn.execute("SELECT status FROM review WHERE id = %s", (review_id,))).fetchone()
        if status is None or status[0] not in ("pending", "open"):
            continue
        if change.kind == "account_reassigned":
            contacts = [c for (c,) in await (await conn.execute(
                """SELECT contact_id FROM survey_invitation WHERE review_id = %s AND account_id = %s
                   AND status = 'sent' ORDER BY contact_id""", (review_id, change.subject))).fetchall()]
            if not contacts:
                continue
            out.append(_Target(cycle_id, config, review_id, contacts))
        else:
            out.append(_Target(cycle_id, config, review_id))
    return out


def _prorated(config: CycleConfig, hired: object, left: object) -> tuple[int, int]:
    start = date.fromisoformat(hired) if isinstance(hired, str) and hired else None
    end = date.fromisoformat(left) if isinstance(left, str) and left else None
    return proration_days(config.period.start, config.period.end, start, end)


def _no_target(change: OrgChange, row: dict[str, Any], target: _Target) -> Text | None:
    """Why a joiner cannot be added: no target incentive for them in the cycle's plan (create_cycle's own check)."""
    target_incentive = target.config.incentive_plan.target_incentive
    grade = row.get("grade") or ""
    if change.subject in target_incentive.by_employee or grade in target_incentive.by_grade:
        return None
    who = tr("%(employee)s (grade %(grade)s)", employee=change.subject, grade=grade) if grade \
        else tr("%(employee)s (grade none)", employee=change.subject)
    return tr("incentive_plan.target_incentive: no target incentive for %(who)s", who=who)


def _foreseen(change: OrgChange, row: dict[str, Any], target: _Target) -> Text:
    """What applying the change to this cycle will do, for the preview."""
    if change.kind == "joiner":
        if uncovered := _no_target(change, row, target):
            return tr("will not be added: %(why)s", why=uncovered)
        days, total = _prorated(target.config, row.get("hire_date"), row.get("termination_date"))
        return tr("their review opens (self-review, scoring by %(manager)s, customer survey); the bonus is prorated "
                  "%(days)s/%(total)s days", manager=row.get("manager_id"), days=str(days), total=str(total))
    if change.kind == "leaver":
        days, total = _prorated(target.config, row.get("hire_date"), change.after)
        return tr("open tasks end and the review closes with what was submitted; the bonus is prorated "
                  "%(days)s/%(total)s days to the leaving date", days=str(days), total=str(total))
    if change.kind == "manager_change":
        return tr("the open scoring task moves to %(manager)s (a score already given stays)", manager=change.after)
    return tr("%(count)s open survey invitations move to the review of %(kam)s", count=str(len(target.detail)),
              kam=change.after)


async def _names(conn: AsyncConnection, changes: list[OrgChange]) -> dict[str, str]:
    ids = [c.subject for c in changes]
    rows = await (await conn.execute(
        "SELECT id, name FROM employee WHERE id = ANY(%s) UNION ALL SELECT id, name FROM key_account WHERE id = ANY(%s)",
        (ids, ids))).fetchall()
    return {i: n for i, n in rows if n}


async def describe(db: Database | str, diff: OrgDiff) -> OrgChangesReport:
    """The preview: each change with the running cycles it reaches and what it will do there; writes nothing."""
    reports: list[ChangeReport] = []
    notes: list[Text] = []
    cache: Cycles = {}
    async with as_database(db).connection() as conn:
        names = await _names(conn, [c for c, _ in diff.changes])
        for change, row in diff.changes:
            report = ChangeReport(change, names.get(change.subject) or row.get("name"))
            for target in await _targets(conn, change, row, None, cache):
                what = None
                if target.review_id and change.kind == "manager_change":
                    reviewer, scored = await (await conn.execute(
                        """SELECT r.reviewer_id, t.status = 'done' FROM review r LEFT JOIN task t ON t.id = %s
                           WHERE r.id = %s""", (f"{target.review_id}:{MANAGER_SCORING}", target.review_id))).fetchone()
                    if scored and reviewer != change.after:
                        what = tr("the score already given by %(manager)s stays", manager=reviewer or "-")
                    elif reviewer == change.after:
                        what = tr("%(manager)s already scores this review; nothing changes", manager=change.after)
                report.effects.append(CycleEffect(target.cycle_id, what or _foreseen(change, row, target)))
            reports.append(report)
            if change.kind == "leaver":
                (scoring,) = await (await conn.execute(
                    """SELECT count(*) FROM task t JOIN review_cycle c ON c.id = t.cycle_id AND c.status = 'running'
                       WHERE t.kind = %s AND t.assignee_id = %s AND t.status = 'open'""",
                    (MANAGER_SCORING, change.subject))).fetchone()
                if scoring:
                    notes.append(tr("%(who)s leaves with %(count)s open scoring tasks of reports in running cycles; "
                                    "give those reports a new manager (or reassign the reviews)",
                                    who=_named(change.subject, report.name), count=str(scoring)))
        if diff.file_employee_ids is not None:
            missing = [f"{i} {n}" for i, n in await (await conn.execute(
                """SELECT id, name FROM employee WHERE NOT (id = ANY(%s)) AND termination_date IS NULL
                   ORDER BY id LIMIT 20""", (list(diff.file_employee_ids),))).fetchall()]
            if missing:
                notes.append(tr("not in the org file, and left unchanged (a leaver needs a termination_date): "
                                "%(who)s", who=", ".join(missing)))
    return OrgChangesReport(reports, notes)


# -- applying: pending changes from the import's audit rows, each through its workflow --------------------------


async def pending(conn: AsyncConnection) -> list[tuple[OrgChange, dict[str, Any], datetime]]:
    """Org changes written by imports since the oldest running cycle was created, not applied yet, oldest first."""
    rows = await (await conn.execute(
        """SELECT a.event_key, a.entity_type, a.entity_id, a.before, a.after, a.occurred_at FROM audit_log a
           WHERE a.action IN ('import.insert', 'import.update') AND a.entity_type = ANY(%s)
             AND a.occurred_at >= (SELECT min(created_at) FROM review_cycle WHERE status = 'running')
             AND NOT EXISTS (SELECT FROM audit_log d WHERE d.event_key = 'org.change_applied:' || a.event_key)
           ORDER BY a.id""", (list(TABLES),))).fetchall()
    out = []
    for key, table, entity, before, after, at in rows:
        out += [(c, after, at) for c in classify(table, entity, before, after, key)]
    return out


async def has_pending(db: Database | str) -> bool:
    """Whether some import left org changes for a running cycle (asked before connecting to Temporal)."""
    async with as_database(db).connection() as conn:
        return bool(await pending(conn))


async def apply_pending(client: Client, db: Database | str, actor: str) -> OrgChangesReport:
    """Apply every pending org change to the running cycles it reaches; each is audited once, retries apply once.

    A change is marked applied as soon as it is done, so one cut short later leaves only the rest pending."""
    database = as_database(db)
    async with database.connection() as conn:
        todo = await pending(conn)
        names = await _names(conn, [c for c, _, _ in todo])
    reports: list[ChangeReport] = []
    cache: Cycles = {}
    by_key: dict[str, list[ChangeReport]] = {}
    for n, (change, row, at) in enumerate(todo):
        report = ChangeReport(change, names.get(change.subject) or row.get("name"))
        async with database.connection() as conn:
            targets = await _targets(conn, change, row, at, cache)
        later = False
        for target in targets:
            try:
                what, applied = await _apply_one(client, database, change, row, target, actor)
            except _NotYet as err:
                what, applied, later = err.why, False, True
            report.effects.append(CycleEffect(target.cycle_id, what, applied))
        reports.append(report)
        by_key.setdefault(change.key, []).append(report)
        if later:
            by_key.pop(change.key)  # not marked: the next import (even of the same files) applies it
            continue
        if n + 1 < len(todo) and todo[n + 1][0].key == change.key:
            continue  # one imported row can carry two changes (a leaver with a new manager): marked together
        done = {f"{r.change.kind}:{e.cycle_id}": str(e.what) for r in by_key.pop(change.key) for e in r.effects}
        async with database.connection() as conn:
            await conn.execute(AUDIT_ROW, audit_params(
                f"org.change_applied:{change.key}", actor, "org.change_applied",
                "key_account" if change.kind == "account_reassigned" else "employee", change.subject,
                None, {"changes": done}))
    return OrgChangesReport(reports)


class _NotYet(Exception):
    """The change cannot reach the review now (still waiting for its batch to open; its status did not answer): it
    stays pending, unmarked, so the next import applies it."""

    def __init__(self, why: Text | None = None) -> None:
        super().__init__()
        self.why = why or tr("the review has not started yet; the change stays pending until the next import")


async def _not_started(db: Database, review_id: str) -> bool:
    async with db.connection() as conn:
        row = await (await conn.execute("SELECT status FROM review WHERE id = %s", (review_id,))).fetchone()
    return row is not None and row[0] == "pending"


async def _update(client: Client, workflow_id: str, update: Any, arg: Any, update_id: str) -> Any:
    """An Update under a content-derived id: a retry gets the first result instead of applying twice."""
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None


async def _status(client: Client, review_id: str) -> ReviewStatus | None:
    from workflows.review import ReviewWorkflow

    try:
        return await query_status(client.get_workflow_handle(review_workflow_id(review_id)), ReviewWorkflow.status)
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return None
        raise


async def _apply_one(client: Client, db: Database, change: OrgChange, row: dict[str, Any], target: _Target,
                     actor: str) -> tuple[Text, bool]:
    """Apply one change to one cycle through its workflow; (what happened, whether anything changed)."""
    from workflows.cycle import CycleWorkflow
    from workflows.review import ReviewWorkflow

    reason = str(tr("organisation import"))
    try:
        if change.kind == "joiner":
            if uncovered := _no_target(change, row, target):
                return tr("not applied: %(why)s", why=uncovered), False
            added = await _update(client, cycle_workflow_id(target.cycle_id), CycleWorkflow.add_participant,
                                  AddParticipant(actor, change.subject, row["manager_id"]),
                                  f"org:{change.key}:{target.cycle_id}")
            if not added:
                return tr("already in the cycle; nothing changed"), False
            return tr("review opened, scored by %(manager)s", manager=row["manager_id"]), True
        assert target.review_id is not None
        status = await _status(client, target.review_id)
        if status is None and await _not_started(db, target.review_id):
            raise _NotYet
        if status is None or status.closed:
            return tr("the review has closed already; nothing changed"), False
        wf = review_workflow_id(target.review_id)
        if change.kind == "leaver":
            missing = await _update(client, wf, ReviewWorkflow.end_review, EndReview(actor, change.after or "", reason),
                                    f"org:{change.key}")
            return tr("open tasks ended; the review closed with what was submitted (missing: %(missing)s)",
                      missing=", ".join(missing) or "-"), True
        if change.kind == "manager_change":
            return await _move_scoring(client, db, change, target, status, actor, reason)
        return await _move_survey(client, change, target, actor)
    except TryLater:  # not a refusal: a loaded worker did not answer the status query this time
        raise _NotYet(tr("the review did not answer just now; the change stays pending until the next import")) from None
    except UserError as err:
        return tr("not applied: %(why)s", why=err.text or str(err)), False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return tr("the review has closed already; nothing changed"), False


async def _move_scoring(client: Client, db: Database, change: OrgChange, target: _Target, status: ReviewStatus,
                        actor: str, reason: str) -> tuple[Text, bool]:
    from services.tasks import check_scorer
    from workflows.review import ReviewWorkflow

    new = change.after or ""
    if status.reviewer_id == new:
        return tr("%(manager)s already scores this review; nothing changed", manager=new), False
    scoring = next((p for p in status.phases if p.phase == MANAGER_SCORING), None)
    if scoring is None or scoring.state != "open":
        return tr("the score already given by %(manager)s stays", manager=status.reviewer_id or "-"), False
    async with db.connection() as conn:
        await check_scorer(conn, change.subject, new)
    await _update(client, review_workflow_id(target.review_id or ""), ReviewWorkflow.reassign_reviewer,
                  ReassignReviewer(actor, new, reason), f"org:{change.key}")
    return tr("the open scoring task moved to %(manager)s", manager=new), True


async def _move_survey(client: Client, change: OrgChange, target: _Target, actor: str) -> tuple[Text, bool]:
    from workflows.review import ReviewWorkflow

    new_kam = change.after or ""
    new_review = review_id_for(target.cycle_id, new_kam)
    status = await _status(client, new_review)
    survey = next((p for p in status.phases if p.phase == "customer_survey"), None) if status else None
    if status is None or status.closed or survey is None or survey.state == "closed":
        return tr("kept with %(kam)s: %(new)s has no review open for surveys in this cycle", kam=change.before or "-",
                  new=new_kam), False
    contacts = [ContactRef(c, change.subject) for c in target.detail]
    moved: list[str] = await _update(client, review_workflow_id(target.review_id or ""), ReviewWorkflow.withdraw_survey,
                                     SurveyMove(actor, change.subject, contacts, new_kam), f"org:{change.key}:out")
    if not moved:
        return tr("no open survey invitation was left to move"), False
    await _update(client, review_workflow_id(new_review), ReviewWorkflow.invite_survey,
                  SurveyMove(actor, change.subject, [ContactRef(c, change.subject) for c in moved], change.before or ""),
                  f"org:{change.key}:in")
    return tr("%(count)s open survey invitations moved to the review of %(kam)s", count=str(len(moved)),
              kam=new_kam), True
