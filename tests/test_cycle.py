"""A whole cycle on the real dev server and PostgreSQL: reviews, calibration, incentives, lock."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest

from services import tasks
from services.cycles import (
    adjust_rating,
    approve_payouts,
    create_cycle,
    cycle_report,
    finalize_calibration,
    start_cycle,
)
from services.errors import Rejected
from services.explain import explain_review, payout_statement
from services.payroll import export_payroll_csv
from tests.helpers import count, cycle_config, cycle_phase_is, eventually, maybe_record_history, ratings, seed_org
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, SurveySubmission, cycle_workflow_id


async def test_happy_path_cycle(client, db_url, task_queue, tmp_path):
    org = seed_org(db_url, kams=3)
    cid = f"HAPPY{uuid.uuid4().hex[:6]}"
    config = cycle_config(cid)
    created = await create_cycle(db_url, config)
    assert created.participants == 3
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: _open_tasks(db_url, cid))
        for k in org["kams"]:
            await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(k, ratings(2), {"communication": "won 2 deals"}))
            await tasks.submit_manager_score(client, db_url, cid, k, ManagerScoreSubmission(org["manager_of"][k], ratings(3), potential=2))
            for c in org["contacts"][k]:
                await tasks.submit_survey(client, db_url, cid, k, SurveySubmission(c, 5, 9, "great"))
        assert await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        report = await cycle_report(client, db_url, cid)
        assert report.workflow.reviews_closed == 3 and report.workflow.reviews_with_missing == 0
        assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id=%s AND preliminary_score IS NOT NULL", cid) == 3
        with pytest.raises(Rejected, match="needs a reason"):
            await adjust_rating(client, db_url, cid, "K01", 4, "   ", "HR1")
        await adjust_rating(client, db_url, cid, "K01", 4, "exceptional key-account win in August", "HR1")
        await finalize_calibration(client, db_url, cid, "HR1")
        assert await eventually(lambda: cycle_phase_is(client, cid, "awaiting_approval"))
        await approve_payouts(client, db_url, cid, "PAY1")
        result = await client.get_workflow_handle_for(CycleWorkflow.run, cycle_workflow_id(cid)).result()
        await maybe_record_history(client, cycle_workflow_id(cid), "cycle_announced")  # cycle.json: before messages
        await maybe_record_history(client, f"review:{cid}:K01", "review_local_writes")  # review.json: before them
    assert result.approved_by == "PAY1"
    assert count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id=%s AND status <> 'locked'", cid) == 0
    assert count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id=%s", cid) >= 3
    assert count(db_url, "SELECT count(*) FROM rating_adjustment") == 1
    assert count(db_url, "SELECT final_level FROM calibrated_rating WHERE employee_id='K01'") == 4
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action='rating.adjusted'") == 1
    explained = explain_review(db_url, cid, "K01")
    assert explained.final_level == 4 and explained.adjustments[0][1] == 4
    assert explained.nine_box == "high/moderate"  # recomputed with the adjusted level (potential 2)
    assert [a[2] for a in explained.adjustments] == ["exceptional key-account win in August"]
    assert sum(Decimal(ln["contribution"]) for ln in explained.breakdown["lines"]) == pytest.approx(
        explained.preliminary_score, abs=Decimal("0.01"))
    statement = payout_statement(db_url, cid, "K01")
    assert {ln[0] for ln in statement.lines} == {"bonus", "commission"}
    out = tmp_path / "payroll.csv"
    n = export_payroll_csv(db_url, cid, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel on a Chinese system
    header = out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert {"employee_id", "amount", "currency", "line_type", "idempotency_key"} <= set(header)
    assert n == count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id=%s", cid)
    # Locked lines are immutable, in the database itself.
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="locked"):
        conn.execute("UPDATE payout_line SET amount = amount + 1 WHERE cycle_id = %s", (cid,))
    with psycopg.connect(db_url) as conn:
        total = conn.execute("SELECT sum(amount) FROM payout_line WHERE cycle_id=%s", (cid,)).fetchone()[0]
    assert total > Decimal(0)


async def _open_tasks(db_url: str, cycle_id: str) -> bool:
    return count(db_url, "SELECT count(*) FROM task WHERE cycle_id=%s AND status='open'", cycle_id) > 0
