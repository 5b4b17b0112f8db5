"""Deal-level commission: rate or amount tables applied deal by deal, per transaction or cumulatively.

A plan declares how its table meets the deals (Oracle Incentive Compensation's choices, see the tests):
- ``per_transaction``: every deal is evaluated from zero on its own;
- ``cumulative``: every deal continues where the KAM's year-to-date total stands, so a deal that crosses a
  tier edge is split between the tiers (marginal), or paid at the rate of the tier the running total reaches
  (retroactive, on the deal's own amount only: earlier deals are never re-rated).

Amount tables pay an amount per tier instead of a rate: ``interpolated`` (Oracle's "varied, interpolated" split)
earns each tier's amount in proportion to how far the value reaches into it; ``flat`` pays the amount of the
tier reached. Cumulatively an amount table pays the increase of its value from before to after the deal.

A deal shared by KAMs is credited by declared percentages, split with the largest remainder so the parts sum
exactly to the deal. Each deal line is rounded once, to the currency's minor unit, with the plan's mode: the
deal line is the money boundary, because a clawback later takes back exactly what one deal paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, getcontext, localcontext
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from domain.errors import DomainError
from domain.inputs import Id, bounded, id_problem
from domain.money import (
    _HALF_UP,
    Num,
    RoundingMode,
    _exponent,
    _rounding_context,
    allocate,
    calc_context,
    check_rounding_mode,
    decimal_places,
    exact,
    fmt_num,
    fmt_plain,
    minor_unit,
    round_money,
)
from domain.sentences import money
from domain.text import LazySteps, LazyText, Step, Steps, Text, lazy_text, tr
from domain.tiers import MAX_REVENUE, CommissionTier, Revenue, check_tiers
from domain.trusted import trusted

#: An amount a tier of an amount table pays: money, below what one payout line holds.
MAX_TIER_AMOUNT = Decimal(10) ** 12


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- the tables ----


class RateTable(_Frozen):
    """Rates on the deal amount: retroactive (whole amount at the tier reached) or marginal (each slice)."""

    kind: Literal["rate"] = "rate"
    mode: Literal["retroactive", "marginal"]
    boundary: Literal["upper", "lower"]
    tiers: tuple[CommissionTier, ...] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _ordered(self) -> RateTable:
        check_tiers(self.tiers)
        return self


class AmountTier(BaseModel):
    """A tier of an amount table: from ``from`` to the next tier's ``from`` (the last to the table's ``to``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    from_: Revenue = Field(alias="from")
    amount: Annotated[Num, bounded(0, MAX_TIER_AMOUNT, tr("an amount of money a tier pays"), places=4)]


class AmountTable(_Frozen):
    """Amounts per tier: ``interpolated`` (in proportion to how far the value reaches into a tier) or ``flat``."""

    kind: Literal["amount"] = "amount"
    mode: Literal["interpolated", "flat"]
    boundary: Literal["upper", "lower"] = "upper"
    tiers: tuple[AmountTier, ...] = Field(min_length=1, max_length=50)
    #: Where the last tier ends: an interpolated tier needs a width. Above it the table pays all its tiers.
    to: Revenue | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AmountTable:
        for i in range(1, len(self.tiers)):
            if self.tiers[i].from_ <= self.tiers[i - 1].from_:
                raise DomainError(
                    tr("tiers must be strictly increasing: tier %(i)s from %(start)s is not above tier %(i2)s from %(previous)s",
                       i=i, start=fmt_num(self.tiers[i].from_), i2=i - 1, previous=fmt_num(self.tiers[i - 1].from_)),
                    f"tiers.{i}.from",
                )
        if self.mode == "interpolated" and self.to is None:
            raise DomainError(tr("an interpolated amount table needs 'to', where its last tier ends"), "to")
        if self.to is not None and self.to <= self.tiers[-1].from_:
            raise DomainError(tr("'to' %(to)s must be above the last tier's from %(start)s",
                                 to=fmt_num(self.to), start=fmt_num(self.tiers[-1].from_)), "to")
        return self

    def upper(self, i: int) -> Decimal | None:
        return self.tiers[i + 1].from_ if i + 1 < len(self.tiers) else self.to


