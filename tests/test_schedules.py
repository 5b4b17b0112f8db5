"""Recurring cycles: periods from a cadence, and Temporal Schedules that open each period's cycle once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

from domain.cycle import add_months, config_for_period, period_label, scheduled_period
from domain.errors import DomainError
from services.errors import Conflict, NotFound, Rejected
from services.schedules import (
    create_cycle_schedule,
    delete_cycle_schedule,
    describe_cycle_schedule,
    list_cycle_schedules,
    pause_cycle_schedule,
    resume_cycle_schedule,
    run_cycle_schedule_now,
    schedule_id,
)
from services.worker_runtime import running_worker
from tests.helpers import ROOT, count, eventually, finished_results, maybe_record_history, rows, seed_org
from workflows.payloads import ScheduledCycleResult

TEMPLATE = (ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8")


def template(**changes: object) -> str:
    data = yaml.safe_load(TEMPLATE)
    data |= {"id": "kam-{period}", "name": "KAM review {period} / 大客户经理考核 {period}"}
    for phase in ("self_review", "manager_scoring", "customer_survey"):
        data["phases"][phase] = {"due_after": "1h", "reminders_before": [], "on_deadline": {"action": "close"}}
    data.pop("period")
    data |= changes
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.mark.parametrize(("cadence", "start", "label"), [
    ("quarterly", date(2027, 1, 1), "2027-Q1"), ("quarterly", date(2027, 10, 1), "2027-Q4"),
    ("half_yearly", date(2027, 7, 1), "2027-H2"), ("annual", date(2027, 1, 1), "2027"),
    ("quarterly", date(2027, 2, 1), "2027-02-01"), ("annual", date(2027, 4, 6), "2027-04-06")])
def test_period_labels_follow_calendar_boundaries(cadence: str, start: date, label: str) -> None:
    assert period_label(cadence, start) == label


@given(st.sampled_from(["quarterly", "half_yearly", "annual"]),
       st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 28)).filter(lambda d: d.day <= 28),
       st.integers(min_value=0, max_value=3650))
def test_every_day_after_the_first_falls_in_exactly_one_period(cadence: str, first: date, offset: int) -> None:
    on = first + timedelta(days=offset)
    start, end = scheduled_period(cadence, first, on)
    assert start <= on <= end
    assert start.day == first.day  # periods keep the first's day of the month (it is at most 28)
    nxt, _ = scheduled_period(cadence, first, end + timedelta(days=1))
    assert nxt == end + timedelta(days=1)  # the next period starts the day after: no gap, no overlap
    months = {"quarterly": 3, "half_yearly": 6, "annual": 12}[cadence]
    assert add_months(start, months) == nxt


def test_a_day_before_the_first_period_is_refused() -> None:
    with pytest.raises(DomainError, match="before the schedule's first period"):
        scheduled_period("quarterly", date(2027, 1, 1), date(2026, 12, 31))


def test_the_template_becomes_each_periods_configuration() -> None:
    config = config_for_period(yaml.safe_load(template()), "quarterly", date(2027, 4, 1))
    assert (config.id, config.name) == ("kam-2027-Q2", "KAM review 2027-Q2 / 大客户经理考核 2027-Q2")
    assert (config.period.label, config.period.start, config.period.end) == ("2027-Q2", date(2027, 4, 1), date(2027, 6, 30))
    plain = config_for_period(yaml.safe_load(template(id="kam")), "annual", date(2027, 1, 1))
    assert plain.id == "kam-2027" and plain.cadence == "annual"


def test_a_template_with_an_absolute_deadline_is_refused() -> None:
    data = yaml.safe_load(template())
    data["phases"]["self_review"] = {"due": "2027-01-15T18:00:00+08:00", "on_deadline": {"action": "close"}}
    with pytest.raises(DomainError, match="cannot recur") as err:
        config_for_period(data, "quarterly", date(2027, 1, 1))
    assert err.value.path == "phases.self_review.due"


async def test_bad_schedules_are_refused_before_anything_is_made(client, db_url, task_queue) -> None:
    with pytest.raises(Rejected, match="cannot start on day 31"):
        await create_cycle_schedule(client, db_url, template(), "quarterly", date(2027, 1, 31), "HR1", task_queue)
    with pytest.raises(Rejected, match="not quarterly, half_yearly or annual"):
        await create_cycle_schedule(client, db_url, template(), "monthly", date(2027, 1, 1), "HR1", task_queue)
    with pytest.raises(NotFound, match="no cycle schedule named nobody"):
        await pause_cycle_schedule(client, db_url, "nobody", "HR1")
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE entity_type = 'cycle_schedule'") == 0


async def test_a_schedule_opens_each_period_once_whatever_runs_twice(client, db_url, task_queue) -> None:
    seed_org(db_url, kams=2)
    name = f"kam{task_queue[-6:]}"
    first = date(2026, 7, 1)  # two period starts (07-01, 10-01) lie before today (2026-12 or later)
    created = await create_cycle_schedule(client, db_url, template(id=f"{name}-{{period}}"), "quarterly", first,
                                          "HR1", task_queue)
    assert created.name == name and created.cadence == "quarterly" and not created.paused
    assert created.next_runs and created.next_runs[0] > datetime.now(UTC)
    assert created.next_runs[0].astimezone(ZoneInfo("Asia/Shanghai")) == datetime(2027, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert created.next_cycle == f"{name}-2027-Q1"
    with pytest.raises(Conflict, match="exists already"):
        await create_cycle_schedule(client, db_url, template(id=f"{name}-{{period}}"), "quarterly", first, "HR1",
                                    task_queue)
    handle = client.get_schedule_handle(schedule_id(name))
    async with running_worker(client, db_url, task_queue):
        # The runs missed before the schedule existed, made up by hand (as an outage's catch-up would be), twice.
        window = ScheduleBackfill(datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC),
                                  overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        await handle.backfill(window)
        await eventually(lambda: _cycles(db_url, name, 2), timeout=90)
        # A run's workflow id is the schedule's and the nominal time: while the first runs are still going, the
        # server refuses the second backfill's starts (already running) instead of starting them. Wait until done.
        await eventually(lambda: finished_results(
            client, f"WorkflowType = 'ScheduledCycleWorkflow' AND WorkflowId STARTS_WITH 'scheduled-cycle-{name}'",
            ScheduledCycleResult, 2), timeout=90)
        await handle.backfill(window)
        await run_cycle_schedule_now(client, db_url, name, "HR1")  # today's period, 2026-Q4, once more
        runs = await eventually(lambda: finished_results(
            client, f"WorkflowType = 'ScheduledCycleWorkflow' AND WorkflowId STARTS_WITH 'scheduled-cycle-{name}'",
            ScheduledCycleResult, 5), timeout=90)
        assert sorted((r.cycle_id, r.created) for r in runs) == sorted([
            (f"{name}-2026-Q3", True), (f"{name}-2026-Q4", True), (f"{name}-2026-Q3", False),
            (f"{name}-2026-Q4", False), (f"{name}-2026-Q4", False)])
        assert sum(r.started for r in runs) == 2
        first = [wf async for wf in client.list_workflows(f"WorkflowType = 'ScheduledCycleWorkflow' AND WorkflowId "
                                                            f"STARTS_WITH 'scheduled-cycle-{name}'")][0]
        await maybe_record_history(client, first.id, "scheduled_cycle")
        assert count(db_url, "SELECT count(*) FROM review_cycle WHERE id LIKE %s", f"{name}-%") == 2
        assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s", f"{name}-2026-Q3") == 2
        assert count(db_url, "SELECT count(*) FROM review_cycle WHERE id = %s AND period_start = '2026-10-01' "
                             "AND period_end = '2026-12-31' AND cadence = 'quarterly'", f"{name}-2026-Q4") == 1
    await pause_cycle_schedule(client, db_url, name, "HR1", note="hiring freeze")
    paused = [s for s in await list_cycle_schedules(client) if s.name == name]
    assert paused and paused[0].paused and paused[0].note == "hiring freeze"
    await resume_cycle_schedule(client, db_url, name, "HR1")
    assert not (await describe_cycle_schedule(client, name)).paused
    await delete_cycle_schedule(client, db_url, name, "HR1")
    with pytest.raises(NotFound):
        await describe_cycle_schedule(client, name)
    actions = [r[0] for r in rows(db_url, "SELECT action FROM audit_log WHERE entity_type = 'cycle_schedule' "
                                           "ORDER BY id")]
    assert actions == ["cycle_schedule.created", "cycle_schedule.triggered", "cycle_schedule.paused",
                       "cycle_schedule.resumed", "cycle_schedule.deleted"]


async def _cycles(db_url: str, name: str, n: int) -> bool:
    return count(db_url, "SELECT count(*) FROM review_cycle WHERE id LIKE %s", f"{name}-%") >= n


def test_the_command_line_makes_lists_pauses_and_deletes_schedules(db_url, client, task_queue, tmp_path) -> None:
    import json

    from tests.test_cli import cli_env, run_cli

    env = cli_env(db_url, client, task_queue, tmp_path)
    seed_org(db_url, kams=2)
    example = str(ROOT / "examples" / "cycle-template.yaml")
    name = f"cli{task_queue[-6:]}"
    bad = run_cli(env, tmp_path, "cycle", "schedule", "create", example, "--cadence", "quarterly", "--first", "2027-13-01")
    assert bad.returncode == 2 and "'2027-13-01' is not a date" in bad.stderr
    made = run_cli(env, tmp_path, "cycle", "schedule", "create", example, "--cadence", "quarterly",
                   "--first", "2027-01-01", "--name", name)
    assert made.returncode == 0, made.stderr
    assert f"schedule {name}: quarterly from 2027-01-01; next run 2027-01-01T00:00:00+08:00" in made.stdout.replace(
        "2026-12-31T16:00:00+00:00", "2027-01-01T00:00:00+08:00") and "opens kam-2027-Q1" in made.stdout
    again = run_cli(env, tmp_path, "cycle", "schedule", "create", example, "--cadence", "quarterly",
                    "--first", "2027-01-01", "--name", name)
    assert again.returncode == 4 and "exists already" in again.stderr
    listed = json.loads(run_cli(env, tmp_path, "cycle", "schedule", "list", "--json").stdout)
    (row,) = [s for s in listed["schedules"] if s["name"] == name]
    assert row["cadence"] == "quarterly" and row["first"] == "2027-01-01" and row["paused"] is False
    assert row["next_cycle"] == "kam-2027-Q1"
    assert run_cli(env, tmp_path, "cycle", "schedule", "pause", name, "--note", "reorg").returncode == 0
    assert "paused" in run_cli(env, tmp_path, "cycle", "schedule", "list").stdout
    assert run_cli(env, tmp_path, "cycle", "schedule", "delete", name).returncode == 0
    gone = run_cli(env, tmp_path, "cycle", "schedule", "pause", name)
    assert gone.returncode == 3 and f"no cycle schedule named {name}" in gone.stderr
