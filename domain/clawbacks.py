"""Clawbacks: a deal cancelled, refunded or churned after its commission was paid takes that commission back.

The paid line is never edited: each event produces a new line in the next open period, negative for a
clawback, positive for a reinstatement (the deal came back), adjusting the commission like any delta line.
What is taken back is declared by the plan:
- ``full``: all the commission paid on the deal;
- ``percent``: a declared percentage of it;
- ``early_termination``: a percentage by how soon after closing the customer left (e.g. 50 % within 90 days);
  after the last window the commission is final.
A partial refund takes back the refunded share only. Over a deal's life, clawbacks never take back more than
was paid, and a reinstatement gives back exactly what is clawed back so far, so the two net to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import DomainError
from domain.inputs import Id, bounded
from domain.money import Num, RoundingMode, exact, fmt_num, round_money
from domain.sentences import money, percent
from domain.text import Steps, Text, tr

EventKind = Literal["cancelled", "refunded", "churned", "reinstated"]
Percent = Annotated[Num, bounded(0, 100, tr("a percent of the commission paid on the deal"), places=4)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EarlyTermination(_Frozen):
    """Take back ``percent`` of the commission when the customer leaves within ``within_days`` of closing."""

    within_days: Annotated[int, bounded(1, 3660, tr("days after the deal closed"))] = Field(strict=True)
    percent: Percent


class ClawbackConfig(_Frozen):
    """How much of a deal's paid commission an event takes back, and which events do."""

    mode: Literal["full", "percent", "early_termination"]
    percent: Percent | None = None
    windows: tuple[EarlyTermination, ...] = Field(default=(), max_length=20)
    applies_to: tuple[Literal["cancelled", "refunded", "churned"], ...] = ("cancelled", "refunded", "churned")

    @model_validator(mode="after")
    def _consistent(self) -> ClawbackConfig:
        if self.mode == "percent" and self.percent is None:
            raise DomainError(tr("a percent clawback needs 'percent'"), "percent")
        if self.mode != "percent" and self.percent is not None:
            raise DomainError(tr("'percent' is only for mode percent"), "percent")
        if self.mode == "early_termination" and not self.windows:
            raise DomainError(tr("an early-termination clawback needs at least one window"), "windows")
        if self.mode != "early_termination" and self.windows:
            raise DomainError(tr("'windows' are only for mode early_termination"), "windows")
        for i in range(1, len(self.windows)):
            if self.windows[i].within_days <= self.windows[i - 1].within_days:
                raise DomainError(tr("windows must be strictly increasing in within_days: %(days)s is not above "
                                     "%(previous)s", days=self.windows[i].within_days,
                                     previous=self.windows[i - 1].within_days), f"windows.{i}.within_days")
        return self


class PaidDeal(_Frozen):
    """What one KAM was paid on one deal (the locked deal lines, adjustments included)."""

    deal_id: Id
    employee_id: Id
    closed_on: date
    paid: Num
    currency: str


class DealEvent(_Frozen):
    """Something that happened to a deal after it was paid."""

    deal_id: Id
    kind: EventKind
    on: date
    #: The share of the deal refunded (refunds only; 100 = all of it).
    refunded_pct: Annotated[Num, bounded(0, 100, tr("a percent of the deal refunded"), places=4)] = Decimal(100)


class ClawbackLine(_Frozen):
    """A line in the next open period: negative takes commission back, positive reinstates it.

    Its fields are a PayoutLine's (``line_type`` adjustment, ``adjusts`` commission): the wiring writes it as one.
    """

    employee_id: str
    deal_id: str
    kind: EventKind
    amount: Decimal
    currency: str
    cycle_id: str
    idempotency_key: str
    clawed_back_after: Decimal
    steps: Steps

    def payout_fields(self) -> dict[str, Any]:
        """What a PayoutLine of this adjustment holds besides the plan's id and version."""
        return {"employee_id": self.employee_id, "line_type": "adjustment", "adjusts": "commission",
                "amount": self.amount, "currency": self.currency, "cycle_id": self.cycle_id,
                "idempotency_key": self.idempotency_key, "explanation": "; ".join(str(s) for s in self.steps),
                "inputs": {"adjusts": "commission", "deal_id": self.deal_id, "event": self.kind,
                           "clawed_back_after": str(self.clawed_back_after)}}


def _share(cfg: ClawbackConfig, paid: PaidDeal, event: DealEvent) -> tuple[Decimal | None, Text]:
    """The percent of the paid commission the event takes back (None: the commission is final)."""
    if cfg.mode == "full":
        return Decimal(100), tr("the plan takes back the full commission")
    if cfg.mode == "percent":
        assert cfg.percent is not None
        return cfg.percent, tr("the plan takes back %(pct)s of the commission", pct=percent(cfg.percent / 100, 2))
    days = (event.on - paid.closed_on).days
    for window in cfg.windows:
        if days <= window.within_days:
            return window.percent, tr("the customer left %(days)s days after the deal closed, within %(window)s days: "
                                      "the plan takes back %(pct)s", days=days, window=window.within_days,
                                      pct=percent(window.percent / 100, 2))
    return None, tr("the customer left %(days)s days after the deal closed, after the last window of %(window)s "
                    "days: the commission is final", days=days, window=cfg.windows[-1].within_days)