def _table_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "rate"))
    return "amount" if isinstance(value, AmountTable) else "rate"


Table = Annotated[Annotated[RateTable, Tag("rate")] | Annotated[AmountTable, Tag("amount")], Discriminator(_table_kind)]


class DealCommissionConfig(_Frozen):
    """Commission paid deal by deal; the plan declares whether deals start from zero or from the YTD total."""

    application: Literal["per_transaction", "cumulative"]
    table: Table

    @model_validator(mode="after")
    def _never_negative(self) -> DealCommissionConfig:
        table = self.table
        if self.application == "cumulative" and isinstance(table, AmountTable) and table.mode == "flat":
            for i in range(1, len(table.tiers)):  # a deal pays the table's increase: it must not fall
                if table.tiers[i].amount < table.tiers[i - 1].amount:
                    raise DomainError(tr("a flat amount table applied cumulatively needs amounts that never fall: tier "
                                         "%(i)s pays %(amount)s, less than tier %(i2)s's %(previous)s", i=i,
                                         amount=fmt_num(table.tiers[i].amount), i2=i - 1,
                                         previous=fmt_num(table.tiers[i - 1].amount)), f"table.tiers.{i}.amount")
        return self


# ---- deals and split credit ----


class Credit(_Frozen):
    """A KAM's declared share of a deal, in percent."""

    employee_id: Id
    percent: Annotated[Num, bounded(0, 100, tr("a share of the deal in percent"), places=4)]


class Deal(_Frozen):
    """A closed deal (from the CRM or a CSV of deals) and who is credited with it."""

    id: Id
    closed_on: date
    amount: Annotated[Num, bounded(0, MAX_REVENUE, tr("a deal amount in units of money"), places=6)]
    currency: str
    credits: tuple[Credit, ...] = Field(min_length=1, max_length=20)

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        minor_unit(value)
        return value

    @model_validator(mode="after")
    def _shares(self) -> Deal:
        seen: set[str] = set()
        for i, c in enumerate(self.credits):
            if c.employee_id in seen:
                raise DomainError(tr("employee %(employee_id)s appears twice", employee_id=repr(c.employee_id)),
                                  f"credits.{i}.employee_id")
            seen.add(c.employee_id)
        with localcontext(calc_context()):  # validation runs in the caller's context: sum exactly
            total = sum((c.percent for c in self.credits), Decimal(0))
        if total != 100:
            raise DomainError(tr("the credit shares of deal %(deal)s sum to %(total)s %%, must be exactly 100 %%",
                                 deal=self.id, total=fmt_num(total)), "credits")
        return self


_DEAL_SET = set(Deal.model_fields)  # every field given, as model_validate records them; shared, never changed
_KAM_CREDITS: dict[str, tuple[Credit, ...]] = {}  # a KAM's whole credit, validated once (bounded below)


def kam_deal(deal_id: object, closed_on: object, amount: object, currency: object, kam_id: object) -> Deal | None:
    """The deal credited 100 % to its KAM, as ``Deal.model_validate`` makes it, from values that already have their
    types (a CRM row: str, date, Decimal); or None whenever validation might say anything else (the caller then
    validates, which says why).

    Validation's own checks, in the same terms: the id, a finite amount within the range and places, a known
    currency; the KAM's ``Credit`` is validated once per KAM. A cycle validates two million such deals for
    100,000 KAMs, a fifth of its CPU through pydantic.
    """
    credits = _kam_credits(deal_id, closed_on, amount, currency, kam_id)
    if credits is None:
        return None
    return trusted(Deal, {"id": deal_id, "closed_on": closed_on, "amount": amount, "currency": currency,
                          "credits": credits}, _DEAL_SET)


