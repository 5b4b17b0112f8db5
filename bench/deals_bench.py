"""Deals benchmark: a period's deal commission and settlement for N employees × D deals, against plain COPY.

    python bench/deals_bench.py [--employees 100000] [--deals 20] [--profile] [--engine]
    python bench/incentives_bench.py --deals 20 [--employees 100000]   (the same, as issue 13 names it)

Claim under test (issue 13): "100,000 employees × 20 deals ≤ 2× the plain COPY floor". The plan is
examples/plan-deals.yaml's (cumulative marginal rate table, recoverable draw, early-termination clawback); the
data are seeded (per employee D deals closing in 2025-Q2, 1 in 5 split 60/40 with the next employee, a YTD total
and a draw balance carried from Q1, and for 1 in 10 employees a Q1 deal whose customer left 40 days after closing).

Default: the cycle's own activity path. Written untimed, as the CRM import and an approved Q1 leave them: the
deals in crm_deal (crm_deal_credit for the splits, crm_deal_event for the churned customers), Q1 as a locked cycle
of the plan year with a review per person, one locked commission line each (the YTD credited, a paid deal) and the
draw balances in ledger_entry. Then, against one migrated database:

(c) what compute_incentives runs for the Q2 cycle's first lines, in one transaction, committed: ``sales_inputs``
    (what Q1 locked, the period's deals, the events) and ``copy_first_sales_lines`` (chunks of people credited
    with their deals, settled and COPY-encoded in the activity's worker processes, streamed into one COPY into
    payout_line). The process pool is started and warmed before the clock, as in a worker that has computed once;
(b) the floor, twice after it: the very rows (c) wrote, taken with COPY TO (untimed), in one plain COPY into
    ``bench_settlement_floor`` (LIKE payout_line INCLUDING ALL + the two foreign keys, logged), committed. The
    client sends bytes it already has: all of this floor is PostgreSQL's.

Result: (c) / floor, target ≤ 2, with CPU seconds by party (this process's event loop and threads, the worker
processes, PostgreSQL). --profile first profiles one chunk's work in this process and times it in a worker.

--engine: the domain engine alone, as measured before the activity path existed (in-memory deals; (e) serial and
(p) forked workers into one COPY, against a floor of the engine's own rows).
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
    # a split credits the next person: the one before the chunk too (once, when the chunk is everyone)
    source = [deals[k * d + j] for k in dict.fromkeys(i % n for i in range(a - 1, b)) for j in range(d)]
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


def settle_db(url: str, tables: str = f"{FLOOR_TABLE}, {ENGINE_TABLE}") -> None:
    """Untimed, before each phase: vacuum what the phases write and checkpoint, so no phase pays for another."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {tables}")
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


def engine_main(args: argparse.Namespace) -> int:
    """--engine: the domain engine alone (serial and forked workers), as measured before the activity path."""
    n, d = args.employees, args.deals
    print(f"deals bench (engine): {n} employees × {d} deals, machine {machine()}", flush=True)
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


# -- the cycle's activity path (the default) ---------------------------------------------------------------------

Q1 = "DEALS-Q1"
YEAR = "kam-deals-2025"


def world(n: int, deals_each: int) -> Iterator[tuple[int, list[tuple[str, date, Decimal, bool]],
                                                     tuple[str, date, Decimal] | None, Decimal, Decimal]]:
    """build()'s seeded data, as plain values (the same random draws in the same order, so the same deals and the
    same earlier period): per person i, its deals (id, closing day, amount, split 60/40 with the next person), the
    deal paid in Q1 whose customer left 40 days after closing (1 in 10), the YTD credited and the draw balance."""
    rnd = random.Random(20250401)
    days = [START + timedelta(days=k) for k in range(91)]
    for i in range(n):
        mine = []
        for j in range(deals_each):
            split = j == 0 and i % 5 == 0 and n > 1
            deal_id, closed = f"D{i:06d}-{j:02d}", days[rnd.randrange(91)]
            mine.append((deal_id, closed, Decimal(rnd.randint(50_000, 1_500_000)) / 100, split))
        paid = None
        if i % 10 == 0:
            closed = date(2025, 3, 1) + timedelta(days=rnd.randrange(30))
            paid = (f"P{i:06d}", closed, Decimal(rnd.randint(10_000, 200_000)) / 100)
        yield i, mine, paid, Decimal(rnd.randint(0, 15_000_000)) / 100, Decimal(rnd.randint(0, 2) * 50_000) / 100


