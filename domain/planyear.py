"""A plan year paid period by period: annual target and quota, period shares, year-to-date true-up.

The plan declares the annual basis once; each cycle of the plan year is one period with its share of the
annual target and quota (equal shares, or explicit percentages summing to 100).

- ``basis: ytd``: attainment is accumulated year to date (YTD actual / YTD quota), the curve gives the YTD
  factor, YTD earned = annual target × YTD share × factor, rounded once, and the period pays YTD earned −
  YTD already paid (what earlier cycles locked). A period never pays a negative amount unless the plan says
  ``negative_true_up: allowed``; the overpayment then stays on the books, and later periods pay only once
  YTD earned is above it again.
- ``basis: period``: each period stands alone (period actual / period quota on the curve, times the period's
  share of the target), and an accelerator gate may still look at YTD attainment.

An accelerator gate withholds the part of the curve above ``above`` (e.g. 100 % of quota) until the gate's YTD
attainment reaches ``min_ytd_attainment``: below it the factor is capped at the curve's value at ``above``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import DomainError
from domain.inputs import Id, bounded
from domain.money import Num, RoundingMode, calc_context, exact, fmt_num, fmt_plain, round_money
from domain.scorecard import interpolate
from domain.sentences import Percent, money, percent
from domain.text import Steps, Text, tr

#: Attainments are KPI actuals (ratios: 1.0 = 100 %), stored as Numeric(20,6).
MAX_ATTAINMENT = Decimal(10) ** 14
#: A payout factor is a multiple of the target (usually at most 3).
MAX_FACTOR = Decimal(10)
#: Weekly periods are the finest a plan year is paid in.
MAX_PERIODS = 53

Attainment = Annotated[Num, bounded(-MAX_ATTAINMENT, MAX_ATTAINMENT, tr("attainments are KPI actuals, stored as "
                                    "Numeric(20,6)"), places=6)]
Factor = Annotated[Num, bounded(0, MAX_FACTOR, tr("a multiple of target"), places=6)]
Share = Annotated[Num, bounded(0, 100, tr("a period's share of the year in percent"), places=6)]


def _n(value: Decimal) -> Decimal:
    """A figure as an explanation shows it: at most 6 decimals (the exact value stays in the result's fields)."""
    return Decimal(fmt_plain(value, 6))


def _pct(ratio: Decimal) -> Percent:
    return percent(ratio, 2)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AcceleratorGate(_Frozen):
    """The curve above ``above`` pays only when the gate's YTD attainment reaches ``min_ytd_attainment``."""

    above: Attainment = Decimal(1)
    min_ytd_attainment: Attainment = Decimal(1)
    #: Whose YTD attainment opens the gate: None is the plan year's own measure; another KPI's id otherwise.
    measure: Id | None = None


class PlanYearConfig(_Frozen):
    """The annual basis of a plan: how many periods, their shares, the curve and the true-up rules."""

    periods: Annotated[int, bounded(1, MAX_PERIODS, tr("periods in a plan year"))] = Field(strict=True)
    #: The KPI whose actuals accumulate against the annual quota (the KPI actuals' id: revenue by default).
    measure: Id = "revenue"
    #: Percent of the annual target and quota per period; None means equal shares.
    shares: tuple[Share, ...] | None = None
    basis: Literal["ytd", "period"] = "ytd"
    curve: tuple[tuple[Attainment, Factor], ...] = Field(min_length=2, max_length=50)
    accelerator: AcceleratorGate | None = None
    negative_true_up: Literal["never", "allowed"] = "never"

    @model_validator(mode="after")
    def _consistent(self) -> PlanYearConfig:
        for i in range(1, len(self.curve)):
            if self.curve[i][0] <= self.curve[i - 1][0]:
                raise DomainError(
                    tr("x values must be strictly increasing: point %(i)s x=%(x)s is not above point %(i2)s x=%(previous)s",
                       i=i, x=fmt_num(self.curve[i][0]), i2=i - 1, previous=fmt_num(self.curve[i - 1][0])),
                    f"curve.{i}")
        if self.shares is not None:
            if len(self.shares) != self.periods:
                raise DomainError(tr("%(count)s shares for %(periods)s periods; give one share per period",
                                     count=len(self.shares), periods=self.periods), "shares")
            with localcontext(calc_context()):  # validation runs in the caller's context: sum exactly
                total = sum(self.shares, Decimal(0))
            if total != 100:
                raise DomainError(tr("period shares sum to %(total)s %%, must be exactly 100 %%", total=fmt_num(total)),
                                  "shares")
        return self

    @exact
    def share(self, index: int) -> Decimal:
        """Period ``index``'s (0-based) share of the year as a fraction (exact for explicit shares)."""
        if self.shares is not None:
            return self.shares[index] / 100
        return Decimal(1) / Decimal(self.periods)

    @exact
    def share_to(self, k: int) -> Decimal:
        """The first ``k`` periods' share of the year as a fraction, divided once (12 of 12 equal shares is 1)."""
        if self.shares is not None:
            return sum(self.shares[:k], Decimal(0)) / 100
        return Decimal(k) / Decimal(self.periods)


class PeriodResult(_Frozen):
    """What one period of the plan year pays, and the YTD figures behind it."""

    period: int
    ytd_actual: Decimal
    ytd_quota: Decimal
    ytd_attainment: Decimal
    attainment: Decimal
    factor: Decimal
    gate_open: bool | None
    ytd_earned: Decimal
    paid_before: Decimal
    due: Decimal
    amount: Decimal
    carried_overpayment: Decimal
    currency: str
    steps: Steps


def _factor(cfg: PlanYearConfig, attainment: Decimal, gate_attainment: Decimal) -> tuple[Decimal, bool | None, list[Text]]:
    raw, _how = interpolate(cfg.curve, attainment)
    steps = [tr("attainment %(attainment)s on the curve %(curve)s → factor %(factor)s", attainment=_pct(attainment),
                curve=", ".join(f"{fmt_num(x)}→{fmt_num(y)}" for x, y in cfg.curve), factor=_n(raw))]
    gate = cfg.accelerator
    if gate is None:
        return raw, None, steps
    if gate_attainment >= gate.min_ytd_attainment:
        steps.append(tr("accelerator gate open: YTD attainment %(ytd)s ≥ %(minimum)s", ytd=_pct(gate_attainment),
                        minimum=_pct(gate.min_ytd_attainment)))
        return raw, True, steps
    cap, _ = interpolate(cfg.curve, gate.above)
    if raw > cap:
        steps.append(tr("accelerator gate closed: YTD attainment %(ytd)s is below %(minimum)s, so the curve above "
                        "%(above)s does not pay: factor capped at %(cap)s", ytd=_pct(gate_attainment),
                        minimum=_pct(gate.min_ytd_attainment), above=_pct(gate.above), cap=_n(cap)))
        return cap, False, steps
    steps.append(tr("accelerator gate closed (YTD attainment %(ytd)s is below %(minimum)s), but the factor is not "
                    "above the curve at %(above)s", ytd=_pct(gate_attainment), minimum=_pct(gate.min_ytd_attainment),
                    above=_pct(gate.above)))
    return raw, False, steps


@exact
def plan_year_period(cfg: PlanYearConfig, annual_target: Decimal, annual_quota: Decimal,
                     actuals: Sequence[Decimal], paid_before: Decimal, currency: str, rounding: RoundingMode,
                     gate_ytd_attainment: Decimal | None = None) -> PeriodResult:
    """The payment of period ``len(actuals)`` (1-based) given every period's actual so far and what is paid.

    ``paid_before`` is the sum of what earlier periods of the plan year locked (their lines, adjustments
    included); ``gate_ytd_attainment`` is the gate measure's YTD attainment when the gate names another KPI.
    """
    k = len(actuals)
    if not 1 <= k <= cfg.periods:
        raise DomainError(tr("period %(period)s is outside the plan year of %(periods)s periods", period=k,
                             periods=cfg.periods), "actuals")
    if annual_quota <= 0:
        raise DomainError(tr("the annual quota must be positive, got %(quota)s", quota=fmt_num(annual_quota)),
                          "annual_quota")
    if annual_target < 0:
        raise DomainError(tr("target %(value)s must not be negative", value=fmt_num(annual_target)), "annual_target")
    share_ytd = cfg.share_to(k)
    share_k = cfg.share(k - 1)
    ytd_actual = sum(actuals, Decimal(0))
    ytd_quota = annual_quota * share_ytd
    if ytd_quota <= 0:
        raise DomainError(tr("the plan year's shares up to period %(period)s are 0; nothing to measure against",
                             period=k), "shares")
    ytd_att = ytd_actual / ytd_quota
    gate_att = ytd_att if gate_ytd_attainment is None else gate_ytd_attainment
    steps: list[Text] = [tr("period %(period)s of %(periods)s: YTD share %(share)s of the annual quota %(quota)s = "
                            "%(ytd_quota)s; YTD actual %(actual)s → YTD attainment %(attainment)s", period=k,
                            periods=cfg.periods, share=percent(share_ytd, 4), quota=_n(annual_quota),
                            ytd_quota=_n(ytd_quota), actual=_n(ytd_actual), attainment=_pct(ytd_att))]
    if cfg.basis == "period":
        period_quota = annual_quota * share_k
        if period_quota <= 0:
            raise DomainError(tr("period %(period)s has a share of 0; nothing to measure against", period=k), "shares")
        attainment = actuals[-1] / period_quota
        steps.append(tr("period basis: period actual %(actual)s / period quota %(quota)s = attainment %(attainment)s",
                        actual=_n(actuals[-1]), quota=_n(period_quota), attainment=_pct(attainment)))
        factor, gate_open, more = _factor(cfg, attainment, gate_att)
        steps.extend(more)
        raw = annual_target * share_k * factor
        amount = round_money(raw, currency, rounding)
        steps.append(tr("annual target %(target)s × period share %(share)s × factor %(factor)s = %(raw)s → %(amount)s",
                        target=money(annual_target, currency), share=percent(share_k, 4), factor=_n(factor),
                        raw=_n(raw), amount=money(amount, currency)))
        return PeriodResult(period=k, ytd_actual=ytd_actual, ytd_quota=ytd_quota, ytd_attainment=ytd_att,
                            attainment=attainment, factor=factor, gate_open=gate_open, ytd_earned=paid_before + amount,
                            paid_before=paid_before, due=amount, amount=amount, carried_overpayment=Decimal(0),
                            currency=currency, steps=tuple(steps))
    factor, gate_open, more = _factor(cfg, ytd_att, gate_att)
    steps.extend(more)
    raw = annual_target * share_ytd * factor
    ytd_earned = round_money(raw, currency, rounding)
    steps.append(tr("YTD earned: annual target %(target)s × YTD share %(share)s × factor %(factor)s = %(raw)s → "
                    "%(amount)s", target=money(annual_target, currency), share=percent(share_ytd, 4),
                    factor=_n(factor), raw=_n(raw), amount=money(ytd_earned, currency)))
    due = ytd_earned - paid_before
    steps.append(tr("true-up: YTD earned %(earned)s − YTD already paid %(paid)s = %(due)s",
                    earned=money(ytd_earned, currency), paid=money(paid_before, currency), due=money(due, currency)))
    amount, carried = due, Decimal(0)
    if due < 0 and cfg.negative_true_up == "never":
        amount, carried = round_money(Decimal(0), currency, rounding), -due
        steps.append(tr("the plan never pays a negative true-up: this period pays 0 and the overpayment of "
                        "%(over)s is carried until YTD earned is above it again", over=money(carried, currency)))
    return PeriodResult(period=k, ytd_actual=ytd_actual, ytd_quota=ytd_quota, ytd_attainment=ytd_att,
                        attainment=ytd_att, factor=factor, gate_open=gate_open, ytd_earned=ytd_earned,
                        paid_before=paid_before, due=due, amount=amount, carried_overpayment=carried,
                        currency=currency, steps=tuple(steps))


@exact
def plan_year_schedule(cfg: PlanYearConfig, annual_target: Decimal, annual_quota: Decimal,
                       actuals: Sequence[Decimal], currency: str, rounding: RoundingMode) -> list[PeriodResult]:
    """Every period of the plan year so far, each paying on what the earlier ones paid (a what-if, or a check)."""
    out: list[PeriodResult] = []
    paid = Decimal(0)
    for k in range(1, len(actuals) + 1):
        result = plan_year_period(cfg, annual_target, annual_quota, actuals[:k], paid, currency, rounding)
        paid += result.amount
        out.append(result)
    return out
