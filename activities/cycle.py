"""Activities after the reviews: calibration, incentives and the payroll lock (bulk, idempotent)."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

from temporalio import activity

from activities.base import DbActivities, audit, heartbeats, jsonb, rejected
from activities.outbox import Message, queue, start_delivery
from activities.payout_rows import PAYOUT_COLUMNS, copy_first_lines
from activities.reopened import finalize_waits, outstanding_reopens
from activities.sales import compute_sales_lines, copy_first_sales_lines, sales_inputs, write_ledger
from domain.calibration import CalibrationEntry, distribution_report, nine_box, normalize, rating_level
from domain.errors import DomainError
from domain.incentives import IncentiveInput, compute_payouts, delta_lines
from domain.incentives import PayoutLine as PayoutLineModel
from domain.text import tr
from workflows.payloads import AdjustmentRecord, CalibrationSummary, CycleActionInput, IncentiveSummary


def approval_batch(cycle_id: str, revision: int) -> str:
    """The messages that tell payroll and HR that a revision's lines await approval."""
    return f"cycle:{cycle_id}:awaiting-approval:r{revision}"


async def approval_revision(conn: Any, cycle_id: str) -> int:
    """The revision an approval of the cycle's lines locks (the newest computed one), or locked (0 for none)."""
    (revision,) = await (await conn.execute(
        """SELECT COALESCE(max(revision) FILTER (WHERE status = 'computed'), max(revision), 0)
           FROM payout_line WHERE cycle_id = %s""", (cycle_id,))).fetchone()
    return revision


def approval_event_key(cycle_id: str, revision: int) -> str:
    """The audit row of the approval of one revision of a cycle's payout lines (0: the cycle's own)."""
    return f"payouts.approved:{cycle_id}:r{revision}"


