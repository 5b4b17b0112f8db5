"""Request and response bodies of the JSON API (the OpenAPI document is generated from these).

Input is bounded here only where the engine cannot judge it (sizes, types, characters PostgreSQL
and Temporal cannot carry). Ranges that depend on the cycle's rules (a rating of 7 on a 1..3
scale) are left to the review workflow's validator, so its message is the one people read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.inputs import ID_PATTERN, Id, clean_text
from domain.money import in_minor_unit
from workflows.payloads import MAX_TEXT

MAX_ITEMS = 100
MAX_YAML = 200_000


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(clean_text)]
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(clean_text)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
EmployeeId = Id  # the one id grammar (domain.inputs), as in the importer, the cycle YAML and the CLI
# Whole numbers only (no floats, NaN, infinities, booleans or strings); a generous sanity bound keeps
# absurd values out, and the workflow validator reports anything outside the cycle's own scale.
Level = Annotated[int, Field(strict=True, ge=-1000, le=1000)]
Token = Annotated[str, StringConstraints(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_In):
    username: Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(clean_text)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(clean_text)]


class SessionOut(BaseModel):
    username: str
    display_name: str
    employee_id: str | None
    roles: list[str]
    csrf_token: str = Field(description="send it as the X-CSRF-Token header with every POST/DELETE")
    expires_at: datetime


class Message(BaseModel):
    detail: str


class ReadyOut(Message):
    database: Literal["ok", "unreachable"]
    temporal: Literal["ok", "unreachable"]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorOut(BaseModel):
    detail: str = Field(description="what is wrong, for a person to read")
    errors: list[FieldError] = Field(default_factory=list)


class SelfReviewIn(_In):
    ratings: dict[ItemId, Level] = Field(max_length=MAX_ITEMS, description="competency id -> self-rated level")
    evidence: dict[ItemId, Text] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                         description="competency id -> evidence")
    kpi_comments: dict[ItemId, Text] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                             description="KPI id -> comment on the result")


class ManagerScoreIn(_In):
    ratings: dict[ItemId, Level] = Field(max_length=MAX_ITEMS, description="competency id -> level")
    comments: dict[ItemId, Text] = Field(default_factory=dict, max_length=MAX_ITEMS,
                                         description="competency or KPI id -> comment")
    potential: Level | None = Field(default=None, description="1 low, 2 moderate, 3 high")


class SelfReviewDraftOut(BaseModel):
    """A saved, not submitted, self-review: only its author reads it, until the task is submitted or closes."""

    saved_at: datetime
    draft: SelfReviewIn


class ScoreDraftOut(BaseModel):
    """A saved, not submitted, manager score: only the reviewer who saved it reads it."""

    saved_at: datetime
    draft: ManagerScoreIn


class SurveyOpenIn(_In):
    token: Token


class SurveyAnswerIn(_In):
    token: Token
    satisfaction: Level = Field(description="1 very dissatisfied .. 5 very satisfied")
    nps: Level | None = Field(default=None, description="likelihood to recommend, 0..10")
    comment: Text = ""


class Receipt(BaseModel):
    task_id: str
    accepted_at: datetime


class TaskOut(BaseModel):
    task_id: str
    cycle_id: str
    cycle_name: str
    kind: str
    employee_id: str
    employee_name: str
    due_at: datetime
    status: str
    overdue: bool
    completed_at: datetime | None


class MyReviewOut(BaseModel):
    cycle_id: str
    cycle_name: str
    period: str
    review_status: str
    self_review_status: str | None
    self_review_due: datetime | None
    results_released: bool


class ItemOut(BaseModel):
    id: str
    label: str


class CompetencyLevelOut(BaseModel):
    level: int
    description_en: str | None
    description_zh: str | None


class CompetencyOut(ItemOut):
    label_en: str | None = None
    label_zh: str | None = None
    group: str | None = Field(default=None, description="general or professional, when the scorecard says")
    levels: list[CompetencyLevelOut] = Field(default_factory=list, description="what each level looks like")


class KpiOut(BaseModel):
    id: str
    label: str
    value: Decimal | None


class SelfReviewOut(BaseModel):
    status: str | None
    due_at: datetime | None
    submitted_at: datetime | None
    ratings: dict[str, int]
    evidence: dict[str, str]
    kpi_comments: dict[str, str]


class ReviewOut(BaseModel):
    """A review as its KAM or its reviewer sees it; never the manager's scores for the KAM before release."""

    cycle_id: str
    cycle_name: str
    period: str
    employee_id: str
    employee_name: str
    review_status: str
    competencies: list[CompetencyOut]
    scale_min: int
    scale_max: int
    kpis: list[KpiOut]
    self_review: SelfReviewOut
    results_released: bool


