"""Human tasks arrive as Updates: every rejection, and resubmissions applied once."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from services import tasks
from services.cycles import create_cycle, start_cycle
from services.errors import Conflict, NotFound, Rejected, refusal
from tests.helpers import count, cycle_config, eventually, ratings, review_started, seed_org
from worker import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    ReassignReviewer,
    SelfReviewSubmission,
    SurveySubmission,
    review_id_for,
    review_workflow_id,
)
from workflows.review import ReviewWorkflow


async def _update(client, review_id: str, update, arg, update_id: str):
    """An Update sent straight to a review workflow, under any id, refusals as the services raise them."""
    try:
        return await client.get_workflow_handle(review_workflow_id(review_id)).execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as err:
        raise refusal(err) from None


@pytest.fixture
async def open_cycle(client, db_url, task_queue):
    """One cycle with reviews open for three KAMs under M1 (and a second manager M2)."""
    org = seed_org(db_url, kams=3, managers=2)
    cycle_id = f"UPD{uuid.uuid4().hex[:8]}"  # workflow ids are unique per Temporal server
    await create_cycle(db_url, cycle_config(cycle_id, due="300s"))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, cycle_id, task_queue)
        for k in org["kams"]:
            await eventually(lambda k=k: review_started(client, cycle_id, k))
        yield org | {"cycle": cycle_id}


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        (SelfReviewSubmission("K01", {**ratings(2), "communication": 7}), "rating for communication is 7; the scale is 1 to 3"),
        (SelfReviewSubmission("K01", {**ratings(2), "communication": 0}), "the scale is 1 to 3"),
        (SelfReviewSubmission("K01", {k: v for k, v in ratings(2).items() if k != "coordination"}),
         "missing rating for coordination"),
        (SelfReviewSubmission("K01", {**ratings(2), "golf": 3}), "unknown competency golf"),
        (SelfReviewSubmission("K02", ratings(2)), "K02 may not submit the self-review of K01"),
        (SelfReviewSubmission("K01", ratings(2), {"communication": "x" * 5000}), "at most 4000"),
    ],
)
async def test_self_review_rejections(client, db_url, open_cycle, submission, message):
    C = open_cycle["cycle"]  # noqa: N806
    with pytest.raises(Rejected, match=message):
        # The review of K01, whoever claims to submit it.
        await _update(client, review_id_for(C, "K01"), ReviewWorkflow.submit_self_review, submission,
                            f"test-{message[:10]}")
    assert count(db_url, "SELECT count(*) FROM self_review_answer") == 0
    assert count(db_url, "SELECT count(*) FROM task WHERE status = 'done'") == 0


async def test_manager_score_rejections(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    org = open_cycle
    manager, other = org["manager_of"]["K01"], "M2" if org["manager_of"]["K01"] == "M1" else "M1"
    with pytest.raises(Rejected, match=f"{other} may not submit the manager scoring of K01; the reviewer is {manager}"):
        await tasks.submit_manager_score(client, db_url, C, "K01", ManagerScoreSubmission(other, ratings(2)))
    with pytest.raises(Rejected, match="rating for sales_management is 4"):
        await tasks.submit_manager_score(client, db_url, C, "K01",
                                         ManagerScoreSubmission(manager, {**ratings(2), "sales_management": 4}))
    with pytest.raises(Rejected, match="potential is 9"):
        await tasks.submit_manager_score(client, db_url, C, "K01", ManagerScoreSubmission(manager, ratings(2), potential=9))
    assert count(db_url, "SELECT count(*) FROM manager_score") == 0


async def test_survey_rejections(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    org = open_cycle
    contact = org["contacts"]["K01"][0]
    with pytest.raises(Rejected, match="satisfaction is 6"):
        await tasks.submit_survey(client, db_url, C, "K01", SurveySubmission(contact, 6))
    with pytest.raises(Rejected, match="likelihood to recommend is 11"):
        await tasks.submit_survey(client, db_url, C, "K01", SurveySubmission(contact, 4, 11))
    stranger = org["contacts"]["K02"][0]
    with pytest.raises(Rejected, match=f"contact {stranger} was not invited to rate K01"):
        await tasks.submit_survey(client, db_url, C, "K01", SurveySubmission(stranger, 4))
    assert count(db_url, "SELECT count(*) FROM survey_response") == 0


async def test_resubmission_with_the_same_id_is_applied_once(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    first = await tasks.submit_self_review(client, db_url, C, SelfReviewSubmission("K01", ratings(2)))
    again = await tasks.submit_self_review(client, db_url, C, SelfReviewSubmission("K01", ratings(2)))
    assert again == first  # the same Update id returns the first receipt
    assert count(db_url, "SELECT count(*) FROM self_review_answer WHERE review_id = %s", f"{C}:K01") == 7
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'self_review.submitted'") == 1
    # A different submission for the same task is refused: the self-review is already in.
    with pytest.raises(Conflict, match="already submitted"):
        await _update(client, review_id_for(C, "K01"), ReviewWorkflow.submit_self_review,
                            SelfReviewSubmission("K01", ratings(3)), "another-id")
    assert count(db_url, "SELECT min(rating) FROM self_review_answer WHERE review_id = %s", f"{C}:K01") == 2


async def test_survey_answered_twice_is_refused(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    contact = open_cycle["contacts"]["K01"][0]
    await tasks.submit_survey(client, db_url, C, "K01", SurveySubmission(contact, 5, 10))
    with pytest.raises(Conflict, match="already answered"):
        await _update(client, review_id_for(C, "K01"), ReviewWorkflow.submit_survey,
                            SurveySubmission(contact, 1), "second-attempt")
    assert count(db_url, "SELECT count(*) FROM survey_response") == 1


async def test_hr_reassigns_the_reviewer(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    org = open_cycle
    old = org["manager_of"]["K01"]
    new = "M2" if old == "M1" else "M1"
    with pytest.raises(Rejected, match="needs a reason"):
        await tasks.reassign_reviewer(client, db_url, C, "K01", ReassignReviewer("HR1", new, ""))
    await tasks.reassign_reviewer(client, db_url, C, "K01", ReassignReviewer("HR1", new, "M1 on leave"))
    with pytest.raises(Rejected, match=f"{old} may not submit the manager scoring of K01"):
        await tasks.submit_manager_score(client, db_url, C, "K01", ManagerScoreSubmission(old, ratings(2)))
    await tasks.submit_manager_score(client, db_url, C, "K01", ManagerScoreSubmission(new, ratings(2)))
    assert count(db_url, "SELECT count(*) FROM manager_score WHERE scored_by = %s", new) == 7
    assert count(db_url, "SELECT count(*) FROM audit_log WHERE action = 'review.reviewer_reassigned'") == 1


async def test_submitting_to_an_unknown_review_says_so(client, db_url, open_cycle):
    C = open_cycle["cycle"]  # noqa: N806
    with pytest.raises(NotFound, match="review .*:K99 does not exist"):
        await tasks.submit_self_review(client, db_url, C, SelfReviewSubmission("K99", ratings(2)))
