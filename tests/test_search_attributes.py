"""Search attributes on the dev server (issue 11): list a manager's open reviews of a cycle, follow a review's Phase
(open, then closed) and a reassignment, as the Temporal Web UI would."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType

from services import tasks
from services.cycles import approve_payouts, create_cycle, finalize_calibration, start_cycle
from tests.helpers import cycle_config, cycle_phase_is, eventually, maybe_record_history, ratings, seed_org
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    ManagerScoreSubmission,
    ReassignReviewer,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
)
from workflows.search_attributes import CYCLE_ID, EMPLOYEE_ID, PHASE, REVIEW_CLOSED, REVIEW_OPEN, REVIEWER_ID


async def _open_reviews(client, cid: str, reviewer: str) -> set[str]:
    query = f'CycleId = "{cid}" AND ReviewerId = "{reviewer}" AND ExecutionStatus = "Running"'
    return {wf.id async for wf in client.list_workflows(query)}


def _ids(cid: str, *kams: str) -> set[str]:
    return {review_workflow_id(review_id_for(cid, k)) for k in kams}


async def _attribute(client, workflow_id: str, key):
    return (await client.get_workflow_handle(workflow_id).describe()).typed_search_attributes.get(key)


async def _upserted(client, workflow_id: str) -> list[tuple[str, list[str]]]:
    """Each upsert in a workflow's history: the task it was made in (first, last or between) and what it set.

    The server makes one visibility write per workflow task that upserts, a first task makes one anyway, and the
    last task's is the close record: only an upsert "between" costs a visibility write of its own."""
    events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
    completed = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    upserts = []
    for e in events:
        if e.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        task = max(c for c in completed if c < e.event_id)  # a command's event follows its task's completion
        where = "first" if task == completed[0] else "last" if task == completed[-1] else "between"
        upserts.append((where, sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes
                                      .indexed_fields)))
    return upserts


async def _becomes(client, workflow_id: str, key, value) -> bool:
    """Visibility on the dev server is eventually consistent: poll briefly."""
    async def check() -> bool:
        return await _attribute(client, workflow_id, key) == value
    return bool(await eventually(check, timeout=20))


async def test_reviews_listed_by_cycle_and_reviewer_follow_phase_and_reassignment(client, db_url, task_queue):
    org = seed_org(db_url, kams=4, managers=2, contacts_per_kam=1)  # M1: K01, K03; M2: K02, K04
    cid = f"SA{uuid.uuid4().hex[:6]}"
    await create_cycle(db_url, cycle_config(cid))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cid, task_queue)

        async def listed(reviewer: str, expected: set[str]) -> bool:
            return await _open_reviews(client, cid, reviewer) == expected

        assert await eventually(lambda: listed("M1", _ids(cid, "K01", "K03")), timeout=30)
        assert await _open_reviews(client, cid, "M2") == _ids(cid, "K02", "K04")
        k01 = review_workflow_id(review_id_for(cid, "K01"))
        assert await _attribute(client, k01, CYCLE_ID) == cid
        assert await _attribute(client, k01, EMPLOYEE_ID) == "K01"
        assert await _attribute(client, k01, PHASE) == REVIEW_OPEN
        assert await _becomes(client, cycle_workflow_id(cid), PHASE, "reviews")

        # A review's Phase stays open while any phase waits: which one is in PostgreSQL, not a visibility write each.
        await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission("K01", ratings(2)))
        assert await _attribute(client, k01, PHASE) == REVIEW_OPEN

        # A reassignment moves the review to the new reviewer's list.
        await tasks.reassign_reviewer(client, db_url, cid, "K03", ReassignReviewer("HR1", "M2", "M1 is on leave"))
        k03 = review_workflow_id(review_id_for(cid, "K03"))
        assert await _becomes(client, k03, REVIEWER_ID, "M2")
        assert await eventually(lambda: listed("M1", _ids(cid, "K01")), timeout=20)
        assert await eventually(lambda: listed("M2", _ids(cid, "K02", "K03", "K04")), timeout=20)

        for k in org["kams"]:
            if k != "K01":
                await tasks.submit_self_review(client, db_url, cid, SelfReviewSubmission(k, ratings(2)))
            reviewer = "M2" if k == "K03" else org["manager_of"][k]
            await tasks.submit_manager_score(client, db_url, cid, k, ManagerScoreSubmission(reviewer, ratings(3)))
            for c in org["contacts"][k]:
                await tasks.submit_survey(client, db_url, cid, k, SurveySubmission(c, 4, 8))
        assert await _becomes(client, k01, PHASE, REVIEW_CLOSED)
        # Two upserts in its life, neither a visibility write of its own: its one patch marker's TemporalChangeVersion
        # in its first task, and Phase in the task that completes it.
        assert await _upserted(client, k01) == [("first", ["TemporalChangeVersion"]), ("last", ["Phase"])]
        assert await eventually(lambda: listed("M1", set()), timeout=20)  # closed reviews are no longer open
        assert await eventually(lambda: cycle_phase_is(client, cid, "calibration"))
        assert await _becomes(client, cycle_workflow_id(cid), PHASE, "calibration")
        await finalize_calibration(client, db_url, cid, "HR1")
        assert await eventually(lambda: cycle_phase_is(client, cid, "awaiting_approval"))
        await approve_payouts(client, db_url, cid, "PAY1")
        await client.get_workflow_handle_for(CycleWorkflow.run, cycle_workflow_id(cid)).result()
        assert await _becomes(client, cycle_workflow_id(cid), PHASE, "locked")
        await maybe_record_history(client, cycle_workflow_id(cid), "cycle_search_attributes")
        assert await _upserted(client, k03) == [
            ("first", ["TemporalChangeVersion"]), ("between", ["ReviewerId"]), ("last", ["Phase"])]
        await maybe_record_history(client, k03, "review_lean_from_start")  # reassigned, then closed
