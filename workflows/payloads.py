"""Payloads exchanged between clients, workflows and activities (plain dataclasses, no I/O).

Kept small on purpose: they are written into workflow histories, thousands of times per cycle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import Strict

from domain.phases import (  # noqa: F401 - re-exported
    ALL_PHASES,
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    PEER_APPROVAL,
    PEER_FEEDBACK,
    PEER_NOMINATION,
    PHASE_BY_KEY,
    PHASES,
    SELF_REVIEW,
)

MAX_TEXT = 4000


def cycle_workflow_id(cycle_id: str) -> str:
    return f"cycle:{cycle_id}"


def review_id_for(cycle_id: str, employee_id: str) -> str:
    return f"{cycle_id}:{employee_id}"


def review_workflow_id(review_id: str) -> str:
    return f"review:{review_id}"


def task_id_for(review_id: str, phase: str, contact_id: str | None = None) -> str:
    return f"{review_id}:{phase}" + (f":{contact_id}" if contact_id else "")


def phase_task_id(review_id: str, phase: str, person: str | None) -> str:
    """The task of ``person`` in a phase, by its definition: their own in a per-person phase (a contact's survey, a
    peer's feedback), else the phase's one task, whoever asks. Pure: the workflows, services and activities alike."""
    return task_id_for(review_id, phase, person if _per_person(phase) else None)


def task_key(phase: str, person: str | None) -> str:
    """What a review's submissions and versions are keyed by: the person in a per-person phase, else the phase."""
    return person if _per_person(phase) and person is not None else phase


def _per_person(phase: str) -> bool:
    definition = PHASE_BY_KEY.get(phase)
    return definition is not None and definition.per_person


@dataclass
class PeerFeedbackPlan:
    """The cycle's peer feedback, as the review workflow checks it (docs/peer-feedback.md)."""

    min_answers: int
    max_peers: int
    question_ids: list[str]
    scale_min: int = 1
    scale_max: int = 5


@dataclass
class ReviewRules:
    """What a submission must contain; enough for validators to decide without I/O."""

    competency_ids: list[str]
    competency_min: int
    competency_max: int
    kpi_ids: list[str]
    potential_min: int = 1
    potential_max: int = 3
    peer_feedback: PeerFeedbackPlan | None = None  # the cycle has a peer phase (its PhasePlan among the phases)


@dataclass
class PhasePlan:
    phase: str
    due_at: datetime
    reminders_before_s: list[float]
    on_deadline: str  # close | extend
    extend_by_s: float = 0.0
    max_extensions: int = 0


@dataclass
class CyclePlan:
    """The frozen configuration reduced to what the workflows need, with absolute deadlines."""

    cycle_id: str
    participant_count: int
    batch_size: int
    rules: ReviewRules
    phases: list[PhasePlan]
    rating_levels: list[int]
    enforce_guideline: bool


@dataclass
class BeginCycleInput:
    cycle_id: str
    started_at: datetime


@dataclass
class ContactRef:
    contact_id: str
    account_id: str


@dataclass
class ReviewSeed:
    review_id: str
    employee_id: str
    reviewer_id: str | None
    contacts: list[ContactRef]


@dataclass
class StartBatchInput:
    """Open the reviews with seq in [seq_from, seq_to) and start their workflows."""

    cycle_id: str
    batch_no: int
    seq_from: int
    seq_to: int  # exclusive
    rules: ReviewRules
    phases: list[PhasePlan]
    opened_at: datetime
    search_attributes: bool = False  # start the reviews carrying CycleId, EmployeeId, ReviewerId and Phase


@dataclass
class ReviewInput:
    cycle_id: str
    review_id: str
    employee_id: str
    reviewer_id: str | None
    contacts: list[ContactRef]
    rules: ReviewRules
    phases: list[PhasePlan]


@dataclass
class ReviewResult:
    review_id: str
    score: str | None
    missing: list[str]


@dataclass
class ReviewsClosed:
    """How the reviews of a cycle ended, counted in PostgreSQL once the last one closed."""

    reviews: int
    scored: int
    with_missing: int


# Human submissions (Update arguments) ---------------------------------------------------------


# Ratings and answers are strict whole numbers: the data converter would otherwise turn a JSON ``true``
# into 1 before any validator could refuse it (tests/workflows: a true rating).
Level = Annotated[int, Strict()]


@dataclass
class SelfReviewSubmission:
    actor_id: str
    ratings: dict[str, Level]
    evidence: dict[str, str] = field(default_factory=dict)
    kpi_comments: dict[str, str] = field(default_factory=dict)


@dataclass
class ManagerScoreSubmission:
    actor_id: str
    ratings: dict[str, Level]
    comments: dict[str, str] = field(default_factory=dict)
    potential: Level | None = None


@dataclass
class SurveySubmission:
    contact_id: str
    satisfaction: Level
    nps: Level | None = None
    comment: str = ""


@dataclass
class ReassignReviewer:
    actor_id: str
    new_reviewer_id: str
    reason: str


@dataclass
class ReassignRecord:
    review_id: str
    previous_reviewer_id: str | None
    new_reviewer_id: str
    actor_id: str
    reason: str
    at: datetime


# Org changes reaching a running cycle (docs/org-changes.md) -----------------------------------------

# The patch that guards the workflows' org-change paths (joiner added, leaver ended, survey invitations moved).
ORG_CHANGES_PATCH = "org-changes"


@dataclass
class EndReview:
    """A leaver: the review's open tasks end and it closes with what was submitted."""

    actor_id: str
    left_on: str  # ISO date of the leaving date (the incentive is prorated to it)
    reason: str


@dataclass
class EndReviewRecord:
    cycle_id: str
    review_id: str
    actor_id: str
    left_on: str
    reason: str
    at: datetime


@dataclass
class SurveyMove:
    """An account reassigned: its contacts' open invitations leave one KAM's review and join another's."""

    actor_id: str
    account_id: str
    contacts: list[ContactRef]
    other_employee_id: str  # the KAM the invitations move to (withdraw) or come from (invite)


@dataclass
class SurveyMoveRecord:
    cycle_id: str
    review_id: str
    account_id: str
    contact_ids: list[str]
    other_employee_id: str
    actor_id: str
    at: datetime
    due_at: datetime | None = None  # invite: the survey phase's deadline in this review


# Reopen and sign-off (docs/reopen-and-sign-off.md) --------------------------------------------------

# The patch that guards the review workflow's reopen path (HR reopens a submitted task with a reason).
REOPEN_PATCH = "reopen"


@dataclass
class ReopenTask:
    """HR reopens one submitted task (of a running review, or of a closed one in calibration): submit again by ``due_at``."""

    actor_id: str
    phase: str  # self_review | manager_scoring | customer_survey
    reason: str
    due_at: datetime
    contact_id: str | None = None  # the survey answer of this contact


@dataclass
class ReopenRecord:
    cycle_id: str
    review_id: str
    task_id: str
    phase: str
    version: int  # the version the resubmission will be
    actor_id: str
    reason: str
    due_at: datetime
    at: datetime


def reopened_workflow_id(review_id: str) -> str:
    """The workflow that drives the tasks HR reopened after the review closed (workflows/reopened.py)."""
    return f"reopened:{review_id}"


@dataclass
class ReopenedReviewInput:
    """A closed review in calibration whose submissions HR reopens: who may submit what, by the frozen rules."""

    cycle_id: str
    review_id: str
    employee_id: str
    reviewer_id: str | None
    contact_ids: list[str]
    rules: ReviewRules
    versions: dict[str, int] = field(default_factory=dict)  # each submitted task's version now, by phase or contact


@dataclass
class SettledTask:
    """A reopened task settled: resubmitted as ``version``, or closed at its deadline with the version before."""

    task_id: str
    version: int  # the version the reopen opened
    resubmitted: bool


@dataclass
class RescoreInput:
    cycle_id: str
    review_id: str
    settled: list[SettledTask]
    at: datetime


@dataclass
class RescoreResult:
    review_id: str
    preliminary_score: str | None
    suggested_level: int | None
    final_level: int | None


@dataclass
class ReopenedTaskStatus:
    task_id: str
    phase: str
    version: int
    due_at: datetime
    state: str  # open | resubmitted | kept (the deadline passed: the earlier version stands)
    rescored: bool


@dataclass
class AddParticipant:
    """A joiner in the cycle's population: their review opened in the running cycle."""

    actor_id: str
    employee_id: str
    reviewer_id: str


@dataclass
class AddReviewInput:
    cycle_id: str
    employee_id: str
    reviewer_id: str
    actor_id: str
    rules: ReviewRules
    phases: list[PhasePlan]
    opened_at: datetime
    search_attributes: bool = False


@dataclass
class Receipt:
    task_id: str
    accepted_at: datetime


# Peer feedback (docs/peer-feedback.md) ---------------------------------------------------------------

# The patch that guards the review workflow's peer feedback path (nominate, approve, answer).
PEER_FEEDBACK_PATCH = "peer-feedback"
# The review workflow's generic Update for a phase defined only in the registry (docs/phases.md).
SUBMIT_TASK_PATCH = "submit-task"

# A review running this code records this one patch marker instead of "local-writes" and "search-attributes", and
# carries Phase as open/closed (one upsert in its life) instead of upserting the first phase still waiting at each
# change. Each patch marker also upserts TemporalChangeVersion, and each upsert is a visibility write at the server:
# five per review before, two now (bench/README.md, session 25). Histories from before it replay as they ran.
LEAN_REVIEW_PATCH = "lean-review"
# The same lean review, its one marker recorded in the review's first workflow task and its Phase upserted (closed)
# in its last. The server makes one visibility write per task whatever the task upserts, and a workflow's first
# task makes one anyway; the last task's is the close record. So a review's upserts cost no visibility write of
# their own, as the floor's workflow (bench/README.md, session 26). Histories from before it replay as they ran.
LEAN_FROM_START_PATCH = "lean-review-from-start"


@dataclass
class PeerNomination:
    """The KAM names the colleagues they would like feedback from."""

    actor_id: str
    peer_ids: list[str]


@dataclass
class PeerApproval:
    """The reviewing manager approves the nomination, all of it or the peers listed (at least min_answers)."""

    actor_id: str
    peer_ids: list[str]


@dataclass
class PeerFeedbackSubmission:
    """One peer's answers: question id -> rating on the cycle's answer scale. No free text: it could not be
    shown in aggregate, and would name its writer."""

    actor_id: str
    ratings: dict[str, Level]


@dataclass
class TaskSubmission:
    """A submission to any phase whose definition takes the generic answers (``submit_task``): a rating per question
    of the phase's definition, on its scale, and optional comments per question. A phase defined after the first four
    needs no payload type and no Update of its own."""

    phase: str
    actor_id: str
    ratings: dict[str, Level]
    comments: dict[str, str] = field(default_factory=dict)


@dataclass
class PeerStepRecord:
    """A nomination or an approval to persist: the step's task done, the next step's tasks opened."""

    cycle_id: str
    review_id: str
    step: str  # peer_nomination | peer_approval
    actor_id: str
    peer_ids: list[str]
    at: datetime
    due_at: datetime
    next_assignees: list[str]  # who gets a task next: the reviewer after a nomination, the peers after approval


# Activity records ------------------------------------------------------------------------------


@dataclass
class SubmissionRecord:
    """One human submission to persist (any phase's: its definition's ``storage`` says where it goes)."""

    cycle_id: str
    review_id: str
    task_id: str
    phase: str
    actor_id: str
    submitted_at: datetime
    ratings: dict[str, int]
    comments: dict[str, str]
    potential: int | None = None
    satisfaction: int | None = None
    nps: int | None = None
    version: int = 1  # 2, 3, ... after HR reopened the task: the earlier version moves to submission_version


def submission_digest(actor_id: str, ratings: dict[str, int], comments: dict[str, str], potential: int | None = None,
                      satisfaction: int | None = None, nps: int | None = None) -> str:
    """What a submission says, as a short digest: equal content, equal digest (whatever the key order).

    It names the submission's Update (so only an identical repeat gets the first receipt) and is kept
    in the submission's audit row (so a repeat after the review closed is recognised too).
    """
    content = [actor_id, ratings, comments, potential, satisfaction, nps]
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


def self_review_comments(sub: SelfReviewSubmission) -> dict[str, str]:
    """Evidence per competency and comments per KPI, stored side by side (KPI items prefixed ``kpi:``)."""
    return dict(sub.evidence) | {f"kpi:{k}": v for k, v in sub.kpi_comments.items()}


def survey_comments(sub: SurveySubmission) -> dict[str, str]:
    return {"comment": sub.comment} if sub.comment else {}


def record_digest(rec: SubmissionRecord) -> str:
    return submission_digest(rec.actor_id, rec.ratings, rec.comments, rec.potential, rec.satisfaction, rec.nps)


@dataclass
class Recipient:
    kind: str  # employee | contact
    id: str
    task_id: str


@dataclass
class PhaseEvent:
    """A reminder, an extension or a closing of one phase of one review, written to the outbox."""

    cycle_id: str
    review_id: str
    phase: str
    event: str  # reminder | extended | closed
    number: int
    due_at: datetime
    recipients: list[Recipient]


@dataclass
class CloseReviewInput:
    cycle_id: str
    review_id: str
    closed_at: datetime
    missing: list[str]


@dataclass
class ReviewPhaseStatus:
    phase: str
    state: str  # open | done | closed
    due_at: datetime
    extensions: int
    outstanding: list[str]


@dataclass
class ReviewStatus:
    review_id: str
    employee_id: str
    reviewer_id: str | None
    closed: bool
    phases: list[ReviewPhaseStatus]


# Cycle-level -----------------------------------------------------------------------------------


@dataclass
class CycleState:
    """Everything the cycle workflow carries across continue-as-new."""

    cycle_id: str
    phase: str = "starting"
    plan: CyclePlan | None = None
    batches_total: int = 0
    batches_done: int = 0
    reviews_closed: int = 0
    reviews_scored: int = 0
    reviews_with_missing: int = 0
    adjustments: int = 0
    calibration_finalized: bool = False
    payout_lines: int = 0
    approved_by: str | None = None
    blocked_reason: str | None = None
    runs: int = 1
    blocks: int = 0  # how often incentives were blocked: names HR's retry of each block (its Update id)
    joiners: int = 0  # reviews added for joiners after the cycle started (org changes)


@dataclass
class CycleInput:
    cycle_id: str
    state: CycleState | None = None


@dataclass
class RatingAdjustmentRequest:
    actor_id: str
    employee_id: str
    to_level: int
    reason: str


@dataclass
class ActorRequest:
    actor_id: str


@dataclass
class AdjustmentRecord:
    adjustment_id: str
    cycle_id: str
    employee_id: str
    to_level: int
    reason: str
    actor_id: str
    adjusted_at: datetime


@dataclass
class CycleActionInput:
    cycle_id: str
    actor_id: str
    at: datetime


@dataclass
class CalibrationSummary:
    ratings: int
    within_guideline: bool
    violations: list[str]


@dataclass
class IncentiveSummary:
    lines: int
    total_by_currency: dict[str, str]
    new_lines: int = 0
    revision: int = 0


@dataclass
class CorrectionResult:
    cycle_id: str
    delta_lines: int
    approved_by: str | None


@dataclass
class CycleStatus:
    cycle_id: str
    phase: str
    participants: int
    batches_total: int
    batches_done: int
    reviews_closed: int
    reviews_with_missing: int
    adjustments: int
    payout_lines: int
    approved_by: str | None
    blocked_reason: str | None = None
    blocks: int = 0


@dataclass
class CycleResult:
    cycle_id: str
    reviews: int
    payout_lines: int
    approved_by: str | None


# Message delivery --------------------------------------------------------------------------------


def delivery_workflow_id(batch: str) -> str:
    return f"deliver:{batch}"


@dataclass
class DeliveryInput:
    batch: str  # the event that queued the messages (the outbox rows' ``batch``)


@dataclass
class DeliveryRound:
    """What one delivery attempt of a batch achieved, and what is left for later."""

    sent: int
    failed: int
    uncertain: int
    waiting: int  # to be retried (the channel was down or rate-limited)
    next_attempt_in_s: float | None = None


@dataclass
class ScheduledCycleInput:
    """What a cycle schedule starts each period with: its template (YAML, frozen when the schedule was made)."""

    schedule_id: str
    template: str
    cadence: str
    first: str  # ISO date of the first period's start
    actor: str  # who made the schedule: the cycles it creates are theirs in the audit log


@dataclass
class OpenScheduledCycle:
    schedule: ScheduledCycleInput
    on: str  # ISO date (in the template's time zone) the run was scheduled for


@dataclass
class ScheduledCycleResult:
    cycle_id: str
    created: bool  # False: a run for this period had created it already (a catch-up, a second trigger)
    started: bool  # False: it was running already
    participants: int


@dataclass
class CrmSyncInput:
    """What the daily CRM sync runs with: the source, its mapping (YAML, frozen when the sync was enabled)."""

    source: str
    mapping: str | None
    actor: str  # who enabled the sync: its changes are theirs in the audit log


@dataclass
class CrmSyncResult:
    source: str
    changed: bool
    inserted: int
    updated: int
    notes: list[str] = field(default_factory=list)
    org_changes: int = 0  # org changes (accounts reassigned) applied to running cycles
