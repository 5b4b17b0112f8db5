"""A review cycle's configuration, as HR writes it in YAML and as it is frozen at creation.

Everything here is validated when the cycle is created, so nothing can fail for a configuration
reason mid-cycle. Relative deadlines ("due_after: 14d") are resolved to absolute instants when the
cycle starts; absolute ones must carry a time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.calibration import CalibrationConfig
from domain.errors import DomainError
from domain.incentives import IncentivePlan
from domain.inputs import Id, Text, bounded
from domain.peers import DEFAULT_QUESTIONS, PeerQuestion
from domain.scorecard import Scorecard, default_scorecard
from domain.text import tr

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: No deadline, extension, reminder or survey link runs longer than a year: a longer one is a typo
#: (14w for 14d), and Python's timedelta overflows on absurd values before any check could see them.
MAX_DURATION = timedelta(days=366)
#: Period dates and absolute deadlines lie in this range: 0001-01-01 or 9999-12-31 are typos, and
#: proration counts the days of the period.
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2100, 12, 31)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_ISO_DURATION = TypeAdapter(timedelta)


def parse_duration(value: object) -> timedelta:
    """Accept 90, "90s", "15m", "12h", "3d", "2w" (and timedelta); reject anything else clearly."""
    try:
        result = _duration(value)
    except OverflowError:
        result = None
    if result is None or result > MAX_DURATION:
        raise DomainError(tr("%(value)s is longer than a year (366d), the longest duration allowed; a longer one is usually a typo",
                             value=repr(value)))
    return result


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise DomainError(tr("a duration must be a number of seconds or like '3d', '12h', '15m', '45s'"))
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise DomainError(tr("a duration cannot be negative"))
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        if value.strip().upper().startswith("P"):  # ISO 8601, as the frozen configuration stores it
            try:
                return _ISO_DURATION.validate_python(value.strip())
            except ValidationError:
                pass
    raise DomainError(tr("%(value)s is not a duration; write seconds or like '3d', '12h', '15m', '45s'", value=repr(value)))


def _in_date_range(value: date) -> date:
    """Dates (and the date of an instant) between FIRST_DATE and LAST_DATE."""
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    if not FIRST_DATE <= day <= LAST_DATE:
        raise DomainError(tr("%(value)s is outside the allowed range %(first)s..%(last)s (a date outside it is a typo)",
                             value=value.isoformat(), first=FIRST_DATE.isoformat(), last=LAST_DATE.isoformat()))
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
CycleDate = Annotated[date, AfterValidator(_in_date_range)]
CycleInstant = Annotated[AwareDatetime, AfterValidator(_in_date_range)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeadlinePolicy(_Frozen):
    """What happens when a phase's deadline passes with work outstanding."""

    action: Literal["close", "extend"] = "close"
    extend_by: Duration | None = None
    max_extensions: Annotated[int, bounded(1, 10, tr("each extension delays the whole cycle"))] = Field(default=1, strict=True)

    @model_validator(mode="after")
    def _extension_needs_length(self) -> DeadlinePolicy:
        if self.action == "extend" and (self.extend_by is None or self.extend_by <= timedelta(0)):
            raise DomainError(tr("action 'extend' needs a positive extend_by (e.g. '2d')"))
        return self


class PhaseConfig(_Frozen):
    due: CycleInstant | None = None
    due_after: Duration | None = None
    reminders_before: list[Duration] = Field(default_factory=list)
    on_deadline: DeadlinePolicy = DeadlinePolicy()

    @model_validator(mode="after")
    def _exactly_one_deadline(self) -> PhaseConfig:
        if (self.due is None) == (self.due_after is None):
            raise DomainError(tr("give exactly one of 'due' (a date-time with time zone) or 'due_after' (e.g. '14d')"))
        if self.due_after is not None and self.due_after <= timedelta(0):
            raise DomainError(tr("due_after must be positive"))
        return self


