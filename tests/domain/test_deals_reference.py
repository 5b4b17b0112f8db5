"""Deal lines, ledger entries and settlements keep their figures and build their explanation steps when they are
read (English said straight from the figures): none of that may change a single byte of what a person reads.

Every case compares the domain with the implementation as first written (``_deals_reference``): each result's
fields (Decimals by their exact text), each step's id and parameters, each step in English (``str``) and in both
languages through the formatter, each line's explanation (``explain``), the JSON form (``model_dump``), and the
errors. Inputs: hypothesis (rate and amount tables in every mode, split credits, draws, clawbacks), the examples'
preview (examples/plan-deals.yaml with examples/deals.csv, through services/preview.py), and the bench's generator.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from domain.clawbacks import ClawbackConfig, DealEvent, PaidDeal
from domain.deals import Deal, DealCommissionConfig, credit_deal, deal_commission
from domain.draws import DrawConfig, draw_ledger, draw_period
from domain.errors import DomainError
from domain.sentences import Money, Percent
from domain.settlement import settle_period
from domain.text import LazySteps, Text, explain
from i18n.format import Formatter
from tests.domain import _deals_reference as ref

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
FORMATTERS = (Formatter(locale="en"), Formatter(locale="zh-CN"))


def canon(v: Any) -> Any:
    """A value as data that tells apart whatever a reader could tell apart (a Decimal by its text)."""
    if isinstance(v, BaseModel):
        return (type(v).__name__, {k: canon(getattr(v, k)) for k in type(v).model_fields})
    if isinstance(v, Text):
        return ("T", v.id, {k: canon(p) for k, p in v.params.items()}, str(v),
                *(f.text(v) for f in FORMATTERS))
    if isinstance(v, Money):
        return ("M", str(v.amount), v.currency)
    if isinstance(v, Percent):
        return ("P", str(v.ratio), v.places)
    if isinstance(v, Decimal):
        return ("D", str(v))
    if isinstance(v, dict):
        return ("dict", {k: canon(x) for k, x in v.items()})
    if isinstance(v, Sequence) and not isinstance(v, str):
        return ("seq", [canon(x) for x in v])
    return (type(v).__name__, repr(v))


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except DomainError as err:
        return ("error", str(err), err.path, err.text.id if err.text else None)


def steps_of(result: Any) -> list[Sequence[Text]]:
    """Every steps field in a result (lines, ledger, settlement), to compare their explanations."""
    found = []
    if isinstance(result, BaseModel):
        for k in type(result).model_fields:
            value = getattr(result, k)
            if k == "steps":
                found.append(value)
            elif isinstance(value, BaseModel):
                found.extend(steps_of(value))
            elif isinstance(value, tuple):
                for item in value:
                    found.extend(steps_of(item))
    return found


def same(new: Any, old: Any) -> None:
    """``new`` (the domain) says exactly what ``old`` (the reference) says, read in every way a caller reads it."""
    got, want = outcome(new), outcome(old)
    if want[0] == "error" or got[0] == "error":
        assert got == want
        return
    n, o = got[1], want[1]
    n_steps = [explain(s) for r in (n if isinstance(n, list) else [n]) for s in steps_of(r)]
    o_steps = ["; ".join(str(t) for t in s) for r in (o if isinstance(o, list) else [o]) for s in steps_of(r)]
    assert n_steps == o_steps
    assert canon(n) == canon(o)
    for a, b in zip(n if isinstance(n, list) else [n], o if isinstance(o, list) else [o], strict=True):
        if isinstance(a, BaseModel):
            assert a.model_dump(mode="json") == b.model_dump(mode="json")
            assert a == b
            assert canon(pickle.loads(pickle.dumps(a))) == canon(b)
            assert canon(copy.deepcopy(a)) == canon(b)
            assert canon(type(a).model_validate_json(a.model_dump_json())) == canon(
                type(b).model_validate_json(b.model_dump_json()))


# ---- generated inputs ----

amounts = st.decimals(min_value=0, max_value=10**7, places=6, allow_nan=False, allow_infinity=False)
cents = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=1, places=6, allow_nan=False, allow_infinity=False)
currencies = st.sampled_from(["CNY", "JPY", "KWD"])
roundings = st.sampled_from(["HALF_UP", "HALF_EVEN"])


@st.composite
def configs(draw: Any) -> DealCommissionConfig:
    starts = sorted(set(draw(st.lists(st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False,
                                                      allow_infinity=False), min_size=1, max_size=4))))
    if draw(st.booleans()):
        starts[0] = D(0)
        starts = sorted(set(starts))
    kind = draw(st.sampled_from(["rate", "rate", "rate", "amount"]))
    if kind == "rate":
        table: dict[str, Any] = {"kind": "rate", "mode": draw(st.sampled_from(["marginal", "retroactive"])),
                                 "boundary": draw(st.sampled_from(["upper", "lower"])),
                                 "tiers": [{"from": s, "rate": draw(rates)} for s in starts]}
    else:
        mode = draw(st.sampled_from(["interpolated", "flat"]))
        pays = sorted(draw(st.lists(cents, min_size=len(starts), max_size=len(starts))))
        table = {"kind": "amount", "mode": mode, "boundary": draw(st.sampled_from(["upper", "lower"])),
                 "tiers": [{"from": s, "amount": a} for s, a in zip(starts, pays, strict=True)],
                 "to": starts[-1] + draw(st.integers(1, 10**6))}
    return DealCommissionConfig.model_validate({
        "application": draw(st.sampled_from(["per_transaction", "cumulative"])), "table": table})


@st.composite
def deal_lists(draw: Any, currency: str) -> list[Deal]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        people = draw(st.sampled_from([["K1"], ["K1"], ["K1", "K2"], ["K2", "K1", "K3"]]))
        if len(people) == 1:
            shares = [D(100)]
        else:
            first = draw(st.decimals(min_value=0, max_value=100, places=draw(st.integers(0, 4)), allow_nan=False,
                                     allow_infinity=False))
            rest = D(100) - first
            second = (rest / 2).quantize(D("0.0001"))
            shares = [first, *([rest] if len(people) == 2 else [second, rest - second])]
        places = {"JPY": 0, "KWD": 3}.get(currency, 2)
        amount = draw(st.decimals(min_value=0, max_value=10**7, places=draw(st.sampled_from([places, 6])),
                                  allow_nan=False, allow_infinity=False))
        out.append(Deal.model_validate({
            "id": f"D{i}", "closed_on": date(2025, 4, 1) + timedelta(days=draw(st.integers(0, 5))),
            "amount": amount, "currency": currency,
            "credits": [{"employee_id": p, "percent": s} for p, s in zip(people, shares, strict=True)]}))
    return out


@st.composite
def draws(draw: Any) -> DrawConfig:
    periods = draw(st.one_of(st.none(), st.integers(1, 4)))
    return DrawConfig.model_validate({
        "kind": draw(st.sampled_from(["recoverable", "non_recoverable"])), "amount": draw(cents),
        "periods": periods, "recovery_pct": draw(st.sampled_from([D(100), D(50), D("33.3333")])),
        "recovery_periods": draw(st.one_of(st.none(), st.integers(0, 3))),
        "at_end": draw(st.sampled_from(["write_off", "carry"]))})


def _validated_deals(deals: list[Deal]) -> bool:
    try:
        for d in deals:
            credit_deal(d)
    except DomainError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), configs(), currencies, roundings, amounts)
def test_deal_commission_matches_the_reference(data: Any, cfg: DealCommissionConfig, currency: str, rounding: str,
                                               ytd: Decimal) -> None:
    deals = data.draw(deal_lists(currency))
    for deal in deals:
        same(lambda deal=deal: credit_deal(deal), lambda deal=deal: ref.ref_credit_deal(deal))
    if not _validated_deals(deals):
        return
    new = [c for d in deals for c in credit_deal(d) if c.employee_id == "K1"]
    old = [c for d in deals for c in ref.ref_credit_deal(d) if c.employee_id == "K1"]
    if not new:
        return
    same(lambda: deal_commission(cfg, new, rounding, ytd), lambda: ref.ref_deal_commission(cfg, old, rounding, ytd))
    # a line read twice, or its steps read before its English: the same either way
    result = deal_commission(cfg, new, rounding, ytd)
    for line in result.lines:
        english = explain(line.steps)
        assert [canon(t) for t in line.steps] == [canon(t) for t in line.steps]
        assert explain(line.steps) == english == "; ".join(str(t) for t in line.steps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), configs(), draws(), currencies, roundings, st.integers(0, 6), cents, cents, cents)
def test_settlement_matches_the_reference(data: Any, cfg: DealCommissionConfig, draw_cfg: DrawConfig, currency: str,
                                          rounding: str, index: int, ytd: Decimal, balance: Decimal,
                                          other: Decimal) -> None:
    deals = data.draw(deal_lists(currency)) if data.draw(st.booleans()) else []
    if not _validated_deals(deals):
        return
    new = [c for d in deals for c in credit_deal(d) if c.employee_id == "K1"]
    old = [c for d in deals for c in ref.ref_credit_deal(d) if c.employee_id == "K1"]
    places = {"JPY": 0, "KWD": 3}.get(currency, 2)
    balance, other = (v.quantize(D(1).scaleb(-places)) for v in (balance, other))
    claw = data.draw(st.one_of(st.none(), st.sampled_from([
        ClawbackConfig(mode="full"), ClawbackConfig(mode="percent", percent=D("12.5")),
        ClawbackConfig.model_validate({"mode": "early_termination",
                                       "windows": [{"within_days": 30, "percent": 100}, {"within_days": 90, "percent": 50}]})])))
    paid: list[PaidDeal] = []
    events: list[DealEvent] = []
    if claw is not None:
        for i in range(data.draw(st.integers(0, 3))):
            closed = date(2025, 1, 1) + timedelta(days=data.draw(st.integers(0, 60)))
            paid.append(PaidDeal(deal_id=f"P{i}", employee_id="K1", closed_on=closed, paid=data.draw(cents),
                                 currency=currency))
            kind = data.draw(st.sampled_from(["cancelled", "refunded", "churned", "reinstated"]))
            events.append(DealEvent(deal_id=f"P{i}", kind=kind, on=closed + timedelta(days=data.draw(st.integers(0, 200))),
                                    refunded_pct=data.draw(st.sampled_from([D(100), D(40)]))))
    use_draw = data.draw(st.booleans())
    kwargs: dict[str, Any] = {
        "employee_id": "K1", "cycle_id": "C-2025-Q2", "index": index, "currency": currency, "rounding": rounding,
        "deal_cfg": cfg, "ytd_credited_before": ytd, "draw": draw_cfg if use_draw else None, "draw_balance": balance,
        "other_earned": other, "clawback": claw, "paid_deals": paid, "events": events}
    same(lambda: settle_period(credits=new, **kwargs), lambda: ref.ref_settle_period(credits=old, **kwargs))
    if use_draw:
        earned = [other, balance, D(0), other]
        same(lambda: draw_ledger(draw_cfg, earned, currency, rounding, opening_balance=balance),
             lambda: ref.ref_draw_ledger(draw_cfg, earned, currency, rounding, opening_balance=balance))


def test_refusals_and_odd_inputs_match_the_reference() -> None:
    cfg = DealCommissionConfig.model_validate({"application": "cumulative", "table": {
        "kind": "rate", "mode": "marginal", "boundary": "upper", "tiers": [{"from": 100, "rate": "0.02"}]}})
    deal = Deal.model_validate({"id": "D1", "closed_on": date(2025, 4, 1), "amount": "50.5", "currency": "CNY",
                                "credits": [{"employee_id": "K1", "percent": 100}]})
    new, old = credit_deal(deal), ref.ref_credit_deal(deal)
    same(lambda: deal_commission(cfg, new, "HALF_UP"), lambda: ref.ref_deal_commission(cfg, old, "HALF_UP"))
    same(lambda: deal_commission(cfg, new, "DOWN"), lambda: ref.ref_deal_commission(cfg, old, "DOWN"))  # type: ignore[arg-type]
    same(lambda: deal_commission(cfg, new, "HALF_UP", D(-1)), lambda: ref.ref_deal_commission(cfg, old, "HALF_UP", D(-1)))
    same(lambda: deal_commission(cfg, [*new, *new], "HALF_UP"), lambda: ref.ref_deal_commission(cfg, [*old, *old], "HALF_UP"))
    same(lambda: deal_commission(cfg, [], "HALF_UP"), lambda: ref.ref_deal_commission(cfg, [], "HALF_UP"))
    odd = [c.model_copy(update={"currency": "cny"}) for c in new], [c.model_copy(update={"currency": "cny"}) for c in old]
    same(lambda: deal_commission(cfg, odd[0], "HALF_UP"), lambda: ref.ref_deal_commission(cfg, odd[1], "HALF_UP"))
    for currency in ("CNY", "cny"):
        same(lambda c=currency: settle_period(employee_id="K1", cycle_id="C", index=0, currency=c, rounding="HALF_UP"),
             lambda c=currency: ref.ref_settle_period(employee_id="K1", cycle_id="C", index=0, currency=c,
                                                      rounding="HALF_UP"))
    draw_cfg = DrawConfig(kind="recoverable", amount=D(2000), periods=2, recovery_periods=1, at_end="write_off")
    for args in ((0, D("10.005"), D(0)), (-1, D(0), D(0)), (2, D(5000), D(-3)), (2, D(5000), D(700))):
        same(lambda a=args: draw_period(draw_cfg, a[0], a[1], a[2], "CNY", "HALF_UP"),
             lambda a=args: ref.ref_draw_period(draw_cfg, a[0], a[1], a[2], "CNY", "HALF_UP"))
    ledgers = (("recoverable", "write_off"), ("recoverable", "carry"), ("non_recoverable", "carry"))
    for (kind, at_end), (periods, recovery) in itertools.product(ledgers, ((None, None), (2, 0), (2, 2), (1, 1))):
        ledger_cfg = DrawConfig(kind=kind, amount=D(2000), periods=periods, recovery_periods=recovery, at_end=at_end,
                                recovery_pct=D("33.3333") if at_end == "carry" else D(100))
        for index, earned, (opening, clawed) in itertools.product(range(4), (D(0), D(2000), D("9000.5")), (
                (D(0), D(0)), (D(700), D(0)), (D("2500.25"), D(300)))):  # every branch of the ledger's steps
            args = (ledger_cfg, index, earned, opening, "CNY", "HALF_UP", clawed)
            same(lambda a=args: draw_period(*a), lambda a=args: ref.ref_draw_period(*a))
    huge = D("12345678901234.123456")  # more digits than the reader's default context shows exactly
    big = deal.model_copy(update={"amount": huge})
    new_line = deal_commission(cfg, credit_deal(big), "HALF_UP", huge).lines[0]
    old_line = ref.ref_deal_commission(cfg, ref.ref_credit_deal(big), "HALF_UP", huge).lines[0]
    with localcontext() as ctx:  # str() of a step normalizes in the reader's context, which may show fewer digits
        ctx.prec = 12
        assert explain(new_line.steps) == "; ".join(str(t) for t in old_line.steps)
        assert [str(t) for t in new_line.steps] == [str(t) for t in old_line.steps]


def test_the_examples_preview_matches_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/plan-deals.yaml with examples/deals.csv through the preview: every period, line and ledger step."""
    import services.preview as preview_mod

    paths = (ROOT / "examples" / "plan-deals.yaml", ROOT / "examples" / "inputs-deals.csv", ROOT / "examples" / "deals.csv")
    new = preview_mod.preview(*paths)
    monkeypatch.setattr(preview_mod, "settle_period", ref.ref_settle_period)
    monkeypatch.setattr(preview_mod, "credit_deal", ref.ref_credit_deal)
    old = preview_mod.preview(*paths)
    assert old.periods and new.periods
    for p_new, p_old in zip(new.periods, old.periods, strict=True):
        assert len(p_new.settlements) == len(p_old.settlements) > 0
        for s_new, s_old in zip(p_new.settlements, p_old.settlements, strict=True):
            same(lambda s=s_new: s, lambda s=s_old: s)
    for locale in ("en", "zh-CN"):
        assert preview_mod.preview_json(new, locale) == preview_mod.preview_json(old, locale)


