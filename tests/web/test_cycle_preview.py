"""HR sees how many people a cycle's participant filters match before creating it (issue 12), page and API."""

from __future__ import annotations

import re
from html import unescape

import yaml

from tests.helpers import count
from tests.web.helpers import config_yaml


def with_participants(cycle_id: str, participants: dict) -> str:
    data = yaml.safe_load(config_yaml(cycle_id))
    data["participants"] = participants
    return yaml.safe_dump(data, allow_unicode=True)


async def test_preview_says_how_many_match_and_creates_nothing(web) -> None:
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "en")
    text = with_participants("PV1", {"managers": ["M1"], "grades": ["k2"]})
    r = await hr.post("/api/hr/cycles/preview", json={"config_yaml": text})
    assert r.status_code == 200 and r.json() == {"cycle_id": "PV1", "participants": 2, "employees": ["K01", "K03"],
                                                 "excluded": []}
    r = await hr.post("/api/hr/cycles/preview", json={"config_yaml": with_participants("PV1", {"regions": ["Mars"]})})
    assert r.status_code == 409 and "no employee has region 'Mars'" in r.json()["detail"]

    page = (await hr.get("/hr")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = await hr.post("/hr/cycles", data={"csrf_token": token, "config_yaml": text, "preview": "1"})
    shown = unescape(r.text)
    assert r.status_code == 200 and "2 people match the participant selection." in shown and "K01, K03" in shown
    assert "grades:\n  - k2" in shown  # the configuration stays in the form as typed
    assert count(web.db_url, "SELECT count(*) FROM review_cycle WHERE id = 'PV1'") == 0
    hr.cookies.set("kr_lang", "zh-CN")
    r = await hr.post("/hr/cycles", data={"csrf_token": token, "config_yaml": text, "preview": "1"})
    assert "共有 2 人符合参评人员筛选条件" in unescape(r.text)
    r = await hr.post("/hr/cycles", data={"csrf_token": token, "config_yaml": text})
    assert r.status_code == 303 and count(web.db_url, "SELECT count(*) FROM review WHERE cycle_id = 'PV1'") == 2
