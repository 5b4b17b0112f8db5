"""A late CRM correction after lock (issue 12): the figure is recomputed from the records, `payouts recompute` pays
the difference, and `review show` shows the NEW figure with the records it came from, next to the one the score
used when the review closed (before this, it showed only the old figure from the stored score breakdown)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import psycopg

from services.cycles import recompute_incentives
from services.explain import explain_review
from services.kpis import compute_kpis
from tests.helpers import run_full_cycle, seed_org
from tests.test_cli import cli_env, run_cli
from worker import running_worker


def seed_crm(db_admin_url: str) -> None:
    """K01's won deals of 2026-Q3 and a sales target: attainment 2,000,000 / 2,500,000 = 0.8."""
    with psycopg.connect(db_admin_url) as conn:
        conn.execute("""INSERT INTO crm_deal (id, kind, account_id, kam_id, won, amount, currency, closed_on, source)
                        VALUES ('zcrm_1', 'deal', 'AK01', 'K01', true, 1200000, 'CNY', %s, 'zoho'),
                               ('zcrm_2', 'deal', 'AK01', 'K01', true, 800000, 'CNY', %s, 'zoho')""",
                     (date(2026, 8, 3), date(2026, 9, 28)))
        conn.execute("""INSERT INTO kpi_target (employee_id, period, kpi_id, target, currency, source)
                        VALUES ('K01', '2026-Q3', 'sales_attainment', 2500000, 'CNY', 'targets.csv')""")


async def test_a_late_crm_correction_reaches_the_review_after_payouts_recompute(client, db_url, db_admin_url,
                                                                                 task_queue, tmp_path):
    org = seed_org(db_url, kams=2)
    seed_crm(db_admin_url)
    first = await compute_kpis(db_url, "2026-Q3", "HR1")
    assert [(c.employee_id, c.kpi_id, c.after) for c in first.changes if c.kpi_id == "sales_attainment" and c.after] == [
        ("K01", "sales_attainment", Decimal("0.800000"))]
    cid = f"TR{uuid.uuid4().hex[:6]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, cid, org)

        # The CRM is corrected after lock: zcrm_2 was 1,100,000, not 800,000 (re-imported: the row is updated).
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE crm_deal SET amount = 1100000, imported_at = now() WHERE id = 'zcrm_2'")
        late = await compute_kpis(db_url, "2026-Q3", "HR1")
        assert [(c.kpi_id, c.before, c.after, c.what) for c in late.changes] == [
            ("sales_attainment", Decimal("0.800000"), Decimal("0.920000"), "changed"),
            # no sales orders in this CRM: the won deals stand in, and their listed amounts changed
            ("complaint_rate", Decimal("0.000000"), Decimal("0.000000"), "sources")]
        assert late.locked_cycles == [cid]
        correction = await recompute_incentives(client, db_url, cid, task_queue)
        assert correction.delta_lines == 1

    review = explain_review(db_url, cid, "K01")
    sales = next(k for k in review.kpis if k.kpi_id == "sales_attainment")
    assert (sales.value, sales.scored_value) == (Decimal("0.920000"), Decimal("0.800000"))
    assert (sales.numerator, sales.denominator) == (Decimal("2300000.000000"), Decimal("2500000.000000"))
    assert [(r["id"], r["amount"]) for r in sales.records] == [("zcrm_1", "1200000.0000"), ("zcrm_2", "1100000.0000")]

    env = cli_env(db_url, client, task_queue, tmp_path)
    shown = run_cli(env, tmp_path, "review", "show", cid, "K01")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "sales_attainment: 0.92 (the score used 0.8 when the review closed)" in out, out
    assert "= 2300000 / 2500000 from 2 records" in out
    assert "zcrm_2 counted 1100000 CNY 2026-09-28" in out
    as_json = json.loads(run_cli(env, tmp_path, "review", "show", cid, "K01", "--json").stdout)
    kpi = next(k for k in as_json["kpis"] if k["kpi_id"] == "sales_attainment")
    assert kpi["value"] == "0.920000" and [r["id"] for r in kpi["records"]] == ["zcrm_1", "zcrm_2"]
