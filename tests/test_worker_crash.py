"""A worker killed mid-cycle and restarted: the cycle completes with no duplicate and no lost row."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from services import tasks
from services.cycles import approve_payouts, create_cycle, finalize_calibration, start_cycle
from tests.helpers import count, cycle_config, cycle_phase_is, eventually, ratings, review_started, seed_org
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
)

ROOT = Path(__file__).resolve().parent.parent


def spawn_worker(db_url: str, address: str, task_queue: str) -> subprocess.Popen:
    env = os.environ | {
        "KAMREVIEW_DATABASE_URL": db_url,
        "KAMREVIEW_TEMPORAL_ADDRESS": address,
        "KAMREVIEW_TASK_QUEUE": task_queue,
    }
    proc = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert "worker running" in line, line
    return proc


async def test_worker_killed_mid_cycle_and_restarted(client, db_url, task_queue):
    org = seed_org(db_url, kams=6, managers=2, contacts_per_kam=2)
    cid = f"CR{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid, due="600s"))
    address = client.service_client.config.target_host
    worker = spawn_worker(db_url, address, task_queue)
    try:
        await start_cycle(client, db_url, cid, task_queue)
        for k in org["kams"]:
            await eventually(lambda k=k: review_started(client, cid, k), timeout=30)
        # Submissions in flight while the worker dies: each is applied exactly once in the end.
        submissions = [
            asyncio.create_task(tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(k, ratings(2))))
            for k in org["kams"]
        ] + [
            asyncio.create_task(tasks.submit_manager_score(
                client, db_url, cid, k, ManagerScoreSubmission(org["manager_of"][k], ratings(3), potential=2)))
            for k in org["kams"]
        ]
        await asyncio.sleep(0.3)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        await asyncio.sleep(1)
        worker = spawn_worker(db_url, address, task_queue)
        first = await asyncio.gather(*submissions)
        # The same submissions again (a user retrying after an error page): still applied once.
        again = await asyncio.gather(*(tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(k, ratings(2)))
                                       for k in org["kams"]))
        assert [r.task_id for r in again] == [r.task_id for r in first[: len(org["kams"])]]
        for k in org["kams"]:
            for c in org["contacts"][k]:
                await tasks.submit_survey(client, db_url, cid, k, SurveySubmission(c, 4, 8))
        await eventually(lambda: cycle_phase_is(client, cid, "calibration"), timeout=90)
        # Kill it again between phases; the restarted worker finishes the cycle.
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = spawn_worker(db_url, address, task_queue)
        await finalize_calibration(client, db_url, cid, "HR1")
        await eventually(lambda: cycle_phase_is(client, cid, "awaiting_approval"), timeout=90)
        await approve_payouts(client, db_url, cid, "PAY1")
        await client.get_workflow_handle(cycle_workflow_id(cid)).result()
    finally:
        worker.kill()
        worker.wait()

    n = len(org["kams"])
    assert count(db_url, "SELECT count(*) FROM self_review_answer") == n * 7
    assert count(db_url, "SELECT count(*) FROM manager_score") == n * 8  # 7 competencies + potential
    assert count(db_url, "SELECT count(*) FROM survey_response") == n * 2
    assert count(db_url, "SELECT count(*) FROM review WHERE status = 'closed' AND preliminary_score IS NOT NULL") == n
    assert count(db_url, "SELECT count(*) FROM calibrated_rating") == n
    assert count(db_url, "SELECT count(*) FROM payout_line") == n * 2  # a bonus and a commission each
    assert count(db_url, "SELECT count(*) FROM payout_line WHERE status = 'locked'") == n * 2
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'self_review.submitted'") == n
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.closed'") == n
    assert count(db_url, "SELECT count(*) FROM task WHERE status = 'done'") == n * 4
