"""Activities of the review phase: open reviews, persist submissions, reminders, close and score."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, sql
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.base import (
    AUDIT_INSERT,
    AUDIT_ROW,
    AUDIT_VALUES,
    DbActivities,
    audit,
    audit_params,
    heartbeats,
    jsonb,
    rejected,
)
from activities.outbox import Message, queue, start_delivery
from domain.cycle import CycleConfig, PhaseConfig, resolve_due
from domain.goals import KeyResultProgress, ObjectiveProgress
from domain.peers import PeerAggregate, aggregate
from domain.phases import OPTIONAL_PHASES, PHASE_BY_KEY, PhaseDefinition, Source, Storage, link_for, task_kind
from domain.scoring import ReviewInputs, ScoreResult, SurveyAnswer, preliminary_score
from domain.text import tr
from workflows.common import REVIEWS_STILL_OPEN, WAIT_ROUND
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    PEER_APPROVAL,
    PEER_FEEDBACK,
    PEER_NOMINATION,
    PHASES,
    SELF_REVIEW,
    AddReviewInput,
    BeginCycleInput,
    CloseReviewInput,
    ContactRef,
    CyclePlan,
    EndReviewRecord,
    PeerFeedbackPlan,
    PeerStepRecord,
    PhaseEvent,
    PhasePlan,
    ReassignRecord,
    Recipient,
    ReopenRecord,
    ReviewInput,
    ReviewResult,
    ReviewRules,
    ReviewsClosed,
    ReviewSeed,
    StartBatchInput,
    SubmissionRecord,
    SurveyMoveRecord,
    record_digest,
    reopened_workflow_id,
    review_workflow_id,
    task_id_for,
)
from workflows.search_attributes import review_start_attributes

# Review workflows a batch starts at once. Two, so that opening a cycle yields to the people already submitting:
# each start costs the server and this worker about as much as a submission, and with 32 at once the submissions
# sent while a cycle of 2,000 opened waited 2.6x as long as the floor's (p95), against 1.7x with two, at the same
# rate overall (bench/README.md, session 24). Starts still go as fast as the server answers: a quiet server opens
# reviews at hundreds a second, a busy one slows the opening rather than the people.
START_CONCURRENCY = 2
# Review workflows cancelled at once (a cycle cancelled): nobody waits behind a cancelled cycle's reviews, and the
# cap only keeps thousands of RPCs from queueing on the worker's one event loop.
CANCEL_CONCURRENCY = 32
# Polling for closed reviews: fast while they are closing, slower while nothing changes. While they close, the wait
# between polls shrinks with the reviews still open (a poll counts them), so the cycle notices its last close within
# 20 ms instead of up to 200: HR's calibration opens that much sooner. Below 100 open that is at most 500 counted
# rows a second; from 100, a poll every 200 ms as before.
POLL_FLOOR_S, POLL_MIN_S, POLL_MAX_S = 0.02, 0.2, 5.0
POLL_PER_OPEN_S = 0.002


def next_poll_s(still_open: int, last_open: int, interval: float) -> float:
    """The wait before the next count of a cycle's open reviews, after one that found ``still_open``."""
    if still_open != last_open:
        return min(POLL_MIN_S, max(POLL_FLOOR_S, still_open * POLL_PER_OPEN_S))
    return min(interval * 2, POLL_MAX_S)


def submitted_key(task_id: str, version: int = 1) -> str:
    """The audit event key of a task's submission; a resubmission after a reopen is its own event."""
    return f"task.submitted:{task_id}" + (f":v{version}" if version > 1 else "")


def task_link(cycle_id: str, phase: str, employee_id: str) -> str:
    """The page where a phase's (or a step's) task is done (a path; the delivery makes it absolute)."""
    return link_for(phase, cycle_id, employee_id)


def task_params(cycle_id: str, phase: str, task_id: str, assignee_type: str, employee_id: str,
                employee_name: str) -> dict[str, Any]:
    """Where a message about an open task sends its reader: a customer to the survey (a fresh signed link at
    send time), an employee to the task's page; a reviewer is also told whose score is open."""
    if assignee_type == "contact":
        return {"survey_invitation_id": task_id, "kam_name": employee_name}
    by_reviewer = phase in PHASE_BY_KEY and PHASE_BY_KEY[phase].assignees == "reviewer"
    return {"link_path": task_link(cycle_id, task_kind(task_id, phase), employee_id)} | (
        {"items": [employee_name]} if by_reviewer else {})


def escalation_to(phase: str, reviewer_id: str | None, reviewers_manager: str | None) -> tuple[str, str]:
    """Who hears that a phase closed with work missing, by whose tasks it opened: the KAM's manager for the KAM's
    own (a self-review), the reviewer's manager for the reviewer's (a score; HR when there is none), HR for the
    rest (customer surveys)."""
    assignees = PHASE_BY_KEY[phase].assignees if phase in PHASE_BY_KEY else None
    if assignees == "subject" and reviewer_id:
        return "employee", reviewer_id
    if assignees == "reviewer" and reviewers_manager:
        return "employee", reviewers_manager
    return "role", "hr"


def review_rules(config: CycleConfig) -> ReviewRules:
    """What a submission must contain, from the frozen configuration (the workflows and services check with it)."""
    card = config.scorecard
    comp = card.competencies
    return ReviewRules(
        competency_ids=[c.id for c in comp.items] if comp else [],
        competency_min=comp.scale.min if comp else 1,
        competency_max=comp.scale.max if comp else 3,
        kpi_ids=[k.id for k in card.kpis],
        peer_feedback=None if config.peer_feedback is None else PeerFeedbackPlan(
            config.peer_feedback.min_answers, config.peer_feedback.max_peers, config.peer_feedback.question_ids,
            config.peer_feedback.scale_min, config.peer_feedback.scale_max),
    )


def phase_configs(config: CycleConfig) -> list[tuple[str, PhaseConfig]]:
    """Each phase of the cycle with its deadline configuration, in the registry's order: every cycle's phases,
    then the optional ones its configuration enables (a ``peer_feedback:`` block), then the phases defined only in
    the registry that it adds (``added_phases:``, in the order given)."""
    phases = [(name, getattr(config.phases, name)) for name in PHASES]
    phases += [(name, getattr(config, name)) for name in OPTIONAL_PHASES if getattr(config, name, None)]
    return phases + list((config.added_phases or {}).items())


def phase_plan(name: str, phase: PhaseConfig, started_at: datetime) -> PhasePlan:
    policy = phase.on_deadline
    return PhasePlan(
        phase=name,
        due_at=resolve_due(phase, started_at),
        reminders_before_s=[r.total_seconds() for r in phase.reminders_before],
        on_deadline=policy.action,
        extend_by_s=policy.extend_by.total_seconds() if policy.extend_by else 0.0,
        max_extensions=policy.max_extensions if policy.action == "extend" else 0,
    )


# What each kind of stored value is in the INSERT a phase's storage builds: a parameter of the submission, or a
# column of the unnested items (one row per answered item).
_ITEM_VALUES = {"item": "u.item", "rating": "u.rating", "comment": "u.comment"}
_PARAMS = {"review": "review", "task": "task", "at": "at", "actor": "actor", "satisfaction": "satisfaction",
           "nps": "nps", "comment": "comment"}


def _value(source: str, per_item: bool = False) -> sql.Composable:
    if per_item and source in _ITEM_VALUES:
        return sql.SQL(_ITEM_VALUES[source])
    return sql.Placeholder(_PARAMS[source])


