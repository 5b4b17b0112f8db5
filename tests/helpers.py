"""Shared test setup: a small organisation written straight to PostgreSQL, and cycle configurations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml

from domain.cycle import CycleConfig

ROOT = Path(__file__).resolve().parent.parent
COMPETENCIES = ["communication", "logical_analysis", "coordination", "market_analysis", "product_knowledge",
                "customer_relationship", "sales_management"]


def seed_org(db_url: str, kams: int = 3, managers: int = 1, contacts_per_kam: int = 2) -> dict[str, Any]:
    """HR1, PAY1, managers M1.., KAMs K01.. spread over the managers, one account and N contacts each."""
    kam_ids = [f"K{n:02d}" for n in range(1, kams + 1)]
    mgr_ids = [f"M{n}" for n in range(1, managers + 1)]
    manager_of = {k: mgr_ids[i % managers] for i, k in enumerate(kam_ids)}
    contacts: dict[str, list[str]] = {}
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO employee (id, name, role, currency, timezone) VALUES "
                    "('HR1', 'Hannah HR', 'hr', 'CNY', 'Asia/Shanghai'), "
                    "('PAY1', 'Paul Payroll', 'payroll', 'CNY', 'Asia/Shanghai')")
        cur.executemany("INSERT INTO employee (id, name, role, currency, timezone) VALUES (%s, %s, 'manager', 'CNY', 'Asia/Shanghai')",
                        [(m, f"Manager {m}") for m in mgr_ids])
        cur.executemany(
            """INSERT INTO employee (id, name, role, manager_id, grade, currency, timezone, hire_date)
               VALUES (%s, %s, 'kam', %s, 'K2', 'CNY', 'Asia/Shanghai', '2020-01-01')""",
            [(k, f"KAM {k}", manager_of[k]) for k in kam_ids],
        )
        for i, k in enumerate(kam_ids):
            cur.execute("INSERT INTO key_account (id, name, kam_id, annual_revenue, currency) VALUES (%s, %s, %s, %s, 'CNY')",
                        (f"A{k}", f"Account of {k}", k, 1_000_000 + 100_000 * i))
            contacts[k] = [f"C{k}{c}" for c in range(contacts_per_kam)]
            cur.executemany("INSERT INTO customer_contact (id, account_id, name, locale) VALUES (%s, %s, %s, 'zh-CN')",
                            [(c, f"A{k}", f"Contact {c}") for c in contacts[k]])
            for kpi, value in (("sales_attainment", 0.9 + 0.1 * i), ("new_customer_acquisition", 1.0),
                               ("customer_retention", 0.92), ("complaint_rate", 0.02), ("revenue", 800000 + 50000 * i)):
                cur.execute("INSERT INTO kpi_actual (employee_id, period, kpi_id, value) VALUES (%s, '2026-Q3', %s, %s)",
                            (k, kpi, value))
    return {"kams": kam_ids, "managers": mgr_ids, "manager_of": manager_of, "contacts": contacts}


def cycle_config(cycle_id: str = "T1", due: str = "120s", **phase_overrides: Any) -> CycleConfig:
    """The demo configuration with test deadlines; phase_overrides replace whole phase blocks."""
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data["id"] = cycle_id
    for phase in ("self_review", "manager_scoring", "customer_survey"):
        data["phases"][phase] = {"due_after": due, "reminders_before": [], "on_deadline": {"action": "close"}}
    data["phases"].update(phase_overrides)
    return CycleConfig.model_validate(data)


def ratings(level: int = 2) -> dict[str, int]:
    return {c: level for c in COMPETENCIES}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll until ``check`` returns something truthy (workflows are asynchronous by nature)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(interval)


def count(db_url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def rows(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


async def finished_results(client: Any, query: str, result_type: type, n: int) -> list | None:
    """The results of the completed workflows a visibility query finds, once there are at least ``n`` of them."""
    found = []
    async for wf in client.list_workflows(f"{query} AND ExecutionStatus = 'Completed'"):
        found.append(await client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=result_type).result())
    return found if len(found) >= n else None


HISTORIES = ROOT / "tests" / "histories"


async def maybe_record_history(client: Any, workflow_id: str, name: str) -> None:
    """With KAMREVIEW_RECORD_HISTORIES=1, save a finished workflow's history for the replay tests."""
    import os

    if os.environ.get("KAMREVIEW_RECORD_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


async def run_full_cycle(client: Any, db_url: str, task_queue: str, cycle_id: str, org: dict[str, Any],
                         config: CycleConfig | None = None) -> None:
    """Create, run (everybody submits), calibrate, finalize and approve a cycle; needs a running worker."""
    from services import tasks
    from services.cycles import approve_payouts, create_cycle, finalize_calibration, start_cycle
    from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, SurveySubmission, cycle_workflow_id

    await create_cycle(db_url, config or cycle_config(cycle_id))
    await start_cycle(client, db_url, cycle_id, task_queue)
    for k in org["kams"]:
        await eventually(lambda k=k: review_started(client, cycle_id, k))
        await tasks.submit_self_review(client, db_url, cycle_id, SelfReviewSubmission(k, ratings(2)))
        await tasks.submit_manager_score(client, db_url, cycle_id, k, ManagerScoreSubmission(org["manager_of"][k], ratings(3)))
        for c in org["contacts"][k]:
            await tasks.submit_survey(client, db_url, cycle_id, k, SurveySubmission(c, 5, 9))
    await eventually(lambda: cycle_phase_is(client, cycle_id, "calibration"))
    await finalize_calibration(client, db_url, cycle_id, "HR1")
    await eventually(lambda: cycle_phase_is(client, cycle_id, "awaiting_approval"))
    await approve_payouts(client, db_url, cycle_id, "PAY1")
    await client.get_workflow_handle(cycle_workflow_id(cycle_id)).result()


async def cycle_phase_is(client: Any, cycle_id: str, phase: str) -> bool:
    from workflows.cycle import CycleWorkflow
    from workflows.payloads import cycle_workflow_id

    return (await client.get_workflow_handle(cycle_workflow_id(cycle_id)).query(CycleWorkflow.status)).phase == phase


async def review_started(client: Any, cycle_id: str, employee_id: str) -> bool:
    from temporalio.service import RPCError

    from workflows.payloads import review_id_for, review_workflow_id

    try:
        await client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, employee_id))).describe()
    except RPCError:  # not started yet
        return False
    return True


def schema_drift(db_url: str, tables: set[str]) -> list:
    """What alembic's autogenerate finds between the migrated database and the models, for these tables only:
    a migration that matches its models leaves nothing. (SQLModel's str is AutoString where the migrations write
    Text: the same column here, so such a type difference is not drift.)"""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import models
    from services.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(db_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), models.metadata)
    finally:
        engine.dispose()

    def table_of(entry: Any) -> str | None:
        if isinstance(entry, list):  # a column's modification: (op, schema, table, column, ...)
            return entry[0][2]
        item = entry[1] if isinstance(entry, tuple) else entry[0][1]
        table = getattr(item, "table", None)
        return getattr(table, "name", None) or getattr(item, "name", None)

    def text_vs_str(entry: Any) -> bool:
        return isinstance(entry, list) and entry[0][0] == "modify_type" and type(entry[0][-1]).__name__ == "AutoString"

    return [d for d in diff if table_of(d) in tables and not text_vs_str(d)]