class ManagerScoreOut(BaseModel):
    ratings: dict[str, int]
    comments: dict[str, str]
    potential: int | None
    scored_by: str | None
    submitted_at: datetime | None


class ScoringOut(ReviewOut):
    scoring_status: str | None
    scoring_due: datetime | None
    potential_min: int
    potential_max: int
    manager_score: ManagerScoreOut | None


class ScoreLineOut(BaseModel):
    component: str
    item: str = ""
    label: str
    actual: str | None
    score: str
    weight_pct: str
    contribution: str
    sentence: str | None = Field(default=None, description="the line as a sentence, in the reader's language")
    detail: str = Field(default="", description="the engine's exact explanation: curve points, weights, unrounded figures")


class MoneyOut(BaseModel):
    """A response part with amounts in ``currency``: every field named in ``money_fields`` is given in exactly
    the currency's minor unit (2816.04 CNY, not the stored 2816.0400; JPY without decimals), here, once."""

    money_fields: ClassVar[tuple[str, ...]] = ("amount",)

    @model_validator(mode="after")
    def _in_minor_unit(self) -> MoneyOut:
        currency = getattr(self, "currency")  # noqa: B009 - every subclass has one
        for name in self.money_fields:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, in_minor_unit(Decimal(value), currency))
        return self


class PayoutOut(MoneyOut):
    line_type: str
    amount: Decimal
    currency: str
    explanation: str = Field(description="the engine's exact explanation, as payroll reads it")
    sentence: str | None = Field(default=None, description="the line as a sentence, in the reader's language")
    measures: list[str] = Field(default_factory=list, description="a bonus line's measures, one sentence each")


class ResultsOut(BaseModel):
    cycle_id: str
    cycle_name: str
    period: str
    released_at: datetime
    final_level: int | None
    final_label: str | None
    preliminary_score: Decimal | None
    lines: list[ScoreLineOut]
    manager_score: ManagerScoreOut | None
    csat_pct: str | None
    csat_responses: int
    payouts: list[PayoutOut]
    kpi_sources: list[KpiSourceOut] = Field(default_factory=list, description="each KPI computed from the CRM: "
                                            "the figure now, the one the score used, and its records")


class SurveyOut(BaseModel):
    cycle_name: str
    employee_name: str
    account_name: str
    contact_name: str
    ask_nps: bool
    expires_at: datetime


class CycleCreateIn(_In):
    config_yaml: Annotated[str, StringConstraints(min_length=1, max_length=MAX_YAML), AfterValidator(clean_text)] = Field(
        description="the cycle configuration, as HR writes it in YAML (see demo/cycle.yaml)")


class CycleCreatedOut(BaseModel):
    cycle_id: str
    participants: int
    created: bool
    excluded: list[str]


class ParticipantPreviewOut(BaseModel):
    cycle_id: str
    participants: int = Field(description="how many people the selection matches")
    employees: list[str] = Field(description="the first 50 of them, by id")
    excluded: list[str] = Field(description="matched but not employed during the period")


