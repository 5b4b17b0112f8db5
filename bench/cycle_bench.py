"""Cycle benchmark: a whole simulated review cycle (engine) against a bare Temporal floor, same run.

    python bench/cycle_bench.py [--participants 500] [--rounds 1] [--concurrency 64] [--profile]

ENGINE: an organisation of N KAMs (N/5 managers, one key account and one contact per KAM, KPI
actuals for 2026-Q3) is bulk-loaded into PostgreSQL; a cycle is created from demo/cycle.yaml with
deadlines of an hour and no reminders, started, and a simulated crowd (at most --concurrency
participants in flight) submits every self-review, manager score and survey answer through
services.tasks (real Updates). Then HR finalizes calibration and payroll approves; the clock runs
from start_cycle to the cycle workflow's result.

FLOOR (bench/floor.py): per participant one workflow, three Updates each writing one row, one more
row before completion, through the same kind of worker, with the same crowd concurrency.

Floor and engine alternate in the same process against the same servers, ABBA (floor, engine, engine, floor,
... for --rounds; an even number balances a drifting machine); the result is engine/floor (issue 11's targets:
>= 1.0 up to 500 participants, >= 0.9 above, e.g. 10,000; a submission's round-trip p95 while the cycle opens
<= 2x the floor's). A small untimed warm-up of both comes first. --profile adds cProfile of every Python thread
(slower; rates then say nothing).
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import io
import statistics
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from bench.common import (
    ROOT,
    AllThreadsProfiler,
    CpuMeter,
    Marks,
    emit_json,
    finish,
    machine,
    now_iso,
    peak_rss_mb,
    print_profile,
    start_postgres,
    start_temporal,
)
from bench.floor import floor_worker, run_floor_crowd
from domain.cycle import CycleConfig
from services import tasks
from services.cycles import approve_payouts, create_cycle, finalize_calibration, start_cycle
from services.db import libpq_url
from services.errors import NotFound, TryLater
from services.settings import get_settings
from services.worker_runtime import worker_tuning
from worker import running_worker
from workflows.cycle import CycleWorkflow
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
)

PERIOD = "2026-Q3"

# After its result a run leaves the server work that is due later: every workflow task's timeout timers (10 s)
# and every ordinary activity's start-to-close timer (15 s, ONE_ROW) still fire and are processed. Without a pause, the
# floor's share of it ran inside the engine's measurement, slowing the engine and counted as its CPU. The
# pause is not in the rates; its CPU is counted to the run that caused it.
SETTLE_S = 16.0


def rate_target(participants: int) -> float:
    """Issue 11's target for engine/floor: a small cycle as fast as the floor, a very large one within 10 %."""
    return 1.0 if participants <= 500 else 0.9


def rss_mb() -> float:
    """This process's resident memory now (the worker runs in it): VmRSS from /proc."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class RssSampler:
    """The worker's RSS over a run, sampled every half second: its peak and where it started."""

    def __init__(self) -> None:
        self.start = rss_mb()
        self.peak = self.start
        self._task: asyncio.Task | None = None

    async def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            await asyncio.sleep(0.5)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.ensure_future(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_mb())

    def figures(self) -> dict[str, float]:
        return {"rss_start_mb": self.start, "rss_peak_mb": self.peak}


# SDK worker metrics (Prometheus, scraped before and after each run): cache hits and misses, and where workflow
# tasks spend their time. A miss is a replay of the whole history; schedule-to-start is the wait in the queue.
SDK_METRICS = ("temporal_sticky_cache_hit", "temporal_sticky_cache_miss", "temporal_sticky_cache_total_forced_eviction",
               "temporal_workflow_task_schedule_to_start_latency", "temporal_workflow_task_execution_latency",
               "temporal_workflow_task_replay_latency", "temporal_workflow_task_queue_poll_succeed")


class SdkMetrics:
    """The SDK's Prometheus endpoint for this process's client and workers."""

    def __init__(self) -> None:
        import socket

        from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{self.port}")))

    def snapshot(self) -> dict[str, float]:
        """Counters, and histograms' _sum (ms) and _count, summed over labels, of SDK_METRICS."""
        import urllib.request

        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        except OSError:
            return {}
        out: dict[str, float] = defaultdict(float)
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name_labels, value = line.rsplit(" ", 1)
            name = name_labels.split("{", 1)[0]
            base = name.removesuffix("_sum").removesuffix("_count")
            if base in SDK_METRICS and not name.endswith("_bucket"):
                out[name] += float(value)
        return dict(out)

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        d = {k: round(v - before.get(k, 0.0), 1) for k, v in after.items()}
        for k in list(d):
            if k.endswith("_count") and d[k]:
                d[k.removesuffix("_count") + "_mean_ms"] = round(d.get(k.removesuffix("_count") + "_sum", 0) / d[k], 1)
        return d


