"""The generic form of a phase defined only in the registry (tests/test_phase_registry.py's check-in): the reviewer's
page in both languages, a refusal beside the form, the answers stored; anyone else has no task there; a phase with a
page of its own is sent to it."""

from __future__ import annotations

import uuid

from tests.helpers import rows
from tests.test_phase_registry import check_in_phase, start_with_check_in
from workflows.payloads import review_id_for


async def test_the_reviewer_fills_in_the_generic_form_of_a_registry_only_phase(web, db_admin_url):
    c = f"PF{uuid.uuid4().hex[:8]}"
    with check_in_phase(db_admin_url):
        await start_with_check_in(web.client, web.db_url, web.task_queue, c)
        m1 = await web.login("M1")
        path = f"/tasks/{c}/toy_check_in/K01"
        m1.cookies.set("kr_lang", "en")
        page = await m1.get(path)
        assert page.status_code == 200, page.text
        assert "check-in" in page.text and 'name="q:clarity"' in page.text and 'name="c:follow_up"' in page.text
        m1.cookies.set("kr_lang", "zh-CN")
        zh = (await m1.get(path)).text
        assert "面谈记录" in zh and "下季度目标是否已讲清楚？" in zh
        m1.cookies.set("kr_lang", "en")

        # Off the scale: refused by the workflow's check, shown beside the form (never a 500).
        token = m1.headers["X-CSRF-Token"]
        bad = await m1.post(path, data={"q:clarity": "9", "q:follow_up": "2", "csrf_token": token})
        assert bad.status_code == 422 and bad.text.count("the scale is 1 to 4") == 1
        # What was entered is kept beside the refusal (the valid answer stays chosen).
        assert 'id="q-follow_up-2" name="q:follow_up"\n          value="2" required checked>' in bad.text
        done = await m1.post(path, data={"q:clarity": "3", "q:follow_up": "2", "c:clarity": "good",
                                         "csrf_token": token})
        assert done.status_code == 303, done.text
        assert rows(web.db_url, "SELECT item_id, rating, comment FROM toy_check_in_answer WHERE review_id = %s "
                    "ORDER BY 1", review_id_for(c, "K01")) == [("clarity", 3, "good"), ("follow_up", 2, None)]
        assert 'data-status="done"' in (await m1.get(path)).text

        # HR's participant page shows the answers, read through the phase's Storage, named by its definition.
        hr = await web.login("HR1")
        participant = f"/hr/cycles/{c}/participants/K01"
        for lang, phase, question in (("en", "check-in", "Were the goals for next quarter made clear?"),
                                      ("zh-CN", "面谈记录", "下季度目标是否已讲清楚？")):
            hr.cookies.set("kr_lang", lang)
            shown = (await hr.get(participant)).text
            section = shown[shown.index('id="phase-toy_check_in"'):]
            section = section[:section.index("</table>")]
            assert phase in section and question in section and "good" in section, section
            assert '<tr data-item="clarity"><td>' + question + '</td><td class="num">3</td>' in section
            assert '<tr data-item="follow_up">' in section
            assert '<option value="toy_check_in">' + phase in shown  # HR may reopen it
        api = (await hr.get(f"/api/hr/cycles/{c}/participants/K01")).json()
        (answers,) = api["phase_answers"]
        assert answers["phase"] == "toy_check_in" and answers["status"] == "done"
        (one,) = answers["sets"]
        assert one["submitted_by"]["id"] == "M1"
        assert [(a["question"], a["labels"]["zh-CN"], a["rating"], a["comment"]) for a in one["answers"]] == [
            ("clarity", "下季度目标是否已讲清楚？", 3, "good"), ("follow_up", "后续行动是否已达成一致？", 2, None)]

        # HR reopens it from the page; the kept version names its questions.
        hr.cookies.set("kr_lang", "en")
        reopened = await hr.post(f"{participant}/reopen", data={
            "task": "toy_check_in", "reason": "talk about Q4 too", "due": "3d", "csrf_token": hr.headers["X-CSRF-Token"]})
        assert reopened.status_code == 303, reopened.text
        assert rows(web.db_url, "SELECT status, version FROM task WHERE id = %s",
                    f"{review_id_for(c, 'K01')}:toy_check_in") == [("open", 2)]
        versions = (await hr.get(participant)).text
        versions = versions[versions.index('id="versions"'):]
        assert "Were the goals for next quarter made clear? 3" in versions[:versions.index("</table>")]

        # The KAM has no task in it; a phase with its own page is sent there.
        k01 = await web.login("K01")
        assert 'id="not-asked"' in (await k01.get(path)).text
        own = await k01.get(f"/tasks/{c}/self_review/K01")
        assert own.status_code == 303 and own.headers["location"] == f"/me/reviews/{c}"
        assert (await k01.get(f"/tasks/{c}/no_such_phase/K01")).status_code == 404
