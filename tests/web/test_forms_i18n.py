"""The forms people fill in, in both languages: competency levels with their descriptions, grouped; errors beside
their field by the label the person sees; every input labelled; the survey in the contact's language; times in
the reader's (else the cycle's) zone."""

from __future__ import annotations

import re
from html import unescape

import psycopg

from tests.helpers import COMPETENCIES
from tests.web.test_survey import issue


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def unlabelled(page: str) -> list[str]:
    """Ids of visible inputs and text areas without a <label for=...> (placeholder-only fields)."""
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', page))
    fields = re.findall(r'<(?:input|textarea|select)\b([^>]*)>', page)
    missing = []
    for attrs in fields:
        if 'type="hidden"' in attrs:
            continue
        found = re.search(r'\sid="([^"]+)"', attrs)
        if not found or found.group(1) not in labelled:
            missing.append(attrs.strip()[:80])
    return missing


async def test_the_self_review_shows_each_level_with_its_description_in_both_languages(web):
    cid = await web.open_cycle()
    k1 = await web.login("K01")  # a zh-CN employee: Chinese unless they choose otherwise
    zh = (await k1.get(f"/me/reviews/{cid}")).text
    assert '<html lang="zh-CN">' in zh and "提交自评" in zh and "保存草稿" in zh
    assert "通用能力" in zh and "专业能力" in zh and zh.index("通用能力") < zh.index("<legend>市场信息分析</legend>")
    assert zh.index("<legend>沟通表达能力</legend>") < zh.index("专业能力")
    assert "耐心倾听客户需求" in zh and "参与制定大客户销售政策" in zh  # level 1 of one, level 3 of another
    assert zh.count('<fieldset class="choice"') == len(COMPETENCIES)
    assert zh.count('type="radio"') == len(COMPETENCIES) * 3 and "<select" not in zh
    assert "placeholder=" not in zh and unlabelled(zh) == []
    assert "1 级" in zh and "销售目标达成率" in zh
    assert re.search(r'<time datetime="[^"]+" title="[^"]*Asia/Shanghai[^"]*">', zh)  # the due time, in the reader's zone
    k1.cookies.set("kr_lang", "en")
    en = (await k1.get(f"/me/reviews/{cid}")).text
    assert '<html lang="en">' in en and "Submit my self-review" in en and "Save draft" in en
    assert "General competencies" in en and "Professional competencies" in en and "Level 2" in en
    assert "Listens to customers patiently" in en and "<legend>Communication &amp; expression</legend>" in en
    assert "耐心倾听客户需求" not in en and "Sales target attainment" in en


async def test_the_api_gives_each_competency_its_group_labels_and_level_descriptions(web):
    cid = await web.open_cycle()
    k1 = await web.login("K01")
    review = (await k1.get(f"/api/me/reviews/{cid}")).json()
    first = review["competencies"][0]
    assert first["id"] == "communication" and first["group"] == "general" and first["label_zh"] == "沟通表达能力"
    assert [lv["level"] for lv in first["levels"]] == [1, 2, 3]
    assert first["levels"][0]["description_zh"].startswith("耐心倾听")
    assert first["levels"][0]["description_en"].startswith("Listens")


async def test_errors_stand_beside_their_field_in_the_readers_language(web):
    cid = await web.open_cycle()
    k1 = await web.login("K01")
    page = await k1.get(f"/me/reviews/{cid}")
    form = {f"rating.{c}": "2" for c in COMPETENCIES if c != "communication"}
    form |= {"evidence.coordination": "推进了华东区项目", "kpi.sales_attainment": "x" * 4001, "csrf_token": csrf(page.text)}
    r = await k1.post(f"/me/reviews/{cid}", data=form)
    assert r.status_code == 422
    text = unescape(r.text)
    # The summary at the top links to each field; each message names the label, in Chinese.
    summary = text[text.index('id="error-summary"'):text.index("</div>", text.index('id="error-summary"'))]
    assert "请修改下面 2 处问题" in summary
    assert '<a href="#rating.communication">请为“沟通表达能力”选择等级</a>' in summary
    assert '<a href="#kpi.sales_attainment">对“销售目标达成率”结果的说明过长（4,001 个字），最多 4,000 个字</a>' in summary
    # Beside the field: the message, and the field says it is invalid and what describes it.
    assert '<p class="field-error" id="err-rating.communication">请为“沟通表达能力”选择等级</p>' in text
    assert re.search(r'id="rating.communication-1"[^>]*aria-describedby="err-rating.communication" aria-invalid="true"',
                     text)
    assert re.search(r'<textarea id="kpi.sales_attainment"[^>]*aria-describedby="err-kpi.sales_attainment" '
                     r'aria-invalid="true"', text)
    assert not re.search(r'<textarea id="evidence.coordination"[^>]*aria-invalid', text)
    # What was typed is kept.
    assert "推进了华东区项目" in text and re.search(r'id="rating.coordination-2"[^>]*value="2"\s+checked', text)
    assert "ratings." not in text and "Input should" not in text and "String should" not in text
    k1.cookies.set("kr_lang", "en")
    r = await k1.post(f"/me/reviews/{cid}", data=form)
    text = unescape(r.text)
    assert "Please correct 2 problems below" in text and "choose a level for Communication & expression" in text
    assert "Comment on the Sales target attainment result is too long (4,001 characters); at most 4,000" in text


