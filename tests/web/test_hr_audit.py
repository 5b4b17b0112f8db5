"""A cycle's audit log for HR: newest first, in words and names, filtered, paged, and as CSV with the same filters."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from tests.helpers import ratings


async def a_cycle_with_history(web) -> tuple[str, object]:
    cid = await web.open_cycle()
    hr, k1 = await web.login("HR1"), await web.login("K01")
    assert (await k1.post(f"/api/me/reviews/{cid}/self-review", json={"ratings": ratings(2)})).status_code == 200
    assert (await hr.post(f"/api/hr/cycles/{cid}/reminders", json={})).status_code == 200
    r = await hr.post(f"/api/hr/cycles/{cid}/reassign", json={"employee_id": "K03", "new_reviewer_id": "M2",
                                                              "reason": "M1 on leave"})
    assert r.status_code == 200, r.text
    return cid, hr


async def test_audit_page_newest_first_in_words_with_names(web):
    cid, hr = await a_cycle_with_history(web)
    hr.cookies.set("kr_lang", "en")
    page = (await hr.get(f"/hr/cycles/{cid}/audit")).text
    rows = re.findall(r'<tr data-event="([^"]+)">(.*?)</tr>', page, re.S)
    events = [e for e, _ in rows]
    assert events[0] == "review.reviewer_reassigned" and "cycle.created" in events and "self_review.submitted" in events
    assert events.index("review.reviewer_reassigned") < events.index("reminders.sent") < events.index("cycle.started")
    first = unescape(rows[0][1])
    assert "Hannah HR" in first and "reviewer changed" in first
    assert f'href="/hr/cycles/{cid}/participants/K03">KAM K03</a>' in first
    submitted = unescape(dict(rows)["self_review.submitted"])
    assert "KAM K01" in submitted and "self-review submitted" in submitted
    assert "system" in unescape(dict(rows)["cycle.started"])
    assert re.search(r'<time datetime="[^"]+" title="Beijing time \(Asia/Shanghai\)">', rows[0][1])
    hr.cookies.set("kr_lang", "zh-CN")
    zh = unescape((await hr.get(f"/hr/cycles/{cid}/audit")).text)
    assert "操作记录" in zh and "评分人已更换" in zh and "自评已提交" in zh and "系统" in zh and "年" in zh


async def test_audit_filters_paging_api_and_csv_agree(web):
    cid, hr = await a_cycle_with_history(web)
    hr.cookies.set("kr_lang", "en")
    everything = (await hr.get(f"/api/hr/cycles/{cid}/audit")).json()
    total = everything["total"]
    assert total == len(everything["entries"]) >= 8  # created, started, 4 opened, submitted, reminders, reassigned
    times = [e["occurred_at"] for e in everything["entries"]]
    assert times == sorted(times, reverse=True)
    by_event = (await hr.get(f"/api/hr/cycles/{cid}/audit", params={"event": "self_review.submitted"})).json()
    assert [(e["actor_name"], e["subject_id"], e["event_text"]) for e in by_event["entries"]] == [
        ("KAM K01", "K01", "self-review submitted")]
    by_actor = (await hr.get(f"/api/hr/cycles/{cid}/audit", params={"actor": "HR1"})).json()
    assert {e["event"] for e in by_actor["entries"]} == {"reminders.sent", "review.reviewer_reassigned"}
    by_person = (await hr.get(f"/api/hr/cycles/{cid}/audit", params={"person": "K03"})).json()
    assert {e["event"] for e in by_person["entries"]} == {"review.opened", "review.reviewer_reassigned"}
    later = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    none = (await hr.get(f"/api/hr/cycles/{cid}/audit", params={"since": f"{later}T00:00:00+08:00"})).json()
    assert none["total"] == 0 and none["entries"] == []
    bad = await hr.get(f"/api/hr/cycles/{cid}/audit", params={"since": "2026-12-02T00:00:00Z",
                                                               "until": "2026-12-01T00:00:00Z"})
    assert bad.status_code == 422 and "before its start" in bad.json()["detail"]
    # paging: two at a time, no row twice, none lost
    seen = []
    first = (await hr.get(f"/api/hr/cycles/{cid}/audit", params={"size": 2})).json()
    for page in range(1, first["pages"] + 1):
        seen += [e["id"] for e in (await hr.get(f"/api/hr/cycles/{cid}/audit",
                                                params={"size": 2, "page": page})).json()["entries"]]
    assert seen == [e["id"] for e in everything["entries"]]
    # the page: same filters, in the reader's days
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page = unescape((await hr.get(f"/hr/cycles/{cid}/audit", params={"actor": "HR1", "from": today, "to": today})).text)
    assert page.count("<tr data-event=") == 2 and "2 entries" in page
    assert f'href="/hr/cycles/{cid}/audit.csv?actor=HR1&from={today}&to={today}"' in page
    empty = unescape((await hr.get(f"/hr/cycles/{cid}/audit", params={"from": later})).text)
    assert "Nothing matches these filters." in empty
    wrong = await hr.get(f"/hr/cycles/{cid}/audit", params={"from": "2026-13-01"})
    assert wrong.status_code == 422 and "From: 2026-13-01 is not a date" in unescape(wrong.text)
    # CSV: UTF-8 with a BOM, every row the filters select, headers and events in the reader's language
    raw = await hr.get(f"/hr/cycles/{cid}/audit.csv", params={"actor": "HR1"})
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/csv")
    assert raw.content.startswith(b"\xef\xbb\xbf") and f'filename="audit-{cid}.csv"' in raw.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["time", "actor", "actor id", "event"] and len(rows) == 1 + by_actor["total"]
    assert {r[3] for r in rows[1:]} == {"reminders sent by HR", "reviewer changed"}
    assert all(r[0].endswith("+08:00") for r in rows[1:])  # the reader's zone, said in the value
    hr.cookies.set("kr_lang", "zh-CN")
    rows = list(csv.reader(io.StringIO((await hr.get(f"/hr/cycles/{cid}/audit.csv")).content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间", "操作人", "操作人编号", "事件"] and len(rows) == 1 + total
    assert "M1 on leave" in "".join(r[-1] for r in rows)  # the reason, as recorded
