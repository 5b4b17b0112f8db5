"""Draws (guarantees) per person and period, and the balance ledger carried across periods.

- ``non_recoverable``: a period whose earnings fall short of the draw is topped up to it; nothing is owed.
- ``recoverable``: the top-up becomes a balance the person owes, recovered from later earnings above the draw
  (at most ``recovery_pct`` percent of that excess per period). Once the guarantee has ended, earnings are
  "above the draw" in full. Recovery runs for ``recovery_periods`` periods after the last guaranteed one
  (None: until repaid); what is still owed then is written off or carried into the next plan year, as declared.

Clawbacks are shown in the ledger but never touch the guarantee or the draw balance: a guarantee that topped a
clawback up would pay it back, and a clawback settles through its own negative line (domain.clawbacks).
Amounts here are already money (each in the currency's minor unit); the recovery share is rounded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, getcontext
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import DomainError
from domain.inputs import bounded
from domain.money import _HALF_UP, Num, RoundingMode, _exponent, exact, fmt_num, minor_unit, round_money
from domain.sentences import Money, money
from domain.text import LazySteps, Steps, Text, tr

#: A draw is a per-period amount of money, like a target bonus.
MAX_DRAW = Decimal(10) ** 12


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DrawConfig(_Frozen):
    """A guarantee per period; recoverable draws say how, and for how long, the balance is recovered."""

    kind: Literal["recoverable", "non_recoverable"]
    amount: Annotated[Num, bounded(0, MAX_DRAW, tr("a draw in units of money per period"), places=4)]
    #: Periods (from the person's first period of the plan year) the guarantee applies; None: every period.
    periods: Annotated[int, bounded(1, 53, tr("periods the guarantee applies"))] | None = Field(default=None, strict=True)
    recovery_pct: Annotated[Num, bounded(0, 100, tr("a percent of the earnings above the draw"), places=4)] = Decimal(100)
    #: Periods after the last guaranteed one during which the balance is still recovered; None: until repaid.
    recovery_periods: Annotated[int, bounded(0, 53, tr("periods of recovery after the guarantee"))] | None = Field(
        default=None, strict=True)
    at_end: Literal["write_off", "carry"] = "carry"


class LedgerPeriod(_Frozen):
    """One period of a person's ledger: what was earned, drawn, recovered, clawed back, and what is owed after."""

    period: int
    opening_balance: Decimal
    earned: Decimal
    guarantee: Decimal
    drawn: Decimal
    recovered: Decimal
    clawed_back: Decimal
    written_off: Decimal
    carried: Decimal
    closing_balance: Decimal
    paid: Decimal
    currency: str
    steps: Steps


@exact
def draw_period(cfg: DrawConfig, index: int, earned: Decimal, opening_balance: Decimal, currency: str,
                rounding: RoundingMode, clawed_back: Decimal = Decimal(0), amount: Decimal | None = None) -> LedgerPeriod:
    """Period ``index`` (0-based, from the person's first period) of the ledger.

    ``earned`` is the period's commission and bonus (after any true-up), ``opening_balance`` what the person
    owes from earlier draws, ``clawed_back`` the period's clawbacks (a positive amount taken back), ``amount``
    a per-person draw overriding the plan's. ``paid`` = earned + drawn − recovered − clawed back: negative when
    clawbacks exceed the rest, for payroll to recover, never turned into a payment.
    The steps are built when they are read (every person of a cycle has a ledger entry; few read it).
    """
    values = _draw(cfg, index, earned, opening_balance, currency, rounding, clawed_back, amount, None)
    said = values.pop("said")
    values["steps"] = LazySteps(_draw_steps, (cfg, index, earned, opening_balance, currency, rounding, clawed_back,
                                              amount, said), _draw_english)
    return LedgerPeriod.model_validate(values)


@exact
def _draw_steps(cfg: DrawConfig, index: int, earned: Decimal, opening_balance: Decimal, currency: str,
                rounding: RoundingMode, clawed_back: Decimal, amount: Decimal | None, said: Any = None) -> list[Text]:
    steps: list[Text] = []
    _draw(cfg, index, earned, opening_balance, currency, rounding, clawed_back, amount, steps)
    return steps


