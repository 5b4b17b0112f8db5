"""The review workflow's checks, called directly: what a submission must contain, decided without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from workflows.payloads import MAX_TEXT, SELF_REVIEW, PhasePlan, ReviewRules
from workflows.review_rules import PhaseState, check_ratings, check_texts

RULES = ReviewRules(competency_ids=["communication", "coordination"], competency_min=1, competency_max=3,
                    kpi_ids=["revenue"])


def _refusal(check, *args) -> str:
    """The message of the refusal; a refusal is never retried (a retry would refuse it again)."""
    with pytest.raises(ApplicationError) as caught:
        check(*args)
    assert caught.value.non_retryable
    return caught.value.message


@pytest.mark.parametrize("ratings", [{"communication": 1, "coordination": 3}, {"coordination": 2, "communication": 2}])
def test_complete_ratings_on_the_scale_pass(ratings):
    check_ratings(ratings, RULES, "self-review")


def test_a_missing_rating_is_named():
    assert _refusal(check_ratings, {"coordination": 2}, RULES, "self-review") == (
        "self-review: missing rating for communication")
    assert _refusal(check_ratings, {}, RULES, "x") == "x: missing rating for communication, coordination"


def test_an_unknown_competency_is_named_with_the_expected_ones():
    message = _refusal(check_ratings, {"communication": 2, "coordination": 2, "charisma": 3}, RULES, "manager scoring")
    assert message == "manager scoring: unknown competency charisma (expected communication, coordination)"


@pytest.mark.parametrize("value", [True, False, 2.0, "2", None, [2]])
def test_a_rating_must_be_a_whole_number_and_not_a_bool(value):
    message = _refusal(check_ratings, {"communication": value, "coordination": 2}, RULES, "self-review")
    assert message == f"self-review: rating for communication must be a whole number, got {value!r}"


@pytest.mark.parametrize("value", [0, 4, -1, 10**30])
def test_a_rating_off_the_scale_is_refused_with_the_scale(value):
    message = _refusal(check_ratings, {"communication": 2, "coordination": value}, RULES, "self-review")
    assert message == f"self-review: rating for coordination is {value}; the scale is 1 to 3"


@pytest.mark.parametrize("ratings", [None, [("communication", 2)], "communication=2"])
def test_ratings_must_be_a_mapping(ratings):
    assert _refusal(check_ratings, ratings, RULES, "self-review") == (
        "self-review: ratings must be a mapping of competency id to level")


def test_texts_on_known_items_up_to_the_limit_pass():
    check_texts({}, set(), "self-review")
    check_texts({"communication": "x" * MAX_TEXT, "revenue": ""}, {"communication", "revenue"}, "self-review")


def test_a_text_on_an_unknown_item_is_refused():
    assert _refusal(check_texts, {"charisma": "great"}, {"communication"}, "self-review") == (
        "self-review: comment on unknown item 'charisma'")


@pytest.mark.parametrize("text", [3, None, ["a"], {"a": "b"}])
def test_a_text_must_be_text(text):
    assert _refusal(check_texts, {"communication": text}, {"communication"}, "manager scoring") == (
        "manager scoring: comment on communication must be text")


def test_a_text_over_the_limit_is_refused_with_its_length():
    message = _refusal(check_texts, {"communication": "x" * (MAX_TEXT + 1)}, {"communication"}, "self-review")
    assert message == f"self-review: comment on communication is {MAX_TEXT + 1} characters; at most {MAX_TEXT}"


def test_a_phase_starts_open_with_nothing_counted_and_its_own_accepted_set():
    due = datetime(2026, 9, 30, tzinfo=UTC)
    plan = PhasePlan(SELF_REVIEW, due, [86400.0], "close")
    first = PhaseState(plan=plan, due_at=due, handled_until=datetime(2026, 7, 1, tzinfo=UTC))
    second = PhaseState(plan=plan, due_at=due, handled_until=datetime(2026, 7, 1, tzinfo=UTC))
    assert (first.closed, first.extensions, first.reminders, first.accepted) == (False, 0, 0, set())
    first.accepted.add(SELF_REVIEW)
    assert second.accepted == set()  # one review's submissions never count for another's