class CycleOut(BaseModel):
    cycle_id: str
    name: str
    status: str
    period: str
    participants: int
    created_at: datetime
    started_at: datetime | None
    results_released_at: datetime | None


class LateTaskOut(BaseModel):
    kind: str
    assignee_id: str
    employee_id: str
    task_id: str
    due_at: datetime = Field(description="the deadline in force (an extension moves it)")
    state: Literal["missed", "overdue", "grace"] = Field(
        description="missed: closed without it; overdue: past due, still open; grace: in an extension")
    assignee_type: str
    assignee_name: str | None
    employee_name: str
    manager_id: str | None
    manager_name: str | None
    original_due_at: datetime
    extensions: int
    overdue_seconds: int = Field(description="since the first deadline")


class ManagerLateOut(BaseModel):
    manager_id: str | None
    manager_name: str | None
    by_phase: dict[str, int]
    total: int


class DashboardOut(BaseModel):
    cycle_id: str
    name: str
    status: str
    phase: str
    period: str
    participants: int
    progress: dict[str, dict[str, int]] = Field(description="task kind -> status -> count")
    late: list[LateTaskOut] = Field(description="late work by name: missed, overdue or in a grace period")
    late_total: int = 0
    late_by_phase: dict[str, dict[str, int]] = Field(default_factory=dict, description="phase -> state -> count")
    late_by_manager: list[ManagerLateOut] = Field(default_factory=list)
    phase_due: dict[str, datetime | None] = Field(default_factory=dict, description="each phase's deadline")
    blocking: list[str]
    blocked_reason: str | None = Field(default=None, description="why incentives cannot be computed; HR fixes it and retries")
    reviews: dict[str, int]
    results_released_at: datetime | None


class StartedOut(BaseModel):
    workflow_id: str


class RemindersIn(_In):
    only_overdue: bool = Field(default=False, strict=True)


class CountOut(BaseModel):
    count: int


class MessageOut(BaseModel):
    message: str


class SurveyLinksIn(_In):
    reissue: bool = Field(default=False, strict=True, description="revoke unused links and issue new ones")


class SurveyLinkOut(BaseModel):
    invitation_id: str
    contact_id: str
    contact_name: str
    contact_email: str | None
    account_name: str
    employee_id: str
    employee_name: str
    url: str = Field(description="shown once: only a hash of its token is stored")
    expires_at: datetime


class ReassignIn(_In):
    employee_id: EmployeeId
    new_reviewer_id: EmployeeId
    reason: Reason


class ReassignedOut(BaseModel):
    employee_id: str
    reviewer_id: str


class AdjustIn(_In):
    employee_id: EmployeeId
    level: Level
    reason: Reason
    request_id: Id | None = (
        Field(default=None, description="the same request id applies the adjustment once, however often it is sent"))


class AdjustedOut(BaseModel):
    adjustments: int


class FinalizedOut(BaseModel):
    ratings: int
    within_guideline: bool
    violations: list[str]


class ReleasedOut(BaseModel):
    released_at: datetime


class CancelIn(_In):
    reason: Reason = Field(description="why the cycle is cancelled (kept in the audit log)")


class CancelledOut(BaseModel):
    status: str


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    actor_name: str | None
    event: str = Field(description="the event's key, e.g. results.released")
    event_text: str = Field(description="the event in words, in the reader's language")
    subject_id: str | None = Field(description="the person the event is about, if any")
    subject_name: str | None
    entity_type: str
    entity_id: str
    before: dict | None
    after: dict | None


class AuditPageOut(BaseModel):
    total: int
    page: int
    pages: int
    entries: list[AuditEntryOut]


class LevelOut(BaseModel):
    level: int
    label: str
    actual: int
    actual_pct: Decimal
    guideline_pct: Decimal
    guideline_count: int
    difference: int


class ManagerOut(BaseModel):
    manager_id: str
    count: int
    mean_level: Decimal
    company_mean: Decimal
    difference: Decimal
    flags: list[str]
    notes: list[str]


