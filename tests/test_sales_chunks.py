"""A sales cycle's deals are validated and split where each chunk of people is settled (a worker process), and that
changes nothing: the same lines as crediting every deal first in one process, the same refusal, the same rows."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from temporalio.exceptions import ApplicationError

from activities import payout_rows, sales
from domain.deals import Deal, credit_deal, kam_credit, kam_deal
from domain.incentives import IncentiveInput, IncentivePlan
from domain.sales_cycle import LockedLine, PersonPeriod, person_year
from i18n.format import Formatter
from tests.test_sales_cycle import PLAN

START, END = date(2026, 7, 1), date(2026, 9, 30)


def _world(n: int = 7) -> tuple[list[IncentiveInput], list[PersonPeriod], list[tuple]]:
    """n people with a YTD and a paid deal, 3 deals each as _DEALS gives them (text), one split with the next person
    (so with the next chunk when that person is there), ordered by closing day then id."""
    inputs, people, rows = [], [], []
    for i in range(n):
        me = f"E{i}"
        person = IncentiveInput(employee_id=me, currency="CNY")
        inputs.append(person)
        locked = [LockedLine("commission", Decimal(100 + i), {"deal_id": f"P{i}", "credited": str(30_000 * i),
                                                             "closed_on": "2026-03-01"})]
        people.append(PersonPeriod(person=person, year=person_year(me, "CNY", locked, index=1)))
        for j in range(3):
            split = [[me, "60"], [f"E{(i + 1) % n}", "40"]] if j == 0 and i % 2 == 0 else None
            rows.append((f"D{i}-{j}", f"2026-{7 + j:02d}-{10 + i:02d}", f"{12_345 * (i + 1) + j}.5{j}", "CNY", me, split))
    rows.sort(key=lambda r: (r[1], r[0]))
    return inputs, people, rows


def _credited_first(people: list[PersonPeriod], rows: list[tuple]) -> list[PersonPeriod]:
    """What sales_inputs did before the chunks split the deals: every deal validated and split in one pass."""
    credits: dict[str, list] = {}
    for deal_id, closed, amount, currency, kam, split in rows:
        shares = [{"employee_id": e, "percent": p} for e, p in split] if split else [{"employee_id": kam, "percent": 100}]
        deal = Deal.model_validate({"id": deal_id, "closed_on": closed, "amount": Decimal(amount), "currency": currency,
                                    "credits": shares})
        for c in credit_deal(deal):
            credits.setdefault(c.employee_id, []).append(c)
    return [PersonPeriod(person=p.person, year=p.year, credits=tuple(credits.get(p.person.employee_id, ())))
            for p in people]


@pytest.mark.parametrize("parallel", [False, True], ids=["thread", "processes"])
async def test_chunks_credit_their_own_deals_to_the_lines_of_one_pass(monkeypatch, parallel):
    plan = IncentivePlan.model_validate(PLAN)
    inputs, people, rows = _world()
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1 if parallel else 10_000)
    monkeypatch.setattr(sales, "CHUNK", 3)
    routed = sales.route_deals(rows, [i.employee_id for i in inputs], 3)
    assert sorted(routed) == [0, 3, 6]
    assert [r[0] for r in routed[3] if r[5]] == ["D2-0", "D4-0"]  # E2's split with E3 in both chunks, E4's in one
    assert sum(len(v) for v in routed.values()) == len(rows) + 2  # E2-E3 and E6-E0 cross a chunk boundary
    expected = sales.sales_lines(plan, "y", START, END, "Q3", inputs, _credited_first(people, rows))
    assert sales.sales_lines(plan, "y", START, END, "Q3", inputs, sales.credit_people(people, rows)) == expected
    seen: list[str] = []
    lines = await sales.compute_sales_lines(plan, "y", START, END, "Q3", inputs, people, seen.append, rows)
    assert lines == expected and len(seen) == 3
    assert sum(1 for ln in lines if ln.line_type == "commission") == len(rows) + 4  # every split deal twice


async def test_a_bad_deal_is_refused_first_whichever_chunk_meets_it(monkeypatch):
    """The refusal is the first invalid deal in the deals' order, before any other problem, as when sales_inputs
    validated every deal before settling anyone."""
    plan = IncentivePlan.model_validate(PLAN)
    inputs, people, rows = _world()
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1)
    monkeypatch.setattr(sales, "CHUNK", 3)
    partner = {"D6-1": "E4", "D0-2": "E1"}  # shares of 90 %: D6-1 for chunks 3 and 6, then D0-2 for chunk 0
    bad = [(*r[:5], [[r[4], "60"], [partner[r[0]], "30"]]) if r[0] in partner else r for r in rows]
    assert [r[0] for r in bad if r[0] in partner] == ["D6-1", "D0-2"]  # D6-1 closed first
    usd = IncentiveInput(employee_id="E0", currency="USD")  # E0's chunk (the first) also refuses a currency
    with pytest.raises(ApplicationError) as refused:
        await sales.compute_sales_lines(plan, "y", START, END, "Q3", [usd, *inputs[1:]],
                                        [PersonPeriod(person=usd), *people[1:]], lambda _: None, bad)
    assert "D6-1" in str(refused.value) and "D0-2" not in str(refused.value)  # chunk 0 met D0-2 first
    assert "D6-1" in Formatter(locale="en").text(sales.deal_refusal(bad))


def test_a_kams_deal_is_what_validation_makes_or_left_to_it():
    day = date(2026, 7, 1)
    for args in [("D1", day, Decimal("12345.67"), "CNY", "K01"), ("D.2_x-3", day, Decimal(0), "JPY", "K01"),
                 ("D3", day, Decimal("9.123456"), "BHD", "k-2")]:
        deal = Deal.model_validate({"id": args[0], "closed_on": day, "amount": args[2], "currency": args[3],
                                    "credits": [{"employee_id": args[4], "percent": 100}]})
        fast = kam_deal(*args)
        assert fast == deal and fast.model_fields_set == deal.model_fields_set
        assert fast.model_dump() == deal.model_dump() and credit_deal(fast) == credit_deal(deal)
        one = kam_credit(*args)  # the same credit without building the deal
        assert [one] == credit_deal(deal) and one.model_fields_set == credit_deal(deal)[0].model_fields_set
        assert str(one.step) == str(credit_deal(deal)[0].step) and one.model_dump() == credit_deal(deal)[0].model_dump()
    for args in [(" D1", day, Decimal(1), "CNY", "K01"), ("D1", day, Decimal(-1), "CNY", "K01"),
                 ("D1", day, Decimal("1.1234567"), "CNY", "K01"), ("D1", day, Decimal("NaN"), "CNY", "K01"),
                 ("D1", day, Decimal("1e30"), "CNY", "K01"), ("D1", day, Decimal(1), "cny", "K01"),
                 ("D1", day, Decimal(1), "CNY", "K 01"), ("D1", day, Decimal(1), "CNY", None)]:
        assert kam_deal(*args) is None and kam_credit(*args) is None, args  # left to validation, which says why
        with pytest.raises(ValueError):
            Deal.model_validate({"id": args[0], "closed_on": args[1], "amount": args[2], "currency": args[3],
                                 "credits": [{"employee_id": args[4], "percent": 100}]})
    # what validation converts (a float, an ISO day as text) is left to it too
    assert kam_deal("D1", day, 1.5, "CNY", "K01") is None
    assert kam_deal("D1", "2026-07-01", Decimal(1), "CNY", "K01") is None


async def test_the_chunked_copy_writes_the_rows_of_one_pass_and_a_retry_finds_nothing_new(db_url, monkeypatch):
    plan = IncentivePlan.model_validate(PLAN)
    inputs, people, rows = _world()
    with psycopg.connect(db_url) as conn:
        for cid in ("SC1", "SC2"):
            conn.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end,
                            timezone, config, config_sha256, participant_count, status) VALUES (%s, 'x', 'quarterly',
                            '2026-Q3', '2026-07-01', '2026-09-30', 'UTC', '{}', 'x', 7, 'incentives')""", (cid,))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO employee (id, name, role, currency, timezone) VALUES (%s, 'x', 'kam', 'CNY', "
                            "'UTC') ON CONFLICT DO NOTHING", [(i.employee_id,) for i in inputs])

    async def copy(cycle_id: str, chunk: int, parallel: bool) -> int:
        monkeypatch.setattr(sales, "CHUNK", chunk)
        monkeypatch.setattr(payout_rows, "CHUNK", chunk)
        monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1 if parallel else 10_000)
        async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.cursor() as cur:
            written, error = await sales.copy_first_sales_lines(cur, plan, "y", START, END, "2026-Q3", cycle_id,
                                                                inputs, people, lambda _: None, rows)
            await conn.commit()
        assert error is None
        return written

    expected = sales.sales_lines(plan, "y", START, END, "SC2", inputs, _credited_first(people, rows))
    assert await copy("SC1", 3, True) == await copy("SC2", 100, False) == len(expected)

    def written(cycle_id: str) -> dict:
        with psycopg.connect(db_url) as conn:
            got = conn.execute("""SELECT replace(idempotency_key, %s, ''), employee_id, line_type, amount, explanation,
                                         inputs FROM payout_line WHERE cycle_id = %s""", (cycle_id, cycle_id)).fetchall()
        return {r[0]: r[1:] for r in got}

    assert written("SC1") == written("SC2")
    # What compute_incentives computes on a retry (the cycle has lines): the same lines, so no delta line.
    monkeypatch.setattr(sales, "CHUNK", 3)
    again = await sales.compute_sales_lines(plan, "y", START, END, "SC1", inputs, people, lambda _: None, rows)
    assert {ln.idempotency_key.replace("SC1", ""): (ln.employee_id, ln.line_type, ln.amount, ln.explanation,
                                                    json.loads(json.dumps(ln.inputs)))
            for ln in again} == written("SC1")


