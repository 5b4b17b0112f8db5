"""What the review workflow decides with, kept out of its module: phase state and submission checks.

The workflow sandbox re-executes a workflow's module for every run (here: every review). This
module is passed through instead, so its dataclass and functions are built once per process, not
once per review: pure checks, testable without a worker, and about a sixth less work each time a
review's workflow instance is created (bench/cycle_bench.py --profile: 14.0 -> 11.7 ms profiled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from domain.errors import DomainError
from domain.peers import check_peers
from domain.phases import (
    ALL_PHASES,
    PHASE_BY_KEY,
    PHASE_DEFINITIONS,
    PhaseChoices,
    PhaseDefinition,
    PhaseName,
    QuestionNames,
    phase_label,
    reopenable_phases,
)
from domain.text import Text, tr
from workflows import payloads
from workflows.common import conflict, reject
from workflows.payloads import (
    CUSTOMER_SURVEY,
    MANAGER_SCORING,
    MAX_TEXT,
    PEER_APPROVAL,
    PEER_FEEDBACK,
    PEER_NOMINATION,
    SELF_REVIEW,
    ManagerScoreSubmission,
    PeerApproval,
    PeerFeedbackSubmission,
    PeerNomination,
    PhasePlan,
    ReviewRules,
    SelfReviewSubmission,
    SubmissionRecord,
    SurveySubmission,
    TaskSubmission,
    self_review_comments,
    survey_comments,
)

PHASE_NAMES = {key: phase_label(key) for key in ALL_PHASES}  # the English names, for workflow messages
# The same names as messages, so a refusal names the phase in the reader's language.
PHASE_TEXTS: dict[str, Text] = {
    SELF_REVIEW: tr("self-review"), MANAGER_SCORING: tr("manager scoring"), CUSTOMER_SURVEY: tr("customer survey"),
    PEER_FEEDBACK: tr("peer feedback"), PEER_NOMINATION: tr("peer nomination"), PEER_APPROVAL: tr("peer approval"),
}


def phase_text(key: str) -> Text | PhaseName:
    """A phase as a message parameter: its catalog message, or (a phase defined after these) its definition's labels,
    which carry both languages themselves."""
    return PHASE_TEXTS.get(key) or PhaseName(key)


def _whole_number_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_ratings(ratings: dict[str, int], rules: ReviewRules, who: Text) -> None:
    """Every competency rated, nothing unknown, every rating an integer on the scale."""
    if not isinstance(ratings, dict):
        raise reject(tr("%(who)s: ratings must be a mapping of competency id to level", who=who))
    required = set(rules.competency_ids)
    missing = sorted(required - ratings.keys())
    if missing:
        raise reject(tr("%(who)s: missing rating for %(items)s", who=who, items=", ".join(missing)))
    unknown = sorted(ratings.keys() - required)
    if unknown:
        raise reject(tr("%(who)s: unknown competency %(items)s (expected %(expected)s)", who=who,
                        items=", ".join(unknown), expected=", ".join(rules.competency_ids)))
    for key in rules.competency_ids:
        value = ratings[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise reject(tr("%(who)s: rating for %(item)s must be a whole number, got %(value)s", who=who, item=key,
                            value=repr(value)))
        if not rules.competency_min <= value <= rules.competency_max:
            raise reject(tr("%(who)s: rating for %(item)s is %(value)s; the scale is %(low)s to %(high)s", who=who,
                            item=key, value=value, low=rules.competency_min, high=rules.competency_max))


def check_texts(texts: dict[str, str], allowed: set[str], who: Text | PhaseName,
                names: Callable[[list[str]], object] = ", ".join) -> None:
    if not isinstance(texts, dict):
        raise reject(tr("%(who)s: comments must be a mapping of item id to text", who=who))
    for key, text in texts.items():
        if key not in allowed:
            raise reject(tr("%(who)s: comment on unknown item %(item)s", who=who, item=repr(key)))
        if not isinstance(text, str):
            raise reject(tr("%(who)s: comment on %(item)s must be text", who=who, item=names([key])))
        if len(text) > MAX_TEXT:
            raise reject(tr("%(who)s: comment on %(item)s is %(length)s characters; at most %(limit)s", who=who,
                            item=names([key]), length=len(text), limit=MAX_TEXT))


def check_self_review(sub: SelfReviewSubmission, rules: ReviewRules) -> None:
    """The content of a self-review, whoever sends it and whatever state the task is in."""
    who = PHASE_TEXTS[SELF_REVIEW]
    check_ratings(sub.ratings, rules, who)
    check_texts(sub.evidence, set(rules.competency_ids), who)
    check_texts(sub.kpi_comments, set(rules.kpi_ids), who)


def check_manager_score(sub: ManagerScoreSubmission, rules: ReviewRules) -> None:
    who = PHASE_TEXTS[MANAGER_SCORING]
    check_ratings(sub.ratings, rules, who)
    check_texts(sub.comments, set(rules.competency_ids) | set(rules.kpi_ids), who)
    if sub.potential is not None and not _whole_number_in(sub.potential, rules.potential_min, rules.potential_max):
        raise reject(tr("manager scoring: potential is %(value)s; the scale is %(low)s to %(high)s",
                        value=repr(sub.potential), low=rules.potential_min, high=rules.potential_max))


def check_survey(sub: SurveySubmission, rules: ReviewRules | None = None) -> None:
    if not _whole_number_in(sub.satisfaction, 1, 5):
        raise reject(tr("survey: satisfaction is %(value)s; answer 1 (very dissatisfied) to 5 (very satisfied)",
                        value=repr(sub.satisfaction)))
    if sub.nps is not None and not _whole_number_in(sub.nps, 0, 10):
        raise reject(tr("survey: likelihood to recommend is %(value)s; answer 0 to 10", value=repr(sub.nps)))
    if not isinstance(sub.comment, str) or len(sub.comment) > MAX_TEXT:
        raise reject(tr("survey: the comment must be text of at most %(limit)s characters", limit=MAX_TEXT))


def check_peer_feedback(sub: PeerFeedbackSubmission, rules: ReviewRules) -> None:
    """A peer's answers: every question of the cycle answered, nothing else, each a whole number on its scale."""
    plan = rules.peer_feedback
    if plan is None:
        raise reject(tr("this cycle has no peer feedback"))
    check_question_ratings(sub.ratings, plan.question_ids, (plan.scale_min, plan.scale_max), PHASE_TEXTS[PEER_FEEDBACK])


