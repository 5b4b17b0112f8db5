"""A Chinese reader gets refusals and validation errors in Chinese, with times in their own zone.

The people of the test organisation read Chinese (locale zh-CN). Each kind of refusal is covered once
through the API (and a form page): a workflow Update rejection, a second different submission (when and by
whom, in the reader's zone), a service refusal (NotFound), a configuration DomainError when HR creates a
cycle, and a request validation error (the JSON ``errors`` keep ``loc`` for programs).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import psycopg
import yaml

from i18n import Formatter
from tests.helpers import ratings
from tests.web.helpers import config_yaml
from webapp.validation import describe


async def test_a_workflow_update_rejection_reaches_a_chinese_reader_in_chinese(web):
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    url = f"/api/manager/reviews/{cid}/K01/score"
    r = await m1.post(url, json={"ratings": {**ratings(2), "communication": 7}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "经理评分：communication 的评分为 7，评分范围是 1 至 3"
    m1.cookies.set("kr_lang", "en")  # the same refusal for a reader who switched to English
    r = await m1.post(url, json={"ratings": {**ratings(2), "communication": 7}})
    assert r.json()["detail"] == "manager scoring: rating for communication is 7; the scale is 1 to 3"


async def test_a_second_different_submission_says_when_in_the_readers_zone_and_by_whom(web, db_admin_url):
    # M1 lives in Berlin: the refusal names the time as M1 reads clocks, not the cycle's Beijing time.
    with psycopg.connect(db_admin_url) as conn:
        conn.execute("UPDATE employee SET timezone = 'Europe/Berlin' WHERE id = 'M1'")
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    url = f"/api/manager/reviews/{cid}/K01/score"
    first = await m1.post(url, json={"ratings": ratings(2), "potential": 2})
    assert first.status_code == 200, first.text
    accepted = datetime.fromisoformat(first.json()["accepted_at"])
    other = await m1.post(url, json={"ratings": ratings(3), "potential": 2})
    assert other.status_code == 409
    berlin = Formatter("zh-CN", "Europe/Berlin").when_zoned(accepted)
    assert berlin.endswith("（Europe/Berlin）") and berlin != Formatter("zh-CN", "Asia/Shanghai").when_zoned(accepted)
    assert other.json()["detail"] == f"经理评分已由 M1 于 {berlin} 提交，不能用不同的内容替换"
    m1.cookies.set("kr_lang", "en")
    again = await m1.post(url, json={"ratings": ratings(3), "potential": 2})
    when = Formatter("en", "Europe/Berlin").when_zoned(accepted)
    assert again.json()["detail"] == (f"the manager scoring was already submitted on {when} by M1; "
                                      "a different submission cannot replace it")


async def test_a_service_refusal_not_found_is_in_chinese(web):
    hr = await web.login("HR1")
    r = await hr.get("/api/hr/cycles/NOPE")
    assert r.status_code == 404 and r.json()["detail"] == "考核周期 NOPE 不存在"
    # A cycle that exists but whose workflow is not running: the service's NotFound, said as a conflict.
    cid = await web.open_cycle()
    await web.client.get_workflow_handle(f"cycle:{cid}").terminate("test: the cycle workflow is gone")
    r = await hr.post(f"/api/hr/cycles/{cid}/calibration/finalize")
    assert r.status_code == 409 and r.json()["detail"] == f"考核周期 {cid} 未在进行中（尚未启动或已锁定）", r.text


async def test_a_configuration_problem_on_cycle_create_is_in_chinese_with_its_field(web):
    hr = await web.login("HR1")
    data = yaml.safe_load(config_yaml(f"ZH{uuid.uuid4().hex[:8]}"))
    data["calibration"]["guideline"] = {5: 10, 4: 25, 3: 40, 2: 15, 1: 5}  # 95, not 100
    del data["cadence"]
    r = await hr.post("/api/hr/cycles", json={"config_yaml": yaml.safe_dump(data, allow_unicode=True)})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("所填配置：考核周期配置有误（共 2 处问题）：\n"), detail
    assert "  cadence：此项为必填项" in detail.splitlines()
    assert re.search(r"^  calibration\.guideline：百分比合计为 95，必须正好为 100$", detail, re.M), detail
    # A duration and a date the domain checks itself: its own message, translated.
    data = yaml.safe_load(config_yaml(f"ZH{uuid.uuid4().hex[:8]}"))
    data["phases"]["self_review"]["due_after"] = -172800  # seconds
    r = await hr.post("/api/hr/cycles", json={"config_yaml": yaml.safe_dump(data, allow_unicode=True)})
    assert r.status_code == 422 and "phases.self_review.due_after：时长不能为负数" in r.json()["detail"], r.text


async def test_request_validation_errors_are_translated_and_keep_loc_for_programs(web):
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    url = f"/api/manager/reviews/{cid}/K01/score"
    r = await m1.post(url, json={"ratings": {**ratings(2), "communication": "two"}, "extra": 1})
    assert r.status_code == 422
    body = r.json()
    assert body["detail"] == "请求有误：ratings.communication：请输入整数；extra：不允许填写此项"
    assert body["errors"] == [{"loc": ["body", "ratings", "communication"], "msg": "请输入整数"},
                              {"loc": ["body", "extra"], "msg": "不允许填写此项"}]
    r = await m1.post(url, json={"ratings": {**ratings(2), "communication": 10**12},
                                 "comments": {"communication": "x" * 4001}})
    messages = {tuple(e["loc"]): e["msg"] for e in r.json()["errors"]}
    assert messages[("body", "ratings", "communication")] == "请输入不大于 1,000 的数"
    assert messages[("body", "comments", "communication")] == "最多 4,000 个字符"


async def test_a_form_page_shows_the_workflows_refusal_in_chinese(web):
    """The form checks what it can itself (webapp/forms); a refusal only the workflow knows (already scored)
    comes back on the page in the reader's language, with when in their zone."""
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    first = await m1.post(f"/api/manager/reviews/{cid}/K01/score", json={"ratings": ratings(2)})
    accepted = datetime.fromisoformat(first.json()["accepted_at"])
    page = await m1.get(f"/manager/reviews/{cid}/K01")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {f"rating.{c}": "3" for c in ratings(3)}
    r = await m1.post(f"/manager/reviews/{cid}/K01", data={**form, "csrf_token": token})
    assert r.status_code == 409, r.text[-500:]
    when = Formatter("zh-CN", "Asia/Shanghai").when(accepted)
    assert f"经理评分已由 M1 于 {when}" in r.text and "提交，不能用不同的内容替换" in r.text


