"""Incentives benchmark: compute and persist a cycle's payout lines for N employees, against plain COPY.

    python bench/incentives_bench.py [--employees 100000] [--profile] [--deals 20]

With ``--deals D`` it measures issue 13's claim instead ("100,000 employees × 20 deals ≤ 2× the plain COPY floor"):
bench/deals_bench.py's default, the cycle's activity path for a sales cycle (see there and bench/README.md).

Claim under test: "Computing and persisting a cycle's incentive lines for 100,000 employees takes
seconds". N IncentiveInput rows are built in memory (not timed), then, in one process against one
migrated database:

(b) the floor, first: the same rows the engine writes (same values, JSON already serialized,
    prepared before the clock starts) written with one plain COPY into ``bench_payout_line_floor``,
    a LOGGED table identical to payout_line (LIKE payout_line INCLUDING ALL: columns, defaults,
    primary key and indexes, plus the same two foreign keys), committed;
(a) the split path, as specified: ``compute_payouts`` with the demo plan (demo/cycle.yaml
    incentive_plan) in this process, then the lines persisted by the very same
    ``CycleActivities._insert_lines`` (COPY into a temp table, INSERT ... ON CONFLICT into
    payout_line), one transaction, committed;
(s) the streamed path, when the code has it (activities/payout_rows.copy_first_lines, what
    compute_incentives does for a cycle's first lines): chunks computed in worker processes and
    streamed into one COPY into payout_line, one transaction, committed. Its process pool is
    started and warmed before the clock (as in a worker that has computed once); the cold start
    is reported separately;
(b) the floor again; the floor is the mean of both runs.

Results: total / floor for each path, target <= 3 (the streamed path is the headline when it
exists: it is what the activity runs), and the CPU seconds of the floor and the streamed path (this
process, the pool's workers, PostgreSQL), steadier than wall clock on a shared machine. The FK rows
(employees, review_cycle rows) are inserted before any timing; before each phase, untimed, the
written tables are vacuumed and a checkpoint taken, so no phase pays for the previous one's
background work. When compute dominates the split path, or with --profile, compute_payouts is
profiled on a sample and its hot spots are printed.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import statistics
import threading
import time
import traceback
from datetime import date
from decimal import Decimal

import psycopg
import yaml

from activities.base import dumps
from activities.cycle import PAYOUT_COLUMNS, CycleActivities
from bench.common import ROOT, Postgres, _children, _cpu, emit_json, finish, machine, now_iso, peak_rss_mb, start_postgres
from domain.incentives import IncentiveInput, IncentivePlan, PayoutLine, compute_payouts

try:  # the streamed first-lines path, where the code has it
    from activities import payout_rows
except ImportError:  # pragma: no cover - older trees
    payout_rows = None

GRADES = ("K1", "K2", "K3")
FLOOR_TABLE = "bench_payout_line_floor"


def demo_plan() -> tuple[IncentivePlan, date, date, str]:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    period = data["period"]
    return (IncentivePlan.model_validate(data["incentive_plan"]), date.fromisoformat(str(period["start"])),
            date.fromisoformat(str(period["end"])), str(period["label"]))


def build_inputs(n: int, period_start: date) -> list[IncentiveInput]:
    """Realistic spread (seeded): every rating level, attainments with 4 decimals across the curves
    (so few values repeat, as in real data), revenue to the cent, 1 in 10 joined mid-period."""
    rnd = random.Random(20260701)
    inputs = []
    for i in range(n):
        start = date(period_start.year, period_start.month, 1 + rnd.randrange(28)) if i % 10 == 0 else None
        inputs.append(IncentiveInput(
            employee_id=f"E{i:06d}", grade=GRADES[i % 3], currency="CNY", rating_level=1 + rnd.randrange(5),
            attainment={
                "sales_attainment": Decimal(rnd.randint(6_000, 16_000)) / 10_000,
                "customer_retention": Decimal(rnd.randint(6_500, 10_000)) / 10_000,
                "new_customer_acquisition": Decimal(rnd.randint(3_000, 17_000)) / 10_000,
            },
            revenue=Decimal(rnd.randint(5_000_000, 300_000_000)) / 100,
            employment_start=start,
        ))
    return inputs


def prepare_db(url: str, cycle_ids: list[str], plan_label: str, period_start: date, period_end: date, n: int) -> None:
    """Employees and the review_cycle rows the lines refer to (before timing), and the floor's table."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE incoming_employee (LIKE employee INCLUDING DEFAULTS)")
        with cur.copy("COPY incoming_employee (id, name, role, grade, currency, timezone) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((f"E{i:06d}", f"Employee {i}", "kam", GRADES[i % 3], "CNY", "Asia/Shanghai"))
        cur.execute("INSERT INTO employee SELECT * FROM incoming_employee ON CONFLICT (id) DO NOTHING")
        for cycle_id in cycle_ids:
            cur.execute(
                """INSERT INTO review_cycle (id, name, cadence, period_label, period_start, period_end, timezone,
                                             config, config_sha256, participant_count, status, workflow_id)
                   VALUES (%s, 'incentives bench', 'quarterly', %s, %s, %s, 'Asia/Shanghai', '{}', '-', %s,
                           'incentives', %s)""",
                (cycle_id, plan_label, period_start, period_end, n, f"cycle:{cycle_id}"),
            )
        cur.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cur.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE payout_line INCLUDING ALL)")
        cur.execute(f"ALTER TABLE {FLOOR_TABLE} ADD FOREIGN KEY (cycle_id) REFERENCES review_cycle (id)")
        cur.execute(f"ALTER TABLE {FLOOR_TABLE} ADD FOREIGN KEY (employee_id) REFERENCES employee (id)")
        cur.execute("ANALYZE employee")
        cur.execute("ANALYZE review_cycle")