def _kam_credits(deal_id: object, closed_on: object, amount: object, currency: object,
                 kam_id: object) -> tuple[Credit, ...] | None:
    """kam_deal's checks: the deal's credits (its KAM's, validated once per KAM) or None."""
    if (type(deal_id) is not str or type(closed_on) is not date or type(amount) is not Decimal
            or type(currency) is not str or type(kam_id) is not str):
        return None
    if (id_problem(deal_id) is not None or not amount.is_finite() or not 0 <= amount <= MAX_REVENUE
            or decimal_places(amount) > 6):
        return None
    try:
        minor_unit(currency)
    except DomainError:
        return None
    credits = _KAM_CREDITS.get(kam_id)
    if credits is None:
        try:
            credits = (Credit.model_validate({"employee_id": kam_id, "percent": 100}),)
        except ValueError:  # a DomainError or pydantic's ValidationError: the full validation says it
            return None
        if len(_KAM_CREDITS) >= 8192:
            _KAM_CREDITS.clear()
        _KAM_CREDITS[kam_id] = credits
    return credits


def kam_credit(deal_id: object, closed_on: object, amount: object, currency: object,
               kam_id: object) -> DealCredit | None:
    """``credit_deal(kam_deal(...))``'s one credit, without building the deal; None where kam_deal is None (the
    caller then validates the deal, which says why)."""
    credits = _kam_credits(deal_id, closed_on, amount, currency, kam_id)
    if credits is None:
        return None
    c = credits[0]
    # credit_deal's one-part branch: the part is the deal's amount itself
    step = lazy_text(_credit_text, _credit_english, deal_id, amount, currency, c.percent, c.employee_id, amount,
                     _exponent(minor_unit(currency)))  # type: ignore[arg-type]
    credit = _new(DealCredit)
    _set(credit, "__dict__", {"deal_id": deal_id, "employee_id": c.employee_id, "closed_on": closed_on,
                              "percent": c.percent, "amount": amount, "currency": currency, "step": step})
    _set(credit, "__pydantic_fields_set__", _CREDIT_SET)
    _set(credit, "__pydantic_extra__", None)
    _set(credit, "__pydantic_private__", None)
    return credit


class DealCredit(_Frozen):
    """One KAM's part of one deal, in the deal's currency."""

    deal_id: str
    employee_id: str
    closed_on: date
    percent: Decimal
    amount: Decimal
    currency: str
    step: Step


_CREDIT_FIELDS = frozenset(DealCredit.model_fields)
_CREDIT_SET = set(_CREDIT_FIELDS)  # shared by the credits built here: a frozen model's fields set is never changed


def credit_deal(deal: Deal) -> list[DealCredit]:
    """The deal's parts per KAM, by declared percentage, summing exactly to the deal (largest remainder).

    A deal of 1,000.01 split 50/50 gives 500.01 and 500.00 (the earlier-listed KAM takes the odd cent).
    Each part's step is built when it is read (``_credit_text``); in English it is said from the figures.
    No arithmetic here but ``allocate``'s, which runs in the domain's own context.
    """
    if len(deal.credits) == 1:
        parts = [deal.amount]
    else:
        parts = allocate(deal.amount, [c.percent for c in deal.credits], deal.currency)
    quantum = _exponent(minor_unit(deal.currency))  # the step shows money in it: a bad code fails here, as it did
    out: list[DealCredit] = []
    for c, part in zip(deal.credits, parts, strict=True) if len(parts) > 1 else ((deal.credits[0], parts[0]),):
        step = lazy_text(_credit_text, _credit_english, deal.id, deal.amount, deal.currency, c.percent, c.employee_id,
                         part, quantum)
        credit = _new(DealCredit)  # domain.trusted.trusted, inline: the validated deal's own figures
        _set(credit, "__dict__", {"deal_id": deal.id, "employee_id": c.employee_id, "closed_on": deal.closed_on,
                                  "percent": c.percent, "amount": part, "currency": deal.currency, "step": step})
        _set(credit, "__pydantic_fields_set__", _CREDIT_SET)
        _set(credit, "__pydantic_extra__", None)
        _set(credit, "__pydantic_private__", None)
        out.append(credit)
    return out


