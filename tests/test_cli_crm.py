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
