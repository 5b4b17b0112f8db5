"""The embedded Temporal dev server (services/embedded.py): started with our search attributes, and serving them from
its cache rather than re-reading the cluster's metadata from its database for every workflow that carries them."""

from __future__ import annotations

import re
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from services.embedded import ensure_temporal, stop_temporal
from tests.helpers import eventually
from tests.notify.smtp_server import free_port
from workflows.search_attributes import CYCLE_ID, cycle_start_attributes


def _count(metrics_url: str, metric: str, operation: str) -> float:
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()  # noqa: S310 - our own local server
    return sum(s.value for family in text_string_to_metric_families(text) if family.name == metric  # counters: ..._total
               for s in family.samples if s.labels.get("operation") == operation)


def _metadata_reads(metrics_url: str) -> float:
    """How often the server has read the cluster's metadata from its database."""
    return _count(metrics_url, "persistence_requests", "GetCurrentClusterMetadata")


async def test_embedded_server_serves_search_attributes_from_its_cache(tmp_path: Path):
    address = ensure_temporal(tmp_path, free_port(), free_port(), "kamreview")
    try:
        async def banner() -> re.Match[str] | None:  # the CLI prints it once the server is up
            return re.search(r"Temporal Metrics:\s+(http://\S+/metrics)",
                             (tmp_path / "temporal.log").read_text(errors="replace"))

        metrics_url = (await eventually(banner, timeout=20)).group(1)
        client = await Client.connect(address, namespace="kamreview")
        before = _metadata_reads(metrics_url)  # the server's own start-up reads
        cycle = f"EMB{uuid.uuid4().hex[:6]}"
        for n in range(20):  # no worker: each start and its visibility record is what is measured
            await client.start_workflow("NoSuchWorkflow", id=f"{cycle}:{n}", task_queue=f"idle-{cycle}",
                                        search_attributes=cycle_start_attributes(cycle, "reviews"))

        async def listed() -> bool:
            return len([w async for w in client.list_workflows(f'{CYCLE_ID.name} = "{cycle}"')]) == 20

        assert await eventually(listed, timeout=20)  # the attributes work: the 20 are found by CycleId

        async def reported() -> bool:  # the server reports its counters about once a second
            return _count(metrics_url, "visibility_persistence_requests", "RecordWorkflowExecutionStarted") >= 20

        assert await eventually(reported, timeout=20)
        # With start-dev's default (a refresh on every read) the 20 starts and their visibility records read it 60+
        # times; served from the cache, a few at start-up.
        assert _metadata_reads(metrics_url) - before < 10
    finally:
        assert stop_temporal(tmp_path)
