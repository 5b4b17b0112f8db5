"""Peer feedback through the service, the review workflow and PostgreSQL: below the cycle's min_answers (3) nothing
about the answers is shown anywhere (KAM, manager, the score breakdown, the audit log; HR sees only the count);
at 3 the averages per question, never who answered what."""

from __future__ import annotations

import json
import uuid

import pytest

from domain.cycle import CycleConfig
from services import peers, tasks
from services.cycles import create_cycle, start_cycle
from services.errors import Forbidden, Rejected
from tests.helpers import cycle_config, eventually, maybe_record_history, ratings, review_started, rows, seed_org
from tests.test_cli import cli_env, run_cli
from worker import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    ReassignReviewer,
    SelfReviewSubmission,
    SurveySubmission,
    review_id_for,
    review_workflow_id,
)

Q = ["collaboration", "customer_focus", "reliability"]


def peer_cycle(cycle_id: str, weight: int | None = 10) -> CycleConfig:
    data = cycle_config(cycle_id, due="300s").model_dump(mode="json")
    data["peer_feedback"] = {"due_after": "20s", "reminders_before": [], "min_answers": 3, "max_peers": 4}
    if weight:
        data["scorecard"]["component_weights"] = {"kpis": 50, "competencies": 25, "csat": 15, "peer_feedback": weight}
    return CycleConfig.model_validate(data)


async def _everything_else(client, db_url, c, org, k):
    m = org["manager_of"][k]
    await tasks.submit_self_review(client, db_url, c, SelfReviewSubmission(k, ratings(2)))
    await tasks.submit_manager_score(client, db_url, c, k, ManagerScoreSubmission(m, ratings(2)))
    for contact in org["contacts"][k]:
        await tasks.submit_survey(client, db_url, c, k, SurveySubmission(contact, 5, 9))