def _draw_english(cfg: DrawConfig, index: int, earned: Decimal, opening_balance: Decimal, currency: str,
                  rounding: RoundingMode, clawed_back: Decimal, amount: Decimal | None, said: tuple[Any, ...]) -> str:
    """What ``_draw_steps`` say in English, joined by "; ", said from the figures ``_draw`` kept (``said``), each
    money figure as ``str(money(v, currency))`` and the percent as ``str()`` of a step shows it."""
    (guaranteed, guarantee, drawn, after_draw, recovering, excess, share, recovered, ended, last, written_off,
     carried, paid, balance) = said
    q = _exponent(minor_unit(currency))

    def m(v: Decimal) -> str:
        return f"{v.quantize(q, context=_HALF_UP):,} {currency}"  # shown_round in the domain's context, fmt_money

    shown_earned = m(earned)
    out = []
    if guaranteed and earned < guarantee:
        if cfg.kind == "recoverable":
            out.append(f"earned {shown_earned} is below the recoverable draw {m(guarantee)}: drawn {m(drawn)}, owed "
                       f"back from later earnings (balance {m(opening_balance)} → {m(after_draw)})")
        else:
            out.append(f"earned {shown_earned} is below the guaranteed draw {m(guarantee)}: topped up by {m(drawn)}, "
                       "not owed back (non-recoverable)")
    elif guaranteed:
        out.append(f"earned {shown_earned} is at or above the draw {m(guarantee)}: nothing drawn")
    else:
        out.append(f"the guarantee ended after period {cfg.periods}: earned {shown_earned} is paid as it is")
    if recovering:
        # pct: recovery_pct.normalize() in the domain's context, exact for a percent of at most 7 digits
        text = str(cfg.recovery_pct)
        pct = (f"{cfg.recovery_pct.normalize():f}" if "E" in text or len(text) > getcontext().prec else
               text.rstrip("0").rstrip(".") if "." in text else text)
        out.append(f"recovered {m(recovered)} of the balance {m(opening_balance)}: at most {pct} % of the "
                   f"{m(excess)} earned above the draw ({m(share)})")
    elif ended:
        out.append(f"the recovery period has ended: the balance {m(opening_balance)} is not recovered from these "
                   "earnings")
    if last:
        if cfg.at_end == "write_off":
            out.append(f"the recovery period ends with this period: the remaining balance {m(written_off)} is written "
                       "off")
        else:
            out.append(f"the recovery period ends with this period: the remaining balance {m(carried)} is carried "
                       "into the next plan year")
    shown_clawed = m(clawed_back)
    if clawed_back:
        out.append(f"clawed back {shown_clawed} (its own line; it does not change the draw or the balance)")
    out.append(f"paid: earned {shown_earned} + drawn {m(drawn)} − recovered {m(recovered)} − clawed back "
               f"{shown_clawed} = {m(paid)}; balance owed {m(balance)}")
    return "; ".join(out)


