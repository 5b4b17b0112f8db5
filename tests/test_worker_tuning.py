"""A worker's concurrency and runner come from KAMREVIEW_WORKER_* (unset: the defaults the benchmarks were measured with)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.worker import PollerBehaviorSimpleMaximum, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from services.settings import Settings, WorkerSettings
from services.worker_runtime import worker_tuning, workflow_runner


def test_unset_settings_keep_the_measured_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORKFLOW_TASKS", "ACTIVITIES", "LOCAL_ACTIVITIES", "WORKFLOW_TASK_POLLERS", "ACTIVITY_TASK_POLLERS"):
        monkeypatch.delenv(f"KAMREVIEW_WORKER_{name}", raising=False)
    tuning = worker_tuning(Settings(worker=WorkerSettings(_env_file=None)), pool_size=16)
    assert tuning["max_concurrent_activities"] == 32  # twice the pool
    assert "max_concurrent_workflow_tasks" not in tuning and "workflow_task_poller_behavior" not in tuning


def test_the_operator_sizes_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAMREVIEW_WORKER_ACTIVITIES", "40")
    monkeypatch.setenv("KAMREVIEW_WORKER_WORKFLOW_TASKS", "50")
    monkeypatch.setenv("KAMREVIEW_WORKER_WORKFLOW_TASK_POLLERS", "8")
    tuning = worker_tuning(Settings(worker=WorkerSettings(_env_file=None)), pool_size=10)
    assert (tuning["max_concurrent_activities"], tuning["max_concurrent_workflow_tasks"]) == (40, 50)
    poll = tuning["workflow_task_poller_behavior"]
    assert isinstance(poll, PollerBehaviorSimpleMaximum) and poll.maximum == 8
    monkeypatch.setenv("KAMREVIEW_WORKER_WORKFLOW_TASK_POLLERS", "1")  # one poll cannot serve sticky and shared
    with pytest.raises(ValidationError, match="workflow_task_pollers"):
        WorkerSettings(_env_file=None)


def test_workflow_code_runs_outside_the_sandbox_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: the worker runs workflow code directly (the sandbox's per-run imports cost a tenth of a review's CPU);
    KAMREVIEW_WORKER_SANDBOX=true puts the SDK's sandbox back. The replay of the committed histories
    (tests/test_replay.py) always runs them sandboxed."""
    monkeypatch.delenv("KAMREVIEW_WORKER_SANDBOX", raising=False)
    assert isinstance(workflow_runner(Settings(worker=WorkerSettings(_env_file=None))), UnsandboxedWorkflowRunner)
    monkeypatch.setenv("KAMREVIEW_WORKER_SANDBOX", "true")
    assert isinstance(workflow_runner(Settings(worker=WorkerSettings(_env_file=None))), SandboxedWorkflowRunner)
    monkeypatch.setenv("KAMREVIEW_WORKER_SANDBOX", "perhaps")
    with pytest.raises(ValidationError, match="sandbox"):
        WorkerSettings(_env_file=None)