def check_question_ratings(ratings: object, questions: Sequence[str], scale: tuple[int, int], who: Text | PhaseName,
                           names: Callable[[list[str]], object] = ", ".join) -> None:
    """Every question answered, nothing else, each a whole number on the scale (peer feedback, registry phases).

    ``names``: the questions as the refusal names them (a registry phase's: their labels, in the reader's language)."""
    if not isinstance(ratings, dict):
        raise reject(tr("%(who)s: ratings must be a mapping of competency id to level", who=who))
    if missing := sorted(set(questions) - ratings.keys()):
        raise reject(tr("%(who)s: missing rating for %(items)s", who=who, items=names(missing)))
    if unknown := sorted(ratings.keys() - set(questions)):
        raise reject(tr("%(who)s: unknown question %(items)s (expected %(expected)s)", who=who,
                        items=", ".join(unknown), expected=", ".join(questions)))
    low, high = scale
    for key in questions:
        if not _whole_number_in(ratings[key], low, high):
            raise reject(tr("%(who)s: rating for %(item)s is %(value)s; the scale is %(low)s to %(high)s", who=who,
                            item=names([key]), value=repr(ratings[key]), low=low, high=high))


def check_answers(sub: TaskSubmission, rules: ReviewRules | None = None) -> None:
    """The generic answers of a phase defined only in the registry: a whole-number rating on the definition's scale for
    every one of its questions, nothing else; comments only on its questions."""
    definition = PHASE_BY_KEY.get(sub.phase)
    if definition is None:
        raise reject(tr("there is no phase %(phase)s", phase=repr(sub.phase)))
    who = phase_text(sub.phase)
    def names(questions: list[str]) -> QuestionNames:
        return QuestionNames(sub.phase, tuple(questions))

    check_question_ratings(sub.ratings, definition.questions, definition.scale, who, names)
    check_texts(sub.comments, set(definition.questions), who, names)


