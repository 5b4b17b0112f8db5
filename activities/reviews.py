"""Activities of the review phase: open reviews, persist submissions, reminders, close and score."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.base import DbActivities, audit, jsonb, rejected
from domain.cycle import resolve_due
from domain.scoring import ReviewInputs, SurveyAnswer, preliminary_score
from workflows.common import REVIEWS_STILL_OPEN, WAIT_ROUND
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    PHASES,
    SELF_REVIEW,
    BeginCycleInput,
    CloseReviewInput,
    ContactRef,
    CyclePlan,
    PhaseEvent,
    PhasePlan,
    ReassignRecord,
    ReviewInput,
    ReviewResult,
    ReviewRules,
    ReviewsClosed,
    ReviewSeed,
    StartBatchInput,
    SubmissionRecord,
    review_workflow_id,
    task_id_for,
)
from workflows.review import ReviewWorkflow

PHASE_LABEL = {SELF_REVIEW: "self-review", MANAGER_SCORING: "manager scoring", CUSTOMER_SURVEY: "customer survey"}

# Review workflows started (or cancelled) at once by one batch: enough to keep the server busy,
# few enough not to queue thousands of RPCs on the worker's one event loop.
START_CONCURRENCY = 32
# Polling for closed reviews: fast while they are closing, slower while nothing changes.
POLL_MIN_S, POLL_MAX_S = 0.2, 5.0


class ReviewActivities(DbActivities):
    @activity.defn(name="begin_cycle")
    async def begin_cycle(self, inp: BeginCycleInput) -> CyclePlan:
        """Mark the cycle running and resolve its deadlines against the first recorded start."""
        async with self.pool.connection() as conn, conn.cursor() as cur:
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
        phases = []
        for name in PHASES:
            phase = getattr(config.phases, name)
            policy = phase.on_deadline
            phases.append(PhasePlan(
                phase=name,
                due_at=resolve_due(phase, started_at),
                reminders_before_s=[r.total_seconds() for r in phase.reminders_before],
                on_deadline=policy.action,
                extend_by_s=policy.extend_by.total_seconds() if policy.extend_by else 0.0,
                max_extensions=policy.max_extensions if policy.action == "extend" else 0,
            ))
        card = config.scorecard
        comp = card.competencies
        return CyclePlan(
            cycle_id=inp.cycle_id,
            participant_count=participants,
            batch_size=config.batch_size,
            rules=ReviewRules(
                competency_ids=[c.id for c in comp.items] if comp else [],
                competency_min=comp.scale.min if comp else 1,
                competency_max=comp.scale.max if comp else 3,
                kpi_ids=[k.id for k in card.kpis],
            ),
            phases=phases,
            rating_levels=sorted(level.level for level in config.calibration.levels),
            enforce_guideline=config.calibration.enforce,
        )

    @activity.defn(name="start_review_batch")
    async def start_review_batch(self, inp: StartBatchInput) -> int:
        """Open one batch of reviews in PostgreSQL, then start their workflows; a retry starts none twice."""
        seeds = await self._open_reviews(inp)
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
                    )
                except WorkflowAlreadyStartedError:
                    pass
                activity.heartbeat()

        await asyncio.gather(*(start(seed) for seed in seeds))
        return len(seeds)

    @activity.defn(name="await_reviews_closed")
    async def await_reviews_closed(self, cycle_id: str) -> ReviewsClosed:
        """Return once every review of the cycle has closed; each review records its close in PostgreSQL."""
        give_up_at = time.monotonic() + WAIT_ROUND.total_seconds()
        interval, last_closed = POLL_MIN_S, -1
        while True:
            async with self.pool.connection() as conn:
                total, closed, scored, with_missing = await (await conn.execute(
                    """SELECT count(*), count(*) FILTER (WHERE status = 'closed'),
                              count(*) FILTER (WHERE status = 'closed' AND preliminary_score IS NOT NULL),
                              count(*) FILTER (WHERE status = 'closed' AND missing IS NOT NULL
                                               AND jsonb_array_length(missing) > 0)
                       FROM review WHERE cycle_id = %s""",
                    (cycle_id,),
                )).fetchone()
            if closed == total:
                return ReviewsClosed(total, scored, with_missing)
            activity.heartbeat(closed)
            if time.monotonic() >= give_up_at:
                raise ApplicationError(f"{total - closed} of {total} reviews of cycle {cycle_id} are still open",
                                       type=REVIEWS_STILL_OPEN)
            interval = POLL_MIN_S if closed != last_closed else min(interval * 2, POLL_MAX_S)
            last_closed = closed
            await asyncio.sleep(interval)

    @activity.defn(name="cancel_reviews")
    async def cancel_reviews(self, cycle_id: str) -> int:
        """Cancel the review workflows of a cancelled cycle that have not closed yet."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                "SELECT workflow_id FROM review WHERE cycle_id = %s AND status = 'open' AND workflow_id IS NOT NULL",
                (cycle_id,),
            )
            workflow_ids = [row[0] for row in await cur.fetchall()]
            await cur.execute(
                "UPDATE review_cycle SET status = 'cancelled' WHERE id = %s AND status <> 'cancelled'", (cycle_id,)
            )
            await audit(cur, f"cycle.cancelled:{cycle_id}", "system", "cycle.cancelled", "review_cycle", cycle_id,
                        None, {"open_reviews_cancelled": len(workflow_ids)})
        client = activity.client()
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def cancel(handle: WorkflowHandle) -> None:
            async with gate:
                try:
                    await handle.cancel()
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it has already ended
                        raise
                activity.heartbeat()

        await asyncio.gather(*(cancel(client.get_workflow_handle(w)) for w in workflow_ids))
        return len(workflow_ids)

    async def _open_reviews(self, inp: StartBatchInput) -> list[ReviewSeed]:
        """Open the reviews with seq in [seq_from, seq_to): tasks and survey invitations, once."""
        due = {p.phase: p.due_at for p in inp.phases}
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
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
                    tasks.append((task_id_for(s.review_id, SELF_REVIEW), inp.cycle_id, s.review_id, SELF_REVIEW,
                                  "employee", s.employee_id, s.employee_id, due[SELF_REVIEW]))
                    if s.reviewer_id:
                        tasks.append((task_id_for(s.review_id, MANAGER_SCORING), inp.cycle_id, s.review_id,
                                      MANAGER_SCORING, "employee", s.reviewer_id, s.employee_id, due[MANAGER_SCORING]))
                    for c in s.contacts:
                        task_id = task_id_for(s.review_id, CUSTOMER_SURVEY, c.contact_id)
                        tasks.append((task_id, inp.cycle_id, s.review_id, CUSTOMER_SURVEY, "contact",
                                      c.contact_id, s.employee_id, due[CUSTOMER_SURVEY]))
                        invitations.append((task_id, inp.cycle_id, s.review_id, c.contact_id, c.account_id,
                                            inp.opened_at, due[CUSTOMER_SURVEY]))
                    audits.append((f"review.opened:{s.review_id}", s.review_id))
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
                await cur.executemany(
                    """INSERT INTO audit_log (event_key, actor, action, entity_type, entity_id)
                       VALUES (%s, 'system', 'review.opened', 'review', %s) ON CONFLICT (event_key) DO NOTHING""",
                    audits,
                )
        return list(seeds.values())

    @activity.defn(name="record_submission")
    async def record_submission(self, rec: SubmissionRecord) -> None:
        """Persist one accepted human submission; the first write wins, so a retry changes nothing."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if rec.phase == SELF_REVIEW:
                rows = [(rec.review_id, k, v, rec.comments.get(k), rec.submitted_at) for k, v in rec.ratings.items()]
                rows += [(rec.review_id, k, None, v, rec.submitted_at)
                         for k, v in rec.comments.items() if k not in rec.ratings]
                await cur.executemany(
                    """INSERT INTO self_review_answer (review_id, item_id, rating, comment, submitted_at)
                       VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    rows,
                )
            elif rec.phase == MANAGER_SCORING:
                rows = [(rec.review_id, k, v, rec.comments.get(k), rec.actor_id, rec.submitted_at)
                        for k, v in rec.ratings.items()]
                rows += [(rec.review_id, k, None, v, rec.actor_id, rec.submitted_at)
                         for k, v in rec.comments.items() if k not in rec.ratings]
                if rec.potential is not None:
                    rows.append((rec.review_id, "potential", rec.potential, None, rec.actor_id, rec.submitted_at))
                await cur.executemany(
                    """INSERT INTO manager_score (review_id, item_id, rating, comment, scored_by, submitted_at)
                       VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    rows,
                )
            else:
                await cur.execute(
                    """INSERT INTO survey_response (invitation_id, satisfaction, nps, comment, answered_at)
                       VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    (rec.task_id, rec.satisfaction, rec.nps, rec.comments.get("comment"), rec.submitted_at),
                )
                await cur.execute(
                    "UPDATE survey_invitation SET status = 'answered', answered_at = %s WHERE id = %s AND status <> 'answered'",
                    (rec.submitted_at, rec.task_id),
                )
            await cur.execute(
                "UPDATE task SET status = 'done', completed_at = %s WHERE id = %s AND status <> 'done'",
                (rec.submitted_at, rec.task_id),
            )
            after = {"ratings": rec.ratings, "potential": rec.potential} if rec.phase != CUSTOMER_SURVEY else {
                "satisfaction": rec.satisfaction, "nps": rec.nps}
            await audit(cur, f"task.submitted:{rec.task_id}", rec.actor_id, f"{rec.phase}.submitted", "task",
                        rec.task_id, {"status": "open"}, {"status": "done", **after})

    @activity.defn(name="record_phase_event")
    async def record_phase_event(self, ev: PhaseEvent) -> None:
        """A reminder, an extension or a closing: tasks updated and the outbox written, once each."""
        label = PHASE_LABEL[ev.phase]
        due = ev.due_at.isoformat(timespec="minutes")
        task_ids = [r.task_id for r in ev.recipients]
        notes = []
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if ev.event == "reminder":
                await cur.execute(
                    "UPDATE task SET reminders_sent = GREATEST(reminders_sent, %s) WHERE id = ANY(%s)",
                    (ev.number, task_ids),
                )
                for r in ev.recipients:
                    notes.append((f"reminder:{r.task_id}:{ev.number}", r.kind, r.id, "reminder",
                                  f"Reminder: {label} due {due}",
                                  f"Your {label} for review {ev.review_id} is due {due}."))
            elif ev.event == "extended":
                await cur.execute(
                    "UPDATE task SET due_at = %s, extensions = %s WHERE id = ANY(%s) AND status = 'open'",
                    (ev.due_at, ev.number, task_ids),
                )
                for r in ev.recipients:
                    notes.append((f"extended:{r.task_id}:{ev.number}", r.kind, r.id, "deadline_extended",
                                  f"Deadline extended: {label} now due {due}",
                                  f"The deadline passed; per the cycle's policy your {label} for review "
                                  f"{ev.review_id} is now due {due} (extension {ev.number})."))
            else:
                await cur.execute(
                    "UPDATE task SET status = 'missed' WHERE id = ANY(%s) AND status = 'open'", (task_ids,)
                )
                await cur.execute(
                    "UPDATE survey_invitation SET status = 'expired' WHERE id = ANY(%s) AND status = 'sent'",
                    (task_ids,),
                )
                if ev.recipients:
                    who = ", ".join(r.id for r in ev.recipients)
                    notes.append((f"closed:{ev.review_id}:{ev.phase}", "role", "hr", "phase_closed_missing",
                                  f"{label} closed with work missing: {ev.review_id}",
                                  f"The {label} of review {ev.review_id} closed at its deadline {due} "
                                  f"without a submission from {who}; recorded as missing."))
            await cur.executemany(
                """INSERT INTO notification (id, recipient_type, recipient_id, kind, subject, body)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
                notes,
            )
            await audit(cur, f"phase.{ev.event}:{ev.review_id}:{ev.phase}:{ev.number}", "system",
                        f"{ev.phase}.{ev.event}", "review", ev.review_id, None,
                        {"due_at": ev.due_at, "outstanding": [r.id for r in ev.recipients]})

    @activity.defn(name="reassign_reviewer")
    async def reassign_reviewer(self, rec: ReassignRecord) -> None:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT 1 FROM employee WHERE id = %s", (rec.new_reviewer_id,))
            if await cur.fetchone() is None:
                raise rejected(f"employee {rec.new_reviewer_id} does not exist")
            await cur.execute("UPDATE review SET reviewer_id = %s WHERE id = %s", (rec.new_reviewer_id, rec.review_id))
            await cur.execute(
                """UPDATE task SET assignee_id = %s WHERE id = %s AND status = 'open'""",
                (rec.new_reviewer_id, task_id_for(rec.review_id, MANAGER_SCORING)),
            )
            await audit(cur, f"review.reassigned:{rec.review_id}:{rec.at.isoformat()}", rec.actor_id,
                        "review.reviewer_reassigned", "review", rec.review_id,
                        {"reviewer_id": rec.previous_reviewer_id},
                        {"reviewer_id": rec.new_reviewer_id, "reason": rec.reason})

    @activity.defn(name="close_review")
    async def close_review(self, inp: CloseReviewInput) -> ReviewResult:
        """Compute and store the preliminary score from what was submitted; the first close wins."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, inp.cycle_id)
            await cur.execute(
                "SELECT employee_id, status, preliminary_score, missing FROM review WHERE id = %s FOR UPDATE",
                (inp.review_id,),
            )
            employee_id, status, stored_score, stored_missing = await cur.fetchone()
            if status == "closed":
                return ReviewResult(inp.review_id, None if stored_score is None else str(stored_score),
                                    list(stored_missing or []))
            inputs = await self._review_inputs(cur, inp.review_id, employee_id, config.period.label)
            scored = {k.id for k in config.scorecard.kpis}  # e.g. revenue feeds commission, not the score
            inputs = inputs.model_copy(update={"kpi_actuals": {k: v for k, v in inputs.kpi_actuals.items() if k in scored}})
            result = preliminary_score(config.scorecard, inputs)
            missing = sorted(set(inp.missing) | set(result.missing))
            breakdown = result.model_dump(mode="json")
            await cur.execute(
                """UPDATE review SET status = 'closed', closed_at = %s, preliminary_score = %s,
                          score_breakdown = %s, missing = %s WHERE id = %s""",
                (inp.closed_at, result.score, jsonb(breakdown), jsonb(missing), inp.review_id),
            )
            await cur.execute(
                "UPDATE task SET status = 'missed' WHERE review_id = %s AND status = 'open'", (inp.review_id,)
            )
            await audit(cur, f"review.closed:{inp.review_id}", "system", "review.closed", "review",
                        inp.review_id, {"status": status},
                        {"status": "closed", "preliminary_score": result.score, "missing": missing})
        return ReviewResult(inp.review_id, None if result.score is None else str(result.score), missing)

    @staticmethod
    async def _review_inputs(cur, review_id: str, employee_id: str, period: str) -> ReviewInputs:
        await cur.execute(
            "SELECT kpi_id, value FROM kpi_actual WHERE employee_id = %s AND period = %s", (employee_id, period)
        )
        kpis = {k: Decimal(v) for k, v in await cur.fetchall()}
        await cur.execute(
            "SELECT item_id, rating FROM self_review_answer WHERE review_id = %s AND rating IS NOT NULL", (review_id,)
        )
        self_ratings = dict(await cur.fetchall())
        await cur.execute(
            """SELECT item_id, rating FROM manager_score
               WHERE review_id = %s AND rating IS NOT NULL AND item_id <> 'potential'""",
            (review_id,),
        )
        manager_ratings = dict(await cur.fetchall())
        await cur.execute(
            """SELECT i.account_id, s.satisfaction, s.nps, a.annual_revenue
               FROM survey_response s JOIN survey_invitation i ON i.id = s.invitation_id
               JOIN key_account a ON a.id = i.account_id
               WHERE i.review_id = %s ORDER BY i.id""",
            (review_id,),
        )
        survey = [
            SurveyAnswer(account_id=a, satisfaction=s, nps=n, account_revenue=rev)
            for a, s, n, rev in await cur.fetchall()
        ]
        return ReviewInputs(kpi_actuals=kpis, self_ratings=self_ratings, manager_ratings=manager_ratings,
                            survey=survey)
