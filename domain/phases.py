"""The phases of a review, defined once: key, names in both languages, who submits, the submission type and its
validator, where it is stored, how it scores.

The workflow (what it waits for, who is reminded), the activities (task creation, storage), the services'
messages, the CLI and the pages read these definitions; a new phase is one more entry here, one migration and
one form (docs/peer-feedback.md shows peer feedback added this way). ``domain/`` imports nothing of ours, so
the submission type, its validator and its Update are named here and bound in ``workflows/review_rules.py``
(a test checks every name resolves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Language = Literal["en", "zh-CN"]
Submitter = Literal["employee", "reviewer", "contact", "peer"]
# Whose tasks a phase opens: the KAM's own, the reviewer's, one per invited contact, one per approved peer.
Assignees = Literal["subject", "reviewer", "contacts", "peers"]


# What a stored column holds: the submission's review, task, time, submitter; per answered item its id, rating and
# comment; or one of the record's own fields (satisfaction, nps, potential) and its one comment.
Source = Literal["review", "task", "at", "actor", "item", "rating", "comment", "satisfaction", "nps"]


@dataclass(frozen=True)
class Storage:
    """How a phase's answers land in its table (activities/reviews.py builds the INSERT from this, nothing else).

    ``per_item``: one row per rated or commented item (and per ``extra_items``: an item id taken from a field of the
    record when it is set, e.g. a manager's ``potential``), else one row per submission. ``replaced_by``: the column
    whose rows a resubmission after a reopen replaces (None: never resubmitted). ``audited``: the record's fields the
    submission's audit row shows (a phase whose assignees are peers shows none and no digest: anonymity).
    """

    table: str
    columns: tuple[tuple[str, Source], ...]  # (column, what it holds), in the table's order
    per_item: bool = True
    extra_items: tuple[tuple[str, str], ...] = ()  # (item id, the record's field holding its rating)
    replaced_by: str | None = None
    audited: tuple[str, ...] = ("ratings",)

    def column_of(self, source: Source) -> str | None:
        return next((c for c, s in self.columns if s == source), None)


ITEM_ROWS: tuple[tuple[str, Source], ...] = (("review_id", "review"), ("item_id", "item"), ("rating", "rating"),
                                              ("comment", "comment"))


@dataclass(frozen=True)
class PhaseDefinition:
    key: str
    submitter: Submitter  # who owns the phase's task(s)
    labels: dict[str, str]  # language -> name of the phase, as a person reads it
    assignees: Assignees = "subject"
    submission: str = ""  # the Update argument's type in workflows.payloads
    update: str = ""  # the review workflow's Update that takes it
    validator: str = ""  # the content check in workflows.review_rules (no I/O)
    storage: Storage | None = None  # its table and how a submission maps onto its columns
    scores: str | None = None  # the scorecard component it feeds (None: shown, not scored)
    # Only in cycles whose configuration enables it: its block in the cycle YAML (a phase taking the generic answers,
    # update="submit_task": its block under added_phases). False: a block under phases: in every cycle.
    optional: bool = False
    link: str = "/me/reviews/{cycle}"  # the page where its task is done ({cycle}, {employee})
    record: str = "record_answers"  # how its submission becomes the stored record (workflows.review_rules)
    form: str = ""  # the template of its form (webapp/templates); "" for the generic form of its questions
    # The generic answers (TaskSubmission, check_answers): the question ids and the rating scale.
    questions: tuple[str, ...] = ()
    scale: tuple[int, int] = (1, 5)
    question_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # question id -> language -> text
    # Scored (a registry-only phase whose key the cycle weighs under ``component_weights.phases``): the mean of its
    # ratings, mapped linearly from ``scale`` onto the rating scale, once at least this many answer sets are stored.
    min_answers: int = 1

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or self.labels["en"]

    def question_label(self, question: str, language: str = "en") -> str:
        labels = self.question_labels.get(question) or {}
        return labels.get(language) or labels.get("en") or question.replace("_", " ")

    @property
    def per_person(self) -> bool:
        """One task (and one submission) per person asked, keyed by that person's id in the task id."""
        return self.assignees in ("contacts", "peers")

    def task_link(self, cycle_id: str, employee_id: str) -> str:
        return self.link.format(cycle=cycle_id, employee=employee_id, phase=self.key)


# The generic form of a phase defined only in the registry (webapp/routers/phase_forms.py): its questions, its scale.
GENERIC_FORM_LINK = "/tasks/{cycle}/{phase}/{employee}"

SELF_REVIEW = "self_review"
MANAGER_SCORING = "manager_scoring"
CUSTOMER_SURVEY = "customer_survey"
PEER_FEEDBACK = "peer_feedback"
# The peer phase's two steps before the peers answer: tasks of their own, named like phases (docs/peer-feedback.md).
PEER_NOMINATION = "peer_nomination"
PEER_APPROVAL = "peer_approval"

PHASE_DEFINITIONS: tuple[PhaseDefinition, ...] = (
    PhaseDefinition(SELF_REVIEW, "employee", {"en": "self-review", "zh-CN": "自评"}, "subject",
                    "SelfReviewSubmission", "submit_self_review", "check_self_review",
                    Storage("self_review_answer", ITEM_ROWS + (("submitted_at", "at"),), replaced_by="review_id",
                            audited=("ratings", "potential")),
                    "competencies", record="record_self_review", form="self_review.html"),
    PhaseDefinition(MANAGER_SCORING, "reviewer", {"en": "manager scoring", "zh-CN": "经理评分"}, "reviewer",
                    "ManagerScoreSubmission", "submit_manager_score", "check_manager_score",
                    Storage("manager_score", ITEM_ROWS + (("scored_by", "actor"), ("submitted_at", "at")),
                            extra_items=(("potential", "potential"),), replaced_by="review_id",
                            audited=("ratings", "potential")),
                    "competencies", link="/manager/reviews/{cycle}/{employee}", record="record_manager_score",
                    form="score.html"),
    PhaseDefinition(CUSTOMER_SURVEY, "contact", {"en": "customer survey", "zh-CN": "客户满意度调查"}, "contacts",
                    "SurveySubmission", "submit_survey", "check_survey",
                    Storage("survey_response", (("invitation_id", "task"), ("satisfaction", "satisfaction"),
                                                ("nps", "nps"), ("comment", "comment"), ("answered_at", "at")),
                            per_item=False, replaced_by="invitation_id", audited=("satisfaction", "nps")),
                    "csat", record="record_survey", form="survey.html"),
    PhaseDefinition(PEER_FEEDBACK, "peer", {"en": "peer feedback", "zh-CN": "同事反馈"}, "peers",
                    "PeerFeedbackSubmission", "submit_peer_feedback", "check_peer_feedback",
                    Storage("peer_feedback_answer", (("task_id", "task"), ("review_id", "review"),
                                                     ("question_id", "item"), ("rating", "rating"),
                                                     ("answered_at", "at")), audited=()),
                    "peer_feedback", optional=True, link="/me/peer-feedback/{cycle}/{employee}",
                    record="record_peer_feedback", form="peers.html"),
)
PHASE_BY_KEY: dict[str, PhaseDefinition] = {p.key: p for p in PHASE_DEFINITIONS}


class registered:  # noqa: N801 - used as a function: ``with registered(definition):``
    """A phase added to the registry for a while (a test's toy phase); everything that reads PHASE_BY_KEY sees it.

    A real phase is an entry in PHASE_DEFINITIONS (and its deadline block in the cycle configuration).
    """

    def __init__(self, definition: PhaseDefinition) -> None:
        if definition.key in PHASE_BY_KEY:
            raise ValueError(f"phase {definition.key!r} is defined already")
        self.definition = definition

    def __enter__(self) -> PhaseDefinition:
        PHASE_BY_KEY[self.definition.key] = self.definition
        return self.definition

    def __exit__(self, *exc: object) -> None:
        del PHASE_BY_KEY[self.definition.key]
# The phases every cycle has (each a block under ``phases:`` in the cycle YAML), in their defined order.
PHASES: tuple[str, ...] = tuple(p.key for p in PHASE_DEFINITIONS if not p.optional)
OPTIONAL_PHASES: tuple[str, ...] = tuple(p.key for p in PHASE_DEFINITIONS if p.optional)
ALL_PHASES: tuple[str, ...] = PHASES + OPTIONAL_PHASES

# Steps inside a phase that have tasks of their own (the inbox names them), in both languages, and their pages.
STEP_LABELS: dict[str, dict[str, str]] = {
    PEER_NOMINATION: {"en": "peer nomination", "zh-CN": "提名反馈同事"},
    PEER_APPROVAL: {"en": "peer approval", "zh-CN": "审批反馈同事"},
}
STEP_LINKS: dict[str, str] = {
    PEER_NOMINATION: "/me/peers/{cycle}",
    PEER_APPROVAL: "/manager/peers/{cycle}/{employee}",
}


def task_kind(task_id: str, phase: str) -> str:
    """A task's kind: its phase, or the step of the phase it is (``<review>:peer_nomination``)."""
    step = task_id.rsplit(":", 1)[-1]
    return step if step in STEP_LINKS else phase


def link_for(kind: str, cycle_id: str, employee_id: str) -> str:
    """The page where a task of this kind (a phase or a step) is done; a path, the delivery makes it absolute."""
    template = STEP_LINKS.get(kind) or (PHASE_BY_KEY[kind].link if kind in PHASE_BY_KEY else "/me/reviews/{cycle}")
    return template.format(cycle=cycle_id, employee=employee_id, phase=kind)


# Where a whole cycle stands (review_cycle.status and the cycle workflow's phase), in both languages.
CYCLE_PHASE_LABELS: dict[str, dict[str, str]] = {
    "created": {"en": "created, not started", "zh-CN": "已创建，未启动"},
    "starting": {"en": "starting", "zh-CN": "启动中"},
    "running": {"en": "reviews under way", "zh-CN": "考核进行中"},
    "reviews": {"en": "reviews under way", "zh-CN": "考核进行中"},
    "calibration": {"en": "calibration", "zh-CN": "校准"},
    "incentives": {"en": "computing incentives", "zh-CN": "计算绩效奖金"},
    "awaiting_approval": {"en": "payouts awaiting approval", "zh-CN": "奖金待审批"},
    "locked": {"en": "locked (payouts approved)", "zh-CN": "已锁定（奖金已审批）"},
    "cancelled": {"en": "cancelled", "zh-CN": "已取消"},
}


def phase_label(key: str, language: str = "en") -> str:
    """The phase's name in a language (English when the language has none); an unknown key as written.

    Review phases (self-review ...) and the stages of a whole cycle (calibration, locked ...) alike.
    """
    phase = PHASE_BY_KEY.get(key)
    if phase:
        return phase.label(language)
    if key in CYCLE_PHASE_LABELS or key in STEP_LABELS:
        labels = CYCLE_PHASE_LABELS.get(key) or STEP_LABELS[key]
        return labels.get(language) or labels["en"]
    return key.replace("_", " ")


@dataclass(frozen=True)
class PhaseName:
    """A phase (or a cycle's stage) as a message parameter: named in the reader's language at the edge."""

    key: str

    @property
    def phase_key(self) -> str:
        """Carried as the key in a refusal's details (domain.text), so the reader's language names it."""
        return self.key

    def localized(self, locale: str) -> str:
        return phase_label(self.key, locale)


@dataclass(frozen=True)
class QuestionNames:
    """Questions of a phase as a message parameter (a refusal naming what was not answered, or off the scale): each
    as its definition words it, in the reader's language at the edge; a question without a label by its id."""

    phase: str
    questions: tuple[str, ...]

    @property
    def question_keys(self) -> list[str]:
        """Carried as the phase and the ids in a refusal's details (domain.text), so the reader's language names them."""
        return [self.phase, *self.questions]

    def localized(self, locale: str) -> str:
        definition = PHASE_BY_KEY.get(self.phase)
        names = [f"“{definition.question_label(q, locale)}”" if definition else q for q in self.questions]
        return ("、" if locale == "zh-CN" else ", ").join(names)


def reopenable_phases() -> tuple[str, ...]:
    """The phases HR can reopen: those whose Storage says which rows a resubmission replaces (not peer feedback)."""
    return tuple(key for key, d in PHASE_BY_KEY.items() if d.storage is not None and d.storage.replaced_by is not None)


@dataclass(frozen=True)
class PhaseChoices:
    """Phase keys to choose from as a message parameter: each key with its name in the reader's language."""

    keys: tuple[str, ...]

    def localized(self, locale: str) -> str:
        if locale == "zh-CN":
            return "、".join(f"{key}（{phase_label(key, locale)}）" for key in self.keys)
        return ", ".join(f"{key} ({phase_label(key, locale)})" for key in self.keys)
