"""How many visibility writes the Temporal dev server makes for a workflow, by where its upserts are made.

    .venv/bin/python bench/visibility_writes.py [--workflows 40]

Each shape is a workflow that waits for two signals, run ``--workflows`` times; the server's own Prometheus counters
(``visibility_persistence_requests``) are read before and after, and the writes per workflow printed. What it showed
(session 26, bench/README.md): one upsert write per workflow task that upserts, however many upserts (a patch
marker's ``TemporalChangeVersion`` included) the task makes; a workflow's first task makes one anyway; and an upsert
in the task that completes the workflow costs nothing beyond the close record.
"""

# ruff: noqa: E402 - the repository root goes on sys.path before the project's imports
from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.parser import text_string_to_metric_families
from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.common import finish
from services.embedded import dev_server_config_flags, temporal_cli_path
from tests.notify.smtp_server import free_port

PHASE = SearchAttributeKey.for_keyword("Phase")
SHAPES = {
    "no upsert": "",
    "patch in the first task, upsert in a later one": "patch-first upsert-middle",
    "patch and upsert in one later task": "patch-middle upsert-middle",
    "patch in the first task, upsert in the last": "patch-first upsert-last",
    "patch and upsert in the last task": "patch-last upsert-last",
}


@workflow.defn
class Shape:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.signal
    def go(self) -> None:
        self._signals += 1

    def _step(self, shape: str, when: str) -> None:
        if f"patch-{when}" in shape:
            workflow.patched("shape")
        if f"upsert-{when}" in shape:
            workflow.upsert_search_attributes([PHASE.value_set("closed")])

    @workflow.run
    async def run(self, shape: str) -> None:
        self._step(shape, "first")
        await workflow.wait_condition(lambda: self._signals >= 1)
        self._step(shape, "middle")
        await workflow.wait_condition(lambda: self._signals >= 2)
        self._step(shape, "last")


def visibility_writes(metrics_url: str) -> dict[str, float]:
    """The server's visibility requests so far, by operation (summed over its other labels)."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()  # noqa: S310 - our own local server
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "visibility_persistence_requests":  # a counter's family (its samples are named ..._total)
            continue
        for sample in family.samples:
            if "operation" in sample.labels:
                op = sample.labels["operation"]
                counts[op] = counts.get(op, 0) + sample.value
    return counts


async def until_reported(metrics_url: str, expected: float) -> dict[str, float]:
    """The server reports its counters about once a second: wait until the close records are in."""
    for _ in range(100):
        counts = visibility_writes(metrics_url)
        if counts.get("RecordWorkflowExecutionClosed", 0) >= expected:
            await asyncio.sleep(2)  # the upserts' writes run on the same queue, before the close
            return visibility_writes(metrics_url)
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not report the close records")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=40)
    n = parser.parse_args().workflows
    metrics_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()), dev_server_log_level="error", search_attributes=[PHASE],
        dev_server_extra_args=[*dev_server_config_flags(), "--metrics-port", str(metrics_port)])
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    closed = 0.0
    try:
        async with Worker(env.client, task_queue="shapes", workflows=[Shape],
                          workflow_runner=UnsandboxedWorkflowRunner()):
            for label, shape in SHAPES.items():
                before = await until_reported(metrics_url, closed)
                handles = [await env.client.start_workflow(
                    Shape.run, shape, id=f"{label}-{i}", task_queue="shapes",
                    search_attributes=TypedSearchAttributes([SearchAttributePair(PHASE, "open")]))
                    for i in range(n)]
                for _ in range(2):
                    await asyncio.sleep(0.5)  # each signal in a workflow task of its own
                    for handle in handles:
                        await handle.signal(Shape.go)
                for handle in handles:
                    await handle.result()
                closed += n
                after = await until_reported(metrics_url, closed)
                per = {op: (after.get(op, 0) - before.get(op, 0)) / n for op in after}
                print(f"{label:50} " + ", ".join(f"{op} {v:.2f}" for op, v in sorted(per.items()) if v))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
    finish(0)
