"""Goal (OKR) attainment: the declared rule "linear to target, capped", in exact Decimal.

A key result's attainment is how far its current value has moved from the start value towards the
target: ``(current − start) / (target − start)``, clamped to ``[0, cap]``. It works both ways: a
target below the start (complaints from 3 % down to 1 %) counts a fall as progress. An objective's
attainment is the weighted mean of its key results, and the overall attainment the weighted mean
of the objectives. Weights are relative (2 and 1 mean two thirds and one third); they need not sum
to 100 because a KAM drafts goals one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as _date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from domain.errors import DomainError
from domain.inputs import Id, Text, bounded
from domain.money import Num, exact, fmt_num
from domain.scorecard import KpiId
from domain.text import tr

#: The default cap: reaching the target is full attainment, overshooting earns nothing more.
DEFAULT_CAP = Decimal(1)


@dataclass(frozen=True)
class KeyResultProgress:
    """One key result as the rule reads it: where it started, where it should get to, where it is now."""

    id: str
    title: str
    start: Decimal
    target: Decimal
    current: Decimal | None  # None: no check-in and no linked figure yet (counts as the start value)
    weight: Decimal = Decimal(1)
    source: str = "check-in"  # "check-in", "kpi <id>" or "no progress yet"


@dataclass(frozen=True)
class ObjectiveProgress:
    id: str
    title: str
    key_results: tuple[KeyResultProgress, ...]
    weight: Decimal = Decimal(1)


@dataclass(frozen=True)
class KeyResultAttainment:
    id: str
    attainment: Decimal
    explanation: str


@dataclass(frozen=True)
class ObjectiveAttainment:
    id: str
    attainment: Decimal
    key_results: tuple[KeyResultAttainment, ...]
    explanation: str


@dataclass(frozen=True)
class GoalsAttainment:
    attainment: Decimal
    objectives: tuple[ObjectiveAttainment, ...]
    explanation: str


def check_cap(cap: Decimal) -> None:
    if not cap > 0:
        raise DomainError(tr("the cap must be above 0 (1 means reaching the target is full attainment)"), "cap")


@exact
def key_result_attainment(kr: KeyResultProgress, cap: Decimal = DEFAULT_CAP) -> KeyResultAttainment:
    """``(current − start) / (target − start)`` clamped to ``[0, cap]``; no progress yet counts as the start."""
    check_cap(cap)
    if kr.target == kr.start:
        raise DomainError(tr("the target must differ from the start value"), f"key_results.{kr.id}.target")
    current = kr.start if kr.current is None else kr.current
    raw = (current - kr.start) / (kr.target - kr.start)
    value = min(max(raw, Decimal(0)), cap)
    capped = "" if value == raw else f", capped to {fmt_num(value)}"
    shown = "no progress yet" if kr.current is None else f"{kr.source} {fmt_num(current, 6)}"
    return KeyResultAttainment(kr.id, value, (
        f"{kr.title}: {shown}; ({fmt_num(current, 6)} − {fmt_num(kr.start, 6)}) / "
        f"({fmt_num(kr.target, 6)} − {fmt_num(kr.start, 6)}) = {fmt_num(raw)}{capped}"))


def _weighted(pairs: list[tuple[Decimal, Decimal]], what: str) -> Decimal:
    total = sum((w for _, w in pairs), Decimal(0))
    if not pairs or total <= 0:
        raise DomainError(tr("%(what)s need a positive total weight", what=what), what)
    return sum((w * a for a, w in pairs), Decimal(0)) / total


@exact
def objective_attainment(obj: ObjectiveProgress, cap: Decimal = DEFAULT_CAP) -> ObjectiveAttainment:
    """Weighted mean of the key results' attainments."""
    if any(kr.weight < 0 for kr in obj.key_results):
        raise DomainError(tr("a weight cannot be negative"), f"objectives.{obj.id}.key_results")
    krs = tuple(key_result_attainment(kr, cap) for kr in obj.key_results)
    value = _weighted([(a.attainment, kr.weight) for a, kr in zip(krs, obj.key_results, strict=True)],
                      "key_results")
    parts = " + ".join(f"{fmt_num(kr.weight)} × {fmt_num(a.attainment)}" for a, kr in zip(krs, obj.key_results, strict=True))
    total = sum((kr.weight for kr in obj.key_results), Decimal(0))
    return ObjectiveAttainment(obj.id, value, krs,
                               f"{obj.title}: ({parts}) / {fmt_num(total)} = {fmt_num(value)}")