async def test_answers_are_hidden_below_three_and_averaged_at_three(client, db_url, task_queue, tmp_path):
    org = seed_org(db_url, kams=6, managers=1)
    c = f"PF{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, peer_cycle(c))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, c, task_queue)
        for k in ("K01", "K02"):
            await eventually(lambda k=k: review_started(client, c, k))
        # The nomination task is in the KAM's inbox from the start.
        assert rows(db_url, "SELECT kind, status FROM task WHERE id = %s", f"{c}:K01:peer_nomination") == [
            ("peer_nomination", "open")]
        with pytest.raises(Rejected, match="not a current employee"):
            await peers.nominate(client, db_url, c, "K01", "K01", ["K02", "K03", "CK010"])
        with pytest.raises(Rejected, match="reviewing manager"):
            await peers.nominate(client, db_url, c, "K01", "K01", ["K02", "K03", "M1"])
        await peers.nominate(client, db_url, c, "K01", "K01", ["K02", "K03", "K04", "K05"])
        await peers.nominate(client, db_url, c, "K02", "K02", ["K01", "K03", "K04"])
        assert rows(db_url, "SELECT assignee_id, status FROM task WHERE id = %s", f"{c}:K01:peer_approval") == [
            ("M1", "open")]
        await peers.approve(client, db_url, c, "K01", "M1", ["K02", "K03", "K04"])
        await peers.approve(client, db_url, c, "K02", "M1")  # the whole nomination
        assert [p for p, _, ok in await peers.nominated(db_url, c, "K01") if ok] == ["K02", "K03", "K04"]
        answers = {"K02": [5, 4, 3], "K03": [4, 4, 2], "K04": [3, 5, 2]}
        for peer, values in answers.items():
            receipt = await peers.answer(client, db_url, c, "K01", peer, dict(zip(Q, values, strict=True)))
            again = await peers.answer(client, db_url, c, "K01", peer, dict(zip(Q, values, strict=True)))
            assert again == receipt  # a repeat is applied once
        for peer in ("K01", "K03"):  # K04 never answers about K02
            await peers.answer(client, db_url, c, "K02", peer, dict.fromkeys(Q, 1))
        for k in ("K01", "K02"):
            await _everything_else(client, db_url, c, org, k)
            await client.get_workflow_handle(review_workflow_id(review_id_for(c, k))).result()
        await maybe_record_history(client, review_workflow_id(review_id_for(c, "K01")), "review_peer_feedback_local_writes")

    # K02: 2 answers, fewer than 3. Nothing shown to the KAM or the manager, HR sees the count only.
    for viewer in ("K02", "M1"):
        view = await peers.peer_view(db_url, c, "K02", viewer)
        assert (view.shown, view.averages, view.overall, view.answers, view.answered) == (False, {}, None, None, None)
        assert "anonymous" in view.explanation and "2" not in view.explanation
    hr = await peers.peer_view(db_url, c, "K02", "HR1", hr=True)
    assert (hr.shown, hr.averages, hr.answered, hr.asked) == (False, {}, 2, 3)
    with pytest.raises(Forbidden):
        await peers.peer_view(db_url, c, "K02", "K03")  # a peer does not read the result
    [(breakdown, missing)] = rows(db_url, "SELECT score_breakdown, missing FROM review WHERE id = %s", f"{c}:K02")
    assert "peer_feedback" in missing and "peer_feedback" not in breakdown["component_scores"]
    assert not [line for line in breakdown["lines"] if line["component"] == "peer_feedback"]
    assert any("anonymous" in n for n in breakdown["notes"])

    # K01: 3 answers. Averages per question; the component is scored.
    view = await peers.peer_view(db_url, c, "K01", "K01")
    assert view.shown and view.answers == 3
    assert {q: str(v) for q, v in view.averages.items()} == {
        "collaboration": "4.00", "customer_focus": "4.33", "reliability": "2.33"}
    [(breakdown,)] = rows(db_url, "SELECT score_breakdown FROM review WHERE id = %s", f"{c}:K01")
    assert breakdown["component_scores"]["peer_feedback"]

    # The CLI reads through the same view.
    env = cli_env(db_url, client, task_queue, tmp_path)
    kam = run_cli(env, tmp_path, "peers", "show", c, "K02", "--actor", "K02")
    assert kam.returncode == 0 and "anonymous" in kam.stdout and "answered:" not in kam.stdout
    assert not any(ch.isdigit() for ch in kam.stdout.replace("3 needed", "")), kam.stdout
    assert "answered: 2 of 3" in run_cli(env, tmp_path, "peers", "show", c, "K02", "--actor", "HR1").stdout
    shown = json.loads(run_cli(env, tmp_path, "peers", "show", c, "K01", "--actor", "M1", "--json").stdout)
    assert shown["averages"] == {"collaboration": "4.00", "customer_focus": "4.33", "reliability": "2.33"}
    assert shown["answered"] is None  # the count per peer status is HR's only

    # Nowhere a reader can reach says who answered what: the audit rows of the answers carry no ratings.
    audits = rows(db_url, "SELECT actor, after FROM audit_log WHERE action = 'peer_feedback.submitted'")
    assert len(audits) == 5 and all(after == {"status": "done"} for _, after in audits)
    assert all("rating" not in json.dumps(after) for _, after in audits)
    # An unanswered peer's task closed as missed; nobody above them was told who it was.
    assert rows(db_url, "SELECT status FROM task WHERE id = %s", f"{c}:K02:peer_feedback:K04") == [("missed",)]
    assert rows(db_url, """SELECT count(*) FROM notification WHERE kind = 'escalation'
                           AND params ->> 'phase' = 'peer_feedback'""") == [(0,)]
    # HR's list of late work names nobody for peer feedback (and does not trip over its task kinds).
    import psycopg

    from services.hr_views import late_work

    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        late = await late_work(conn, c)
    assert not [t for t in late.tasks if t.kind.startswith("peer")] and "peer_feedback" not in late.by_phase


async def test_a_reassigned_reviewer_approves_and_the_earlier_one_cannot(client, db_url, task_queue):
    seed_org(db_url, kams=4, managers=2)
    c = f"PR{uuid.uuid4().hex[:8]}"
    await create_cycle(db_url, peer_cycle(c, weight=None))
    async with running_worker(client, db_url, task_queue):
        await start_cycle(client, db_url, c, task_queue)
        await eventually(lambda: review_started(client, c, "K01"))
        await peers.nominate(client, db_url, c, "K01", "K01", ["K02", "K03", "K04"])
        await tasks.reassign_reviewer(client, db_url, c, "K01", ReassignReviewer("HR1", "M2", "M1 is on leave"))
        assert rows(db_url, "SELECT assignee_id FROM task WHERE id = %s", f"{c}:K01:peer_approval") == [("M2",)]
        with pytest.raises(Forbidden):
            await peers.approve(client, db_url, c, "K01", "M1")
        await peers.approve(client, db_url, c, "K01", "M2")
        assert [p for p, _, ok in await peers.nominated(db_url, c, "K01") if ok] == ["K02", "K03", "K04"]


async def test_a_cycle_without_peer_feedback_is_unchanged(db_url):
    """The frozen configuration (and its digest) of a cycle without peer feedback is as before it existed."""
    from services.cycles import config_digest

    config = cycle_config("PLAIN")
    assert "peer_feedback" not in config.scorecard.component_weights.model_dump(mode="json")
    assert config_digest(config) == config_digest(CycleConfig.model_validate(
        {k: v for k, v in config.model_dump(mode="json").items() if k != "peer_feedback"}))
