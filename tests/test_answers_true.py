"""Issue 8: every answer the system gives is true — about submissions, HR actions and stuck cycles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from services import tasks
from services.cycles import (
    adjust_rating,
    approve_payouts,
    create_cycle,
    cycle_report,
    finalize_calibration,
    retry_incentives,
    start_cycle,
)
from services.errors import Conflict, Rejected, TryLater
from tests.helpers import count, cycle_config, cycle_phase_is, eventually, ratings, review_started, run_full_cycle, seed_org
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
    task_id_for,
)

ROOT = Path(__file__).resolve().parent.parent


def _cli_env(db_url: str, client, task_queue: str, data_dir: Path) -> dict[str, str]:
    return os.environ | {
        "KAMREVIEW_DATABASE_URL": db_url, "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KAMREVIEW_TASK_QUEUE": task_queue, "KAMREVIEW_DATA_DIR": str(data_dir),
    }


async def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "starter.py"), *args], env=env,
                                   capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


async def test_cli_score_after_it_is_done_accepted_only_when_identical(client, db_url, task_queue, tmp_path):
    """Defect 2: `submit score` after the score is in printed 'accepted' for anything, from anyone."""
    org = seed_org(db_url, kams=1, contacts_per_kam=1)
    cid = f"CLI{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="300s"))
    env = _cli_env(db_url, client, task_queue, tmp_path / "data")
    score = ",".join(f"{k}={v}" for k, v in ratings(2).items())
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: review_started(client, cid, "K01"))
        first = await _cli(env, "submit", "score", cid, "K01", "--ratings", score, "--potential", "2", "--actor", "M1")
        assert first.returncode == 0 and first.stdout.startswith("accepted"), first.stderr

        async def refusals() -> None:
            same = await _cli(env, "submit", "score", cid, "K01", "--ratings", score, "--potential", "2", "--actor", "M1")
            assert same.returncode == 0 and same.stdout == first.stdout  # the first receipt, word for word
            anyone = await _cli(env, "submit", "score", cid, "K01", "--ratings", "x=99", "--potential", "99",
                                "--actor", "K01")
            assert anyone.returncode == 2 and "K01 may not submit the manager scoring of K01; the reviewer is M1" in anyone.stderr
            nonsense = await _cli(env, "submit", "score", cid, "K01", "--ratings", "x=99", "--potential", "99",
                                  "--actor", "M1")
            assert nonsense.returncode == 2 and "missing rating for" in nonsense.stderr
            changed = await _cli(env, "submit", "score", cid, "K01", "--ratings", score.replace("=2", "=3"),
                                 "--potential", "2", "--actor", "M1")
            assert changed.returncode == 4 and "already submitted on" in changed.stderr and "by M1" in changed.stderr

        await refusals()  # while the review runs
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))
        await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(org["contacts"]["K01"][0], 4))
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        await refusals()  # and after it closed: the same answers, from what PostgreSQL recorded
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'manager_scoring.submitted'") == 1
    assert count(db_url, "SELECT min(rating) FROM manager_score WHERE item_id <> 'potential'") == 2


async def test_survey_answer_repeated_after_close_gets_its_receipt(client, db_url, task_queue):
    org = seed_org(db_url, kams=1, contacts_per_kam=1)
    cid = f"SRV{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="300s"))
    contact = org["contacts"]["K01"][0]
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: review_started(client, cid, "K01"))
        first = await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact, 4, 8, "good"))
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))
        await tasks.submit_manager_score(client, db_url, cid, "K01", ManagerScoreSubmission("M1", ratings(2)))
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        assert await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact, 4, 8, "good")) == first
        with pytest.raises(Conflict, match=f"contact {contact} has already answered this survey on"):
            await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact, 1, 0, "changed my mind"))
        with pytest.raises(Rejected, match="satisfaction is 9"):
            await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission(contact, 9))
        with pytest.raises(Rejected, match="contact CK991 was not invited to rate K01"):
            await tasks.submit_survey(client, db_url, cid, "K01", SurveySubmission("CK991", 5))


async def test_submission_before_the_review_started_says_it_is_starting(client, db_url, task_queue, monkeypatch):
    """Defect 8: with no worker running, the review has not started; 'does not exist' was untrue."""
    seed_org(db_url, kams=1)
    cid = f"NW{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid))
    await start_cycle(client, db_url, cid, task_queue)  # no worker polls this queue: nothing starts
    monkeypatch.setattr(tasks, "START_WAIT_S", 1.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(TryLater, match="the review of K01 is starting .*try again in a minute"):
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))
    assert 0.9 <= loop.time() - began < 10  # retried a bounded time first
    # A review that will never exist is still said not to exist, at once.
    with pytest.raises(Exception, match="does not exist"):
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K99", ratings(2)))
    await client.get_workflow_handle(cycle_workflow_id(cid)).terminate("test over")


async def test_a_submission_sent_while_its_review_starts_is_taken_once_it_has_started(client, db_url, task_queue):
    """The person does not have to try again: the service waits for the review to start, then submits, and the
    receipt comes a poll (START_POLL_S) and a round trip after the start, not at the end of the wait."""
    seed_org(db_url, kams=1)
    cid = f"SW{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid))
    await start_cycle(client, db_url, cid, task_queue)  # no worker yet: the cycle waits to open its reviews
    submitting = asyncio.ensure_future(
        tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2))))
    await asyncio.sleep(1.0)
    assert not submitting.done()
    async with running_worker(client, db_url, task_queue):
        receipt = await asyncio.wait_for(submitting, tasks.START_WAIT_S)
        started = (await client.get_workflow_handle(review_workflow_id(review_id_for(cid, "K01"))).describe()).start_time
    assert receipt.task_id == task_id_for(review_id_for(cid, "K01"), "self_review")
    assert count(db_url, "SELECT count(*) FROM task WHERE id = %s AND status = 'done'", receipt.task_id) == 1
    # The receipt's instant is when the review took it: a poll and a round trip after its start, not the wait's end.
    assert (receipt.accepted_at - started).total_seconds() < tasks.START_POLL_S + 1.5, (receipt, started)
    await client.get_workflow_handle(cycle_workflow_id(cid)).terminate("test over")


async def test_hr_actions_retried_after_lock_get_the_first_answer(client, db_url, task_queue):
    """Defect 3: a retry after the cycle ended said 'not running'; another person is told who acted."""
    org = seed_org(db_url, kams=2)
    cid = f"HRA{uuid.uuid4().hex[:6]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, cid, org)
    (lines,) = psycopg.connect(db_url).execute(
        "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'locked'", (cid,)).fetchone()
    assert await approve_payouts(client, db_url, cid, "PAY1") == lines
    with pytest.raises(Conflict, match=r"already approved on .*\(Asia/Shanghai\) by PAY1"):
        await approve_payouts(client, db_url, cid, "PAY2", roles={"payroll"})
    summary = await finalize_calibration(client, db_url, cid, "HR1")
    assert summary.ratings == 2
    with pytest.raises(Conflict, match="already finalized on .* by HR1"):
        await finalize_calibration(client, db_url, cid, "HR2")
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'payouts.approved'") == 1
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE event_key = %s", f"payouts.approved:{cid}:r0") == 1


async def test_the_same_adjustment_twice_is_recorded_once(client, db_url, task_queue):
    org = seed_org(db_url, kams=2)
    cid = f"ADJ{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="2s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        k = org["kams"][0]
        first = await adjust_rating(client, db_url, cid, k, 4, "won the 中石化 deal", "HR1")
        again = await asyncio.gather(*(adjust_rating(client, db_url, cid, k, 4, "won the 中石化 deal", "HR1")
                                       for _ in range(5)))
        assert set(again) == {first}
        await adjust_rating(client, db_url, cid, k, 3, "second thoughts", "HR1")
        await adjust_rating(client, db_url, cid, k, 4, "won the 中石化 deal", "HR1")  # back again: a new change
    assert count(db_url, "SELECT count(*) FROM rating_adjustment") == 3
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'rating.adjusted'") == 3
    assert count(db_url, "SELECT final_level FROM calibrated_rating WHERE employee_id = %s", org["kams"][0]) == 4


OVERFLOW_TRIGGER = """
CREATE FUNCTION test_overflow() RETURNS trigger AS $$
BEGIN NEW.amount := NEW.amount * 1e20; RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_overflow BEFORE INSERT ON payout_line FOR EACH ROW EXECUTE FUNCTION test_overflow();
"""


async def test_an_amount_too_large_to_store_blocks_the_cycle_until_hr_retries(client, db_url, db_admin_url, task_queue):
    """Defect 1: NumericValueOutOfRange was retried for ever, the cycle stuck with 'blocking: []'."""
    org = seed_org(db_url, kams=2, contacts_per_kam=1)
    cid = f"OVF{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="2s"))
    # Every amount written overflows payout_line.amount, as a too-large company factor once did.
    with psycopg.connect(db_admin_url, autocommit=True) as conn:
        conn.execute(OVERFLOW_TRIGGER)
    handle = client.get_workflow_handle(cycle_workflow_id(cid))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        with pytest.raises(Conflict, match="nothing to retry"):
            await retry_incentives(client, cid, "HR1")
        await finalize_calibration(client, db_url, cid, "HR1")

        async def blocked() -> str | None:
            return (await handle.query(CycleWorkflow.status)).blocked_reason

        reason = await eventually(blocked, timeout=30)
        assert reason.startswith("incentives cannot be computed: a computed number is too large to store")
        assert "less than 10^16" in reason
        report = await cycle_report(client, db_url, cid)
        assert any("too large to store" in b for b in report.blocking)
        assert count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s", cid) == 0  # nothing half-written
        with psycopg.connect(db_admin_url, autocommit=True) as conn:  # HR (here: the test) fixes the cause
            conn.execute("DROP TRIGGER test_overflow ON payout_line")
        assert (await retry_incentives(client, cid, "HR1")).startswith("retrying after: incentives cannot be computed")
        await eventually(lambda: cycle_phase_is(client, cid, "awaiting_approval"), timeout=30)
    assert count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s", cid) == 2 * len(org["kams"])


def test_cli_last_line_of_defence_survives_a_broken_install(tmp_path):
    """Defect 10: an import failing inside main() raised UnboundLocalError; the log ignored KAMREVIEW_DATA_DIR."""
    shim = tmp_path / "shim"
    (shim / "services").mkdir(parents=True)
    # A half-finished install: services.embedded cannot be imported.
    (shim / "sitecustomize.py").write_text(
        "import sys\nclass _Broken:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'services.embedded':\n            raise ImportError('half-finished install')\n"
        "sys.meta_path.insert(0, _Broken())\n", encoding="utf-8")
    data = tmp_path / "elsewhere"
    env = os.environ | {"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}", "KAMREVIEW_DATA_DIR": str(data),
                        "KAMREVIEW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                        "KAMREVIEW_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    proc = subprocess.run([sys.executable, str(ROOT / "starter.py"), "servers", "stop"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr and "UnboundLocalError" not in proc.stderr
    assert proc.returncode == 1 and "internal error (ImportError: half-finished install)" in proc.stderr
    assert (data / "kamreview-errors.log").exists() and not (tmp_path / "data").exists()