def cycle_config(plan_data: dict) -> object:
    """Q2 of the plan year kam-deals-2025: the demo cycle paying examples/plan-deals.yaml's plan."""
    import yaml

    from domain.cycle import CycleConfig

    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data.update(id=CYCLE, period={"label": PERIOD, "start": "2025-04-01", "end": "2025-06-30"},
                incentive_plan=plan_data, plan_year=YEAR)
    return CycleConfig.model_validate(data)


def prepare_cycle_db(url: str, n: int, d: int, config_json: str) -> None:
    """Untimed: what a Q2 cycle's compute step reads, as the CRM import and the locked Q1 cycle leave it.

    crm_deal holds the period's N × D won deals (crm_deal_credit the 60/40 splits) and the Q1 deals that were paid,
    crm_deal_event their customers' leaving; Q1 is a locked cycle of the plan year with a review per person (their
    period 2 of the draw), one locked commission line each (its credited amount is the person's YTD, its deal a
    paid deal) and the draw balance in ledger_entry.
    """
    q1_line = "kam-deals:1:commission"
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone, config,
                                         config_sha256, participant_count, status, workflow_id)
               VALUES (%s, 'deals bench Q1', 'quarterly', '2025-Q1', '2025-01-01', '2025-03-31', 'Asia/Shanghai',
                       %s, '-', %s, 'locked', %s)""", (Q1, json.dumps({"incentive_plan": {"id": "kam-deals"},
                                                                        "plan_year": YEAR}), n, f"cycle:{Q1}"))
        cur.execute("UPDATE review_cycle SET config = %s WHERE id = %s", (config_json, CYCLE))
        deals = cur.copy("COPY crm_deal (id, kind, kam_id, won, amount, currency, closed_on, source) FROM STDIN")
        with deals as cp:
            splits, events, lines, balances, reviews = [], [], [], [], []
            for i, mine, paid, ytd, balance in world(n, d):
                me = f"E{i:06d}"
                for deal_id, closed, amount, split in mine:
                    cp.write_row((deal_id, "deal", me, True, amount, "CNY", closed, "bench"))
                    if split:
                        splits.append((deal_id, me, 60))
                        splits.append((deal_id, f"E{(i + 1) % n:06d}", 40))
                deal_id, closed, amount = paid or (f"Q{i:06d}", date(2025, 2, 1), Decimal(1))
                if paid:
                    cp.write_row((deal_id, "deal", me, True, amount / Decimal("0.02"), "CNY", closed, "bench"))
                    events.append((deal_id, "churned", closed + timedelta(days=40), "bench"))
                lines.append((f"{Q1}:{me}:{q1_line}:{deal_id}", Q1, me, "commission", amount, "CNY", "2025-Q1",
                              "kam-deals", 1, 0, "-", json.dumps({"deal_id": deal_id, "credited": str(ytd),
                                                                  "closed_on": closed.isoformat()}), "computed"))
                reviews.append((f"{Q1}:{me}", Q1, me, i, "closed"))
                if balance:
                    balances.append((f"{YEAR}:{me}:{Q1}:r0:drawn", YEAR, me, Q1, 0, "drawn", balance, "CNY", balance))
        for sql, data in (
                ("COPY crm_deal_credit (deal_id, employee_id, percent) FROM STDIN", splits),
                ('COPY crm_deal_event (deal_id, kind, "on", source) FROM STDIN', events),
                ("COPY review (id, cycle_id, employee_id, seq, status) FROM STDIN", reviews),
                (f"COPY payout_line ({', '.join(PAYOUT_COLUMNS)}) FROM STDIN", lines),
                ("COPY ledger_entry (key, plan_year, employee_id, cycle_id, revision, kind, amount, currency, "
                 "balance_after) FROM STDIN", balances)):
            with cur.copy(sql) as cp:
                for r in data:
                    cp.write_row(r)
        cur.execute("UPDATE payout_line SET status = 'locked', approved_by = 'bench', locked_at = now() "
                    "WHERE cycle_id = %s", (Q1,))  # Q1 approved: only an approval locks a line
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) crm_deal, crm_deal_credit, crm_deal_event, review, payout_line, ledger_entry")


async def activity_path(pg: Postgres, config: object, inputs: list, clock: object) -> dict[str, object]:
    """What compute_incentives runs for a sales cycle's first lines, in one transaction, committed: sales_inputs
    (what the earlier cycle locked, the period's deals, the events), then copy_first_sales_lines (chunks credited,
    settled and COPY-encoded in the worker processes, streamed into one COPY into payout_line)."""
    from activities.sales import copy_first_sales_lines, sales_inputs

    plan = config.incentive_plan  # type: ignore[attr-defined]
    async with await psycopg.AsyncConnection.connect(pg.url) as conn:
        cpu = clock.snapshot()  # type: ignore[attr-defined]
        t = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur:
            try:  # as compute_incentives reads them for a cycle's first lines: the deals while the chunks settle
                sales = await sales_inputs(cur, CYCLE, config, inputs, deals_later=True)
            except TypeError:  # an engine before the deals were read chunk by chunk
                sales = await sales_inputs(cur, CYCLE, config, inputs)
            read_s, read_cpu = time.perf_counter() - t, clock.delta(cpu, clock.snapshot())  # type: ignore[attr-defined]
            # (an engine before 43d1a0a: sales_inputs credited the deals itself and returned the people)
            people, deals = (sales.people, (sales.deals,)) if hasattr(sales, "deals") else (sales, ())
            written, error = await copy_first_sales_lines(cur, plan, YEAR, START, date(2025, 6, 30), PERIOD, CYCLE,
                                                          inputs, people, lambda _: None, *deals)
            if error is not None:
                raise RuntimeError(f"copy_first_sales_lines refused the cycle: {error}")
        elapsed = time.perf_counter() - t
        return {"s": elapsed, "read_s": read_s, "read_cpu": read_cpu,
                "deals": len(deals[0]) if deals and isinstance(deals[0], list) else "chunk by chunk",
                "written": written,
                "cpu": clock.delta(cpu, clock.snapshot())}  # type: ignore[attr-defined]


async def floor_from_file(pg: Postgres, path: Path, clock: object,
                          table: str = FLOOR_TABLE) -> tuple[float, dict[str, float]]:
    """The floor: the activity's own rows (COPY TO text, taken after it, untimed) in one plain COPY into a logged
    copy of payout_line, committed; the client sends bytes it already has, so this floor is all PostgreSQL's.
    With ``table="payout_line"`` (the cycle's lines deleted first, untimed): the same COPY into the real table,
    with its guard trigger and the plan year's other lines."""
    cols = ", ".join(PAYOUT_COLUMNS)
    async with await psycopg.AsyncConnection.connect(pg.url) as conn:
        if table == FLOOR_TABLE:
            await conn.execute(f"TRUNCATE {FLOOR_TABLE}")
        else:
            await conn.execute(f"DELETE FROM {table} WHERE cycle_id = %s", (CYCLE,))
        await conn.commit()
        if table != FLOOR_TABLE:
            await conn.set_autocommit(True)
            await conn.execute(f"VACUUM (ANALYZE) {table}")
            await conn.execute("CHECKPOINT")
            await conn.set_autocommit(False)
        cpu = clock.snapshot()  # type: ignore[attr-defined]
        t = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    await cp.write(block)
        return time.perf_counter() - t, clock.delta(cpu, clock.snapshot())  # type: ignore[attr-defined]


def warm_pool(plan: IncentivePlan, n: int) -> float:
    """Start the activity's process pool and import the engine in every process, before the clock (cold start)."""
    from activities import payout_rows, sales
    from domain.incentives import IncentiveInput

    t = time.perf_counter()
    executor = payout_rows._executor(n)
    if executor is not None:
        one = [IncentiveInput(employee_id="W", currency="CNY")]
        people = [sales.PersonPeriod(person=one[0])]
        jobs = [executor.submit(sales._sales_chunk_rows, plan.model_dump_json(), YEAR, START, date(2025, 6, 30),
                                "WARM", PERIOD, one, people) for _ in range(2 * payout_rows._pool_size)]
        for f in jobs:
            f.result()
    return time.perf_counter() - t


def _timed_chunk(*args: object) -> tuple[float, float]:
    """In a worker process: the CPU seconds of one chunk, and of the collector's pause state (for --profile)."""
    from activities import sales

    t = time.process_time()
    sales._sales_chunk_rows(*args)
    return time.process_time() - t, float(gc.isenabled())


def profile_chunk(config: object, inputs: list, people: list, deals: list, sample: int) -> str:
    """cProfile of one process running the activity's chunk work (credit, settle, PayoutLines, COPY encoding)."""
    from activities import sales

    plan = config.incentive_plan  # type: ignore[attr-defined]
    n = min(sample, len(inputs))
    routed = sales.route_deals(deals, [i.employee_id for i in inputs[:n]], n).get(0, [])
    args = (plan.model_dump_json(), YEAR, START, date(2025, 6, 30), CYCLE, PERIOD, inputs[:n], people[:n], routed)
    sales._sales_chunk_rows(*args)  # the plan parsed and cached, as in a warm worker
    import pickle

    packed = (*args[:6], None, sales._SentPeople(people[:n]), routed)  # as copy_first_sales_lines sends them
    t = time.process_time()
    sent = pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)
    dumped = time.process_time() - t
    t = time.process_time()
    pickle.loads(sent)
    loaded = time.process_time() - t
    gc.disable()  # as in the worker processes
    t = time.process_time()
    sales._sales_chunk_rows(*args)
    plain = time.process_time() - t
    prof = cProfile.Profile()
    prof.enable()
    sales._sales_chunk_rows(*args)
    prof.disable()
    gc.enable()
    from activities import payout_rows

    pool = payout_rows._executor(payout_rows.PARALLEL_MIN)
    in_worker = [pool.submit(_timed_chunk, *args).result()[0] for _ in range(4)] if pool is not None else []
    out = io.StringIO()
    out.write(f"the same chunk in a worker process, one at a time: {[round(1e6 * x / n) for x in in_worker]} us/person\n")
    out.write(f"chunk of {n} people ({len(routed)} deals): {1e6 * plain / n:.0f} us/person CPU unprofiled; its arguments "
              f"pickled {1e6 * dumped / n:.0f} us/person (the activity's process), unpickled {1e6 * loaded / n:.0f} "
              f"us/person (the worker), {len(sent) // n} bytes/person\n")
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    return out.getvalue()