def answer_insert(definition: PhaseDefinition, rec: SubmissionRecord) -> tuple[sql.Composed, dict[str, Any]]:
    """The INSERT of a submission's answers (ON CONFLICT DO NOTHING: a retry writes nothing more) and its parameters,
    built from the phase's ``Storage`` alone: every identifier comes from the definition, every value is a parameter.

    Per item: one row per rated or commented item (ratings first, then items only commented, then the definition's
    extra items such as a manager's potential). Otherwise one row (a survey answer). A phase whose tasks go to
    contacts also marks the contact's invitation answered.
    """
    storage = definition.storage
    if storage is None:
        raise ApplicationError(f"phase {rec.phase} has no storage", non_retryable=True)
    params: dict[str, Any] = {"review": rec.review_id, "task": rec.task_id, "at": rec.submitted_at,
                              "actor": rec.actor_id}
    table = sql.Identifier(storage.table)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c, _ in storage.columns)
    values = sql.SQL(", ").join(_value(source, storage.per_item) for _, source in storage.columns)
    if storage.per_item:
        items = list(rec.ratings) + [k for k in rec.comments if k not in rec.ratings]
        ratings: list[int | None] = [rec.ratings.get(k) for k in items]
        for item, field_name in storage.extra_items:
            if (extra := getattr(rec, field_name)) is not None:
                items.append(item)
                ratings.append(extra)
        params |= {"items": items, "ratings": ratings, "comments": [rec.comments.get(k) for k in items]}
        answers = sql.SQL("""INSERT INTO {table} ({columns}) SELECT {values}
                             FROM unnest(%(items)s::text[], %(ratings)s::int[], %(comments)s::text[])
                                  AS u(item, rating, comment)
                             ON CONFLICT DO NOTHING""").format(table=table, columns=columns, values=values)
    else:
        params |= {"satisfaction": rec.satisfaction, "nps": rec.nps, "comment": rec.comments.get("comment")}
        answers = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING").format(
            table=table, columns=columns, values=values)
    if definition.assignees == "contacts":
        answers += sql.SQL("""),
                         invitation AS (UPDATE survey_invitation SET status = 'answered', answered_at = %(at)s
                                        WHERE id = %(task)s AND status <> 'answered'""")
    return answers, params


def _live_rows(storage: Storage) -> sql.Composed:
    """The condition on a task's live answer rows (``replaced_by`` = this submission's value): what a resubmission
    deletes and a reopen keeps as the earlier version."""
    assert storage.replaced_by is not None
    return sql.SQL("{} = {}").format(sql.Identifier(storage.replaced_by),
                                     _value(dict(storage.columns)[storage.replaced_by]))


def _rated_items(storage: Storage | None) -> tuple[sql.Identifier, sql.Identifier, sql.Identifier, sql.Composable]:
    """A per-item storage's item, rating and review columns, and the condition leaving out its extra items (a
    manager's potential): what the score reads, for the first phases and the registry-only ones alike."""
    assert storage is not None and storage.per_item and storage.column_of("review")
    item, rating, review = (sql.Identifier(storage.column_of(s) or "") for s in ("item", "rating", "review"))
    extras = [e for e, _ in storage.extra_items]
    left_out = sql.SQL(" AND {} <> ALL({})").format(item, sql.Literal(extras)) if extras else sql.SQL("")
    return item, rating, review, left_out