@exact
def goals_attainment(objectives: list[ObjectiveProgress] | tuple[ObjectiveProgress, ...],
                     cap: Decimal = DEFAULT_CAP) -> GoalsAttainment:
    """Weighted mean of the objectives' attainments, each the weighted mean of its key results."""
    if any(o.weight < 0 for o in objectives):
        raise DomainError(tr("a weight cannot be negative"), "objectives")
    objs = tuple(objective_attainment(o, cap) for o in objectives)
    value = _weighted([(a.attainment, o.weight) for a, o in zip(objs, objectives, strict=True)], "objectives")
    total = sum((o.weight for o in objectives), Decimal(0))
    parts = " + ".join(f"{fmt_num(o.weight)} × {fmt_num(a.attainment)}" for a, o in zip(objs, objectives, strict=True))
    details = "; ".join(f"[{a.explanation}: " + "; ".join(k.explanation for k in a.key_results) + "]" for a in objs)
    return GoalsAttainment(value, objs, (
        f"linear to target, capped at {fmt_num(cap)}: objectives ({parts}) / {fmt_num(total)} = "
        f"attainment {fmt_num(value)} {details}"))


# ---- what people write: an objective, a key result, a check-in (validated the same way on every edge) ----------


#: A key result's values are stored as Numeric(20,6), like KPI actuals.
GoalValue = Annotated[Num, bounded(-10**14 + 1, 10**14 - 1, tr("goal values are stored as Numeric(20,6)"), places=6)]
#: Relative weights of objectives and key results (stored as Numeric(8,4)).
GoalWeight = Annotated[Num, bounded(Decimal("0.0001"), 1000, tr("a goal weight is relative, e.g. 1, 2 or 30"),
                                    places=4)]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ObjectiveIn(_Input):
    """An objective: what the KAM wants to achieve this period, and its weight among the objectives."""

    title: Text = Field(min_length=1, max_length=300)
    weight: GoalWeight = Decimal(1)


class KeyResultIn(_Input):
    """A SMART key result: a measurable metric with its unit, from a start value to a target by a due date."""

    metric: Text = Field(min_length=1, max_length=300)
    unit: Text = Field(min_length=1, max_length=40)
    start_value: GoalValue
    target_value: GoalValue
    due_date: _date
    owner_id: Id | None = None  # None: the KAM the goals belong to
    weight: GoalWeight = Decimal(1)
    kpi_id: KpiId | None = None  # progress read from this KPI's actual for the period

    @field_validator("target_value")
    @classmethod
    def _target_differs(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("start_value") == value:
            raise DomainError(tr("the target must differ from the start value"))
        return value

    @field_validator("due_date")
    @classmethod
    def _due_in_range(cls, value: _date) -> _date:
        if not _date(2000, 1, 1) <= value <= _date(2100, 12, 31):
            raise DomainError(tr("%(value)s is outside the allowed range %(first)s..%(last)s (a date outside it is a typo)",
                                 value=value.isoformat(), first="2000-01-01", last="2100-12-31"))
        return value


class CheckInIn(_Input):
    """Progress on a key result: its value now, and a comment on what happened."""

    value: GoalValue
    comment: Text | None = Field(default=None, max_length=2000)


class ReturnIn(_Input):
    """A manager returning goals for rework says why."""

    comment: Text = Field(min_length=1, max_length=2000)
