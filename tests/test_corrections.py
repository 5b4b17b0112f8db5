"""After lock: corrections are delta lines, unchanged inputs add nothing, payroll reads a locked view."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest

from services.cycles import approve_payouts, correct_rating_after_lock, recompute_incentives
from services.errors import UserError
from services.payroll import export_payroll_csv
from tests.helpers import count, maybe_record_history, run_full_cycle, seed_org
from worker import running_worker


def _lines(db_url: str, cid: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """SELECT idempotency_key, employee_id, line_type, amount, status, revision FROM payout_line
               WHERE cycle_id = %s ORDER BY idempotency_key""", (cid,)).fetchall()


async def test_late_kpi_figure_yields_delta_lines_and_rerun_yields_none(client, db_url, task_queue, tmp_path):
    org = seed_org(db_url, kams=3)
    cid = f"COR{uuid.uuid4().hex[:6]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, cid, org)
        locked = _lines(db_url, cid)
        assert locked and all(line[4] == "locked" for line in locked)

        unchanged = await recompute_incentives(client, db_url, cid, task_queue)
        assert unchanged.delta_lines == 0
        assert _lines(db_url, cid) == locked

        with psycopg.connect(db_url) as conn:  # a late, higher sales figure for K01
            conn.execute("UPDATE kpi_actual SET value = 1.3 WHERE employee_id = 'K01' AND kpi_id = 'sales_attainment'")
        correction = await recompute_incentives(client, db_url, cid, task_queue)
        assert correction.delta_lines == 1
        with pytest.raises(UserError, match="already awaits approval"):
            await recompute_incentives(client, db_url, cid, task_queue)
        after = _lines(db_url, cid)
        assert [line for line in after if line[4] == "locked"] == locked  # locked lines untouched
        (delta,) = [line for line in after if line[4] == "computed"]
        assert delta[1:3] == ("K01", "adjustment") and delta[5] == 1 and delta[3] > Decimal(0)

        await approve_payouts(client, db_url, cid, "PAY1")
        await maybe_record_history(client, correction.workflow_id, "correction")
        assert count(db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status <> 'locked'", cid) == 0
        again = await recompute_incentives(client, db_url, cid, task_queue)
        assert again.delta_lines == 0

        # A reopened review lowers K02's rating after lock: the bonus is corrected by a negative delta.
        with pytest.raises(UserError, match="needs a reason"):
            await correct_rating_after_lock(db_url, cid, "K02", 2, " ", "HR1")
        await correct_rating_after_lock(db_url, cid, "K02", 2, "reopened: a deal was booked twice", "HR1")
        lowered = await recompute_incentives(client, db_url, cid, task_queue)
        assert lowered.delta_lines == 1
        (down,) = [line for line in _lines(db_url, cid) if line[4] == "computed"]
        assert down[1:3] == ("K02", "adjustment") and down[3] < 0 and down[5] == 2
        await approve_payouts(client, db_url, cid, "PAY1")
    csv_text = (tmp_path / "p.csv")
    assert export_payroll_csv(db_url, cid, csv_text) == len(locked) + 2
    assert ",adjustment," in csv_text.read_text(encoding="utf-8")


async def test_payroll_role_reads_only_the_locked_view(client, db_url, db_admin_url, task_queue):
    org = seed_org(db_url, kams=2)
    cid = f"VIEW{uuid.uuid4().hex[:6]}"
    async with running_worker(client, db_url, task_queue):
        await run_full_cycle(client, db_url, task_queue, cid, org)
    with psycopg.connect(db_admin_url) as conn:  # a payroll system's login is a member of the role; the app is not
        conn.execute("SET ROLE kamreview_payroll")
        rows = conn.execute("SELECT employee_id, amount FROM payroll_payout_lines WHERE cycle_id = %s", (cid,)).fetchall()
        assert len(rows) == 4
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM payout_line")