def check_nomination(req: PeerNomination | PeerApproval, rules: ReviewRules, employee_id: str,
                     reviewer_id: str | None) -> None:
    """The pure rules of a nomination (or the approved part of it): the domain's check_peers, as a refusal."""
    plan = rules.peer_feedback
    if plan is None:
        raise reject(tr("this cycle has no peer feedback"))
    if not isinstance(req.peer_ids, list) or not all(isinstance(p, str) and p for p in req.peer_ids):
        raise reject(tr("name the colleagues by their employee ids"))
    try:
        check_peers(req.peer_ids, employee_id, reviewer_id, plan.max_peers, plan.min_answers)
    except DomainError as err:
        raise reject(err.as_text()) from None


# -- a submission becomes the record stored (activities.reviews.record_submission; the definition's storage) ------
# ``base`` carries what every submission has (cycle, review, task, phase, submitter, time, version); each phase
# adds what it said. The records are exactly what the per-phase Updates built before (the histories replay).

def record_self_review(sub: SelfReviewSubmission, base: SubmissionRecord) -> SubmissionRecord:
    return dataclasses.replace(base, ratings=dict(sub.ratings), comments=self_review_comments(sub))


def record_manager_score(sub: ManagerScoreSubmission, base: SubmissionRecord) -> SubmissionRecord:
    return dataclasses.replace(base, ratings=dict(sub.ratings), comments=dict(sub.comments), potential=sub.potential)


def record_survey(sub: SurveySubmission, base: SubmissionRecord) -> SubmissionRecord:
    return dataclasses.replace(base, comments=survey_comments(sub), satisfaction=sub.satisfaction, nps=sub.nps)


def record_peer_feedback(sub: PeerFeedbackSubmission, base: SubmissionRecord) -> SubmissionRecord:
    return dataclasses.replace(base, ratings=dict(sub.ratings))


def record_answers(sub: TaskSubmission, base: SubmissionRecord) -> SubmissionRecord:
    """The generic answers: ratings per question and comments, as a record like any other."""
    return dataclasses.replace(base, ratings=dict(sub.ratings), comments=dict(sub.comments))


def submitter_of(sub: Any) -> str:
    """Who sent a submission: a customer contact (the survey) or an employee."""
    contact = getattr(sub, "contact_id", None)
    return contact if isinstance(contact, str) else sub.actor_id


@dataclass(frozen=True)
class PhaseBinding:
    """A phase definition's named parts, resolved: its submission type, its content check, its record."""

    submission: type
    check: Callable[[Any, ReviewRules], None]
    record: Callable[[Any, SubmissionRecord], SubmissionRecord]


def _bind(d: PhaseDefinition) -> PhaseBinding:
    return PhaseBinding(getattr(payloads, d.submission), globals()[d.validator], globals()[d.record])


# Every phase definition's submission type, validator and record, by the names the definition gives (tests check them).
BINDINGS: dict[str, PhaseBinding] = {d.key: _bind(d) for d in PHASE_DEFINITIONS}


def binding(phase: str) -> PhaseBinding:
    """The resolved parts of a phase: the defined ones from BINDINGS, a phase registered later resolved now."""
    bound = BINDINGS.get(phase)
    return bound if bound is not None else _bind(PHASE_BY_KEY[phase])