class ReviewActivities(DbActivities):
    @activity.defn(name="begin_cycle")
    @heartbeats
    async def begin_cycle(self, inp: BeginCycleInput) -> CyclePlan:
        """Mark the cycle running and resolve its deadlines against the first recorded start."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, inp.cycle_id)
            await cur.execute(
                """UPDATE review_cycle SET status = CASE WHEN status = 'created' THEN 'running' ELSE status END,
                          started_at = COALESCE(started_at, %s)
                   WHERE id = %s RETURNING started_at, participant_count""",
                (inp.started_at, inp.cycle_id),
            )
            started_at, participants = await cur.fetchone()
            await audit(cur, f"cycle.started:{inp.cycle_id}", "system", "cycle.started", "review_cycle",
                        inp.cycle_id, None, {"started_at": started_at, "participants": participants})
        phases = [phase_plan(name, phase, started_at) for name, phase in phase_configs(config)]
        return CyclePlan(
            cycle_id=inp.cycle_id,
            participant_count=participants,
            batch_size=config.batch_size,
            rules=review_rules(config),
            phases=phases,
            rating_levels=sorted(level.level for level in config.calibration.levels),
            enforce_guideline=config.calibration.enforce,
        )

    @activity.defn(name="start_review_batch")
    async def start_review_batch(self, inp: StartBatchInput) -> int:
        """Open one batch of reviews in PostgreSQL, then start their workflows; a retry starts none twice."""
        seeds = await self._open_reviews(inp)
        await self._start_reviews(inp, seeds)
        return len(seeds)

    async def _start_reviews(self, inp: StartBatchInput, seeds: list[ReviewSeed]) -> None:
        """Start the opened reviews' workflows; one already running is kept, one already ended never restarts."""
        from workflows.review import ReviewWorkflow  # here: the workflow module imports this one

        client = activity.client()
        task_queue = activity.info().task_queue
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(seed: ReviewSeed) -> None:
            async with gate:
                try:
                    await client.start_workflow(
                        ReviewWorkflow.run,
                        ReviewInput(inp.cycle_id, seed.review_id, seed.employee_id, seed.reviewer_id,
                                    seed.contacts, inp.rules, inp.phases),
                        id=review_workflow_id(seed.review_id),
                        task_queue=task_queue,
                        # Running already (a retried batch): keep it. Ended already: never start it again.
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        # The first workflow task comes back with the start, to this worker when it has a free
                        # slot: 10,000 first tasks then do not queue at the server ahead of people's Updates.
                        request_eager_start=True,
                        search_attributes=review_start_attributes(
                            inp.cycle_id, seed.employee_id, seed.reviewer_id,
                        ) if inp.search_attributes else None,
                    )
                except WorkflowAlreadyStartedError:
                    pass
                activity.heartbeat()

        try:
            await asyncio.gather(*(start(seed) for seed in seeds))
        finally:
            # The cycle may have been cancelled while this batch was starting reviews, after the
            # cancellation had ended the ones it found: end the ones started here too.
            async with self.pool.connection() as conn:
                status = (await (await conn.execute(
                    "SELECT status FROM review_cycle WHERE id = %s", (inp.cycle_id,))).fetchone())[0]
            if status == "cancelled":
                await _cancel_workflows([review_workflow_id(s.review_id) for s in seeds])

    @activity.defn(name="announce_cycle")
    @heartbeats
    async def announce_cycle(self, cycle_id: str) -> int:
        """Tell everyone the cycle has started: each KAM their self-review, each reviewer (one message) their
        reports, each customer contact their survey with a personal link. Once, however often retried."""
        batch = f"cycle:{cycle_id}:started"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT name FROM review_cycle WHERE id = %s", (cycle_id,))
            (cycle_name,) = await cur.fetchone()
            await cur.execute(
                """SELECT t.kind, t.id, t.assignee_type, t.assignee_id, t.due_at, r.employee_id, e.name, a.name
                   FROM task t JOIN review r ON r.id = t.review_id JOIN employee e ON e.id = r.employee_id
                   LEFT JOIN survey_invitation i ON i.id = t.id LEFT JOIN key_account a ON a.id = i.account_id
                   WHERE t.cycle_id = %s AND t.status = 'open' ORDER BY t.kind, t.assignee_id, e.name, r.employee_id""",
                (cycle_id,))
            messages: list[Message] = []
            reports: dict[str, list[dict[str, str]]] = {}
            scoring_due: dict[str, str] = {}
            for kind, task_id, assignee_type, assignee, due, employee_id, name, account in await cur.fetchall():
                common = {"cycle_name": cycle_name, "phase": kind, "due": due.isoformat()}
                if assignee_type == "contact":
                    messages.append(Message(f"invited:{task_id}", "survey_invitation", "contact", assignee,
                                            common | {"kam_name": name, "account_name": account,
                                                      "survey_invitation_id": task_id}))
                elif kind == MANAGER_SCORING:  # one message per reviewer, listing their reports
                    reports.setdefault(assignee, []).append(
                        {"name": name, "link_path": task_link(cycle_id, kind, employee_id)})
                    scoring_due[assignee] = min(scoring_due.get(assignee, common["due"]), common["due"])
                else:  # any other employee's task (a self-review, a peer nomination, a phase defined later)
                    messages.append(Message(f"assigned:{task_id}", "task_assigned", "employee", assignee,
                                            common | {"link_path": task_link(cycle_id, kind, employee_id)}))
            for reviewer, rows in reports.items():
                messages.append(Message(f"assigned:{cycle_id}:reviewer:{reviewer}", "reviews_assigned", "employee",
                                        reviewer, {"cycle_name": cycle_name, "phase": MANAGER_SCORING,
                                                   "due": scoring_due[reviewer], "reports": rows,
                                                   "link_path": "/manager"}))
            queued = await queue(cur, cycle_id, batch, messages)
        await start_delivery(activity.client(), activity.info().task_queue, batch)
        return queued

    @activity.defn(name="await_reviews_closed")
    async def await_reviews_closed(self, cycle_id: str) -> ReviewsClosed:
        """Return once every review of the cycle has closed; each review records its close in PostgreSQL."""
        give_up_at = time.monotonic() + WAIT_ROUND.total_seconds()
        interval, last_open = POLL_MIN_S, -1
        while True:
            async with self.pool.connection() as conn:
                # Reads the partial index of open reviews only (migration 0005).
                still_open = (await (await conn.execute(
                    "SELECT count(*) FROM review WHERE cycle_id = %s AND status <> 'closed'", (cycle_id,)
                )).fetchone())[0]
                if still_open == 0:
                    total, scored, with_missing = await (await conn.execute(
                        """SELECT count(*), count(*) FILTER (WHERE preliminary_score IS NOT NULL),
                                  count(*) FILTER (WHERE jsonb_array_length(COALESCE(missing, '[]')) > 0)
                           FROM review WHERE cycle_id = %s""",
                        (cycle_id,),
                    )).fetchone()
                    return ReviewsClosed(total, scored, with_missing)
            activity.heartbeat(still_open)
            if time.monotonic() >= give_up_at:
                raise ApplicationError(f"{still_open} reviews of cycle {cycle_id} are still open",
                                       type=REVIEWS_STILL_OPEN)
            interval = next_poll_s(still_open, last_open, interval)
            last_open = still_open
            await asyncio.sleep(interval)

    @activity.defn(name="cancel_cycle")
    @heartbeats
    async def cancel_cycle(self, cycle_id: str) -> int:
        """Mark a cancelled cycle cancelled and cancel its review workflows that have not closed yet.

        Its open reviews and tasks become 'cancelled' (out of every inbox), its unanswered survey
        invitations expire and their links are revoked; what was submitted stays. A cycle whose
        payouts were locked meanwhile (an approval that won the race) stays locked.
        """
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """UPDATE review_cycle SET status = 'cancelled' WHERE id = %s AND status NOT IN ('locked', 'cancelled')
                   RETURNING id""",
                (cycle_id,),
            )
            if await cur.fetchone() is None:
                return 0  # locked (nothing to undo) or cancelled already (a retry)
            await cur.execute(
                """UPDATE review SET status = 'cancelled' WHERE cycle_id = %s AND status IN ('pending', 'open')
                   RETURNING workflow_id""",
                (cycle_id,),
            )
            workflow_ids = [row[0] for row in await cur.fetchall() if row[0]]
            await cur.execute(
                """WITH ended AS (UPDATE task SET status = 'cancelled' WHERE cycle_id = %s AND status = 'open'
                                  RETURNING review_id)
                   SELECT DISTINCT r.id FROM ended JOIN review r ON r.id = ended.review_id WHERE r.status = 'closed'""",
                (cycle_id,))
            # Tasks HR reopened after their review closed: their reopen workflow ends too (workflows/reopened.py).
            reopened = [reopened_workflow_id(row[0]) for row in await cur.fetchall()]
            await cur.execute("DELETE FROM task_draft d USING task t WHERE t.id = d.task_id AND t.cycle_id = %s",
                              (cycle_id,))
            await cur.execute(
                "UPDATE survey_invitation SET status = 'expired' WHERE cycle_id = %s AND status = 'sent'", (cycle_id,)
            )
            await cur.execute(
                """UPDATE survey_link l SET revoked_at = now() FROM survey_invitation i
                   WHERE l.invitation_id = i.id AND i.cycle_id = %s AND l.used_at IS NULL AND l.revoked_at IS NULL""",
                (cycle_id,),
            )
            await audit(cur, f"cycle.cancelled:{cycle_id}", "system", "cycle.cancelled", "review_cycle", cycle_id,
                        None, {"open_reviews_cancelled": len(workflow_ids)})
        await _cancel_workflows(workflow_ids + reopened)
        return len(workflow_ids)

    async def _open_reviews(self, inp: StartBatchInput) -> list[ReviewSeed]:
        """Open the reviews with seq in [seq_from, seq_to): tasks and survey invitations, once."""
        due = {p.phase: p.due_at for p in inp.phases}
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # Shared lock: a cancellation waits for this batch to commit, and a batch retried after a
            # cancellation opens and starts nothing.
            await cur.execute("SELECT status FROM review_cycle WHERE id = %s FOR SHARE", (inp.cycle_id,))
            if (await cur.fetchone())[0] == "cancelled":
                return []
            await cur.execute(
                """UPDATE review SET status = 'open', opened_at = %s, workflow_id = 'review:' || id
                   WHERE cycle_id = %s AND seq >= %s AND seq < %s AND status = 'pending'""",
                (inp.opened_at, inp.cycle_id, inp.seq_from, inp.seq_to),
            )
            newly_opened = cur.rowcount
            await cur.execute(
                """SELECT r.id, r.employee_id, r.reviewer_id, c.id, c.account_id
                   FROM review r
                   LEFT JOIN key_account a ON a.kam_id = r.employee_id
                   LEFT JOIN customer_contact c ON c.account_id = a.id
                   WHERE r.cycle_id = %s AND r.seq >= %s AND r.seq < %s
                   ORDER BY r.seq, c.id""",
                (inp.cycle_id, inp.seq_from, inp.seq_to),
            )
            seeds: dict[str, ReviewSeed] = {}
            for review_id, employee_id, reviewer_id, contact_id, account_id in await cur.fetchall():
                seed = seeds.setdefault(review_id, ReviewSeed(review_id, employee_id, reviewer_id, []))
                if contact_id is not None:
                    seed.contacts.append(ContactRef(contact_id, account_id))
            if newly_opened:
                tasks, invitations, audits = [], [], []
                for s in seeds.values():
                    for phase in due:  # each phase's tasks, by whom its definition says submits
                        assignees = PHASE_BY_KEY[phase].assignees
                        if assignees == "subject":
                            tasks.append((task_id_for(s.review_id, phase), inp.cycle_id, s.review_id, phase,
                                          "employee", s.employee_id, s.employee_id, due[phase]))
                        elif assignees == "reviewer" and s.reviewer_id:
                            tasks.append((task_id_for(s.review_id, phase), inp.cycle_id, s.review_id, phase,
                                          "employee", s.reviewer_id, s.employee_id, due[phase]))
                        elif assignees == "contacts":
                            for c in s.contacts:
                                task_id = task_id_for(s.review_id, phase, c.contact_id)
                                tasks.append((task_id, inp.cycle_id, s.review_id, phase, "contact",
                                              c.contact_id, s.employee_id, due[phase]))
                                invitations.append((task_id, inp.cycle_id, s.review_id, c.contact_id, c.account_id,
                                                    inp.opened_at, due[phase]))
                        elif assignees == "peers":  # first the KAM's nomination; the rest opens step by step
                            tasks.append((task_id_for(s.review_id, PEER_NOMINATION), inp.cycle_id, s.review_id,
                                          PEER_NOMINATION, "employee", s.employee_id, s.employee_id, due[phase]))
                    audits.append(audit_params(f"review.opened:{s.review_id}", "system", "review.opened", "review",
                                               s.review_id))
                await cur.executemany(
                    """INSERT INTO task (id, cycle_id, review_id, kind, assignee_type, assignee_id,
                                         subject_employee_id, due_at, status, extensions, reminders_sent)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', 0, 0) ON CONFLICT (id) DO NOTHING""",
                    tasks,
                )
                await cur.executemany(
                    """INSERT INTO survey_invitation (id, cycle_id, review_id, contact_id, account_id, status,
                                                      sent_at, expires_at)
                       VALUES (%s, %s, %s, %s, %s, 'sent', %s, %s) ON CONFLICT (id) DO NOTHING""",
                    invitations,
                )
                await cur.executemany(AUDIT_ROW, audits)
        return list(seeds.values())

    @activity.defn(name="record_submission")
    async def record_submission(self, rec: SubmissionRecord) -> None:
        """Persist one accepted human submission where its phase's definition says; the first write wins, so a retry
        changes nothing.

        One statement (answers, task, audit row): atomic without a transaction block, one round trip. A phase whose
        assignees are peers gets an audit row that says only that it was answered: no ratings and no digest (a digest
        of a few small ratings is easily reversed), so the audit log never shows who said what.
        """
        definition = PHASE_BY_KEY[rec.phase]
        answers, params = answer_insert(definition, rec)
        after: dict[str, Any] = {"status": "done"} | {f: getattr(rec, f) for f in definition.storage.audited}
        if definition.assignees != "peers":
            # The digest lets a repeat of this very submission, after the review closed, get its first receipt.
            after["digest"] = record_digest(rec)
        params |= audit_params(submitted_key(rec.task_id, rec.version), rec.actor_id, f"{rec.phase}.submitted", "task",
                               rec.task_id, {"status": "open"}, after)
        if rec.version > 1:
            await self._resubmission(rec, answers, params)
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                sql.SQL("WITH answers AS (") + answers + sql.SQL(f"""),
                         done AS (UPDATE task SET status = 'done', completed_at = %(at)s
                                  WHERE id = %(task)s AND status <> 'done'),
                         drafts AS (DELETE FROM task_draft WHERE task_id = %(task)s)
                    {AUDIT_INSERT} VALUES ({AUDIT_VALUES}) ON CONFLICT (event_key) DO NOTHING"""),
                params,
            )

    @activity.defn(name="record_peer_step")
    async def record_peer_step(self, rec: PeerStepRecord) -> None:
        """A nomination or an approval: the step's task done, the nominated (approved) peers stored, the next tasks
        opened (the reviewer's approval; each approved peer's form) and their owners told. Once, however retried."""
        task_id = task_id_for(rec.review_id, rec.step)
        batch = f"{rec.step}:{rec.review_id}"
        p = {"review": rec.review_id, "cycle": rec.cycle_id, "task": task_id, "at": rec.at, "by": rec.actor_id,
             "peers": rec.peer_ids, "due": rec.due_at}
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if rec.step == PEER_NOMINATION:
                await cur.execute(
                    """INSERT INTO peer_nomination (review_id, peer_id, nominated_by, nominated_at)
                       SELECT %(review)s, u.p, %(by)s, %(at)s FROM unnest(%(peers)s::text[]) AS u(p)
                       ON CONFLICT DO NOTHING""", p)
                kind = PEER_APPROVAL
                next_tasks = [(task_id_for(rec.review_id, PEER_APPROVAL), a) for a in rec.next_assignees if a]
            else:
                await cur.execute(
                    """UPDATE peer_nomination SET approved_by = %(by)s, approved_at = %(at)s
                       WHERE review_id = %(review)s AND peer_id = ANY(%(peers)s) AND approved_at IS NULL""", p)
                kind = PEER_FEEDBACK
                next_tasks = [(task_id_for(rec.review_id, PEER_FEEDBACK, a), a) for a in rec.next_assignees]
            await cur.execute("""UPDATE task SET status = 'done', completed_at = %(at)s
                                 WHERE id = %(task)s AND status = 'open'""", p)
            await cur.executemany(
                """INSERT INTO task (id, cycle_id, review_id, kind, assignee_type, assignee_id, subject_employee_id,
                                     due_at, status, extensions, reminders_sent)
                   SELECT %s, %s, %s, %s, 'employee', %s, r.employee_id, %s, 'open', 0, 0 FROM review r WHERE r.id = %s
                   ON CONFLICT (id) DO NOTHING""",
                [(t, rec.cycle_id, rec.review_id, kind, who, rec.due_at, rec.review_id) for t, who in next_tasks])
            await audit(cur, f"{rec.step}.submitted:{rec.review_id}", rec.actor_id, f"{rec.step}.submitted", "review",
                        rec.review_id, None, {"peers": rec.peer_ids})
            await cur.execute(
                """SELECT c.name, r.employee_id, e.name FROM review r JOIN review_cycle c ON c.id = r.cycle_id
                   JOIN employee e ON e.id = r.employee_id WHERE r.id = %(review)s""", p)
            cycle_name, employee_id, employee_name = await cur.fetchone()
            common = {"cycle_name": cycle_name, "phase": kind, "due": rec.due_at.isoformat(),
                      "link_path": task_link(rec.cycle_id, kind, employee_id), "employee_name": employee_name}
            await queue(cur, rec.cycle_id, batch, [Message(f"assigned:{t}", "task_assigned", "employee", who, common)
                                                  for t, who in next_tasks])
        await start_delivery(activity.client(), activity.info().task_queue, batch)

    async def _resubmission(self, rec: SubmissionRecord, answers: sql.Composable, params: dict) -> None:
        """A reopened task submitted again: the earlier version (kept in submission_version) is marked superseded,
        the live answer rows replaced, the task done at this version. A retry finds the task done and does nothing."""
        storage = PHASE_BY_KEY[rec.phase].storage
        if storage.replaced_by is None:
            raise ApplicationError(f"a {rec.phase} submission cannot be replaced", non_retryable=True)
        live = sql.SQL("DELETE FROM {table} WHERE {live}").format(table=sql.Identifier(storage.table),
                                                                  live=_live_rows(storage))
        params = params | {"version": rec.version}
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT status, version FROM task WHERE id = %(task)s FOR UPDATE", params)
            row = await cur.fetchone()
            if row is None or (row[0] == "done" and row[1] >= rec.version):
                return
            await cur.execute(live, params)
            await cur.execute(
                """UPDATE submission_version SET superseded_at = %(at)s
                   WHERE task_id = %(task)s AND version = %(version)s - 1 AND superseded_at IS NULL""", params)
            await cur.execute(
                sql.SQL("WITH answers AS (") + answers + sql.SQL(f"""),
                         done AS (UPDATE task SET status = 'done', completed_at = %(at)s, version = %(version)s
                                  WHERE id = %(task)s),
                         drafts AS (DELETE FROM task_draft WHERE task_id = %(task)s)
                    {AUDIT_INSERT} VALUES ({AUDIT_VALUES}) ON CONFLICT (event_key) DO NOTHING"""),
                params,
            )

    @activity.defn(name="reopen_task")
    async def reopen_task(self, rec: ReopenRecord) -> None:
        """HR reopened a submitted task: the submission as it is kept as a version, the task open again with its own
        deadline, the person told. Once each: a retry finds the version kept and the task at this version."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await write_reopen(cur, rec)
        # A retry after it was done: its message was queued then, its delivery is started again.
        await start_delivery(activity.client(), activity.info().task_queue, reopen_batch(rec))

    @activity.defn(name="record_phase_event")
    async def record_phase_event(self, ev: PhaseEvent) -> None:
        """A reminder, an extension or a closing: tasks updated and the messages queued, once each."""
        task_ids = [r.task_id for r in ev.recipients]
        batch = f"phase:{ev.review_id}:{ev.phase}:{ev.event}:{ev.number}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """SELECT c.name, e.name, r.employee_id, r.reviewer_id, m.manager_id,
                          (SELECT min(due_at) FROM task WHERE id = ANY(%s))
                   FROM review r JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
                   LEFT JOIN employee m ON m.id = r.reviewer_id WHERE r.id = %s""", (task_ids, ev.review_id))
            cycle_name, subject_name, employee_id, reviewer_id, reviewers_manager, due_before = await cur.fetchone()
            common = {"cycle_name": cycle_name, "phase": ev.phase}
            link = {"link_path": task_link(ev.cycle_id, ev.phase, employee_id)}
            anonymous = PHASE_BY_KEY[ev.phase].assignees == "peers"

            def told(kind: str, key: str, r: Recipient, **extra: object) -> Message:
                return Message(key, kind, r.kind, r.id, common | task_params(
                    ev.cycle_id, ev.phase, r.task_id, r.kind, employee_id, subject_name) | extra)

            messages: list[Message] = []
            if ev.event == "reminder":
                await cur.execute(
                    "UPDATE task SET reminders_sent = GREATEST(reminders_sent, %s) WHERE id = ANY(%s)",
                    (ev.number, task_ids),
                )
                messages = [told("reminder", f"reminder:{r.task_id}:{ev.number}", r, due=ev.due_at.isoformat())
                            for r in ev.recipients]
            elif ev.event == "extended":
                await cur.execute(
                    "UPDATE task SET due_at = %s, extensions = %s WHERE id = ANY(%s) AND status = 'open'",
                    (ev.due_at, ev.number, task_ids),
                )
                missed = (due_before or ev.due_at).isoformat()
                messages = [told("deadline_extended", f"extended:{r.task_id}:{ev.number}", r, due=ev.due_at.isoformat(),
                                 missed_due=missed) for r in ev.recipients]
                if ev.recipients and not anonymous:
                    messages.append(await self._escalation(
                        cur, ev, common, reviewer_id, reviewers_manager, employee_id, "extended", missed,
                        key=f"escalation:{ev.review_id}:{ev.phase}:extended:{ev.number}", due=ev.due_at.isoformat()))
            else:
                # A reopened task not submitted again closes with its earlier submission (it still counts); the
                # rest is missed. One statement, as before reopening existed.
                await cur.execute(
                    """WITH kept AS (UPDATE task t SET status = 'done', completed_at = v.submitted_at
                                     FROM submission_version v
                                     WHERE t.id = ANY(%(ids)s) AND t.status = 'open' AND v.task_id = t.id
                                       AND v.version = t.version - 1 RETURNING t.id),
                            missed AS (UPDATE task SET status = 'missed'
                                       WHERE id = ANY(%(ids)s) AND status = 'open' AND id NOT IN (SELECT id FROM kept))
                       SELECT id FROM kept""", {"ids": task_ids})
                kept = {r[0] for r in await cur.fetchall()}
                if kept:
                    await cur.execute("UPDATE survey_invitation SET status = 'answered' WHERE id = ANY(%s)",
                                      (list(kept),))
                    ev = dataclasses.replace(ev, recipients=[r for r in ev.recipients if r.task_id not in kept])
                    task_ids = [r.task_id for r in ev.recipients]
                await cur.execute("DELETE FROM task_draft WHERE task_id = ANY(%s)", (task_ids,))  # the phase closed
                await cur.execute(
                    "UPDATE survey_invitation SET status = 'expired' WHERE id = ANY(%s) AND status = 'sent'",
                    (task_ids,),
                )
                # The late person learns it closed (a customer is not told off); someone above them learns who missed it.
                missed = ev.due_at.isoformat()
                messages = [Message(f"missed:{r.task_id}", "deadline_missed", r.kind, r.id,
                                    common | link | {"missed_due": missed})
                            for r in ev.recipients if r.kind == "employee"]
                if ev.recipients and not anonymous:
                    messages.append(await self._escalation(cur, ev, common, reviewer_id, reviewers_manager,
                                                           employee_id, "closed", missed,
                                                           key=f"escalation:{ev.review_id}:{ev.phase}"))
            queued = await queue(cur, ev.cycle_id, batch, messages)
            # Peers who have not answered are never named above them (that would say who did): a count only.
            outstanding: object = len(ev.recipients) if anonymous else [r.id for r in ev.recipients]
            await audit(cur, f"phase.{ev.event}:{ev.review_id}:{ev.phase}:{ev.number}", "system",
                        f"{ev.phase}.{ev.event}", "review", ev.review_id, None,
                        {"due_at": ev.due_at, "outstanding": outstanding})
        if queued or messages:
            await start_delivery(activity.client(), activity.info().task_queue, batch)

    @staticmethod
    async def _escalation(cur: Any, ev: PhaseEvent, common: dict[str, Any], reviewer_id: str | None,
                          reviewers_manager: str | None, employee_id: str, outcome: str, missed: str, key: str,
                          **extra: Any) -> Message:
        """Someone above the late people hears who missed what, and whether it was extended or closed."""
        to_type, to_id = escalation_to(ev.phase, reviewer_id, reviewers_manager)
        await cur.execute(
            """SELECT string_agg(COALESCE(e.name, c.name, x.id), '、' ORDER BY x.id)
               FROM unnest(%s::text[]) AS x(id) LEFT JOIN employee e ON e.id = x.id
               LEFT JOIN customer_contact c ON c.id = x.id""", ([r.id for r in ev.recipients],))
        (late_names,) = await cur.fetchone()
        return Message(key, "escalation", to_type, to_id, common | extra | {
            "late_name": late_names, "missed_due": missed, "outcome": outcome,
            "link_path": f"/hr/cycles/{ev.cycle_id}" if to_type == "role" else
            f"/manager/reviews/{ev.cycle_id}/{employee_id}"})

    @activity.defn(name="reassign_reviewer")
    async def reassign_reviewer(self, rec: ReassignRecord) -> None:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT role FROM employee WHERE id = %s", (rec.new_reviewer_id,))
            row = await cur.fetchone()
            if row is None:
                raise rejected(tr("employee %(employee)s does not exist", employee=rec.new_reviewer_id))
            if row[0] != "manager":  # a KAM or payroll as reviewer would leave the review a dead end
                raise rejected(tr("%(employee)s cannot score reviews (role %(role)s); choose a manager",
                                   employee=rec.new_reviewer_id, role=row[0]))
            await cur.execute("UPDATE review SET reviewer_id = %s WHERE id = %s", (rec.new_reviewer_id, rec.review_id))
            await cur.execute(  # the score, and a peer nomination awaiting the reviewer's approval
                """UPDATE task SET assignee_id = %s WHERE id = ANY(%s) AND status = 'open'""",
                (rec.new_reviewer_id, [task_id_for(rec.review_id, MANAGER_SCORING),
                                       task_id_for(rec.review_id, PEER_APPROVAL)]),
            )
            # The previous reviewer's draft is theirs alone: it leaves with them (the new reviewer never sees it).
            await cur.execute("DELETE FROM task_draft WHERE task_id = %s AND author_id <> %s",
                              (task_id_for(rec.review_id, MANAGER_SCORING), rec.new_reviewer_id))
            await audit(cur, f"review.reassigned:{rec.review_id}:{rec.at.isoformat()}", rec.actor_id,
                        "review.reviewer_reassigned", "review", rec.review_id,
                        {"reviewer_id": rec.previous_reviewer_id},
                        {"reviewer_id": rec.new_reviewer_id, "reason": rec.reason})
            await cur.execute(
                """SELECT c.id, c.name, e.id, e.name, t.due_at, n.name, o.name FROM review r
                   JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
                   JOIN employee n ON n.id = %s LEFT JOIN employee o ON o.id = %s
                   LEFT JOIN task t ON t.id = %s WHERE r.id = %s""",
                (rec.new_reviewer_id, rec.previous_reviewer_id, task_id_for(rec.review_id, MANAGER_SCORING),
                 rec.review_id))
            cycle_id, cycle_name, employee_id, subject_name, due, new_name, old_name = await cur.fetchone()
            common = {"cycle_name": cycle_name, "phase": MANAGER_SCORING, "employee_name": subject_name}
            at = rec.at.isoformat()
            batch = f"reassign:{rec.review_id}:{at}"
            assigned = common | {"due": due.isoformat(), "link_path": task_link(cycle_id, MANAGER_SCORING, employee_id)}
            messages = [Message(f"reviewer-assigned:{rec.review_id}:{at}", "reviewer_assigned", "employee",
                                rec.new_reviewer_id, assigned | ({"previous_reviewer": old_name} if old_name else {}))]
            if rec.previous_reviewer_id:
                messages.append(Message(f"reviewer-unassigned:{rec.review_id}:{at}", "reviewer_unassigned", "employee",
                                        rec.previous_reviewer_id,
                                        common | {"new_reviewer": new_name, "link_path": "/manager"}))
            await queue(cur, cycle_id, batch, messages)
        await start_delivery(activity.client(), activity.info().task_queue, batch)

    # -- org changes reaching a running cycle (docs/org-changes.md) ------------------------------------

    @activity.defn(name="add_review")
    async def add_review(self, inp: AddReviewInput) -> bool:
        """A joiner's review in a running cycle: the row (next seq), its tasks and invitations, its workflow, and
        the messages everyone gets when a cycle starts. True when the review is new; a retry adds nothing."""
        review_id = f"{inp.cycle_id}:{inp.employee_id}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT status FROM review_cycle WHERE id = %s FOR UPDATE", (inp.cycle_id,))
            (status,) = await cur.fetchone()
            await cur.execute("SELECT seq, status FROM review WHERE id = %s", (review_id,))
            existing = await cur.fetchone()
            if existing is None and status != "running":
                raise rejected(tr("cycle %(cycle)s is not running; %(employee)s was not added", cycle=inp.cycle_id,
                                  employee=inp.employee_id), conflict=True)
            if existing is None:
                await cur.execute(
                    """INSERT INTO review (id, cycle_id, employee_id, reviewer_id, seq, status)
                       SELECT %s, %s, %s, %s, COALESCE(max(seq), -1) + 1, 'pending' FROM review WHERE cycle_id = %s
                       RETURNING seq""",
                    (review_id, inp.cycle_id, inp.employee_id, inp.reviewer_id, inp.cycle_id))
                (seq,) = await cur.fetchone()
                await cur.execute("UPDATE review_cycle SET participant_count = participant_count + 1 WHERE id = %s",
                                  (inp.cycle_id,))
                await audit(cur, f"review.joined:{review_id}", inp.actor_id, "review.joined", "review", review_id,
                            None, {"employee_id": inp.employee_id, "reviewer_id": inp.reviewer_id, "seq": seq})
            else:
                seq = existing[0]
        batch = StartBatchInput(inp.cycle_id, -1, seq, seq + 1, inp.rules, inp.phases, inp.opened_at,
                                search_attributes=inp.search_attributes)
        seeds = await self._open_reviews(batch)
        await self._start_reviews(batch, seeds)
        await self._announce_review(inp.cycle_id, review_id)
        return existing is None

    async def _announce_review(self, cycle_id: str, review_id: str) -> None:
        """A joiner's review opened: the joiner their self-review, the manager the score, each contact the survey."""
        batch = f"joined:{review_id}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """SELECT t.kind, t.id, t.assignee_type, t.assignee_id, t.due_at, r.employee_id, e.name, a.name,
                          c.name
                   FROM task t JOIN review r ON r.id = t.review_id JOIN employee e ON e.id = r.employee_id
                   JOIN review_cycle c ON c.id = r.cycle_id
                   LEFT JOIN survey_invitation i ON i.id = t.id LEFT JOIN key_account a ON a.id = i.account_id
                   WHERE t.review_id = %s AND t.status = 'open' ORDER BY t.id""", (review_id,))
            messages = []
            for kind, task_id, assignee_type, assignee, due, employee_id, name, account, cycle_name in \
                    await cur.fetchall():
                common = {"cycle_name": cycle_name, "phase": kind, "due": due.isoformat()}
                if assignee_type == "contact":
                    messages.append(Message(f"invited:{task_id}", "survey_invitation", "contact", assignee,
                                            common | {"kam_name": name, "account_name": account,
                                                      "survey_invitation_id": task_id}))
                elif kind == MANAGER_SCORING:
                    messages.append(Message(f"reviewer-assigned:{review_id}:joined", "reviewer_assigned", "employee",
                                            assignee, common | {"employee_name": name,
                                                                "link_path": task_link(cycle_id, kind, employee_id)}))
                else:  # any other employee's task (a self-review, a peer nomination, a phase defined later)
                    messages.append(Message(f"assigned:{task_id}", "task_assigned", "employee", assignee,
                                            common | {"link_path": task_link(cycle_id, kind, employee_id)}))
            await queue(cur, cycle_id, batch, messages)
        await start_delivery(activity.client(), activity.info().task_queue, batch)

    @activity.defn(name="end_review")
    async def end_review(self, rec: EndReviewRecord) -> None:
        """A leaver's open tasks end (cancelled), unanswered invitations expire with their links; the reviewer is
        told the review closes with what was submitted. Once, however often retried."""
        batch = f"ended:{rec.review_id}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """UPDATE task SET status = 'cancelled' WHERE review_id = %s AND status = 'open' RETURNING id, kind""",
                (rec.review_id,))
            ended = await cur.fetchall()
            await cur.execute("DELETE FROM task_draft d USING task t WHERE t.id = d.task_id AND t.review_id = %s",
                              (rec.review_id,))
            await cur.execute("UPDATE survey_invitation SET status = 'expired' WHERE review_id = %s AND status = 'sent'",
                              (rec.review_id,))
            await cur.execute(
                """UPDATE survey_link l SET revoked_at = now() FROM survey_invitation i
                   WHERE l.invitation_id = i.id AND i.review_id = %s AND l.used_at IS NULL AND l.revoked_at IS NULL""",
                (rec.review_id,))
            await audit(cur, f"review.ended:{rec.review_id}", rec.actor_id, "review.ended", "review", rec.review_id,
                        {"status": "open"}, {"left_on": rec.left_on, "reason": rec.reason,
                                             "tasks_ended": sorted(t for t, _ in ended)})
            await cur.execute(
                """SELECT c.name, r.employee_id, e.name, r.reviewer_id FROM review r
                   JOIN review_cycle c ON c.id = r.cycle_id JOIN employee e ON e.id = r.employee_id
                   WHERE r.id = %s""", (rec.review_id,))
            cycle_name, employee_id, name, reviewer = await cur.fetchone()
            messages = []
            if reviewer:
                messages.append(Message(f"review-ended:{rec.review_id}", "review_ended", "employee", reviewer,
                                        {"cycle_name": cycle_name, "employee_name": name, "left_on": rec.left_on,
                                         "scoring_ended": any(k == MANAGER_SCORING for _, k in ended),
                                         "link_path": "/manager"}))
            queued = await queue(cur, rec.cycle_id, batch, messages)
        if queued:
            await start_delivery(activity.client(), activity.info().task_queue, batch)

    @activity.defn(name="withdraw_invitations")
    async def withdraw_invitations(self, rec: SurveyMoveRecord) -> None:
        """The account moved away: these contacts' unanswered invitations in this review end, with their links."""
        ids = [task_id_for(rec.review_id, CUSTOMER_SURVEY, c) for c in rec.contact_ids]
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("UPDATE task SET status = 'cancelled' WHERE id = ANY(%s) AND status = 'open'", (ids,))
            await cur.execute("UPDATE survey_invitation SET status = 'expired' WHERE id = ANY(%s) AND status = 'sent'",
                              (ids,))
            await cur.execute(
                """UPDATE survey_link SET revoked_at = now()
                   WHERE invitation_id = ANY(%s) AND used_at IS NULL AND revoked_at IS NULL""", (ids,))
            await audit(cur, f"survey.withdrawn:{rec.review_id}:{rec.account_id}:{rec.at.isoformat()}", rec.actor_id,
                        "survey.withdrawn", "review", rec.review_id, {"invitations": ids},
                        {"account_id": rec.account_id, "to_employee_id": rec.other_employee_id})

    @activity.defn(name="add_invitations")
    async def add_invitations(self, rec: SurveyMoveRecord) -> None:
        """The account moved here: a survey task and invitation per contact in this review, and each contact
        invited to rate the new KAM (a fresh personal link at send time). Once, however often retried."""
        batch = f"survey-moved:{rec.review_id}:{rec.account_id}:{rec.at.isoformat()}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """SELECT r.employee_id, e.name, c.name, a.name FROM review r JOIN employee e ON e.id = r.employee_id
                   JOIN review_cycle c ON c.id = r.cycle_id JOIN key_account a ON a.id = %s WHERE r.id = %s""",
                (rec.account_id, rec.review_id))
            employee_id, kam_name, cycle_name, account_name = await cur.fetchone()
            due = rec.due_at
            assert due is not None
            ids = [task_id_for(rec.review_id, CUSTOMER_SURVEY, c) for c in rec.contact_ids]
            await cur.executemany(
                """INSERT INTO task (id, cycle_id, review_id, kind, assignee_type, assignee_id, subject_employee_id,
                                     due_at, status, extensions, reminders_sent)
                   VALUES (%s, %s, %s, %s, 'contact', %s, %s, %s, 'open', 0, 0)
                   ON CONFLICT (id) DO UPDATE SET status = 'open', due_at = excluded.due_at
                   WHERE task.status = 'cancelled'""",
                [(t, rec.cycle_id, rec.review_id, CUSTOMER_SURVEY, c, employee_id, due)
                 for t, c in zip(ids, rec.contact_ids, strict=True)])
            # An invitation that moved away earlier (A -> B -> A) comes back to life rather than colliding.
            await cur.executemany(
                """INSERT INTO survey_invitation (id, cycle_id, review_id, contact_id, account_id, status, sent_at,
                                                  expires_at)
                   VALUES (%s, %s, %s, %s, %s, 'sent', %s, %s)
                   ON CONFLICT (id) DO UPDATE SET status = 'sent', sent_at = excluded.sent_at,
                                                  expires_at = excluded.expires_at
                   WHERE survey_invitation.status = 'expired'""",
                [(t, rec.cycle_id, rec.review_id, c, rec.account_id, rec.at, due)
                 for t, c in zip(ids, rec.contact_ids, strict=True)])
            await audit(cur, f"survey.moved_in:{rec.review_id}:{rec.account_id}:{rec.at.isoformat()}", rec.actor_id,
                        "survey.moved_in", "review", rec.review_id, {"from_employee_id": rec.other_employee_id},
                        {"account_id": rec.account_id, "invitations": ids})
            common = {"cycle_name": cycle_name, "phase": CUSTOMER_SURVEY, "due": due.isoformat(),
                      "kam_name": kam_name, "account_name": account_name}
            messages = [Message(f"invited:{t}:{rec.at.isoformat()}", "survey_invitation", "contact", c,
                                common | {"survey_invitation_id": t}) for t, c in zip(ids, rec.contact_ids, strict=True)]
            await queue(cur, rec.cycle_id, batch, messages)
        await start_delivery(activity.client(), activity.info().task_queue, batch)

    @activity.defn(name="close_review")
    async def close_review(self, inp: CloseReviewInput) -> ReviewResult:
        """Compute and store the preliminary score from what was submitted; the first close wins.

        One query reads the review with all its inputs, one statement writes the close (review,
        leftover tasks, audit row): two round trips, no transaction block. Every submission is in
        before a review closes, so nothing the score reads can change in between.
        """
        async with self.pool.connection() as conn:
            config = await self.cycle_config(conn, inp.cycle_id)
            status, stored_score, stored_missing, result = await score_review(conn, config, inp.review_id)
            if status == "closed":
                return _stored_result(inp.review_id, stored_score, stored_missing)
            missing = sorted(set(inp.missing) | set(result.missing))
            params = {"review": inp.review_id, "at": inp.closed_at, "score": result.score,
                      "breakdown": jsonb(result.model_dump(mode="json")), "missing": jsonb(missing)}
            params |= audit_params(f"review.closed:{inp.review_id}", "system", "review.closed", "review",
                                   inp.review_id, {"status": status},
                                   {"status": "closed", "preliminary_score": result.score, "missing": missing})
            closed = await (await conn.execute(
                f"""WITH closed AS (UPDATE review SET status = 'closed', closed_at = %(at)s,
                                           preliminary_score = %(score)s, score_breakdown = %(breakdown)s,
                                           missing = %(missing)s
                                    WHERE id = %(review)s AND status <> 'closed' RETURNING id),
                         missed AS (UPDATE task SET status = 'missed'
                                    WHERE review_id = %(review)s AND status = 'open' AND EXISTS (SELECT FROM closed)),
                         drafts AS (DELETE FROM task_draft d USING task t
                                    WHERE t.id = d.task_id AND t.review_id = %(review)s),
                         audited AS ({AUDIT_INSERT} SELECT {AUDIT_VALUES} FROM closed
                                     ON CONFLICT (event_key) DO NOTHING)
                    SELECT count(*) FROM closed""",
                params,
            )).fetchone()
            if not closed[0]:  # a concurrent attempt closed it first: report what it stored
                stored = await (await conn.execute(
                    "SELECT preliminary_score, missing FROM review WHERE id = %s", (inp.review_id,))).fetchone()
                return _stored_result(inp.review_id, *stored)
        return ReviewResult(inp.review_id, None if result.score is None else str(result.score), missing)


# What a kept version of a submission shows, per stored value (submission_version.content).
_KEPT = ("item", "rating", "comment", "satisfaction", "nps")


def kept_content(definition: PhaseDefinition) -> sql.Composed:
    """The SELECT of a task's live answers as JSON, from the phase's storage: per item a list of {item, rating,
    comment} by item, else the one answer's fields. Kept as the earlier version when HR reopens the task."""
    storage = definition.storage
    if storage is None or storage.replaced_by is None:
        raise ApplicationError(f"a {definition.key} submission cannot be reopened", non_retryable=True)
    fields = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(source), sql.Identifier(column))
                                for column, source in storage.columns if source in _KEPT)
    item = storage.column_of("item")
    order = sql.SQL(" ORDER BY {}").format(sql.Identifier(item)) if storage.per_item and item else sql.SQL("")
    return sql.SQL("SELECT COALESCE(json_agg(json_build_object({fields}){order}), '[]') FROM {table} "
                   "WHERE {live}").format(fields=fields, order=order, table=sql.Identifier(storage.table),
                                          live=_live_rows(storage))