_new = object.__new__
_set = object.__setattr__


@exact
def _credit_text(deal_id: str, amount: Decimal, currency: str, pct: Decimal, employee: str, part: Decimal,
                 quantum: Decimal) -> Text:
    return tr("deal %(deal)s of %(amount)s: %(share)s %% credited to %(employee)s = %(part)s", deal=deal_id,
              amount=money(amount, currency), share=pct.normalize(), employee=employee, part=money(part, currency))


def _p(value: Decimal, prec: int) -> str:
    """A Decimal parameter as ``str()`` of a Text shows it, ``f"{value.normalize():f}"`` in the reader's context
    (precision ``prec``): from ``str()`` when that is plain notation short enough that normalizing rounds nothing."""
    text = str(value)
    if len(text) > prec or "E" in text:
        return f"{value.normalize():f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _pn(value: Decimal, prec: int) -> str:
    """``_n(value)`` as ``str()`` of a Text shows it: ``fmt_plain(value, 6)`` is already in that form (no
    exponent, no trailing zeros) unless it has more digits than the reader's context keeps."""
    text = fmt_plain(value, 6)
    return text if len(text) <= prec else f"{Decimal(text).normalize():f}"


def _credit_english(deal_id: str, amount: Decimal, currency: str, pct: Decimal, employee: str, part: Decimal,
                    quantum: Decimal) -> str:
    shown = f"{amount.quantize(quantum, context=_HALF_UP):,} {currency}"  # str(money(amount, currency))
    if part is not amount:
        part_shown = f"{part.quantize(quantum, context=_HALF_UP):,} {currency}"
    else:
        part_shown = shown
    # the step's share is pct.normalize() in the domain's context: a percent (at most 7 digits) comes out exact, so
    # shown as str() shows it, it reads as pct normalized in the reader's context
    return f"deal {deal_id} of {shown}: {_p(pct, getcontext().prec)} % credited to {employee} = {part_shown}"


# ---- evaluating the tables ----


def _n(value: Decimal) -> Decimal:
    """A figure as an explanation shows it: at most 6 decimals (the exact value stays in the line's fields)."""
    return Decimal(fmt_plain(value, 6))


def _owner(boundary: str) -> Text:
    return tr("the upper tier") if boundary == "upper" else tr("the lower tier")


def _reached(starts: Sequence[Decimal], boundary: str, value: Decimal) -> int | None:
    """Index of the tier a value reaches, honouring who owns an exact edge; None below the first tier."""
    found: int | None = None
    for i, start in enumerate(starts):
        if start < value or (boundary == "upper" and start == value):
            found = i
    return found


@exact
def amount_table_value(table: AmountTable, value: Decimal) -> tuple[Decimal, list[Text]]:
    """What an amount table pays for ``value``, with one step per tier used (Oracle's interpolated amounts)."""
    if value < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(value)), "amount")
    if table.mode == "flat":
        idx = _reached([t.from_ for t in table.tiers], table.boundary, value)
        if idx is None:
            return Decimal(0), [tr("%(value)s is below the first tier (from %(start)s) → 0", value=value,
                                   start=table.tiers[0].from_)]
        tier = table.tiers[idx]
        return tier.amount, [tr("%(value)s reaches the tier from %(start)s (edges owned by %(owner)s), "
                                "which pays %(amount)s", value=value, start=tier.from_, owner=_owner(table.boundary),
                                amount=tier.amount)]
    total = Decimal(0)
    steps: list[Text] = []
    for i, tier in enumerate(table.tiers):
        upper = table.upper(i)
        assert upper is not None  # an interpolated table has 'to'
        if value <= tier.from_:
            break
        if value >= upper:
            total += tier.amount
            steps.append(tr("tier %(low)s–%(high)s reached in full: %(amount)s", low=tier.from_, high=upper,
                            amount=tier.amount))
            continue
        part = tier.amount * (value - tier.from_) / (upper - tier.from_)
        total += part
        steps.append(tr("tier %(low)s–%(high)s reached to %(value)s: %(amount)s × %(reach)s / %(width)s = %(part)s",
                        low=tier.from_, high=upper, value=value, amount=tier.amount, reach=value - tier.from_,
                        width=upper - tier.from_, part=_n(part)))
    if not steps:
        steps.append(tr("%(value)s is below the first tier (from %(start)s) → 0", value=value, start=table.tiers[0].from_))
    return total, steps