@pytest.mark.parametrize("draw_periods", [1, 4])
def test_a_chunks_rows_are_the_copy_rows_of_its_payout_lines(draw_periods):
    """The first-lines COPY writes each settlement line's row straight from it (a deal line without its PayoutLine):
    byte for byte what encode_copy_rows writes for sales_lines' lines, clawbacks and draws included."""
    plan = IncentivePlan.model_validate({**PLAN, "draw": {**PLAN["draw"], "periods": draw_periods}})
    inputs, people, rows = _world(9)
    rows = [(f'D.x_{r[0]}' if i % 5 == 0 else r[0], *r[1:]) for i, r in enumerate(rows)]  # ids are letters, digits, . _ -
    for p in people[:3]:  # pending clawbacks of their paid deal
        object.__setattr__(p, "events", (sales.DealEvent(deal_id=p.year.paid_deals[0].deal_id, kind="churned",
                                                         on=date(2026, 4, 10), refunded_pct=Decimal(100)),))
    lines = sales.sales_lines(plan, "y", START, END, "Q3", inputs, sales.credit_people(people, rows))
    kinds = {ln.line_type for ln in lines}
    assert {"commission", "adjustment"} | ({"draw"} if draw_periods > 1 else set()) <= kinds, kinds
    data, count, error = sales._sales_chunk_rows(plan.model_dump_json(), "y", START, END, "Q3", "2026-Q3", inputs,
                                                 people, rows)
    assert error is None and count == len(lines)
    assert data == payout_rows.encode_copy_rows(lines, "Q3", "2026-Q3", 0)