async def activity_main(args: argparse.Namespace) -> int:
    """The default: the cycle's own activity path against the plain COPY floor of the same rows, same run."""
    import tempfile

    from activities import payout_rows
    from bench.incentives_bench import CpuClock
    from domain.incentives import IncentiveInput

    n, d = args.employees, args.deals
    print(f"deals bench (activity path): {n} employees × {d} deals, machine {machine()}, load "
          f"{Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    plan_data = json.loads(load_plan_file(ROOT / "examples" / "plan-deals.yaml").incentive_plan.model_dump_json())
    config = cycle_config(plan_data)
    plan = config.incentive_plan  # type: ignore[attr-defined]
    pg = start_postgres()
    code = 1
    tmp = Path(tempfile.mkdtemp(prefix="deals-bench-"))
    try:
        t = time.perf_counter()
        prepare_db(pg.url, n)
        prepare_cycle_db(pg.url, n, d, config.model_dump_json())  # type: ignore[attr-defined]
        inputs = [IncentiveInput(employee_id=f"E{i:06d}", grade="K1", currency="CNY") for i in range(n)]
        gc.freeze()
        print(f"database prepared in {time.perf_counter() - t:.1f} s (not timed)", flush=True)
        if args.profile:
            from activities.sales import sales_inputs

            async with await psycopg.AsyncConnection.connect(pg.url) as conn, conn.cursor() as cur:
                sales = await sales_inputs(cur, CYCLE, config, inputs[: args.profile_sample])
            print(profile_chunk(config, inputs, sales.people, sales.deals, args.profile_sample), flush=True)
            del sales
        cold = warm_pool(plan, n)
        clock = CpuClock(pg)
        settle_db(pg.url, f"payout_line, {FLOOR_TABLE}")
        run = await activity_path(pg, config, inputs, clock)
        cpu = run["cpu"]
        print(f"(c) activity path: sales_inputs + copy_first_sales_lines {run['s']:.2f} s, {run['written']} lines from "
              f"{run['deals']} deals (reads {run['read_s']:.2f} s, CPU s {run['read_cpu']}); CPU s {cpu}; pool cold "
              f"start {cold:.2f} s (before the clock)", flush=True)
        rows_file = tmp / "rows.copy"
        with psycopg.connect(pg.url) as conn, conn.cursor() as cur, rows_file.open("wb") as f:
            with cur.copy(f"COPY (SELECT {', '.join(PAYOUT_COLUMNS)} FROM payout_line WHERE cycle_id = %s) TO STDOUT",
                          (CYCLE,)) as cp:
                for block in cp:
                    f.write(block)
            kinds = dict(cur.execute("SELECT line_type, count(*) FROM payout_line WHERE cycle_id = %s GROUP BY 1",
                                     (CYCLE,)).fetchall())
        floors = []
        for k in (1, 2):
            settle_db(pg.url, f"payout_line, {FLOOR_TABLE}")
            floors.append(await floor_from_file(pg, rows_file, clock))
            print(f"(b) floor, run {k}: plain COPY of the same rows {floors[-1][0]:.2f} s (CPU s {floors[-1][1]})",
                  flush=True)
        with psycopg.connect(pg.url) as conn:
            floor_written = conn.execute(f"SELECT count(*) FROM {FLOOR_TABLE}").fetchone()[0]
        assert floor_written == run["written"] == sum(kinds.values()), (floor_written, run["written"], kinds)
        real_s, real_cpu = await floor_from_file(pg, rows_file, clock, "payout_line")
        print(f"(b') the same plain COPY into payout_line itself (its guard trigger, Q1's lines): {real_s:.2f} s (CPU s "
              f"{real_cpu}), not the floor", flush=True)
        floor_s = statistics.fmean(f[0] for f in floors)
        floor_cpu = statistics.fmean(f[1]["total"] for f in floors)
        ratio, cpu_ratio = run["s"] / floor_s, cpu["total"] / floor_cpu
        copy_s = run["s"] - run["read_s"]
        verdict = "PASS" if ratio <= 2 else "FAIL"
        load = Path("/proc/loadavg").read_text().split()[:3]
        workers = cpu.get("worker_processes", 0.0)
        print(f"\nSUMMARY deals bench (activity path): {n} employees × {d} deals, {run['written']} lines {kinds}: "
              f"sales_inputs + copy_first_sales_lines {run['s']:.2f} s = {ratio:.2f} x floor (reads {run['read_s']:.2f} s, "
              f"then chunks + COPY {copy_s:.2f} s = {copy_s / floor_s:.2f} x); CPU {cpu['total']:.2f} s = "
              f"{cpu_ratio:.2f} x floor CPU {floor_cpu:.2f} s (workers {workers:.2f} s = {1e6 * workers / n:.0f} "
              f"us/person, PostgreSQL {cpu.get('postgres', 0.0):.2f} s, this process {cpu['bench_loop']:.2f} + "
              f"{cpu['bench_threads']:.2f} s); floor {floor_s:.2f} s (runs {floors[0][0]:.2f} / {floors[1][0]:.2f}; "
              f"into payout_line itself {real_s:.2f} s, CPU {real_cpu['total']:.2f} s); "
              f"target <= 2: {verdict}; peak RSS {peak_rss_mb()} MB (this process); load {load}", flush=True)
        emit_json({"bench": "deals-activity", "date": now_iso(), "machine": machine(), "employees": n,
                   "deals_each": d, "lines": run["written"], "kinds": kinds, "activity_s": round(run["s"], 3),
                   "read_s": round(run["read_s"], 3), "read_cpu_s": run["read_cpu"], "activity_cpu_s": cpu,
                   "floor_s": round(floor_s, 3), "floor_runs_s": [round(f[0], 3) for f in floors],
                   "floor_cpu_s": [f[1] for f in floors], "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
                   "copy_into_payout_line_s": round(real_s, 3), "copy_into_payout_line_cpu_s": real_cpu,
                   "pool_cold_start_s": round(cold, 3), "target": 2, "passed": ratio <= 2,
                   "peak_rss_mb": peak_rss_mb(), "load": load})
        code = 0
    except Exception:  # noqa: BLE001 - report and leave with a failure code
        traceback.print_exc()
    finally:
        payout_rows.shutdown_pool()
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()
        pg.stop()
    return code


def main(args: argparse.Namespace) -> int:
    if args.engine:
        return engine_main(args)
    import asyncio

    return asyncio.run(activity_main(args))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000)
    p.add_argument("--deals", type=int, default=20)
    p.add_argument("--engine", action="store_true",
                   help="the domain engine alone (serial, and forked workers) instead of the cycle's activity path")
    p.add_argument("--workers", type=int, default=2, help="--engine: worker processes of the parallel path (0: skip it)")
    p.add_argument("--profile", action="store_true", help="profile the engine (the chunk work) on a sample")
    p.add_argument("--profile-sample", type=int, default=5_000, help="employees in the profiled sample")
    return p.parse_args(argv)


if __name__ == "__main__":
    finish(main(parse_args()))