def test_describe_says_each_pydantic_error_with_its_limit_in_the_readers_language():
    zh, en = Formatter("zh-CN"), Formatter("en")
    cases = [
        ({"type": "missing", "loc": ("body", "ratings"), "msg": "Field required"}, "此项为必填项", "Field required"),
        ({"type": "int_parsing", "msg": "x"}, "请输入整数，所填内容无法识别为整数",
         "Input should be a valid integer, unable to parse string as an integer"),
        ({"type": "greater_than_equal", "ctx": {"ge": 1}, "msg": "x"}, "请输入不小于 1 的数",
         "Input should be greater than or equal to 1"),
        ({"type": "less_than_equal", "ctx": {"le": 10000}, "msg": "x"}, "请输入不大于 10,000 的数",
         "Input should be less than or equal to 10,000"),
        ({"type": "string_too_long", "ctx": {"max_length": 2000}, "msg": "x"}, "最多 2,000 个字符",
         "String should have at most 2,000 characters"),
        ({"type": "extra_forbidden", "msg": "x"}, "不允许填写此项", "Extra inputs are not permitted"),
        ({"type": "literal_error", "ctx": {"expected": "'monthly', 'quarterly' or 'annual'"}, "msg": "x"},
         "请填写 'monthly'、'quarterly' 或 'annual'", "Input should be 'monthly', 'quarterly' or 'annual'"),
    ]
    for error, chinese, english in cases:
        assert describe(error, zh) == chinese, error
        assert describe(error, en) == english, error
    # An error type we do not know keeps pydantic's own words rather than saying nothing.
    assert describe({"type": "brand_new", "msg": "Something odd"}, zh) == "Something odd"
