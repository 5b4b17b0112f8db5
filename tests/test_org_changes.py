"""Org changes reach running cycles: a re-imported org's joiners, leavers, manager changes and reassigned accounts,
previewed with the cycles they reach, then applied through the workflows (real Temporal, real PostgreSQL)."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import psycopg
import pytest

from services import tasks
from services.cycles import create_cycle, start_cycle
from services.importer import import_files, preview_files
from services.org_changes import apply_pending, describe, has_pending
from tests.helpers import count, cycle_config, eventually, maybe_record_history, ratings, review_started
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    AddParticipant,
    ManagerScoreSubmission,
    SurveySubmission,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
)
from workflows.review import ReviewWorkflow

ORG = ["employee_id", "name", "email", "role", "manager_id", "grade", "currency", "timezone", "hire_date",
       "termination_date"]
ACCOUNTS = ["account_id", "account_name", "kam_id", "annual_revenue", "currency", "contact_id", "contact_name",
            "contact_email", "contact_locale"]


def _people() -> dict[str, dict[str, str]]:
    """HR, two managers and three KAMs (K01, K03 under M1; K02 under M2)."""
    rows = [("HR1", "Hannah HR", "hr", ""), ("M1", "Manager M1", "manager", ""), ("M2", "Manager M2", "manager", ""),
            ("K01", "KAM K01", "kam", "M1"), ("K02", "KAM K02", "kam", "M2"), ("K03", "KAM K03", "kam", "M1")]
    return {i: {"employee_id": i, "name": n, "email": f"{i.lower()}@example.com", "role": r, "manager_id": m,
                "grade": "K2", "currency": "CNY", "timezone": "Asia/Shanghai", "hire_date": "2020-01-01",
                "termination_date": ""} for i, n, r, m in rows}


def _accounts() -> list[dict[str, str]]:
    return [{"account_id": f"A{k}", "account_name": f"Account of {k}", "kam_id": k, "annual_revenue": "1000000",
             "currency": "CNY", "contact_id": f"C{k}{n}", "contact_name": f"Contact {k}{n}",
             "contact_email": f"c{k.lower()}{n}@client.example.com", "contact_locale": "zh-CN"}
            for k in ("K01", "K02", "K03") for n in (0, 1)]


class Files:
    """The three import files in a folder, rewritten as the test changes the org."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.people, self.accounts = folder, _people(), _accounts()

    def write(self) -> tuple[Path, Path, Path]:
        org, accounts, kpis = self.folder / "org.csv", self.folder / "accounts.csv", self.folder / "kpis.csv"
        for path, columns, rows in ((org, ORG, list(self.people.values())), (accounts, ACCOUNTS, self.accounts)):
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, columns)
                w.writeheader()
                w.writerows(rows)
        with kpis.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["employee_id", "period", "kpi_id", "value"])
            for k in ("K01", "K02", "K03"):
                w.writerows([(k, "2026-Q3", "sales_attainment", "1.0"), (k, "2026-Q3", "revenue", "900000")])
        return org, accounts, kpis


@pytest.fixture
async def running(client, db_url, task_queue, tmp_path):
    """The org imported from files, then a cycle whose reviews are open for K01..K03; the worker runs."""
    files = Files(tmp_path)
    import_files(db_url, *files.write())
    cycle_id = f"ORG{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, cycle_config(cycle_id, due="600s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cycle_id, task_queue)
        for k in ("K01", "K02", "K03"):
            await eventually(lambda k=k: review_started(client, cycle_id, k))
        await eventually(lambda: _count_async(db_url, "SELECT count(*) FROM survey_invitation WHERE cycle_id = %s",
                                              cycle_id, want=6))
        yield {"cycle": cycle_id, "files": files}


async def _count_async(db_url: str, sql: str, *params, want: int) -> bool:
    return count(db_url, sql, *params) == want


