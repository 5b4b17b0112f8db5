"""The parallel COPY path writes exactly what the pure calculation computes, byte for byte."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import psycopg
import pytest
import yaml

from activities import payout_rows
from domain.incentives import IncentiveInput, IncentivePlan, compute_payouts
from tests.helpers import ROOT


def _plan() -> IncentivePlan:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    return IncentivePlan.model_validate(data["incentive_plan"])


def _inputs(n: int) -> list[IncentiveInput]:
    return [
        IncentiveInput(employee_id=f"K\\{i}\t{i}", grade="K2", currency="CNY", rating_level=1 + i % 5,
                       attainment={"sales_attainment": Decimal("0.9") + Decimal(i) / 100,
                                   "customer_retention": Decimal("0.93"), "new_customer_acquisition": Decimal(1)},
                       revenue=Decimal(900_000 + i * 1000), employment_start=date(2026, 8, 1) if i % 4 == 0 else None)
        for i in range(n)
    ]


@pytest.mark.parametrize("parallel", [False, True], ids=["thread", "processes"])
async def test_streamed_lines_equal_the_pure_calculation(db_url, monkeypatch, parallel):
    monkeypatch.setattr(payout_rows, "CHUNK", 4)
    monkeypatch.setattr(payout_rows, "PARALLEL_MIN", 1 if parallel else 10_000)
    plan, inputs = _plan(), _inputs(11)
    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                        config, config_sha256, participant_count, status) VALUES ('PR', 'x', 'quarterly', '2026-Q3',
                        '2026-07-01', '2026-09-30',
                        'UTC', '{}', 'x', 11, 'incentives')""")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO employee (id, name, role, currency, timezone) VALUES (%s, 'x', 'kam', 'CNY', 'UTC')",
                            [(i.employee_id,) for i in inputs])
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.cursor() as cur:
        written, error = await payout_rows.copy_first_lines(cur, plan, date(2026, 7, 1), date(2026, 9, 30), "2026-Q3",
                                                            "PR", inputs)
        await conn.commit()
    assert error is None and written == 22
    expected = compute_payouts(plan, date(2026, 7, 1), date(2026, 9, 30), "PR", inputs)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("""SELECT idempotency_key, employee_id, amount, explanation, inputs FROM payout_line
                               ORDER BY idempotency_key""").fetchall()
    got = {r[0]: r for r in rows}
    for line in expected:
        key, employee, amount, explanation, inputs_json = got[line.idempotency_key]
        assert (employee, amount, explanation) == (line.employee_id, line.amount, line.explanation)
        assert inputs_json == json.loads(json.dumps(line.inputs, default=str))


async def test_missing_data_is_reported_not_half_written(db_url):
    plan = _plan()
    bad = _inputs(3)
    bad[2] = bad[2].model_copy(update={"attainment": {}})
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.cursor() as cur:
        written, error = await payout_rows.copy_first_lines(cur, plan, date(2026, 7, 1), date(2026, 9, 30), "Q", "PR", bad)
    assert written == 0 and "has no attainment for measure 'sales_attainment'" in error