def _draw(cfg: DrawConfig, index: int, earned: Decimal, opening_balance: Decimal, currency: str,
          rounding: RoundingMode, clawed_back: Decimal, amount: Decimal | None,
          steps: list[Text] | None) -> dict[str, Any]:
    """``draw_period``'s figures; its steps appended to ``steps`` when given (None: figures only). ``said``: the
    figures and branches the steps say, for ``_draw_english``."""
    places = minor_unit(currency)
    for name, value in (("earned", earned), ("opening_balance", opening_balance), ("clawed_back", clawed_back)):
        if value.scaleb(places) != value.scaleb(places).to_integral_value():
            raise DomainError(tr("%(value)s has more decimals than %(currency)s allows (%(places)s)",
                                 value=str(value), currency=currency, places=places), name)
    if index < 0:
        raise DomainError(tr("must be a positive integer, got %(revision)s", revision=repr(index)), "index")
    if opening_balance < 0 or clawed_back < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(min(opening_balance, clawed_back))),
                          "opening_balance" if opening_balance < 0 else "clawed_back")
    draw = cfg.amount if amount is None else amount
    if draw < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(draw)), "amount")
    draw = round_money(draw, currency, rounding)
    guaranteed = cfg.periods is None or index < cfg.periods
    guarantee = draw if guaranteed else Decimal(0)
    balance = opening_balance
    def m(v: Decimal) -> Money:
        return money(v, currency)  # every figure below is money in this currency
    drawn = recovered = written_off = carried = share = Decimal(0)
    after_draw = balance
    if guaranteed and earned < guarantee:
        drawn = guarantee - earned
        if cfg.kind == "recoverable":
            balance += drawn
            after_draw = balance
            if steps is not None:
                steps.append(tr("earned %(earned)s is below the recoverable draw %(draw)s: drawn %(drawn)s, owed back from "
                                "later earnings (balance %(before)s → %(after)s)", earned=m(earned), draw=m(guarantee),
                                drawn=m(drawn), before=m(opening_balance), after=m(balance)))
        else:
            if steps is not None:
                steps.append(tr("earned %(earned)s is below the guaranteed draw %(draw)s: topped up by %(drawn)s, not owed "
                                "back (non-recoverable)", earned=m(earned), draw=m(guarantee), drawn=m(drawn)))
    elif guaranteed:
        if steps is not None:
            steps.append(tr("earned %(earned)s is at or above the draw %(draw)s: nothing drawn", earned=m(earned),
                            draw=m(guarantee)))
    else:
        if steps is not None:
            steps.append(tr("the guarantee ended after period %(periods)s: earned %(earned)s is paid as it is",
                            periods=cfg.periods, earned=m(earned)))
    in_window = (cfg.kind == "recoverable" and
                 (cfg.periods is None or cfg.recovery_periods is None or index < cfg.periods + cfg.recovery_periods))
    excess = earned - guarantee
    if opening_balance > 0 and excess > 0 and in_window:
        share = round_money(excess * cfg.recovery_pct / 100, currency, rounding)
        recovered = min(opening_balance, share)
        balance -= recovered
        if steps is not None:
            steps.append(tr("recovered %(recovered)s of the balance %(balance)s: at most %(pct)s %% of the %(excess)s earned "
                            "above the draw (%(share)s)", recovered=m(recovered), balance=m(opening_balance),
                            pct=cfg.recovery_pct.normalize(), excess=m(excess), share=m(share)))
    elif opening_balance > 0 and cfg.kind == "recoverable" and not in_window:
        if steps is not None:
            steps.append(tr("the recovery period has ended: the balance %(balance)s is not recovered from these earnings",
                            balance=m(opening_balance)))
    last_recovery = (cfg.kind == "recoverable" and cfg.periods is not None and cfg.recovery_periods is not None
                     and index == cfg.periods + cfg.recovery_periods - 1)
    if last_recovery and balance > 0:
        if cfg.at_end == "write_off":
            written_off, balance = balance, Decimal(0)
            if steps is not None:
                steps.append(tr("the recovery period ends with this period: the remaining balance %(balance)s is written "
                                "off", balance=m(written_off)))
        else:
            carried = balance
            if steps is not None:
                steps.append(tr("the recovery period ends with this period: the remaining balance %(balance)s is carried "
                                "into the next plan year", balance=m(carried)))
    if clawed_back:
        if steps is not None:
            steps.append(tr("clawed back %(amount)s (its own line; it does not change the draw or the balance)",
                            amount=m(clawed_back)))
    paid = earned + drawn - recovered - clawed_back
    if steps is not None:
        steps.append(tr("paid: earned %(earned)s + drawn %(drawn)s − recovered %(recovered)s − clawed back %(clawed)s = "
                        "%(paid)s; balance owed %(balance)s", earned=m(earned), drawn=m(drawn), recovered=m(recovered),
                        clawed=m(clawed_back), paid=m(paid), balance=m(balance)))
    recovering = opening_balance > 0 and excess > 0 and in_window
    ended = not recovering and opening_balance > 0 and cfg.kind == "recoverable" and not in_window
    said = (guaranteed, guarantee, drawn, after_draw, recovering, excess, share, recovered, ended,
            last_recovery and (written_off > 0 or carried > 0), written_off, carried, paid, balance)
    return {"period": index + 1, "opening_balance": opening_balance, "earned": earned, "guarantee": guarantee,
            "drawn": drawn, "recovered": recovered, "clawed_back": clawed_back, "written_off": written_off,
            "carried": carried, "closing_balance": balance, "paid": paid, "currency": currency, "said": said}


@exact
def draw_ledger(cfg: DrawConfig, earned: Sequence[Decimal], currency: str, rounding: RoundingMode,
                clawed_back: Sequence[Decimal] | None = None, opening_balance: Decimal = Decimal(0),
                amount: Decimal | None = None) -> list[LedgerPeriod]:
    """Every period of a person's ledger, each opening with the balance the previous one closed with."""
    claws = list(clawed_back) if clawed_back is not None else [Decimal(0)] * len(earned)
    if len(claws) != len(earned):
        raise DomainError(tr("%(count)s clawback amounts for %(periods)s periods; give one per period",
                             count=len(claws), periods=len(earned)), "clawed_back")
    out: list[LedgerPeriod] = []
    balance = opening_balance
    for i, (e, c) in enumerate(zip(earned, claws, strict=True)):
        entry = draw_period(cfg, i, e, balance, currency, rounding, c, amount)
        balance = entry.closing_balance
        out.append(entry)
    return out