def test_people_travel_packed_as_they_are_but_paid_deals_only_with_events():
    """pack_people / unpack_people: the same people in the worker; a person without pending events without their
    paid deals and applied events (settle_person reads them only for events), and the same lines either way."""
    plan = IncentivePlan.model_validate(PLAN)
    inputs, people, rows = _world(6)
    clawed = person_year("E1", "CNY", [LockedLine("commission", Decimal(50), {"deal_id": "P9", "credited": "10.5",
                                                                            "closed_on": "2026-03-02"}),
                                       LockedLine("adjustment", Decimal(-5), {"deal_id": "P9", "event": "churned",
                                                                              "event_on": "2026-04-01"})], index=2,
                         balance=Decimal("12.30"), actuals_before=(Decimal("1.50"), Decimal(7)))
    people[1] = PersonPeriod(person=inputs[1], year=clawed, period_actual=Decimal("3.25"), annual_quota=Decimal(10),
                             events=(sales.DealEvent(deal_id="P9", kind="reinstated", on=date(2026, 8, 1)),))
    object.__setattr__(people[2], "events", (sales.DealEvent(deal_id="P2", kind="churned", on=date(2026, 4, 10),
                                                             refunded_pct=Decimal("12.5")),))
    assert sales._sendable(inputs, people)
    back = sales.unpack_people(*sales.pack_people(people))
    assert [p.person for p in back] == inputs
    for p, q in zip(people, back, strict=True):
        if p.events:
            assert q == p
        else:
            assert q.year.paid_deals == () and q.year.applied_events == frozenset()
            assert q == PersonPeriod(person=p.person, year=sales.replace(p.year, paid_deals=(), applied_events=frozenset()),
                                     events=p.events, period_actual=p.period_actual, annual_quota=p.annual_quota)
    assert (sales.sales_lines(plan, "y", START, END, "Q3", inputs, sales.credit_people(back, rows))
            == sales.sales_lines(plan, "y", START, END, "Q3", inputs, sales.credit_people(people, rows)))


