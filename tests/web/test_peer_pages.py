"""The peer feedback pages through the app: the KAM nominates from their inbox, the reviewer approves (another manager
is refused), colleagues answer their form, and the result page shows averages only from the third answer."""

from __future__ import annotations

import uuid

from services.cycles import create_cycle, start_cycle
from tests.helpers import count, eventually
from tests.test_peer_feedback import peer_cycle
from webapp.auth import CSRF_FIELD


async def _post(http, url: str, data: dict) -> object:
    return await http.post(url, data={**data, CSRF_FIELD: http.headers["X-CSRF-Token"]})


def _picker_groups(html: str) -> tuple[list[str], list[str]]:
    """The employee ids offered under "Your team" and under the rest of the company, in page order."""
    import re

    picker = html[html.index('id="peer-picker"'):html.index('id="peer-none"')]
    parts = re.split(r'<h3 class="picker-group">', picker)[1:]
    ids = [re.findall(r'name="peer" value="([^"]+)"', part) for part in parts]
    return (ids[0], ids[1]) if len(ids) == 2 else (ids[0], [])


async def http_post_list(http, url: str, peers: list[str]) -> object:
    """The form as a browser sends ticked checkboxes: one ``peer`` field per colleague."""
    return await http.post(url, data={"peer": peers, CSRF_FIELD: http.headers["X-CSRF-Token"]})


async def test_nominate_approve_answer_and_the_threshold_on_the_pages(web, monkeypatch):
    c = f"WPF{uuid.uuid4().hex[:8]}"
    config = peer_cycle(c).model_dump(mode="json")
    config["peer_feedback"]["due_after"] = "300s"
    from domain.cycle import CycleConfig

    await create_cycle(web.db_url, CycleConfig.model_validate(config))
    await start_cycle(web.client, web.db_url, c, web.task_queue)
    await eventually(lambda: _count_async(web.db_url, c))

    kam = await web.login("K01")
    inbox = await kam.get("/me")
    assert inbox.status_code == 200 and f'href="/me/peers/{c}"' in inbox.text
    page = await kam.get(f"/me/peers/{c}")
    assert page.status_code == 200 and 'id="nominate"' in page.text
    # Colleagues are picked by name, K01's teammates (same manager) listed before the rest of the company.
    teammates, others = _picker_groups(page.text)
    assert "K03" in teammates and "K02" in others and not set(teammates) & set(others)
    assert 'name="peer" value="K01"' not in page.text  # not oneself
    assert 'id="peer-more"' not in page.text  # everyone is listed
    import services.peers

    with monkeypatch.context() as m:
        m.setattr(services.peers, "COLLEAGUES_LISTED", 2)  # a company larger than the list: the rest are typed by id
        longer = (await kam.get(f"/me/peers/{c}")).text
    assert 'id="peer-more"' in longer and len(sum(_picker_groups(longer), [])) == 2
    refused = await http_post_list(kam, f"/me/peers/{c}", ["K02", "K03"])  # fewer than 3
    assert refused.status_code == 422 and refused.text.count('role="alert"') == 1  # the refusal, once
    assert 'value="K02" checked' in refused.text and 'value="K03" checked' in refused.text  # the choice is kept
    done = await http_post_list(kam, f"/me/peers/{c}", ["K02", "K03", " K04， "])  # two ticked, one typed
    assert done.status_code == 303

    other = await web.login("M2")  # not K01's reviewer
    assert (await other.get(f"/manager/peers/{c}/K01")).status_code == 403
    assert (await _post(other, f"/manager/peers/{c}/K01", {"peer": "K02"})).status_code == 403
    manager = await web.login("M1")
    assert f'href="/manager/peers/{c}/K01"' in (await manager.get("/manager")).text
    approval = await manager.get(f"/manager/peers/{c}/K01")
    assert approval.status_code == 200 and 'name="peer" value="K03"' in approval.text
    assert (await _post(manager, f"/manager/peers/{c}/K01", {"peer": "K02,K03,K04"})).status_code == 303

    answers = {"K02": "5", "K03": "4", "K04": "3"}
    for i, (peer, value) in enumerate(answers.items()):
        http = await web.login(peer)
        form = await http.get(f"/me/peer-feedback/{c}/K01")
        assert form.status_code == 200 and 'id="answer"' in form.text
        fields = {f"q:{q}": value for q in ("collaboration", "customer_focus", "reliability")}
        assert (await _post(http, f"/me/peer-feedback/{c}/K01", fields)).status_code == 303
        assert 'id="answered"' in (await http.get(f"/me/peer-feedback/{c}/K01")).text
        result = await kam.get(f"/me/peers/{c}")
        if i < 2:  # one or two answers: withheld, no averages, no count
            assert 'id="withheld"' in result.text and 'id="averages"' not in result.text
            hr_page = await (await web.login("HR1")).get(f"/hr/cycles/{c}/participants/K01")
            assert f"{i + 1} of 3" in hr_page.text or f"3 位同事中已有 {i + 1}" in hr_page.text
            assert 'id="peer-withheld"' in hr_page.text and 'id="peer-averages"' not in hr_page.text
            api = (await kam.get(f"/api/peers/{c}/K01")).json()
            assert (api["shown"], api["averages"], api["answers"], api["answered"]) == (False, {}, None, None)
        else:
            assert 'id="averages"' in result.text
    hr_http = await web.login("HR1")
    participant = await hr_http.get(f"/hr/cycles/{c}/participants/K01")
    assert participant.status_code == 200 and 'id="peer-count"' in participant.text
    assert 'id="peer-averages"' in participant.text
    hr = (await hr_http.get(f"/api/peers/{c}/K01")).json()
    assert hr["shown"] and hr["answers"] == 3 and hr["answered"] == 3
    assert hr["averages"] == {"collaboration": "4.00", "customer_focus": "4.00", "reliability": "4.00"}
    # Someone not asked sees no form.
    assert 'id="not-asked"' in (await (await web.login("K03")).get(f"/me/peer-feedback/{c}/K02")).text


async def _count_async(db_url: str, c: str) -> bool:
    return count(db_url, "SELECT count(*) FROM task WHERE cycle_id = %s AND kind = 'peer_nomination'", c) == 4