def reopen_batch(rec: ReopenRecord) -> str:
    """The outbox batch of a reopen's message (one per task and version)."""
    return f"reopen:{rec.task_id}:{rec.version}"


async def write_reopen(cur: Any, rec: ReopenRecord) -> bool:
    """A reopen in the caller's transaction: the submission as it is kept as a version, the task open again at the next
    version with its own deadline, the audit row and the person's message queued (its delivery is the caller's, after
    the commit). False when this version was reopened already (a retry): nothing is written."""
    content = kept_content(PHASE_BY_KEY[rec.phase])
    p = {"review": rec.review_id, "task": rec.task_id, "version": rec.version, "by": rec.actor_id,
         "at": rec.at, "reason": rec.reason, "due": rec.due_at, "phase": rec.phase}
    batch = reopen_batch(rec)
    await cur.execute(
        sql.SQL("""INSERT INTO submission_version (task_id, version, review_id, phase, submitted_by, submitted_at,
                                            content, reopened_by, reopened_at, reason, due_at)
            SELECT t.id, %(version)s - 1, %(review)s, %(phase)s,
                   (SELECT a.actor FROM audit_log a WHERE a.event_key = CASE WHEN t.version > 1
                        THEN 'task.submitted:' || t.id || ':v' || t.version ELSE 'task.submitted:' || t.id END),
                   t.completed_at, ({content}), %(by)s, %(at)s, %(reason)s, %(due)s
            FROM task t WHERE t.id = %(task)s
            ON CONFLICT DO NOTHING""").format(content=content), p)
    await cur.execute(
        """UPDATE task SET status = 'open', due_at = %(due)s, completed_at = NULL, version = %(version)s,
                           reminders_sent = 0
           WHERE id = %(task)s AND version < %(version)s
           RETURNING assignee_type, assignee_id""", p)
    reopened = await cur.fetchone()
    if reopened is None:
        return False
    await cur.execute(
        """UPDATE survey_invitation SET status = 'sent', expires_at = GREATEST(expires_at, %(due)s)
           WHERE id = %(task)s""", p)
    await audit(cur, f"task.reopened:{rec.task_id}:{rec.version}", rec.actor_id, f"{rec.phase}.reopened",
                "task", rec.task_id, {"status": "done", "version": rec.version - 1},
                {"status": "open", "version": rec.version, "reason": rec.reason, "due_at": rec.due_at})
    await cur.execute(
        """SELECT c.name, e.id, e.name FROM review r JOIN review_cycle c ON c.id = r.cycle_id
           JOIN employee e ON e.id = r.employee_id WHERE r.id = %(review)s""", p)
    cycle_name, employee_id, employee_name = await cur.fetchone()
    kind, who = reopened
    params = {"cycle_name": cycle_name, "phase": rec.phase, "employee_name": employee_name,
              "reason": rec.reason, "due": rec.due_at.isoformat()} | task_params(
        rec.cycle_id, rec.phase, rec.task_id, kind, employee_id, employee_name)
    await queue(cur, rec.cycle_id, batch, [Message(batch, "task_reopened", kind, who, params)])
    return True