def _seed_deals(url: str, inputs: list[IncentiveInput], rows: list[tuple]) -> None:
    """The rows as crm_deal / crm_deal_credit hold them, and what _DEALS leaves out or routes oddly: a lost deal
    (without an event: left out; with one: read), a deal of the period before, a deal of a KAM who is no
    participant (left out; split with a participant: that participant's chunk), a split crediting no participant
    (its KAM's chunk), an order."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO employee (id, name, role, currency, timezone) VALUES (%s, 'x', 'kam', 'CNY', "
                        "'UTC') ON CONFLICT DO NOTHING", [(e,) for e in [i.employee_id for i in inputs] + ["X1", "X2"]])
        deals = [(deal_id, "deal", kam, True, amount, currency, closed) for deal_id, closed, amount, currency, kam, _ in rows]
        deals += [("L1", "deal", "E1", False, "10.00", "CNY", "2026-08-01"), ("L2", "deal", "E2", False, "20.00", "CNY",
                  "2026-08-01"), ("B1", "deal", "E1", True, "30.00", "CNY", "2026-06-30"),
                  ("X-1", "deal", "X1", True, "40.00", "CNY", "2026-08-02"), ("X-2", "deal", "X1", True, "50.00", "CNY",
                  "2026-07-03"), ("N-1", "deal", "E3", True, "60.00", "CNY", "2026-08-03"),
                  ("O1", "order", "E1", True, "70.00", "CNY", "2026-08-04")]
        cur.executemany("INSERT INTO crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'test')", deals)
        credits = [(r[0], e, p) for r in rows if r[5] for e, p in r[5]]
        credits += [("X-2", "X1", 50), ("X-2", "E5", 50), ("N-1", "X1", 70), ("N-1", "X2", 30)]
        cur.executemany("INSERT INTO crm_deal_credit (deal_id, employee_id, percent) VALUES (%s, %s, %s)", credits)
        cur.execute("""INSERT INTO crm_deal_event (deal_id, kind, "on", source) VALUES ('L2', 'cancelled', '2026-09-01',
                       'test')""")


@pytest.mark.parametrize("size", [1, 2, 3, 100])
async def test_the_deals_read_by_chunk_are_the_rows_route_deals_gives_each_chunk(db_admin_url, size):
    """_DEALS_BY_CHUNK, read chunk by chunk through one cursor, gives each chunk the rows route_deals gives it from
    _DEALS, in the same order (a split deal to both people's chunks, and to one when both are in it)."""
    inputs, _, rows = _world()
    _seed_deals(db_admin_url, inputs, rows)
    ids = [i.employee_id for i in inputs]
    params = {"start": START, "end": END, "people": ids, "size": size}
    async with await psycopg.AsyncConnection.connect(db_admin_url) as conn:
        async with conn.cursor() as cur:
            await cur.execute(sales._DEALS, params)
            everything = await cur.fetchall()
        expected = sales.route_deals(everything, ids, size)
        assert {r[0] for r in everything} >= {"L2", "X-2", "N-1"} and not {r[0] for r in everything} & {"L1", "B1", "X-1", "O1"}
        async with conn.transaction(), conn.cursor(name="by_chunk") as cur:
            await cur.execute(sales._DEALS_BY_CHUNK, params)
            reader = sales._ChunkDeals(cur)
            reader.BATCH = 4  # chunks across batches
            got = {at: mine for at in range(0, len(ids), size) if (mine := await reader.rows(at // size))}
            assert await reader.rows(len(ids)) == []
    assert got == expected


async def test_the_copy_reading_the_deals_by_chunk_writes_the_rows_of_the_deals_read_at_once(db_admin_url, monkeypatch):
    """copy_first_sales_lines given PeriodDeals (compute_incentives' first lines) writes what it writes given the
    period's rows read at once: the same lines, in chunks in threads and in processes; and the refusal of an invalid
    deal is the first one in _DEALS order, as then."""
    plan = IncentivePlan.model_validate(PLAN)
    inputs, people, rows = _world()
    _seed_deals(db_admin_url, inputs, rows)
    with psycopg.connect(db_admin_url) as conn:
        for cid in ("SC1", "SC2", "SC3"):
            conn.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end,
                            timezone, config, config_sha256, participant_count, status) VALUES (%s, 'x', 'quarterly',
                            '2026-Q3', '2026-07-01', '2026-09-30', 'UTC', '{}', 'x', 7, 'incentives')""", (cid,))
    ids = [i.employee_id for i in inputs]

    async def copy(cycle_id: str, chunk: int, parallel: bool, later: bool) -> tuple[int, object]:
        monkeypatch.setattr(sales, "CHUNK", chunk)
        monkeypatch.setattr(payout_rows, "CHUNK", chunk)
        monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1 if parallel else 10_000)
        async with await psycopg.AsyncConnection.connect(db_admin_url) as conn, conn.cursor() as cur:
            if later:
                deals: object = sales.PeriodDeals(START, END)
            else:
                await cur.execute(sales._DEALS, {"start": START, "end": END, "people": ids})
                deals = await cur.fetchall()
            written, error = await sales.copy_first_sales_lines(cur, plan, "y", START, END, "2026-Q3", cycle_id,
                                                                inputs, people, lambda _: None, deals)
            await conn.commit()
        return written, error

    def written(cycle_id: str) -> dict:
        with psycopg.connect(db_admin_url) as conn:
            got = conn.execute("""SELECT replace(idempotency_key, %s, ''), employee_id, line_type, amount, explanation,
                                         inputs FROM payout_line WHERE cycle_id = %s""", (cycle_id, cycle_id)).fetchall()
        return {r[0]: r[1:] for r in got}

    one = await copy("SC1", 100, False, False)
    assert one[1] is None and one[0] > len(rows)
    assert await copy("SC2", 2, True, True) == one and written("SC2") == written("SC1")
    assert await copy("SC3", 3, False, True) == one and written("SC3") == written("SC1")
    # an invalid deal (split shares summing to 110 %) in a later chunk: refused as when every deal was read at once
    with psycopg.connect(db_admin_url) as conn:
        conn.execute("UPDATE crm_deal_credit SET percent = 70 WHERE deal_id = 'X-2' AND employee_id = 'X1'")
        conn.execute("DELETE FROM payout_line WHERE cycle_id IN ('SC1', 'SC2')")
    at_once, by_chunk = await copy("SC1", 100, False, False), await copy("SC2", 2, True, True)
    assert at_once[0] == by_chunk[0] == 0 and at_once[1] is not None and str(by_chunk[1]) == str(at_once[1])
    assert "X-2" in str(at_once[1]) and written("SC2") == {}