def _one(db_url: str, sql: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()


async def _all_delivered(db_url: str, cycle_id: str) -> None:
    """Every message of the cycle was rendered and sent (the test setup delivers to a Maildir)."""
    async def settled() -> bool:
        return count(db_url, "SELECT count(*) FROM notification WHERE cycle_id = %s AND status <> 'sent'",
                     cycle_id) == 0
    await eventually(settled, timeout=60)


async def _reimport(client, db_url, files: Files):
    import_files(db_url, *files.write())
    return await apply_pending(client, db_url, "HR1")


async def _status(client, cycle_id: str, employee_id: str):
    handle = client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, employee_id)))
    return await handle.query(ReviewWorkflow.status)


async def test_preview_lists_each_change_with_the_cycles_it_reaches_and_writes_nothing(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    await tasks.submit_manager_score(client, db_url, C, "K02", ManagerScoreSubmission("M2", ratings(3)))
    files.people["K01"]["manager_id"] = "M2"
    files.people["K01"]["termination_date"] = "2026-10-15"  # after the period: the review goes on
    files.people["K02"]["termination_date"] = "2026-08-15"
    files.people["K02"]["manager_id"] = "M1"  # scored by M2 already: the score stays
    files.people["M1"]["termination_date"] = "2026-09-30"  # still scores K03 (K01 moves to M2)
    files.people["K04"] = {**files.people["K03"], "employee_id": "K04", "name": "KAM K04",
                           "email": "k04@example.com", "hire_date": "2026-08-01"}
    files.accounts[0]["kam_id"] = files.accounts[1]["kam_id"] = "K03"  # AK01 moves from K01 to K03
    del files.people["K03"]  # a row missing from the file is not a leaver
    files.people["K04"]["manager_id"] = "M1"
    files.people["K05"] = {**files.people["K04"], "employee_id": "K05", "name": "KAM K05", "grade": "K9"}
    preview = preview_files(db_url, *files.write())
    report = await describe(db_url, preview.org)
    text = str(report)
    kinds = sorted(r.change.kind for r in report.changes)
    assert kinds == ["account_reassigned", "joiner", "joiner", "leaver", "leaver", "leaver", "manager_change",
                     "manager_change"]
    assert (f"joiner K05 KAM K05 (manager M1)\n  cycle {C}: will not be added: incentive_plan.target_incentive: "
            "no target incentive for K05 (grade K9)") in text
    assert "leaver K01 KAM K01, leaving on 2026-10-15\n  no running cycle is affected" in text
    assert f"manager change K02 KAM K02: M2 -> M1\n  cycle {C}: the score already given by M2 stays" in text
    assert "M1 Manager M1 leaves with 2 open scoring tasks of reports in running cycles" in text
    assert f"manager change K01 KAM K01: M1 -> M2\n  cycle {C}: the open scoring task moves to M2" in text
    # 2026-08-15 within 2026-07-01..09-30: 46 of 92 days; the joiner from 2026-08-01: 61 of 92.
    assert "leaver K02 KAM K02, leaving on 2026-08-15" in text and "prorated 46/92 days to the leaving date" in text
    assert "joiner K04" in text and "prorated 61/92 days" in text
    assert f"account reassigned AK01 Account of K01: KAM K01 -> K03\n  cycle {C}: 2 open survey invitations move" in text
    assert "not in the org file, and left unchanged" in text and "K03 KAM K03" in text
    # Nothing was written, nothing is pending.
    assert _one(db_url, "SELECT manager_id FROM employee WHERE id = 'K01'")[0] == "M1"
    assert not await has_pending(db_url)


async def test_manager_change_moves_the_open_scoring_task_and_a_given_score_stays(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    # K03's score is given by M1 before the import; K01's is still open.
    await tasks.submit_manager_score(client, db_url, C, "K03", ManagerScoreSubmission("M1", ratings(3)))
    files.people["K01"]["manager_id"] = "M2"
    files.people["K03"]["manager_id"] = "M2"
    report = await _reimport(client, db_url, files)
    text = str(report)
    assert f"cycle {C}: the open scoring task moved to M2" in text
    assert f"cycle {C}: the score already given by M1 stays" in text
    assert (await _status(client, C, "K01")).reviewer_id == "M2"
    assert _one(db_url, "SELECT assignee_id FROM task WHERE id = %s", f"{C}:K01:manager_scoring")[0] == "M2"
    assert _one(db_url, "SELECT reviewer_id FROM review WHERE id = %s", f"{C}:K03")[0] == "M1"
    assert count(db_url, "SELECT count(*) FROM manager_score WHERE review_id = %s AND scored_by = 'M1'", f"{C}:K03") > 0
    # The new reviewer is told, and so is the old one; the move is audited on the review.
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'reviewer_assigned' AND recipient_id = 'M2'"
                 " AND cycle_id = %s", C) == 1
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'reviewer_unassigned' AND recipient_id = 'M1'"
                 " AND cycle_id = %s", C) == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'"
                 " AND entity_id = %s AND actor = 'HR1'", f"{C}:K01") == 1
    # M2 can score K01 now; M1 cannot.
    await tasks.submit_manager_score(client, db_url, C, "K01", ManagerScoreSubmission("M2", ratings(2)))