def test_the_bench_inputs_match_the_reference() -> None:
    """The bench's own generator (bench/deals_bench.py): 300 people × 20 deals, splits, draws and clawbacks."""
    from bench.deals_bench import build
    from services.preview import load_plan_file

    plan = load_plan_file(ROOT / "examples" / "plan-deals.yaml").incentive_plan
    deals, people = build(300, 20)
    credits: dict[str, list[Any]] = {}
    old_credits: dict[str, list[Any]] = {}
    for deal in deals:
        for c in credit_deal(deal):
            credits.setdefault(c.employee_id, []).append(c)
        for c in ref.ref_credit_deal(deal):
            old_credits.setdefault(c.employee_id, []).append(c)
    for p in people:
        kwargs = {"employee_id": p.employee_id, "cycle_id": "DEALS-BENCH", "index": 1, "currency": "CNY",
                  "rounding": plan.rounding, "deal_cfg": plan.deal_commission, "ytd_credited_before": p.ytd_before,
                  "draw": plan.draw, "draw_balance": p.balance, "clawback": plan.clawback if p.events else None,
                  "paid_deals": p.paid, "events": p.events}
        same(lambda p=p, k=kwargs: settle_period(credits=credits.get(p.employee_id, ()), **k),
             lambda p=p, k=kwargs: ref.ref_settle_period(credits=old_credits.get(p.employee_id, ()), **k))


