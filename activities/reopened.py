"""Activities of a reopen after the review closed (workflows/reopened.py): reopen under the cycle's lock, settle and
rescore the review and its calibration row, and the finalize guard that reads what is still outstanding.

The cycle's row is the lock between a reopen and the finalize: a reopen takes it FOR SHARE and checks calibration is
not finalized; the finalize takes it FOR UPDATE first and refuses while a reopen of a closed review has not been
rescored. A reopen of a closed review stays outstanding until its ``review.rescored:<task>:<version>`` audit row is
written, in the same transaction as the new score, so no finalize slips in between a resubmission and its rescore.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from temporalio import activity

from activities.base import DbActivities, audit, jsonb, rejected
from activities.outbox import start_delivery
from activities.reviews import reopen_batch, score_review, write_reopen
from domain.calibration import CalibrationEntry, nine_box, normalize, rating_level
from domain.text import Text, tr
from workflows.payloads import CUSTOMER_SURVEY, ReopenRecord, RescoreInput, RescoreResult
from workflows.review_rules import phase_text

# Reopens of closed reviews of a cycle not rescored yet: reopened after the review closed, no rescore row for that
# version. Reads the submission_version index by review and the audit_log's unique event key.
OUTSTANDING = """
    SELECT DISTINCT e.name, r.employee_id
    FROM review r JOIN submission_version v ON v.review_id = r.id JOIN employee e ON e.id = r.employee_id
    WHERE r.cycle_id = %s AND r.status = 'closed' AND v.reopened_at >= r.closed_at
      AND NOT EXISTS (SELECT FROM audit_log a
                      WHERE a.event_key = 'review.rescored:' || v.task_id || ':' || (v.version + 1))
    ORDER BY e.name, r.employee_id"""


# How many reopens of the cycle's closed reviews were rescored: it names the next finalize attempt (services/cycles.py).
SETTLED = """
    SELECT count(*) FROM review r JOIN submission_version v ON v.review_id = r.id
    JOIN audit_log a ON a.event_key = 'review.rescored:' || v.task_id || ':' || (v.version + 1)
    WHERE r.cycle_id = %s"""


async def outstanding_reopens(cur: Any, cycle_id: str) -> list[str]:
    """The reviews ("name (id)") whose reopened submissions are still awaited or not yet rescored."""
    await cur.execute(OUTSTANDING, (cycle_id,))
    return [f"{name} ({employee})" for name, employee in await cur.fetchall()]


async def settled_reopens(cur: Any, cycle_id: str) -> int:
    """How many reopens of the cycle's closed reviews have been rescored so far."""
    await cur.execute(SETTLED, (cycle_id,))
    return (await cur.fetchone())[0]


def finalize_waits(reviews: list[str]) -> Text:
    """The refusal of a finalize while reopened submissions of these reviews are outstanding."""
    return tr("cannot finalize: submissions HR reopened are still awaited or being rescored for %(reviews)s; "
              "finalize once they are resubmitted or their deadline has passed", reviews=", ".join(reviews))


