"""How often a cycle counts its open reviews while it waits for the last one to close."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from activities.reviews import POLL_FLOOR_S, POLL_MAX_S, POLL_MIN_S, next_poll_s

counts = st.integers(min_value=0, max_value=100_000)
intervals = st.floats(min_value=POLL_FLOOR_S, max_value=POLL_MAX_S)


@given(counts, counts, intervals)
def test_the_wait_stays_between_the_floor_and_the_ceiling(still_open: int, last_open: int, interval: float) -> None:
    assert POLL_FLOOR_S <= next_poll_s(still_open, last_open, interval) <= POLL_MAX_S


@given(counts, counts, intervals)
def test_while_reviews_close_the_wait_is_short_and_never_counts_more_than_500_rows_a_second_below_100_open(
        still_open: int, last_open: int, interval: float) -> None:
    if still_open == last_open:
        return
    wait = next_poll_s(still_open, last_open, interval)
    assert wait <= POLL_MIN_S
    if still_open < 100:
        assert still_open / wait <= 500


@given(counts, intervals)
def test_while_nothing_changes_the_wait_doubles_up_to_the_ceiling(still_open: int, interval: float) -> None:
    assert next_poll_s(still_open, still_open, interval) == min(2 * interval, POLL_MAX_S)


def test_the_last_few_open_reviews_are_counted_every_20_ms_many_every_200() -> None:
    assert next_poll_s(1, 2, POLL_MIN_S) == POLL_FLOOR_S == 0.02
    assert next_poll_s(50, 51, POLL_MIN_S) == 0.1
    assert next_poll_s(5_000, 5_001, POLL_MIN_S) == POLL_MIN_S == 0.2
