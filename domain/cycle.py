"""A review cycle's configuration, as HR writes it in YAML and as it is frozen at creation.

Everything here is validated when the cycle is created, so nothing can fail for a configuration
reason mid-cycle. Relative deadlines ("due_after: 14d") are resolved to absolute instants when the
cycle starts; absolute ones must carry a time zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.calibration import CalibrationConfig
from domain.errors import DomainError
from domain.incentives import IncentivePlan
from domain.scorecard import Scorecard, default_scorecard

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_ISO_DURATION = TypeAdapter(timedelta)


def parse_duration(value: object) -> timedelta:
    """Accept 90, "90s", "15m", "12h", "3d", "2w" (and timedelta); reject anything else clearly."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like '3d', '12h', '15m', '45s'")
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError("a duration cannot be negative")
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
    raise ValueError(f"{value!r} is not a duration; write seconds or like '3d', '12h', '15m', '45s'")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeadlinePolicy(_Frozen):
    """What happens when a phase's deadline passes with work outstanding."""

    action: Literal["close", "extend"] = "close"
    extend_by: Duration | None = None
    max_extensions: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _extension_needs_length(self) -> DeadlinePolicy:
        if self.action == "extend" and (self.extend_by is None or self.extend_by <= timedelta(0)):
            raise ValueError("action 'extend' needs a positive extend_by (e.g. '2d')")
        return self


class PhaseConfig(_Frozen):
    due: AwareDatetime | None = None
    due_after: Duration | None = None
    reminders_before: list[Duration] = Field(default_factory=list)
    on_deadline: DeadlinePolicy = DeadlinePolicy()

    @model_validator(mode="after")
    def _exactly_one_deadline(self) -> PhaseConfig:
        if (self.due is None) == (self.due_after is None):
            raise ValueError("give exactly one of 'due' (a date-time with time zone) or 'due_after' (e.g. '14d')")
        if self.due_after is not None and self.due_after <= timedelta(0):
            raise ValueError("due_after must be positive")
        return self


class Phases(_Frozen):
    self_review: PhaseConfig
    manager_scoring: PhaseConfig
    customer_survey: PhaseConfig


class Period(_Frozen):
    label: str = Field(min_length=1, max_length=40, description="matches the period column of KPI actuals")
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Participants(_Frozen):
    """Who is reviewed: every KAM, the KAMs under some managers, or listed employees."""

    all_kams: bool = False
    managers: list[str] = Field(default_factory=list)
    employees: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Participants:
        if not (self.all_kams or self.managers or self.employees):
            raise ValueError("choose participants: all_kams: true, managers: [...] or employees: [...]")
        return self


class CycleConfig(_Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", description="cycle id, e.g. 2026-Q4")
    name: str = Field(min_length=1, max_length=200)
    cadence: Literal["quarterly", "half_yearly", "annual"]
    period: Period
    timezone: str = "Asia/Shanghai"
    participants: Participants
    phases: Phases
    survey_link_ttl: Duration = timedelta(days=30)
    scorecard: Scorecard = Field(default_factory=default_scorecard)
    calibration: CalibrationConfig
    incentive_plan: IncentivePlan
    batch_size: int = Field(default=100, ge=1, le=1000, description="reviews opened and started per batch activity")

    @model_validator(mode="after")
    def _plan_matches_levels(self) -> CycleConfig:
        multipliers = self.incentive_plan.rating_multipliers
        levels = {lv.level for lv in self.calibration.levels}
        if multipliers:
            if unknown := sorted(set(multipliers) - levels):
                raise DomainError(f"level {unknown[0]} is not a calibration level", "incentive_plan.rating_multipliers")
            if absent := sorted(levels - set(multipliers)):
                raise DomainError(f"no multiplier for calibration level {absent[0]}", "incentive_plan.rating_multipliers")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value


def resolve_due(phase: PhaseConfig, started_at: datetime) -> datetime:
    """The absolute instant a phase is due, given when the cycle started."""
    if phase.due is not None:
        return phase.due
    assert phase.due_after is not None
    return started_at + phase.due_after
