"""Issue 10: payroll approves payouts (HR only with the setting), after seeing every line, the totals and the
change against the previous cycle of the same plan; money in exactly the currency's minor unit; CSV with BOM."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import yaml

from domain.cycle import CycleConfig
from services.cycles import approve_payouts, create_cycle
from services.errors import Forbidden
from services.settings import get_settings
from tests.helpers import ROOT, count, cycle_phase_is, eventually
from tests.test_cli import _import_demo, cli  # noqa: F401 - the CLI fixture, reused
from webapp.schemas import PayoutOut

BOM = b"\xef\xbb\xbf"
TWO_DECIMALS = re.compile(r"^-?\d+\.\d{2}$")


@pytest.fixture
def hr_may_approve(monkeypatch):
    """KAMREVIEW_HR_MAY_APPROVE_PAYOUTS=1 for this test (the settings are read once, hence the cache reset)."""
    monkeypatch.setenv("KAMREVIEW_HR_MAY_APPROVE_PAYOUTS", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("KAMREVIEW_HR_MAY_APPROVE_PAYOUTS")
    get_settings.cache_clear()


async def _awaiting_approval(web) -> tuple[str, Any, Any]:
    """A cycle whose reviews closed (short deadlines), calibrated and finalized by HR: its lines await approval."""
    cid = await web.open_cycle(due="2s", prefix="PAYAPP")
    await eventually(lambda: cycle_phase_is(web.client, cid, "calibration"), timeout=60)
    hr, pay = await web.login("HR1"), await web.login("PAY1")
    assert (await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")).status_code == 200
    await eventually(lambda: cycle_phase_is(web.client, cid, "awaiting_approval"), timeout=60)
    return cid, hr, pay


async def test_hr_is_refused_and_payroll_approves_once_what_it_saw(web):
    cid, hr, pay = await _awaiting_approval(web)
    # HR: refused by the API, the pages and the service (the CLI's way: the actor's roles looked up).
    refused = await hr.post(f"/api/payroll/cycles/{cid}/approve")  # HR1 reads Chinese (employees default to zh-CN)
    assert refused.status_code == 403 and "发放由薪酬组审批，HR 不能审批（职责分离）" in refused.json()["detail"]
    hr.cookies.set("kr_lang", "en")
    refused = await hr.post(f"/api/payroll/cycles/{cid}/approve")
    assert refused.status_code == 403 and "approved by payroll, not by HR" in refused.json()["detail"]
    assert (await hr.get(f"/api/payroll/cycles/{cid}/approval")).status_code == 403
    assert (await hr.get(f"/payroll/cycles/{cid}/approval")).status_code == 403
    with pytest.raises(Forbidden, match="not by HR"):
        await approve_payouts(web.client, web.db_url, cid, "HR1")
    dashboard = (await hr.get(f"/hr/cycles/{cid}")).text
    assert 'id="awaiting-payroll"' in dashboard and "Awaiting payroll approval" in dashboard
    assert f"/payroll/cycles/{cid}/approval" not in dashboard
    hr.cookies.set("kr_lang", "zh-CN")
    assert "待薪酬组审批发放" in (await hr.get(f"/hr/cycles/{cid}")).text

    # Payroll was told, with a link straight to the approval page.
    links = {r[0] for r in psycopg.connect(web.db_url).execute(
        "SELECT params->>'link_path' FROM notification WHERE kind = 'payouts_awaiting_approval' AND recipient_id = 'PAY1'"
        " AND cycle_id = %s", (cid,)).fetchall()}
    assert links == {f"/payroll/cycles/{cid}/approval"}
    # The landing page lists the cycle; the approval shows every line awaiting approval, in the minor unit.
    pay.cookies.set("kr_lang", "en")
    assert f'href="/payroll/cycles/{cid}/approval"' in (await pay.get("/payroll")).text
    view = (await pay.get(f"/api/payroll/cycles/{cid}/approval")).json()
    computed = count(web.db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'computed'", cid)
    assert view["awaiting"] and len(view["lines"]) == computed > 0 and view["previous_cycle"] is None
    amounts = [ln["amount"] for ln in view["lines"]] + [p["amount"] for p in view["people"]] + [
        t["amount"] for t in view["totals"]]
    assert all(TWO_DECIMALS.match(a) for a in amounts), amounts
    assert sum(Decimal(ln["amount"]) for ln in view["lines"]) == Decimal(view["totals"][0]["amount"])
    assert {p["employee_id"] for p in view["people"]} == set(web.org["kams"])
    page = (await pay.get(f"/payroll/cycles/{cid}/approval")).text
    assert "Approve and lock for payroll" in page and "No previous cycle of this incentive plan" in page
    assert f"You are approving {computed} payout lines for {len(web.org['kams'])} people." in page
    # Each line as a sentence the approver reads, the engine's exact calculation one click away.
    assert page.count('<td class="how">Bonus: target bonus') == len(web.org["kams"]), page
    assert page.count('<summary>Exact calculation</summary>') == computed

    # A double click: two posts at once, one approval; both land on the statement.
    form = {"csrf_token": pay.headers["X-CSRF-Token"]}
    first, second = await asyncio.gather(*(pay.post(f"/payroll/cycles/{cid}/approve", data=form) for _ in range(2)))
    assert (first.status_code, second.status_code) == (303, 303), (first.text, second.text)
    assert first.headers["location"] == second.headers["location"] == f"/payroll/statements/{cid}"
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'payouts.approved'") == 1
    assert count(web.db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s AND status = 'locked'"
                                " AND approved_by = 'PAY1'", cid) == computed
    statement = await pay.get(f"/payroll/statements/{cid}")
    assert "approved and locked for payroll" in statement.text and "Download CSV" in statement.text
    after = (await pay.get(f"/api/payroll/cycles/{cid}/approval")).json()
    assert not after["awaiting"] and after["approved_by"] == "PAY1"
    assert all(TWO_DECIMALS.match(ln["amount"]) for ln in (await pay.get(f"/api/payroll/statements/{cid}")).json())
    csv = await pay.get(f"/api/payroll/statements/{cid}/csv")
    assert csv.content.startswith(BOM + b"employee_id,employee_name,amount,currency,")


async def test_hr_approves_where_the_setting_allows_it(web, hr_may_approve):
    cid, hr, _pay = await _awaiting_approval(web)
    hr.cookies.set("kr_lang", "en")
    dashboard = (await hr.get(f"/hr/cycles/{cid}")).text
    assert f'href="/payroll/cycles/{cid}/approval"' in dashboard and 'id="awaiting-payroll"' not in dashboard
    page = await hr.get(f"/payroll/cycles/{cid}/approval")
    assert page.status_code == 200 and "Approve and lock for payroll" in page.text
    done = await hr.post(f"/payroll/cycles/{cid}/approve", data={"csrf_token": hr.headers["X-CSRF-Token"]})
    assert done.status_code == 303 and done.headers["location"] == f"/hr/cycles/{cid}"
    assert count(web.db_url, "SELECT count(DISTINCT approved_by) FROM payout_line WHERE cycle_id = %s"
                                " AND approved_by = 'HR1'", cid) == 1


def _config(cycle_id: str, plan: str, label: str, start: date, end: date, cadence: str = "quarterly") -> CycleConfig:
    data = yaml.safe_load((ROOT / "demo" / "cycle.yaml").read_text(encoding="utf-8"))
    data |= {"id": cycle_id, "cadence": cadence, "period": {"label": label, "start": start, "end": end}}
    data["incentive_plan"]["id"] = plan
    return CycleConfig.model_validate(data)


def _lines(db_url: str, cycle_id: str, lines: list[tuple[str, str, str, str]], status: str) -> None:
    """Payout lines written directly (employee, component, amount, currency), then locked if ``status`` is locked."""
    with psycopg.connect(db_url) as conn:
        for emp, kind, amount, currency in lines:
            conn.execute(
                """INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency,
                          period, plan_id, plan_version, revision, explanation, status)
                   VALUES (%s, %s, %s, %s, %s, %s, 'P', 'plan', 1, 0, 'by hand', 'computed')""",
                (f"{cycle_id}:{emp}:{kind}:{currency}", cycle_id, emp, kind, Decimal(amount), currency))
        if status == "locked":
            conn.execute("""UPDATE payout_line SET status = 'locked', approved_by = 'PAY1', locked_at = now()
                            WHERE cycle_id = %s""", (cycle_id,))
        conn.execute("UPDATE review_cycle SET status = %s WHERE id = %s",
                     (status if status == "locked" else "awaiting_approval", cycle_id))


async def test_totals_and_the_change_against_the_previous_cycle_of_the_same_plan(web):
    plan, tag = f"plan-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6].upper()
    q1, q2, q3, other, half = (f"{tag}{s}" for s in ("Q1", "Q2", "Q3", "OTHER", "H1"))
    await create_cycle(web.db_url, _config(q1, plan, "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)))
    await create_cycle(web.db_url, _config(q2, plan, "2026-Q2", date(2026, 4, 1), date(2026, 6, 30)))
    await create_cycle(web.db_url, _config(other, f"{plan}-x", "2026-Q2b", date(2026, 4, 1), date(2026, 6, 30)))
    await create_cycle(web.db_url, _config(half, plan, "2026-H1", date(2026, 1, 1), date(2026, 6, 30), "half_yearly"))
    await create_cycle(web.db_url, _config(q3, plan, "2026-Q3", date(2026, 7, 1), date(2026, 9, 30)))
    _lines(web.db_url, q1, [("K01", "bonus", "9999", "CNY")], "locked")  # older: not the previous one
    _lines(web.db_url, other, [("K01", "bonus", "7777", "CNY")], "locked")  # another plan
    _lines(web.db_url, half, [("K01", "bonus", "5555", "CNY")], "locked")  # another cadence
    _lines(web.db_url, q2, [("K01", "bonus", "1000", "CNY"), ("K01", "commission", "500", "CNY"),
                            ("K02", "bonus", "800", "CNY")], "locked")
    _lines(web.db_url, q3, [("K01", "bonus", "1200.5", "CNY"), ("K01", "commission", "600", "CNY"),
                            ("K02", "bonus", "700", "CNY"), ("K03", "bonus", "2816.04", "CNY"),
                            ("K04", "bonus", "2816", "JPY")], "awaiting")
    pay = await web.login("PAY1")
    view = (await pay.get(f"/api/payroll/cycles/{q3}/approval")).json()
    assert view["previous_cycle"] == {"cycle_id": q2, "name": view["previous_cycle"]["name"], "period": "2026-Q2"}
    people = {p["employee_id"]: (p["lines"], p["amount"], p["previous"], p["change"]) for p in view["people"]}
    assert people == {"K01": (2, "1800.50", "1500.00", "300.50"), "K02": (1, "700.00", "800.00", "-100.00"),
                      "K03": (1, "2816.04", None, None), "K04": (1, "2816", None, None)}
    totals = {t["currency"]: (t["lines"], t["amount"], t["previous"], t["change"]) for t in view["totals"]}
    assert totals == {"CNY": (4, "5316.54", "2300.00", "3016.54"), "JPY": (1, "2816", None, None)}

    pay.cookies.set("kr_lang", "zh-CN")
    zh = (await pay.get(f"/payroll/cycles/{q3}/approval")).text
    assert "按人员汇总" in zh and "上期未发放" in zh and "+¥300.50" in zh and "-¥100.00" in zh
    assert "您即将审批 4 人的 5 条发放明细。" in zh and "¥5,316.54" in zh and "JP¥2,816" in zh
    pay.cookies.set("kr_lang", "en")
    en = (await pay.get(f"/payroll/cycles/{q3}/approval")).text
    assert "Per person" in en and "not paid then" in en and "CN¥5,316.54" in en and "¥2,816" in en
    # The first cycle of its plan has nothing to compare with.
    first = (await pay.get(f"/api/payroll/cycles/{q1}/approval")).json()
    assert first["previous_cycle"] is None and not first["awaiting"] and first["approved_by"] == "PAY1"
    assert "No previous cycle" not in (await pay.get(f"/payroll/cycles/{q1}/approval")).text  # nothing awaits


def test_api_amounts_have_exactly_the_minor_unit():
    def dumped(amount: str, currency: str) -> Any:
        return PayoutOut(line_type="bonus", amount=Decimal(amount), currency=currency, explanation="").model_dump(
            mode="json")["amount"]

    assert dumped("2816.0400", "CNY") == "2816.04"
    assert dumped("2816.0000", "JPY") == "2816"
    assert dumped("12.3450", "KWD") == "12.345"


def test_cli_approval_obeys_the_same_rule(cli):  # noqa: F811 - the imported fixture
    _import_demo(cli)
    hr = cli("payouts", "approve", "NOPE", "--actor", "HR1")
    assert hr.returncode == 4 and "approved by payroll, not by HR" in hr.stderr  # 4: refused (not allowed)
    nobody = cli("payouts", "approve", "NOPE", "--actor", "X9")
    assert nobody.returncode == 4 and "X9 may not approve payouts" in nobody.stderr
    payroll = cli("payouts", "approve", "NOPE", "--actor", "PAY1")  # PAY1 is payroll in the demo org
    assert payroll.returncode == 3 and "cycle NOPE is not running" in payroll.stderr
