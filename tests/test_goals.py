"""Goals on PostgreSQL (draft → submitted → approved, returned with a comment, check-ins with history, audit rows)
and the goals scorecard component end to end: a cycle that weighs goals scores them at close, explained."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal as D

import psycopg
import pytest

from domain.goals import CheckInIn, KeyResultIn, ObjectiveIn
from services import goals, tasks
from services.cycles import create_cycle, start_cycle
from services.errors import Conflict, Forbidden, NotFound, Rejected
from tests.helpers import cycle_config, eventually, ratings, review_started, schema_drift, seed_org
from worker import running_worker
from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, review_id_for

PERIOD = "2026-Q3"
REVENUE = KeyResultIn(metric="Key-account revenue", unit="CNY", start_value=0, target_value=3_000_000,
                      due_date="2026-09-30")
LINKED = KeyResultIn(metric="Sales target attainment", unit="ratio", start_value="0.8", target_value="1.2",
                     due_date="2026-09-30", kpi_id="sales_attainment")


async def connect(db_url):
    return await psycopg.AsyncConnection.connect(db_url, autocommit=True)


async def approved_plan(conn, kam="K01", manager="M1"):
    """Objective 1 (weight 3): revenue by check-in; objective 2 (weight 1): linked to the sales KPI."""
    o1 = await goals.add_objective(conn, kam, kam, PERIOD, ObjectiveIn(title="Grow key accounts", weight=3))
    kr1 = await goals.add_key_result(conn, kam, o1, REVENUE)
    o2 = await goals.add_objective(conn, manager, kam, PERIOD, ObjectiveIn(title="Hit the sales target"))
    await goals.add_key_result(conn, manager, o2, LINKED)
    await goals.submit_goals(conn, kam, kam, PERIOD)
    await goals.approve_goals(conn, manager, kam, PERIOD)
    return kr1


async def test_draft_submit_return_approve_and_check_in_with_history(db_url):
    seed_org(db_url, kams=2)
    async with await connect(db_url) as conn:
        o1 = await goals.add_objective(conn, "K01", "K01", PERIOD, ObjectiveIn(title="Grow key accounts"))
        with pytest.raises(Rejected, match="key result"):
            await goals.submit_goals(conn, "K01", "K01", PERIOD)
        kr = await goals.add_key_result(conn, "K01", o1, REVENUE)
        with pytest.raises(Conflict, match="approved"):
            await goals.check_in(conn, "K01", kr, CheckInIn(value=1))
        plan = await goals.submit_goals(conn, "K01", "K01", PERIOD)
        assert plan.status == "submitted" and not plan.editable
        with pytest.raises(Conflict, match="submitted"):
            await goals.add_objective(conn, "K01", "K01", PERIOD, ObjectiveIn(title="late"))
        with pytest.raises(Forbidden, match="manager"):
            await goals.approve_goals(conn, "K01", "K01", PERIOD)
        with pytest.raises(Rejected, match="comment"):
            await goals.return_goals(conn, "M1", "K01", PERIOD, " ")
        plan = await goals.return_goals(conn, "M1", "K01", PERIOD, "Revenue target too low")
        assert (plan.status, plan.comment) == ("returned", "Revenue target too low")
        await goals.remove_key_result(conn, "K01", kr)
        kr = await goals.add_key_result(conn, "K01", o1, REVENUE.model_copy(update={"target_value": D(4_000_000)}))
        await goals.submit_goals(conn, "K01", "K01", PERIOD)
        plan = await goals.approve_goals(conn, "M1", "K01", PERIOD)
        assert plan.status == "approved" and plan.decided_by == "M1"
        await goals.check_in(conn, "K01", kr, CheckInIn(value=1_000_000, comment="two renewals"))
        plan = await goals.check_in(conn, "M1", kr, CheckInIn(value=3_000_000, comment="big order"))
        [k] = plan.objectives[0].key_results
        assert [c.value for c in k.check_ins] == [3_000_000, 1_000_000]  # both kept, newest first
        assert (k.current, k.source, k.attainment, plan.attainment) == (3_000_000, "check-in", D("0.75"), D("0.75"))
        team = await goals.team_goals(conn, "M1", PERIOD)
        assert [(r.employee_id, r.status, r.attainment) for r in team] == [("K01", "approved", D("0.75")),
                                                                           ("K02", None, None)]
        actions = [r[0] for r in await (await conn.execute(
            "SELECT action FROM audit_log WHERE entity_type = 'goal' ORDER BY id")).fetchall()]
    assert actions == ["goal.objective_added", "goal.key_result_added", "goal.submitted", "goal.returned",
                       "goal.key_result_removed", "goal.key_result_added", "goal.submitted", "goal.approved",
                       "goal.checked_in", "goal.checked_in"]


def test_the_app_may_not_rewrite_a_check_in(db_url):
    seed_org(db_url, kams=1)
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE goal_check_in SET value = 0")


async def test_only_the_kam_and_their_manager_see_or_change_the_goals(db_url):
    seed_org(db_url, kams=2, managers=2)  # K01 → M1, K02 → M2
    async with await connect(db_url) as conn:
        kr = await approved_plan(conn)
        for who in ("K02", "M2", "HR1"):
            with pytest.raises(NotFound):
                await goals.goal_plan(conn, who, "K01", PERIOD)
            with pytest.raises(NotFound):
                await goals.check_in(conn, who, kr, CheckInIn(value=1))
        with pytest.raises(NotFound):
            await goals.add_objective(conn, "K02", "K01", "2026-Q4", ObjectiveIn(title="x"))
        assert await goals.team_goals(conn, "M2", PERIOD) == [
            goals.TeamRow("K02", "KAM K02", None, 0, 0, None, None)]


async def test_a_linked_key_result_follows_the_kpi_actual(db_url):
    seed_org(db_url, kams=1)  # K01's sales_attainment for 2026-Q3 is 0.9
    async with await connect(db_url) as conn:
        await approved_plan(conn)
        plan = await goals.goal_plan(conn, "K01", "K01", PERIOD)
        linked = plan.objectives[1].key_results[0]
        assert (linked.current, linked.source, linked.attainment) == (D("0.9"), "kpi", D("0.25"))
        await conn.execute("UPDATE kpi_actual SET value = 1.1 WHERE employee_id = 'K01' AND kpi_id = 'sales_attainment'")
        plan = await goals.goal_plan(conn, "K01", "K01", PERIOD)
        assert plan.objectives[1].key_results[0].attainment == D("0.75")


async def test_a_cycle_that_weighs_goals_scores_them_at_close(client, db_url, task_queue):
    seed_org(db_url, kams=1, contacts_per_kam=0)
    async with await connect(db_url) as conn:
        kr = await approved_plan(conn)
        await goals.check_in(conn, "K01", kr, CheckInIn(value=1_500_000, comment="halfway"))  # 0.5
    cid = f"G{uuid.uuid4().hex[:6]}"
    data = cycle_config(cid).model_dump(mode="json")
    data["scorecard"]["component_weights"] = {"kpis": 50, "competencies": 20, "csat": 10, "goals": 20}
    config = type(cycle_config()).model_validate(data)
    await create_cycle(db_url, config)
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: review_started(client, cid, "K01"))
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))
        await tasks.submit_manager_score(client, db_url, cid, "K01", ManagerScoreSubmission("M1", ratings(3)))

        async def closed():
            with psycopg.connect(db_url) as c:
                return c.execute("SELECT score_breakdown FROM review WHERE id = %s AND status = 'closed'",
                                 (review_id_for(cid, "K01"),)).fetchone()
        [breakdown] = await eventually(closed)
    line = next(ln for ln in breakdown["lines"] if ln["component"] == "goals")
    # (3 × 0.5 + 1 × (0.9 − 0.8) / (1.2 − 0.8)) / 4 = (1.5 + 0.25) / 4 = 0.4375 → 1 + 0.4375 × 4 = 2.75
    assert D(line["actual"]) == D("0.4375") and D(line["item_score"]) == D("2.75")
    assert "kpi sales_attainment 0.9" in line["explanation"] and "check-in 1500000" in line["explanation"]
    assert "goals" in breakdown["component_weights_pct"], json.dumps(breakdown)[:500]


async def test_check_in_reminders_are_queued_once_a_day_for_quiet_key_results(client, db_url, db_admin_url, task_queue):
    from datetime import date

    seed_org(db_url, kams=2)
    async with await connect(db_url) as conn:
        kr = await approved_plan(conn, "K01")  # revenue by check-in; the linked KR has K01's KPI figure
        kr2 = await approved_plan(conn, "K02")
        await goals.check_in(conn, "K02", kr2, CheckInIn(value=1))
        await conn.execute("UPDATE goal_plan SET decided_at = '2026-07-01T00:00:00Z'")
        assert kr
    with psycopg.connect(db_admin_url) as owner:  # check-ins are append-only for the app: the owner back-dates it
        owner.execute("UPDATE goal_check_in SET at = '2026-08-25T00:00:00Z'")  # K02 checked in 7 days before
    run = await goals.queue_check_in_reminders(client, db_url, task_queue, PERIOD, 14, today=date(2026, 9, 1))
    again = await goals.queue_check_in_reminders(client, db_url, task_queue, PERIOD, 14, today=date(2026, 9, 1))
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT recipient_id, params FROM notification WHERE kind = 'goal_check_in_due'").fetchall()
    assert (run.people, again.messages) == (1, 0)
    assert [(r[0], r[1]["items"], r[1]["link_path"]) for r in rows] == [
        ("K01", ["Key-account revenue (CNY)"], "/me/goals?period=2026-Q3")]
    with pytest.raises(Rejected, match="quiet_days"):
        await goals.queue_check_in_reminders(client, db_url, task_queue, PERIOD, 0)


def test_migration_0015_matches_the_models(db_url):
    assert schema_drift(db_url, {"goal_plan", "goal_objective", "goal_key_result", "goal_check_in"}) == []