async def test_the_scoring_form_in_both_languages(web):
    cid = await web.open_cycle()
    m1 = await web.login("M1")
    zh = (await m1.get(f"/manager/reviews/{cid}/K01")).text
    assert "提交评分" in zh and "保存草稿" in zh and "潜力" in zh and "主动协调内外部资源" in zh
    assert "placeholder=" not in zh and unlabelled(zh) == []
    bad = await m1.post(f"/manager/reviews/{cid}/K01", data={"potential": "2", "csrf_token": csrf(zh)})
    text = unescape(bad.text)
    assert bad.status_code == 422 and f"请修改下面 {len(COMPETENCIES)} 处问题" in text
    assert "请为“客户关系管理”选择等级" in text and re.search(r'id="potential-2"[^>]*value="2"\s+checked', text)
    m1.cookies.set("kr_lang", "en")
    en = (await m1.get(f"/manager/reviews/{cid}/K01")).text
    assert "Submit score" in en and "Potential" in en and "Brings in internal and external resources" in en


async def test_the_survey_is_in_the_contacts_language_and_the_cycles_zone(web):
    cid = await web.open_cycle()
    links = await issue(web, cid)
    (zh_contact, zh_token), (en_contact, en_token), (fr_contact, fr_token) = list(links.items())[:3]
    with psycopg.connect(web.db_url) as conn:
        conn.execute("UPDATE customer_contact SET locale = 'zh-CN' WHERE id = %s", (zh_contact,))
        conn.execute("UPDATE customer_contact SET locale = 'en-GB' WHERE id = %s", (en_contact,))
        conn.execute("UPDATE customer_contact SET locale = 'fr-FR' WHERE id = %s", (fr_contact,))
        conn.execute("UPDATE review_cycle SET timezone = 'Europe/Berlin' WHERE id = %s", (cid,))
    anon = web.anon()
    zh = (await anon.post("/survey", data={"token": zh_token})).text
    assert '<html lang="zh-CN">' in zh and "总体满意度" in zh and "提交评价" in zh and "非常满意" in zh
    assert re.search(r'<time [^>]*title="[^"]*Europe/Berlin[^"]*"', zh)  # the expiry, in the cycle's zone
    assert zh.count('name="nps"') == 11 and unlabelled(zh) == []
    en = (await anon.post("/survey", data={"token": en_token})).text
    assert '<html lang="en">' in en and "Overall satisfaction" in en and "Send my answer" in en
    fr = (await anon.post("/survey", data={"token": fr_token})).text
    assert '<html lang="en">' in fr and "Overall satisfaction" in fr  # no French: English
    bad = await anon.post("/survey/answer", data={"token": zh_token, "nps": "12", "satisfaction": "4"})
    text = unescape(bad.text)
    assert bad.status_code == 422 and "您向同行推荐我们的可能性有多大？：请在 0 至 10 级中选择" in text
    assert 'id="err-nps"' in text and re.search(r'id="satisfaction-4"[^>]*value="4"\s+checked', text)
    # The reader's own choice wins over the contact's language.
    anon.cookies.set("kr_lang", "en")
    assert "Overall satisfaction" in (await anon.post("/survey", data={"token": zh_token})).text


async def test_the_sign_in_page_in_both_languages_with_errors_by_field(web):
    anon = web.anon()
    page = await anon.get("/login", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert "登录" in page.text and "用户名" in page.text and "密码" in page.text and unlabelled(page.text) == []
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = await anon.post("/login", data={"username": "", "password": "", "login_csrf": token},
                        headers={"accept-language": "zh-CN"})
    assert r.status_code == 422 and "请填写用户名" in r.text and "请填写密码" in r.text
    assert 'id="err-username"' in r.text and 'aria-describedby="err-username" aria-invalid="true"' in r.text
    page = await anon.get("/login", headers={"accept-language": "en"})
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    wrong = await anon.post("/login", data={"username": "K01", "password": "nope-nope", "login_csrf": token},
                            headers={"accept-language": "en"})
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text and 'value="K01"' in wrong.text