# ---- deal lines ----


class DealLine(_Frozen):
    """The commission one KAM earns on one deal (credited part), with the steps that produced it."""

    deal_id: str
    employee_id: str
    closed_on: date
    credited: Decimal
    ytd_before: Decimal
    ytd_after: Decimal
    unrounded: Decimal
    amount: Decimal
    currency: str
    steps: Steps


_DEAL_LINE_FIELDS = frozenset(DealLine.model_fields)


class DealCommissionResult(_Frozen):
    """A KAM's deal lines in the order they were applied, their total and the running total after them."""

    employee_id: str
    lines: tuple[DealLine, ...]
    total: Decimal
    ytd_after: Decimal
    currency: str


_DEAL_LINE_SET = set(_DEAL_LINE_FIELDS)  # shared: a frozen model's fields set is never changed
_RESULT_SET = set(DealCommissionResult.model_fields)


class _Rates:
    """A rate table's constants, once per table: tier starts and ends, rates, and the rates as the steps show them."""

    __slots__ = ("table", "starts", "uppers", "rates", "tiers", "shown", "texts", "owner")

    def __init__(self, table: RateTable) -> None:
        tiers = table.tiers
        self.table = table
        self.starts = tuple(t.from_ for t in tiers)
        self.uppers = tuple(tiers[i + 1].from_ if i + 1 < len(tiers) else None for i in range(len(tiers)))
        self.rates = tuple(t.rate for t in tiers)
        self.tiers = tuple(zip(range(len(tiers)), self.starts, self.uppers, self.rates, strict=True))
        self.shown = tuple((t.rate * 100).normalize() for t in tiers)  # in the domain's context, as the steps did
        self.texts = tuple(f"{v:f}" for v in self.shown)  # normalized already: how str() shows them, when exact
        self.owner = _owner(table.boundary)

    def shown_text(self, i: int, prec: int) -> str:
        """Tier ``i``'s rate in percent as ``str()`` of a step shows it in a context of precision ``prec``."""
        text = self.texts[i]
        return text if len(text) <= prec else _p(self.shown[i], prec)


_RATES: dict[int, _Rates] = {}


def _rates(table: RateTable) -> _Rates:
    """The table's constants, looked up by identity (a plan's table serves every person of a cycle)."""
    found = _RATES.get(id(table))
    if found is None or found.table is not table:
        if len(_RATES) >= 256:
            _RATES.clear()
        found = _RATES[id(table)] = _Rates(table)
    return found


def _order(c: DealCredit) -> tuple[date, str]:
    return (c.closed_on, c.deal_id)