async def test_leaver_tasks_end_and_the_review_closes_with_what_exists(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    await tasks.submit_survey(client, db_url, C, "K02", SurveySubmission("CK020", 5, 9))
    files.people["K02"]["termination_date"] = "2026-08-15"
    report = await _reimport(client, db_url, files)
    assert f"cycle {C}: open tasks ended; the review closed with what was submitted" in str(report)
    review = f"{C}:K02"
    await eventually(lambda: _count_async(db_url, "SELECT count(*) FROM review WHERE id = %s AND status = 'closed'",
                                          review, want=1))
    missing = _one(db_url, "SELECT missing FROM review WHERE id = %s", review)[0]
    assert "self_review" in missing and "manager_scoring" in missing and "customer_survey:CK021" in missing
    statuses = dict(_one(db_url, "SELECT json_object_agg(id, status) FROM task WHERE review_id = %s", review)[0])
    assert statuses == {f"{review}:self_review": "cancelled", f"{review}:manager_scoring": "cancelled",
                        f"{review}:customer_survey:CK020": "done", f"{review}:customer_survey:CK021": "cancelled"}
    assert _one(db_url, "SELECT status FROM survey_invitation WHERE id = %s", f"{review}:customer_survey:CK021")[0] \
        == "expired"
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'review_ended' AND recipient_id = 'M2'") == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.ended' AND entity_id = %s", review) == 1
    await _all_delivered(db_url, C)
    # The employee row carries the leaving date the incentive prorates to.
    assert str(_one(db_url, "SELECT termination_date FROM employee WHERE id = 'K02'")[0]) == "2026-08-15"
    await client.get_workflow_handle(review_workflow_id(review)).result()
    await maybe_record_history(client, review_workflow_id(review), "review_leaver_lean_from_start")


