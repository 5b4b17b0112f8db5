"""Workflow tests without servers: the time-skipping test server and stand-in activities, no PostgreSQL.

The integration tests (tests/test_deadlines.py & co.) run the real activities against PostgreSQL and
the dev server in real time; these run the workflows alone, where a 90-day deadline takes milliseconds.
"""

from __future__ import annotations

import asyncio
import sysconfig
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from services.temporal import DATA_CONVERTER


@pytest.fixture(scope="session")
async def ts_server() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session; its clock only moves forward, so tests read it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sysconfig.get_path("scripts")) / "temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def ts_env(ts_server: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """The test server, checked after each test to be free to skip time again.

    Its one clock stands still while any workflow task or activity is outstanding: a workflow a test
    left running, or an activity still running after its workflow ended, would hang every later test.
    """
    yield ts_server
    try:
        await asyncio.wait_for(ts_server.sleep(timedelta(minutes=1)), timeout=5)
    except TimeoutError:
        pytest.fail("this test left the test server's clock held (a workflow task or an activity outstanding)")
