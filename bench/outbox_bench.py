"""Outbox benchmark: queueing a large cycle's announcement against a plain INSERT of the same rows, same run.

    python bench/outbox_bench.py [--people 10000] [--rounds 3]

Claim under test: "queueing N messages costs about what writing N rows does", at any size of organisation. A
migrated database (embedded PostgreSQL unless KAMREVIEW_DATABASE_URL is set) is seeded, untimed, with N employees
(a tenth with two channels) and three HR people. Then, alternately, each in its own transaction:
(f) the floor: one ``INSERT INTO notification ... SELECT FROM unnest(...)`` of the rows the engine will write, their
    ids and channels computed in Python beforehand;
(e) the engine: ``activities.outbox.queue`` of N messages to employees and one to the role hr, as
    ``announce_cycle`` queues a cycle's start.
Both write the same number of rows to the same table, with its indexes. Result: median engine / median floor
(target <= 2). Until session 28 the engine compared every message with every employee (10,000 people: 10 s).
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import statistics
import time

import psycopg

from activities.base import jsonb
from activities.outbox import Message, queue
from bench.common import emit_json, finish, machine, now_iso, start_postgres

FLOOR_SQL = """INSERT INTO notification (id, recipient_type, recipient_id, kind, subject, body, cycle_id, batch, channel,
                                         params, status)
               SELECT id, 'employee', rid, 'task_assigned', '', '', NULL, %(batch)s, ch, params, 'queued'
               FROM unnest(%(ids)s::text[], %(rids)s::text[], %(chs)s::text[], %(params)s::jsonb[]) AS u(id, rid, ch, params)"""
HR = ("BHR1", "BHR2", "BHR3")


def seed(url: str, people: int) -> list[tuple[str, list[str]]]:
    """N employees (every tenth on e-mail and WeCom) and three HR people; returns each with their channels."""
    staff = [(f"BE{i:06d}", ["email", "wecom"] if i % 10 == 0 else []) for i in range(people)]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY employee (id, name, role, currency, timezone, channels) FROM STDIN") as copy:
            for h in HR:
                copy.write_row((h, f"HR {h}", "hr", "CNY", "Asia/Shanghai", []))
            for e, channels in staff:
                copy.write_row((e, f"Employee {e}", "kam", "CNY", "Asia/Shanghai", channels))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE employee")
    return staff


def params(i: int) -> dict[str, str]:
    return {"cycle_name": "2026 Q4", "phase": "self_review", "due": "2026-12-31T18:00:00+08:00",
            "link_path": f"/tasks/self_review/BE{i:06d}"}


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    started = now_iso()
    pg = start_postgres()
    try:
        staff = seed(pg.url, args.people)
        n_rows = sum(len(c) or 1 for _e, c in staff) + len(HR)
        print(f"outbox bench: {args.people} employees, {n_rows} rows per run, {args.rounds} rounds, "
              f"machine {machine()}", flush=True)
        floors: list[float] = []
        engines: list[float] = []
        async with await psycopg.AsyncConnection.connect(pg.url) as conn:
            for r in range(args.rounds):
                batch = f"floor:{r}"
                ids, rids, chs, ps = [], [], [], []
                for i, (e, channels) in enumerate(staff):
                    for ch in channels or ["email"]:
                        ids.append(f"assigned:{batch}:{e}:{e}:{ch}")
                        rids.append(e)
                        chs.append(ch)
                        ps.append(jsonb(params(i)))
                for h in HR:
                    ids.append(f"opened:{batch}:{h}:email")
                    rids.append(h)
                    chs.append("email")
                    ps.append(jsonb({"cycle_name": "2026 Q4"}))
                t = time.perf_counter()
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.execute(FLOOR_SQL, {"batch": batch, "ids": ids, "rids": rids, "chs": chs, "params": ps})
                    floor_rows = cur.rowcount
                floors.append(time.perf_counter() - t)

                batch = f"engine:{r}"
                messages = [Message(f"assigned:{batch}:{e}", "task_assigned", "employee", e, params(i))
                            for i, (e, _c) in enumerate(staff)]
                messages.append(Message(f"opened:{batch}", "calibration_opened", "role", "hr", {"cycle_name": "2026 Q4"}))
                t = time.perf_counter()
                async with conn.transaction(), conn.cursor() as cur:
                    engine_rows = await queue(cur, None, batch, messages)
                engines.append(time.perf_counter() - t)
                if (floor_rows, engine_rows) != (n_rows, n_rows):
                    raise AssertionError(f"rows written: floor {floor_rows}, engine {engine_rows}, expected {n_rows}")
                print(f"round {r + 1}: floor {floors[-1]:.3f} s, engine {engines[-1]:.3f} s ({n_rows} rows each)",
                      flush=True)
        floor_s, engine_s = statistics.median(floors), statistics.median(engines)
        ratio = engine_s / floor_s
        verdict = "PASS" if ratio <= 2 else "FAIL"
        print(f"SUMMARY people={args.people} rows={n_rows} floor_median={floor_s:.3f}s engine_median={engine_s:.3f}s "
              f"ratio={ratio:.2f} (target <= 2) {verdict}", flush=True)
        emit_json({"bench": "outbox", "started": started, "machine": machine(), "args": vars(args), "rows": n_rows,
                   "floor_s": floors, "engine_s": engines, "ratio": round(ratio, 3), "verdict": verdict})
        return 0 if verdict == "PASS" else 1
    finally:
        pg.stop()


if __name__ == "__main__":
    finish(asyncio.run(main()))
