"""Deals benchmark: a period's deal commission and settlement for N employees × D deals, against plain COPY.

    python bench/deals_bench.py [--employees 100000] [--deals 20] [--profile]

Claim under test (issue 13): "100,000 employees × 20 deals ≤ 2× the plain COPY floor". The plan is
examples/plan-deals.yaml's (cumulative marginal rate table, recoverable draw, early-termination clawback). Built
in memory before any clock (seeded): per employee D validated ``Deal`` models closing in the period (1 in 5 split
60/40 with the next employee), a YTD total and a draw balance carried from the earlier period, and for 1 in 10
employees a deal paid earlier whose customer left (a clawback). Then, in one process against one migrated
database:

(b) the floor, first: the same output rows the engine writes (values and JSON serialized before the clock),
    one plain COPY into ``bench_settlement_floor`` (LIKE payout_line INCLUDING ALL: a logged table, with its
    primary key and indexes), committed;
(e) the engine: split credit (``credit_deal``) of every deal, then per employee ``settle_period`` (deal lines,
    draw top-up or recovery, clawbacks), each line turned into its payout row (explanation: the steps in English,
    inputs JSON) and streamed into one COPY into ``bench_settlement_line`` (the same shape), committed. Python
    computes while PostgreSQL inserts what it already sent;
(p) the engine spread over worker processes (forked after the build, so they share the inputs; chunks of
    2,000 people computed and COPY-encoded in the workers, written by this process into one COPY, as
    activities/payout_rows.copy_first_lines does for compute_payouts), into the same table, committed;
(b) the floor again; the floor is the mean of both runs.

Result: engine / floor, target ≤ 2 (the parallel path is the headline when it runs). --profile profiles the engine's compute on a sample.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import cProfile
import gc
import io
import itertools
import json
import multiprocessing
import os
import pstats
import random
import statistics
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import psycopg

from activities.payout_rows import _JSON, PAYOUT_COLUMNS, _field
from bench.common import ROOT, Postgres, _children, _cpu, emit_json, finish, machine, now_iso, peak_rss_mb, start_postgres
from domain.clawbacks import DealEvent, PaidDeal
from domain.deals import Deal, DealCredit, credit_deal
from domain.incentives import IncentivePlan
from domain.settlement import SettlementLine, settle_period
from domain.text import explain
from domain.trusted import trusted
from services.preview import load_plan_file

FLOOR_TABLE, ENGINE_TABLE = "bench_settlement_floor", "bench_settlement_line"
PERIOD, CYCLE = "2025-Q2", "DEALS-BENCH"
START = date(2025, 4, 1)
LINE_TYPE = {"deal_commission": "commission", "plan_year_bonus": "bonus"}


@dataclass
class Person:
    employee_id: str
    ytd_before: Decimal
    balance: Decimal
    paid: list[PaidDeal]
    events: list[DealEvent]


def build(n: int, deals_each: int) -> tuple[list[Deal], list[Person]]:
    """Seeded deals and each person's state from the earlier period, compactly (2,000,000 deals at 100,000 × 20).

    Each shape of deal is validated once (a person's first deal, and every split one); the others are that
    validated deal's fields with their own id, date and amount (``domain.trusted.trusted``: what validation
    leaves), sharing the person's credit and the dates. The same deals, in the same order, as validating each.
    """
    rnd = random.Random(20250401)
    deals: list[Deal] = []
    people: list[Person] = []
    days = [START + timedelta(days=k) for k in range(91)]
    fields = set(Deal.model_fields)
    for i in range(n):
        me, other = f"E{i:06d}", f"E{(i + 1) % n:06d}"
        alone: tuple[object, ...] | None = None
        for j in range(deals_each):
            split = j == 0 and i % 5 == 0 and n > 1
            deal_id, closed = f"D{i:06d}-{j:02d}", days[rnd.randrange(91)]
            amount = Decimal(rnd.randint(50_000, 1_500_000)) / 100
            if split or alone is None:
                credits = ([{"employee_id": me, "percent": 60}, {"employee_id": other, "percent": 40}] if split
                           else [{"employee_id": me, "percent": 100}])
                deal = Deal.model_validate({"id": deal_id, "closed_on": closed, "amount": amount, "currency": "CNY",
                                            "credits": credits})
                if not split:
                    alone = deal.credits
            else:
                deal = trusted(Deal, {"id": deal_id, "closed_on": closed, "amount": amount, "currency": "CNY",
                                      "credits": alone}, fields)
            deals.append(deal)
        paid, events = [], []
        if i % 10 == 0:
            closed = date(2025, 3, 1) + timedelta(days=rnd.randrange(30))
            paid.append(PaidDeal(deal_id=f"P{i:06d}", employee_id=me, closed_on=closed,
                                 paid=Decimal(rnd.randint(10_000, 200_000)) / 100, currency="CNY"))
            events.append(DealEvent(deal_id=f"P{i:06d}", kind="churned", on=closed + timedelta(days=40)))
        people.append(Person(me, Decimal(rnd.randint(0, 15_000_000)) / 100,
                             Decimal(rnd.randint(0, 2) * 50_000) / 100, paid, events))
    return deals, people


def engine_rows(plan: IncentivePlan, deals: list[Deal], people: list[Person],
                keep: set[str] | None = None) -> Iterator[SettlementLine]:
    """The engine, lazily: credit every deal, settle every person, and each settlement line in turn."""
    credits: dict[str, list[DealCredit]] = {}
    for deal in deals:
        for c in credit_deal(deal):
            if keep is None or c.employee_id in keep:
                credits.setdefault(c.employee_id, []).append(c)
    for p in people:
        s = settle_period(employee_id=p.employee_id, cycle_id=CYCLE, index=1, currency="CNY", rounding=plan.rounding,
                          deal_cfg=plan.deal_commission, credits=credits.pop(p.employee_id, ()),
                          ytd_credited_before=p.ytd_before, draw=plan.draw, draw_balance=p.balance,
                          clawback=plan.clawback if p.events else None, paid_deals=p.paid, events=p.events)
        yield from s.lines  # a person's credits are dropped once settled: the rows made so far replace them


def inputs_of(line: SettlementLine) -> dict[str, object]:
    line_type = LINE_TYPE.get(line.kind, "adjustment")
    return {"kind": line.kind, "deal_id": line.deal_id} if line_type != "adjustment" else {
        "kind": line.kind, "deal_id": line.deal_id, "adjusts": "commission" if line.deal_id else "draw"}


_str_json = json.encoder.encode_basestring  # what _JSON (ensure_ascii=False) writes a str as


def inputs_json(line: SettlementLine) -> str:
    """``_JSON.encode(inputs_of(line))`` (= activities.base.dumps): a deal line's two keys written directly."""
    if line.kind == "deal_commission" and type(line.deal_id) is str:
        return f'{{"deal_id": {_str_json(line.deal_id)}, "kind": "deal_commission"}}'
    return _JSON.encode(inputs_of(line))


