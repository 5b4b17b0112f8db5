"""`kamreview crm import`: a preview that writes nothing, the import, refusals that name file, line and column."""

from __future__ import annotations

import pytest

from tests.test_cli import cli_env, run_cli
from tests.test_crm_imports import org, row_counts, zoho_files  # noqa: F401 - `org` is a fixture

pytestmark = pytest.mark.usefixtures("org")


@pytest.fixture
def crm(db_url, client, task_queue, tmp_path):
    env = cli_env(db_url, client, task_queue, tmp_path)
    return lambda *args, **extra: run_cli(env | extra, tmp_path, "crm", "import", *args)


def test_preview_writes_nothing_then_import_then_again_unchanged(crm, db_url, tmp_path):
    files = [str(p) for p in zoho_files(tmp_path)]
    before = row_counts(db_url)
    preview = crm("zoho", *files, "--preview")
    assert preview.returncode == 0, preview.stderr
    assert "key_account: 2 new, 0 changed, 0 unchanged" in preview.stdout
    assert "上海华晨精密机械有限公司" in preview.stdout
    assert "preview only: nothing was written" in preview.stdout
    assert row_counts(db_url) == before

    done = crm("zoho", *files)
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout and row_counts(db_url)["key_account"] == before["key_account"] + 2
    again = crm("zoho", *files)
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_a_bad_file_is_refused_naming_file_line_and_column(crm, db_url, tmp_path):
    bad = '"Record Id","Account Owner","Account Name"\n"zcrm_1","Nobody Known","ACME"\n'
    files = [str(p) for p in zoho_files(tmp_path, accounts=bad)]
    before = row_counts(db_url)
    proc = crm("zoho", *files)
    assert proc.returncode == 2
    assert "Accounts_2026_12_01.csv" in proc.stderr and "Account Owner" in proc.stderr
    assert row_counts(db_url) == before


def test_import_without_an_actor_is_refused_but_a_preview_needs_none(crm, tmp_path):
    files = [str(p) for p in zoho_files(tmp_path)]
    assert crm("zoho", *files, "--preview", KAMREVIEW_ACTOR="").returncode == 0
    proc = crm("zoho", *files, KAMREVIEW_ACTOR="")
    assert proc.returncode == 2 and "KAMREVIEW_ACTOR" in proc.stderr


def test_unknown_crm_is_a_usage_error(crm, tmp_path):
    proc = crm("salesforce", str(tmp_path / "x.csv"))
    assert proc.returncode == 2 and "salesforce" in proc.stderr


# ------------------------------------------------------------------------------- crm pull fxiaoke (API)


@pytest.fixture
def pull(db_url, client, task_queue, tmp_path):
    """`kamreview crm pull fxiaoke` against the local Fxiaoke stand-in; credentials only in the environment."""
    from tests.fxiaoke_server import APP_ID, APP_SECRET, OPEN_USER_ID, PERMANENT_CODE, serve

    with serve() as fake:
        env = cli_env(db_url, client, task_queue, tmp_path) | {
            "KAMREVIEW_FXIAOKE_APP_ID": APP_ID, "KAMREVIEW_FXIAOKE_APP_SECRET": APP_SECRET,
            "KAMREVIEW_FXIAOKE_PERMANENT_CODE": PERMANENT_CODE, "KAMREVIEW_FXIAOKE_OPEN_USER_ID": OPEN_USER_ID,
            "KAMREVIEW_FXIAOKE_BASE_URL": fake.url, "KAMREVIEW_FXIAOKE_BACKOFF_S": "0", "KAMREVIEW_FXIAOKE_ATTEMPTS": "2",
            "KAMREVIEW_FXIAOKE_MIN_INTERVAL_S": "0"}
        yield lambda *args, **extra: run_cli(env | extra, tmp_path, "crm", "pull", "fxiaoke", *args)


def test_pull_preview_writes_nothing_then_pull_then_again_unchanged(pull, db_url):
    before = row_counts(db_url)
    preview = pull("--preview")
    assert preview.returncode == 0, preview.stderr
    assert "key_account: 2 new, 0 changed, 0 unchanged" in preview.stdout
    assert "+ KH-2024-0001 id=KH-2024-0001, name=沈阳北方重工机械有限公司, kam_id=K01" in preview.stdout
    assert "2 deals (1 won), 1 orders, 2 cases (1 complaints)" in preview.stdout
    assert "preview only: nothing was written" in preview.stdout and row_counts(db_url) == before

    done = pull()
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout and row_counts(db_url)["key_account"] == before["key_account"] + 2
    again = pull()
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_pull_errors_exit_with_the_cli_codes(pull, db_url):
    before = row_counts(db_url)
    refused = pull(KAMREVIEW_FXIAOKE_APP_SECRET="not-the-secret")
    assert refused.returncode == 4, refused.stderr  # the CRM refuses the app: fix the settings, retrying won't help
    assert "Fxiaoke refused the app's credentials (errorCode 10006" in refused.stderr
    assert "not-the-secret" not in refused.stderr + refused.stdout
    down = pull(KAMREVIEW_FXIAOKE_BASE_URL="http://127.0.0.1:9")  # nothing listens: an outage
    assert down.returncode == 5 and "cannot reach Fxiaoke at http://127.0.0.1:9" in down.stderr
    unset = pull(KAMREVIEW_FXIAOKE_PERMANENT_CODE="")
    assert unset.returncode == 2 and "set KAMREVIEW_FXIAOKE_PERMANENT_CODE" in unset.stderr
    assert row_counts(db_url) == before
    assert "--app-secret" not in pull("--help").stdout  # secrets are settings, never options
