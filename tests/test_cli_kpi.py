"""`kamreview kpi targets` and `kamreview kpi compute`, and the hint `crm import` gives when deals changed: the
figures come from the imported Zoho deals and cases, a corrected deal changes the figure."""

from __future__ import annotations

import json

import pytest

from tests.test_cli import cli_env, run_cli
from tests.test_crm_imports import ZOHO_DEALS, org, zoho_files  # noqa: F401 - `org` is a fixture

pytestmark = pytest.mark.usefixtures("org")


@pytest.fixture
def kamreview(db_url, client, task_queue, tmp_path):
    env = cli_env(db_url, client, task_queue, tmp_path)
    return lambda *args, **extra: run_cli(env | extra, tmp_path, *args)


def test_targets_compute_and_a_corrected_deal(kamreview, tmp_path):
    files = [str(p) for p in zoho_files(tmp_path)]
    done = kamreview("crm", "import", "zoho", *files)
    assert done.returncode == 0, done.stderr
    assert "`kamreview kpi compute PERIOD` computes the KPI figures" in done.stdout

    targets = tmp_path / "targets.csv"
    targets.write_text("employee_id,period,kpi_id,target,currency\nK01,2026-Q3,sales_attainment,2500000,CNY\n"
                       "K01,2026-Q3,new_customer_acquisition,2,\n", encoding="utf-8")
    preview = kamreview("kpi", "targets", str(targets), "--preview")
    assert preview.returncode == 0 and "kpi_target: 2 new" in preview.stdout, preview.stdout
    assert kamreview("kpi", "targets", str(targets)).returncode == 0

    shown = kamreview("kpi", "compute", "2026-Q3", "--preview")
    assert shown.returncode == 0, shown.stderr
    assert "K01 sales_attainment: - -> 0.5 (new)" in shown.stdout  # 1,250,000 won on 30 Sep / 2,500,000
    assert "preview only" in shown.stdout
    assert kamreview("kpi", "compute", "2026-Q3").returncode == 0
    again = kamreview("kpi", "compute", "2026-Q3")
    assert "no KPI figure of 2026-Q3 changes" in again.stdout

    # Zoho's deal is corrected to 1,500,000: the import says which period to recompute, the figure follows.
    corrected = ZOHO_DEALS.replace('"1,250,000.00"', '"1,500,000.00"')
    imported = kamreview("crm", "import", "zoho", *[str(p) for p in zoho_files(tmp_path, deals=corrected)])
    assert "deals or cases of 2026-Q3 changed: run `kamreview kpi compute 2026-Q3`" in imported.stdout
    out = kamreview("kpi", "compute", "2026-Q3", "--json")
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)
    sales = next(f for f in run["figures"] if (f["employee_id"], f["kpi_id"]) == ("K01", "sales_attainment"))
    assert (sales["value"], sales["numerator"]) == ("0.600000", "1500000.0000")
    assert [r["id"] for r in sales["records"]] == ["zcrm_4876876000000502001"]


def test_bad_period_and_bad_targets_are_usage_errors(kamreview, tmp_path):
    proc = kamreview("kpi", "compute", "2026-Q3", "Q9")
    assert proc.returncode == 2 and "unknown period 'Q9'" in proc.stderr
    bad = tmp_path / "t.csv"
    bad.write_text("employee_id,period,kpi_id,target\nK01,2026-Q3,complaint_rate,1\n", encoding="utf-8")
    proc = kamreview("kpi", "targets", str(bad))
    assert proc.returncode == 2 and "t.csv:2:kpi_id: KPI 'complaint_rate' has no target" in proc.stderr
