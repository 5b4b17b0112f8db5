"""KPI benchmark: every KAM's KPI figures for a quarter from 1,000,000 CRM deal rows, against a plain SQL aggregate.

    python bench/kpi_bench.py [--deals 1000000] [--kams 1000] [--accounts 20000] [--rounds 5]

Claim under test (issue 12): "KPIs for 1,000,000 deal rows <= 2x a plain SQL aggregate over the same table, same
run". One migrated database (embedded PostgreSQL unless KAMREVIEW_DATABASE_URL is set) is seeded, untimed, with
COPY: the KAMs, their accounts, N deal rows (80 % deals, 20 % orders, 60 % won, closing dates spread evenly over
2024-01-01..2026-12-31, 2 % in USD), N/30 cases (a third complaints), and a sales and a new-account target per KAM
for 2026-Q3; then VACUUM ANALYZE.

Measured alternately, `--rounds` times each, in one process and one connection:
(f) the floor: `SELECT kam_id, sum(amount), count(*) FROM crm_deal WHERE won GROUP BY kam_id`, fetched:
    the plainest aggregate over the same table;
(e) the engine: ``services.kpis.figures_for`` for 2026-Q3: the statement `kpi compute` runs (sums, counts,
    first-won accounts, customer windows, complaint rate, and every figure's records as JSON) and the domain's
    figures from it, fetched into Python;
and once each, after the alternation: (p) a period-only aggregate (won deals of the quarter, grouped by KAM) for
reference, and (w) the whole `kpi compute` with its writes (first run: every figure new; second run: nothing
changes).

Result: median engine / median floor (target <= 2), with every timing in the SUMMARY and JSON lines.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

import psycopg

from bench.common import emit_json, finish, machine, now_iso, start_postgres
from domain.kpis import parse_period
from services.kpis import compute_kpis, figures_for

FLOOR_SQL = "SELECT kam_id, sum(amount), count(*) FROM crm_deal WHERE won GROUP BY kam_id"
PERIOD_SQL = """SELECT kam_id, sum(amount), count(*) FROM crm_deal
                WHERE won AND kind = 'deal' AND closed_on BETWEEN %s AND %s GROUP BY kam_id"""
FIRST_DAY, DAYS = date(2024, 1, 1), (date(2026, 12, 31) - date(2024, 1, 1)).days + 1


def seed(url: str, deals: int, kams: int, accounts: int) -> None:
    rng = random.Random(12)
    kam_ids = [f"K{n:05d}" for n in range(kams)]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES ('M0', 'Manager', 'manager', 'CNY', 'Asia/Shanghai')")
        with cur.copy("COPY employee (id, name, role, manager_id, currency, timezone) FROM STDIN") as copy:
            for k in kam_ids:
                copy.write_row((k, f"KAM {k}", "kam", "M0", "CNY", "Asia/Shanghai"))
        owner = {f"A{n:06d}": kam_ids[n % kams] for n in range(accounts)}
        with cur.copy("COPY key_account (id, name, kam_id, annual_revenue, currency) FROM STDIN") as copy:
            for a, k in owner.items():
                copy.write_row((a, f"Account {a}", k, 0, "CNY"))
        account_ids = list(owner)
        with cur.copy("COPY crm_deal (id, kind, account_id, kam_id, won, amount, currency, closed_on, source) "
                      "FROM STDIN") as copy:
            for n in range(deals):
                a = account_ids[rng.randrange(accounts)]
                copy.write_row((f"zcrm_{n:012d}", "order" if rng.random() < 0.2 else "deal", a, owner[a],
                                rng.random() < 0.6, Decimal(rng.randrange(100_00, 2_000_000_00)) / 100,
                                "USD" if rng.random() < 0.02 else "CNY", FIRST_DAY + timedelta(rng.randrange(DAYS)),
                                "zoho"))
        with cur.copy("COPY crm_case (id, account_id, kam_id, complaint, opened_on, source) FROM STDIN") as copy:
            for n in range(deals // 30):
                a = account_ids[rng.randrange(accounts)]
                copy.write_row((f"case_{n:09d}", a, owner[a], rng.random() < 0.33,
                                FIRST_DAY + timedelta(rng.randrange(DAYS)), "zoho"))
        with cur.copy("COPY kpi_target (employee_id, period, kpi_id, target, currency, source) FROM STDIN") as copy:
            for k in kam_ids:
                copy.write_row((k, "2026-Q3", "sales_attainment", 20_000_000, "CNY", "bench"))
                copy.write_row((k, "2026-Q3", "new_customer_acquisition", 2, None, "bench"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--kams", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = now_iso()
    pg = start_postgres("kamreview_kpi_bench")
    try:
        t0 = time.perf_counter()
        seed(pg.url, args.deals, args.kams, args.accounts)
        print(f"seeded {args.deals:,} deals, {args.kams:,} KAMs, {args.accounts:,} accounts in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        period = parse_period("2026-Q3")
        floors, engines = [], []
        async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as conn:
            async def floor() -> list:
                return await (await conn.execute(FLOOR_SQL)).fetchall()

            await floor()  # warm the cache, untimed
            await figures_for(conn, period)
            for i in range(args.rounds):
                t = time.perf_counter()
                rows = await floor()
                floors.append(time.perf_counter() - t)
                t = time.perf_counter()
                figures = await figures_for(conn, period)
                engines.append(time.perf_counter() - t)
                print(f"round {i + 1}: floor {floors[-1]:.3f} s ({len(rows)} groups), engine {engines[-1]:.3f} s "
                      f"({len(figures)} figures)", flush=True)
            t = time.perf_counter()
            await (await conn.execute(PERIOD_SQL, (period.start, period.end))).fetchall()
            period_only = time.perf_counter() - t
        t = time.perf_counter()
        first = await compute_kpis(pg.url, "2026-Q3", "bench")
        write_first = time.perf_counter() - t
        t = time.perf_counter()
        second = await compute_kpis(pg.url, "2026-Q3", "bench")
        write_again = time.perf_counter() - t
        floor_s, engine_s = statistics.median(floors), statistics.median(engines)
        ratio = engine_s / floor_s
        per_round = sorted(e / f for e, f in zip(engines, floors, strict=True))  # each pair measured back to back
        verdict = "PASS" if ratio <= 2 else "FAIL"
        print(f"period-only aggregate {period_only:.3f} s; kpi compute with writes: first {write_first:.3f} s "
              f"({len(first.changes)} figures written), again {write_again:.3f} s ({len(second.changes)} changed)")
        print(f"SUMMARY deals={args.deals} kams={args.kams} floor_median={floor_s:.3f}s engine_median={engine_s:.3f}s "
              f"ratio={ratio:.2f} (target <= 2) {verdict}; per round {min(per_round):.2f}..{max(per_round):.2f}, "
              f"median {statistics.median(per_round):.2f}", flush=True)
        emit_json({"bench": "kpi", "started": started, "machine": machine(), "args": vars(args),
                   "floor_s": floors, "engine_s": engines, "ratio": round(ratio, 3), "per_round_ratios": [round(r, 3) for r in per_round],
                   "period_only_s": period_only,
                   "compute_write_first_s": write_first, "compute_write_again_s": write_again,
                   "figures_written": len(first.changes), "verdict": verdict})
        return 0 if verdict == "PASS" else 1
    finally:
        pg.stop()


if __name__ == "__main__":
    finish(asyncio.run(main()))