class CycleActivities(DbActivities):
    @activity.defn(name="open_calibration")
    @heartbeats
    async def open_calibration(self, cycle_id: str) -> CalibrationSummary:
        """Normalize preliminary scores per manager and suggest a level for every participant, once."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, cycle_id)
            cal = config.calibration
            await cur.execute(
                """SELECT r.id, r.employee_id, r.reviewer_id, r.preliminary_score, p.rating
                   FROM review r LEFT JOIN manager_score p ON p.review_id = r.id AND p.item_id = 'potential'
                   WHERE r.cycle_id = %s ORDER BY r.seq""",
                (cycle_id,),
            )
            reviews = await cur.fetchall()
            scored = [
                CalibrationEntry(employee_id=emp, manager_id=mgr or "-", score=Decimal(score))
                for _, emp, mgr, score, _ in reviews if score is not None
            ]
            normalized = {n.employee_id: n for n in normalize(scored, cal, config.scorecard.rating_scale)}
            rows = []
            for review_id, emp, mgr, score, potential in reviews:
                n = normalized.get(emp)
                level = rating_level(n.normalized, cal) if n else None
                note = n.note if n else "no inputs at all: HR must set the rating"
                box = nine_box(level, potential, cal) if level is not None else None
                rows.append((review_id, cycle_id, emp, mgr, score, n.normalized if n else None,
                             level, level, potential, box, note))
            await cur.executemany(
                """INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id, preliminary_score,
                        normalized_score, suggested_level, final_level, potential, nine_box, note, finalized)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT (review_id) DO NOTHING""",
                rows,
            )
            await cur.execute(
                "UPDATE review_cycle SET status = 'calibration' WHERE id = %s AND status = 'running'", (cycle_id,)
            )
            await audit(cur, f"calibration.opened:{cycle_id}", "system", "calibration.opened", "review_cycle",
                        cycle_id, None, {"ratings": len(rows)})
            summary = await self._summary(cur, cycle_id, config)
            await queue(cur, cycle_id, f"cycle:{cycle_id}:calibration-opened", [Message(
                f"calibration-opened:{cycle_id}", "calibration_opened", "role", "hr",
                {"cycle_name": config.name, "review_count": summary.ratings,
                 "link_path": f"/hr/cycles/{cycle_id}/calibration"})])
        await start_delivery(activity.client(), activity.info().task_queue, f"cycle:{cycle_id}:calibration-opened")
        return summary

    async def _summary(self, cur, cycle_id: str, config) -> CalibrationSummary:
        await cur.execute(
            "SELECT employee_id, manager_id, final_level FROM calibrated_rating WHERE cycle_id = %s", (cycle_id,)
        )
        rows = await cur.fetchall()
        rated = [(e, m or "-", lvl) for e, m, lvl in rows if lvl is not None]
        report = distribution_report(rated, config.calibration)
        unrated = sorted(e for e, _, lvl in rows if lvl is None)
        violations = list(report.violations)
        if unrated:
            violations.insert(0, f"{len(unrated)} participant(s) have no rating yet: {', '.join(unrated[:20])}")
        return CalibrationSummary(ratings=len(rows), within_guideline=report.within_guideline, violations=violations)

    @activity.defn(name="adjust_rating")
    async def adjust_rating(self, rec: AdjustmentRecord) -> None:
        """HR's adjustment with its reason; the adjustment id (the Update id) makes it apply once."""
        review_id = f"{rec.cycle_id}:{rec.employee_id}"
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, rec.cycle_id)
            await cur.execute(
                "SELECT final_level, finalized, potential FROM calibrated_rating WHERE review_id = %s FOR UPDATE",
                (review_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise rejected(tr("%(employee)s is not a participant of cycle %(cycle)s", employee=rec.employee_id,
                                   cycle=rec.cycle_id))
            before, finalized, potential = row
            if finalized:
                raise rejected(tr("calibration is finalized; ratings can no longer change"))
            await cur.execute(
                """INSERT INTO rating_adjustment (id, review_id, from_level, to_level, reason, actor, adjusted_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
                (rec.adjustment_id, review_id, before, rec.to_level, rec.reason, rec.actor_id, rec.adjusted_at),
            )
            if cur.rowcount:
                await cur.execute(
                    "UPDATE calibrated_rating SET final_level = %s, nine_box = %s, updated_at = %s WHERE review_id = %s",
                    (rec.to_level, nine_box(rec.to_level, potential, config.calibration), rec.adjusted_at, review_id),
                )
                await audit(cur, f"rating.adjusted:{rec.adjustment_id}", rec.actor_id, "rating.adjusted",
                            "calibrated_rating", review_id, {"final_level": before},
                            {"final_level": rec.to_level, "reason": rec.reason})

    @activity.defn(name="finalize_calibration")
    @heartbeats
    async def finalize_calibration(self, inp: CycleActionInput) -> CalibrationSummary:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, inp.cycle_id)
            # The cycle's row first: a reopen of a closed review (activities/reopened.py) waits for this to commit,
            # or this waits for the reopen, which it then sees outstanding.
            await cur.execute("SELECT id FROM review_cycle WHERE id = %s FOR UPDATE", (inp.cycle_id,))
            if reopened := await outstanding_reopens(cur, inp.cycle_id):
                raise rejected(finalize_waits(reopened), conflict=True)
            summary = await self._summary(cur, inp.cycle_id, config)
            await cur.execute(
                "SELECT count(*) FROM calibrated_rating WHERE cycle_id = %s AND final_level IS NULL", (inp.cycle_id,)
            )
            (unrated,) = await cur.fetchone()
            if unrated:
                raise rejected(tr("cannot finalize: %(problem)s", problem=summary.violations[0]))
            if config.calibration.enforce and not summary.within_guideline:
                raise rejected(tr("cannot finalize: the distribution is outside the guideline: %(problems)s",
                                  problems="; ".join(summary.violations)))
            await cur.execute(
                "UPDATE calibrated_rating SET finalized = true WHERE cycle_id = %s AND NOT finalized", (inp.cycle_id,)
            )
            await cur.execute(
                "UPDATE review_cycle SET status = 'incentives' WHERE id = %s AND status = 'calibration'",
                (inp.cycle_id,),
            )
            await audit(cur, f"calibration.finalized:{inp.cycle_id}", inp.actor_id, "calibration.finalized",
                        "review_cycle", inp.cycle_id, None,
                        {"within_guideline": summary.within_guideline, "violations": summary.violations})
            await queue(cur, inp.cycle_id, f"cycle:{inp.cycle_id}:calibration-finalized", [Message(
                f"calibration-finalized:{inp.cycle_id}", "calibration_finalized", "role", "hr",
                {"cycle_name": config.name, "review_count": summary.ratings,
                 "link_path": f"/hr/cycles/{inp.cycle_id}/calibration"})])
        await start_delivery(activity.client(), activity.info().task_queue, f"cycle:{inp.cycle_id}:calibration-finalized")
        return summary

    @activity.defn(name="compute_incentives")
    async def compute_incentives(self, cycle_id: str) -> IncentiveSummary:
        """Payout lines from final ratings and KPI actuals. After a lock, only delta lines are added."""
        summary = await self._compute_incentives(cycle_id)
        if summary.new_lines:
            await start_delivery(activity.client(), activity.info().task_queue, approval_batch(cycle_id, summary.revision))
        return summary

    async def _compute_incentives(self, cycle_id: str) -> IncentiveSummary:
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            config = await self.cycle_config(conn, cycle_id)
            inputs = await self._incentive_inputs(cur, cycle_id, config.period.label)
            activity.heartbeat("inputs loaded")
            plan, period = config.incentive_plan, config.period
            await cur.execute("SELECT count(*) FROM payout_line WHERE cycle_id = %s", (cycle_id,))
            (existing,) = await cur.fetchone()
            sales = config.pays_sales()
            people = None
            if sales:  # deals, plan year, draw, clawbacks: each person's settlement on what earlier cycles locked
                try:  # the deals are validated and split where each chunk of people is settled
                    # the first lines read the deals chunk by chunk while the chunks before are settled
                    people = await sales_inputs(cur, cycle_id, config, inputs, activity.heartbeat,
                                                deals_later=existing == 0)
                except DomainError as err:
                    raise rejected(tr("incentives cannot be computed: %(problem)s", problem=err.as_text())) from None
                activity.heartbeat("deals and the plan year loaded")
            if existing == 0:  # the common case, at any scale: computed in parallel, streamed by COPY
                if people is None:
                    inserted, error = await copy_first_lines(cur, plan, period.start, period.end, period.label,
                                                             cycle_id, inputs, activity.heartbeat)
                else:
                    inserted, error = await copy_first_sales_lines(cur, plan, config.plan_year_id(), period.start,
                                                                   period.end, period.label, cycle_id, inputs,
                                                                   people.people, activity.heartbeat, people.deals)
                if error is not None:  # missing data: HR fixes it and retries, never an endless retry
                    raise rejected(tr("incentives cannot be computed: %(problem)s", problem=error))
                return await self._finish_incentives(cur, cycle_id, inserted, 0)
            try:
                if people is not None:
                    computed = await compute_sales_lines(plan, config.plan_year_id(), period.start, period.end,
                                                         cycle_id, inputs, people.people, activity.heartbeat,
                                                         people.deals)
                else:
                    computed = await asyncio.get_running_loop().run_in_executor(
                        None, compute_payouts, plan, period.start, period.end, cycle_id, inputs)
            except DomainError as err:
                raise rejected(tr("incentives cannot be computed: %(problem)s", problem=err.as_text())) from None
            await cur.execute(
                """SELECT employee_id, line_type, amount, currency, revision, idempotency_key, plan_id,
                          plan_version, explanation, inputs
                   FROM payout_line WHERE cycle_id = %s AND status = 'locked'""",
                (cycle_id,),
            )
            locked_rows = await cur.fetchall()
            if locked_rows:
                locked = [
                    PayoutLineModel(employee_id=e, line_type=t, amount=a, currency=c, revision=rev,
                                    idempotency_key=k, plan_id=pid, plan_version=pv, explanation=ex,
                                    inputs=inputs or {}, cycle_id=cycle_id)
                    for e, t, a, c, rev, k, pid, pv, ex, inputs in locked_rows
                ]
                revision = max(r[4] for r in locked_rows) + 1
                lines, revisions = delta_lines(computed, locked, revision), revision
            else:
                lines, revisions = computed, 0
            inserted = await self._insert_lines(cur, cycle_id, config.period.label, lines, revisions)
            activity.heartbeat("lines written")
            return await self._finish_incentives(cur, cycle_id, inserted, revisions)

    @staticmethod
    async def _finish_incentives(cur, cycle_id: str, inserted: int, revision: int) -> IncentiveSummary:
        await cur.execute(
            "UPDATE review_cycle SET status = 'awaiting_approval' WHERE id = %s AND status = 'incentives'",
            (cycle_id,),
        )
        await cur.execute(
            "SELECT currency, sum(amount), count(*) FROM payout_line WHERE cycle_id = %s GROUP BY currency",
            (cycle_id,),
        )
        totals = await cur.fetchall()
        await audit(cur, f"incentives.computed:{cycle_id}:{revision}", "system", "incentives.computed",
                    "review_cycle", cycle_id, None, {"lines": inserted, "revision": revision})
        if inserted:  # payroll (and HR, who approve) learn that lines await approval
            await cur.execute("SELECT name FROM review_cycle WHERE id = %s", (cycle_id,))
            (cycle_name,) = await cur.fetchone()
            await cur.execute(
                """SELECT currency, sum(amount), count(*) FROM payout_line
                   WHERE cycle_id = %s AND status = 'computed' GROUP BY currency ORDER BY currency""", (cycle_id,))
            pending = await cur.fetchall()
            params = {"cycle_name": cycle_name, "line_count": sum(n for *_, n in pending),
                      "totals": {c: str(total) for c, total, _ in pending}}
            await queue(cur, cycle_id, approval_batch(cycle_id, revision), [
                Message(f"payouts-awaiting:{cycle_id}:r{revision}:hr", "payouts_awaiting_approval", "role", "hr",
                        params | {"link_path": f"/hr/cycles/{cycle_id}"}),
                Message(f"payouts-awaiting:{cycle_id}:r{revision}:payroll", "payouts_awaiting_approval", "role",
                        "payroll", params | {"link_path": f"/payroll/cycles/{cycle_id}/approval"}),
            ])
        return IncentiveSummary(lines=sum(n for _, _, n in totals),
                                total_by_currency={c: str(total) for c, total, _ in totals},
                                new_lines=inserted, revision=revision)

    @staticmethod
    async def _insert_lines(cur, cycle_id: str, period: str, lines: list[PayoutLineModel], revision: int) -> int:
        """COPY into a scratch table, then one INSERT ... ON CONFLICT: fast and retry-safe."""
        await cur.execute(
            "CREATE TEMP TABLE payout_line_incoming (LIKE payout_line INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cols = ", ".join(PAYOUT_COLUMNS)
        async with cur.copy(f"COPY payout_line_incoming ({cols}) FROM STDIN") as copy:
            for line in lines:
                await copy.write_row((
                    line.idempotency_key, cycle_id, line.employee_id, line.line_type, line.amount, line.currency,
                    period, line.plan_id, line.plan_version, revision, line.explanation,
                    jsonb(line.inputs), "computed",
                ))
        await cur.execute(
            f"""INSERT INTO payout_line ({cols}) SELECT {cols} FROM payout_line_incoming
                ON CONFLICT (idempotency_key) DO NOTHING"""
        )
        return cur.rowcount

    @staticmethod
    async def _incentive_inputs(cur, cycle_id: str, period: str) -> list[IncentiveInput]:
        await cur.execute(
            """SELECT e.id, e.grade, e.currency, c.final_level, e.hire_date, e.termination_date
               FROM calibrated_rating c JOIN employee e ON e.id = c.employee_id
               WHERE c.cycle_id = %s ORDER BY e.id""",
            (cycle_id,),
        )
        people = await cur.fetchall()
        await cur.execute(
            """SELECT k.employee_id, k.kpi_id, k.value FROM kpi_actual k
               JOIN review r ON r.employee_id = k.employee_id AND r.cycle_id = %s
               WHERE k.period = %s""",
            (cycle_id, period),
        )
        actuals: dict[str, dict[str, Decimal]] = {}
        for emp, kpi, value in await cur.fetchall():
            actuals.setdefault(emp, {})[kpi] = Decimal(value)
        return [
            IncentiveInput(
                employee_id=emp, grade=grade, currency=currency, rating_level=level,
                attainment=actuals.get(emp, {}), revenue=actuals.get(emp, {}).get("revenue"),
                employment_start=hired, employment_end=left,
            )
            for emp, grade, currency, level, hired, left in people
        ]

    @activity.defn(name="lock_payouts")
    @heartbeats
    async def lock_payouts(self, inp: CycleActionInput) -> int:
        """Approve and lock: from here payroll may read the lines and nobody may change them."""
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # Row lock: an approval and a cancellation of the same cycle never both win.
            await cur.execute("SELECT status FROM review_cycle WHERE id = %s FOR UPDATE", (inp.cycle_id,))
            row = await cur.fetchone()
            if row is not None and row[0] == "cancelled":
                raise rejected(tr("cycle %(cycle)s was cancelled; its payouts cannot be approved", cycle=inp.cycle_id))
            # The revision being approved names the audit row: a retried or repeated approval writes it once.
            revision = await approval_revision(cur, inp.cycle_id)
            await cur.execute(
                """UPDATE payout_line SET status = 'locked', approved_by = %s, locked_at = %s
                   WHERE cycle_id = %s AND status = 'computed'
                   RETURNING employee_id, line_type, amount, currency, inputs""",
                (inp.actor_id, inp.at, inp.cycle_id),
            )
            newly_locked = await cur.fetchall()
            if newly_locked:  # a retried or repeated approval locks nothing new, so writes no ledger entry
                config = await self.cycle_config(conn, inp.cycle_id)
                if config.pays_sales():
                    await write_ledger(cur, config, inp.cycle_id, revision, newly_locked)
            await cur.execute(
                """UPDATE review_cycle SET status = 'locked', locked_at = COALESCE(locked_at, %s)
                   WHERE id = %s""",
                (inp.at, inp.cycle_id),
            )
            await cur.execute(
                "SELECT line_type, count(*) FROM payout_line WHERE cycle_id = %s AND status = 'locked' GROUP BY 1",
                (inp.cycle_id,),
            )
            counts = Counter(dict(await cur.fetchall()))
            await audit(cur, approval_event_key(inp.cycle_id, revision), inp.actor_id, "payouts.approved",
                        "review_cycle", inp.cycle_id, None,
                        {"locked_lines": dict(counts), "revision": revision, "total": sum(counts.values())})
            return sum(counts.values())
