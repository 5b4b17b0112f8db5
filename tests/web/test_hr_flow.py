"""HR and payroll through the API: a whole cycle from YAML to released results and the payroll CSV."""

from __future__ import annotations

import uuid

from services.payroll import export_payroll_csv
from tests.helpers import count, eventually, ratings
from tests.web.helpers import config_yaml


async def test_create_and_start_a_cycle_from_yaml(web):
    hr = await web.login("HR1")
    r = await hr.post("/api/hr/cycles", json={"config_yaml": "id: [unclosed"})
    assert r.status_code == 422 and "YAML 格式有误" in r.json()["detail"]  # HR1 reads Chinese
    r = await hr.post("/api/hr/cycles", json={"config_yaml": "id: X1\nname: only a name\n"})
    assert r.status_code == 422 and "考核周期配置有误" in r.json()["detail"]
    assert "cadence：此项为必填项" in r.json()["detail"]
    cid = f"API{uuid.uuid4().hex[:8]}"
    r = await hr.post("/api/hr/cycles", json={"config_yaml": config_yaml(cid)})
    assert r.status_code == 201 and r.json() == {"cycle_id": cid, "participants": 4, "created": True, "excluded": []}
    r = await hr.post("/api/hr/cycles", json={"config_yaml": config_yaml(cid, due="600s")})
    assert r.status_code == 409 and "已存在且配置不同" in r.json()["detail"]
    board = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    assert board["status"] == "created" and "考核周期尚未启动" in board["blocking"][0]  # HR1 reads Chinese
    hr.cookies.set("kr_lang", "en")
    board = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    assert board["status"] == "created" and "the cycle is not started" in board["blocking"][0]
    assert (await hr.post(f"/api/hr/cycles/{cid}/start")).json() == {"workflow_id": f"cycle:{cid}"}
    again = await hr.post(f"/api/hr/cycles/{cid}/start")
    assert again.status_code == 409 and "already started" in again.json()["detail"]
    assert cid in [c["cycle_id"] for c in (await hr.get("/api/hr/cycles")).json()]
    assert (await hr.post("/api/hr/cycles/NOSUCH/start")).status_code == 404


