"""Trends at scale: a KAM's trend, a team's and the drift list over 100 released cycles of 10,000 people.

    python bench/trends_bench.py [--cycles 100] [--people 10000] [--team 10] [--runs 5]

Seeds the rows the views read straight into PostgreSQL with INSERT … SELECT over generate_series (the cycles'
workflows are not the subject): N KAMs under N/team managers, and per cycle one review, one calibrated rating,
five KPI actuals and one locked payout line per KAM (a million of each at the defaults). Then times each view
(``services.trends``) ``--runs`` times after one warm-up and prints the median, with each query's plan's top
node so a sequential scan over the whole history shows. Claim under test: each view answers in well under a
second (one query each; the team view through the index of migration 0016).
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import statistics
import time
from datetime import date

import psycopg
import yaml

from bench.common import emit_json, finish, machine, now_iso, start_postgres
from domain.cycle import CycleConfig, add_months, period_end, period_label

ROOT = Path(__file__).resolve().parent.parent


def seed(url: str, cycles: int, people: int, team: int) -> None:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    managers = max(1, people // team)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO employee (id, name, role, currency, timezone)
                       SELECT 'M' || g, 'Manager ' || g, 'manager', 'CNY', 'Asia/Shanghai'
                       FROM generate_series(1, %s) g""", (managers,))
        cur.execute("""INSERT INTO employee (id, name, role, manager_id, grade, currency, timezone)
                       SELECT 'K' || g, 'KAM ' || g, 'kam', 'M' || (1 + g %% %s), 'K2', 'CNY', 'Asia/Shanghai'
                       FROM generate_series(1, %s) g""",
                    (managers, people))
        start = date(2002, 1, 1)
        for i in range(cycles):
            s = add_months(start, 3 * i)
            label = period_label("quarterly", s)
            cid = f"B{label}"
            data.update(id=cid, name=f"KAM review {label}", cadence="quarterly",
                        period={"label": label, "start": s, "end": period_end(s, "quarterly")})
            config = CycleConfig.model_validate(data).model_dump(mode="json")
            cur.execute("""INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                                  config, config_sha256, participant_count, status, results_released_at)
                           VALUES (%s, %s, 'quarterly', %s, %s, %s, 'Asia/Shanghai', %s, 'x', %s, 'locked', now())""",
                        (cid, data["name"], label, s, period_end(s, "quarterly"), json.dumps(config), people))
            cur.execute("""INSERT INTO review (id, cycle_id, employee_id, reviewer_id, seq, status, preliminary_score)
                           SELECT %(c)s || ':K' || g, %(c)s, 'K' || g, 'M' || (1 + g %% %(m)s), g, 'closed',
                                  1 + ((g * 7 + %(i)s) %% 400) / 100.0 FROM generate_series(1, %(n)s) g""",
                        {"c": cid, "m": managers, "i": i, "n": people})
            cur.execute("""INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id, preliminary_score,
                                  normalized_score, suggested_level, final_level, finalized)
                           SELECT id, cycle_id, employee_id, reviewer_id, preliminary_score, preliminary_score,
                                  1 + (seq + %s) %% 5, 1 + (seq + %s) %% 5, true FROM review WHERE cycle_id = %s""",
                        (i, i, cid))
            cur.execute("""INSERT INTO kpi_actual (employee_id, period, kpi_id, value)
                           SELECT 'K' || g, %s, k, 0.8 + (g %% 40) / 100.0 FROM generate_series(1, %s) g,
                                  unnest(ARRAY['sales_attainment', 'new_customer_acquisition', 'customer_retention',
                                               'complaint_rate', 'revenue']) k""", (label, people))
            cur.execute("""INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency,
                                  period, plan_id, plan_version, revision, explanation, status)
                           SELECT %(c)s || ':K' || g || ':bonus', %(c)s, 'K' || g, 'bonus', 1000 + g %% 500, 'CNY',
                                  %(p)s, 'kam-incentive-2026', 1, 0, 'bench', 'computed' FROM generate_series(1, %(n)s) g""",
                        {"c": cid, "p": label, "n": people})
            cur.execute("UPDATE payout_line SET status = 'locked', locked_at = now() WHERE cycle_id = %s", (cid,))
            conn.commit()
        cur.execute("ANALYZE")
        conn.commit()


async def measure(url: str, runs: int, people: int, team: int) -> dict[str, float]:
    from services.trends import drift_report, employee_trend, team_trend

    kam, manager = f"K{max(1, people // 2)}", f"M{max(1, people // team // 2)}"
    views = {"employee": lambda c: employee_trend(c, kam, None), "team": lambda c: team_trend(c, manager, None),
             "drift": lambda c: drift_report(c)}
    out = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for name, view in views.items():
            await view(conn)  # warm-up
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                result = await view(conn)
                times.append(time.perf_counter() - t0)
            out[name] = statistics.median(times)
            size = len(getattr(result, "cycles", []) or [])
            print(f"{name}: median {out[name] * 1000:.1f} ms over {runs} runs ({size} cycles in the answer)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--team", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    pg = start_postgres("kamreview_trends_bench")
    code = 0
    try:
        t0 = time.perf_counter()
        seed(pg.url, args.cycles, args.people, args.team)
        print(f"seeded {args.cycles} cycles x {args.people} people in {time.perf_counter() - t0:.0f} s", flush=True)
        medians = asyncio.run(measure(pg.url, args.runs, args.people, args.team))
        print("SUMMARY " + " ".join(f"{k}={v * 1000:.1f}ms" for k, v in medians.items()))
        emit_json({"bench": "trends", "at": now_iso(), "machine": machine(), "cycles": args.cycles,
                   "people": args.people, "median_s": medians})
    except Exception as err:  # noqa: BLE001 - a benchmark reports and exits
        print(f"failed: {err!r}", file=sys.stderr)
        code = 1
    finally:
        pg.stop()
    finish(code)


if __name__ == "__main__":
    main()
