"""Helpers shared by the web tests: demo passwords, settings, cycle configurations, waiting."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml

from domain.cycle import CycleConfig
from services.cycles import create_cycle, start_cycle
from services.settings import WebSettings
from services.users import DEMO_PASSWORDS
from tests.helpers import ROOT, cycle_config

ROLE_OF = {"HR1": "hr", "PAY1": "payroll"}


def password_of(username: str) -> str:
    role = ROLE_OF.get(username) or ("manager" if username.startswith("M") else "employee")
    return DEMO_PASSWORDS[role]


def settings_for_tests(**overrides: Any) -> WebSettings:
    return WebSettings(**{"public_url": "http://testserver", "host": "127.0.0.1", "port": 0,
                          "upload_dir": Path(tempfile.mkdtemp(prefix="kruploads")), **overrides})


def config_yaml(cycle_id: str, due: str = "300s") -> str:
    """The demo configuration as HR would paste it, with test deadlines."""
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data["id"] = cycle_id
    for phase in ("self_review", "manager_scoring", "customer_survey"):
        data["phases"][phase] = {"due_after": due, "reminders_before": [], "on_deadline": {"action": "close"}}
    return yaml.safe_dump(data, allow_unicode=True)


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    """Synchronous polling, for tests that drive the live server from the test thread."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.2)


def db_value(db_url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def workflow_phase(live: Any, cycle_id: str) -> str:
    """The cycle workflow's own phase (PostgreSQL's status moves a moment before it)."""
    from workflows.cycle import CycleWorkflow
    from workflows.payloads import cycle_workflow_id

    async def query(client: Any) -> str:
        return (await client.get_workflow_handle(cycle_workflow_id(cycle_id)).query(CycleWorkflow.status)).phase

    return live.call(query)


def open_live_cycle(live: Any, db_url: str, org: dict[str, Any],
                    config: Callable[[str], CycleConfig] | None = None) -> str:
    """A started cycle on the live server, every task open (a unique id: workflow ids are server-wide).

    ``config``: the cycle's configuration for its id (default: the tests' cycle, due in 600 s)."""
    cycle_id = f"PW{uuid.uuid4().hex[:8]}"
    made = config(cycle_id) if config else cycle_config(cycle_id, due="600s")
    live.call(lambda c: create_cycle(db_url, made))
    live.call(lambda c: start_cycle(c, db_url, cycle_id, live.task_queue))
    per_kam = 2 + len(made.added_phases or {})  # the self-review, the score, one task per added phase
    expected = len(org["kams"]) * per_kam + sum(len(v) for v in org["contacts"].values())
    wait_for(lambda: db_value(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s", cycle_id) == expected)
    return cycle_id