def row(plan: IncentivePlan, line: SettlementLine) -> tuple:
    """What payout_line would hold: deal lines as commission, the rest as adjustments saying what they are."""
    return (line.idempotency_key, CYCLE, line.employee_id, LINE_TYPE.get(line.kind, "adjustment"), line.amount,
            line.currency, PERIOD, plan.id, plan.version, 0, explain(line.steps), inputs_json(line), "computed")


def copy_row(plan_cols: tuple[str, str], line: SettlementLine) -> bytes:
    """``row()`` as one COPY text row (activities.payout_rows.encode_copy_rows' way: the ASCII columns apart)."""
    return (f"{_field(line.idempotency_key)}\t{plan_cols[0]}\t{_field(line.employee_id)}\t"
            f"{LINE_TYPE.get(line.kind, 'adjustment')}\t{line.amount}\t{_field(line.currency)}\t{plan_cols[1]}\t"
            ).encode() + _field(explain(line.steps)).encode() + b"\t" + _field(inputs_json(line)).encode() + b"\tcomputed\n"


CHUNK = 2000
_shared: dict[str, object] = {}  # set before the pool forks: the workers read the inputs from here


def chunk_bytes(a: int, b: int) -> bytes:
    """People a..b-1 settled and encoded as COPY text rows, in a worker process (inputs inherited by fork)."""
    plan: IncentivePlan = _shared["plan"]  # type: ignore[assignment]
    deals: list[Deal] = _shared["deals"]  # type: ignore[assignment]
    people: list[Person] = _shared["people"]  # type: ignore[assignment]
    d, n = int(_shared["d"]), len(people)  # type: ignore[call-overload]
    mine = {p.employee_id for p in people[a:b]}
    source = [deals[(i % n) * d + j] for i in range(a - 1, b) for j in range(d)]  # a split credits the next one
    consts = (f"{_field(CYCLE)}", f"{_field(PERIOD)}\t{_field(plan.id)}\t{plan.version}\t0")
    gc.disable()  # acyclic garbage only, freed by reference counting (as copy_first_lines' workers do)
    try:
        return b"".join([copy_row(consts, line) for line in engine_rows(plan, source, people[a:b], keep=mine)])
    finally:
        gc.enable()