@exact
def deal_commission(cfg: DealCommissionConfig, credits: Sequence[DealCredit], rounding: RoundingMode,
                    ytd_before: Decimal = Decimal(0)) -> DealCommissionResult:
    """One KAM's commission deal by deal, in closing order (then deal id), starting from ``ytd_before``.

    ``ytd_before`` is the KAM's credited total of earlier periods of the plan year (cumulative plans only;
    per-transaction plans ignore it except to report the running total).
    Example (Oracle's step-rate table, tiers 0–1,000 at 1 % and 1,000–3,000 at 2 %): deals of 500 and 2,500 pay
    5 + 40 = 45 per transaction and 5 + (5 + 40) = 50 cumulatively.
    A rate table's lines keep their figures and build their steps when they are read (``LazySteps``).
    """
    if not credits:
        raise DomainError(tr("need at least one deal"), "deals")
    employees: set[str] = set()
    currencies: set[str] = set()
    seen: set[str] = set()
    twice: str | None = None  # the first deal seen again, in the credits' order
    for c in credits:  # one pass; the refusals in their order below
        employees.add(c.employee_id)
        currencies.add(c.currency)
        if twice is None and c.deal_id in seen:
            twice = c.deal_id
        seen.add(c.deal_id)
    if len(employees) > 1:
        raise DomainError(tr("deal commission is computed for one KAM at a time, got %(count)s", count=len(employees)),
                          "deals")
    if len(currencies) > 1:
        raise DomainError(tr("deals in several currencies %(currencies)s; convert them first",
                             currencies=str(sorted(currencies))), "currency")
    if ytd_before < 0:
        raise DomainError(tr("amount %(amount)s is negative", amount=fmt_num(ytd_before)), "ytd_before")
    if twice is not None:
        raise DomainError(tr("deal %(deal)s appears twice", deal=twice), "deals")
    currency = currencies.pop()
    table = cfg.table
    if not isinstance(table, RateTable):
        return _amount_commission(cfg, table, credits, rounding, ytd_before, currency)
    rates = _rates(table)
    cumulative = cfg.application == "cumulative"
    marginal = table.mode == "marginal"
    tiers = rates.tiers
    running = ytd_before
    zero = Decimal(0)
    lines: list[DealLine] = []
    quantum = ctx = None
    of = LazySteps.of
    for c in sorted(credits, key=_order):
        credited = c.amount
        before = running if cumulative else zero
        after = before + credited
        if marginal:  # marginal commission on the slice before..after of the total, each slice's figures kept
            raw = Decimal(0)
            slices = []
            for i, start, upper, rate in tiers:
                lo = start if start > before else before  # max(before, start), min(after, upper): the same objects
                hi = after if upper is None or not upper < after else upper
                if hi <= lo:
                    continue
                width = hi - lo
                part = width * rate
                raw += part
                slices.append((i, lo, hi, width, part))
            figures: Any = slices
        else:
            raw, figures = _retroactive(rates, after, credited)
        if ctx is None:  # what round_money checks, in its order, once
            ctx = _rounding_context(check_rounding_mode(rounding))
            quantum = _exponent(minor_unit(currency))
        amount = raw.quantize(quantum, context=ctx)
        running = after if cumulative else running + credited  # the same sum either way: the next line's start
        line = _new(DealLine)  # domain.trusted.trusted, inline: computed here, already of the fields' types
        _set(line, "__dict__", {
            "deal_id": c.deal_id, "employee_id": c.employee_id, "closed_on": c.closed_on, "credited": credited,
            "ytd_before": before if cumulative else running - credited, "ytd_after": running,
            "unrounded": raw, "amount": amount, "currency": currency,
            "steps": of((_deal_steps, _deal_english, (rates, cumulative, marginal, c, before, after, raw, amount,
                                                      figures, rounding, currency)))})
        _set(line, "__pydantic_fields_set__", _DEAL_LINE_SET)
        _set(line, "__pydantic_extra__", None)
        _set(line, "__pydantic_private__", None)
        lines.append(line)
    total = sum((line.amount for line in lines), Decimal(0))
    return trusted(DealCommissionResult, {"employee_id": lines[0].employee_id, "lines": tuple(lines), "total": total,
                                          "ytd_after": running, "currency": currency}, _RESULT_SET)


