"""The search attributes kamreview's workflows carry, so the Temporal Web UI can list e.g. all open reviews of M4
in 2026-Q3 (``CycleId = "2026-Q3" AND ReviewerId = "M4" AND ExecutionStatus = "Running"``).

One definition: the workflows set them, the embedded dev server and the compose setup register them.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CYCLE_ID = SearchAttributeKey.for_keyword("CycleId")
EMPLOYEE_ID = SearchAttributeKey.for_keyword("EmployeeId")
REVIEWER_ID = SearchAttributeKey.for_keyword("ReviewerId")
PHASE = SearchAttributeKey.for_keyword("Phase")

ALL: tuple[SearchAttributeKey[str], ...] = (CYCLE_ID, EMPLOYEE_ID, REVIEWER_ID, PHASE)
