"""The daily CRM sync: off until enabled, a Temporal Schedule that pulls the CRM and applies what changed, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.crm_sync import crm_sync_status, crm_syncs, disable_crm_sync, enable_crm_sync, run_crm_sync_now
from services.errors import Conflict, NotFound, Rejected
from services.settings import get_settings
from services.worker_runtime import running_worker
from tests.helpers import count, eventually, finished_results, maybe_record_history, rows
from tests.test_crm_imports import org, row_counts  # noqa: F401 - `org` is a fixture
from tests.test_zoho_api import fake  # noqa: F401 - a fixture
from tests.zoho_server import FakeZoho, ZohoServer
from workflows.payloads import CrmSyncResult

pytestmark = pytest.mark.usefixtures("org")


@pytest.fixture
def zoho(fake: FakeZoho, monkeypatch: pytest.MonkeyPatch) -> Iterator[ZohoServer]:  # noqa: F811
    with ZohoServer(fake) as running:
        for name, value in (("CLIENT_ID", fake.client_id), ("CLIENT_SECRET", fake.client_secret),
                            ("REFRESH_TOKEN", fake.refresh_token), ("ACCOUNTS_URL", running.base_url),
                            ("RETRY_FIRST_S", "0")):
            monkeypatch.setenv(f"KAMREVIEW_ZOHO_{name}", value)
        get_settings.cache_clear()
        yield running
    get_settings.cache_clear()


async def test_the_sync_is_off_until_enabled_then_runs_pull_once_and_again_changes_nothing(
        client, db_url, task_queue, zoho) -> None:
    assert "zoho" not in [s.source for s in await crm_syncs(client)]
    with pytest.raises(NotFound, match="not enabled"):
        await crm_sync_status(client, "zoho")
    with pytest.raises(Rejected, match="not a time of day"):
        await enable_crm_sync(client, db_url, "zoho", "HR1", task_queue, at="25:00")
    with pytest.raises(Rejected, match="the CRM mapping is invalid"):
        await enable_crm_sync(client, db_url, "zoho", "HR1", task_queue, mapping_text="no_such_key: 1\n")
    sync = await enable_crm_sync(client, db_url, "zoho", "HR1", task_queue, at="02:30")
    try:
        assert (sync.at, sync.timezone, sync.paused) == ("02:30", "Asia/Shanghai", False)
        assert sync.next_runs and sync.next_runs[0].astimezone().strftime("%M") == "30"
        with pytest.raises(Conflict, match="enabled already"):
            await enable_crm_sync(client, db_url, "zoho", "HR1", task_queue)
        before = row_counts(db_url)
        async with running_worker(client, db_url, task_queue):
            await run_crm_sync_now(client, db_url, "zoho", "HR1")
            await eventually(lambda: finished_results(client, "WorkflowType = 'CrmSyncWorkflow'", CrmSyncResult, 1), timeout=60)
            runs = [wf async for wf in client.list_workflows("WorkflowType = 'CrmSyncWorkflow'")]
            await maybe_record_history(client, runs[0].id, "crm_sync")
            assert row_counts(db_url)["key_account"] == before["key_account"] + 2
            changed = count(db_url, "SELECT count(*) FROM audit_log WHERE actor = 'HR1' AND entity_type = 'key_account'")
            await run_crm_sync_now(client, db_url, "zoho", "HR1")
            await eventually(lambda: finished_results(client, "WorkflowType = 'CrmSyncWorkflow'", CrmSyncResult, 2), timeout=60)
            assert row_counts(db_url)["key_account"] == before["key_account"] + 2  # the second run changed nothing
            assert count(db_url, "SELECT count(*) FROM audit_log WHERE actor = 'HR1' "
                                 "AND entity_type = 'key_account'") == changed
    finally:
        await disable_crm_sync(client, db_url, "zoho", "HR1")
    with pytest.raises(NotFound):
        await crm_sync_status(client, "zoho")
    actions = [a for (a,) in rows(db_url, "SELECT action FROM audit_log WHERE entity_type = 'crm_sync' ORDER BY id")]
    assert actions == ["crm_sync.enabled", "crm_sync.triggered", "crm_sync.triggered", "crm_sync.disabled"]


def test_the_command_line_enables_shows_and_disables_the_sync(db_url, client, task_queue, tmp_path) -> None:
    import json

    from tests.test_cli import cli_env, run_cli

    env = cli_env(db_url, client, task_queue, tmp_path)
    cli = lambda *a: run_cli(env, tmp_path, "crm", "sync", *a)  # noqa: E731
    assert "no CRM sync is enabled" in cli("status").stdout
    bad = cli("enable", "fxiaoke", "--at", "2am")
    assert bad.returncode == 2 and "'2am' is not a time of day" in bad.stderr
    made = cli("enable", "fxiaoke", "--at", "03:15", "--timezone", "Europe/Berlin")
    assert made.returncode == 0 and "fxiaoke sync enabled: daily at 03:15 (Europe/Berlin)" in made.stdout
    (row,) = json.loads(cli("status", "--json").stdout)["syncs"]
    assert (row["source"], row["at"], row["timezone"], row["paused"]) == ("fxiaoke", "03:15", "Europe/Berlin", False)
    assert cli("disable", "fxiaoke").returncode == 0
    gone = cli("run", "fxiaoke")
    assert gone.returncode == 3 and "not enabled" in gone.stderr