def check_submitter(phase: str, actor: str, *, employee: str, reviewer: str | None,
                    contacts: Collection[str], peers: Collection[str] = ()) -> None:
    """Who may submit a phase's task, by whose tasks its definition opens: the employee (subject), the reviewer, an
    invited contact, an approved peer. Checked first, whatever the workflow's state, by every workflow that takes a
    submission; the refusal's wording is chosen by the kind of assignee and names the phase."""
    assignees = PHASE_BY_KEY[phase].assignees
    name = phase_text(phase)
    if assignees == "subject" and actor != employee:
        raise reject(tr("%(who)s may not submit the %(phase)s of %(employee)s; only the employee can",
                        who=actor, phase=name, employee=employee))
    if assignees == "reviewer" and actor != reviewer:
        if reviewer:
            raise reject(tr("%(who)s may not submit the %(phase)s of %(employee)s; the reviewer is %(reviewer)s",
                            who=actor, phase=name, employee=employee, reviewer=reviewer))
        raise reject(tr("%(who)s may not submit the %(phase)s of %(employee)s; the reviewer is nobody", who=actor,
                        phase=name, employee=employee))
    if assignees == "contacts" and actor not in contacts:
        raise reject(tr("contact %(who)s was not invited to rate %(employee)s", who=actor, employee=employee))
    if assignees == "peers" and actor not in peers:
        raise reject(tr("%(who)s was not asked for %(phase)s on %(employee)s", who=actor, phase=name,
                        employee=employee))


def check_submission(phase: str, sub: object, rules: ReviewRules) -> None:
    """The content check of a phase's submission, through the registry."""
    binding(phase).check(sub, rules)


def no_task_to_reopen(task: object) -> Text:
    """The refusal of a reopen of something that cannot be reopened, naming what can (the registry's phases)."""
    return tr("there is no task %(task)s to reopen; choose %(phases)s", task=repr(task),
              phases=PhaseChoices(reopenable_phases()))


def check_reopen_request(req: payloads.ReopenTask, now: datetime) -> None:
    """What any reopen must say, whichever workflow drives the task (a running review or a closed one's reopen):
    a reason, the contact for a survey answer, a deadline to come."""
    if not req.reason or not req.reason.strip():
        raise reject(tr("reopening a task needs a reason"))
    if len(req.reason) > 2000:
        raise reject(tr("the reason is longer than %(limit)s characters", limit=2000))
    definition = PHASE_BY_KEY.get(req.phase)
    if definition is not None and definition.assignees == "contacts" and not req.contact_id:
        raise reject(tr("reopening a survey answer needs the contact whose answer it is"))
    if req.due_at <= now:
        raise reject(tr("the new deadline %(due)s is not in the future", due=req.due_at))


def already_submitted(phase: str, at: datetime | None, actor: str | None) -> ApplicationError:
    """The refusal of a second, different submission: when and by whom the first one was accepted.

    ``at`` is an aware time: the edge shows it in the reader's zone (the CLI as given: the caller passes it
    in the cycle's zone when it knows it; the workflow knows only UTC).
    """
    definition = PHASE_BY_KEY.get(phase)
    assignees = definition.assignees if definition is not None else None
    if assignees == "peers":
        return conflict(tr("%(who)s has already answered; %(phase)s cannot be changed", who=str(actor),
                           phase=phase_text(phase)))
    if assignees == "contacts":
        if at is None:
            return conflict(tr("contact %(who)s has already answered this survey; an answer cannot be changed",
                               who=str(actor)))
        return conflict(tr("contact %(who)s has already answered this survey on %(at)s; an answer cannot be changed",
                           who=str(actor), at=at))
    name = phase_text(phase)
    if at is not None and actor:
        return conflict(tr("the %(phase)s was already submitted on %(at)s by %(who)s; "
                           "a different submission cannot replace it", phase=name, at=at, who=actor))
    if at is not None:
        return conflict(tr("the %(phase)s was already submitted on %(at)s; a different submission cannot replace it",
                           phase=name, at=at))
    if actor:
        return conflict(tr("the %(phase)s was already submitted by %(who)s; a different submission cannot replace it",
                           phase=name, who=actor))
    return conflict(tr("the %(phase)s was already submitted; a different submission cannot replace it", phase=name))


@dataclass
class PhaseState:
    plan: PhasePlan
    due_at: datetime
    handled_until: datetime  # every reminder or deadline up to here has been dealt with
    closed: bool = False
    extensions: int = 0
    reminders: int = 0
    accepted: set[str] = field(default_factory=set)
    # When and by whom each accepted submission came in, for the refusal of a different second one.
    receipts: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    # Accepted submissions HR reopened: awaited again; if the deadline passes first, the earlier one stands.
    reopened: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)  # the next submission's version, once reopened
