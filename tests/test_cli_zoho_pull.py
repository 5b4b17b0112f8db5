"""`kamreview crm pull zoho`: credentials from the environment, a preview that writes nothing, the import, and
the exit codes of a refusal (bad credentials 2, over the credit budget 4, Zoho unreachable 5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_cli import cli_env, run_cli
from tests.test_crm_imports import org, row_counts  # noqa: F401 - `org` is a fixture
from tests.test_zoho_api import fake  # noqa: F401 - a fixture
from tests.zoho_server import FakeZoho, ZohoServer

pytestmark = pytest.mark.usefixtures("org")


@pytest.fixture
def server(fake: FakeZoho) -> Iterator[ZohoServer]:  # noqa: F811 - the fixture above
    with ZohoServer(fake) as running:
        yield running


@pytest.fixture
def pull(db_url, client, task_queue, tmp_path, fake, server):  # noqa: F811
    env = cli_env(db_url, client, task_queue, tmp_path, KAMREVIEW_ZOHO_CLIENT_ID=fake.client_id,
                  KAMREVIEW_ZOHO_CLIENT_SECRET=fake.client_secret, KAMREVIEW_ZOHO_REFRESH_TOKEN=fake.refresh_token,
                  KAMREVIEW_ZOHO_ACCOUNTS_URL=server.base_url, KAMREVIEW_ZOHO_RETRY_FIRST_S="0")
    return lambda *args, **extra: run_cli(env | extra, tmp_path, "crm", "pull", "zoho", *args)


def test_preview_writes_nothing_then_pull_then_again_unchanged(pull, db_url):
    before = row_counts(db_url)
    preview = pull("--preview")
    assert preview.returncode == 0, preview.stderr
    assert "key_account: 2 new, 0 changed, 0 unchanged" in preview.stdout
    assert "上海华晨精密机械有限公司" in preview.stdout and "2 deals (1 won)" in preview.stdout
    assert "preview only: nothing was written" in preview.stdout
    assert row_counts(db_url) == before

    done = pull()
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout and row_counts(db_url)["key_account"] == before["key_account"] + 2
    again = pull()
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_refusals_exit_with_the_clis_codes(pull, db_url):
    before = row_counts(db_url)
    wrong = pull("--preview", KAMREVIEW_ZOHO_CLIENT_SECRET="wrong")
    assert wrong.returncode == 2 and "KAMREVIEW_ZOHO_CLIENT_SECRET" in wrong.stderr
    unset = pull("--preview", KAMREVIEW_ZOHO_REFRESH_TOKEN="")
    assert unset.returncode == 2 and "not configured: set KAMREVIEW_ZOHO_REFRESH_TOKEN" in unset.stderr
    budget = pull(KAMREVIEW_ZOHO_CREDIT_BUDGET="5")
    assert budget.returncode == 4 and "nothing was written" in budget.stderr
    down = pull(KAMREVIEW_ZOHO_ACCOUNTS_URL="http://127.0.0.1:9", KAMREVIEW_ZOHO_MAX_ATTEMPTS="1")
    assert down.returncode == 5 and "cannot reach Zoho CRM" in down.stderr
    assert row_counts(db_url) == before