def item_ratings(definition: PhaseDefinition) -> sql.Composed:
    """The SELECT of one review's ratings per item (``{item: rating}``) from a per-item phase's storage, for the score:
    items without a rating (comments only) and the definition's extra items (a manager's potential) left out.
    Correlated to ``r``, the review of the enclosing query."""
    storage = definition.storage
    item, rating, review, left_out = _rated_items(storage)
    assert storage is not None
    return sql.SQL("SELECT COALESCE(json_object_agg({item}, {rating}), '{{}}') FROM {table} "
                   "WHERE {review} = r.id AND {rating} IS NOT NULL{left_out}").format(
        item=item, rating=rating, table=sql.Identifier(storage.table), review=review, left_out=left_out)


async def score_review(conn: AsyncConnection, config: CycleConfig,
                       review_id: str) -> tuple[str, Decimal | None, list[str] | None, ScoreResult]:
    """The review's preliminary score from what is stored now (one query), with its status, stored score and missing
    list: the close computes it once, a reopen of a closed review (activities/reopened.py) again."""
    row = await (await conn.execute(
        sql.SQL("""SELECT r.employee_id, r.status, r.preliminary_score, r.missing,
                  (SELECT COALESCE(json_agg(json_build_array(k.kpi_id, k.value::text)), '[]')
                   FROM kpi_actual k WHERE k.employee_id = r.employee_id AND k.period = %(period)s),
                  ({self_ratings}), ({manager_ratings}),
                  (SELECT COALESCE(json_agg(json_build_array(i.account_id, s.satisfaction, s.nps,
                                                             a.annual_revenue::text) ORDER BY i.id), '[]')
                   FROM survey_response s JOIN survey_invitation i ON i.id = s.invitation_id
                   JOIN key_account a ON a.id = i.account_id WHERE i.review_id = r.id)
           FROM review r WHERE r.id = %(review)s""").format(
            self_ratings=item_ratings(PHASE_BY_KEY[SELF_REVIEW]),
            manager_ratings=item_ratings(PHASE_BY_KEY[MANAGER_SCORING])),
        {"review": review_id, "period": config.period.label},
    )).fetchone()
    employee_id, status, stored_score, stored_missing, kpis, self_ratings, manager_ratings, survey = row
    scored = {k.id for k in config.scorecard.kpis}  # e.g. revenue feeds commission, not the score
    inputs = ReviewInputs(
        kpi_actuals={k: Decimal(v) for k, v in kpis if k in scored},
        self_ratings=self_ratings,
        manager_ratings=manager_ratings,
        survey=[SurveyAnswer(account_id=a, satisfaction=sat, nps=nps,
                             account_revenue=None if rev is None else Decimal(rev))
                for a, sat, nps, rev in survey],
    )
    if (config.scorecard.component_weights.goals or 0) > 0:
        inputs = inputs.model_copy(update={"goals": await approved_goals(conn, employee_id, config.period.label)})
    if (config.scorecard.component_weights.peer_feedback or 0) > 0:
        inputs = inputs.model_copy(update={"peer_feedback": await peer_aggregate(conn, config, review_id)})
    if weighed := config.scorecard.component_weights.phases:
        inputs = inputs.model_copy(update={"phase_answers": {
            key: await phase_answers(conn, PHASE_BY_KEY[key], review_id) for key in weighed if key in PHASE_BY_KEY}})
    return status, stored_score, stored_missing, preliminary_score(config.scorecard, inputs)