async def persist_engine(url: str, cycle_id: str, period: str, lines: list[PayoutLine]) -> float:
    """The activity's own code path: _insert_lines inside one transaction, committed."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        t = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur:
            await CycleActivities._insert_lines(cur, cycle_id, period, lines, 0)
        return time.perf_counter() - t


def _thread_cpu(native_id: int) -> float:
    """CPU seconds of one thread of this process."""
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """CPU seconds of this process (its event loop, and its other threads: the process pool's feeder and
    manager), copy_first_lines' worker processes and PostgreSQL (every process of it).

    On a shared machine the wall clock depends on the neighbours; the CPU each side spends does much less.
    Read from /proc, so a backend is counted while it lives and, once reaped, in the postmaster's children time.
    """

    def __init__(self, pg: Postgres) -> None:
        self.postmaster = pg.postmaster_pid()

    def snapshot(self) -> dict[str, float]:
        pool = getattr(payout_rows, "_pool", None) if payout_rows is not None else None
        process = sum(os.times()[:2])
        loop = _thread_cpu(threading.main_thread().native_id)
        snap = {"bench_loop": loop, "bench_threads": process - loop,  # the event loop; the executor's threads
                "worker_processes": sum(_cpu(pid) for pid in (getattr(pool, "_processes", None) or {}))}
        if self.postmaster:
            snap["postgres"] = _cpu(self.postmaster, True) + sum(_cpu(p) for p in _children(self.postmaster))
        return snap

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        out = {k: round(after[k] - before[k], 2) for k in after}
        out["total"] = round(sum(out.values()), 2)
        return out


async def stream_engine(url: str, plan: IncentivePlan, start: date, end: date, period: str, cycle_id: str,
                        inputs: list[IncentiveInput], clock: CpuClock) -> tuple[float, int, dict[str, float]]:
    """What compute_incentives runs for a cycle's first lines: copy_first_lines in one transaction, committed."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cpu = clock.snapshot()
        t = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur:
            written, error = await payout_rows.copy_first_lines(cur, plan, start, end, period, cycle_id, inputs)
            if error is not None:
                raise RuntimeError(f"copy_first_lines refused the inputs: {error}")
        elapsed = time.perf_counter() - t
        return elapsed, written, clock.delta(cpu, clock.snapshot())


