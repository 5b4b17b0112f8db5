"""Replay committed histories against today's workflow code: a non-deterministic change fails here.

Re-record after an intended, versioned change with:
    KAMREVIEW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_cycle.py tests/test_deadlines.py

The ``*_submit_task`` histories (tests/test_phase_registry.py) are of reviews with a phase defined only in the
registry, the toy check-in: they replay with it registered, as the worker that ran them had it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from domain.phases import registered
from services.temporal import DATA_CONVERTER
from tests.test_phase_registry import CHECK_IN
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
    # In the SDK's sandbox whatever the worker runs with (KAMREVIEW_WORKER_SANDBOX): workflow code that reads the
    # clock, draws random numbers or does I/O fails here, before it is merged.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER, workflow_runner=SandboxedWorkflowRunner())
    with registered(CHECK_IN):  # a registry-only phase's histories need its definition; the others never read it
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_the_generic_submit_task_update_has_histories_of_both_workflows_that_take_it():
    """A review's submit_task and a closed review's reopen workflow's, each behind the submit-task patch."""
    for name, workflow_type in (("review_submit_task", "ReviewWorkflow"),
                                ("reopened_review_submit_task", "ReopenedReviewWorkflow")):
        events = json.loads((Path(__file__).parent / "histories" / f"{name}.json").read_text(encoding="utf-8"))["events"]
        assert events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] == workflow_type
        updates = [e["workflowExecutionUpdateAcceptedEventAttributes"]["acceptedRequest"]["input"]["name"]
                   for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
        assert "submit_task" in updates, updates