class ReopenedActivities(DbActivities):
    @activity.defn(name="reopen_closed_task")
    async def reopen_closed_task(self, rec: ReopenRecord) -> None:
        """The reopen of a closed review's task, while its cycle is in calibration and not finalized (checked under the
        cycle's lock); otherwise the same as a running review's (``write_reopen``). A retry writes nothing twice."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                """SELECT c.status, EXISTS (SELECT FROM calibrated_rating k WHERE k.cycle_id = c.id AND k.finalized),
                          r.status, t.status, t.version
                   FROM review_cycle c JOIN review r ON r.cycle_id = c.id LEFT JOIN task t ON t.id = %s
                   WHERE c.id = %s AND r.id = %s FOR SHARE OF c""", (rec.task_id, rec.cycle_id, rec.review_id))
            cycle_status, finalized, review_status, task_status, version = await cur.fetchone()
            if (version or 0) < rec.version:  # not a retry of this very reopen: check it may happen now
                if finalized or cycle_status != "calibration":
                    raise rejected(tr("calibration of cycle %(cycle)s is finalized; submissions can no longer be "
                                      "reopened", cycle=rec.cycle_id), conflict=True)
                if review_status != "closed" or task_status != "done":
                    raise rejected(tr("the %(phase)s has not been submitted yet, so there is nothing to reopen",
                                      phase=phase_text(rec.phase)), conflict=True)
            await write_reopen(cur, rec)
        await start_delivery(activity.client(), activity.info().task_queue, reopen_batch(rec))

    @activity.defn(name="rescore_reopened")
    async def rescore_reopened(self, inp: RescoreInput) -> RescoreResult:
        """Settle reopened tasks and recompute the review's preliminary score and calibration row, in one transaction.

        A task whose deadline passed without a resubmission closes with its earlier version (it still counts). Only
        this review's calibration row changes: its preliminary and normalized score (normalized with the cycle's
        scores as they are now), its suggested level, and its final level unless HR adjusted it; the other rows keep
        what HR has been looking at. Audited per settled task; a retry rewrites nothing.
        """
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, inp.cycle_id)
            await cur.execute("SELECT status FROM review_cycle WHERE id = %s FOR SHARE", (inp.cycle_id,))
            (cycle_status,) = await cur.fetchone()
            kept = [s.task_id for s in inp.settled if not s.resubmitted]
            if kept:
                await cur.execute(
                    """WITH kept AS (UPDATE task t SET status = 'done', completed_at = v.submitted_at
                                     FROM submission_version v
                                     WHERE t.id = ANY(%(ids)s) AND t.status = 'open' AND v.task_id = t.id
                                       AND v.version = t.version - 1 RETURNING t.id, t.kind),
                            answered AS (UPDATE survey_invitation SET status = 'answered'
                                         WHERE id IN (SELECT id FROM kept WHERE kind = %(survey)s))
                       DELETE FROM task_draft WHERE task_id = ANY(%(ids)s)""",
                    {"ids": kept, "survey": CUSTOMER_SURVEY})
            await cur.execute(
                """SELECT r.preliminary_score, r.score_breakdown, r.missing, k.preliminary_score, k.suggested_level,
                          k.final_level, k.finalized,
                          EXISTS (SELECT FROM rating_adjustment a WHERE a.review_id = r.id),
                          (SELECT rating FROM manager_score WHERE review_id = r.id AND item_id = 'potential'),
                          r.employee_id
                   FROM review r LEFT JOIN calibrated_rating k ON k.review_id = r.id WHERE r.id = %s
                   FOR UPDATE OF r""", (inp.review_id,))
            (old_score, old_breakdown, old_missing, cal_score, old_suggested, old_final, finalized, adjusted,
             potential, employee_id) = await cur.fetchone()
            before = {"preliminary_score": old_score, "suggested_level": old_suggested, "final_level": old_final}
            after: dict[str, Any] = dict(before)
            if cycle_status == "calibration" and not finalized:
                _, _, _, result = await score_review(conn, config, inp.review_id)
                earlier = set((old_breakdown or {}).get("missing", []))
                missing = sorted((set(old_missing or []) - earlier) | set(result.missing))
                await cur.execute(
                    "UPDATE review SET preliminary_score = %s, score_breakdown = %s, missing = %s WHERE id = %s",
                    (result.score, jsonb(result.model_dump(mode="json")), jsonb(missing), inp.review_id))
                after = await self._calibration_row(cur, config, inp, employee_id, result.score, potential,
                                                    old_final, adjusted, cal_score is not None)
                after["preliminary_score"] = result.score
            for s in inp.settled:
                await audit(cur, f"review.rescored:{s.task_id}:{s.version}", "system", "review.rescored", "review",
                            inp.review_id, before,
                            after | {"task_id": s.task_id, "version": s.version if s.resubmitted else s.version - 1,
                                     "resubmitted": s.resubmitted})
        return RescoreResult(inp.review_id, None if after["preliminary_score"] is None else
                             str(after["preliminary_score"]), after["suggested_level"], after["final_level"])

    @staticmethod
    async def _calibration_row(cur: Any, config: Any, inp: RescoreInput, employee_id: str, score: Decimal | None,
                               potential: int | None, old_final: int | None, adjusted: bool,
                               exists: bool) -> dict[str, Any]:
        """The review's calibration row recomputed as open_calibration computes it, with the cycle's other scores."""
        cal = config.calibration
        await cur.execute(
            "SELECT employee_id, manager_id, preliminary_score FROM calibrated_rating WHERE cycle_id = %s",
            (inp.cycle_id,))
        entries = [CalibrationEntry(employee_id=e, manager_id=m or "-", score=Decimal(s))
                   for e, m, s in await cur.fetchall() if e != employee_id and s is not None]
        if score is not None:
            await cur.execute("SELECT manager_id FROM calibrated_rating WHERE review_id = %s", (inp.review_id,))
            row = await cur.fetchone()
            entries.append(CalibrationEntry(employee_id=employee_id, manager_id=(row[0] if row else None) or "-",
                                            score=score))
        mine = {n.employee_id: n for n in normalize(entries, cal, config.scorecard.rating_scale)}.get(employee_id)
        level = rating_level(mine.normalized, cal) if mine else None
        note = mine.note if mine else "no inputs at all: HR must set the rating"
        final = old_final if adjusted else level
        box = nine_box(final, potential, cal) if final is not None else None
        if exists:
            await cur.execute(
                """UPDATE calibrated_rating SET preliminary_score = %s, normalized_score = %s, suggested_level = %s,
                          final_level = %s, potential = %s, nine_box = %s, note = %s, updated_at = %s
                   WHERE review_id = %s""",
                (score, mine.normalized if mine else None, level, final, potential, box, note, inp.at,
                 inp.review_id))
        return {"suggested_level": level, "final_level": final}
