"""Replay committed histories against today's workflow code: a non-deterministic change fails here.

Re-record after an intended, versioned change with:
    KAMREVIEW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_cycle.py tests/test_deadlines.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from services.temporal import DATA_CONVERTER
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_cover_every_workflow_type():
    types = set()
    for path in HISTORIES:
        first = json.loads(path.read_text(encoding="utf-8"))["events"][0]
        types.add(first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])
    assert types == {w.__name__ for w in WORKFLOWS}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
