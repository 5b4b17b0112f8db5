"""The search attributes kamreview's workflows carry, so the Temporal Web UI can list e.g. all open reviews of M4
in 2026-Q3 (``CycleId = "2026-Q3" AND ReviewerId = "M4" AND ExecutionStatus = "Running"``).

One definition: the workflows set them, the embedded dev server and the compose setup register them.

A workflow is started carrying CycleId (and a review its EmployeeId, ReviewerId and first Phase) only when the
namespace has them registered (``services.cycles.start_cycle`` asks the server once per cycle): a server that does
not know them would refuse the start, or fail every workflow task that upserts them. A workflow that was started
without them never upserts any, so it runs the same on any server (the time-skipping test server included).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CYCLE_ID = SearchAttributeKey.for_keyword("CycleId")
EMPLOYEE_ID = SearchAttributeKey.for_keyword("EmployeeId")
REVIEWER_ID = SearchAttributeKey.for_keyword("ReviewerId")
PHASE = SearchAttributeKey.for_keyword("Phase")

ALL: tuple[SearchAttributeKey[str], ...] = (CYCLE_ID, EMPLOYEE_ID, REVIEWER_ID, PHASE)

# Upserting them is new workflow behaviour: histories from before it replay without the upserts.
PATCH = "search-attributes"

# A review's Phase while it runs, and once it has closed (a review from before lean-review-from-start: once every
# phase is done or closed). Which phase waits is in PostgreSQL (HR's cycle page, ``kamreview tasks``): a visibility
# write per submission cost about a tenth of a review's server CPU (bench/README.md, sessions 23 and 25).
REVIEW_OPEN = "open"
REVIEW_CLOSED = "closed"


def command_line_flags() -> list[str]:
    """``temporal server start-dev`` flags registering every attribute (the dev server's own types)."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags


def review_start_attributes(cycle_id: str, employee_id: str, reviewer_id: str | None) -> TypedSearchAttributes:
    """What a review workflow is started with: cheaper than upserting them in its first task."""
    pairs = [SearchAttributePair(CYCLE_ID, cycle_id), SearchAttributePair(EMPLOYEE_ID, employee_id),
             SearchAttributePair(PHASE, REVIEW_OPEN)]
    if reviewer_id:
        pairs.append(SearchAttributePair(REVIEWER_ID, reviewer_id))
    return TypedSearchAttributes(pairs)


def cycle_start_attributes(cycle_id: str, phase: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(CYCLE_ID, cycle_id), SearchAttributePair(PHASE, phase)])


class Carried:
    """A workflow's view of its search attributes: upserts a value only when it changed, and only when the workflow
    was started carrying them (so the server has them registered) and runs the patched code."""

    def __init__(self) -> None:
        attrs = workflow.info().typed_search_attributes
        self._on = attrs.get(CYCLE_ID) is not None
        self._values: dict[str, str | None] = {key.name: attrs.get(key) for key in ALL}

    @property
    def on(self) -> bool:
        return self._on

    def set(self, key: SearchAttributeKey[str], value: str | None, patch: str = PATCH) -> None:
        """Upsert ``key`` (unset it with None) when the value differs from what the workflow carries; ``patch`` is
        the marker the upsert is behind (a workflow that has one already passes it, so it records one marker)."""
        if not self._on or self._values.get(key.name) == value or not workflow.patched(patch):
            return
        self._values[key.name] = value
        workflow.upsert_search_attributes([key.value_set(value) if value is not None else key.value_unset()])
