"""Tier tables shared by the period commission (domain.incentives) and deal commission (domain.deals).

A tier starts at ``from`` and runs to the next tier's ``from``; the last one is open-ended. Kept apart from
domain.incentives so that the deal, plan-year, draw and clawback modules the plan declares can use the same
tiers without importing the plan itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import DomainError
from domain.inputs import bounded
from domain.money import Num, fmt_num
from domain.text import tr

#: Revenue comes from the KPI actuals, stored as Numeric(20,6): always below 10^14.
MAX_REVENUE = Decimal(10) ** 14
#: A commission rate is a fraction of revenue (0.02 = 2 %): never more than all of it.
MAX_RATE = Decimal(1)

Revenue = Annotated[Num, bounded(0, MAX_REVENUE, tr("revenue is a KPI actual, stored as Numeric(20,6)"), places=6)]
Rate = Annotated[Num, bounded(0, MAX_RATE, tr("a fraction of revenue: 0.02 is 2 %"), places=6)]


class CommissionTier(BaseModel):
    """A tier starts at ``from`` and runs to the next tier's ``from`` (the last one is open-ended)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    from_: Revenue = Field(alias="from")
    rate: Rate


def check_tiers(tiers: Sequence[CommissionTier], path: str = "tiers") -> None:
    """Tiers must be non-empty and strictly increasing in ``from``."""
    if not tiers:
        raise DomainError(tr("need at least one tier"), path)
    for i in range(1, len(tiers)):
        if tiers[i].from_ <= tiers[i - 1].from_:
            raise DomainError(
                tr("tiers must be strictly increasing: tier %(i)s from %(start)s is not above tier %(i2)s from %(previous)s",
                   i=i, start=fmt_num(tiers[i].from_), i2=i - 1, previous=fmt_num(tiers[i - 1].from_)),
                f"{path}.{i}.from",
            )