async def phase_answers(conn: AsyncConnection, definition: PhaseDefinition,
                        review_id: str) -> tuple[dict[str, int], ...]:
    """A scored registry-only phase's answer sets for one review (one per task: per person, or the review's one), read
    through its Storage; only when the scorecard weighs the phase."""
    storage = definition.storage
    item, rating, review, left_out = _rated_items(storage)
    assert storage is not None
    group = sql.Identifier(storage.column_of("task") or storage.column_of("review") or "")
    rows = await (await conn.execute(sql.SQL(
        "SELECT json_object_agg({item}, {rating}) FROM {table} WHERE {review} = %s AND {rating} IS NOT NULL{left_out} "
        "GROUP BY {group} ORDER BY {group}").format(item=item, rating=rating, table=sql.Identifier(storage.table),
                                                   review=review, left_out=left_out, group=group),
        (review_id,))).fetchall()
    return tuple(r[0] for r in rows)


def answer_sets(definition: PhaseDefinition) -> sql.Composed:
    """The SELECT of one review's stored answers (``%s``: its id) from a per-item phase's storage, a row per item:
    who answered, when, the item, its rating and comment (NULL for what the storage does not keep), grouped by task
    (per person) or by review, items in order; the definition's extra items left out. What HR reads of a phase."""
    storage = definition.storage
    item, rating, review, left_out = _rated_items(storage)
    assert storage is not None

    def col(source: Source) -> sql.Composable:
        column = storage.column_of(source)
        return sql.Identifier(column) if column else sql.SQL("NULL")

    group = col("task") if storage.column_of("task") else review
    return sql.SQL("SELECT {group}, {actor}, {at}, {item}, {rating}, {comment} FROM {table} WHERE {review} = %s{left_out} "
                   "ORDER BY {group}, {item}").format(
        group=group, actor=col("actor"), at=col("at"), item=item, rating=rating, comment=col("comment"),
        table=sql.Identifier(storage.table), review=review, left_out=left_out)