async def test_joiner_in_the_population_is_added_to_the_running_cycle(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    files.people["K04"] = {**files.people["K03"], "employee_id": "K04", "name": "KAM K04", "email": "k04@example.com",
                           "hire_date": "2026-08-01"}
    files.accounts.append({**files.accounts[0], "account_id": "AK04", "account_name": "Account of K04",
                           "kam_id": "K04", "contact_id": "CK040", "contact_name": "Contact K040",
                           "contact_email": "ck040@client.example.com"})
    files.people["OTHER1"] = {**files.people["HR1"], "employee_id": "OTHER1", "name": "Olga Other", "role": "other",
                              "email": "o1@example.com"}  # not in the population (all KAMs): not added
    files.people["K05"] = {**files.people["K04"], "employee_id": "K05", "name": "KAM K05", "email": "k05@example.com",
                           "grade": "K9"}  # no target incentive for K9 in the cycle's plan: not added
    report = await _reimport(client, db_url, files)
    assert f"cycle {C}: review opened, scored by M1" in str(report)
    assert f"cycle {C}: not applied: incentive_plan.target_incentive: no target incentive for K05 (grade K9)" \
        in str(report)
    assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND employee_id = 'K05'", C) == 0
    await eventually(lambda: review_started(client, C, "K04"))
    status = await _status(client, C, "K04")
    assert status.reviewer_id == "M1" and [p.state for p in status.phases] == ["open", "open", "open"]
    assert count(db_url, "SELECT count(*) FROM task WHERE review_id = %s AND status = 'open'", f"{C}:K04") == 3
    assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s AND employee_id = 'OTHER1'", C) == 0
    assert _one(db_url, "SELECT participant_count FROM review_cycle WHERE id = %s", C)[0] == 4
    cycle = await client.get_workflow_handle(cycle_workflow_id(C)).query(CycleWorkflow.status)
    assert cycle.phase == "reviews"
    # The joiner, their manager and their customer are told.
    for kind, who in (("task_assigned", "K04"), ("reviewer_assigned", "M1"), ("survey_invitation", "CK040")):
        assert count(db_url, "SELECT count(*) FROM notification WHERE kind = %s AND recipient_id = %s AND cycle_id = %s",
                     kind, who, C) == 1, kind
    await maybe_record_history(client, cycle_workflow_id(C), "cycle_joiner")  # running: replayed as far as it got
    # The same Update again (a retry) adds nothing.
    key = _one(db_url, "SELECT event_key FROM audit_log WHERE action = 'import.insert' AND entity_id = 'K04'")[0]
    again = await client.get_workflow_handle(cycle_workflow_id(C)).execute_update(
        CycleWorkflow.add_participant, AddParticipant("HR1", "K04", "M1"), id=f"org:{key}:{C}")
    assert again is True  # the first result, not applied twice
    again = await client.get_workflow_handle(cycle_workflow_id(C)).execute_update(
        CycleWorkflow.add_participant, AddParticipant("HR1", "K04", "M1"), id="another-id")
    assert again is False
    assert count(db_url, "SELECT count(*) FROM review WHERE cycle_id = %s", C) == 4
    await _all_delivered(db_url, C)
    # The joiner works through the review like anyone.
    await tasks.submit_manager_score(client, db_url, C, "K04", ManagerScoreSubmission("M1", ratings(2)))


async def test_account_reassigned_moves_its_open_survey_invitations(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    await tasks.submit_survey(client, db_url, C, "K01", SurveySubmission("CK010", 4))  # answered: stays with K01
    for a in files.accounts[:2]:
        a["kam_id"] = "K02"  # AK01 (contacts CK010, CK011) moves from K01 to K02
    report = await _reimport(client, db_url, files)
    assert f"cycle {C}: 1 open survey invitations moved to the review of K02" in str(report)
    old, new = await _status(client, C, "K01"), await _status(client, C, "K02")
    survey_old = next(p for p in old.phases if p.phase == "customer_survey")
    survey_new = next(p for p in new.phases if p.phase == "customer_survey")
    assert "CK011" not in survey_old.outstanding and survey_old.state == "done"  # CK010 answered, CK011 gone
    assert survey_new.outstanding == ["CK011", "CK020", "CK021"]
    assert _one(db_url, "SELECT status FROM survey_invitation WHERE id = %s", f"{C}:K01:customer_survey:CK011")[0] \
        == "expired"
    assert _one(db_url, "SELECT status, account_id FROM survey_invitation WHERE id = %s",
                f"{C}:K02:customer_survey:CK011") == ("sent", "AK01")
    assert _one(db_url, "SELECT status FROM survey_invitation WHERE id = %s", f"{C}:K01:customer_survey:CK010")[0] \
        == "answered"
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'survey_invitation' AND recipient_id = 'CK011'"
                 " AND params ->> 'kam_name' = 'KAM K02'") == 1
    await _all_delivered(db_url, C)
    # The contact now answers about K02; K01's review no longer takes the answer.
    await tasks.submit_survey(client, db_url, C, "K02", SurveySubmission("CK011", 5))
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action IN ('survey.withdrawn', 'survey.moved_in')") == 2
    await maybe_record_history(client, review_workflow_id(review_id_for(C, "K02")), "review_survey_moved_in")
    await maybe_record_history(client, review_workflow_id(review_id_for(C, "K01")), "review_survey_moved_out")


async def test_applying_twice_changes_nothing_and_a_cut_short_apply_resumes(client, db_url, running):
    C, files = running["cycle"], running["files"]  # noqa: N806
    files.people["K01"]["manager_id"] = "M2"
    import_files(db_url, *files.write())  # written; the apply step never ran (the process died)
    assert await has_pending(db_url)
    # The same files again: nothing new to write, and the change left pending is applied now, once.
    import_files(db_url, *files.write())
    first = await apply_pending(client, db_url, "HR1")
    assert len(first.changes) == 1 and first.changes[0].effects[0].applied
    second = await apply_pending(client, db_url, "HR1")
    assert second.changes == []
    import_files(db_url, *files.write())
    assert (await apply_pending(client, db_url, "HR1")).changes == []
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'") == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'org.change_applied'") == 1
    assert count(db_url, "SELECT count(*) FROM notification WHERE kind = 'reviewer_assigned'") == 1
    # Back to M1, then to M2 again: each move is a change of its own.
    files.people["K01"]["manager_id"] = "M1"
    await _reimport(client, db_url, files)
    files.people["K01"]["manager_id"] = "M2"
    await _reimport(client, db_url, files)
    assert (await _status(client, C, "K01")).reviewer_id == "M2"
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'") == 3


async def test_the_cli_previews_then_applies_and_a_second_run_changes_nothing(client, db_url, task_queue, running,
                                                                              tmp_path):
    import asyncio

    from tests.test_cli import cli_env
    from tests.test_cli import run_cli as run_blocking

    async def run_cli(*args):  # in a thread: the test's worker runs on this event loop
        return await asyncio.to_thread(run_blocking, *args)

    C, files = running["cycle"], running["files"]  # noqa: N806
    env = cli_env(db_url, client, task_queue, tmp_path)
    files.people["K01"]["manager_id"] = "M2"
    paths = [str(p) for p in files.write()]
    shown = await run_cli(env, tmp_path, "import", *paths, "--preview")
    assert shown.returncode == 0, shown.stderr
    assert "manager change K01 KAM K01: M1 -> M2" in shown.stdout
    assert f"cycle {C}: the open scoring task moves to M2" in shown.stdout
    assert "preview only: nothing was written" in shown.stdout
    done = await run_cli(env, tmp_path, "import", *paths)
    assert done.returncode == 0, done.stderr
    assert f"cycle {C}: the open scoring task moved to M2" in done.stdout
    again = await run_cli(env, tmp_path, "import", *paths)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout and "org changes" not in again.stdout
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'") == 1


async def test_org_change_activities_repeated_after_success_change_nothing(client, db_url, task_queue, running):
    """Temporal runs an activity at least once: each org-change activity done again writes nothing new."""
    import dataclasses
    from datetime import UTC, datetime

    from psycopg_pool import AsyncConnectionPool
    from temporalio.testing import ActivityEnvironment

    from activities.reviews import ReviewActivities
    from services.db import libpq_url
    from workflows.payloads import AddReviewInput, BeginCycleInput, EndReviewRecord, SurveyMoveRecord

    C, files = running["cycle"], running["files"]  # noqa: N806
    files.people["K04"] = {**files.people["K03"], "employee_id": "K04", "name": "KAM K04", "email": "k04@example.com"}
    import_files(db_url, *files.write())  # K04 exists; the apply step is left out: the activities are run by hand

    def snapshot():
        # Messages by id (their delivery goes on in the background and changes their status, not their number).
        with psycopg.connect(db_url) as conn:
            rows = {t: conn.execute(f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {t} t")
                    .fetchone() for t in ("review", "task", "survey_invitation", "audit_log", "review_cycle")}
            return rows | {"notification": conn.execute("SELECT array_agg(id ORDER BY id) FROM notification").fetchone()}

    env = ActivityEnvironment(client)
    env.info = dataclasses.replace(env.info, task_queue=task_queue)
    now = datetime.now(UTC)
    async with AsyncConnectionPool(libpq_url(db_url), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        acts = ReviewActivities(pool)
        plan = await env.run(acts.begin_cycle, BeginCycleInput(C, now))
        due = next(p.due_at for p in plan.phases if p.phase == "customer_survey")
        calls = [
            (acts.add_review, AddReviewInput(C, "K04", "M1", "HR1", plan.rules, plan.phases, now)),
            (acts.end_review, EndReviewRecord(C, f"{C}:K02", "HR1", "2026-08-15", "left", now)),
            (acts.withdraw_invitations, SurveyMoveRecord(C, f"{C}:K01", "AK01", ["CK011"], "K03", "HR1", now)),
            (acts.add_invitations, SurveyMoveRecord(C, f"{C}:K03", "AK01", ["CK011"], "K01", "HR1", now, due)),
        ]
        first = [await env.run(fn, arg) for fn, arg in calls]
        await eventually(lambda: review_started(client, C, "K04"))
        after_first = snapshot()
        second = [await env.run(fn, arg) for fn, arg in calls]
    assert snapshot() == after_first
    assert first[0] is True and second[0] is False  # the review was added once


@pytest.mark.slow  # ~25 s: waits for a real 25 s survey deadline
async def test_invitations_moved_to_a_kam_without_surveys_reopen_the_phase_and_its_deadline_holds(
        client, db_url, task_queue, tmp_path):
    """K03 has no account, so their survey phase is done from the start; an account moved to them reopens it, and
    its deadline (sooner than the other phases') still closes it on time."""
    files = Files(tmp_path)
    files.accounts = [a for a in files.accounts if a["kam_id"] != "K03"]
    import_files(db_url, *files.write())
    C = f"ORG{uuid.uuid4().hex[:8]}"  # noqa: N806
    survey = {"due_after": "25s", "reminders_before": [], "on_deadline": {"action": "close"}}
    await create_cycle(db_url, cycle_config(C, due="600s", customer_survey=survey))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, C, task_queue)
        for k in ("K01", "K02", "K03"):
            await eventually(lambda k=k: review_started(client, C, k))
        phase = next(p for p in (await _status(client, C, "K03")).phases if p.phase == "customer_survey")
        assert phase.state == "done" and phase.outstanding == []
        for a in files.accounts[:2]:
            a["kam_id"] = "K03"
        report = await _reimport(client, db_url, files)
        assert f"cycle {C}: 2 open survey invitations moved to the review of K03" in str(report)
        phase = next(p for p in (await _status(client, C, "K03")).phases if p.phase == "customer_survey")
        assert phase.state == "open" and phase.outstanding == ["CK010", "CK011"]

        async def survey_closed() -> bool:
            status = await _status(client, C, "K03")
            return next(p for p in status.phases if p.phase == "customer_survey").state == "closed"

        await eventually(survey_closed, timeout=60)

        async def missed_recorded() -> bool:  # the workflow closes the phase, then its activity records the tasks
            return count(db_url, "SELECT count(*) FROM task WHERE review_id = %s AND kind = 'customer_survey'"
                         " AND status = 'missed'", f"{C}:K03") == 2

        await eventually(missed_recorded, timeout=30)
        await maybe_record_history(client, review_workflow_id(review_id_for(C, "K03")), "review_survey_reopened")


async def test_an_account_moved_in_the_crm_moves_its_invitations_too(client, db_url, running, tmp_path):
    """The same change from a Zoho CRM export: the account's owner is now K02."""
    from services.imports.crm import apply_crm_import, preview_crm_import

    C = running["cycle"]  # noqa: N806
    accounts = tmp_path / "Accounts_2026_12_01.csv"
    accounts.write_bytes(b"\xef\xbb\xbf" + (
        b'"Record Id","Account Owner","Account Name","Annual Revenue","Currency"\n'
        b'"AK01","KAM K02","Account of K01","CNY 1,000,000.00","CNY"\n'))
    preview = preview_crm_import(db_url, "zoho", [accounts])
    text = str(await describe(db_url, preview.org))
    assert f"account reassigned AK01 Account of K01: KAM K01 -> K02\n  cycle {C}: 2 open survey invitations move" in text
    apply_crm_import(db_url, "zoho", [accounts], actor="HR1")
    report = await apply_pending(client, db_url, "HR1")
    assert f"cycle {C}: 2 open survey invitations moved to the review of K02" in str(report)
    assert count(db_url, "SELECT count(*) FROM survey_invitation WHERE review_id = %s AND account_id = 'AK01'"
                 " AND status = 'sent'", f"{C}:K02") == 2


async def test_a_change_for_a_review_not_started_yet_stays_pending(client, db_url, running):
    """A review still waiting for its batch (a large cycle opening) has no workflow to change yet: the change is
    not marked applied, so the next import applies it."""
    C, files = running["cycle"], running["files"]  # noqa: N806
    files.people["K09"] = {**files.people["K03"], "employee_id": "K09", "name": "KAM K09", "email": "k09@example.com"}
    import_files(db_url, *files.write())
    with psycopg.connect(db_url) as conn:  # as a batch not opened yet leaves it
        conn.execute("INSERT INTO review (id, cycle_id, employee_id, reviewer_id, seq, status) "
                     "VALUES (%s, %s, 'K09', 'M1', 99, 'pending')", (f"{C}:K09", C))
    await apply_pending(client, db_url, "HR1")  # the joiner has a review already: nothing to do
    files.people["K09"]["manager_id"] = "M2"
    report = await _reimport(client, db_url, files)
    assert f"cycle {C}: the review has not started yet; the change stays pending until the next import" in str(report)
    assert await has_pending(db_url)


async def test_a_change_for_a_review_that_does_not_answer_stays_pending(client, db_url, running):
    """A review whose workflow cannot answer its status query just now (a loaded worker) is not changed, and the
    change is not marked applied as if it had been refused: the next import applies it."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from tests.test_status_unanswered import StatusLess

    C, files = running["cycle"], running["files"]  # noqa: N806
    files.people["K09"] = {**files.people["K03"], "employee_id": "K09", "name": "KAM K09", "email": "k09@example.com"}
    import_files(db_url, *files.write())
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO review (id, cycle_id, employee_id, reviewer_id, seq, status) "
                     "VALUES (%s, %s, 'K09', 'M1', 99, 'open')", (f"{C}:K09", C))
    await apply_pending(client, db_url, "HR1")  # the joiner has a review already: nothing to do
    queue = f"statusless-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[StatusLess], workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await client.start_workflow(StatusLess.run, id=review_workflow_id(f"{C}:K09"), task_queue=queue)
        try:
            files.people["K09"]["manager_id"] = "M2"
            report = await _reimport(client, db_url, files)
        finally:
            await handle.terminate()
    assert f"cycle {C}: the review did not answer just now; the change stays pending until the next import" \
        in str(report), str(report)
    assert await has_pending(db_url)
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'org.change_applied' AND entity_id = 'K09'") \
        == 1  # the joiner's, not the manager change's