class RatingOut(BaseModel):
    employee_id: str
    name: str
    manager_id: str | None
    preliminary_score: Decimal | None
    normalized_score: Decimal | None
    suggested_level: int | None
    final_level: int | None
    potential: int | None
    nine_box: str | None
    note: str | None


class AdjustmentOut(BaseModel):
    employee_id: str
    from_level: int | None
    to_level: int
    reason: str
    actor: str
    adjusted_at: datetime


class LevelDeviationOut(BaseModel):
    level: int
    band: str = Field(description="top | middle | bottom: where the level sits, which tendency an excess shows")
    team_pct: Decimal = Field(description="the team's share at the level, in percent")
    guideline_pct: Decimal
    deviation_pp: Decimal = Field(description="team_pct − guideline_pct, in percentage points")
    flagged: bool = Field(description="more than guideline_bias_pp above the guideline (teams of min_team_size up)")


class GuidelineBiasOut(BaseModel):
    """One manager's team against the guideline distribution, not only against the company mean."""

    manager_id: str
    count: int
    deviations: list[LevelDeviationOut]
    flags: list[str] = Field(description="leniency (a top level), severity (a bottom level), central_tendency")
    notes: list[str]


class CalibrationOut(BaseModel):
    cycle_id: str
    status: str
    levels: list[LevelOut]
    managers: list[ManagerOut]
    guideline_bias: list[GuidelineBiasOut] = Field(default_factory=list)
    guideline_bias_pp: Decimal | None = Field(default=None, description="the points beyond which a level is flagged")
    guideline_bias_declared: bool = Field(default=False, description="false: the cycle sets none, the default applies")
    within_guideline: bool
    violations: list[str]
    nine_box: dict[str, list[str]] = Field(description="'<performance>/<potential>' -> employee ids")
    ratings: list[RatingOut]
    adjustments: list[AdjustmentOut]
    finalized: bool
    unrated: list[str]
    names: dict[str, str] = Field(default_factory=dict, description="id -> name of everyone named above")
    reopened: list[str] = Field(default_factory=list, description="'name (id)' of the reviews whose submissions HR "
                                "reopened after they closed and that are not rescored yet: finalizing waits for them")


class PersonOut(BaseModel):
    id: str
    name: str


class CompetencyResultOut(ItemOut):
    weight: Decimal
    self_rating: int | None
    evidence: str | None
    manager_rating: int | None
    manager_comment: str | None


class KpiRecordOut(BaseModel):
    """A CRM record behind a computed KPI figure."""

    id: str = Field(description="the CRM's record id (a deal, order or case), or an account id")
    kind: str = Field(description="deal | order | case | account")
    role: str = Field(description="counted | excluded | denominator | retained | lost | gained")
    amount: Decimal | None = None
    currency: str | None = None
    on: str | None = Field(default=None, description="closing date (deal, order) or opening date (case)")
    via: str | None = Field(default=None, description="for a new account: its first won deal")
    reason: str | None = Field(default=None, description="for an excluded deal: currency | no_amount")


class KpiSourceOut(BaseModel):
    """A KPI figure computed from the CRM records, as its KAM reads it on the results page."""

    kpi_id: str
    value: Decimal | None = Field(description="the figure now")
    scored_value: Decimal | None = Field(description="the figure the preliminary score used")
    corrected: bool = Field(description="the figure changed after the score was made (the payout follows it)")
    numerator: Decimal | None
    denominator: Decimal | None
    computed: bool
    records: list[KpiRecordOut]


class KpiResultOut(KpiOut):
    target: Decimal | None = Field(description="the plan's target for the measure, or 1 for a KPI that is a ratio "
                                               "to its target; none when lower is better")
    attainment: Decimal | None = Field(description="actual / target as a ratio (1 = 100 %)")
    lower_is_better: bool
    weight: Decimal
    score: Decimal | None
    comment: str | None = Field(description="the KAM's own comment on the result")
    manager_comment: str | None
    scored_value: Decimal | None = Field(default=None, description="the figure the preliminary score used, when a "
                                         "later correction changed it (value is the figure now)")
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    computed: bool = Field(default=False, description="computed from the CRM records (false: entered by hand)")
    records: list[KpiRecordOut] = Field(default_factory=list, description="the CRM records the figure came from")