def parallel_engine(pg: Postgres, n: int, workers: int) -> tuple[float, float, int]:
    """(wall s, CPU s incl. the workers and PostgreSQL, rows): chunks from the pool into one COPY."""
    cols = ", ".join(PAYOUT_COLUMNS)
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for f in [pool.submit(int, 0) for _ in range(workers * 2)]:
            f.result()  # started and warm before the clock, as in a worker that has computed once
        procs = list(getattr(pool, "_processes", {}) or {})
        with psycopg.connect(pg.url) as conn:
            conn.execute(f"TRUNCATE {ENGINE_TABLE}")
            conn.commit()
            mine, cpu, wcpu = sum(os.times()[:2]), cpu_now(pg), sum(_cpu(p) for p in procs)
            t = time.perf_counter()
            written = 0
            pending: list[Future[bytes]] = []
            starts = list(range(0, n, CHUNK))
            with conn.cursor() as cur, cur.copy(f"COPY {ENGINE_TABLE} ({cols}) FROM STDIN") as copy:
                for a in starts[: workers + 2]:
                    pending.append(pool.submit(chunk_bytes, a, min(n, a + CHUNK)))
                nxt = workers + 2
                while pending:
                    data = pending.pop(0).result()
                    if nxt < len(starts):
                        pending.append(pool.submit(chunk_bytes, starts[nxt], min(n, starts[nxt] + CHUNK)))
                        nxt += 1
                    copy.write(data)
                    written += data.count(b"\n")
            conn.commit()
            elapsed = time.perf_counter() - t
            mine, cpu, wcpu = sum(os.times()[:2]) - mine, cpu_now(pg) - cpu, sum(_cpu(p) for p in procs) - wcpu
            print(f"    CPU of the parallel path: this process {mine:.2f} s, PostgreSQL {cpu - mine:.2f} s, workers "
                  f"{wcpu:.2f} s ({1e6 * wcpu / n:.0f} us/employee)", flush=True)
            return elapsed, cpu + wcpu, written


def prepare_db(url: str, n: int) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY employee (id, name, role, grade, currency, timezone) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((f"E{i:06d}", f"Employee {i}", "kam", "K1", "CNY", "Asia/Shanghai"))
        cur.execute(
            """INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                                         config, config_sha256, participant_count, status, workflow_id)
               VALUES (%s, 'deals bench', 'quarterly', %s, %s, %s, 'Asia/Shanghai', '{}', '-', %s, 'incentives', %s)""",
            (CYCLE, PERIOD, START, date(2025, 6, 30), n, f"cycle:{CYCLE}"))
        for table in (FLOOR_TABLE, ENGINE_TABLE):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TABLE {table} (LIKE payout_line INCLUDING ALL)")
            cur.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (cycle_id) REFERENCES review_cycle (id)")
            cur.execute(f"ALTER TABLE {table} ADD FOREIGN KEY (employee_id) REFERENCES employee (id)")
        cur.execute("ANALYZE employee")


