"""The floor's payloads (plain dataclasses, no I/O), imported by its workflow through the sandbox passthrough."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

KINDS = ("self_review", "manager_scoring", "customer_survey")


@dataclass
class FloorInput:
    run_id: str
    participant: str


@dataclass
class FloorSubmission:
    kind: str
    actor_id: str
    value: int


@dataclass
class FloorRow:
    """One row to write: a natural key makes a retried activity write it once."""

    key: str
    run_id: str
    participant: str
    kind: str
    actor_id: str
    value: int
    at: datetime