@exact
def clawback_lines(cfg: ClawbackConfig, paid: Sequence[PaidDeal], events: Sequence[DealEvent], cycle_id: str,
                   rounding: RoundingMode, clawed_before: dict[tuple[str, str], Decimal] | None = None,
                   sequence_start: int = 1) -> list[ClawbackLine]:
    """The lines the events produce in ``cycle_id`` (the next open period), in the order the events happened.

    ``clawed_before`` is, per (deal, employee), what earlier periods already clawed back net of reinstatements;
    ``sequence_start`` numbers this period's lines after earlier ones (idempotency keys stay unique).
    """
    if not cycle_id:
        raise DomainError(tr("must not be empty"), "cycle_id")
    by_deal: dict[str, list[PaidDeal]] = {}
    for p in paid:
        if p.paid < 0:
            raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(p.paid)), f"paid.{p.deal_id}")
        if any(q.employee_id == p.employee_id for q in by_deal.get(p.deal_id, ())):
            raise DomainError(tr("deal %(deal)s is paid to %(employee)s twice; give one total per deal and person",
                                 deal=p.deal_id, employee=p.employee_id), f"paid.{p.deal_id}")
        by_deal.setdefault(p.deal_id, []).append(p)
    clawed: dict[tuple[str, str], Decimal] = dict(clawed_before or {})
    out: list[ClawbackLine] = []
    seq = sequence_start
    for i, event in sorted(enumerate(events), key=lambda pair: (pair[1].on, pair[0])):
        if event.deal_id not in by_deal:
            raise DomainError(tr("deal %(deal)s has no paid commission to take back", deal=event.deal_id),
                              f"events.{i}.deal_id")
        for p in by_deal[event.deal_id]:
            key = (p.deal_id, p.employee_id)
            before = clawed.get(key, Decimal(0))
            m = p.currency
            head = tr("deal %(deal)s (closed %(closed)s, commission paid %(paid)s to %(employee)s) %(kind)s on %(on)s",
                      deal=p.deal_id, closed=p.closed_on, paid=money(p.paid, m), employee=p.employee_id,
                      kind=_kind_text(event.kind), on=event.on)
            if event.kind == "reinstated":
                if before == 0:
                    continue
                amount = before
                steps = (head, tr("reinstated: the %(amount)s clawed back so far is paid again",
                                  amount=money(before, m)))
            else:
                if event.kind not in cfg.applies_to:
                    continue
                pct, why = _share(cfg, p, event)
                if pct is None or pct == 0:
                    continue
                refunded = event.refunded_pct if event.kind == "refunded" else Decimal(100)
                raw = p.paid * refunded / 100 * pct / 100
                take = round_money(raw, m, rounding)
                room = p.paid - before
                steps_list = [head, why]
                if event.kind == "refunded" and refunded != 100:
                    steps_list.append(tr("%(refunded)s of the deal was refunded", refunded=percent(refunded / 100, 2)))
                steps_list.append(tr("%(paid)s × %(refunded)s × %(pct)s = %(raw)s → %(take)s", paid=money(p.paid, m),
                                     refunded=percent(refunded / 100, 2), pct=percent(pct / 100, 2),
                                     raw=Decimal(fmt_num(raw, 6)), take=money(take, m)))
                if take > room:
                    steps_list.append(tr("only %(room)s is left to take back (already clawed back %(before)s)",
                                         room=money(room, m), before=money(before, m)))
                    take = room
                if take <= 0:
                    continue
                amount = -take
                steps = tuple(steps_list)
            after = before - amount
            clawed[key] = after
            out.append(ClawbackLine(employee_id=p.employee_id, deal_id=p.deal_id, kind=event.kind, amount=amount,
                                    currency=m, cycle_id=cycle_id,
                                    idempotency_key=f"{cycle_id}:{p.employee_id}:clawback-{p.deal_id}:{seq}",
                                    clawed_back_after=after,
                                    steps=(*steps, tr("a new line of %(amount)s in %(cycle)s; the paid line is not "
                                                      "changed", amount=money(amount, m), cycle=cycle_id))))
            seq += 1
    return out


def _kind_text(kind: str) -> Text:
    return {"cancelled": tr("was cancelled"), "refunded": tr("was refunded"), "churned": tr("churned"),
            "reinstated": tr("was reinstated")}[kind]