def settle_db(url: str) -> None:
    """Untimed, before each phase: vacuum what the phases write and checkpoint, so no phase pays for another."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {FLOOR_TABLE}, {ENGINE_TABLE}")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass


def cpu_now(pg: Postgres) -> float:
    """CPU seconds of this process and of PostgreSQL (steadier than the wall clock on a shared machine)."""
    mine = sum(os.times()[:2])
    pm = pg.postmaster_pid()
    return mine + (_cpu(pm, True) + sum(_cpu(p) for p in _children(pm)) if pm else 0.0)


def copy_rows(pg: Postgres, table: str, rows: Iterator[tuple] | list[tuple]) -> tuple[float, float, int]:
    """(wall s, CPU s, rows): the rows in one COPY into ``table``, committed."""
    cols = ", ".join(PAYOUT_COLUMNS)
    with psycopg.connect(pg.url) as conn:
        conn.execute(f"TRUNCATE {table}")
        conn.commit()
        cpu = cpu_now(pg)
        t = time.perf_counter()
        mine = sum(os.times()[:2])
        written = 0
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
                written += 1
        conn.commit()
        elapsed, cpu, mine = time.perf_counter() - t, cpu_now(pg) - cpu, sum(os.times()[:2]) - mine
        print(f"    CPU of that COPY: this process {mine:.2f} s, PostgreSQL {cpu - mine:.2f} s", flush=True)
        return elapsed, cpu, written


def profile(plan: IncentivePlan, deals: list[Deal], people: list[Person], sample: int) -> str:
    n = min(sample, len(people))
    keep = {p.employee_id for p in people[:n]}
    few = [d for d in deals if d.credits[0].employee_id in keep]
    prof = cProfile.Profile()
    prof.enable()
    for line in engine_rows(plan, few, people[:n]):
        row(plan, line)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
    return out.getvalue()


def main(args: argparse.Namespace) -> int:
    n, d = args.employees, args.deals
    print(f"deals bench: {n} employees × {d} deals, machine {machine()}", flush=True)
    plan = load_plan_file(ROOT / "examples" / "plan-deals.yaml").incentive_plan
    pg = start_postgres()
    code = 1
    try:
        t = time.perf_counter()
        deals, people = build(n, d)
        build_s = time.perf_counter() - t
        gc.freeze()  # the inputs live all run long: the cyclic collector need not rescan them (as a worker would)
        prepare_db(pg.url, n)
        print(f"built {len(deals)} deals in {build_s:.1f} s (not timed)", flush=True)
        for line in itertools.islice(engine_rows(plan, deals, people[:500]), 20_000):  # untimed: the JSON shortcut
            assert inputs_json(line) == _JSON.encode(inputs_of(line)), line
        t = time.process_time()
        floor_rows = [row(plan, line) for line in engine_rows(plan, deals, people)]
        compute_only = time.process_time() - t  # CPU: the wall clock on a shared machine says little
        print(f"engine rows in memory (compute + serialize, no database): {compute_only:.2f} CPU s, {len(floor_rows)} rows",
              flush=True)
        settle_db(pg.url)
        floor_1, fcpu_1, written = copy_rows(pg, FLOOR_TABLE, floor_rows)
        print(f"(b) floor, run 1: plain COPY of {written} rows {floor_1:.2f} s (CPU {fcpu_1:.2f} s)", flush=True)
        settle_db(pg.url)
        engine_s, ecpu, engine_written = copy_rows(pg, ENGINE_TABLE,
                                                   (row(plan, line) for line in engine_rows(plan, deals, people)))
        print(f"(e) engine: credit + settle + serialize, streamed into one COPY {engine_s:.2f} s (CPU {ecpu:.2f} s)",
              flush=True)
        par_s = par_cpu = None
        if args.workers > 0:
            with psycopg.connect(pg.url) as conn:  # the serial run's rows, to compare with the parallel ones
                conn.execute("DROP TABLE IF EXISTS bench_settlement_serial")
                conn.execute(f"CREATE TABLE bench_settlement_serial AS SELECT idempotency_key, amount, explanation, "
                             f"inputs FROM {ENGINE_TABLE}")
            _shared.update(plan=plan, deals=deals, people=people, d=d)
            settle_db(pg.url)
            par_s, par_cpu, par_written = parallel_engine(pg, n, args.workers)
            print(f"(p) engine in {args.workers} worker processes into one COPY {par_s:.2f} s (CPU {par_cpu:.2f} s "
                  f"with the workers)", flush=True)
            with psycopg.connect(pg.url) as conn:
                same_p = conn.execute(f"SELECT count(*) FROM {ENGINE_TABLE} e JOIN bench_settlement_serial s USING "
                                      "(idempotency_key) WHERE e.amount = s.amount AND e.explanation = s.explanation "
                                      "AND e.inputs = s.inputs").fetchone()[0]
            assert par_written == written == same_p, (par_written, written, same_p)
        settle_db(pg.url)
        floor_2, fcpu_2, _ = copy_rows(pg, FLOOR_TABLE, floor_rows)
        print(f"(b) floor, run 2: {floor_2:.2f} s (CPU {fcpu_2:.2f} s)", flush=True)
        floor_cpu = statistics.fmean([fcpu_1, fcpu_2])
        assert engine_written == written, (engine_written, written)
        with psycopg.connect(pg.url) as conn:
            same = conn.execute(f"SELECT count(*) FROM {ENGINE_TABLE} e JOIN {FLOOR_TABLE} f USING (idempotency_key) "
                                "WHERE e.amount = f.amount AND e.explanation = f.explanation").fetchone()[0]
            kinds = dict(conn.execute(f"SELECT inputs->>'kind', count(*) FROM {ENGINE_TABLE} GROUP BY 1").fetchall())
        assert same == written, (same, written)
        floor_s = statistics.fmean([floor_1, floor_2])
        serial_ratio = engine_s / floor_s
        ratio = par_s / floor_s if par_s is not None else serial_ratio
        verdict = "PASS" if ratio <= 2 else "FAIL"
        par_text = (f"parallel ({args.workers} workers) {par_s:.2f} s = {par_s / floor_s:.2f} x floor, CPU {par_cpu:.2f} s "
                    f"= {par_cpu / floor_cpu:.2f} x; " if par_s is not None and par_cpu is not None else "")
        hot = profile(plan, deals, people, args.profile_sample) if args.profile else None
        if hot:
            print(hot, flush=True)
        print(f"\nSUMMARY deals bench: {n} employees × {d} deals, {written} lines {kinds}: {par_text}serial engine "
              f"{engine_s:.2f} s = {serial_ratio:.2f} x floor (plain COPY {floor_s:.2f} s, runs {floor_1:.2f} / "
              f"{floor_2:.2f}); CPU {ecpu:.2f} s = "
              f"{ecpu / floor_cpu:.2f} x floor CPU {floor_cpu:.2f} s; compute + "
              f"serialize alone {compute_only:.2f} CPU s ({1e6 * compute_only / n:.0f} us/employee); target <= 2: "
              f"{verdict}; peak RSS {peak_rss_mb()} MB", flush=True)
        emit_json({"bench": "deals", "date": now_iso(), "machine": machine(), "employees": n, "deals_each": d,
                   "lines": written, "kinds": kinds, "engine_s": round(engine_s, 3), "floor_s": round(floor_s, 3),
                   "floor_runs_s": [round(floor_1, 3), round(floor_2, 3)], "compute_only_s": round(compute_only, 3),
                   "ratio": round(ratio, 3), "serial_ratio": round(serial_ratio, 3),
                   "parallel_s": None if par_s is None else round(par_s, 3),
                   "parallel_cpu_s": None if par_cpu is None else round(par_cpu, 3), "workers": args.workers,
                   "engine_cpu_s": round(ecpu, 3), "floor_cpu_s": round(floor_cpu, 3),
                   "cpu_ratio": round(ecpu / floor_cpu, 3), "target": 2, "passed": ratio <= 2, "peak_rss_mb": peak_rss_mb()})
        code = 0
    except Exception:  # noqa: BLE001 - report and leave with a failure code
        traceback.print_exc()
    finally:
        pg.stop()
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=20)
    p.add_argument("--workers", type=int, default=2, help="worker processes of the parallel path (0: skip it)")
    p.add_argument("--profile", action="store_true", help="profile the engine on a sample")
    p.add_argument("--profile-sample", type=int, default=5_000, help="employees in the profiled sample")
    return p.parse_args(argv)


if __name__ == "__main__":
    finish(main(parse_args()))