def _retroactive(rates: _Rates, reach: Decimal, amount: Decimal) -> tuple[Decimal, int | None]:
    """``amount`` at the rate of the tier ``reach`` falls in (0 below the first tier), and that tier."""
    idx = _reached(rates.starts, rates.table.boundary, reach)
    if idx is None:
        return Decimal(0), None
    return amount * rates.rates[idx], idx


@exact
def _deal_steps(rates: _Rates, cumulative: bool, marginal: bool, c: DealCredit, before: Decimal, after: Decimal,
                raw: Decimal, amount: Decimal, figures: Any, rounding: str, currency: str) -> list[Text]:
    """A rate table's deal line's steps, as ``deal_commission`` first built them."""
    steps: list[Text] = [c.step]
    if cumulative:
        steps.append(tr("cumulative: the deal continues the year-to-date total from %(before)s to %(after)s",
                        before=before, after=after))
    else:
        steps.append(tr("per transaction: the deal is evaluated on its own, from 0 to %(after)s", after=after))
    if marginal:
        for i, lo, hi, width, part in figures:
            steps.append(tr("%(low)s–%(high)s: %(width)s × %(rate)s %% = %(part)s", low=lo, high=hi, width=width,
                            rate=rates.shown[i], part=_n(part)))
        if not figures:
            steps.append(tr("%(low)s–%(high)s lies below the first tier (from %(start)s) → 0", low=before, high=after,
                            start=rates.starts[0]))
    elif figures is None:
        steps.append(tr("%(value)s is below the first tier (from %(start)s) → 0", value=after, start=rates.starts[0]))
    else:
        steps.append(tr("%(value)s reaches the tier from %(start)s at %(rate)s %% (edges owned by %(owner)s); "
                        "%(amount)s × %(rate)s %% = %(result)s", value=after, start=rates.starts[figures],
                        rate=rates.shown[figures], owner=rates.owner, amount=c.amount, result=_n(raw)))
    steps.append(tr("deal %(deal)s: %(raw)s → %(amount)s (rounded once, %(rounding)s)", deal=c.deal_id,
                    raw=_n(raw), amount=money(amount, currency), rounding=rounding))
    return steps


def _deal_english(rates: _Rates, cumulative: bool, marginal: bool, c: DealCredit, before: Decimal, after: Decimal,
                  raw: Decimal, amount: Decimal, figures: Any, rounding: str, currency: str) -> str:
    """What ``_deal_steps`` say in English, joined by "; ", said from the figures (every cycle's payout lines)."""
    prec = getcontext().prec  # str() of a Text normalizes its Decimals in the reader's context: so here
    step = c.step
    src = step.__dict__.get("_src") if type(step) is LazyText else None
    head = src[1](*src[2]) if src is not None else str(step)  # str(step), without the dispatch
    shown_after = _p(after, prec)
    if cumulative:
        shown_before = _p(before, prec)
        middle = f"cumulative: the deal continues the year-to-date total from {shown_before} to {shown_after}"
    else:
        shown_before = "0"
        middle = f"per transaction: the deal is evaluated on its own, from 0 to {shown_after}"
    if marginal and len(figures) == 1:  # the common line: one slice, said in one piece
        i, lo, hi, width, part = figures[0]
        shown_part = _pn(part, prec)
        return (f"{head}; {middle}; {shown_before if lo is before else _p(lo, prec)}–"
                f"{shown_after if hi is after else _p(hi, prec)}: {_p(width, prec)} × {rates.shown_text(i, prec)} % = "
                f"{shown_part}; deal {c.deal_id}: {shown_part if part == raw else _pn(raw, prec)} → {amount:,} "
                f"{currency} (rounded once, {rounding})")
    out = [head, middle]
    shown_raw = None
    if marginal:
        for i, lo, hi, width, part in figures:
            shown_part = _pn(part, prec)
            if part == raw:  # one slice: the line's unrounded amount is that slice (_n depends on the value only)
                shown_raw = shown_part
            out.append(f"{shown_before if lo is before else _p(lo, prec)}–{shown_after if hi is after else _p(hi, prec)}"
                       f": {_p(width, prec)} × {rates.shown_text(i, prec)} % = {shown_part}")
        if not figures:
            out.append(f"{_p(before, prec)}–{shown_after} lies below the first tier (from {_p(rates.starts[0], prec)}) → 0")
    elif figures is None:
        out.append(f"{shown_after} is below the first tier (from {_p(rates.starts[0], prec)}) → 0")
    else:
        rate = rates.shown_text(figures, prec)
        shown_raw = _pn(raw, prec)
        out.append(f"{shown_after} reaches the tier from {_p(rates.starts[figures], prec)} at {rate} % (edges owned by "
                   f"{rates.owner}); {_p(c.amount, prec)} × {rate} % = {shown_raw}")
    if shown_raw is None:
        shown_raw = _pn(raw, prec)
    out.append(f"deal {c.deal_id}: {shown_raw} → {amount:,} {currency} (rounded once, {rounding})")
    return "; ".join(out)