def warm_stream_pool(plan: IncentivePlan, start: date, end: date, period: str, inputs: list[IncentiveInput]) -> float:
    """Start copy_first_lines' process pool and import the domain in every process (the cold start)."""
    t = time.perf_counter()
    executor = payout_rows._executor(len(inputs))
    if executor is not None:
        workers = getattr(executor, "_max_workers", 2)
        futures = [executor.submit(payout_rows.compute_chunk, plan.model_dump_json(), start, end, "WARM", period,
                                   inputs[i:i + 1]) for i in range(workers * 2)]
        for f in futures:
            f.result()
    return time.perf_counter() - t


def settle(url: str) -> None:
    """Untimed, before every measured phase: VACUUM (ANALYZE) the tables the phases write, then CHECKPOINT.

    Otherwise the autovacuum and the dirty buffers a phase leaves behind (200,000 rows) land on whichever
    phase comes next, more than a second of PostgreSQL CPU that belongs to neither.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) payout_line, {FLOOR_TABLE}")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # a configured server, without pg_checkpoint
            pass


async def persist_floor(url: str, rows: list[tuple], clock: CpuClock) -> tuple[float, dict[str, float]]:
    cols = ", ".join(PAYOUT_COLUMNS)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(f"TRUNCATE {FLOOR_TABLE}")
        await conn.commit()
        cpu = clock.snapshot()
        t = time.perf_counter()
        async with conn.transaction(), conn.cursor() as cur:
            async with cur.copy(f"COPY {FLOOR_TABLE} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(row)
        elapsed = time.perf_counter() - t
        return elapsed, clock.delta(cpu, clock.snapshot())


def profile_compute(plan: IncentivePlan, start: date, end: date, cycle_id: str, inputs: list[IncentiveInput]) -> str:
    prof = cProfile.Profile()
    prof.enable()
    compute_payouts(plan, start, end, cycle_id, inputs)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    out.write(f"== compute_payouts profile on {len(inputs)} inputs: by self time ==\n")
    stats.sort_stats("tottime").print_stats(22)
    out.write("== by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(28)
    return out.getvalue()


async def main(args: argparse.Namespace) -> int:
    n = args.employees
    print(f"incentives bench: {n} employees, machine {machine()}", flush=True)
    pg = start_postgres()
    code = 1
    try:
        plan, start, end, label = demo_plan()
        tag = f"{int(time.time()) % 1000000:06d}"
        cycle_id, stream_id = f"INC{tag}", f"INS{tag}"
        t = time.perf_counter()
        inputs = build_inputs(n, start)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        prepare_db(pg.url, [cycle_id, stream_id], label, start, end, n)
        print(f"built {n} IncentiveInput in {build_s:.2f} s; employees and review_cycle rows written in "
              f"{time.perf_counter() - t:.2f} s (not timed)", flush=True)

        # The floor's rows: the engine's values, computed and serialized here, before any clock.
        lines = compute_payouts(plan, start, end, cycle_id, inputs)
        floor_rows = [
            (ln.idempotency_key, cycle_id, ln.employee_id, ln.line_type, ln.amount, ln.currency, label, ln.plan_id,
             ln.plan_version, 0, ln.explanation, dumps(ln.inputs), "computed")
            for ln in lines
        ]
        del lines
        clock = CpuClock(pg)
        settle(pg.url)
        floor_1, floor_cpu_1 = await persist_floor(pg.url, floor_rows, clock)
        print(f"(b) floor, run 1: plain COPY of {len(floor_rows)} rows {floor_1:7.2f} s (CPU s {floor_cpu_1})", flush=True)

        # (a) the split path
        settle(pg.url)
        t = time.perf_counter()
        lines = compute_payouts(plan, start, end, cycle_id, inputs)
        compute_s = time.perf_counter() - t
        persist_s = await persist_engine(pg.url, cycle_id, label, lines)
        print(f"(a) split path: compute_payouts {compute_s:.2f} s + _insert_lines {persist_s:.2f} s", flush=True)

        # (s) the streamed path (what compute_incentives runs for a cycle's first lines), if present
        stream_s = cold_s = stream_cpu = None
        if payout_rows is not None and hasattr(payout_rows, "copy_first_lines"):
            cold_s = warm_stream_pool(plan, start, end, label, inputs)
            settle(pg.url)
            stream_s, streamed, stream_cpu = await stream_engine(pg.url, plan, start, end, label, stream_id, inputs,
                                                                 clock)
            assert streamed == len(lines), (streamed, len(lines))
            print(f"(s) streamed path: copy_first_lines {stream_s:.2f} s (process pool warmed before, cold start "
                  f"{cold_s:.2f} s; CPU s {stream_cpu})", flush=True)

        settle(pg.url)
        floor_2, floor_cpu_2 = await persist_floor(pg.url, floor_rows, clock)
        print(f"(b) floor, run 2: {floor_2:7.2f} s (CPU s {floor_cpu_2})", flush=True)
        floor_s = statistics.fmean([floor_1, floor_2])
        floor_cpu = statistics.fmean([floor_cpu_1["total"], floor_cpu_2["total"]])
        with psycopg.connect(pg.url) as conn:
            def count(sql: str, *args) -> int:
                return conn.execute(sql, args).fetchone()[0]

            written = count("SELECT count(*) FROM payout_line WHERE cycle_id = %s", cycle_id)
            floor_written = count(f"SELECT count(*) FROM {FLOOR_TABLE}")
            avg_row = conn.execute(
                "SELECT avg(length(explanation))::int, avg(length(inputs::text))::int FROM payout_line "
                "WHERE cycle_id = %s", (cycle_id,)).fetchone()
            if stream_s is not None:
                assert count("SELECT count(*) FROM payout_line WHERE cycle_id = %s", stream_id) == len(lines)
        assert written == len(lines) == floor_written, (written, len(lines), floor_written)
        # What the split persist spends on JSON alone (it runs inside _insert_lines, per row).
        t = time.perf_counter()
        for ln in lines[: min(len(lines), 50_000)]:
            dumps(ln.inputs)  # what jsonb(line.inputs) runs per row inside _insert_lines
        json_s = (time.perf_counter() - t) * len(lines) / min(len(lines), 50_000)

        split_total = compute_s + persist_s
        split_ratio = split_total / floor_s
        stream_ratio = stream_s / floor_s if stream_s is not None else None
        ratio = stream_ratio if stream_ratio is not None else split_ratio
        verdict = "PASS" if ratio <= 3 else "FAIL"
        print(f"lines: {len(lines)} ({sum(1 for x in lines if x.line_type == 'bonus')} bonus, "
              f"{sum(1 for x in lines if x.line_type == 'commission')} commission); average explanation "
              f"{avg_row[0]} chars, inputs JSON {avg_row[1]} chars", flush=True)
        print(f"(a) compute_payouts   {compute_s:7.2f} s  ({1e6 * compute_s / n:.0f} us/employee, one process)", flush=True)
        print(f"(a) persist lines     {persist_s:7.2f} s  (_insert_lines: COPY to temp table + INSERT ... ON CONFLICT, "
              f"commit; of which ~{json_s:.2f} s is JSON encoding of inputs)", flush=True)
        print(f"(a) split total       {split_total:7.2f} s  = {split_ratio:.2f} x floor", flush=True)
        if stream_s is not None:
            print(f"(s) streamed total    {stream_s:7.2f} s  = {stream_ratio:.2f} x floor (copy_first_lines, "
                  f"{getattr(payout_rows, 'CHUNK', '?')} employees per chunk, pool warm)", flush=True)
            print(f"(s) streamed CPU      {stream_cpu['total']:7.2f} s  = {stream_cpu['total'] / floor_cpu:.2f} x floor CPU "
                  f"{floor_cpu:.2f} s (this process, pool workers and PostgreSQL; steadier than wall clock on a "
                  f"shared machine)", flush=True)
        print(f"(b) floor: plain COPY {floor_s:7.2f} s  (mean of {floor_1:.2f} s before and {floor_2:.2f} s after; "
              f"logged table identical to payout_line incl. indexes and FKs)", flush=True)
        hot = None
        if args.profile or compute_s > persist_s:
            sample = inputs[: min(n, args.profile_sample)]
            hot = profile_compute(plan, start, end, cycle_id + "P", sample)
            print(hot, flush=True)
        record = {
            "bench": "incentives", "date": now_iso(), "machine": machine(), "employees": n, "lines": len(lines),
            "build_inputs_s": round(build_s, 3), "compute_s": round(compute_s, 3), "persist_s": round(persist_s, 3),
            "split_total_s": round(split_total, 3), "split_ratio": round(split_ratio, 3),
            "stream_total_s": None if stream_s is None else round(stream_s, 3),
            "stream_ratio": None if stream_ratio is None else round(stream_ratio, 3),
            "stream_pool_cold_start_s": None if cold_s is None else round(cold_s, 3),
            "floor_s": round(floor_s, 3), "floor_runs_s": [round(floor_1, 3), round(floor_2, 3)],
            "floor_cpu_s": [floor_cpu_1, floor_cpu_2], "stream_cpu_s": stream_cpu,
            "stream_cpu_ratio": None if stream_cpu is None else round(stream_cpu["total"] / floor_cpu, 3),
            "floor_table": "logged, LIKE payout_line INCLUDING ALL + same FKs", "json_encode_s_est": round(json_s, 3),
            "ratio_total_over_floor": round(ratio, 3), "headline": "streamed" if stream_s is not None else "split",
            "target": 3, "passed": ratio <= 3, "peak_rss_mb": peak_rss_mb(), "profiled_compute": hot is not None,
        }
        stream_text = (f"streamed path (copy_first_lines) {stream_s:.2f} s = {stream_ratio:.2f} x floor (CPU "
                       f"{stream_cpu['total']:.2f} s = {stream_cpu['total'] / floor_cpu:.2f} x floor CPU); "
                       if stream_s is not None else "")
        print(f"\nSUMMARY incentives bench: {n} employees, {len(lines)} lines: {stream_text}split path compute "
              f"{compute_s:.2f} s + persist {persist_s:.2f} s = {split_total:.2f} s = {split_ratio:.2f} x floor; floor "
              f"(plain COPY) {floor_s:.2f} s; headline ratio {ratio:.2f} (target <= 3: {verdict}); peak RSS "
              f"{peak_rss_mb()} MB", flush=True)
        emit_json(record)
        code = 0
    except Exception:  # noqa: BLE001 - report and leave with a failure code
        buf = io.StringIO()
        traceback.print_exc(file=buf)
        print(buf.getvalue(), file=sys.stderr, flush=True)
    finally:
        # copy_first_lines keeps a process pool; shut it down before os._exit, which would orphan its processes.
        pool = getattr(payout_rows, "_pool", None) if payout_rows is not None else None
        try:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            pg.stop()
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000)
    p.add_argument("--profile", action="store_true", help="always profile compute_payouts on a sample")
    p.add_argument("--profile-sample", type=int, default=20_000, help="inputs in the profiled sample")
    p.add_argument("--deals", type=int, default=None, metavar="D",
                   help="issue 13's claim instead: a sales cycle of --employees people × D deals each through the "
                        "cycle's activity path, against the plain COPY of the same rows (runs bench/deals_bench.py)")
    return p.parse_args(argv)


if __name__ == "__main__":
    cli = parse_args()
    if cli.deals is not None:  # "bench/incentives_bench.py with deals" (issue 13) is deals_bench's activity path
        from bench import deals_bench

        extra = ["--profile", "--profile-sample", str(min(cli.profile_sample, 5_000))] if cli.profile else []
        finish(deals_bench.main(deals_bench.parse_args(["--employees", str(cli.employees), "--deals", str(cli.deals),
                                                        *extra])))
    finish(asyncio.run(main(cli)))