async def test_dashboard_progress_late_and_reminders_now(web):
    cid = await web.open_cycle()
    hr, m1 = await web.login("HR1"), await web.login("M1")
    await m1.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(2)})
    board = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    assert board["phase"] == "reviews"
    assert board["progress"]["manager_scoring"] == {"done": 1, "open": 3}
    assert board["progress"]["self_review"] == {"open": 4} and board["late"] == []
    sent = (await hr.post(f"/api/hr/cycles/{cid}/reminders", json={})).json()["count"]
    open_tasks = count(web.db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND status = 'open'", cid)
    assert sent == open_tasks
    assert count(web.db_url, "SELECT count(*) FROM notification WHERE id LIKE 'reminder-now:%%'") == sent
    assert (await hr.post(f"/api/hr/cycles/{cid}/reminders", json={"only_overdue": True})).json() == {"count": 0}
    bad = await hr.post(f"/api/hr/cycles/{cid}/reminders", json={"only_overdue": "yes"})
    assert bad.status_code == 422 and "only_overdue" in bad.json()["detail"]
    # Overdue: move a due date into the past, as a slow reviewer would see it.
    import psycopg

    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE task SET due_at = now() - interval '1 hour' WHERE id = %s", (f"{cid}:K03:manager_scoring",))
    board = (await hr.get(f"/api/hr/cycles/{cid}")).json()
    assert [(t["assignee_id"], t["employee_id"]) for t in board["late"]] == [("M1", "K03")]
    inbox = (await m1.get("/api/manager/inbox")).json()
    assert {t["employee_id"]: t["overdue"] for t in inbox} == {"K03": True}


async def test_whole_cycle_calibrate_release_and_payroll(web, tmp_path):
    cid = await web.open_cycle()
    org = web.org
    hr, pay = await web.login("HR1"), await web.login("PAY1")
    hr.cookies.set("kr_lang", "en")
    links = {link["contact_id"]: link["url"].split("#")[1]
             for link in (await hr.post(f"/api/hr/cycles/{cid}/survey-links", json={})).json()}
    anon = web.anon()
    for k in org["kams"]:
        kam, mgr = await web.login(k), await web.login(org["manager_of"][k])
        assert (await kam.post(f"/api/me/reviews/{cid}/self-review", json={"ratings": ratings(2)})).status_code == 200
        r = await mgr.post(f"/api/manager/reviews/{cid}/{k}/score",
                           json={"ratings": ratings(3 if k == "K01" else 2), "potential": 3,
                                 "comments": {"communication": f"note for {k}"}})
        assert r.status_code == 200
        for c in org["contacts"][k]:
            assert (await anon.post("/api/survey/answer", json={"token": links[c], "satisfaction": 5})).status_code == 200

    async def phase(name: str) -> bool:
        return (await hr.get(f"/api/hr/cycles/{cid}")).json()["phase"] == name

    await eventually(lambda: phase("calibration"))
    # Payroll sees nothing yet: no line is approved.
    assert (await pay.get("/api/payroll/statements")).json() == []
    r = await pay.get(f"/api/payroll/statements/{cid}")
    assert r.status_code == 409 and "还没有已审批的奖金明细" in r.json()["detail"]  # PAY1 reads Chinese
    cal = (await hr.get(f"/api/hr/cycles/{cid}/calibration")).json()
    assert sum(lv["actual"] for lv in cal["levels"]) == 4 and {m["manager_id"] for m in cal["managers"]} == {"M1", "M2"}
    assert sum(len(v) for v in cal["nine_box"].values()) == 4 and not cal["finalized"]
    before = {r["employee_id"]: r["final_level"] for r in cal["ratings"]}
    no_reason = await hr.post(f"/api/hr/cycles/{cid}/calibration/adjustments",
                              json={"employee_id": "K02", "level": 4, "reason": " "})
    assert no_reason.status_code == 422 and no_reason.json()["detail"] == "an adjustment needs a reason"
    bad_level = await hr.post(f"/api/hr/cycles/{cid}/calibration/adjustments",
                              json={"employee_id": "K02", "level": 9, "reason": "typo"})
    assert bad_level.status_code == 422 and "rating level 9 does not exist" in bad_level.json()["detail"]
    new_level = 5 if before["K02"] != 5 else 4
    body = {"employee_id": "K02", "level": new_level, "reason": "won the 中石化 framework deal", "request_id": "r-1"}
    assert (await hr.post(f"/api/hr/cycles/{cid}/calibration/adjustments", json=body)).status_code == 200
    assert (await hr.post(f"/api/hr/cycles/{cid}/calibration/adjustments", json=body)).status_code == 200  # same id
    cal = (await hr.get(f"/api/hr/cycles/{cid}/calibration")).json()
    assert [(a["employee_id"], a["to_level"], a["reason"]) for a in cal["adjustments"]] == [
        ("K02", new_level, "won the 中石化 framework deal")]
    early = await hr.post(f"/api/hr/cycles/{cid}/results/release")
    assert early.status_code == 409 and "calibration is not finalized" in early.json()["detail"]
    hr.cookies.set("kr_lang", "zh-CN")  # the same refusal in the reader's language
    early = await hr.post(f"/api/hr/cycles/{cid}/results/release")
    assert early.status_code == 409 and "校准尚未确认" in early.json()["detail"]
    hr.cookies.set("kr_lang", "en")
    assert (await pay.post(f"/api/payroll/cycles/{cid}/approve")).status_code == 409  # not yet: a state conflict
    fin = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert fin.status_code == 200 and fin.json()["ratings"] == 4
    again = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")  # a retry: the first answer, applied once
    assert again.status_code == 200 and again.json() == fin.json()
    await eventually(lambda: phase("awaiting_approval"))
    hr.cookies.set("kr_lang", "zh-CN")
    refused = await hr.post(f"/api/payroll/cycles/{cid}/approve")  # separation of duties: payroll approves
    assert refused.status_code == 403 and "发放由薪酬组审批，HR 不能审批" in refused.json()["detail"]
    hr.cookies.set("kr_lang", "en")
    approved = await pay.post(f"/api/payroll/cycles/{cid}/approve")
    assert approved.status_code == 200 and approved.json()["count"] > 0
    # Payroll: only locked lines, and the CSV is exactly what the CLI export writes.
    statements = (await pay.get("/api/payroll/statements")).json()
    assert [s["cycle_id"] for s in statements] == [cid] and statements[0]["approved_by"] == "PAY1"
    lines = (await pay.get(f"/api/payroll/statements/{cid}")).json()
    assert len(lines) == count(web.db_url, "SELECT count(*) FROM payout_line WHERE cycle_id = %s", cid)
    csv = await pay.get(f"/api/payroll/statements/{cid}/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f'filename="payroll-{cid}.csv"' in csv.headers["content-disposition"]
    export_payroll_csv(web.db_url, cid, tmp_path / "cli.csv")
    assert csv.text.replace("\r\n", "\n") == (tmp_path / "cli.csv").read_text(encoding="utf-8").replace("\r\n", "\n")
    # Results: hidden until released, then the employee sees the rating and the manager's scores.
    k2 = await web.login("K02")
    assert (await k2.get(f"/api/me/results/{cid}")).status_code == 403
    released = await hr.post(f"/api/hr/cycles/{cid}/results/release")
    assert released.status_code == 200
    twice = await hr.post(f"/api/hr/cycles/{cid}/results/release")  # a retry: the first answer, released once
    assert twice.status_code == 200 and twice.json() == released.json()
    assert count(web.db_url, "SELECT count(*) FROM audit_log WHERE action = 'results.released'") == 1
    results = (await k2.get(f"/api/me/results/{cid}")).json()
    assert results["final_level"] == new_level and results["final_label"]
    assert results["manager_score"]["ratings"] == ratings(2)
    assert results["manager_score"]["comments"] == {"communication": "note for K02"}
    assert results["manager_score"]["potential"] is None  # talent data stays with HR
    assert results["lines"] and results["payouts"]
    page = await k2.get(f"/me/results/{cid}")
    assert page.status_code == 200 and "note for K02" in page.text
    assert (await k2.get(f"/api/me/results/{cid}")).json()["cycle_id"] == cid