async def approved_goals(conn: AsyncConnection, employee_id: str, period: str) -> tuple[ObjectiveProgress, ...]:
    """The KAM's approved goals for the period, each key result at its linked KPI actual, else its latest check-in.

    Read only when the scorecard weighs goals, so a cycle without them reads exactly what it read before.
    """
    rows = await (await conn.execute(
        """SELECT o.id, o.title, o.weight, k.id, k.metric, k.start_value, k.target_value, k.weight, k.kpi_id,
                  a.value, (SELECT c.value FROM goal_check_in c WHERE c.key_result_id = k.id
                            ORDER BY c.at DESC, c.id DESC LIMIT 1)
           FROM goal_plan p JOIN goal_objective o ON o.plan_id = p.id JOIN goal_key_result k ON k.objective_id = o.id
           LEFT JOIN kpi_actual a ON a.employee_id = p.employee_id AND a.period = p.period AND a.kpi_id = k.kpi_id
           WHERE p.employee_id = %s AND p.period = %s AND p.status = 'approved' ORDER BY o.id, k.id""",
        (employee_id, period))).fetchall()
    objectives: dict[int, tuple[str, Decimal, list[KeyResultProgress]]] = {}
    for oid, title, o_weight, kid, metric, start, target, k_weight, kpi_id, actual, checked in rows:
        current, source = ((actual, f"kpi {kpi_id}") if actual is not None
                           else (checked, "check-in") if checked is not None else (None, "no progress yet"))
        objectives.setdefault(oid, (title, o_weight, []))[2].append(
            KeyResultProgress(str(kid), metric, start, target, current, k_weight, source))
    return tuple(ObjectiveProgress(str(oid), title, tuple(krs), weight)
                 for oid, (title, weight, krs) in objectives.items())