class SurveyResultOut(BaseModel):
    contact: PersonOut
    account: str
    status: str = Field(description="sent | answered | expired")
    satisfaction: int | None
    nps: int | None
    comment: str | None
    answered_at: datetime | None


class NpsIntervalOut(BaseModel):
    """The KAM's NPS with its adjusted-Wald 95 % interval (Rocks 2016, as MeasuringU publishes it), against the
    company's NPS of the cycle; NPS points, −100..100, of the unweighted 0–10 answers."""

    responses: int
    promoters: int = Field(description="answers of 9 or 10")
    passives: int = Field(description="answers of 7 or 8")
    detractors: int = Field(description="answers of 0 to 6")
    nps: Decimal | None
    ci_low: Decimal | None = Field(description="adjusted-Wald 95 % interval, in NPS points")
    ci_high: Decimal | None
    below_minimum: bool = Field(description="fewer answers than the scorecard's minimum")
    min_responses: int
    company_nps: Decimal | None = Field(description="the plain NPS of every answer of the cycle")
    company_responses: int
    distinguishable: bool | None = Field(
        description="false: the company's NPS lies inside the interval, too few answers to tell the KAM apart")


class CsatOut(BaseModel):
    responses: int
    satisfied: int
    csat_pct: Decimal | None
    ci_low: Decimal | None = Field(description="Wilson 95 % interval, in percent")
    ci_high: Decimal | None
    nps: Decimal | None
    below_minimum: bool
    weighted: bool
    min_responses: int
    nps_interval: NpsIntervalOut | None = None


class ScoreLineDetailOut(BaseModel):
    component: str
    item: str
    label: str
    actual: Decimal | None
    item_score: Decimal | None
    weight_pct: Decimal | None
    contribution: Decimal | None
    explanation: str


class ParticipantAdjustmentOut(AdjustmentOut):
    actor_name: str


class ReassignmentOut(BaseModel):
    from_reviewer: PersonOut | None
    to_reviewer: PersonOut
    reason: str | None
    actor: PersonOut
    at: datetime


class ParticipantAuditOut(BaseModel):
    at: datetime
    actor: PersonOut
    action: str
    entity_type: str
    entity_id: str
    details: dict[str, Any]


class AnswerOut(BaseModel):
    question: str
    labels: dict[str, str] = Field(description="the question in each language, as its phase's definition words it")
    rating: int | None
    comment: str | None


class AnswerSetOut(BaseModel):
    submitted_by: PersonOut | None = Field(description="null where the phase's answers are anonymous")
    submitted_at: datetime | None
    answers: list[AnswerOut]


class PhaseAnswersOut(BaseModel):
    """A phase the cycle adds through the registry (domain/phases.py), with its stored answers."""

    phase: str
    labels: dict[str, str]
    status: str | None
    scale_min: int
    scale_max: int
    sets: list[AnswerSetOut]
    reopenable: bool


class ParticipantOut(RatingOut):
    """One participant for HR and the calibration committee: the calibration row and everything behind it."""

    model_config = ConfigDict(from_attributes=True)

    cycle_id: str
    cycle_name: str
    period: str
    cycle_status: str
    manager: PersonOut | None
    reviewer: PersonOut | None
    review_status: str
    missing: list[str]
    final_label: str | None
    nine_box_name: str | None
    finalized: bool
    self_review_status: str | None
    self_submitted_at: datetime | None
    competencies: list[CompetencyResultOut]
    kpis: list[KpiResultOut]
    manager_score: ManagerScoreOut | None
    scored_by: PersonOut | None
    survey: list[SurveyResultOut]
    csat: CsatOut | None
    score_lines: list[ScoreLineDetailOut]
    score_notes: list[str]
    adjustments: list[ParticipantAdjustmentOut]
    reassignments: list[ReassignmentOut]
    audit: list[ParticipantAuditOut]
    phase_answers: list[PhaseAnswersOut] = []