def test_lazy_steps_read_as_their_tuple() -> None:
    deal = Deal.model_validate({"id": "D1", "closed_on": date(2025, 4, 1), "amount": "1500", "currency": "CNY",
                                "credits": [{"employee_id": "K1", "percent": 100}]})
    cfg = DealCommissionConfig.model_validate({"application": "per_transaction", "table": {
        "kind": "rate", "mode": "marginal", "boundary": "upper",
        "tiers": [{"from": 0, "rate": "0.01"}, {"from": 1000, "rate": "0.02"}]}})
    line = deal_commission(cfg, credit_deal(deal), "HALF_UP").lines[0]
    steps = line.steps
    assert isinstance(steps, LazySteps)
    plain = tuple(steps)
    assert steps == plain and plain == steps and len(steps) == len(plain) == 5
    assert steps[0] == plain[0] and steps[-1] == plain[-1] and list(steps[1:3]) == list(plain[1:3])
    assert steps + () == plain and () + steps == plain
    assert pickle.loads(pickle.dumps(steps)) == plain and type(pickle.loads(pickle.dumps(steps))) is tuple
    assert str(steps[0]) == "deal D1 of 1,500.00 CNY: 100 % credited to K1 = 1,500.00 CNY"
    assert explain(steps) == "; ".join(str(s) for s in plain) == (
        "deal D1 of 1,500.00 CNY: 100 % credited to K1 = 1,500.00 CNY; per transaction: the deal is evaluated on "
        "its own, from 0 to 1500; 0–1000: 1000 × 1 % = 10; 1000–1500: 500 × 2 % = 10; deal D1: 20 → 20.00 CNY "
        "(rounded once, HALF_UP)")
    first = credit_deal(deal)[0].step
    assert first == Text(first.id, dict(first.params)) and Text(first.id, dict(first.params)) == first
    assert type(pickle.loads(pickle.dumps(first))) is Text
