"""A person's own language and time zone: chosen on the settings page, kept, and used by every page."""

from __future__ import annotations

import re

from services.preferences import zones


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_a_kam_chooses_english_and_new_york_and_every_page_follows(web):
    kam = await web.login("K01")
    page = (await kam.get("/settings")).text
    assert '<html lang="zh-CN">' in page and "个人设置" in page  # the org import says zh-CN
    r = await kam.post("/settings", data={"csrf_token": _csrf(page), "locale": "en", "timezone": "America/New_York"})
    assert r.status_code == 303 and r.cookies.get("kr_lang") == "en"
    again = (await kam.get("/settings")).text
    assert '<html lang="en">' in again and "Your settings are saved." in again
    assert "Times are shown in America/New_York." in again
    assert (await kam.get("/api/me/preferences")).json() == {
        "locale": "en", "timezone": "America/New_York", "organisation_locale": "zh-CN",
        "organisation_timezone": "Asia/Shanghai"}
    # A fresh browser (no cookie) signed in as the same person gets the stored choice.
    other = await web.login("K01")
    assert '<html lang="en">' in (await other.get("/settings")).text


async def test_back_to_what_the_organisation_says(web):
    kam = await web.login("K02")
    assert (await kam.put("/api/me/preferences", json={"locale": "en", "timezone": "Europe/Berlin"})).status_code == 200
    r = await kam.put("/api/me/preferences", json={"locale": None, "timezone": None})
    assert r.json()["locale"] is None and r.json()["timezone"] is None
    page = (await kam.get("/settings")).text
    assert '<html lang="zh-CN">' in page and "页面时间均为北京时间 (Asia/Shanghai)。" in page


async def test_an_unknown_zone_is_refused_in_the_readers_language_and_nothing_changes(web):
    kam = await web.login("K03")
    r = await kam.put("/api/me/preferences", json={"locale": "en", "timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["detail"] == "Mars/Olympus 不是有效的时区名称（例如 Asia/Shanghai）"
    page = (await kam.get("/settings")).text
    r = await kam.post("/settings", data={"csrf_token": _csrf(page), "locale": "xx", "timezone": ""})
    assert r.status_code == 422 and "不支持语言 xx" in r.text
    assert (await kam.get("/api/me/preferences")).json()["locale"] is None


def test_the_common_zones_come_first_and_every_zone_is_offered():
    offered = zones()
    assert offered[0] == "Asia/Shanghai" and "America/Sao_Paulo" in offered and len(set(offered)) == len(offered)