class StatementOut(BaseModel):
    cycle_id: str
    cycle_name: str
    period: str
    lines: int
    employees: int
    totals: dict[str, str]
    approved_by: str | None
    locked_at: datetime | None


class StatementLineOut(BaseModel):
    employee_id: str
    employee_name: str
    amount: str
    currency: str
    line_type: str
    idempotency_key: str
    period: str
    plan_id: str
    plan_version: int
    revision: int
    explanation: str
    deal_id: str | None = Field(default=None, description="the deal a commission line pays or a clawback takes back")
    event: str | None = Field(default=None, description="a clawback's cause: cancelled, refunded, churned, reinstated")


class LedgerRowOut(BaseModel):
    """One person's balance ledger for one cycle; amounts in the currency's minor unit."""

    employee_id: str
    employee_name: str
    plan_year: str
    earned: str
    drawn: str
    recovered: str
    clawed_back: str
    written_off: str
    net: str = Field(description="earned + drawn − recovered − clawed back; negative: an amount payroll recovers")
    balance: str = Field(description="what the person owes on recoverable draws after the cycle")
    currency: str


NotificationIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,399}$", description="message id",
                                         examples=["reminder:2026-Q3:K01:self_review:1:K01:email"])]
CycleIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="review cycle id", examples=["2026-Q3"])]
EmployeeIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="employee id", examples=["K01"])]
PhasePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="phase key (domain/phases.py)",
                                examples=["self_review"])]


class ApprovalLineOut(MoneyOut):
    employee_id: str
    employee_name: str
    line_type: str = Field(description="the component: bonus, commission, or a correction's delta line")
    amount: Decimal
    currency: str
    explanation: str
    revision: int


class _ApprovalSums(MoneyOut):
    money_fields: ClassVar[tuple[str, ...]] = ("amount", "cycle_total", "previous", "change")
    currency: str
    lines: int
    amount: Decimal = Field(description="the lines awaiting approval")
    cycle_total: Decimal = Field(description="the cycle's total once approved (earlier locked lines included)")
    previous: Decimal | None = Field(description="paid in the previous cycle of the same plan; null: none, or not paid")
    change: Decimal | None = Field(description="cycle_total minus previous")


class ApprovalPersonOut(_ApprovalSums):
    employee_id: str
    employee_name: str


class ApprovalTotalOut(_ApprovalSums):
    """One currency's lines of the whole cycle."""


class PreviousCycleOut(BaseModel):
    cycle_id: str
    name: str
    period: str


class ApprovalOut(BaseModel):
    cycle_id: str
    name: str
    period: str
    status: str
    plan_id: str
    revision: int = Field(description="0: the cycle's first approval; n: correction n's delta lines")
    awaiting: bool = Field(description="whether lines await approval (false: nothing to approve now)")
    lines: list[ApprovalLineOut]
    people: list[ApprovalPersonOut]
    totals: list[ApprovalTotalOut] = Field(description="per currency")
    previous_cycle: PreviousCycleOut | None = Field(description="null: no previous cycle of the same plan")
    approved_by: str | None
    approved_at: datetime | None


class PreferencesIn(_In):
    locale: Literal["zh-CN", "en"] | None = Field(None, description="null: as the organisation import says")
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="an IANA zone name such as Asia/Shanghai; null: as the organisation import says")


class PreferencesOut(BaseModel):
    locale: str | None
    timezone: str | None
    organisation_locale: str | None
    organisation_timezone: str | None


ResultsOut.model_rebuild()  # kpi_sources refers to KpiSourceOut, defined further down
