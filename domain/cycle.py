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


def resolve_due(phase: PhaseConfig, started_at: datetime) -> datetime:
    """The absolute instant a phase is due, given when the cycle started."""
    if phase.due is not None:
        return phase.due
    assert phase.due_after is not None
    return started_at + phase.due_after