class Phases(_Frozen):
    self_review: PhaseConfig
    manager_scoring: PhaseConfig
    customer_survey: PhaseConfig


class PeerFeedbackConfig(PhaseConfig):
    """``peer_feedback:`` in the cycle YAML (absent: no peer phase). Its deadline is the whole phase's:
    nomination, approval and the answers; a peer who has not answered by then is simply not counted."""

    min_answers: Annotated[int, bounded(2, 50, tr("fewer than 2 answers could never be anonymous"))] = Field(
        default=3, strict=True)
    max_peers: Annotated[int, bounded(2, 50, tr("more peers than that is a survey, not peer feedback"))] = Field(
        default=5, strict=True)
    scale_min: Annotated[int, bounded(0, 10, tr("an answer scale is small"))] = Field(default=1, strict=True)
    scale_max: Annotated[int, bounded(1, 10, tr("an answer scale is small"))] = Field(default=5, strict=True)
    questions: tuple[PeerQuestion, ...] = Field(default=DEFAULT_QUESTIONS, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> PeerFeedbackConfig:
        if self.max_peers < self.min_answers:
            raise DomainError(tr("max_peers %(max)s is below min_answers %(min)s: the feedback could never be shown",
                                 max=self.max_peers, min=self.min_answers), "peer_feedback.max_peers")
        if self.scale_max <= self.scale_min:
            raise DomainError(tr("scale_max must be above scale_min"), "peer_feedback.scale_max")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise DomainError(tr("question ids must be unique"), "peer_feedback.questions")
        return self

    @property
    def question_ids(self) -> list[str]:
        return [q.id for q in self.questions]



class Period(_Frozen):
    label: Text = Field(min_length=1, max_length=40, description="matches the period column of KPI actuals")
    start: CycleDate
    end: CycleDate

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise DomainError(tr("end %(end)s is before start %(start)s", end=self.end, start=self.start))
        return self


Label = Annotated[Text, StringConstraints(min_length=1, max_length=100)]
FILTERS = ("managers", "under", "grades", "regions", "cost_centres")
"""The kinds of participant filter: a KAM is chosen when each kind given matches (AND), any value of it (OR)."""


class Participants(_Frozen):
    """Who is reviewed: KAMs chosen by filters, plus employees listed by id.

    ``all_kams`` is every KAM; ``managers`` the KAMs reporting directly to one of them; ``under`` everyone below one
    of them, at any depth (a region head's whole organisation); ``grades``, ``regions``, ``cost_centres`` the KAMs
    with one of those values (compared without regard to case). Kinds combine with AND, values within a kind with
    OR: ``under: [H1], grades: [K2, K3]`` is H1's K2 and K3 KAMs. ``employees`` are added whatever the filters say.
    """

    all_kams: bool = False
    managers: list[Id] = Field(default_factory=list)
    under: list[Id] = Field(default_factory=list, max_length=1000)
    grades: list[Label] = Field(default_factory=list, max_length=1000)
    regions: list[Label] = Field(default_factory=list, max_length=1000)
    cost_centres: list[Label] = Field(default_factory=list, max_length=1000)
    employees: list[Id] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Participants:
        if not (self.all_kams or self.employees or self.filtered):
            raise DomainError(tr("choose participants: all_kams: true, managers: [...], under: [...], grades: [...], "
                                 "regions: [...], cost_centres: [...] or employees: [...]"))
        return self

    @property
    def filtered(self) -> bool:
        """KAMs are chosen by filters (else only the listed employees are)."""
        return self.all_kams or any(getattr(self, kind) for kind in FILTERS)

    def unset_filters(self) -> set[str]:
        """The filter kinds added after configurations were first frozen, left out of the digest while empty."""
        return {kind for kind in ("under", "grades", "regions", "cost_centres") if not getattr(self, kind)}


class Notifications(_Frozen):
    """Where a team's chat messages go: team (its manager's id) -> the name of a chat group in the settings.

    The groups themselves (webhook URLs and signing secrets) live in the settings (KAMREVIEW_CHAT_GROUPS),
    not here: a frozen configuration is shown to HR and kept for ever, a secret must not be.
    """

    chat_groups: dict[Id, Id] = Field(default_factory=dict, max_length=1000)


class CycleConfig(_Frozen):
    id: Id = Field(description="cycle id, e.g. 2026-Q4")
    name: Text = Field(min_length=1, max_length=200)
    cadence: Literal["quarterly", "half_yearly", "annual"]
    period: Period
    timezone: str = "Asia/Shanghai"
    participants: Participants
    phases: Phases
    survey_link_ttl: Duration = timedelta(days=30)
    scorecard: Scorecard = Field(default_factory=default_scorecard)
    calibration: CalibrationConfig
    incentive_plan: IncentivePlan
    batch_size: Annotated[int, bounded(1, 1000, tr("a batch is one activity; more reviews per batch would exceed its "
                                              "payload and time limits"))] = Field(
        default=100, strict=True, description="reviews opened and started per batch activity")
    notifications: Notifications | None = None
    #: The plan year this cycle pays a period of (issue 13): cycles with the same plan year and incentive plan id are
    #: linked, and a later one reads what the earlier ones locked (YTD credited and paid, the draw balance, paid
    #: deals to claw back). Unset: ``<plan id>-<year the period starts in>`` (see plan_year_id).
    plan_year: Id | None = None
    peer_feedback: PeerFeedbackConfig | None = None  # absent: no peer phase (docs/peer-feedback.md)
    #: The deadline blocks of phases defined only in the registry (domain/phases.py, ``update="submit_task"``), by the
    #: phase's key: a cycle has such a phase when its block is here (docs/phases.md). Absent: none (the digest of a
    #: configuration frozen before this setting is unchanged).
    added_phases: dict[str, PhaseConfig] | None = None

    def plan_year_id(self) -> str:
        """The plan year's name: the configured one, else the plan's id and the calendar year of the period's start
        (a fiscal year that does not start in January names its plan year explicitly)."""
        return self.plan_year or f"{self.incentive_plan.id}-{self.period.start.year}"

    def pays_sales(self) -> bool:
        """The plan declares deal commission, a plan year, a draw or clawbacks: the cycle settles them per person."""
        from domain.incentives import SALES_FIELDS

        return any(getattr(self.incentive_plan, f, None) is not None for f in SALES_FIELDS)

    @model_validator(mode="after")
    def _added_phases_are_defined(self) -> CycleConfig:
        from domain.phases import PHASE_BY_KEY

        for key in self.added_phases or {}:
            definition = PHASE_BY_KEY.get(key)
            if definition is None or definition.update != "submit_task" or not definition.optional:
                raise DomainError(tr("%(phase)s is not a phase defined in the registry for its generic "
                                     "form", phase=repr(key)), "added_phases")
        for key in self.scorecard.component_weights.phases or {}:
            if key not in (self.added_phases or {}):
                raise DomainError(tr("component weight for %(phase)s but the cycle has no added_phases block for it",
                                     phase=repr(key)), "scorecard.component_weights.phases")
        return self

    @model_validator(mode="after")
    def _peer_weight_needs_peer_phase(self) -> CycleConfig:
        weight = self.scorecard.component_weights.peer_feedback
        if weight and weight > 0 and self.peer_feedback is None:
            raise DomainError(tr("component weight %(weight)s for peer feedback but the cycle has no peer_feedback "
                                 "block", weight=weight), "peer_feedback")
        return self

    @model_validator(mode="after")
    def _cadence_matches_period(self) -> CycleConfig:
        expected = period_end(self.period.start, self.cadence)
        if self.period.end != expected:
            raise DomainError(tr("a %(cadence)s cycle starting %(start)s ends %(expected)s (%(months)s months), not "
                                 "%(end)s; fix period.end or the cadence",
                                 cadence=self.cadence, start=self.period.start, expected=expected,
                                 months=CADENCE_MONTHS[self.cadence], end=self.period.end), "period.end")
        return self

    @model_validator(mode="after")
    def _plan_matches_levels(self) -> CycleConfig:
        multipliers = self.incentive_plan.rating_multipliers
        levels = {lv.level for lv in self.calibration.levels}
        if multipliers:
            if unknown := sorted(set(multipliers) - levels):
                raise DomainError(tr("level %(unknown)s is not a calibration level",
                                     unknown=unknown[0]), "incentive_plan.rating_multipliers")
            if absent := sorted(levels - set(multipliers)):
                raise DomainError(tr("no multiplier for calibration level %(absent)s",
                                     absent=absent[0]), "incentive_plan.rating_multipliers")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise DomainError(tr("unknown time zone %(value)s; use an IANA name such as Asia/Shanghai", value=repr(value))) from None
        return value


CADENCE_MONTHS: dict[str, int] = {"quarterly": 3, "half_yearly": 6, "annual": 12}


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the 31st of a shorter month is its last day (Jan 31 + 1 month = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def period_end(start: date, cadence: str) -> date:
    """The last day of the period of ``cadence`` that begins on ``start`` (a quarter from 2026-07-01 ends 09-30)."""
    return add_months(start, CADENCE_MONTHS[cadence]) - timedelta(days=1)


def resolve_due(phase: PhaseConfig, started_at: datetime) -> datetime:
    """The absolute instant a phase is due, given when the cycle started."""
    if phase.due is not None:
        return phase.due
    assert phase.due_after is not None
    return started_at + phase.due_after


def period_label(cadence: str, start: date) -> str:
    """A period's usual name: 2027-Q1, 2027-H2, 2027 on calendar boundaries, else the start date (2027-04-06)."""
    if start.day == 1:
        if cadence == "quarterly" and start.month % 3 == 1:
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        if cadence == "half_yearly" and start.month in (1, 7):
            return f"{start.year}-H{1 if start.month == 1 else 2}"
        if cadence == "annual" and start.month == 1:
            return f"{start.year}"
    return start.isoformat()


def scheduled_period(cadence: str, first: date, on: date) -> tuple[date, date]:
    """(start, end) of the period of a recurring cycle that ``on`` falls in; periods follow each other from ``first``."""
    if on < first:
        raise DomainError(tr("%(on)s is before the schedule's first period (%(first)s)", on=on, first=first), "first")
    months = CADENCE_MONTHS[cadence]
    k = ((on.year - first.year) * 12 + on.month - first.month) // months
    start = add_months(first, k * months)
    if start > on:  # ``on`` is in the month a period starts, before its day
        k -= 1
        start = add_months(first, k * months)
    return start, period_end(start, cadence)


def config_for_period(template: dict, cadence: str, start: date) -> CycleConfig:
    """A recurring cycle's configuration for one period: the template with its cadence, period, and ``{period}``
    in its id and name replaced by the period's label (an id without it gets ``-<label>`` appended).

    A template cannot give absolute deadlines (``due: 2027-01-15T18:00+08:00``): one instant cannot recur.
    """
    label = period_label(cadence, start)
    data = dict(template)
    raw_id = str(data.get("id", ""))
    data["id"] = raw_id.replace("{period}", label) if "{period}" in raw_id else f"{raw_id}-{label}"
    if isinstance(data.get("name"), str):
        data["name"] = data["name"].replace("{period}", label)
    for key, phase in (data.get("phases") or {}).items():
        if isinstance(phase, dict) and phase.get("due") is not None:
            raise DomainError(tr("a recurring cycle's phases need due_after (a duration from the cycle's start); "
                                 "an absolute due time cannot recur"), f"phases.{key}.due")
    data["cadence"] = cadence
    data["period"] = {"label": label, "start": start, "end": period_end(start, cadence)}
    return CycleConfig.model_validate(data)