def _amount_commission(cfg: DealCommissionConfig, table: AmountTable, credits: Sequence[DealCredit],
                       rounding: RoundingMode, ytd_before: Decimal, currency: str) -> DealCommissionResult:
    """``deal_commission`` for an amount table, every step built at once (as first written)."""
    running = ytd_before
    lines: list[DealLine] = []
    for c in sorted(credits, key=_order):
        before = running if cfg.application == "cumulative" else Decimal(0)
        after = before + c.amount
        steps: list[Text] = [c.step]
        if cfg.application == "cumulative":
            steps.append(tr("cumulative: the deal continues the year-to-date total from %(before)s to %(after)s",
                            before=before, after=after))
        else:
            steps.append(tr("per transaction: the deal is evaluated on its own, from 0 to %(after)s", after=after))
        v_after, more_after = amount_table_value(table, after)
        if cfg.application == "cumulative" and before > 0:
            v_before, _ = amount_table_value(table, before)
            raw = v_after - v_before
            more = [*more_after, tr("the table pays %(after)s at %(to)s − %(before)s already earned at %(from)s = "
                                    "%(result)s", after=_n(v_after), to=after, before=_n(v_before),
                                    **{"from": before}, result=_n(raw))]
        else:
            raw, more = v_after, more_after
        amount = round_money(raw, currency, rounding)
        steps.extend(more)
        steps.append(tr("deal %(deal)s: %(raw)s → %(amount)s (rounded once, %(rounding)s)", deal=c.deal_id,
                        raw=_n(raw), amount=money(amount, currency), rounding=rounding))
        running += c.amount
        lines.append(trusted(DealLine, {  # computed here, already of the fields' types: not validated again
            "deal_id": c.deal_id, "employee_id": c.employee_id, "closed_on": c.closed_on, "credited": c.amount,
            "ytd_before": before if cfg.application == "cumulative" else running - c.amount, "ytd_after": running,
            "unrounded": raw, "amount": amount, "currency": currency, "steps": tuple(steps)}, set(_DEAL_LINE_FIELDS)))
    total = sum((line.amount for line in lines), Decimal(0))
    return DealCommissionResult(employee_id=lines[0].employee_id, lines=tuple(lines), total=total, ytd_after=running,
                                currency=currency)


@exact
def credits_by_employee(deals: Sequence[Deal]) -> dict[str, list[DealCredit]]:
    """Every deal's split credit, grouped per KAM (in the order KAMs first appear)."""
    seen: set[str] = set()
    out: dict[str, list[DealCredit]] = {}
    for i, deal in enumerate(deals):
        if deal.id in seen:
            raise DomainError(tr("deal %(deal)s appears twice", deal=deal.id), f"deals.{i}.id")
        seen.add(deal.id)
        for credit in credit_deal(deal):
            out.setdefault(credit.employee_id, []).append(credit)
    return out