def percentiles(durations: list[float]) -> dict[str, float | int | None]:
    """p50/p95/max in milliseconds of round trips given in seconds."""
    if not durations:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    q = statistics.quantiles(durations, n=20, method="inclusive") if len(durations) > 1 else durations * 19
    return {"n": len(durations), "p50_ms": round(1000 * statistics.median(durations), 1),
            "p95_ms": round(1000 * q[18], 1), "max_ms": round(1000 * max(durations), 1)}
COMPETENCIES = ["communication", "logical_analysis", "coordination", "market_analysis", "product_knowledge",
                "customer_relationship", "sales_management"]


# -- the organisation, bulk-loaded with COPY -------------------------------------------------------


@dataclass
class Org:
    tag: str
    kams: list[str]
    managers: list[str]
    manager_of: dict[str, str]
    contact_of: dict[str, str]


def seed_org(db_url: str, tag: str, n: int) -> Org:
    """N KAMs (grade K2), N/5 managers, one account and one contact per KAM, five KPI actuals each."""
    kams = [f"{tag}K{i:05d}" for i in range(n)]
    managers = [f"{tag}M{j:04d}" for j in range(max(1, n // 5))]
    manager_of = {k: managers[i % len(managers)] for i, k in enumerate(kams)}
    contact_of = {k: f"{tag}C{i:05d}" for i, k in enumerate(kams)}
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        with cur.copy("COPY employee (id, name, role, manager_id, grade, currency, timezone, hire_date) FROM STDIN") as cp:
            cp.write_row((f"{tag}HR", "Bench HR", "hr", None, None, "CNY", "Asia/Shanghai", None))
            cp.write_row((f"{tag}PAY", "Bench Payroll", "payroll", None, None, "CNY", "Asia/Shanghai", None))
            for m in managers:
                cp.write_row((m, f"Manager {m}", "manager", None, None, "CNY", "Asia/Shanghai", None))
            for k in kams:
                cp.write_row((k, f"KAM {k}", "kam", manager_of[k], "K2", "CNY", "Asia/Shanghai", "2020-01-01"))
        with cur.copy("COPY key_account (id, name, kam_id, annual_revenue, currency) FROM STDIN") as cp:
            for i, k in enumerate(kams):
                cp.write_row((f"{tag}A{i:05d}", f"Account of {k}", k, 1_000_000 + 10_000 * (i % 100), "CNY"))
        with cur.copy("COPY customer_contact (id, account_id, name, locale) FROM STDIN") as cp:
            for i, k in enumerate(kams):
                cp.write_row((contact_of[k], f"{tag}A{i:05d}", f"Contact of {k}", "zh-CN"))
        with cur.copy("COPY kpi_actual (employee_id, period, kpi_id, value) FROM STDIN") as cp:
            for i, k in enumerate(kams):
                for kpi, value in (
                    ("sales_attainment", 0.8 + 0.05 * (i % 9)), ("new_customer_acquisition", 0.6 + 0.2 * (i % 5)),
                    ("customer_retention", 0.85 + 0.02 * (i % 7)), ("complaint_rate", 0.005 * (i % 6)),
                    ("revenue", 400_000 + 50_000 * (i % 40)),
                ):
                    cp.write_row((k, PERIOD, kpi, round(value, 6)))
    return Org(tag, kams, managers, manager_of, contact_of)


def bench_config(cycle_id: str, org: Org, batch_size: int) -> CycleConfig:
    """demo/cycle.yaml with long deadlines, no reminders, and this organisation's KAMs."""
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data["id"] = cycle_id
    data["participants"] = {"managers": org.managers}
    data["batch_size"] = batch_size
    for phase in ("self_review", "manager_scoring", "customer_survey"):
        data["phases"][phase] = {"due_after": "1h", "reminders_before": [], "on_deadline": {"action": "close"}}
    return CycleConfig.model_validate(data)


# -- the engine run --------------------------------------------------------------------------------


async def wait_phase(client, cycle_id: str, phase: str, interval: float = 0.02, timeout: float = 1800) -> None:
    """HR (or payroll) acting as soon as the cycle reaches ``phase``: within 20 ms, so the crowd's people, not this
    poll, are what the run measures (it polled every 100 ms until session 28)."""
    handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
    deadline = time.monotonic() + timeout
    while True:
        status = await handle.query(CycleWorkflow.status)
        if status.phase == phase:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"cycle {cycle_id} still in phase {status.phase!r}, waited for {phase!r}")
        await asyncio.sleep(interval)


async def watch_opening(client, cycle_id: str, marks: Marks) -> None:
    """Mark when the cycle has started its last batch of reviews (the end of its opening), polling its status."""
    handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
    while True:
        await asyncio.sleep(0.5)
        try:
            status = await handle.query(CycleWorkflow.status)
        except Exception:  # noqa: BLE001 - not started yet, or the worker is busy: ask again
            continue
        if status.batches_total and status.batches_done >= status.batches_total:
            marks.mark("reviews_opened")
            return


def round_trip_figures(round_trips: list[tuple[str, float, float]], opened_at: float | None) -> dict[str, Any]:
    """p50/p95 of the manager scores' and surveys' round trips: all, and those issued while reviews were opening."""
    during = [d for _k, t, d in round_trips if opened_at is None or t < opened_at]
    return {"all": percentiles([d for _k, _t, d in round_trips]), "during_opening": percentiles(during),
            "manager_scoring": percentiles([d for k, _t, d in round_trips if k == "manager_scoring"])}


async def engine_crowd(client, db_url: str, cycle_id: str, org: Org, concurrency: int, marks: Marks,
                       round_trips: list[tuple[str, float, float]]) -> dict[str, int]:
    """Every participant's three submissions, at most ``concurrency`` participants in flight, through the service
    layer as the web app calls it: over one connection pool (the submissions read the task's version first)."""
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(libpq_url(db_url), min_size=2, max_size=10, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:
        return await _crowd(client, pool, cycle_id, org, concurrency, marks, round_trips)
    finally:
        await pool.close()


async def _crowd(client, db_url, cycle_id: str, org: Org, concurrency: int, marks: Marks,
                 round_trips: list[tuple[str, float, float]]) -> dict[str, int]:
    sem = asyncio.Semaphore(concurrency)
    stats = Counter()

    async def until_open(call, kind: str = ""):
        # The review workflows are started by the cycle's batch activities; until then an Update is NOT_FOUND.
        # Back off exponentially (50 ms to 1 s) so a waiting crowd does not load the server itself.
        delay = 0.05
        while True:
            t0 = time.perf_counter()
            try:
                result = await call()
            except (NotFound, TryLater):  # the service itself waits 10 s for a review to start first
                stats["not_found_retries"] += 1
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
                continue
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                stats["update_rpc_timeouts"] += 1  # same Update id: applied once, safe to repeat
                continue
            if "first_accept" not in marks.at:
                marks.mark("first_accept")
            if kind:  # the round trip of the attempt that was answered: what a person waits for
                round_trips.append((kind, t0 - marks.t0, time.perf_counter() - t0))
            return result

    async def one(i: int, kam: str) -> None:
        level = 1 + i % 3
        async with sem:
            await until_open(lambda: tasks.submit_self_review(
                client, db_url, cycle_id,
                SelfReviewSubmission(kam, dict.fromkeys(COMPETENCIES, 2), {"communication": "won two key deals"})))
            # The review is open by now (its self-review was accepted): these two are a person's round trip.
            await until_open(lambda: tasks.submit_manager_score(
                client, db_url, cycle_id, kam,
                ManagerScoreSubmission(org.manager_of[kam], dict.fromkeys(COMPETENCIES, level), potential=level)),
                "manager_scoring")
            await until_open(lambda: tasks.submit_survey(
                client, db_url, cycle_id, kam, SurveySubmission(org.contact_of[kam], 3 + i % 3, 5 + i % 6, "good partner")),
                "customer_survey")
            stats["submissions"] += 3

    await asyncio.gather(*(one(i, k) for i, k in enumerate(org.kams)))
    return dict(stats)


async def run_engine(client, db_url: str, cycle_id: str, org: Org, task_queue: str, concurrency: int,
                     batch_size: int, meter: CpuMeter | None, profiler: AllThreadsProfiler | None,
                     settle_s: float = 0.0) -> dict[str, Any]:
    created = await create_cycle(db_url, bench_config(cycle_id, org, batch_size), actor=f"{org.tag}HR")
    assert created.participants == len(org.kams), created
    round_trips: list[tuple[str, float, float]] = []
    async with running_worker(client, db_url, task_queue, get_settings().db_pool_size):  # as worker.py
        if profiler:
            profiler.start()
        cpu0 = meter.snapshot() if meter else {}
        marks = Marks()
        rss = RssSampler()
        rss.__enter__()  # exited at the result, before the worker stops
        await start_cycle(client, db_url, cycle_id, task_queue)
        watcher = asyncio.ensure_future(watch_opening(client, cycle_id, marks))
        crowd = await engine_crowd(client, db_url, cycle_id, org, concurrency, marks, round_trips)
        marks.mark("crowd_done")
        watcher.cancel()
        await wait_phase(client, cycle_id, "calibration")
        marks.mark("calibration")
        await finalize_calibration(client, db_url, cycle_id, f"{org.tag}HR")
        marks.mark("finalized")
        await wait_phase(client, cycle_id, "awaiting_approval")
        marks.mark("awaiting_approval")
        await approve_payouts(client, db_url, cycle_id, f"{org.tag}PAY")
        marks.mark("approved")
        result = await client.get_workflow_handle_for(CycleWorkflow.run, cycle_workflow_id(cycle_id)).result()
        seconds = marks.mark("result")
        rss.__exit__()
        await asyncio.sleep(settle_s)  # the server's deferred work for this run (see SETTLE_S), counted as its CPU
        cpu = CpuMeter.delta(cpu0, meter.snapshot()) if meter else {}
        stats = profiler.stop() if profiler else None
    assert result.reviews == len(org.kams) and result.approved_by == f"{org.tag}PAY", result
    return {"seconds": seconds, "rate": round(len(org.kams) / seconds, 2), "marks": marks.at, "cpu": cpu,
            "crowd": crowd, "payout_lines": result.payout_lines, "profile": stats,
            "round_trips": round_trip_figures(round_trips, marks.at.get("reviews_opened"))} | rss.figures()


async def run_floor(client, db_url: str, run_id: str, n: int, task_queue: str, concurrency: int,
                    meter: CpuMeter | None, profiler: AllThreadsProfiler | None, settle_s: float = 0.0) -> dict[str, Any]:
    async with floor_worker(client, libpq_url(db_url), task_queue, get_settings().db_pool_size,
                            cache_size=get_settings().workflow_cache_size):
        if profiler:
            profiler.start()
        cpu0 = meter.snapshot() if meter else {}
        marks = Marks()
        round_trips: list[tuple[str, float, float]] = []
        with RssSampler() as rss:
            rows, retries = await run_floor_crowd(client, task_queue, run_id, n, concurrency,
                                                  lambda: marks.mark("crowd_done"), round_trips)
            seconds = marks.mark("result")
        await asyncio.sleep(settle_s)  # as in run_engine
        cpu = CpuMeter.delta(cpu0, meter.snapshot()) if meter else {}
        stats = profiler.stop() if profiler else None
    assert rows == 4 * n, rows
    # The floor's second and third Updates (its "manager score" and "survey"), as the engine's are measured.
    return {"seconds": seconds, "rate": round(n / seconds, 2), "marks": marks.at, "cpu": cpu, "crowd": retries,
            "profile": stats, "round_trips": round_trip_figures(round_trips, None)} | rss.figures()


def verify_engine(db_url: str, cycle_id: str, n: int) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        def q(sql: str) -> int:
            return conn.execute(sql, (cycle_id,)).fetchone()[0]

        found = {
            "reviews_closed": q("SELECT count(*) FROM review WHERE cycle_id = %s AND status = 'closed'"),
            "tasks_done": q("SELECT count(*) FROM task WHERE cycle_id = %s AND status = 'done'"),
            "ratings_final": q("SELECT count(*) FROM calibrated_rating WHERE cycle_id = %s AND finalized"),
            "payout_lines_locked": q("SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'locked'"),
        }
    expected = {"reviews_closed": n, "tasks_done": 3 * n, "ratings_final": n, "payout_lines_locked": 2 * n}
    if found != expected:
        raise AssertionError(f"engine cycle {cycle_id} incomplete: found {found}, expected {expected}")
    return found


# -- what the histories say (untimed, after each run) ----------------------------------------------


async def history_profile(client, workflow_id: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = list(history.events)
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)
    scheduled: dict[int, tuple[str, float]] = {}
    activity_ms: dict[str, list[float]] = defaultdict(list)
    wft_sched: dict[int, float] = {}
    wft_ms: list[float] = []
    # Where a round trip's time goes: each workflow task's wait in the queue (scheduled -> started) and its run at the
    # worker (started -> completed, what the SDK reports to the server), each activity's wait and run likewise.
    started_at: dict[int, float] = {}
    parts: dict[str, list[float]] = defaultdict(list)
    child_start_ms: list[float] = []
    child_init: dict[int, float] = {}
    for e in events:
        t = e.event_time.ToMicroseconds() / 1000
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name, t)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            sched_id = e.activity_task_started_event_attributes.scheduled_event_id
            started_at[e.event_id] = t
            parts["activity_wait"].append(t - scheduled[sched_id][1])
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a = e.activity_task_completed_event_attributes
            name, t0 = scheduled[a.scheduled_event_id]
            activity_ms[name].append(t - t0)
            parts["activity_run"].append(t - started_at.get(a.started_event_id, t))
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_sched[e.event_id] = t
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started_at[e.event_id] = t
            parts["wft_wait"].append(t - wft_sched.get(e.workflow_task_started_event_attributes.scheduled_event_id, t))
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            a = e.workflow_task_completed_event_attributes
            wft_ms.append(t - wft_sched.get(a.scheduled_event_id, t))
            parts["wft_run"].append(t - started_at.get(a.started_event_id, t))
        elif e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            child_init[e.event_id] = t
        elif e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            child_start_ms.append(t - child_init[e.child_workflow_execution_started_event_attributes.initiated_event_id])
    span = (events[-1].event_time.ToMicroseconds() - events[0].event_time.ToMicroseconds()) / 1e6 if events else 0
    out: dict[str, Any] = {
        "events": len(events), "span_s": round(span, 2), "workflow_tasks": len(wft_ms),
        "wft_ms_mean": round(statistics.fmean(wft_ms), 1) if wft_ms else None,
        "activities": {k: {"n": len(v), "ms_mean": round(statistics.fmean(v), 1), "ms_max": round(max(v), 1)}
                       for k, v in activity_ms.items()},
        "timers_started": kinds.get("TIMER_STARTED", 0), "timers_canceled": kinds.get("TIMER_CANCELED", 0),
        "updates": kinds.get("WORKFLOW_EXECUTION_UPDATE_ACCEPTED", 0),
        # Local activities (the review's short writes since the local-writes patch) and patches: one marker each.
        "markers": kinds.get("MARKER_RECORDED", 0),
        "parts_ms": {k: [round(statistics.fmean(v), 1), len(v)] for k, v in parts.items()},
    }
    if child_start_ms:
        out["children"] = len(child_start_ms)
        out["child_start_ms_mean"] = round(statistics.fmean(child_start_ms), 1)
        out["child_start_ms_max"] = round(max(child_start_ms), 1)
    return out


PARTS_SAMPLE = 24  # histories read for the breakdown of where a workflow's tasks spend their time


def sample_indexes(n: int) -> list[int]:
    """The first, middle and last (the sample printed), then evenly spread others for the time breakdown."""
    return list(dict.fromkeys([0, n // 2, n - 1] + [i * n // PARTS_SAMPLE for i in range(PARTS_SAMPLE)]))


def parts_breakdown(profiles: list[dict[str, Any]]) -> dict[str, float]:
    """Mean ms per workflow task (its wait in the queue, its run) and per activity (wait, run) over the sample."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for h in profiles:
        for k, (mean, count) in h["parts_ms"].items():
            sums[k][0] += mean * count
            sums[k][1] += count
    return {k: round(total / count, 1) for k, (total, count) in sorted(sums.items()) if count}


async def engine_histories(client, cycle_id: str, org: Org) -> dict[str, Any]:
    reviews = [await history_profile(client, review_workflow_id(review_id_for(cycle_id, org.kams[i])))
               for i in sample_indexes(len(org.kams))]
    return {"cycle": await history_profile(client, cycle_workflow_id(cycle_id)), "review_sample": reviews[:3],
            "parts_ms": parts_breakdown(reviews)}


async def floor_histories(client, run_id: str, n: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    profiles = [await history_profile(client, f"floor:{run_id}:P{i:06d}") for i in sample_indexes(n)]
    return profiles[:3], parts_breakdown(profiles)


def describe_review(h: dict[str, Any]) -> str:
    acts = ", ".join(f"{k} {v['n']}x {v['ms_mean']} ms" for k, v in h["activities"].items())
    return (f"{h['events']} events, {h['workflow_tasks']} workflow tasks (mean {h['wft_ms_mean']} ms), "
            f"{h['updates']} updates, timers {h['timers_started']} started/{h['timers_canceled']} canceled, "
            f"{h['markers']} markers (local activities, patches); activities: {acts or 'none'}")


# -- main ------------------------------------------------------------------------------------------


def fmt_metrics(d: dict[str, float]) -> str:
    keep = {k.removeprefix("temporal_"): v for k, v in d.items() if not k.endswith("_sum")}
    return ", ".join(f"{k} {v:g}" for k, v in sorted(keep.items())) or "(none)"


def fmt_rt(p: dict[str, Any]) -> str:
    return f"n={p['n']} p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms, max {p['max_ms']} ms"


def fmt_cpu(cpu: dict[str, float], seconds: float, n: int) -> str:
    if not cpu:
        return "(no CPU accounting)"
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v >= 0.05)
    return (f"CPU {total:.1f} s over {seconds:.1f} s wall = {total / seconds:.2f} cores, "
            f"{1000 * total / n:.1f} ms/participant [{parts}]")


async def main(args: argparse.Namespace) -> int:
    n, conc = args.participants, args.concurrency
    print(f"cycle bench: {n} participants, {args.rounds} round(s), crowd concurrency {conc}, "
          f"batch size {args.batch_size}, settle {args.settle:g} s, machine {machine()}", flush=True)
    tuning = {k: str(v) for k, v in worker_tuning(get_settings(), get_settings().db_pool_size).items()}
    tuning["db_pool_size"] = str(get_settings().db_pool_size)
    print(f"worker tuning (both workers): {tuning}", flush=True)
    t = time.perf_counter()
    pg = start_postgres()
    sdk = SdkMetrics()
    temporal = await start_temporal(sdk.runtime)
    client = temporal.client
    meter = CpuMeter(temporal.pid, pg.postmaster_pid())
    print(f"servers ready in {time.perf_counter() - t:.1f} s: PostgreSQL {'embedded' if pg.pgdata else 'configured'}, "
          f"Temporal {temporal.address} ({'dev server' if temporal.env else 'configured'})", flush=True)
    run_tag = f"B{int(time.time()) % 100000:05d}"
    record: dict[str, Any] = {"bench": "cycle", "date": now_iso(), "machine": machine(), "participants": n,
                              "rounds": args.rounds, "settle_s": args.settle, "concurrency": conc,
                              "batch_size": args.batch_size, "worker_tuning": tuning,
                              "floor": [], "engine": []}
    try:
        t = time.perf_counter()
        org = seed_org(pg.url, run_tag, n)
        print(f"seeded {n} KAMs, {len(org.managers)} managers, {n} accounts/contacts, {5 * n} KPI actuals "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        if args.warmup:
            t = time.perf_counter()
            warm = seed_org(pg.url, run_tag + "W", args.warmup)
            await run_floor(client, pg.url, f"{run_tag}W", args.warmup, f"bench-floor-{run_tag}", conc, None, None,
                            args.settle)
            await run_engine(client, pg.url, f"{run_tag}-W", warm, f"bench-engine-{run_tag}", conc,
                             args.batch_size, None, None, args.settle)
            print(f"warm-up ({args.warmup} participants, floor and engine) in {time.perf_counter() - t:.1f} s",
                  flush=True)

        async def floor_round(r: int) -> None:
            prof = AllThreadsProfiler() if args.profile else None
            m0 = sdk.snapshot()
            fl = await run_floor(client, pg.url, f"{run_tag}R{r}", n, f"bench-floor-{run_tag}", conc, meter, prof,
                                 args.settle)
            print(f"round {r} floor : {n} in {fl['seconds']:.1f} s = {fl['rate']:.1f} participants/s; "
                  f"{fmt_cpu(fl['cpu'], fl['seconds'], n)}", flush=True)
            fl["sdk_metrics"] = SdkMetrics.delta(m0, sdk.snapshot())
            print(f"    floor SDK metrics: {fmt_metrics(fl['sdk_metrics'])}", flush=True)
            print(f"    floor round trips (2nd and 3rd Update): {fmt_rt(fl['round_trips']['all'])}; worker RSS "
                  f"{fl['rss_start_mb']} -> peak {fl['rss_peak_mb']} MB", flush=True)
            fh, fparts = await floor_histories(client, f"{run_tag}R{r}", n)
            print(f"    floor workflow: {describe_review(fh[1])}", flush=True)
            print(f"    floor time per task, mean ms over {PARTS_SAMPLE}: {fparts}", flush=True)
            if prof:
                fl["profile_categories"] = print_profile(fl.pop("profile"), f"round {r} floor",
                                                         out_path=Path(f"/tmp/cycle_bench_floor_r{r}.pstats"))
            fl.pop("profile", None)
            record["floor"].append(fl | {"history_sample": fh[1], "parts_ms": fparts})

        async def engine_round(r: int) -> None:
            cycle_id = f"{run_tag}-R{r}"
            prof = AllThreadsProfiler() if args.profile else None
            m0 = sdk.snapshot()
            en = await run_engine(client, pg.url, cycle_id, org, f"bench-engine-{run_tag}", conc, args.batch_size,
                                  meter, prof, args.settle)
            en["sdk_metrics"] = SdkMetrics.delta(m0, sdk.snapshot())
            checks = verify_engine(pg.url, cycle_id, n)
            m = en["marks"]
            print(f"round {r} engine: {n} in {en['seconds']:.1f} s = {en['rate']:.1f} participants/s; "
                  f"{fmt_cpu(en['cpu'], en['seconds'], n)}", flush=True)
            print(f"    phases (s from start): first update accepted {m.get('first_accept')}, crowd done "
                  f"{m['crowd_done']}, calibration {m['calibration']}, finalized {m['finalized']}, awaiting approval "
                  f"{m['awaiting_approval']}, approved {m['approved']}, result {m['result']}; "
                  f"NOT_FOUND retries {en['crowd'].get('not_found_retries', 0)}, Update RPC timeouts "
                  f"{en['crowd'].get('update_rpc_timeouts', 0)}; checks {checks}", flush=True)
            print(f"    engine SDK metrics: {fmt_metrics(en['sdk_metrics'])}", flush=True)
            rt = en["round_trips"]
            print(f"    engine round trips (manager score, survey): all {fmt_rt(rt['all'])}; issued before the last "
                  f"batch had started ({m.get('reviews_opened')} s) {fmt_rt(rt['during_opening'])}; worker RSS "
                  f"{en['rss_start_mb']} -> peak {en['rss_peak_mb']} MB", flush=True)
            eh = await engine_histories(client, cycle_id, org)
            print(f"    review workflow: {describe_review(eh['review_sample'][1])}", flush=True)
            print(f"    review time per task, mean ms over {PARTS_SAMPLE}: {eh['parts_ms']}", flush=True)
            print(f"    cycle workflow: {eh['cycle']['events']} events, activities {eh['cycle']['activities']}",
                  flush=True)
            if prof:
                en["profile_categories"] = print_profile(en.pop("profile"), f"round {r} engine",
                                                         out_path=Path(f"/tmp/cycle_bench_engine_r{r}.pstats"))
            en.pop("profile", None)
            record["engine"].append(en | {"histories": eh | {"review_sample": eh["review_sample"][1]}})

        # Floor and engine in turn, ABBA (floor, engine, engine, floor, ...): a machine or a server that slows
        # down (or warms up) run by run then weighs on both sides alike, not always on the one measured second.
        for r in range(1, args.rounds + 1):
            for run in ((floor_round, engine_round) if r % 2 else (engine_round, floor_round)):
                await run(r)
        floor_rate = statistics.fmean(f["rate"] for f in record["floor"])
        engine_rate = statistics.fmean(e["rate"] for e in record["engine"])
        ratio = engine_rate / floor_rate
        per_round = [round(e["rate"] / f["rate"], 3) for f, e in zip(record["floor"], record["engine"], strict=True)]
        # CPU per participant (all processes: ours, Temporal server, PostgreSQL) is steadier than wall time
        # on a shared machine; floor/engine of it is the ratio the machine would give if it were ours alone.
        cpu_f = [1000 * sum(f["cpu"].values()) / n for f in record["floor"] if f["cpu"]]
        cpu_e = [1000 * sum(e["cpu"].values()) / n for e in record["engine"] if e["cpu"]]
        cpu_ratio = statistics.fmean(cpu_f) / statistics.fmean(cpu_e) if cpu_f and cpu_e else None
        # A submission's round trip: the engine's p95 (issued while reviews were opening) over the floor's.
        p95_f = statistics.fmean(f["round_trips"]["all"]["p95_ms"] or 0 for f in record["floor"])
        p95_e = statistics.fmean(e["round_trips"]["during_opening"]["p95_ms"] or 0 for e in record["engine"])
        record.update(round_trip_p95_ms={"floor": round(p95_f, 1), "engine_during_opening": round(p95_e, 1)},
                      round_trip_p95_ratio=round(p95_e / p95_f, 2) if p95_f else None,
                      worker_rss_peak_mb={"floor": max(f["rss_peak_mb"] for f in record["floor"]),
                                          "engine": max(e["rss_peak_mb"] for e in record["engine"])},
                      workflow_cache_size=get_settings().workflow_cache_size)
        target = rate_target(n)
        record.update(floor_rate=round(floor_rate, 2), engine_rate=round(engine_rate, 2), ratio=round(ratio, 3),
                      ratio_per_round=per_round, target=target, passed=ratio >= target, peak_rss_mb=peak_rss_mb(),
                      profiled=bool(args.profile),
                      cpu_ms_per_participant={"floor": round(statistics.fmean(cpu_f), 1) if cpu_f else None,
                                              "engine": round(statistics.fmean(cpu_e), 1) if cpu_e else None},
                      cpu_ratio_floor_over_engine=round(cpu_ratio, 3) if cpu_ratio else None)
        verdict = "PASS" if ratio >= target else "FAIL"
        note = " (PROFILED: rates distorted by cProfile)" if args.profile else ""
        print(f"\nSUMMARY cycle bench{note}: {n} participants x {args.rounds} round(s): engine {engine_rate:.1f}/s, "
              f"floor {floor_rate:.1f}/s, ratio engine/floor {ratio:.2f} (per round {per_round}; target >= {target}: "
              f"{verdict}); CPU per participant floor/engine "
              f"{record['cpu_ms_per_participant']['floor']}/{record['cpu_ms_per_participant']['engine']} ms "
              f"(ratio {record['cpu_ratio_floor_over_engine']}); submission round trip p95 floor/engine (while opening) "
              f"{p95_f:.0f}/{p95_e:.0f} ms ({record['round_trip_p95_ratio']}x, target <= 2); worker RSS peak "
              f"floor/engine {record['worker_rss_peak_mb']['floor']}/{record['worker_rss_peak_mb']['engine']} MB "
              f"(workflow cache {get_settings().workflow_cache_size}); peak RSS {peak_rss_mb()} MB", flush=True)
        emit_json(record)
        code = 0
    except Exception:  # noqa: BLE001 - report and leave with a failure code
        buf = io.StringIO()
        traceback.print_exc(file=buf)
        print(buf.getvalue(), file=sys.stderr, flush=True)
        code = 1
    finally:
        try:
            await temporal.stop()
        finally:
            pg.stop()
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--participants", type=int, default=500)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=64, help="participants in flight in the crowd")
    p.add_argument("--batch-size", type=int, default=100,
                   help="the cycle's batch_size (reviews opened and started per activity; the engine's default is 100)")
    p.add_argument("--warmup", type=int, default=10, help="participants in the untimed warm-up (0: none)")
    p.add_argument("--profile", action="store_true", help="cProfile every Python thread (distorts the rates)")
    p.add_argument("--settle", type=float, default=SETTLE_S,
                   help="seconds after each run's result, before the next run, whose CPU is counted to it (0: none)")
    return p.parse_args(argv)


if __name__ == "__main__":
    finish(asyncio.run(main(parse_args())))
