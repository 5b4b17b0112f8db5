"""Peer feedback in aggregate only: below min_answers nothing is shown; at or above, averages per question that do not
depend on the order of the answers or on who gave them; the score leaves it out with a reason a KAM understands."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cycle import PeerFeedbackConfig
from domain.errors import DomainError
from domain.peers import aggregate, check_peers
from domain.phases import (
    ALL_PHASES,
    PEER_APPROVAL,
    PEER_FEEDBACK,
    PEER_NOMINATION,
    PHASE_BY_KEY,
    PHASES,
    link_for,
    phase_label,
    task_kind,
)
from domain.scorecard import Scorecard, default_scorecard
from domain.scoring import ReviewInputs, preliminary_score

Q = ["collaboration", "customer_focus", "reliability"]


def test_below_the_minimum_nothing_about_the_answers_is_there():
    agg = aggregate([{"collaboration": 5, "customer_focus": 1, "reliability": 3}] * 2, Q, 3)
    assert agg.shown is False
    assert agg.answers is None and agg.averages == {} and agg.overall is None
    dumped = agg.model_dump(mode="json")
    assert set(dumped) >= {"shown", "min_answers"} and dumped["answers"] is None
    assert "2" not in agg.explanation() and "anonymous" in agg.explanation()  # no count in the KAM's reason


def test_at_the_minimum_averages_per_question_only():
    answers = [{"collaboration": 5, "customer_focus": 4, "reliability": 3},
               {"collaboration": 4, "customer_focus": 4, "reliability": 2},
               {"collaboration": 3, "customer_focus": 5, "reliability": 2}]
    agg = aggregate(answers, Q, 3)
    assert agg.shown and agg.answers == 3
    assert agg.averages == {"collaboration": Decimal("4.00"), "customer_focus": Decimal("4.33"),
                            "reliability": Decimal("2.33")}
    assert agg.overall == Decimal("3.55")


answer_sets = st.lists(st.fixed_dictionaries({q: st.integers(1, 5) for q in Q}), min_size=0, max_size=8)


@given(answer_sets, st.randoms(use_true_random=False), st.integers(2, 5))
def test_the_aggregate_never_depends_on_order_or_identity(answers, rnd, minimum):
    shuffled = list(answers)
    rnd.shuffle(shuffled)
    # Who answered is not an input at all; relabelled answer sets (a dict per peer in any key order) agree too.
    relabelled = {f"P{rnd.randint(0, 10**6)}-{i}": dict(reversed(list(a.items()))) for i, a in enumerate(shuffled)}
    assert aggregate(answers, Q, minimum) == aggregate(relabelled.values(), Q, minimum)
    agg = aggregate(answers, Q, minimum)
    assert agg.shown == (len(answers) >= minimum)


def _card(peer_weight: int | None) -> Scorecard:
    data = default_scorecard().model_dump(mode="json")
    weights = {"kpis": 60, "competencies": 25, "csat": 15}
    if peer_weight:
        weights = {"kpis": 50, "competencies": 25, "csat": 15, "peer_feedback": peer_weight}
    data["component_weights"] = weights
    return Scorecard.model_validate(data)


RATINGS = {"communication": 2, "logical_analysis": 3, "coordination": 2, "market_analysis": 3,
           "product_knowledge": 2, "customer_relationship": 3, "sales_management": 2}


def test_the_peer_weight_is_optional_and_a_card_without_it_is_unchanged():
    assert "peer_feedback" not in _card(None).model_dump(mode="json")["component_weights"]
    assert _card(None).model_dump(mode="json") == default_scorecard().model_dump(mode="json")


def test_below_the_minimum_the_component_is_left_out_with_a_reason():
    card = _card(10)
    base = ReviewInputs(manager_ratings=RATINGS, kpi_actuals={"sales_attainment": Decimal("1.0")})
    hidden = preliminary_score(card, base.model_copy(update={"peer_feedback": aggregate([{q: 5 for q in Q}] * 2, Q, 3)}))
    assert "peer_feedback" in hidden.missing
    assert "peer_feedback" not in hidden.component_scores
    assert any("anonymous" in n for n in hidden.notes)
    assert not any(line.component == "peer_feedback" for line in hidden.lines)
    shown = preliminary_score(card, base.model_copy(update={"peer_feedback": aggregate([{q: 5 for q in Q}] * 3, Q, 3)}))
    assert shown.component_scores["peer_feedback"] == Decimal(5)
    [line] = [line for line in shown.lines if line.component == "peer_feedback"]
    assert "3 colleagues" in line.explanation


def test_a_nomination_is_checked_without_io():
    check_peers(["P1", "P2", "P3"], "K1", "M1", 5, 3)
    for peers, word in ((["P1", "P1", "P2"], "once"), (["K1", "P2", "P3"], "themselves"),
                        (["M1", "P2", "P3"], "manager"), (["P1", "P2"], "at least"),
                        ([f"P{i}" for i in range(6)], "at most")):
        with pytest.raises(DomainError, match=word):
            check_peers(peers, "K1", "M1", 5, 3)


def test_the_config_refuses_a_threshold_that_could_never_be_met():
    with pytest.raises(ValueError, match="max_peers"):
        PeerFeedbackConfig(due_after="14d", min_answers=4, max_peers=3)
    assert PeerFeedbackConfig(due_after="14d").min_answers == 3


def test_peer_feedback_was_added_through_the_registry():
    """One definition: it is in the registry (optional, so no cycle without it changes), named in both languages,
    with its tasks' kinds and pages; the always-on phases are as before."""
    assert PHASES == ("self_review", "manager_scoring", "customer_survey")
    assert ALL_PHASES == PHASES + (PEER_FEEDBACK,)
    d = PHASE_BY_KEY[PEER_FEEDBACK]
    assert d.optional and d.assignees == "peers" and d.scores == "peer_feedback" and d.per_person
    assert phase_label(PEER_FEEDBACK, "zh-CN") == "同事反馈" and phase_label(PEER_NOMINATION, "zh-CN") == "提名反馈同事"
    assert task_kind("C1:K1:peer_nomination", PEER_FEEDBACK) == PEER_NOMINATION
    assert task_kind("C1:K1:peer_feedback:P1", PEER_FEEDBACK) == PEER_FEEDBACK
    assert link_for(PEER_APPROVAL, "C1", "K1") == "/manager/peers/C1/K1"
    assert link_for("manager_scoring", "C1", "K1") == "/manager/reviews/C1/K1"
    assert link_for("self_review", "C1", "K1") == "/me/reviews/C1"