async def peer_aggregate(conn: AsyncConnection, config: CycleConfig, review_id: str) -> PeerAggregate | None:
    """A review's peer feedback as it may be shown (domain/peers.py decides the threshold); None without a peer phase.

    The one reader of peer_feedback_answer: answer sets are read without their task (who gave them), as a list.
    """
    peers = config.peer_feedback
    if peers is None:
        return None
    rows = await (await conn.execute(
        """SELECT json_object_agg(question_id, rating) FROM peer_feedback_answer WHERE review_id = %s
           GROUP BY task_id""", (review_id,))).fetchall()
    return aggregate([r[0] for r in rows], peers.question_ids, peers.min_answers, (peers.scale_min, peers.scale_max))


async def _cancel_workflows(workflow_ids: list[str]) -> None:
    """Request cancellation of these workflows through the activity's client; ended or unknown ones are skipped."""
    client = activity.client()
    gate = asyncio.Semaphore(CANCEL_CONCURRENCY)

    async def cancel(handle: WorkflowHandle) -> None:
        async with gate:
            try:
                await handle.cancel()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: never started, or ended already
                    raise
            activity.heartbeat()

    await asyncio.gather(*(cancel(client.get_workflow_handle(w)) for w in workflow_ids))


def _stored_result(review_id: str, score: Decimal | None, missing: list[str] | None) -> ReviewResult:
    return ReviewResult(review_id, None if score is None else str(score), list(missing or []))
